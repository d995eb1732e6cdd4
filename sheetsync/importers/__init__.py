"""``sheetsync import FORMAT EXPORT --out DATASET``: interactions from where teams keep them, as a dataset file
that ``sheetsync push`` takes like any other.

An import is its own step rather than a flag of push because the sample it draws from a large export is
the dataset of record: written once, it can be read, diffed and re-pushed (an upsert by id) without
reading the export again, and push keeps one input with one set of checks. The export is streamed —
memory holds one record, the traces still being put together, and the sample — and the output is written
beside its final name and moved into place at the end, so a refused record leaves nothing half-written.

One module per source turns records into :class:`~sheetsync.importers.rows.Trace` s (``openai_chat``,
``otel_genai``, ``langsmith``, ``langfuse``), or straight into rows (``mapping``).
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sheetsync.config import Columns, Config
from sheetsync.datastream import iter_records
from sheetsync.errors import UserInputError
from sheetsync.importers.assemble import Assembler
from sheetsync.importers.rows import CONTEXT, FIXED_DIMENSIONS, RecordError, header, located, to_row
from sheetsync.sampling import PROBABILITY_COLUMN, StreamSample

FORMATS = ("openai", "otel", "langsmith", "langfuse", "mapping")
OUTPUTS = (".jsonl", ".ndjson", ".csv", ".json")


@dataclass
class ImportResult:
    source: str
    format: str
    out: str
    records: int = 0  # records read from the export
    interactions: int = 0  # interactions found in them
    written: int = 0
    sampled: bool = False
    context: list[str] = field(default_factory=list)
    dimensions: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return self.__dict__.copy()

    def summary(self, export: str, columns: Columns) -> str:
        """What was imported, and the ``[columns]`` lines that show it all, if sheetsync.toml lacks them."""
        lines = [f"Imported {self.written:,} interaction(s) from {self.records:,} record(s) of {export} into {self.out}"
                 + (f" (a sample of {self.interactions:,}; each row's chance of being drawn is in {PROBABILITY_COLUMN})"
                    if self.sampled else "") + "."]
        if any(c not in columns.context for c in self.context) or any(d not in columns.dimensions for d in self.dimensions):
            lines += ["To show the system prompt, documents, metadata, link and dimensions, set in sheetsync.toml:",
                      "  [columns]"]
            if self.context:
                lines.append(f"  context = {json.dumps(list(dict.fromkeys([*columns.context, *self.context])))}")
            lines.append(f"  dimensions = {json.dumps(list(dict.fromkeys([*columns.dimensions, *self.dimensions])))}")
        return "\n".join(lines)


def import_traces(
    cfg: Config,
    fmt: str,
    source: str | Path,
    out: str | Path,
    *,
    sample: int | None = None,
    stratify_by: tuple[str, ...] = (),
    seed: int = 0,
    dimensions: tuple[str, ...] = (),
    link: str = "",
    host: str = "",
) -> ImportResult:
    """Read ``source`` (an export in ``fmt``) and write its interactions (or a sample) to ``out``."""
    source, out = Path(source), cfg.path(str(out))
    if fmt not in FORMATS:
        raise UserInputError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}.")
    if out.suffix.lower() not in OUTPUTS:
        raise UserInputError(f"{out}: write the dataset to a file ending in .jsonl, .csv or .json.")
    if out.resolve() == source.resolve():
        raise UserInputError(f"{out}: the dataset would replace the export it is read from; choose another --out.")
    if link and "{id}" not in link and "{trace_id}" not in link:
        raise UserInputError(f"--link {link!r} has no {{id}}: write where the trace id goes, e.g. "
                             "https://phoenix.example/projects/P/traces/{id}.")
    if sample is not None and sample < 1:
        raise UserInputError("--sample must be at least 1.")
    if fmt == "mapping":
        if not cfg.columns.map:
            raise UserInputError('`sheetsync import mapping` needs [columns] map in sheetsync.toml, e.g. map = '
                                 '["id = $.trace.id", "input = $.request.messages", "output = $.response.text"].')
        from sheetsync.importers.mapping import header as map_header

        columns, dims = map_header(cfg.columns.map), list(cfg.columns.dimensions)
    else:
        columns, dims = header(dimensions), [*FIXED_DIMENSIONS, *dimensions]
    unknown = [c for c in stratify_by if c not in (columns if fmt == "mapping" else dims)]
    if unknown:
        raise UserInputError(f"--stratify-by {', '.join(unknown)}: not an imported column; choose from "
                             f"{', '.join(columns if fmt == 'mapping' else dims)} (add a metadata key with --dimensions).")
    result = ImportResult(str(source), fmt, str(out), sampled=sample is not None, dimensions=dims,
                          context=[] if fmt == "mapping" else list(CONTEXT))
    counted = _Counted(iter_records(source))
    assembler = Assembler()
    rows = _rows(fmt, counted, source, cfg, dimensions, link, host, assembler)
    if sample is None:
        result.written = _write(out, columns, (row for _, row in rows), result)
    else:
        sampler = StreamSample(sample, seed=seed)
        for _, row in rows:
            result.interactions += 1
            sampler.offer(row.get("id") or json.dumps(row, sort_keys=True), row, tuple(row[c] for c in stratify_by))
        drawn, warnings = sampler.drawn(stratified=bool(stratify_by))
        result.warnings += warnings
        _check_unique(source, [d.item for d in drawn])
        result.written = _write(out, [*columns, PROBABILITY_COLUMN],
                                ({**d.item, PROBABILITY_COLUMN: f"{d.probability:.6g}"} for d in drawn), None)
    result.records = counted.n
    if assembler.orphans:
        result.warnings.append(f"{assembler.orphans:,} span(s)/run(s) were left out: their trace's root never came "
                               f"within {assembler.window:,} parts of them (is the export cut, or unsorted?).")
    if not result.written:
        Path(out).unlink(missing_ok=True)
        raise UserInputError(f"{source}: no interactions found; nothing was written.")
    return result


def _rows(fmt: str, records: Iterator[tuple[str, dict[str, Any]]], source: Path, cfg: Config,
          dimensions: tuple[str, ...], link: str, host: str, assembler: Assembler) -> Iterator[tuple[str, dict[str, str]]]:
    """(where, row) per interaction; a record that cannot be one stops the import, naming where it is."""
    where = "record 1"

    def tracked() -> Iterator[tuple[str, dict[str, Any]]]:
        nonlocal where
        for item in records:
            where = item[0]  # read by the error handler below
            yield item

    try:
        if fmt == "mapping":
            from sheetsync.importers import mapping

            yield from mapping.rows(tracked(), cfg.columns.map)
            return
        for at, trace in _traces(fmt, tracked(), link, host, assembler):
            yield at, located(at, to_row, trace, dimensions)
    except RecordError as exc:
        raise UserInputError(f"{source}: {exc.where or where}: {exc}. Nothing was written.") from exc


def _traces(fmt, records, link, host, assembler):
    if fmt == "openai":
        from sheetsync.importers import openai_chat

        return openai_chat.traces(records, link)
    if fmt == "otel":
        from sheetsync.importers import otel_genai

        return otel_genai.traces(records, link, assembler=assembler)
    if fmt == "langsmith":
        from sheetsync.importers import langsmith

        return langsmith.traces(records, link, host or langsmith.HOST, assembler=assembler)
    from sheetsync.importers import langfuse

    return langfuse.traces(records, link, host or langfuse.HOST)


class _Counted:
    def __init__(self, records: Iterator[tuple[str, dict[str, Any]]]):
        self.records, self.n = records, 0

    def __iter__(self) -> Iterator[tuple[str, dict[str, Any]]]:
        for item in self.records:
            self.n += 1
            yield item


def _check_unique(source: Path, rows: list[dict[str, str]]) -> None:
    seen: set[str] = set()
    for row in rows:
        rid = row.get("id", "")
        if rid and rid in seen:
            raise UserInputError(f"{source}: the id {rid!r} belongs to two interactions in the export; ids must be "
                                 "unique. Nothing was written.")
        seen.add(rid)


def _write(out: Path, columns: list[str], rows: Iterator[dict[str, str]], result: ImportResult | None) -> int:
    """Stream rows to a file beside ``out``, then move it into place: a crash or a refused record never
    leaves half a dataset. Duplicate ids are refused (by a hash of each, so memory stays small)."""
    import csv

    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent)
    n, seen = 0, set()
    suffix = out.suffix.lower()
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=columns) if suffix == ".csv" else None
            if writer:
                writer.writeheader()
            elif suffix == ".json":
                fh.write("[")
            for row in rows:
                if result is not None:
                    result.interactions += 1
                    key = hash(row.get("id"))
                    if row.get("id") and key in seen:
                        raise UserInputError(f"{out}: the id {row['id']!r} belongs to two interactions in the "
                                             "export; ids must be unique. Nothing was written.")
                    seen.add(key)
                line = {c: row.get(c, "") for c in columns}
                if writer:
                    writer.writerow(line)
                elif suffix == ".json":
                    fh.write(("\n" if not n else ",\n") + json.dumps(line, ensure_ascii=False))
                else:
                    fh.write(json.dumps(line, ensure_ascii=False) + "\n")
                n += 1
            if suffix == ".json":
                fh.write("\n]\n")
        if n:
            os.replace(tmp, out)
    finally:
        Path(tmp).unlink(missing_ok=True)
    return n
