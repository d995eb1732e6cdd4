# pytest refuses ``pytest_plugins`` in a non-top-level conftest when the whole suite runs, so the fixtures
# are imported instead (equivalent to pytest_plugins = ["sheetsync.testing.emulator"]).
from sheetsync.testing.emulator import _sheets_emulator_server, gspread_client, sheets_emulator  # noqa: F401
