"""Step 0's commands, which make the dataset before the expert sees it: ``generate`` (synthetic inputs),
``respond`` (your AI's outputs) and ``import`` (traces from where a team keeps them). Registered on the
``sheetsync`` group by ``sheetsync.cli``; imports only Click up front."""

from __future__ import annotations

import click

from sheetsync.cli_base import (
    GreedyCommand,
    config_option,
    cost_text,
    fail_run,
    levels_text,
    print_json,
    warn,
    warned_or_json,
)
from sheetsync.redact import redact


@click.command()
@click.option("dims_path", "--dimensions", "-d", required=True, type=click.Path(dir_okay=False),
              help="Dimensions file (.toml, or .yaml with PyYAML): `sheetsync init` writes an example.")
@click.option("--per-tuple", "-k", default=3, show_default=True, type=click.IntRange(1),
              help="User inputs to ask for per combination of dimension values.")
@click.option("--tuples", default="all", show_default=True, metavar="all|N",
              help="Every combination, or N sampled to cover every value (N >= the largest dimension).")
@click.option("--model", "-m", help="Model (default: [judge] model).")
@click.option("--out", default="inputs.csv", show_default=True, type=click.Path(dir_okay=False),
              help="CSV to write: id, one column per dimension, input.")
@click.option("--dry-run", is_flag=True, help="Count calls, tokens and cost; call nothing.")
@click.option("--seed", type=int, default=0, show_default=True,
              help="Picks the sampled tuples and seeds the model: a new seed gives fresh inputs.")
@click.option("json_", "--json", is_flag=True, help="Print the outcome as JSON.")
@config_option
def generate(cfg, dims_path, per_tuple, tuples, model, out, dry_run, seed, json_) -> None:
    """Write realistic synthetic user inputs covering every dimension value (the AI's responses come later,
    from `sheetsync respond`)."""
    from sheetsync.generate import generate as do_generate

    r = do_generate(cfg, dims_path, per_tuple=per_tuple, tuples=tuples, model=model, out=out, dry_run=dry_run,
                    seed=seed, progress=not json_)
    if warned_or_json(r, json_):
        return
    cost = cost_text(r.estimated_cost)
    if r.dry_run:
        click.echo(f"Dry run: {r.n_tuples} tuples x {r.per_tuple} inputs with {r.model}: {r.calls_needed} calls "
                   f"needed ({r.n_tuples - r.calls_needed} cached), ~{r.estimated_prompt_tokens:,} prompt + "
                   f"~{r.estimated_completion_tokens:,} completion tokens, estimated cost {cost}")
        click.echo(f"  tokens: {r.token_method}")
        return
    if r.rows:
        click.echo(f"Wrote {r.rows} inputs to {r.out} ({r.n_tuples} tuples x up to {r.per_tuple}; "
                   f"{r.duplicates_dropped} duplicates dropped: {r.exact_duplicates} exact, {r.near_duplicates} near)")
    click.echo(f"  {r.calls_made} calls, {r.cache_hits} cached, {len(r.errors)} failed tuples, "
               f"{r.prompt_tokens + r.completion_tokens:,} tokens ({r.cached_tokens:,} cached), cost {cost}, "
               f"{r.wall_time:.1f}s; {levels_text(r.format_level, {})}")
    for err in r.errors[:10]:
        click.echo(redact(f"  failed tuple (re-run to retry): {err}"), err=True)
    for dim, values in r.uncovered.items():
        warn(f"no input for {dim} = {', '.join(values)}")
    fail_run(r.failure, r.errors_by_cause)


@click.command()
@click.argument("inputs", type=click.Path(dir_okay=False))
@click.option("--out", "-o", required=True, type=click.Path(dir_okay=False),
              help="Traces to write (.csv or .jsonl): the inputs' columns + output, latency_s, error.")
@click.option("--call", metavar="MODULE:FUNCTION", help="A Python function taking (input) or (input, row); sync or async.")
@click.option("--command", metavar='"CMD"', help="A program reading the input on stdin, writing the output on stdout.")
@click.option("--endpoint", metavar="URL", help="An OpenAI-compatible chat endpoint (base URL, e.g. http://localhost:8000/v1).")
@click.option("--model", "-m", help="Model name for --endpoint.")
@click.option("--system-prompt", type=click.Path(dir_okay=False), help="System prompt file for --endpoint.")
@click.option("--concurrency", default=8, show_default=True, type=click.IntRange(1, 256), help="Rows in flight at once.")
@click.option("--timeout", default=60.0, show_default=True, type=click.FloatRange(min=0, min_open=True),
              help="Seconds per row before it is recorded as an error.")
@click.option("json_", "--json", is_flag=True, help="Print the outcome as JSON.")
@config_option
def respond(cfg, inputs, out, call, command, endpoint, model, system_prompt, concurrency, timeout, json_) -> None:
    """Run your AI system on every row of INPUTS and record output, latency and error per row.

    Re-running with the same --out calls only the rows that are missing or failed (Ctrl-C is safe)."""
    from sheetsync.respond import respond as do_respond

    r = do_respond(cfg, inputs, out=out, call=call, command=command, endpoint=endpoint, model=model,
                   system_prompt=system_prompt, concurrency=concurrency, timeout=timeout, progress=not json_)
    for message in r.warnings:
        warn(message)
    if json_:
        print_json(r.to_dict())
        return
    click.echo(f"Wrote {r.n_rows} rows to {r.out} ({r.system}): {r.called} called, {r.reused} kept from the "
               f"previous run, {len(r.errors)} errors, {r.wall_time:.1f}s")
    if r.generated_ids:
        click.echo(f"  no `{r.id_column}` column in {inputs}: added stable content ids")
    for err in r.errors[:10]:
        click.echo(redact(f"  error: {err}"), err=True)
    if r.errors:
        click.echo("  re-run the same command to retry only the failed rows", err=True)


class _ImportCommand(GreedyCommand):
    greedy = ("--stratify-by", "--dimensions")


@click.command("import", cls=_ImportCommand)
@click.argument("fmt", metavar="FORMAT", type=click.Choice(["openai", "otel", "langsmith", "langfuse", "mapping"]))
@click.argument("export", type=click.Path(dir_okay=False))
@click.option("--out", "-o", required=True, type=click.Path(dir_okay=False),
              help="The dataset to write (.jsonl, .csv or .json), for `sheetsync push`.")
@click.option("--sample", type=int, help="Keep only N interactions, drawn while the export streams by.")
@click.option("--stratify-by", multiple=True, metavar="COLUMN...",
              help="With --sample: cover every combination of these imported dimensions first.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed for --sample.")
@click.option("--dimensions", multiple=True, metavar="KEY...",
              help="Metadata keys to lift into dimension columns (e.g. feature persona).")
@click.option("--link", metavar="TEMPLATE", default="",
              help="Link to each trace, {id} standing for its id (default: the export's own link, if any).")
@click.option("--host", metavar="URL", default="",
              help="LangSmith/Langfuse host the export's links are relative to (default: their cloud).")
@click.option("json_", "--json", is_flag=True, help="Print the result as JSON.")
@config_option
def import_(cfg, fmt, export, out, sample, stratify_by, seed, dimensions, link, host, json_) -> None:
    """Turn a trace export (OpenAI logs, OTLP GenAI spans, LangSmith runs, Langfuse traces) into a dataset."""
    from sheetsync.importers import import_traces

    r = import_traces(cfg, fmt, export, out, sample=sample, stratify_by=stratify_by, seed=seed,
                      dimensions=dimensions, link=link, host=host)
    for w in r.warnings:
        warn(w)
    if json_:
        print_json(r.to_dict())
        return
    click.echo(r.summary(export, cfg.columns))
    click.echo(f"Next: sheetsync push {r.out}")
