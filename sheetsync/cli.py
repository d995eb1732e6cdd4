"""The command line: each command parses its options, calls one library function and prints the result."""

from __future__ import annotations

import os
import sys

import click

from sheetsync import __version__
from sheetsync.errors import SheetsyncError


class Group(click.Group):
    """Turns a SheetsyncError into its message on stderr and exit code 2, never a traceback."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except SheetsyncError as exc:
            if os.environ.get("SHEETSYNC_RAISE_ERRORS"):
                raise
            click.echo(f"Error: {exc}", err=True)
            ctx.exit(exc.exit_code)


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="sheetsync")
def cli() -> None:
    """Critique shadowing for LLM judges, with a spreadsheet as the expert's workbench.

    \b
    The loop:
      sheetsync init                 # a workspace: sheetsync.toml, prompts/
      sheetsync push traces.csv      # the expert's Annotate tab
      sheetsync pull                 # the expert's labels, validated and stored
      sheetsync judge --split dev    # the LLM judge, taught by the expert's critiques
      sheetsync report               # agreement, corrected pass rate, root causes
    """


@cli.command()
@click.option("--out", default="demo-out", show_default=True, help="Folder for the demo workspace.")
def demo(out: str) -> None:
    """Run the whole loop on the bundled example."""
    click.echo("The demo arrives with the annotation round trip (issue 3); nothing was done.", err=True)


def main() -> None:
    cli(prog_name="sheetsync")


if __name__ == "__main__":
    sys.exit(main())
