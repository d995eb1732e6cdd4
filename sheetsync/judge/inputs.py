"""The inputs of a judge run: the pushed rows with each label read as this judge's ground truth, the few-shot
prompt built from the train rows, the rows a split scores, and what the engineer should know about them
(stale labels, too few examples, a split with nothing to judge).

Few-shot examples come only from train, which is never scored; the expert's resolutions that teach the judge
(``[review] guidance``) put their rows in train too.
"""

from __future__ import annotations

import json
import math
import secrets
from dataclasses import dataclass, field

from sheetsync.config import Config
from sheetsync.errors import UserInputError
from sheetsync.judge.prompt import Item, JudgePrompt, build_examples
from sheetsync.judge.specs import FAILURE_MODE_TEMPLATE, JudgeSpec
from sheetsync.judge.splits import split_of
from sheetsync.metrics import split_root_causes
from sheetsync.review.guidance import Guidance, guidance_rows
from sheetsync.store import Store
from sheetsync.taxonomy import load_taxonomy
from sheetsync.workspace import existing_store, template_text

CHOICES = ("dev", "test", "unlabeled", "all")
SALT_KEY = "marker_salt"


@dataclass
class _Workspace:
    items: dict[str, Item]  # every pushed row still in the dataset, with its ground truth for this judge (if any)
    splits: dict[str, str]  # labelled id -> split (a labelled row may have no ground truth for a specialized judge)
    stale: list[str]
    guidance: list[Guidance] = field(default_factory=list)  # resolutions that teach (their rows count as train)


def _require_store(cfg: Config, what: str) -> Store:
    store = existing_store(cfg)
    if store is None:
        raise UserInputError(f"{what}: no rows in the local store. Run `sheetsync push DATA` first.")
    return store


def _load(cfg: Config, store: Store, spec: JudgeSpec | None = None) -> _Workspace:
    """The rows with their fresh labels, each label read as ``spec``'s ground truth (the expert's verdict for
    the judge; for a specialized judge, fail only for its root cause)."""
    spec = spec or JudgeSpec()
    tax = load_taxonomy(cfg, store) if spec.name else None
    rows = store.rows()
    if not rows:
        raise UserInputError("nothing to judge: no rows in the local store. Run `sheetsync push DATA` first.")
    layout = json.loads(store.get_meta("annotate_layout") or "{}")
    context_cols = layout.get("context", [])
    labels, stale = store.fresh_labels()
    items: dict[str, Item] = {}
    splits: dict[str, str] = {}
    for rid, row in rows.items():
        if not row["in_dataset"]:
            continue
        label = labels.get(rid)
        verdict = critique = ""
        if label is not None:
            verdict, critique = label.verdict or "", label.critique
            if tax is not None:
                verdict = spec.truth(verdict, tuple(split_root_causes(label.root_cause)), tax)
            splits[rid] = split_of(rid, cfg.judge.train, cfg.judge.dev)
        context = {c: row["fields"].get(c, "") for c in context_cols}
        items[rid] = Item(rid, row["input"], row["output"], context, verdict, critique)
    # the expert's resolutions guide the judge itself; a specialized judge has its own criterion and ground truth
    taught = guidance_rows(cfg, store, labels, context_cols) if not spec.name else {}
    for rid in taught:
        if rid in splits:
            splits[rid] = "train"  # in the prompt as guidance: never scored again
    return _Workspace(items, splits, stale, list(taught.values()))


def _prompt(cfg: Config, store: Store, ws: _Workspace, prompt_file: str | None,
            spec: JudgeSpec | None = None) -> JudgePrompt:
    spec = spec or JudgeSpec(prompt=cfg.judge.prompt, criterion=cfg.labels.criteria)
    if spec.name and not (prompt_file or spec.prompt):  # a specialized judge's built-in template
        text, path = template_text(FAILURE_MODE_TEMPLATE), f"built-in {FAILURE_MODE_TEMPLATE}"
        return _make_prompt(cfg, store, ws, text, path, spec)
    path = cfg.path(prompt_file or spec.prompt)
    if spec.name and not path.is_file():
        raise UserInputError(f"{path}: the prompt of [judges.{spec.name}] is missing (--prompt, or prompt in the "
                             "table). Set prompt = \"\" for the built-in failure-mode template.")
    if not path.is_file():
        if prompt_file:
            raise UserInputError(f"{path}: prompt file not found (--prompt).")
        raise UserInputError(
            f"{path}: the judge prompt ([judge] prompt in {cfg.source or 'the config'}) is missing. Run "
            "`sheetsync init` to write the default one (it never overwrites your files), or point [judge] prompt "
            "at your template."
        )
    return _make_prompt(cfg, store, ws, path.read_text(encoding="utf-8"), str(path), spec)


def _make_prompt(cfg: Config, store: Store, ws: _Workspace, text: str, source: str, spec: JudgeSpec) -> JudgePrompt:
    salt = store.get_meta(SALT_KEY) or store.meta_default(SALT_KEY, secrets.token_hex(16))  # one salt for all
    train = [it for rid, it in ws.items.items() if ws.splits.get(rid) == "train"]
    examples = build_examples(train, max_examples=cfg.judge.max_examples, max_chars=cfg.judge.max_example_chars)
    return JudgePrompt(text, criteria=spec.criterion, examples=examples, salt=salt, source=source,
                       guidance=ws.guidance)


MIN_EXAMPLES_PER_VERDICT = 2


def thin_examples(ws: _Workspace, examples: list[Item], train_share: float) -> str | None:
    """A warning when the few-shot examples cannot show the judge both verdicts (at least
    ``MIN_EXAMPLES_PER_VERDICT`` of each), naming how many labels would give enough; None when they can."""
    have = {v: sum(1 for e in examples if e.verdict == v) for v in ("pass", "fail")}
    if min(have.values()) >= MIN_EXAMPLES_PER_VERDICT:
        return None
    labelled = [it.verdict for rid, it in ws.items.items() if rid in ws.splits]
    n_train = sum(1 for v in ws.splits.values() if v == "train")
    head = (f"the judge is taught by {len(examples)} example(s) ({have['pass']} pass, {have['fail']} fail) from "
            f"{n_train} train label(s): too few to show it what both a pass and a fail look like.")
    missing = [v for v in ("pass", "fail") if v not in labelled]
    if missing:
        return f"{head} The expert has labelled no {missing[0]} yet: label some, then `sheetsync pull`."
    minority = min(labelled.count("pass"), labelled.count("fail")) / len(labelled)
    needed = math.ceil(MIN_EXAMPLES_PER_VERDICT / (max(train_share, 1e-9) * minority))
    return (f"{head} Train gets {train_share:.0%} of the labels (from each id's hash); with this pass/fail mix "
            f"about {needed} labels (you have {len(labelled)}) give at least {MIN_EXAMPLES_PER_VERDICT} of each "
            "verdict with a critique. Label more rows (or raise [judge] train), then `sheetsync pull`.")


def nothing_to_judge(split: str, ws: _Workspace, pulls: int) -> str:
    """Why ``split`` has no rows, and the command that changes that (a run of nothing is never recorded)."""
    if split == "unlabeled":
        return (f"nothing to judge in --split unlabeled: every one of the {len(ws.items)} rows in the dataset is "
                "labelled. Push more rows (`sheetsync push DATA`), or measure the judge with --split dev / test.")
    if not ws.splits:
        if not pulls:
            return (f"nothing labelled yet: {len(ws.items)} rows were pushed, but no labels have been pulled. When "
                    "the expert has labelled rows in the Annotate tab, run `sheetsync pull` first, then "
                    f"`sheetsync judge --split {split}`.")
        return (f"nothing labelled yet: the last pull found no labels among the {len(ws.items)} rows. Label rows "
                "in the Annotate tab (Pass/Fail, Critique), run `sheetsync pull` first, then judge again.")
    counts = {s: sum(1 for v in ws.splits.values() if v == s) for s in ("train", "dev", "test")}
    shown = ", ".join(f"{n} {s}" for s, n in counts.items())
    return (f"no labelled rows in the {split} split yet ({len(ws.splits)} labels: {shown}; the split of each row "
            "comes from its id). Label more rows in the Annotate tab, then run `sheetsync pull` first.")


def _targets(ws: _Workspace, split: str) -> list[str]:
    if split not in CHOICES:
        raise UserInputError(
            f"--split {split}: choose one of {', '.join(CHOICES)} (train rows are the judge's examples and are "
            "never scored)."
        )
    labelled = {"dev": ["dev"], "test": ["test"], "unlabeled": [], "all": ["dev", "test"]}[split]
    out = []
    for rid, it in ws.items.items():
        if (ws.splits.get(rid) in labelled and it.verdict) or (split in ("unlabeled", "all") and rid not in ws.splits):
            out.append(rid)
    return out


def _prompt_warnings(cfg: Config, ws: _Workspace, prompt: JudgePrompt) -> list[str]:
    """What the engineer should know about the labels and examples the prompt was built from."""
    out: list[str] = []
    if ws.stale:
        out.append(f"{len(ws.stale)} label(s) are stale (the row changed after labelling) and are "
                   "left out until the expert re-checks them.")
    thin = thin_examples(ws, prompt.examples, cfg.judge.train)
    if thin:
        out.append(thin)
    if ws.guidance and "guidance" not in prompt.template_text:
        out.append(
            f"[review] guidance is on and {len(ws.guidance)} resolution(s) qualify, but the judge prompt never uses "
            "`guidance`: add the guidance block of the default template (`sheetsync init` in an empty folder "
            "writes it). Those rows count as train all the same.")
    return out
