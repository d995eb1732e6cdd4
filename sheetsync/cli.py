"""The command line: each command parses its options, calls one library function and prints the result.

Output for people goes to stdout as short text; ``--json`` prints machine-readable JSON instead;
warnings, progress and errors go to stderr. Errors a user can fix exit with code 2 and no traceback.
What the commands share is in ``cli_base``; step 0's commands in ``cli_dataset``, step 6's in ``cli_triage``,
the store's in ``cli_store``; what push, pull, judge and compare print in ``cli_print``.
"""

from __future__ import annotations

import os
import sys

import click

from sheetsync import __version__
from sheetsync.cli_base import (  # noqa: F401 - re-exported: the command modules and tests import them from here
    GreedyCommand,
    Group,
    config_option,
    cost_text,
    fail_run,
    locator_param,
    print_json,
    show_google_notices,
    spreadsheet_option,
    warn,
)
from sheetsync.redact import install_log_redaction


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
    show_google_notices()


@cli.command()
@click.argument("directory", default=".", type=click.Path(file_okay=False))
@click.option("--spreadsheet", "-s", default="", callback=locator_param, help="Spreadsheet to put in sheetsync.toml.")
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
    from sheetsync.cli_print import print_judge

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
    print_judge(out, split, json_)


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
    from sheetsync.cli_print import print_compare, print_compare_runs
    from sheetsync.compare import compare as do_compare
    from sheetsync.compare import compare_runs

    if runs:
        print_compare_runs(compare_runs(cfg, a, b), json_, fail_if_worse)
    else:
        print_compare(do_compare(cfg, a, b, progress=not json_), json_, fail_if_worse)


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
@click.option("--spreadsheet", "-s", default=None, callback=locator_param,
              help="Push to this spreadsheet instead of DIR/annotations.xlsx (e.g. a title, with the emulator).")
def demo(out: str, spreadsheet: str | None) -> None:
    """Run the whole loop on the bundled example and say what to open."""
    from sheetsync.demo import run_demo

    run_demo(out, spreadsheet=spreadsheet, echo=click.echo)


from sheetsync.cli_dataset import generate, import_, respond  # noqa: E402 - step 0's commands
from sheetsync.cli_store import store  # noqa: E402 - it builds on the helpers above
from sheetsync.cli_triage import classify, triage  # noqa: E402 - step 6's commands, in their own module

cli.add_command(generate)
cli.add_command(respond)
cli.add_command(import_)
cli.add_command(store)
cli.add_command(triage)
cli.add_command(classify)


def main() -> None:
    install_log_redaction()
    cli(prog_name="sheetsync")


if __name__ == "__main__":
    sys.exit(main())
