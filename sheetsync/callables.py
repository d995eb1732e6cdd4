"""Import the team's own code named as ``module:function`` (``respond --call``, code-assertion judges), with
the folder it lives in first on ``sys.path``, and every way that can fail said as a message, not a traceback."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from typing import Any

from sheetsync.errors import UserInputError


def load_callable(spec: str, folder: str, label: str, *, hint: str = "") -> Callable[..., Any]:
    """The function ``spec`` names; ``label`` starts each message (e.g. "--call app:answer"), ``hint`` follows a
    module that cannot be found."""
    module_name, _, attr = spec.partition(":")
    if folder not in sys.path:
        sys.path.insert(0, folder)
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and (module_name == exc.name or module_name.startswith(exc.name + ".")):
            raise UserInputError(f"{label}: no module named {module_name!r} (looked in {folder} and the Python "
                                 f"path).{' ' + hint if hint else ''}") from exc
        raise UserInputError(f"{label}: importing {module_name} failed: {exc}") from exc
    except Exception as exc:
        raise UserInputError(f"{label}: importing {module_name} failed: {type(exc).__name__}: {exc}") from exc
    target: Any = module
    for part in attr.split("."):
        if not hasattr(target, part):
            raise UserInputError(f"{label}: {module_name} has no attribute {attr!r}.")
        target = getattr(target, part)
    if not callable(target):
        raise UserInputError(f"{label}: {attr} is a {type(target).__name__}, not a function.")
    return target
