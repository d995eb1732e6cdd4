"""The workspace: what ``sheetsync init`` writes, and which spreadsheet a command works on."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

from sheetsync.backends import Workbook, is_local, open_workbook
from sheetsync.config import CONFIG_NAME, STATE_DIR, Config
from sheetsync.errors import ConfigError
from sheetsync.locator import check_locator
from sheetsync.store import Store
from sheetsync.store import open_store as _open_store

SPREADSHEET_KEY = "spreadsheet"
SPREADSHEET_NAME_KEY = "spreadsheet_requested_as"
GITIGNORE_LINES = (".env", f"{STATE_DIR}/", "*.xlsx.bak")


def open_store(cfg: Config) -> Store:
    """The workspace's store (``[store] url``, else ``.sheetsync/state.db``), made if missing."""
    store = _open_store(cfg)
    assert store is not None
    return store


def existing_store(cfg: Config) -> Store | None:
    """The workspace's store if a command already made one: commands that only read never leave a
    `.sheetsync/` folder (or a team store's schema) behind for a directory that is not a workspace."""
    return _open_store(cfg, create=False)


def resolve_spreadsheet(cfg: Config, store: Store | None, option: str | None) -> str:
    """``--spreadsheet``, else the config (or ``SHEETSYNC_SPREADSHEET``), else the one the first push used.

    A Google title that was already resolved (found or created via Drive) maps to the remembered id, so
    later commands skip the Drive lookup. A local path is always taken as given (the workspace may move).
    """
    if option:
        option = check_locator(option, "--spreadsheet")
    name = option or cfg.spreadsheet  # the config's was checked when it was loaded
    if store is not None:
        if name and not is_local(name) and name == store.get_meta(SPREADSHEET_NAME_KEY):
            return store.get_meta(SPREADSHEET_KEY) or name
        name = name or store.get_meta(SPREADSHEET_KEY)
    if not name:
        raise ConfigError(
            "no spreadsheet named: pass --spreadsheet (a Google Sheets URL, key or title, or a path ending "
            f"in .xlsx), or set `spreadsheet = \"...\"` in {CONFIG_NAME}."
        )
    return name


def open_workspace_workbook(
    cfg: Config, store: Store | None, option: str | None, *, create: bool = True
) -> Workbook:
    wb = open_workbook(resolve_spreadsheet(cfg, store, option), cfg, create=create)
    wb.requested_as = (option or "").strip() or cfg.spreadsheet  # type: ignore[attr-defined]
    return wb


def remember_spreadsheet(store: Store, workbook: Workbook) -> None:
    """Remember the workbook (its id, or its path) and the name it was asked for by."""
    store.set_meta(SPREADSHEET_KEY, workbook.locator)
    requested = getattr(workbook, "requested_as", "")
    if requested:
        store.set_meta(SPREADSHEET_NAME_KEY, requested)


def template_text(name: str) -> str:
    """A default file from the repository's top-level ``templates/`` folder: inside an installed wheel it is
    ``sheetsync/templates/`` (setup.py puts it there), in a source checkout it is read where it is."""
    shipped = resources.files("sheetsync").joinpath("templates", name)
    if shipped.is_file():
        return shipped.read_text(encoding="utf-8")
    return (Path(__file__).resolve().parent.parent / "templates" / name).read_text(encoding="utf-8")


def init_workspace(directory: str | Path, *, spreadsheet: str = "") -> list[Path]:
    """Write ``sheetsync.toml``, ``.env.example`` and ``prompts/``; add secrets and state to ``.gitignore``.

    Existing files are left alone (re-running init is safe). Returns the files written or changed.
    """
    spreadsheet = check_locator(spreadsheet, "--spreadsheet")
    root = Path(directory)
    root.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []

    def write(rel: str, text: str) -> None:
        path = root / rel
        if path.exists():
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(path)

    toml = template_text("sheetsync.toml")
    if spreadsheet:
        toml = toml.replace('spreadsheet = ""', f"spreadsheet = {json.dumps(spreadsheet, ensure_ascii=False)}", 1)
    write(CONFIG_NAME, toml)
    write(".env.example", template_text("env.example"))
    write("prompts/judge.md", template_text("judge.md"))
    write("prompts/synthetic_inputs.md", template_text("synthetic_inputs.md"))
    write("dimensions.toml", template_text("dimensions.toml"))

    gitignore = root / ".gitignore"
    lines = gitignore.read_text(encoding="utf-8").splitlines() if gitignore.exists() else []
    missing = [line for line in GITIGNORE_LINES if line not in lines]
    if missing:
        block = ("\n" if lines and lines[-1] != "" else "") + "# sheetsync: secrets and local state\n"
        with gitignore.open("a", encoding="utf-8") as fh:
            fh.write(block + "\n".join(missing) + "\n")
        written.append(gitignore)
    return written
