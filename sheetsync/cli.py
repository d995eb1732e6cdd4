"""The command line: each command parses its options, calls one library function and prints the result.

Output for people goes to stdout as short text; ``--json`` prints machine-readable JSON instead;
warnings, progress and errors go to stderr. Errors a user can fix exit with code 2 and no traceback.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import sys
from collections.abc import Callable
from typing import Any

import click

from sheetsync import __version__
from sheetsync.errors import SheetsyncError
from sheetsync.redact import install_log_redaction, redact


class Group(click.Group):
    """Turns a SheetsyncError (or a file the system refused) into its message on stderr and exit code 2,
    and Ctrl-C into exit code 130: never a traceback. SHEETSYNC_RAISE_ERRORS=1 shows the traceback."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except SheetsyncError as exc:
            if os.environ.get("SHEETSYNC_RAISE_ERRORS"):
                raise
            click.echo(redact(f"Error: {exc}"), err=True)
            ctx.exit(exc.exit_code)
        except KeyboardInterrupt:
            click.echo("Interrupted: everything finished so far is kept; run the command again to resume.", err=True)
            ctx.exit(130)
        except OSError as exc:  # a file or folder the user named: unreadable, unwritable, disk full
            if os.environ.get("SHEETSYNC_RAISE_ERRORS"):
                raise
            where = f"{exc.filename}: " if getattr(exc, "filename", None) else ""
            click.echo(redact(f"Error: {where}{exc.strerror or exc}"), err=True)
            ctx.exit(2)


class GreedyCommand(click.Command):
    """Lets ``--stratify-by feature persona`` name several columns after one flag (repeating the flag and
    commas work too): the words after the flag, up to the next option, are its values. Put DATA first."""

    greedy = ("--stratify-by",)

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        out: list[str] = []
        flag: str | None = None
        taken = 0
        for arg in args:
            name, eq, inline = arg.partition("=")
            if name in self.greedy:
                if flag is not None and taken == 0:
                    raise click.UsageError(f"{flag} needs at least one column name.", ctx)
                flag, taken = name, 0
                if not eq:
                    continue
                arg = inline
            elif arg.startswith("-") and flag is not None:
                if taken == 0:
                    raise click.UsageError(f"{flag} needs at least one column name.", ctx)
                flag = None
            if flag is not None:
                for part in (p.strip() for p in arg.split(",")):
                    if part:
                        out += [flag, part]
                        taken += 1
                continue
            out.append(arg)
        if flag is not None and taken == 0:
            raise click.UsageError(f"{flag} needs at least one column name.", ctx)
        return super().parse_args(ctx, out)


def config_option(fn: Callable) -> Callable:
    """``--config FILE``: the workspace config (default ./sheetsync.toml)."""

    @click.option("config_path", "--config", type=click.Path(dir_okay=False), help="Config file (default ./sheetsync.toml).")
    @functools.wraps(fn)
    def wrapper(*args: Any, config_path: str | None, **kwargs: Any) -> Any:
        from sheetsync.config import load_config

        return fn(*args, cfg=load_config(config_path), **kwargs)

    return wrapper


def _locator(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """A near-miss of a .xlsx path or a Sheets URL is refused while parsing, before anything runs."""
    from sheetsync.locator import check_locator

    try:
        return None if value is None else check_locator(value, "")
    except SheetsyncError as exc:
        raise click.BadParameter(str(exc), ctx, param) from exc


spreadsheet_option = click.option(
    "--spreadsheet", "-s", callback=_locator,
    help="Google Sheets URL, key or title, or a path ending in .xlsx (default: the workspace's).",
)


def warn(message: str) -> None:
    click.secho(redact(f"Warning: {message}"), err=True, fg="yellow")


def fail_run(failure: str | None, by_cause: dict[str, int]) -> None:
    """A run where every row, or too many, ended in error exits 1 with its errors by cause (after its output)."""
    if not failure:
        return
    from sheetsync.llm import CAUSES

    click.echo(redact(f"Error: {failure}"), err=True)
    for cause, n in sorted(by_cause.items(), key=lambda kv: -kv[1]):
        click.echo(f"  {n:>6}  {CAUSES.get(cause, cause)}", err=True)
    sys.exit(1)


def _levels(level: str, levels: dict[str, str]) -> str:
    if not level:
        return ""
    text = f"structured output: {level}"
    if levels:
        shown = ", ".join(f"{rid} ({lv})" for rid, lv in list(levels.items())[:5])
        text += f" ({len(levels)} row(s) at another level: {shown}{' …' if len(levels) > 5 else ''})"
    return text


class _Notices(logging.Handler):
    """Shows what the Google backend reports while a command runs (waiting for Google's per-minute quota,
    a share whose notification email failed) on stderr: INFO as is, warnings like ``warn``."""

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno >= logging.WARNING:
            warn(record.getMessage())
        else:
            click.echo(record.getMessage(), err=True)


def _show_google_notices() -> None:
    logger = logging.getLogger("sheetsync.google")
    if not any(isinstance(h, _Notices) for h in logger.handlers):
        logger.addHandler(_Notices())
        logger.setLevel(logging.INFO)
        logger.propagate = False


def _cost(usd: float | None) -> str:
    return f"${usd:.4f}" if usd is not None else "unknown (add the model to [prices])"


def print_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, ensure_ascii=False, default=str))


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="sheetsync")
def cli() -> None:
    """Critique shadowing for LLM judges, with a spreadsheet as the expert's workbench.

    \b
    The loop (`sheetsync demo` runs it on a bundled example, no account or key needed):
      sheetsync init                     # a workspace: sheetsync.toml, prompts/
      sheetsync generate -d dimensions.toml                 # optional: synthetic inputs
      sheetsync respond inputs.csv --call app:answer --out traces.csv
      sheetsync import langsmith runs.jsonl --out traces.jsonl   # or: your traces
      sheetsync push traces.csv          # the expert's Annotate tab (--sample N: a stratified sample)
      sheetsync pull                     # the expert's labels, validated and stored
      sheetsync judge --split dev        # the judge, taught by the expert's critiques: TPR/TNR
                                         # (edit prompts/judge.md and repeat until they stop improving)
      sheetsync judge --split test       # the final check, on labels never looked at
      sheetsync judge --split unlabeled  # the judge counts failures on everything else
      sheetsync report                   # agreement, corrected pass rate, root causes
      sheetsync triage                   # root-cause proposals the expert decides on
      sheetsync classify                 # root causes of the judge's failures, measured
      sheetsync judge --judge NAME       # a specialized judge per failure mode ([judges.NAME])
    """
    _show_google_notices()


@cli.command()
@click.argument("directory", default=".", type=click.Path(file_okay=False))
@click.option("--spreadsheet", "-s", default="", callback=_locator, help="Spreadsheet to put in sheetsync.toml.")
def init(directory: str, spreadsheet: str) -> None:
    """Create a workspace: sheetsync.toml, .env.example, prompts/, .gitignore entries."""
    from sheetsync.workspace import init_workspace

    written = init_workspace(directory, spreadsheet=spreadsheet)
    for path in written:
        click.echo(f"wrote {path}")
    if not written:
        click.echo("Nothing to do: the workspace is already set up.")
    where = "" if os.path.abspath(directory) == os.getcwd() else f"cd {directory} && "
    target = "" if spreadsheet else ' --spreadsheet labels.xlsx   # or a Google Sheets title or URL'
    click.echo("\nNext: name your dataset's columns in sheetsync.toml ([columns] input, output, context, "
               "dimensions), then push it for the expert:")
    click.echo(f"  {where}sheetsync push traces.csv{target}")


@cli.command()
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
    for message in r.warnings:
        warn(message)
    if json_:
        print_json(r.to_dict())
        fail_run(r.failure, r.errors_by_cause)
        return
    cost = _cost(r.estimated_cost)
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
               f"{r.wall_time:.1f}s; {_levels(r.format_level, {})}")
    for err in r.errors[:10]:
        click.echo(redact(f"  failed tuple (re-run to retry): {err}"), err=True)
    for dim, values in r.uncovered.items():
        warn(f"no input for {dim} = {', '.join(values)}")
    fail_run(r.failure, r.errors_by_cause)


@cli.command()
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


@cli.command("import", cls=_ImportCommand)
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


@cli.command(cls=GreedyCommand)
@click.argument("data", type=click.Path(dir_okay=False))
@spreadsheet_option
@click.option("--share", multiple=True, metavar="EMAIL", help="Give this person edit access (repeatable).")
@click.option("--sample", type=int, help="Send only N new rows (every --stratify-by combination first).")
@click.option("--stratify-by", multiple=True, metavar="COLUMN...",
              help="Dimension column(s) the sample must cover: --stratify-by feature persona.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed for --sample.")
@click.option("--focus", type=click.Choice(["fails", "uncertain"]),
              help="With --sample: over-sample rows the judge failed or disagreed with the expert on (fails), or "
                   "also rows whose verdict flips and rows from cells with too few labels (uncertain).")
@click.option("--random-share", type=click.FloatRange(0, 1), default=0.3, show_default=True,
              help="With --focus: the share of the batch still drawn at random.")
@click.option("--folder", metavar="URL",
              help="Drive folder (URL or id) to create a new spreadsheet in, e.g. on a shared drive so a service "
                   "account can create it (default: [google] folder).")
@click.option("--rater", metavar="NAME",
              help="Push to a second rater's own workbook instead (the rows the expert has; none of their labels).")
@click.option("json_", "--json", is_flag=True, help="Print the result as JSON.")
@config_option
def push(cfg, data, spreadsheet, share, sample, stratify_by, seed, focus, random_share, folder, rater, json_) -> None:
    """Build or update the expert's Annotate tab from DATA (CSV, TSV, JSONL, JSON, Parquet)."""
    from sheetsync.cli_print import print_push
    from sheetsync.raters import push_rater, push_with_rater

    if folder:
        from dataclasses import replace

        cfg = replace(cfg, google=replace(cfg.google, folder=folder))
    if rater is not None:
        if focus:
            raise click.UsageError("--focus picks the expert's next rows; a second rater gets the rows the expert has.")
        pushed = push_rater(cfg, data, rater=rater, spreadsheet=spreadsheet, share=share, sample=sample,
                            stratify_by=stratify_by, seed=seed)
        print_push(pushed.result, json_, f"{pushed.name}'s workbook")
        return
    result, pushed = push_with_rater(
        cfg, data, spreadsheet=spreadsheet, share=share, sample=sample, stratify_by=stratify_by, seed=seed,
        focus=focus, random_share=random_share,
    )
    if json_ and pushed is not None:
        print_json({**result.to_dict(), "rater": {"name": pushed.name, **pushed.result.to_dict()}})
        return
    print_push(result, json_, "")
    if pushed is not None:
        print_push(pushed.result, False, f"{pushed.name}'s workbook")


@cli.command()
@spreadsheet_option
@click.option("--out", type=click.Path(dir_okay=False), help="Also export the labels (.csv, .jsonl or .json).")
@click.option("json_", "--json", is_flag=True, help="Print the validation summary as JSON.")
@config_option
def pull(cfg, spreadsheet, out, json_) -> None:
    """Read the expert's labels back, validate them and store them locally."""
    from sheetsync.cli_print import print_pull
    from sheetsync.pull import pull as do_pull

    s = do_pull(cfg, spreadsheet=spreadsheet, out=out)
    print_pull(s, json_)


@cli.command()
@click.option("--split", default="dev", show_default=True, type=click.Choice(["dev", "test", "unlabeled", "all"]),
              help="Rows to judge: labelled dev or test rows, unlabelled rows, or all but train.")
@click.option("--model", "-m", help="Model (default: [judge] model).")
@click.option("--concurrency", type=click.IntRange(1, 256), help="Calls in flight at once (default 8).")
@click.option("--limit", type=click.IntRange(0), help="Judge at most N rows.")
@click.option("--prompt", "prompt_file", type=click.Path(dir_okay=False), help="Judge template (default prompts/judge.md).")
@click.option("--dry-run", is_flag=True, help="Render prompts, count calls and tokens; call nothing.")
@click.option("--show-prompt", metavar="ID", help="Print the exact messages for one row and exit.")
@click.option("--batch", is_flag=True,
              help="Use OpenAI's Batch API (half price, up to 24 h): meant for large --split unlabeled runs.")
@click.option("--resume-batch", metavar="ID",
              help="Collect an interrupted --batch run's batch (ids printed when it started) instead of paying again.")
@click.option("--poll-interval", type=click.FloatRange(0), default=30.0, show_default=True, metavar="S",
              help="With --batch: seconds between status checks.")
@click.option("judge_name", "--judge", metavar="NAME",
              help="Run the specialized judge [judges.NAME] (an LLM prompt or a code assertion) instead.")
@click.option("--examples", type=click.Choice(["fixed", "similar", "compare"]),
              help="Few-shot examples: the balanced fixed set, the train rows most similar to each row, or both "
                   "on the same rows side by side (default: [judge] examples).")
@click.option("--repeat", type=click.IntRange(1, 20), default=1, show_default=True, metavar="K",
              help="Ask about each row K times (few-shot examples reordered, sampling seeded): flip rates, and "
                   "flipped rows marked in the Judge tab. Re-asks are cached.")
@spreadsheet_option
@click.option("json_", "--json", is_flag=True, help="Print the outcome as JSON.")
@config_option
def judge(cfg, split, model, concurrency, limit, prompt_file, dry_run, show_prompt, batch, resume_batch,
          poll_interval, judge_name, examples, repeat, spreadsheet, json_) -> None:
    """Run the LLM judge (few-shot from the expert's train critiques) and report TPR/TNR."""
    from sheetsync import judge as j

    if show_prompt:
        messages = j.show_prompt(cfg, show_prompt, prompt_file=prompt_file, judge_name=judge_name)
        if json_:
            print_json(messages)
        else:
            for m in messages:
                click.echo(f"----- {m['role']} -----\n{m['content']}\n")
        return
    if examples == "compare":
        from sheetsync.cli_triage import compare_examples

        return compare_examples(cfg, split=split, model=model, concurrency=concurrency, limit=limit,
                                prompt_file=prompt_file, dry_run=dry_run, spreadsheet=spreadsheet, json_=json_,
                                judge_name=judge_name)
    out = j.judge(cfg, split=split, model=model, concurrency=concurrency, limit=limit, prompt_file=prompt_file,
                  dry_run=dry_run, spreadsheet=spreadsheet, progress=not json_, batch=batch,
                  resume_batch=resume_batch, poll_interval=poll_interval, judge_name=judge_name, examples=examples,
                  repeat=repeat)
    for message in out.warnings:
        warn(message)
    if json_:
        print_json(out.to_dict())
        fail_run(out.failure, out.errors_by_cause)
        return
    cost = _cost(out.estimated_cost)
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
        click.echo(f"  {_levels(out.format_level, out.levels)}")
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


@cli.command()
@spreadsheet_option
@click.option("json_", "--json", is_flag=True, help="Print every figure as JSON.")
@click.option("--fail-under", type=click.FloatRange(0, 1), metavar="X",
              help="Exit 1 when TPR or TNR (on test, else dev) is below X; exit 2 if they cannot be measured.")
@click.option("--no-tabs", is_flag=True,
              help="Compute the figures (and the gate) from the store alone; write no tabs (CI without Google).")
@config_option
def report(cfg, spreadsheet, json_, fail_under, no_tabs) -> None:
    """Write the report tabs: agreement, disagreements, root causes, error analysis, summary."""
    from sheetsync.report import report as do_report

    rep = do_report(cfg, spreadsheet=spreadsheet, write=not no_tabs)  # tabs first: a CI gate publishes them
    for message in rep.warnings:
        warn(message)
    failures = rep.gate(fail_under) if fail_under is not None else []
    if json_:
        print_json({**rep.to_dict(), "gate": None if fail_under is None
                    else {"threshold": fail_under, "basis": rep.basis, "failures": failures}})
    else:
        click.echo(f"Report written to {rep.url}" if rep.url else "Report computed (no tabs written)")
        for line in rep.lines():
            click.echo(f"  {line}")
    for failure in failures:
        click.echo(f"FAIL: {failure}", err=True)
    if failures:
        sys.exit(1)


@cli.command()
@click.argument("a", type=click.Path(dir_okay=False))
@click.argument("b", type=click.Path(dir_okay=False))
@click.option("--fail-if-worse", is_flag=True, help="Exit 1 when B is worse than A beyond doubt (the 95% interval "
              "of B − A is below 0: the corrected pass rate, or with --runs TPR or TNR).")
@click.option("--runs", is_flag=True, help="A and B are judge runs (ids, or previous/latest): the change in TPR "
              "and TNR on the labelled rows both judged, with McNemar's test.")
@click.option("json_", "--json", is_flag=True, help="Print every figure as JSON.")
@config_option
def compare(cfg, a, b, fail_if_worse, runs, json_) -> None:
    """Did version B of your AI do better than A? Two datasets with the same inputs, judged by the workspace's
    validated judge: the change in corrected pass rate with an interval, overall and per dimension."""
    from sheetsync.compare import compare as do_compare
    from sheetsync.compare import compare_runs

    if runs:
        rr = compare_runs(cfg, a, b)
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
        return
    r = do_compare(cfg, a, b, progress=not json_)
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


@cli.group()
def auth() -> None:
    """Google credentials."""


@auth.command("check")
@spreadsheet_option
@config_option
def auth_check(cfg, spreadsheet) -> None:
    """Say which identity is used and whether the spreadsheet is reachable."""
    from sheetsync.auth import check

    result = check(cfg, spreadsheet=spreadsheet)
    for line in result.lines:
        click.echo(line)
    for message in result.warnings:
        warn(message)


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8765, show_default=True, type=int, help="0 picks a free port.")
@click.option("--state", type=click.Path(dir_okay=False), help="Keep spreadsheets in this file across restarts.")
@click.option("--realistic", is_flag=True,
              help="Google's quotas (60 reads and 60 writes a minute per user) and a latency model.")
def emulator(host: str, port: int, state: str | None, realistic: bool) -> None:
    """Serve a local Google Sheets + Drive API emulator (point sheetsync at it with SHEETS_EMULATOR_HOST)."""
    from sheetsync.emulator import serve

    serve(host=host, port=port, state_file=state, realistic=realistic)


@cli.command()
@click.option("--out", default="demo-out", show_default=True, type=click.Path(file_okay=False),
              help="Folder for the demo workspace.")
@click.option("--spreadsheet", "-s", default=None, callback=_locator,
              help="Push to this spreadsheet instead of DIR/annotations.xlsx (e.g. a title, with the emulator).")
def demo(out: str, spreadsheet: str | None) -> None:
    """Run the whole loop on the bundled example and say what to open."""
    from sheetsync.demo import run_demo

    run_demo(out, spreadsheet=spreadsheet, echo=click.echo)


from sheetsync.cli_store import store  # noqa: E402 - it builds on the helpers above
from sheetsync.cli_triage import classify, triage  # noqa: E402 - step 6's commands, in their own module

cli.add_command(store)
cli.add_command(triage)
cli.add_command(classify)


def main() -> None:
    install_log_redaction()
    cli(prog_name="sheetsync")


if __name__ == "__main__":
    sys.exit(main())
