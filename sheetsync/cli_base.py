"""What every command shares: the group that turns errors into a message and an exit code, the options
most commands take, and how warnings, JSON, costs and Google's notices are printed."""

from __future__ import annotations

import functools
import json
import logging
import os
import sys
from collections.abc import Callable
from typing import Any

import click

from sheetsync.errors import SheetsyncError
from sheetsync.redact import redact


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


def locator_param(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """A near-miss of a .xlsx path or a Sheets URL is refused while parsing, before anything runs."""
    from sheetsync.locator import check_locator

    try:
        return None if value is None else check_locator(value, "")
    except SheetsyncError as exc:
        raise click.BadParameter(str(exc), ctx, param) from exc


spreadsheet_option = click.option(
    "--spreadsheet", "-s", callback=locator_param,
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


def levels_text(level: str, levels: dict[str, str]) -> str:
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


def show_google_notices() -> None:
    logger = logging.getLogger("sheetsync.google")
    if not any(isinstance(h, _Notices) for h in logger.handlers):
        logger.addHandler(_Notices())
        logger.setLevel(logging.INFO)
        logger.propagate = False


def cost_text(usd: float | None) -> str:
    return f"${usd:.4f}" if usd is not None else "unknown (add the model to [prices])"


def print_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, ensure_ascii=False, default=str))


def warned_or_json(out: Any, json_: bool) -> bool:
    """A run's warnings to stderr; with ``--json`` its outcome (``to_dict``) to stdout, exiting 1 if the run
    failed. True when that was all there is to print."""
    for message in out.warnings:
        warn(message)
    if not json_:
        return False
    print_json(out.to_dict())
    fail_run(out.failure, out.errors_by_cause)
    return True
