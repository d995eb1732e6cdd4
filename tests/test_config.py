import pytest

from sheetsync.config import load_config
from sheetsync.errors import ConfigError
from sheetsync.workspace import init_workspace


def test_init_writes_workspace_and_is_idempotent(tmp_path):
    (tmp_path / ".gitignore").write_text("node_modules/\n")
    written = {p.name for p in init_workspace(tmp_path, spreadsheet="labels.xlsx")}
    assert {"sheetsync.toml", ".env.example", "judge.md", ".gitignore"} <= written
    ignore = (tmp_path / ".gitignore").read_text()
    assert "node_modules/" in ignore and ".env\n" in ignore and ".sheetsync/\n" in ignore
    assert init_workspace(tmp_path) == []
    cfg = load_config(tmp_path / "sheetsync.toml")
    assert cfg.spreadsheet == "labels.xlsx"
    assert cfg.labels.pass_label == "Pass" and cfg.judge.concurrency == 8
    assert cfg.prices["gpt-4.1-mini"] == (0.40, 1.60, 0.10)


def test_environment_and_dotenv_over_file(tmp_path, monkeypatch):
    init_workspace(tmp_path)
    (tmp_path / ".env").write_text("SHEETSYNC_JUDGE_MODEL=from-dotenv\nSHEETSYNC_COLUMNS_CONTEXT=tier, locale\n")
    cfg = load_config(tmp_path / "sheetsync.toml")
    assert cfg.judge.model == "from-dotenv"
    assert cfg.columns.context == ("tier", "locale")
    monkeypatch.setenv("SHEETSYNC_JUDGE_MODEL", "from-env")
    assert load_config(tmp_path / "sheetsync.toml").judge.model == "from-env"


@pytest.mark.parametrize(
    "text,message",
    [
        ("[judge]\nmodle = 'x'\n", "unknown setting `modle` in [judge]"),
        ("[judge]\nconcurrency = 'many'\n", "[judge] concurrency = 'many' is not valid"),
        ("[judge]\ntrain = 0.5\n", "add up to 1"),
        ("spreadsheet = \n", "not valid TOML"),
    ],
)
def test_bad_config_is_named(tmp_path, text, message):
    path = tmp_path / "sheetsync.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert message in str(err.value) and str(path) in str(err.value)
