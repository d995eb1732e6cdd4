"""The workspace: what ``sheetsync init`` writes, and which spreadsheet a command works on."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from sheetsync.backends import Workbook, open_workbook
from sheetsync.config import CONFIG_NAME, STATE_DIR, Config
from sheetsync.errors import ConfigError
from sheetsync.store import Store

SPREADSHEET_KEY = "spreadsheet"
GITIGNORE_LINES = (".env", f"{STATE_DIR}/", "*.xlsx.bak")


def open_store(cfg: Config) -> Store:
    return Store.for_workspace(cfg.state_dir)


def resolve_spreadsheet(cfg: Config, store: Store, option: str | None) -> str:
    """``--spreadsheet``, else the config (or ``SHEETSYNC_SPREADSHEET``), else the one the first push used."""
    name = option or cfg.spreadsheet or store.get_meta(SPREADSHEET_KEY)
    if not name:
        raise ConfigError(
            "no spreadsheet named: pass --spreadsheet (a Google Sheets URL, key or title, or a path ending "
            f"in .xlsx), or set `spreadsheet = \"...\"` in {CONFIG_NAME}."
        )
    return name


def open_workspace_workbook(cfg: Config, store: Store, option: str | None, *, create: bool = True) -> Workbook:
    return open_workbook(resolve_spreadsheet(cfg, store, option), cfg, create=create)


def remember_spreadsheet(store: Store, workbook: Workbook) -> None:
    store.set_meta(SPREADSHEET_KEY, workbook.locator)


def template_text(name: str) -> str:
    """A default file shipped inside the package (``sheetsync/templates/``)."""
    return resources.files("sheetsync").joinpath("templates", name).read_text(encoding="utf-8")


def init_workspace(directory: str | Path, *, spreadsheet: str = "") -> list[Path]:
    """Write ``sheetsync.toml``, ``.env.example`` and ``prompts/``; add secrets and state to ``.gitignore``.

    Existing files are left alone (re-running init is safe). Returns the files written or changed.
    """
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
        toml = toml.replace('spreadsheet = ""', f'spreadsheet = "{spreadsheet}"', 1)
    write(CONFIG_NAME, toml)
    write(".env.example", template_text("env.example"))
    write("prompts/judge.md", template_text("judge.md"))

    gitignore = root / ".gitignore"
    lines = gitignore.read_text(encoding="utf-8").splitlines() if gitignore.exists() else []
    missing = [line for line in GITIGNORE_LINES if line not in lines]
    if missing:
        block = ("\n" if lines and lines[-1] != "" else "") + "# sheetsync: secrets and local state\n"
        with gitignore.open("a", encoding="utf-8") as fh:
            fh.write(block + "\n".join(missing) + "\n")
        written.append(gitignore)
    return written
