"""What ``push``, ``pull``, ``judge`` and ``compare`` print for people (``--json`` prints their results whole instead): kept beside
``sheetsync.cli`` so the command module stays one screenful per command."""

from __future__ import annotations

import sys
from typing import Any

import click

from sheetsync.cli_base import cost_text, fail_run, levels_text, print_json, warn, warned_or_json
from sheetsync.redact import redact


def print_push(result: Any, json_: bool, whose: str) -> None:
    """A push's result (``whose``: "" for the expert's workbook, else whose it is)."""
    for message in result.warnings:
        warn(message)
    if result.truncated:
        warn(f"{len(result.truncated)} cell(s) were too long for the sheet and were cut (full text kept locally): "
             + "; ".join(result.truncated[:5]))
    if json_:
        print_json(result.to_dict())
        return
    click.echo(f"Pushed to {result.url}" + (f" ({whose})" if whose else ""))
    click.echo(f"  {len(result.added)} new, {result.updated} updated, {len(result.stale)} stale, "
               f"{len(result.removed)} no longer in the dataset (kept)")
    if result.stale:
        click.echo("  stale (changed after labelling, marked for the expert): " + ", ".join(result.stale[:20]))
    if result.rechecked:
        click.echo("  re-checked by the expert (stale flag cleared): " + ", ".join(result.rechecked[:20]))
    if result.focus:
        click.echo(f"  review batch: {result.focus['flagged']} flagged by the judge, {result.focus['random']} random")
    if result.shared_with:
        click.echo("  shared with " + ", ".join(result.shared_with))


def print_pull(s: Any, json_: bool) -> None:
    """A pull's validation summary, what it found on the Review and Calibration tabs, and each second rater."""
    if json_:
        print_json(s.to_dict())
        return
    click.echo(f"Pulled {s.rows} rows from {s.url} (pull #{s.pull_id})")
    click.echo(f"  labelled {s.labelled} ({s.passes} pass, {s.fails} fail), unlabelled {s.unlabelled}")
    checks = [
        ("fails without a critique", s.fails_without_critique),
        ("critiques too terse to teach a judge", s.terse_critiques),
        ("verdicts that are not Pass/Fail (not counted)", s.unknown_verdicts),
        ("verdicts changed since the previous pull", s.changed_since_last_pull),
        ("stale rows (changed after labelling)", s.stale),
        ("labelled rows without an id (not stored)", s.labels_without_id),
    ]
    for title, items in checks:
        if items:
            click.echo(f"  {len(items)} {title}: " + ", ".join(items[:10]) + (" …" if len(items) > 10 else ""))
    for cause, ids in s.unknown_root_causes.items():
        click.echo(f"  new root cause {cause!r} on {len(ids)} row(s) (add it to [labels] root_causes?)")
    t = s.taxonomy
    if t.get("read"):
        click.echo(f"  root-cause proposals: {t['decided']} decided, {t['pending']} pending"
                   + (f"; added {', '.join(t['added'])}" if t["added"] else "")
                   + (f"; removed {', '.join(t['removed'])}" if t["removed"] else ""))
        for problem in t["problems"]:
            click.echo(f"  decision not applied: {problem}")
    _print_review(s.review)
    for r in s.raters:
        a = r["agreement"]
        kappa = "n/a" if a["kappa"] is None else f"{a['kappa']:.2f}" + (
            f" [{a['kappa_ci'][0]:.2f}, {a['kappa_ci'][1]:.2f}]" if a["kappa_ci"] else "")
        raw = "n/a" if a["agreement"] is None else f"{a['agreement']:.0%}"
        click.echo(f"  second rater {r['name']}: {r['pulled']['labelled']} labelled; with the expert on {a['n']} rows: "
                   f"κ {kappa}, agreement {raw}, {len(r['disagreements'])} disagreement(s) (Calibration tab "
                   "after `sheetsync report`)")
    if s.exported_to:
        click.echo(f"  exported to {s.exported_to}")
    for message in s.warnings:
        warn(message)


def _print_review(review: dict) -> None:
    """What pull found on the Review and Calibration tabs, and the label revisions."""
    if not review:
        return
    for tab, n in review["answers"].items():
        if n:
            click.echo(f"  {n} new or changed answer(s) on the {tab} tab")
    lists = [("label revisions recorded", review["revisions"]),
             ("answers that say the other side is right, label unchanged", review["relabel_reminders"]),
             ("open criteria questions", review["open_questions"]),
             ("questions settled", review["settled_questions"]),
             ("answers in rows without an id (not stored)", review["answers_without_id"])]
    for title, items in lists:
        if items:
            click.echo(f"  {len(items)} {title}:")
            for item in items[:10]:
                click.echo(f"    {item}")


def print_judge(out: Any, split: str, json_: bool) -> None:
    """A judge run's outcome: what it cost, its agreement with the expert, its consistency, the tabs it wrote."""
    if warned_or_json(out, json_):
        return
    cost = cost_text(out.estimated_cost)
    if out.dry_run:
        click.echo(f"Dry run on {split}: {out.n_rows} rows, {out.calls_needed} calls needed "
                   f"({out.n_rows - out.calls_needed} cached), ~{out.estimated_prompt_tokens:,} prompt tokens, "
                   f"estimated cost {cost}; {out.n_examples} few-shot examples; template {out.template_hash}")
        click.echo(f"  tokens: {out.token_method}")
        return
    who = f" (judge “{out.judge}”{', a code assertion' if out.kind == 'code' else ''})" if out.judge else ""
    click.echo(f"Judged {out.n_rows} {split} rows with {out.model}{who}: {out.calls_made} calls, {out.cache_hits} cached, "
               f"{len(out.errors)} errors, {out.prompt_tokens + out.completion_tokens:,} tokens "
               f"({out.cached_tokens:,} prompt tokens cached by the server), cost {cost}, {out.wall_time:.1f}s "
               f"(run {out.run_id})")
    if out.format_level:
        click.echo(f"  {levels_text(out.format_level, out.levels)}")
    if out.embeddings:
        e = out.embeddings
        click.echo(f"  few-shot examples chosen per row: {e['texts']} texts embedded with {e['model']} "
                   f"({e['cached']} cached, {e['requests']} request(s))")
    for note in out.notes[:10]:
        click.echo(f"  note: {note}")
    for err in out.errors[:10]:
        click.echo(redact(f"  error (not counted as pass or fail): {err}"), err=True)
    a = out.agreement
    if a:
        def fmt(key: str) -> str:
            value, ci = a.get(key), a.get(f"{key}_ci")
            if value is None:
                return "n/a"
            return f"{value:.2f}" + (f" [{ci[0]:.2f}, {ci[1]:.2f}]" if ci else "")

        click.echo(f"  TPR (pass recall) {fmt('tpr')}   TNR (fail recall) {fmt('tnr')}   "
                   f"n={a['n']} (tp {a['tp']}, fn {a['fn']}, fp {a['fp']}, tn {a['tn']}; {a['n_excluded']} excluded)")
    c = out.consistency
    if c and c["n_rows"]:
        click.echo(f"  re-asked {c['repeat']} times: {c['n_flipped']} of {c['n_rows']} rows flip "
                   f"({c['flip_rate']:.1%}); two asks of a row disagree {c['disagreement_rate']:.1%} of the time")
    if out.judge_tab:
        click.echo(f"  wrote {out.judge_tab}")
    for tab, n in out.answer_tabs.items():
        click.echo(f"  {tab} tab: {n} row(s) for the expert to answer (or already answered)")
    fail_run(out.failure, out.errors_by_cause)


def print_compare_runs(rr: dict, json_: bool, fail_if_worse: bool) -> None:
    """Two judge runs compared on the labelled rows both judged."""
    for message in rr["warnings"]:
        warn(message)
    if json_:
        print_json(rr)
    else:
        for key, name in (("tpr", "TPR"), ("tnr", "TNR")):
            d = rr[key]
            if d["difference"] is None:
                click.echo(f"{name}: no labelled rows of that kind judged by both runs")
                continue
            click.echo(f"{name} {d['rate_a']:.1%} → {d['rate_b']:.1%}: {d['difference']:+.1%} (95% interval "
                       f"{d['ci'][0]:+.1%} to {d['ci'][1]:+.1%}) on {d['n']} rows; McNemar p = "
                       f"{d['mcnemar']['p_value']:.3g}")
    if fail_if_worse and rr["worse"]:
        click.echo("FAIL: run B is worse than run A (TPR or TNR fell beyond doubt).", err=True)
        sys.exit(1)


def print_compare(r: Any, json_: bool, fail_if_worse: bool) -> None:
    """Two versions of the AI system compared through the validated judge."""
    for message in r.warnings:
        warn(message)
    if json_:
        print_json(r.to_dict())
    else:
        o = r.overall
        click.echo(f"B − A in corrected pass rate: {o['difference']:+.1%} (95% interval {o['ci'][0]:+.1%} to "
                   f"{o['ci'][1]:+.1%}) on {r.n_paired} paired inputs; judge pass rate {o['p_a']:.1%} → {o['p_b']:.1%} "
                   f"(TPR {r.tpr:.1%}, TNR {r.tnr:.1%} on {r.basis}); McNemar p = {o['mcnemar']['p_value']:.3g}")
        for d, cells in r.by_dimension.items():
            for c in cells:
                click.echo(f"  {d}={c['value']}: {c['difference']:+.1%} ({c['ci'][0]:+.1%} to {c['ci'][1]:+.1%}), "
                           f"n={c['n']}")
    if fail_if_worse and r.worse:
        click.echo("FAIL: B is worse than A (the interval of B − A is below 0).", err=True)
        sys.exit(1)
