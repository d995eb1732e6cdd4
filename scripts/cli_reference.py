"""Write docs/cli.md from the commands' own --help, so the reference cannot drift (a test checks it).

    python scripts/cli_reference.py          # rewrite docs/cli.md
    python scripts/cli_reference.py --check  # exit 1 if docs/cli.md is out of date
"""

from __future__ import annotations

import sys
from pathlib import Path

import click
from click.testing import CliRunner

from sheetsync.cli import cli

DOC = Path(__file__).resolve().parent.parent / "docs" / "cli.md"


def commands(group: click.Group, prefix: list[str]) -> list[list[str]]:
    out = [prefix]
    for name in sorted(group.commands):
        cmd = group.commands[name]
        if isinstance(cmd, click.Group):
            out += commands(cmd, [*prefix, name])
        else:
            out.append([*prefix, name])
    return out


def render() -> str:
    parts = ["# CLI reference\n", "Generated from `--help` by `python scripts/cli_reference.py`; do not edit.\n"]
    runner = CliRunner()
    for path in commands(cli, []):
        result = runner.invoke(cli, [*path, "--help"], prog_name="sheetsync", terminal_width=100)
        title = " ".join(["sheetsync", *path])
        parts.append(f"## `{title}`\n\n```\n{result.output.rstrip()}\n```\n")
    return "\n".join(parts)


def main() -> int:
    text = render()
    if "--check" in sys.argv:
        if not DOC.exists() or DOC.read_text(encoding="utf-8") != text:
            print(f"{DOC} is out of date: run python scripts/cli_reference.py", file=sys.stderr)
            return 1
        return 0
    DOC.parent.mkdir(exist_ok=True)
    DOC.write_text(text, encoding="utf-8")
    print(f"wrote {DOC}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
