"""Configuration: ``sheetsync.toml``, then ``SHEETSYNC_*`` environment variables (and ``.env``) on top;
explicit command-line options win over all of them. Read once per command and passed down."""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from dotenv import dotenv_values

from sheetsync.errors import ConfigError

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


@dataclass(frozen=True)
class Columns:
    """Which dataset columns play which role. Empty ``input``/``output`` mean: guess from common names."""

    id: str = "id"
    input: str = ""
    output: str = ""
    context: tuple[str, ...] = ()
    dimensions: tuple[str, ...] = ()


@dataclass(frozen=True)
class Labels:
    pass_label: str = "Pass"
    fail_label: str = "Fail"
    root_causes: tuple[str, ...] = DEFAULT_ROOT_CAUSES
    min_critique_words: int = 10
    criteria: str = "Did the AI achieve the outcome the user needed, correctly and safely?"


@dataclass(frozen=True)
class Tabs:
    instructions: str = "Instructions"
    annotate: str = "Annotate"
    judge: str = "Judge"
    agreement: str = "Agreement"
    disagreements: str = "Disagreements"
    root_causes: str = "Root causes"
    error_analysis: str = "Error analysis"
    summary: str = "Summary"


@dataclass(frozen=True)
class Judge:
    model: str = "gpt-4.1-mini"
    concurrency: int = 8
    timeout: float = 60.0
    max_retries: int = 4
    temperature: float = 0.0
    prompt: str = "prompts/judge.md"
    train: float = 0.2
    dev: float = 0.4
    test: float = 0.4
    max_examples: int = 8
    max_example_chars: int = 12000
    # Real servers (see the README's "Local models"): the structured-output level ("auto" learns it), the reply
    # budget, cutting a row's longest field when the prompt exceeds the model's context, the share of rows
    # in error above which a run exits non-zero, and how long to wait for a server that stopped answering.
    structured_output: str = "auto"
    max_tokens: int = 1024
    fit_context: bool = False
    max_error_share: float = 0.5
    outage_wait: float = 300.0
    probe_interval: float = 5.0


@dataclass(frozen=True)
class Generate:
    """``sheetsync generate``'s own call settings (model, timeout and concurrency come from ``[judge]``)."""

    structured_output: str = "auto"
    max_tokens: int = 2048


@dataclass(frozen=True)
class Google:
    credentials: str = ""
    oauth_client: str = ""
    timeout: float = 30.0
    #: Drive folder (URL or id) new spreadsheets are created in: a service account has no Drive storage
    #: of its own, so it must create inside a shared drive (google-reality.md "service accounts").
    folder: str = ""
    #: Client-side pacing; Google allows 60 of each per minute per user (sheets/api/limits). 0 = off.
    reads_per_minute: int = 60
    writes_per_minute: int = 60
    #: Seconds one request may wait in total for a spent per-minute quota (429) before giving up.
    quota_wait_max: float = 120.0


@dataclass(frozen=True)
class Report:
    target: float = 0.90
    floor: float = 0.80


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
             "google": Google, "report": Report}
_LEVELS = ("auto", "json_schema", "json_object", "instructions")
_RENAMES = {("labels", "pass"): "pass_label", ("labels", "fail"): "fail_label"}


def load_config(config_path: str | Path | None = None, *, cwd: Path | None = None) -> Config:
    """Read the workspace config (``--config`` or ``./sheetsync.toml``), then the environment on top.

    Missing file: defaults, rooted at the current directory. A broken file: ``ConfigError`` naming it.
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
    for name, cls in _SECTIONS.items():
        raw = data.get(name, {})
        if not isinstance(raw, dict):
            raise ConfigError(f"{where}: [{name}] must be a table.")
        values: dict[str, Any] = {}
        known = {f.name: f for f in fields(cls)}
        for key, value in raw.items():
            attr = _RENAMES.get((name, key), key)
            if attr not in known:
                raise ConfigError(f"{where}: unknown setting `{key}` in [{name}] (known: {', '.join(sorted(known))}).")
            values[attr] = value
        for attr in known:
            env_value = env.get(f"SHEETSYNC_{name.upper()}_{attr.upper()}")
            if env_value is not None and env_value != "":
                values[attr] = env_value
        sections[name] = _coerce(cls, values, where, name)

    spreadsheet = env.get("SHEETSYNC_SPREADSHEET") or data.get("spreadsheet", "")
    prices = {}
    for model, pair in (data.get("prices") or {}).items():
        if not (isinstance(pair, list) and len(pair) in (2, 3) and all(isinstance(x, int | float) for x in pair)):
            raise ConfigError(f"{where}: [prices] {model} must be [input_usd_per_1M, output_usd_per_1M] or "
                              "[input, output, cached_input] (USD per 1M tokens).")
        prices[model] = tuple(float(x) for x in pair)
    unknown = set(data) - set(_SECTIONS) - {"spreadsheet", "prices"}
    if unknown:
        raise ConfigError(f"{where}: unknown setting(s) {', '.join(sorted(unknown))}.")
    _check_google(sections["google"], where)
    for name in ("judge", "generate"):
        level = sections[name].structured_output
        if level not in _LEVELS:
            raise ConfigError(f"{where}: [{name}] structured_output = {level!r}: choose one of {', '.join(_LEVELS)}.")
    if not 0 <= sections["judge"].max_error_share <= 1:
        raise ConfigError(f"{where}: [judge] max_error_share must be between 0 and 1.")
    cfg = Config(root=root, spreadsheet=str(spreadsheet or ""), prices=prices, source=source, **sections)
    total = cfg.judge.train + cfg.judge.dev + cfg.judge.test
    if abs(total - 1.0) > 1e-6 or min(cfg.judge.train, cfg.judge.dev, cfg.judge.test) < 0:
        raise ConfigError(f"{where}: [judge] train + dev + test must be non-negative and add up to 1 (got {total:g}).")
    return cfg


#: [google] numbers and their allowed ranges (inclusive), with why: a request timeout of 0 would fail
#: every call; more than 10,000 requests a minute is beyond any Google quota tier.
_GOOGLE_RANGES = {
    "timeout": (0.5, 3600.0),
    "reads_per_minute": (0, 10_000),
    "writes_per_minute": (0, 10_000),
    "quota_wait_max": (0.0, 3600.0),
}


def _check_google(google: Google, where: str) -> None:
    for key, (low, high) in _GOOGLE_RANGES.items():
        value = getattr(google, key)
        if not low <= value <= high:
            raise ConfigError(f"{where}: [google] {key} = {value!r} is out of range: use {low:g} to {high:g}.")


def _coerce(cls: type, values: dict[str, Any], where: str, section: str) -> Any:
    """Build a section, converting env strings and TOML lists to each field's type."""
    defaults = cls()
    out: dict[str, Any] = {}
    for key, value in values.items():
        current = getattr(defaults, key)
        try:
            if isinstance(current, tuple):
                if isinstance(value, str):
                    value = [v.strip() for v in value.split(",") if v.strip()]
                if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
                    raise TypeError("expected a list of strings")
                out[key] = tuple(value)
            elif isinstance(current, bool):
                out[key] = value if isinstance(value, bool) else str(value).lower() in {"1", "true", "yes"}
            elif isinstance(current, int):
                if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                    raise TypeError("expected a whole number")
                out[key] = int(value)
            elif isinstance(current, float):
                if isinstance(value, bool):
                    raise TypeError("expected a number")
                out[key] = float(value)
            else:
                if not isinstance(value, str):
                    raise TypeError("expected text")
                out[key] = value
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"{where}: [{section}] {key} = {value!r} is not valid ({exc}).") from exc
    return replace(defaults, **out)
