"""The developer metadata that gives the Annotate tab's columns and new rows an identity. Pure: no I/O.

A column or row keeps its developer metadata as it moves: the metadata "will remain associated at those
locations as they move around and the spreadsheet is edited … If the associated object is deleted its
metadata is deleted too" (DeveloperMetadata, sheets.v4 discovery document; sheets-api.md §4). So a write
addressed by a column's metadata (``values:batchUpdateByDataFilter``) lands in that column wherever the
expert moved it, and in no column at all once the expert deleted it. See google_identity for the writes.

Metadata is created only where its position cannot be stale: on a tab or column created by the same
atomic ``batchUpdate`` (positions sheetsync chose itself), or — for a tab an earlier sheetsync made — on
the column whose header a one-request read showed, checked again by the next such read before any write
goes through it.
"""

from __future__ import annotations

from typing import Any

Request = dict[str, Any]

#: On a column of the Annotate tab: the column's header (its role), e.g. "Critique".
COLUMN_KEY = "sheetsync.column"


def _dimension_mark(sheet_id: int, dimension: str, index: int, key: str, value: str) -> Request:
    return {"createDeveloperMetadata": {"developerMetadata": {
        "metadataKey": key, "metadataValue": value, "visibility": "DOCUMENT",
        "location": {"dimensionRange": {"sheetId": sheet_id, "dimension": dimension, "startIndex": index,
                                        "endIndex": index + 1}}}}}


def column_marks(sheet_id: int, marks: dict[int, str], *, replace: bool = False) -> list[Request]:
    """Mark these columns. ``replace`` first removes any mark with the same value elsewhere (a column the
    expert cleared the header of keeps no mark once sheetsync adds the column again)."""
    gone = [{"deleteDeveloperMetadata": {"dataFilter": {"developerMetadataLookup": {
        "metadataKey": COLUMN_KEY, "metadataValue": h}}}} for _, h in sorted(marks.items())] if replace else []
    return gone + [_dimension_mark(sheet_id, "COLUMNS", c, COLUMN_KEY, h) for c, h in sorted(marks.items())]


def delete_metadata(metadata_ids: list[int]) -> list[Request]:
    return [{"deleteDeveloperMetadata": {"dataFilter": {"developerMetadataLookup": {"metadataId": m}}}}
            for m in metadata_ids]
