"""``sheetsync store``: where the workspace's store is, and moving its whole history between stores (a
person's ``.sheetsync/state.db`` onto the team's PostgreSQL database, and back). A group of its own module so
the main command module stays one screenful per command; registered by ``sheetsync.cli``."""

from __future__ import annotations

from typing import Any

import click

from sheetsync.cli_base import config_option, print_json


@click.group()
def store() -> None:
    """The workspace's store: [store] url (a team's PostgreSQL database), else .sheetsync/state.db."""


def _echo_counts(verb: str, result: dict[str, Any]) -> None:
    click.echo(f"{verb} {result['from']} -> {result['to']}")
    for table, n in result["tables"].items():
        click.echo(f"  {table}: {n}")


@store.command("info")
@click.option("json_", "--json", is_flag=True, help="Print it as JSON.")
@config_option
def info(cfg, json_) -> None:
    """Which store this workspace uses (password masked) and how much it holds; exit 2 if unreachable."""
    from sheetsync.store.transfer import describe

    found = describe(cfg)
    if json_:
        print_json(found)
        return
    click.echo(f"{found['engine']} store {found['store']}")
    if "workspace" in found:
        click.echo(f"  workspace {found['workspace']!r} (schema {found['schema']})")
    if not found["exists"]:
        click.echo("  holds nothing for this workspace yet (the first push creates it)")
        return
    click.echo(f"  schema version {found['schema_version']}")
    for table, n in found["tables"].items():
        click.echo(f"  {table}: {n}")


@store.command("export")
@click.argument("file", type=click.Path(dir_okay=False))
@config_option
def export(cfg, file) -> None:
    """Copy the workspace's whole history into a new SQLite file (itself a store)."""
    from sheetsync.store.transfer import export_workspace

    _echo_counts("Exported", export_workspace(cfg, file))


@store.command("import")
@click.argument("file", type=click.Path(dir_okay=False))
@config_option
def import_(cfg, file) -> None:
    """Copy a file written by `store export` into the workspace's store, which must be empty."""
    from sheetsync.store.transfer import import_workspace

    _echo_counts("Imported", import_workspace(cfg, file))
