"""What ``push`` and ``pull`` print for people (``--json`` prints their results whole instead): kept beside
``sheetsync.cli`` so the command module stays one screenful per command."""

from __future__ import annotations

from typing import Any

import click

from sheetsync.cli import print_json, warn


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
