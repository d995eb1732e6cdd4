"""sheetsync: build an LLM judge you can trust, with a spreadsheet as the domain expert's workbench."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("sheetsync")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0"
