"""The store's tables, and the migrations that bring any store — a new one, an SQLite file from an earlier
sheetsync, a team's PostgreSQL schema — to the current layout.

One list of numbered migrations, applied in order and recorded in ``sheetsync_schema`` (version, when,
what), each written once in SQL both engines run. Why not Alembic: the store's SQL is the subset SQLite and
PostgreSQL share, there is no ORM model to autogenerate from, and Alembic with SQLAlchemy costs every command
a few hundred milliseconds of imports for the SQLite user who never sees a server (the project counts its
start-up cost: tests/test_imports.py).

**Adding a table or a column** (say, for a new feature): append ``Migration(N + 1, "why", (...))`` to
``MIGRATIONS`` with portable statements — ``CREATE TABLE IF NOT EXISTS``, ``ALTER TABLE … ADD COLUMN``;
types TEXT, INTEGER, DOUBLE PRECISION (PostgreSQL's REAL is 4 bytes: a float stored there comes back
changed); no AUTOINCREMENT/SERIAL (allocate ids inside a write transaction, as ``save_pull`` does: both
engines then number the same way, and an export keeps them). Never edit a released migration: stores out
there already ran it. The store suite (tests/store/) runs every migration on both engines.

A store whose version is newer than this sheetsync knows is refused, not touched: an older sheetsync would
otherwise write rows a newer one's tables do not expect.
"""

from __future__ import annotations

from dataclasses import dataclass

from sheetsync.errors import StoreError
from sheetsync.store.conn import Conn

VERSION_TABLE = "sheetsync_schema"


@dataclass(frozen=True)
class Migration:
    version: int
    what: str
    statements: tuple[str, ...]


BASELINE = (
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    """CREATE TABLE IF NOT EXISTS rows (
        id TEXT PRIMARY KEY, input TEXT NOT NULL, output TEXT NOT NULL, fields TEXT NOT NULL,
        content_hash TEXT NOT NULL, first_pushed_at TEXT NOT NULL, pushed_at TEXT NOT NULL,
        in_dataset INTEGER NOT NULL DEFAULT 1)""",
    """CREATE TABLE IF NOT EXISTS pulls (
        pull_id INTEGER PRIMARY KEY, pulled_at TEXT NOT NULL, spreadsheet TEXT NOT NULL, n_rows INTEGER NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS labels (
        pull_id INTEGER NOT NULL REFERENCES pulls(pull_id), id TEXT NOT NULL, verdict TEXT, raw_verdict TEXT NOT NULL,
        critique TEXT NOT NULL, root_cause TEXT NOT NULL, notes TEXT NOT NULL, content_hash TEXT NOT NULL,
        PRIMARY KEY (pull_id, id))""",
    # seq: the order runs were started in, as the store saw them (clocks on two laptops disagree)
    """CREATE TABLE IF NOT EXISTS runs (
        run_id TEXT PRIMARY KEY, started_at TEXT NOT NULL, finished_at TEXT, model TEXT NOT NULL,
        params TEXT NOT NULL, template TEXT NOT NULL, template_hash TEXT NOT NULL, split TEXT NOT NULL,
        n_rows INTEGER NOT NULL, status TEXT NOT NULL, seq INTEGER)""",
    # level: the structured-output level the answer came at; note: what was done to the row (e.g. cut to fit
    # the model's context); cached_tokens: prompt tokens the server served from its cache
    """CREATE TABLE IF NOT EXISTS verdicts (
        run_id TEXT NOT NULL REFERENCES runs(run_id), id TEXT NOT NULL, verdict TEXT, critique TEXT, error TEXT,
        latency DOUBLE PRECISION, prompt_tokens INTEGER, completion_tokens INTEGER, cached INTEGER NOT NULL DEFAULT 0,
        level TEXT, note TEXT, cached_tokens INTEGER,
        PRIMARY KEY (run_id, id))""",
    "CREATE TABLE IF NOT EXISTS cache (key TEXT PRIMARY KEY, value TEXT NOT NULL, created_at TEXT NOT NULL)",
    """CREATE TABLE IF NOT EXISTS label_state (
        id TEXT PRIMARY KEY, sig TEXT NOT NULL, given_for TEXT NOT NULL, flagged_for TEXT NOT NULL)""",
    "CREATE TABLE IF NOT EXISTS shown (id TEXT PRIMARY KEY, content TEXT NOT NULL, display TEXT NOT NULL)",
)

REVIEW = (
    # every label revision between two pulls: before/after, when, the expert's reason, where it came from
    """CREATE TABLE IF NOT EXISTS revisions (
        revision_id INTEGER PRIMARY KEY, pull_id INTEGER NOT NULL, id TEXT NOT NULL, at TEXT NOT NULL,
        verdict_before TEXT, verdict_after TEXT, critique_before TEXT NOT NULL, critique_after TEXT NOT NULL,
        root_cause_before TEXT NOT NULL, root_cause_after TEXT NOT NULL, reason TEXT NOT NULL, source TEXT NOT NULL)""",
    # every distinct answer seen on the Review / Calibration tabs (tab = "review" / "calibration"), oldest first;
    # instance: the judge run (or the rater's label) the answer was given for
    """CREATE TABLE IF NOT EXISTS answers (
        answer_id INTEGER PRIMARY KEY, tab TEXT NOT NULL, id TEXT NOT NULL, instance TEXT NOT NULL,
        resolution TEXT NOT NULL, why TEXT NOT NULL, sig TEXT NOT NULL, seen_at TEXT NOT NULL)""",
    # criteria questions: an "Unclear" answer opens one, a later answer on the row settles it
    """CREATE TABLE IF NOT EXISTS questions (
        question_id INTEGER PRIMARY KEY, tab TEXT NOT NULL, id TEXT NOT NULL, asked_at TEXT NOT NULL,
        question TEXT NOT NULL, settled_at TEXT, settled_as TEXT, decision TEXT)""",
    # rows whose judge verdict was written where the expert sees it, first time (blind labelling's provenance)
    "CREATE TABLE IF NOT EXISTS verdicts_shown (id TEXT PRIMARY KEY, after_pull INTEGER NOT NULL, shown_at TEXT NOT NULL)",
    # whether a judge verdict for the row had been shown before this label was seen (NULL: not recorded)
    "ALTER TABLE labels ADD COLUMN judge_seen INTEGER",
)

#: Steps 6 and 7: which judge a run was of ("" = the judge, a [judges.NAME], or "(classifier)"), sheetsync's
#: root-cause proposals, the expert's decisions on them as each pull read them, the classifier's answers.
TRIAGE = (
    "ALTER TABLE runs ADD COLUMN judge TEXT NOT NULL DEFAULT ''",
    """CREATE TABLE IF NOT EXISTS proposals (
        proposal_id TEXT PRIMARY KEY, name TEXT NOT NULL, definition TEXT NOT NULL, critique_ids TEXT NOT NULL,
        first_proposed_at TEXT NOT NULL, proposed_at TEXT NOT NULL, triage_run TEXT NOT NULL,
        current INTEGER NOT NULL DEFAULT 1, seq INTEGER NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS decisions (
        pull_id INTEGER NOT NULL REFERENCES pulls(pull_id), proposal_id TEXT NOT NULL, decision TEXT NOT NULL,
        definition TEXT NOT NULL, trusted INTEGER NOT NULL, PRIMARY KEY (pull_id, proposal_id))""",
    """CREATE TABLE IF NOT EXISTS classifications (
        run_id TEXT NOT NULL REFERENCES runs(run_id), id TEXT NOT NULL, causes TEXT, reason TEXT, error TEXT,
        PRIMARY KEY (run_id, id))""",
)

MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "baseline: rows, pulls, labels, label states, runs, verdicts, cache", BASELINE),
    Migration(2, "the expert answers the judge: revisions, answers, questions, verdicts shown, labels.judge_seen",
              REVIEW),
    Migration(3, "label provenance (how each shown row was chosen, its probability of being drawn), sampling "
                 "rounds, and the judge's re-asks (judge --repeat)", (
        # round: the push that drew it; design: how (JSON: method, pool, drawn, strata, focus, seed)
        """CREATE TABLE IF NOT EXISTS sample_rounds (
            round INTEGER PRIMARY KEY, taken_at TEXT NOT NULL, method TEXT NOT NULL, pool INTEGER NOT NULL,
            drawn INTEGER NOT NULL, design TEXT NOT NULL)""",
        # method: shown whole | random | stratified | focused | imported; probability NULL when unknown
        """CREATE TABLE IF NOT EXISTS provenance (
            id TEXT PRIMARY KEY, round INTEGER, method TEXT NOT NULL, stratum TEXT NOT NULL,
            probability DOUBLE PRECISION, recorded_at TEXT NOT NULL)""",
        """CREATE TABLE IF NOT EXISTS repeats (
            run_id TEXT NOT NULL REFERENCES runs(run_id), id TEXT NOT NULL, k INTEGER NOT NULL, verdict TEXT,
            critique TEXT, error TEXT, cached INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (run_id, id, k))""",
    )),
    Migration(4, "runs name their judge; root-cause proposals, the expert's decisions, classifications", TRIAGE),
)
LATEST = MIGRATIONS[-1].version

#: Columns an SQLite store from before versioning may lack (added to it on open, before it is stamped 1).
_LEGACY_COLUMNS = {"verdicts": {"level": "TEXT", "note": "TEXT", "cached_tokens": "INTEGER"}, "runs": {"seq": "INTEGER"}}


def version(conn: Conn) -> int:
    """The store's schema version: 0 for an empty store or one written before versioning."""
    if VERSION_TABLE not in conn.tables():
        return 0
    row = conn.one(f"SELECT MAX(version) FROM {VERSION_TABLE}")
    return int(row[0]) if row and row[0] is not None else 0


def migrate(conn: Conn, *, now: str) -> int:
    """Bring the store to ``LATEST`` in one write transaction (so two commands opening a new store at once
    create it once); the version it was at before."""
    if _current(conn) == LATEST:  # the common case, without taking the write lock
        return LATEST
    with conn.write():
        conn.ensure_namespace()
        before = _current(conn)
        if VERSION_TABLE not in conn.tables():
            conn.execute(f"CREATE TABLE {VERSION_TABLE} (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL, "
                         "what TEXT NOT NULL)")
        if before == 0 and "meta" in conn.tables():
            _upgrade_unversioned(conn)
        for m in MIGRATIONS:
            if m.version > before:
                for statement in m.statements:
                    conn.execute(statement)
                conn.execute(f"INSERT INTO {VERSION_TABLE} (version, applied_at, what) VALUES (?, ?, ?)",
                             (m.version, now, m.what))
    return before


def _current(conn: Conn) -> int:
    found = version(conn)
    if found > LATEST:
        raise StoreError(
            f"{conn.where}: this store was written by a newer sheetsync (schema version {found}; this one knows up to "
            f"{LATEST}). Upgrade sheetsync (reinstall it from a newer source) to use it; nothing was changed."
        )
    return found


def _upgrade_unversioned(conn: Conn) -> None:
    """A store from before versioning (SQLite only: PostgreSQL stores began versioned): the baseline's
    missing tables and columns, and each run's ``seq`` from the order SQLite kept them in."""
    for statement in BASELINE:
        conn.execute(statement)
    for table, wanted in _LEGACY_COLUMNS.items():
        have = set(conn.columns(table))
        for name, kind in wanted.items():
            if name not in have:
                conn.execute(f"ALTER TABLE {table} ADD COLUMN {name} {kind}")
    if conn.engine == "sqlite":
        conn.execute("UPDATE runs SET seq = rowid WHERE seq IS NULL")
