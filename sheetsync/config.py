"""Configuration: ``sheetsync.toml``, then ``SHEETSYNC_*`` environment variables (and ``.env``) on top;
explicit command-line options win over all of them. Read once per command and passed down."""

from __future__ import annotations

import os
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from dotenv import dotenv_values

from sheetsync.errors import ConfigError
from sheetsync.locator import check_locator
from sheetsync.settings import (
    Problem,
    Rule,
    Section,
    at_least,
    between,
    distinct,
    each,
    fraction,
    no_control_characters,
    not_blank,
    one_of,
    positive,
    read_section,
    setting,
    trimmed,
    unique,
    without,
)
from sheetsync.verdicts import FAIL_WORDS, PASS_WORDS

CONFIG_NAME = "sheetsync.toml"
STATE_DIR = ".sheetsync"

DEFAULT_ROOT_CAUSES = (
    "hallucinated fact",
    "policy misapplied",
    "incomplete answer",
    "ignored context",
    "wrong tone",
    "failed to escalate",
)


def _word(label: str) -> str:
    """A verdict word as pull compares it (case, spaces and trailing full stops ignored)."""
    return label.strip().rstrip(".").strip().lower()


def _cause(cause: str) -> str:
    """A root cause as pull and the reports compare it (case and runs of spaces ignored)."""
    return " ".join(cause.split()).lower()


def _roles(section: Columns) -> Iterator[Problem]:
    """A column plays one role: the Annotate tab finds its columns by header."""
    seen: dict[str, str] = {}
    for attr in ("id", "input", "output", "context", "dimensions"):
        value = getattr(section, attr)
        for name in value if isinstance(value, tuple) else (value,):
            if name and name in seen and seen[name] != attr:
                yield Problem((attr, seen[name]), f"names `{name}`, which [columns] {seen[name]} names too: give "
                              "each column one role")
            seen.setdefault(name, attr)


_COLUMN_NAMES = (each(not_blank, trimmed), unique())


def _map_entry(entry: str) -> str | None:
    from sheetsync.importers.mapping import check_entry

    return check_entry(entry)


@dataclass(frozen=True)
class Columns(Section):
    """Which dataset columns play which role. Empty ``input``/``output`` mean: guess from common names;
    an empty ``id`` means content-hash ids even when the data has an ``id`` column."""

    name: ClassVar[str] = "columns"
    together: ClassVar = (_roles,)
    id: str = setting("id", trimmed)
    input: str = setting("", trimmed)
    output: str = setting("", trimmed)
    context: tuple[str, ...] = setting((), *_COLUMN_NAMES)
    dimensions: tuple[str, ...] = setting((), *_COLUMN_NAMES)
    # `sheetsync import mapping`: each column from a path into a JSON record ("input = $.request.messages")
    map: tuple[str, ...] = setting((), each(_map_entry), unique(lambda e: e.partition("=")[0].strip()))


_LABEL = (not_blank, lambda v: None if _word(v) else "must be a word, not only full stops",
          without('"', "the sheet's colouring formulas cannot hold it"))


def _not_a_word_of(words: frozenset[str], side: str) -> Rule:
    return lambda v: (
        f"a word the expert types for a {side} ({', '.join(sorted(words))}), so it would be read as a {side}"
        if _word(v) in words else None
    )


@dataclass(frozen=True)
class Labels(Section):
    name: ClassVar[str] = "labels"
    together: ClassVar = (distinct("pass_label", "fail_label", normalize=_word,
                                   why="pull could not tell a pass from a fail; choose two different words"),)
    pass_label: str = setting("Pass", *_LABEL, _not_a_word_of(FAIL_WORDS, "fail"), key="pass")
    fail_label: str = setting("Fail", *_LABEL, _not_a_word_of(PASS_WORDS, "pass"), key="fail")
    # ; , | separate several causes in one cell, so a cause holding one could never be recognised
    root_causes: tuple[str, ...] = setting(
        DEFAULT_ROOT_CAUSES, each(not_blank, without(";,|", "they separate several causes in one cell")),
        unique(_cause),
    )
    min_critique_words: int = setting(10, at_least(0))
    criteria: str = setting("Did the AI achieve the outcome the user needed, correctly and safely?")


_TAB = (not_blank, trimmed, no_control_characters)


@dataclass(frozen=True)
class Tabs(Section):
    """Tab names. Spreadsheets compare tab names ignoring case, so two settings naming one tab (say the
    judge's tab named "annotate") would make one command replace another's tab — the expert's included."""

    name: ClassVar[str] = "tabs"
    together: ClassVar = (distinct(normalize=str.casefold, why="each tab needs a name of its own (case is "
                                   "ignored), or one command would replace another's tab"),)
    instructions: str = setting("Instructions", *_TAB)
    annotate: str = setting("Annotate", *_TAB)
    judge: str = setting("Judge", *_TAB)
    agreement: str = setting("Agreement", *_TAB)
    disagreements: str = setting("Disagreements", *_TAB)
    root_causes: str = setting("Root causes", *_TAB)
    error_analysis: str = setting("Error analysis", *_TAB)
    summary: str = setting("Summary", *_TAB)
    review: str = setting("Review", *_TAB)
    calibration: str = setting("Calibration", *_TAB)
    proposals: str = setting("Root-cause proposals", *_TAB)  # sheetsync triage: the expert decides here
    judges: str = setting("Judges", *_TAB)  # the report's section per [judges.NAME]


def _ratios(section: Judge) -> Iterator[Problem]:
    total = section.train + section.dev + section.test
    if abs(total - 1.0) > 1e-6:
        yield Problem(("train", "dev", "test"), f"[judge] train + dev + test must add up to 1 (got {total:g})",
                      standalone=True)


EXAMPLE_MODES = ("fixed", "similar")
LEVELS = ("auto", "json_schema", "json_object", "instructions")  # structured output, most to least strict


@dataclass(frozen=True)
class Judge(Section):
    name: ClassVar[str] = "judge"
    together: ClassVar = (_ratios,)
    model: str = setting("gpt-4.1-mini", not_blank)
    concurrency: int = setting(8, between(1, 256))  # the --concurrency option's range
    timeout: float = setting(60.0, positive)
    max_retries: int = setting(4, at_least(0))
    temperature: float = setting(0.0, between(0, 2))  # the range OpenAI-compatible servers accept
    prompt: str = setting("prompts/judge.md", not_blank)
    train: float = setting(0.2, fraction)
    dev: float = setting(0.4, fraction)
    test: float = setting(0.4, fraction)
    max_examples: int = setting(8, at_least(0))
    max_example_chars: int = setting(12000, at_least(0))
    # Real servers (see the README's "Local models"): the structured-output level ("auto" learns it), the reply
    # budget, cutting a row's longest field when the prompt exceeds the model's context, the share of rows
    # in error above which a run exits non-zero, and how long to wait for a server that stopped answering.
    structured_output: str = setting("auto", one_of(*LEVELS))
    max_tokens: int = setting(1024, at_least(1))
    fit_context: bool = setting(False)
    max_error_share: float = setting(0.5, fraction)
    outage_wait: float = setting(300.0, at_least(0))
    probe_interval: float = setting(5.0, positive)
    # Few-shot examples: the balanced fixed set, or per row the train rows most similar to it (embeddings
    # from the server's /v1/embeddings, cached like calls).
    examples: str = setting("fixed", one_of(*EXAMPLE_MODES))
    embedding_model: str = setting("text-embedding-3-small", not_blank)


@dataclass(frozen=True)
class Generate(Section):
    """``sheetsync generate``'s own call settings (model, timeout and concurrency come from ``[judge]``)."""

    name: ClassVar[str] = "generate"
    structured_output: str = setting("auto", one_of(*LEVELS))
    max_tokens: int = setting(2048, at_least(1))


@dataclass(frozen=True)
class Triage(Section):
    """``sheetsync triage`` (root-cause proposals) and ``sheetsync classify`` (root causes of the judge's
    failures). Model, timeout and concurrency come from ``[judge]`` unless ``model`` is set here."""

    name: ClassVar[str] = "triage"
    model: str = setting("")
    max_categories: int = setting(8, between(2, 30))
    #: Fail critiques sent in the one triage call (a stable sample when there are more): the call must fit
    #: the model's context.
    max_critiques: int = setting(300, between(1, 5000))
    prompt: str = setting("")  # "" = the built-in template (sheetsync/templates/triage.md)
    classify_prompt: str = setting("")  # "" = the built-in template (sheetsync/templates/classify.md)
    max_examples: int = setting(8, at_least(0))  # the classifier's examples: train fails with a root cause
    #: A root cause the classifier was measured on fewer expert rows than this is shown as unverified.
    min_support: int = setting(5, at_least(1))


def _module_function(v: str) -> str | None:
    module, sep, attr = v.partition(":")
    if v and (not sep or not module.strip() or not attr.strip()):
        return "expected module:function, e.g. checks:mentions_fee"
    return None


def _one_kind(section: SpecialJudge) -> Iterator[Problem]:
    if section.prompt and section.assertion:
        yield Problem(("assertion", "prompt"), f"[{section.name}] sets both prompt and assertion: a judge is "
                      "either an LLM prompt or a code assertion", standalone=True)


@dataclass(frozen=True)
class SpecialJudge(Section):
    """``[judges.NAME]``: a binary judge for one failure mode, an LLM prompt or a code assertion. It is a
    configuration of the judge, not a copy: splits, cache, runner, Batch API and metrics are the judge's.

    Ground truth comes from the expert's labels: a labelled row whose root causes include ``root_cause``
    (default: NAME) fails; an expert pass passes; an expert fail for other causes is left out
    (``other_failures = "exclude"``) or counted as a pass for this failure mode (``"pass"``)."""

    name: ClassVar[str] = "judges"
    together: ClassVar = (_one_kind,)
    root_cause: str = setting("", trimmed, without(";,|", "they separate several causes in one cell"))
    criterion: str = setting("")
    prompt: str = setting("")  # "" = the built-in failure-mode template, unless assertion is set
    assertion: str = setting("", _module_function)  # module:function → (passed, reason)
    model: str = setting("")
    other_failures: str = setting("exclude", one_of("exclude", "pass"))

    @property
    def kind(self) -> str:
        return "code" if self.assertion else "llm"


def _judge_name(name: str) -> str | None:
    if not name.strip() or name != name.strip():
        return "must not be empty or start or end with a space"
    if len(name) > 60 or any(ord(c) < 32 for c in name):
        return "must be at most 60 characters, without control characters"
    if name.startswith("("):
        return "must not start with “(” (sheetsync's own runs are named so)"
    return None


def _special_judges(raw: Any, where: str) -> tuple[dict[str, SpecialJudge], list[str]]:
    """Each ``[judges.NAME]`` table, checked like a section (its labels name the judge)."""
    if not isinstance(raw, dict) or not all(isinstance(v, dict) for v in raw.values()):
        return {}, [f"{where}: [judges] must hold one table per judge, e.g. [judges.fees] with "
                    "criterion = \"...\" (or assertion = \"module:function\")."]
    judges: dict[str, SpecialJudge] = {}
    problems: list[str] = []
    for name, table in raw.items():
        bad = _judge_name(name)
        if bad:
            problems.append(f"{where}: [judges.{name!r}]: the judge's name {bad}.")
            continue
        cls = type(f"SpecialJudge_{len(judges)}", (SpecialJudge,), {"name": f"judges.{name}"})
        section, found = read_section(cls, table, {}, where)  # no SHEETSYNC_* variables: names vary
        problems += found
        if section is not None:
            judges[name] = section  # type: ignore[assignment]
    return judges, problems


@dataclass(frozen=True)
class Google(Section):
    name: ClassVar[str] = "google"
    credentials: str = setting("")
    oauth_client: str = setting("")
    #: Seconds per request: 0 would fail every call; an hour is beyond any reasonable wait.
    timeout: float = setting(30.0, between(0.5, 3600))
    #: Drive folder (URL or id) new spreadsheets are created in: a service account has no Drive storage
    #: of its own, so it must create inside a shared drive (google-reality.md "service accounts").
    folder: str = setting("")
    #: Client-side pacing; Google allows 60 of each per minute per user (sheets/api/limits). 0 = off;
    #: more than 10,000 requests a minute is beyond any Google quota tier.
    reads_per_minute: int = setting(60, between(0, 10_000))
    writes_per_minute: int = setting(60, between(0, 10_000))
    #: Seconds one request may wait in total for a spent per-minute quota (429) before giving up.
    quota_wait_max: float = setting(120.0, between(0, 3600))
    #: The largest request body a write sends: Google refuses over 10 MiB (10,485,760 bytes) and recommends
    #: at most 2 MB (sheets/api/limits); below 64 KB a single long row would not fit.
    max_request_bytes: int = setting(2_000_000, between(65_536, 10_485_760))


def _floor_below_target(section: Report) -> Iterator[Problem]:
    if section.floor > section.target:
        yield Problem(("floor", "target"), f"[report] floor ({section.floor:g}) is above [report] target "
                      f"({section.target:g}): the floor is the lowest rate still acceptable", standalone=True)


@dataclass(frozen=True)
class Report(Section):
    name: ClassVar[str] = "report"
    together: ClassVar = (_floor_below_target,)
    target: float = setting(0.90, fraction)
    floor: float = setting(0.80, fraction)
    #: A line shown at the top of the Instructions tab and of every report tab ("Confidential", "Example data").
    banner: str = setting("", trimmed, no_control_characters)
    #: Stop labelling once the intervals are at most ± this (TPR, TNR and the corrected pass rate).
    half_width: float = setting(0.05, fraction)


_RATER = (trimmed, no_control_characters, without("[]:*?/\\", "a tab or file name cannot hold it"))


@dataclass(frozen=True)
class Review(Section):
    """The expert's answers to the judge (the Review tab), blind labelling and a second rater.

    ``guidance`` puts the expert's resolutions of dev disagreements into the judge prompt; those rows then
    count as train (the judge's teaching rows), so they are never scored again. ``blind`` keeps judge
    verdicts out of the expert's sight until the expert has labelled the row. ``rater`` names a second
    rater whose workbook (``rater_spreadsheet``; default beside the principal's) every ``push`` updates."""

    name: ClassVar[str] = "review"
    guidance: bool = setting(False)
    blind: bool = setting(False)
    rater: str = setting("", *_RATER)
    rater_spreadsheet: str = setting("")


def _store_url(url: str) -> str | None:
    """A store URL sheetsync can open (``sheetsync.store.location`` reads it); the loader's message shows the
    value, and the CLI masks a password in it (``sheetsync.redact``)."""
    if not url:
        return None
    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    if scheme == "sqlite":
        return None if url.startswith("sqlite:///") and len(url) > len("sqlite:///") else (
            "an SQLite URL is sqlite:///relative/path.db or sqlite:////absolute/path.db")
    if scheme in ("postgresql", "postgres", "postgresql+psycopg"):
        if not url.split("://", 1)[1]:
            return "names no server (postgresql://user:password@host:5432/dbname)"
        from sheetsync.store.location import postgres_url_problem

        return postgres_url_problem(url)
    return ("must be a PostgreSQL URL (postgresql://user:password@host:5432/dbname) or an SQLite one "
            "(sqlite:///path.db); leave it empty for the local file .sheetsync/state.db")


@dataclass(frozen=True)
class StoreSettings(Section):
    """Where the workspace's history is kept: empty ``url`` = ``.sheetsync/state.db``; a PostgreSQL URL = a
    store the team and CI share, where ``workspace`` names this workspace (default: the spreadsheet's id)."""

    name: ClassVar[str] = "store"
    url: str = setting("", trimmed, no_control_characters, _store_url)
    workspace: str = setting("", trimmed, no_control_characters)


@dataclass(frozen=True)
class Config:
    root: Path
    spreadsheet: str = ""
    columns: Columns = field(default_factory=Columns)
    labels: Labels = field(default_factory=Labels)
    tabs: Tabs = field(default_factory=Tabs)
    judge: Judge = field(default_factory=Judge)
    generate: Generate = field(default_factory=Generate)
    google: Google = field(default_factory=Google)
    report: Report = field(default_factory=Report)
    review: Review = field(default_factory=Review)
    store: StoreSettings = field(default_factory=StoreSettings)
    triage: Triage = field(default_factory=Triage)
    judges: dict[str, SpecialJudge] = field(default_factory=dict)  # [judges.NAME]
    prices: dict[str, tuple[float, ...]] = field(default_factory=dict)  # (input, output[, cached input]) per 1M
    source: Path | None = None  # the sheetsync.toml read, if any

    @property
    def state_dir(self) -> Path:
        return self.root / STATE_DIR

    def path(self, value: str) -> Path:
        """A path from the config, relative to the workspace root."""
        p = Path(value).expanduser()
        return p if p.is_absolute() else self.root / p


_SECTIONS = {"columns": Columns, "labels": Labels, "tabs": Tabs, "judge": Judge, "generate": Generate,
             "google": Google, "report": Report, "review": Review, "store": StoreSettings, "triage": Triage}


def load_config(config_path: str | Path | None = None, *, cwd: Path | None = None) -> Config:
    """Read the workspace config (``--config`` or ``./sheetsync.toml``), then the environment on top.

    Missing file: defaults, rooted at the current directory. A broken file or a value that breaks a rule:
    ``ConfigError`` naming the file (or variable) and the key, for every problem at once.
    """
    cwd = cwd or Path.cwd()
    if config_path is not None:
        path = Path(config_path)
        if not path.is_file():
            raise ConfigError(f"{path}: config file not found (run `sheetsync init` to create one).")
    else:
        path = cwd / CONFIG_NAME
    data: dict[str, Any] = {}
    if path.is_file():
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{path}: not valid TOML ({exc}). Fix the file or run `sheetsync init` elsewhere.") from exc
        root = path.resolve().parent
        source: Path | None = path
    else:
        root, source = cwd.resolve(), None

    env = {**dotenv_values(root / ".env"), **os.environ}  # real environment wins over .env
    _export_dotenv_secrets(root / ".env")
    return _build(data, env, root, source)


def _export_dotenv_secrets(dotenv: Path) -> None:
    """Make .env's variables visible to the libraries that read the environment (openai, google-auth)."""
    for key, value in dotenv_values(dotenv).items():
        if value is not None and key not in os.environ and not key.startswith("SHEETSYNC_"):
            os.environ[key] = value


def _build(data: dict[str, Any], env: dict[str, str | None], root: Path, source: Path | None) -> Config:
    where = str(source) if source else "environment"
    sections: dict[str, Any] = {}
    problems: list[str] = []
    for name, cls in _SECTIONS.items():
        section, found = read_section(cls, data.get(name, {}), env, where)
        sections[name] = section
        problems += found
    spreadsheet = env.get("SHEETSYNC_SPREADSHEET") or data.get("spreadsheet", "")
    if not isinstance(spreadsheet, str):
        problems.append(f"{where}: spreadsheet = {spreadsheet!r} is not valid: expected text (in quotes).")
    else:
        try:
            spreadsheet = check_locator(spreadsheet, "SHEETSYNC_SPREADSHEET" if env.get("SHEETSYNC_SPREADSHEET")
                                        else f"{where}: spreadsheet")
        except ConfigError as exc:
            problems.append(str(exc))
    prices = {}
    table = data.get("prices") or {}
    for model, pair in table.items() if isinstance(table, dict) else [("", None)]:
        if not (isinstance(pair, list) and len(pair) in (2, 3) and all(
                isinstance(x, int | float) and not isinstance(x, bool) and 0 <= x < float("inf") for x in pair)):
            problems.append(f"{where}: [prices] {model} = {pair!r} is not valid: must be [input_usd_per_1M, "
                            "output_usd_per_1M] or [input, output, cached_input], numbers of 0 or more.")
            continue
        prices[model] = tuple(float(x) for x in pair)
    judges, found = _special_judges(data.get("judges", {}), where)
    problems += found
    unknown = set(data) - set(_SECTIONS) - {"spreadsheet", "prices", "judges"}
    if unknown:
        problems.append(f"{where}: unknown setting(s) {', '.join(sorted(unknown))}.")
    if problems:
        raise ConfigError(problems[0] if len(problems) == 1 else
                          f"{len(problems)} settings are not valid:\n  " + "\n  ".join(problems))
    return Config(root=root, spreadsheet=spreadsheet, prices=prices, source=source, judges=judges, **sections)
