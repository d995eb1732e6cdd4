"""What only the PostgreSQL engine has: workspaces named from the config, logins that may only read, and
store URLs whose secrets never reach the output."""

from __future__ import annotations

import psycopg
import pytest
from click.testing import CliRunner

from sheetsync.cli import cli
from sheetsync.config import load_config
from sheetsync.errors import ConfigError
from sheetsync.store import open_store
from sheetsync.store.location import locate
from sheetsync.store.postgres import schema_name
from sheetsync.testing.postgres import PASSWORD
from tests.expert import Expert
from tests.test_judge import rows, write_csv

SHEET_URL = "https://docs.google.com/spreadsheets/d/1AbCdEfGhIjKlMnOpQrStUvWxYz0123456789abcdEF/edit#gid=0"


def config(tmp_path, text: str, **env):
    (tmp_path / "sheetsync.toml").write_text(text)
    return load_config(tmp_path / "sheetsync.toml")


def test_the_workspace_is_named_by_the_config_or_the_spreadsheets_id(tmp_path, monkeypatch):
    monkeypatch.setenv("SHEETSYNC_STORE_URL", "postgresql://alice:hunter2-secret@db.internal:5432/sheetsync")
    named = locate(config(tmp_path, f'spreadsheet = "{SHEET_URL}"\n[store]\nworkspace = "support-bot"\n'))
    assert named.workspace == "support-bot" and named.shown == "postgresql://***@db.internal:5432/sheetsync"
    by_id = locate(config(tmp_path, f'spreadsheet = "{SHEET_URL}"\n'))
    assert by_id.workspace == "1AbCdEfGhIjKlMnOpQrStUvWxYz0123456789abcdEF"
    for unshareable in ("labels.xlsx", "Support labels"):  # a path or a title names no one workspace
        with pytest.raises(ConfigError, match=r"\[store\] workspace"):
            locate(config(tmp_path, f'spreadsheet = "{unshareable}"\n'))


def test_schema_names_are_distinct_valid_and_readable():
    names = ["support-bot", "Support Bot", "support_bot", "x" * 300, "ünïcode", '"; DROP SCHEMA public; --']
    schemas = [schema_name(n) for n in names]
    assert len(set(schemas)) == len(names) and all(len(s) <= 63 for s in schemas)
    assert all(s.replace("_", "").isalnum() and s.isascii() and s.startswith("ss_") for s in schemas)
    assert schemas[0].startswith("ss_support_bot_")


def test_a_bad_store_url_is_a_config_error_without_its_password(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SHEETSYNC_STORE_URL", "mysql://alice:hunter2-secret@db.internal/sheetsync")
    out = CliRunner().invoke(cli, ["store", "info"])
    assert out.exit_code == 2 and "SHEETSYNC_STORE_URL" in out.stderr and "must be a PostgreSQL URL" in out.stderr
    assert "hunter2-secret" not in out.output + out.stderr


def test_a_read_only_login_reports_but_a_writing_command_stops_before_the_sheet(tmp_path, monkeypatch,
                                                                                postgres_server, postgres_url):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SHEETSYNC_STORE_URL", postgres_url)
    runner = CliRunner()
    assert runner.invoke(cli, ["init", "--spreadsheet", "labels.xlsx"]).exit_code == 0
    (tmp_path / "sheetsync.toml").write_text((tmp_path / "sheetsync.toml").read_text().replace(
        'workspace = ""', 'workspace = "read-only-test"'))
    write_csv(tmp_path / "data.csv", rows())
    assert runner.invoke(cli, ["push", "data.csv"]).exit_code == 0
    Expert(tmp_path / "labels.xlsx").label({r["id"]: ("Pass", "Fine because the policy allows it, clearly stated.",
                                                      "") for r in rows()})
    assert runner.invoke(cli, ["pull"]).exit_code == 0
    schema = schema_name("read-only-test")
    dbname = postgres_url.rsplit("/", 1)[1]
    with psycopg.connect(postgres_url, autocommit=True) as owner:
        owner.execute("CREATE ROLE reader LOGIN PASSWORD 'reader-pw-42x'" if not owner.execute(
            "SELECT 1 FROM pg_roles WHERE rolname = 'reader'").fetchone() else "SELECT 1")
        owner.execute(f'GRANT USAGE ON SCHEMA "{schema}" TO reader')
        owner.execute(f'GRANT SELECT ON ALL TABLES IN SCHEMA "{schema}" TO reader')
    reader = postgres_url.replace(f"sheetsync:{PASSWORD}@", "reader:reader-pw-42x@")
    assert reader != postgres_url and dbname in reader
    monkeypatch.setenv("SHEETSYNC_STORE_URL", reader)
    report = runner.invoke(cli, ["report", "--no-tabs", "--json"])
    assert report.exit_code == 0, report.output + report.stderr
    before = (tmp_path / "labels.xlsx").read_bytes()
    write_csv(tmp_path / "data.csv", rows()[:-1])
    push = runner.invoke(cli, ["push", "data.csv"])
    assert push.exit_code == 2 and "may read this workspace's tables but not write them" in push.stderr
    assert "reader-pw-42x" not in push.output + push.stderr and "Traceback" not in push.output
    assert (tmp_path / "labels.xlsx").read_bytes() == before  # the sheet was not touched
    monkeypatch.setenv("SHEETSYNC_STORE_URL", postgres_url)
    assert open_store(load_config(tmp_path / "sheetsync.toml")).pull_count() == 1
