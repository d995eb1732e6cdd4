import os

import pytest

pytest_plugins = ["sheetsync.testing.emulator", "sheetsync.testing.postgres", "tests.attack.tally"]


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch, tmp_path_factory):
    """No test reads the developer's real environment, credentials or user config, and no test leaks
    environment variables into the next (loading a workspace's .env exports its variables)."""
    saved = dict(os.environ)
    for var in ("SHEETS_EMULATOR_HOST", "GOOGLE_APPLICATION_CREDENTIALS", "OPENAI_API_KEY", "OPENAI_BASE_URL"):
        monkeypatch.delenv(var, raising=False)
    for var in [v for v in os.environ if v.startswith(("SHEETSYNC_", "OPENAI_"))]:
        monkeypatch.delenv(var)
    # a developer's (or CI's) proxy must not carry the tests' loopback traffic to the emulator and the fake
    for var in [v for v in os.environ if v.lower() in ("http_proxy", "https_proxy", "all_proxy")]:
        monkeypatch.delenv(var)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("SHEETSYNC_CONFIG_DIR", str(tmp_path_factory.mktemp("user-config")))
    # google.auth.default() must never probe the cloud metadata server (a network call) from a test
    monkeypatch.setenv("NO_GCE_CHECK", "True")
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path_factory.mktemp("gcloud")))
    # the process-wide request pacer starts every test with Google's per-minute quota unspent
    from sheetsync.backends.google_pacing import reset_shared_pacers

    reset_shared_pacers()
    yield
    os.environ.clear()
    os.environ.update(saved)
