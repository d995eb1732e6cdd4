"""A second rater: another person labels the same rows, in a workbook of their own, never seeing the
principal expert's labels; pull measures how well the two agree (Cohen's κ), and the Calibration tab lists
their disagreements for the principal expert to settle. The principal expert's label stays the ground truth:
the rater's labels never teach or measure the judge.

The rater's workbook is an ordinary sheetsync workbook (Instructions + Annotate), kept by an ordinary
push and pull with a store of its own (:func:`rater_location`): every guarantee the principal's
Annotate tab has — matched by id, never a label overwritten, stale flags, repair after a write that
landed mid-sort — holds for the rater's too, because it is the same code. A separate workbook, not a tab
beside the principal's, because anyone who can open a spreadsheet can open every tab in it.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sheetsync.backends import is_local
from sheetsync.config import Config
from sheetsync.errors import UserInputError
from sheetsync.store import Label, Store, open_location
from sheetsync.store.location import Location, locate
from sheetsync.workspace import SPREADSHEET_KEY, open_store

if TYPE_CHECKING:
    from sheetsync.metrics import RaterAgreement

RATERS_KEY = "raters"  # principal store meta: {name: the rater's workbook locator}
_SLUG = re.compile(r"[^A-Za-z0-9_-]+")


def check_name(name: str) -> str:
    name = name.strip()
    if not name or any(ord(c) < 32 for c in name) or re.search(r"[\[\]:*?/\\]", name):
        raise UserInputError(f"--rater {name!r}: give the second rater's name (letters, digits, spaces; none of "
                             "[ ] : * ? / \\).")
    return name


def registered(store: Store | None) -> dict[str, str]:
    """Second raters pushed so far: name -> their workbook."""
    return json.loads(store.get_meta(RATERS_KEY) or "{}") if store is not None else {}


def rater_location(cfg: Config, name: str) -> Location:
    """The rater's store, beside the workspace's: ``raters/<name>/state.db`` next to a ``state.db`` (the
    default ``.sheetsync/state.db`` included), ``<file>.rater-<name>.db`` beside another SQLite file, a
    workspace of its own on a team's PostgreSQL."""
    loc = locate(cfg)
    slug = f"{_SLUG.sub('-', name).strip('-')[:40] or 'rater'}-{hashlib.sha256(name.encode()).hexdigest()[:8]}"
    if loc.engine == "sqlite":
        assert loc.path is not None
        path = (loc.path.parent / "raters" / slug / "state.db" if loc.path.name == "state.db"
                else loc.path.with_name(f"{loc.path.stem}.rater-{slug}{loc.path.suffix}"))
        return replace(loc, path=path, shown=str(path))
    return replace(loc, workspace=f"{loc.workspace} rater {name}")


def rater_store(cfg: Config, name: str, *, create: bool) -> Store | None:
    loc = rater_location(cfg, name)
    if loc.engine == "sqlite" and create:
        assert loc.path is not None
        loc.path.parent.mkdir(parents=True, exist_ok=True)
    return open_location(loc, create=create)


def rater_config(cfg: Config, locator: str) -> Config:
    """The workspace's config pointed at the rater's workbook (same columns, labels and tab names)."""
    return replace(cfg, spreadsheet=locator)


def default_workbook(cfg: Config, store: Store, name: str) -> str:
    """``[review] rater_spreadsheet``, else beside the principal's: ``labels.xlsx`` → ``labels.NAME.xlsx``;
    on Google a spreadsheet titled for the rater (found, or created like the principal's)."""
    if cfg.review.rater_spreadsheet:
        return cfg.review.rater_spreadsheet
    principal = store.get_meta(SPREADSHEET_KEY) or cfg.spreadsheet
    if principal and is_local(principal):
        path = Path(principal)
        return str(path.with_name(f"{path.stem}.{name}{path.suffix}"))
    return f"sheetsync second rater: {name}"


@dataclass
class RaterPush:
    name: str
    result: Any  # the rater workbook's PushResult


def push_rater(cfg: Config, data: str | Path, *, rater: str, spreadsheet: str | None = None,
               **options: Any) -> RaterPush:
    """Push the rows the principal expert has in Annotate (those of ``data``) to the rater's own workbook.
    ``options`` are push's (share, sample, stratify_by, seed)."""
    from sheetsync.push import push

    name = check_name(rater)
    principal = open_store(cfg)
    shown = set(principal.shown())
    if not shown:
        raise UserInputError("the principal expert has no rows yet: run `sheetsync push DATA` first, then push "
                             f"the same rows to {name} with `--rater {name}`.")
    raters = registered(principal)
    locator = spreadsheet or raters.get(name) or default_workbook(cfg, principal, name)
    mine = principal.get_meta(SPREADSHEET_KEY) or ""
    if _same_workbook(cfg, locator, mine):
        raise UserInputError(f"{locator} is the principal expert's workbook: {name} would see their labels on its "
                             "Annotate tab. Give the second rater a workbook of their own (--spreadsheet, or "
                             "[review] rater_spreadsheet); nothing was written.")
    sub = rater_store(cfg, name, create=True)
    assert sub is not None
    result = push(rater_config(cfg, locator), data, spreadsheet=locator, store=sub, only_ids=shown, **options)
    if _same_workbook(cfg, result.locator, mine):  # a title that resolved to the principal's spreadsheet
        raise UserInputError(f"{locator} is the principal expert's spreadsheet; give {name} another one.")
    principal.set_meta(RATERS_KEY, json.dumps({**raters, name: result.locator}))
    return RaterPush(name, result)


def push_with_rater(cfg: Config, data: str | Path, **options: Any) -> tuple[Any, RaterPush | None]:
    """``sheetsync push``: the expert's workbook, then — when ``[review] rater`` names a second rater — theirs,
    with every row the expert now has (the options are the expert's push's)."""
    from sheetsync.push import push

    result = push(cfg, data, **options)
    if not cfg.review.rater:
        return result, None
    return result, push_rater(cfg, data, rater=cfg.review.rater)


def _same_workbook(cfg: Config, a: str, b: str) -> bool:
    if not a or not b:
        return False
    if is_local(a) and is_local(b):
        return cfg.path(a).resolve() == cfg.path(b).resolve()
    return a.strip() == b.strip()


@dataclass
class RaterSummary:
    """A rater's pull, and how they agree with the principal expert on the rows both labelled."""

    name: str
    pulled: dict[str, Any]
    agreement: dict[str, Any] = field(default_factory=dict)
    disagreements: list[str] = field(default_factory=list)


def rater_labels(cfg: Config, name: str) -> dict[str, Label]:
    """The rater's fresh labels (those given for the rows as they are now)."""
    sub = rater_store(cfg, name, create=False)
    if sub is None:
        return {}
    try:
        return sub.fresh_labels()[0]
    finally:
        sub.close()


def agreement_with(principal: dict[str, Label], rater: dict[str, Label]) -> tuple[RaterAgreement, list[str]]:
    """κ and the rest on the rows both labelled (as the rows are now), and the ids where they differ."""
    from sheetsync.metrics import rater_agreement  # pandas, for the metrics package: only with a rater

    ids = sorted(set(principal) & set(rater))
    a = rater_agreement([principal[i].verdict for i in ids], [rater[i].verdict for i in ids])
    return a, [i for i in ids if principal[i].verdict != rater[i].verdict]


def pull_raters(cfg: Config, store: Store) -> tuple[list[dict[str, Any]], list[str]]:
    """Pull every registered rater's workbook and measure their agreement with the principal's labels.
    A rater's workbook that cannot be read is a warning (the principal's pull stands), with nothing of
    theirs stored."""
    from sheetsync.pull import pull

    out, problems = [], []
    fresh = store.fresh_labels()[0]
    for name, locator in registered(store).items():
        sub = rater_store(cfg, name, create=True)
        assert sub is not None
        try:
            summary = pull(rater_config(cfg, locator), spreadsheet=locator, store=sub, with_review=False)
            theirs = sub.fresh_labels()[0]
        except UserInputError as exc:
            problems.append(f"{name}'s workbook was not pulled: {exc}")
            continue
        finally:
            sub.close()
        a, differ = agreement_with(fresh, theirs)
        out.append(asdict(RaterSummary(name, {"rows": summary.rows, "labelled": summary.labelled,
                                              "url": summary.url, "warnings": summary.warnings},
                                       a.to_dict(), differ)))
    return out, problems
