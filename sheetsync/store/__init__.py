"""The store: everything sheetsync knows beyond the sheet — every pull's labels, the pushed rows in full,
which content each label was given for, judge runs, verdicts, the looks at the test split and the judge-call
cache. One interface (``Store``), two engines:

* SQLite (``.sheetsync/state.db``), the zero-setup default for one person (``sheetsync.store.sqlite``);
* PostgreSQL, for a team and its CI (``[store] url``; ``sheetsync.store.postgres``): a teammate's clone, a
  new laptop and the CI gate all see the same history, and a judge call paid for once is everyone's.

Everything that reads or writes the store goes through ``Store`` methods (no SQL elsewhere), so both
engines run the same code and pass the same tests (tests/store/). The modules, by what they hold:
``conn`` (the engine-neutral connection and its transactions), ``schema`` (tables and migrations),
``labels`` (rows, pulls, label states), ``runs`` (runs, verdicts, looks, cache), ``review`` (the expert's
answers, criteria questions, label revisions, verdicts shown), ``sampling`` (label provenance, sampling
rounds, the judge's re-asks), ``triage`` (root-cause proposals, the expert's decisions, classifications),
``location`` (which store a
config names), ``transfer`` (export and import of a whole workspace).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from sheetsync.errors import StoreError
from sheetsync.store.base import now
from sheetsync.store.conn import Conn
from sheetsync.store.labels import Label, LabelsStore
from sheetsync.store.review import Answer, Question, ReviewStore, Revision
from sheetsync.store.runs import RunsStore
from sheetsync.store.sampling import SamplingStore
from sheetsync.store.schema import migrate
from sheetsync.store.triage import Decision, TriageStore

if TYPE_CHECKING:
    from sheetsync.config import Config
    from sheetsync.store.location import Location

__all__ = ["Answer", "Decision", "Label", "Question", "Revision", "Store", "now", "open_location", "open_store"]


class Store(LabelsStore, RunsStore, ReviewStore, SamplingStore, TriageStore):
    """A workspace's store on either engine; migrated to the current schema when opened."""

    def __init__(self, where: str | Path | Conn):
        if not isinstance(where, Conn):
            from sheetsync.store.sqlite import SqliteConn

            where = SqliteConn(where)
        super().__init__(where)
        try:
            migrate(where, now=now())
        except BaseException:
            where.close()
            raise

    @classmethod
    def for_workspace(cls, state_dir: Path) -> Store:
        """The local SQLite store in a workspace's ``.sheetsync/`` folder."""
        return cls(state_dir / "state.db")


def open_location(loc: Location, *, create: bool = True) -> Store | None:
    """The store at ``loc``; with ``create=False``, None when it holds nothing yet (a command that only reads
    leaves no file, and no PostgreSQL schema, behind)."""
    if loc.engine == "sqlite":
        assert loc.path is not None
        if not create and not loc.path.exists():
            return None
        return Store(loc.path)
    from sheetsync.store.postgres import PostgresConn

    conn = PostgresConn(loc.url, loc.workspace, loc.shown)
    if not create and not conn.exists():
        conn.close()
        return None
    store = Store(conn)
    problem = conn.write_problem() if create else None  # a command that only reads may use a read-only login
    if problem:
        store.close()
        raise StoreError(f"{loc.shown}: {problem}. This command records what it does there, so it stops before "
                         "changing anything: use a login that may write (reports alone work read-only). "
                         "Nothing was written.")
    return store


def open_store(cfg: Config, *, create: bool = True) -> Store | None:
    """The store ``cfg`` names (``[store] url``, else ``.sheetsync/state.db``)."""
    from sheetsync.store.location import locate

    return open_location(locate(cfg), create=create)
