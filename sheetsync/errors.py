"""Errors a user can act on. The CLI prints their message (no traceback) and exits with code 2."""


class SheetsyncError(Exception):
    """A problem with the user's input, configuration or environment, with a message saying what to do."""

    exit_code = 2


class UserInputError(SheetsyncError):
    """Bad input data: a file, row or column that must be fixed before anything is written."""


class ConfigError(SheetsyncError):
    """Bad or missing configuration or credentials."""


class BackendError(SheetsyncError):
    """The spreadsheet could not be read or written (after our bounded retries)."""


class StoreError(SheetsyncError):
    """The local store (``.sheetsync/state.db``) cannot be opened, read or written."""
