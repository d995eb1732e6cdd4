"""sheetsync: build an LLM judge you can trust, with a spreadsheet as the domain expert's workbench."""

# The one place the version is written: pyproject.toml reads it from here ([tool.setuptools.dynamic]).
# A literal, not importlib.metadata.version(): that import alone was half of `--version`'s start-up.
__version__ = "0.1.0"
