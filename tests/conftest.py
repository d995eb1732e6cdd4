import pytest

pytest_plugins: list[str] = []


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch, tmp_path_factory):
    """No test reads the developer's real environment, credentials or user config."""
    for var in ("SHEETS_EMULATOR_HOST", "GOOGLE_APPLICATION_CREDENTIALS", "OPENAI_API_KEY", "OPENAI_BASE_URL"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("SHEETSYNC_CONFIG_DIR", str(tmp_path_factory.mktemp("user-config")))
