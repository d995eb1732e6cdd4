"""The commands of the method's step 6 (``triage``, ``classify``): each calls one library function and prints
what it returned. Registered on the ``sheetsync`` group by ``sheetsync.cli``; imports only Click up front."""

from __future__ import annotations

import click

from sheetsync.cli_base import (
    config_option,
    cost_text,
    fail_run,
    print_json,
    spreadsheet_option,
    warn,
    warned_or_json,
)
from sheetsync.redact import redact


@click.command()
@click.option("--model", "-m", help="Model (default: [triage] model, else [judge] model).")
@click.option("--max-categories", type=click.IntRange(2, 30), help="At most this many categories (default 8).")
@click.option("--dry-run", is_flag=True, help="Count the call, its tokens and cost; call nothing.")
@spreadsheet_option
@click.option("json_", "--json", is_flag=True, help="Print the outcome as JSON.")
@config_option
def triage(cfg, model, max_categories, dry_run, spreadsheet, json_) -> None:
    """Propose root-cause categories from the expert's train + dev fail critiques (never test), for the
    expert to accept, rename, merge or reject in the Root-cause proposals tab; `pull` applies the decisions."""
    from sheetsync.triage.propose import triage as do_triage

    out = do_triage(cfg, model=model, max_categories=max_categories, dry_run=dry_run, spreadsheet=spreadsheet,
                    progress=not json_)
    for message in out.warnings:
        warn(message)
    if json_:
        print_json(out.to_dict())
    elif out.dry_run:
        click.echo(f"Dry run: {out.n_sent} critiques in 1 call ({out.calls_needed} needed, {1 - out.calls_needed} "
                   f"cached), ~{out.estimated_prompt_tokens:,} prompt tokens, estimated cost "
                   f"{cost_text(out.estimated_cost)}")
        click.echo(f"  tokens: {out.token_method}")
    elif not out.error:
        click.echo(f"Proposed {len(out.proposals)} root causes from {out.n_sent} fail critiques with {out.model}: "
                   f"{out.calls_made} call, {out.cache_hits} cached, cost {cost_text(out.estimated_cost)}")
        for p in out.proposals:
            click.echo(f"  {p.proposal_id}  {p.name} ({len(p.critique_ids)}): {p.definition}")
        if out.tab:
            click.echo(f"  wrote {out.tab}: decide in the Decision column, then `sheetsync pull`")
    if out.error:
        click.echo(redact(f"Error: {out.error}"), err=True)
        raise SystemExit(1)


@click.command()
@click.option("--model", "-m", help="Model (default: [triage] model, else [judge] model).")
@click.option("--concurrency", type=click.IntRange(1, 256), help="Calls in flight at once (default 8).")
@click.option("--limit", type=click.IntRange(0), help="Classify at most N rows.")
@click.option("--dry-run", is_flag=True, help="Count calls, tokens and cost; call nothing.")
@click.option("--batch", is_flag=True, help="Use OpenAI's Batch API (half price, up to 24 h).")
@click.option("--resume-batch", metavar="ID", help="Collect an interrupted --batch run's batch instead of paying again.")
@click.option("--poll-interval", type=click.FloatRange(0), default=30.0, show_default=True, metavar="S",
              help="With --batch: seconds between status checks.")
@click.option("json_", "--json", is_flag=True, help="Print the outcome as JSON.")
@config_option
def classify(cfg, model, concurrency, limit, dry_run, batch, resume_batch, poll_interval, json_) -> None:
    """Give the judge's failures on unlabelled rows root causes from the accepted taxonomy, and measure the
    classifier on the expert's own root causes of labelled fails it never saw (precision, recall)."""
    from sheetsync.triage.classify import classify as do_classify

    out = do_classify(cfg, model=model, concurrency=concurrency, limit=limit, dry_run=dry_run, batch=batch,
                      resume_batch=resume_batch, poll_interval=poll_interval, progress=not json_)
    if warned_or_json(out, json_):
        return
    if out.dry_run:
        click.echo(f"Dry run: {out.n_unlabelled} judge-failed unlabelled rows + {out.n_measured} labelled fails to "
                   f"measure on; {out.calls_needed} calls needed, ~{out.estimated_prompt_tokens:,} prompt tokens, "
                   f"estimated cost {cost_text(out.estimated_cost)}")
        click.echo(f"  tokens: {out.token_method}")
        return
    click.echo(f"Classified {out.n_unlabelled} judge-failed unlabelled rows and {out.n_measured} labelled fails into "
               f"{len(out.taxonomy)} root causes with {out.model}: {out.calls_made} calls, {out.cache_hits} cached, "
               f"{len(out.errors)} errors, cost {cost_text(out.estimated_cost)} (run {out.run_id})")
    for err in out.errors[:10]:
        click.echo(redact(f"  error: {err}"), err=True)
    m = out.measurement
    if m:
        click.echo(f"  measured on {m['n_measured']} expert fails it never saw (dev + test):")
        for r in m["per_cause"]:
            if not r["support"] and not r["predicted"]:
                continue
            click.echo(f"    {r['label']}: precision {_pct(r['precision'], r['precision_low'], r['precision_high'])}"
                       f", recall {_pct(r['recall'], r['recall_low'], r['recall_high'])}, n={r['support']} "
                       f"— {r['status']}")
    fail_run(out.failure, out.errors_by_cause)


def _pct(x: float | None, low: float | None, high: float | None) -> str:
    if x is None:
        return "n/a"
    return f"{x:.0%}" + (f" [{low:.0%}, {high:.0%}]" if low is not None and high is not None else "")


def compare_examples(cfg, *, json_: bool, **kw) -> None:
    """``judge --examples compare``: both example modes on the same rows, side by side."""
    from sheetsync.judge.compare import compare_examples as do_compare

    out = do_compare(cfg, progress=not json_, **kw)
    for message in [*out.fixed.warnings, *out.similar.warnings]:
        warn(message)
    if json_:
        print_json(out.to_dict())
        return
    for name, o in (("fixed", out.fixed), ("similar", out.similar)):
        if o.dry_run:
            click.echo(f"Dry run, {name} examples: {o.calls_needed} calls needed, ~{o.estimated_prompt_tokens:,} prompt "
                       f"tokens, estimated cost {cost_text(o.estimated_cost)}")
            continue
        a = o.agreement or {}
        emb = f", {o.embeddings['requests']} embedding request(s)" if o.embeddings else ""
        click.echo(f"{name:>7} examples: TPR {_rate(a.get('tpr'))}, TNR {_rate(a.get('tnr'))}, n={a.get('n', 0)} "
                   f"({o.calls_made} calls, {o.cache_hits} cached{emb}; run {o.run_id})")
    p = out.paired
    if p:
        click.echo(f"  on the same {p['n']} {out.split} rows: both right {p['both_right']}, only fixed right "
                   f"{p['only_fixed_right']}, only similar right {p['only_similar_right']}, both wrong "
                   f"{p['both_wrong']}; McNemar exact p = {p['mcnemar_p']:.3g}")


def _rate(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.2f}"
