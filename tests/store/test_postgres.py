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


@pytest.mark.parametrize("url, hidden", [
    ("postgresql://alice:pw-badport-93x@127.0.0.1:badport/db", "pw-badport-93x"),
    ("postgresql://alice:pw-ipv6-93x@[::1/db", "pw-ipv6-93x"),
    # characters a URL gives meaning to, left unencoded in the password: the parser no longer sees a password
    ("postgresql://alice:ab/cd-slash-93x@db.internal/sheetsync", "cd-slash-93x"),
    ("postgresql://alice:ab#cd-hash-93x@db.internal/sheetsync", "cd-hash-93x"),
    ("postgresql://alice:ab?cd-query-93x@db.internal/sheetsync", "cd-query-93x"),
    ("postgresql://alice:123/45678@db.internal/sheetsync", "45678"),
])
def test_a_store_url_the_parser_cannot_read_is_a_config_error_showing_no_part_of_the_password(
        tmp_path, monkeypatch, url, hidden):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SHEETSYNC_STORE_URL", url)
    monkeypatch.setenv("SHEETSYNC_STORE_WORKSPACE", "w")
    out = CliRunner().invoke(cli, ["store", "info"])
    assert out.exit_code == 2 and out.exception is None or isinstance(out.exception, SystemExit), out.exception
    assert "SHEETSYNC_STORE_URL" in out.stderr and "percent-encode" in out.stderr and "Traceback" not in out.output
    assert hidden not in out.output + out.stderr


def test_the_store_password_reaches_no_output_log_file_table_or_sheet(tmp_path, monkeypatch, postgres_url,
                                                                      postgres_server, caplog):
    """A whole session against the team store — init, push, pull, judge, report, store info and export, and the
    same URL at a server that is down — with every logger at DEBUG (psycopg's, openai's, httpx's): the URL's
    password is in no output, no log record, no file the commands wrote (the workbook's XML included) and no
    value in the workspace's tables."""
    import io
    import logging
    import zipfile

    from sheetsync.redact import install_log_redaction
    from sheetsync.testing.fake_openai import FakeOpenAI
    from tests.test_judge import perfect_judge

    old_factory = logging.getLogRecordFactory()
    install_log_redaction()  # as the installed `sheetsync` command does (cli.main)
    caplog.set_level(logging.DEBUG)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SHEETSYNC_STORE_URL", postgres_url)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-not-a-real-key")
    runner, said = CliRunner(), []

    def run(*args: str, code: int = 0):
        result = runner.invoke(cli, list(args))
        said.append(result.output + result.stderr)
        assert result.exit_code == code, result.output + result.stderr
        return result

    try:
        with FakeOpenAI(responder=perfect_judge) as fake:
            monkeypatch.setenv("OPENAI_BASE_URL", fake.base_url)
            run("init", "--spreadsheet", "labels.xlsx")
            toml = tmp_path / "sheetsync.toml"
            toml.write_text(toml.read_text().replace('workspace = ""', 'workspace = "secrets-test"'))
            write_csv(tmp_path / "data.csv", rows())
            run("push", "data.csv")
            Expert(tmp_path / "labels.xlsx").label({r["id"]: ("Fail" if r["output"].startswith("BAD") else "Pass",
                                                              "A critique long enough to teach a judge.", "")
                                                    for r in rows()})
            run("pull")
            run("judge", "--split", "dev")
            run("report")
            run("store", "info")
            run("store", "info", "--json")
            run("store", "export", "backup.db")
            assert fake.call_count > 0
        down = postgres_url.replace(f":{postgres_server.port}/", ":1/")
        monkeypatch.setenv("SHEETSYNC_STORE_URL", down)
        run("report", "--fail-under", "0.8", code=2)
        run("store", "info", code=2)
    finally:
        logging.setLogRecordFactory(old_factory)

    assert len(caplog.records) > 10  # the loggers did speak: the check below is not of an empty log
    assert PASSWORD not in "".join(said) and PASSWORD not in caplog.text
    assert "postgresql://***@127.0.0.1:" in "".join(said)
    secret = PASSWORD.encode()
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert {tmp_path / "labels.xlsx", tmp_path / "backup.db"} <= set(written)
    for path in written:
        data = path.read_bytes()
        assert secret not in data, path
        if data[:2] == b"PK":  # the workbook: its XML parts, inflated
            with zipfile.ZipFile(io.BytesIO(data)) as z:
                assert all(secret not in z.read(name) for name in z.namelist()), path
    with psycopg.connect(postgres_url) as conn:
        schema = schema_name("secrets-test")
        tables = [r[0] for r in conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = %s", (schema,))]
        assert "labels" in tables
        for table in tables:
            for row in conn.execute(f'SELECT * FROM "{schema}"."{table}"'):
                assert PASSWORD not in repr(row), table
