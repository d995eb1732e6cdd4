from click.testing import CliRunner

from sheetsync import __version__
from sheetsync.cli import cli


def test_version():
    result = CliRunner().invoke(cli, ["--version"])
    assert result.exit_code == 0
    assert result.output == f"sheetsync, version {__version__}\n"


def test_help_lists_the_loop():
    result = CliRunner().invoke(cli, ["--help"])
    assert result.exit_code == 0
    assert "sheetsync push traces.csv" in result.output
