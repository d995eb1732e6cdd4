"""What triage and classify share: the expert's labelled rows with their splits, the call settings, the
prompt templates (the workspace's, else the built-in ones) and the fence marker's secret."""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import dataclass, replace
from typing import Any

from sheetsync import llm
from sheetsync.config import Config
from sheetsync.errors import UserInputError
from sheetsync.judge.inputs import SALT_KEY
from sheetsync.judge.prompt import _fencer
from sheetsync.judge.runner import settings_for
from sheetsync.judge.splits import split_of
from sheetsync.metrics import split_root_causes
from sheetsync.store import Store
from sheetsync.workspace import existing_store, template_text

fencer = _fencer  # the judge's fence: delimiters with a marker the text cannot guess, look-alikes defused


@dataclass(frozen=True)
class Row:
    """A pushed row still in the dataset, with its fresh label (if any) and its split."""

    id: str
    input: str
    output: str
    context: dict[str, str]
    split: str  # train / dev / test, or "unlabeled"
    verdict: str  # "pass", "fail" or ""
    critique: str
    root_causes: tuple[str, ...]  # what the expert typed, split on , ; |


def require_store(cfg: Config, what: str) -> Store:
    store = existing_store(cfg)
    if store is None or not store.rows():
        raise UserInputError(f"{what}: no rows in the local store. Run `sheetsync push DATA` first.")
    return store


def load_rows(cfg: Config, store: Store) -> dict[str, Row]:
    """Every row in the dataset with its fresh label: stale labels count as no label (the judge's rule)."""
    layout = json.loads(store.get_meta("annotate_layout") or "{}")
    context_cols = layout.get("context", [])
    labels, _stale = store.fresh_labels()
    out: dict[str, Row] = {}
    for rid, row in store.rows().items():
        if not row["in_dataset"]:
            continue
        label = labels.get(rid)
        split = split_of(rid, cfg.judge.train, cfg.judge.dev) if label is not None else "unlabeled"
        out[rid] = Row(rid, row["input"], row["output"], {c: row["fields"].get(c, "") for c in context_cols},
                       split, (label.verdict or "") if label else "", label.critique if label else "",
                       tuple(split_root_causes(label.root_cause)) if label else ())
    return out


def call_settings(cfg: Config, model: str | None, *, min_tokens: int = 0) -> llm.LLMSettings:
    """The judge's call settings, with ``[triage] model`` (or ``--model``) and a reply budget of at least
    ``min_tokens`` (a taxonomy with its critique refs is longer than a verdict)."""
    settings = settings_for(cfg, model or cfg.triage.model or None)
    if min_tokens and (settings.max_tokens or 0) < min_tokens:
        settings = replace(settings, max_tokens=min_tokens)
    return settings


def template(cfg: Config, setting: str, builtin: str) -> tuple[str, str]:
    """The template text and where it came from: ``[triage] <setting>`` when set, else the built-in one."""
    value = getattr(cfg.triage, setting)
    if not value:
        return template_text(builtin), f"built-in {builtin}"
    path = cfg.path(value)
    if not path.is_file():
        raise UserInputError(f"{path}: the template named by [triage] {setting} is missing. Fix the path, or set "
                             f"{setting} = \"\" for the built-in one.")
    return path.read_text(encoding="utf-8"), str(path)


def marker_salt(store: Store) -> str:
    salt = store.get_meta(SALT_KEY)
    if salt is None:
        salt = secrets.token_hex(16)
        store.set_meta(SALT_KEY, salt)
    return salt


def marker(salt: str, *parts: str) -> str:
    return hashlib.sha256("\x1f".join([salt, *parts]).encode()).hexdigest()[:12]


def dry_run_estimate(calls: list[llm.Call], settings: llm.LLMSettings, store: Store, cfg: Config,
                     reply_tokens: int) -> dict[str, Any]:
    """Calls not in the cache, the prompt tokens they would send and the estimated cost, calling nothing."""
    start = 0 if settings.structured_output == "auto" else llm.LEVEL_NAMES.index(settings.structured_output)
    needed = [c for c in calls if store.get(llm.cache_key(settings, c)) is None]
    tokens = sum(llm.estimate_call_tokens(settings, c, start) for c in needed)
    cost = llm.estimate_cost(tokens, reply_tokens * len(needed), settings.model, llm.price_table(cfg.prices))
    return {"calls_needed": len(needed), "cached": len(calls) - len(needed), "estimated_prompt_tokens": tokens,
            "estimated_cost": cost, "token_method": llm.token_method(settings.model)}
