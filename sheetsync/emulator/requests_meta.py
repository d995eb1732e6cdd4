"""batchUpdate requests on names and developer metadata, and the DeveloperMetadataLookup matching that
spreadsheets.getByDataFilter and developerMetadata.search share."""

from __future__ import annotations

import copy
import re

from sheetsync.emulator.fieldmask import apply_mask
from sheetsync.emulator.model import new_id, new_int_id
from sheetsync.emulator.requests_base import Ctx, as_int, fields

_NAME_RE = re.compile(r"^[A-Za-z_\\][A-Za-z0-9_.]*$")


def _check_range_name(ctx: Ctx, name: str, skip: str | None = None) -> None:
    if not name or not _NAME_RE.match(name) or re.match(r"^[A-Za-z]{1,3}\d+$", name) or re.match(r"^[Rr]\d*[Cc]\d*$", name):
        raise ctx.fail(f'Invalid name "{name}" for a named range.')
    for nr in ctx.ss.named_ranges:
        if nr["name"].lower() == name.lower() and nr["namedRangeId"] != skip:
            raise ctx.fail(f"Named range with name {name} already exists.")


def add_named_range(ctx: Ctx, req: dict) -> dict:
    nr = copy.deepcopy(req.get("namedRange") or {})
    _check_range_name(ctx, nr.get("name", ""))
    sheet = ctx.grid(nr.get("range"))[0]
    nr["range"] = dict(nr.get("range") or {}, sheetId=sheet.sheet_id)
    if nr.get("namedRangeId"):
        if any(x["namedRangeId"] == nr["namedRangeId"] for x in ctx.ss.named_ranges):
            raise ctx.fail(f"Named range with id {nr['namedRangeId']} already exists.")
    else:
        nr["namedRangeId"] = new_id()[:12]
    nr = {"namedRangeId": nr["namedRangeId"], "name": nr["name"], "range": nr["range"]}
    ctx.ss.named_ranges.append(nr)
    return {"addNamedRange": {"namedRange": copy.deepcopy(nr)}}


def _find_named(ctx: Ctx, nrid: str | None) -> int:
    for i, nr in enumerate(ctx.ss.named_ranges):
        if nr["namedRangeId"] == nrid:
            return i
    raise ctx.fail(f"No named range with id {nrid}")


def update_named_range(ctx: Ctx, req: dict) -> None:
    tree = fields(ctx, req)
    src = req.get("namedRange") or {}
    i = _find_named(ctx, src.get("namedRangeId"))
    new = apply_mask(ctx.ss.named_ranges[i], src, tree) or {}
    new["namedRangeId"] = ctx.ss.named_ranges[i]["namedRangeId"]
    _check_range_name(ctx, new.get("name", ""), skip=new["namedRangeId"])
    ctx.grid(new.get("range"))
    ctx.ss.named_ranges[i] = new


def delete_named_range(ctx: Ctx, req: dict) -> None:
    del ctx.ss.named_ranges[_find_named(ctx, req.get("namedRangeId"))]


def normalize_location(ctx: Ctx, loc: dict) -> dict:
    if loc.get("spreadsheet"):
        return {"locationType": "SPREADSHEET", "spreadsheet": True}
    if "dimensionRange" in loc:
        dr = dict(loc["dimensionRange"])
        sheet, dim, start, end = ctx.dim_range(dr)
        return {"locationType": "ROW" if dim == "ROWS" else "COLUMN",
                "dimensionRange": {"sheetId": sheet.sheet_id, "dimension": dim, "startIndex": start, "endIndex": end}}
    if "sheetId" in loc:
        return {"locationType": "SHEET", "sheetId": ctx.sheet(loc["sheetId"]).sheet_id}
    raise ctx.fail("Developer metadata needs a location.")


def create_developer_metadata(ctx: Ctx, req: dict) -> dict:
    md = copy.deepcopy(req.get("developerMetadata") or {})
    if not md.get("metadataKey"):
        raise ctx.fail("Developer metadata must have a key.")
    if md.get("visibility") not in ("DOCUMENT", "PROJECT"):
        raise ctx.fail("Developer metadata must have a visibility of DOCUMENT or PROJECT.")
    md["location"] = normalize_location(ctx, md.get("location") or {})
    if md.get("metadataId") is not None:
        md["metadataId"] = as_int(md["metadataId"])
        if any(m["metadataId"] == md["metadataId"] for m in ctx.ss.developer_metadata):
            raise ctx.fail(f"Developer metadata with id {md['metadataId']} already exists.")
    else:
        md["metadataId"] = new_int_id()
    order = ["metadataId", "metadataKey", "metadataValue", "location", "visibility"]
    md = {k: md[k] for k in order if k in md}
    ctx.ss.developer_metadata.append(md)
    return {"createDeveloperMetadata": {"developerMetadata": copy.deepcopy(md)}}


def lookup_matches(md: dict, lookup: dict) -> bool:
    """DeveloperMetadataLookup matching (exact location matching)."""
    if "metadataId" in lookup and md["metadataId"] != as_int(lookup["metadataId"]):
        return False
    if "metadataKey" in lookup and md.get("metadataKey") != lookup["metadataKey"]:
        return False
    if "metadataValue" in lookup and md.get("metadataValue") != lookup["metadataValue"]:
        return False
    if "visibility" in lookup and md.get("visibility") != lookup["visibility"]:
        return False
    if "locationType" in lookup and md["location"].get("locationType") != lookup["locationType"]:
        return False
    loc = lookup.get("metadataLocation")
    if loc:
        mloc = md["location"]
        if loc.get("spreadsheet") and not mloc.get("spreadsheet"):
            return False
        if "sheetId" in loc and mloc.get("sheetId", (mloc.get("dimensionRange") or {}).get("sheetId")) != as_int(loc["sheetId"]):
            return False
        if "dimensionRange" in loc:
            want, have = loc["dimensionRange"], mloc.get("dimensionRange") or {}
            if any(have.get(k) != want.get(k) for k in ("sheetId", "dimension", "startIndex", "endIndex") if k in want):
                return False
    return True


def _metadata_matching(ctx: Ctx, data_filters: list[dict]) -> list[dict]:
    out = []
    for df in data_filters:
        lookup = df.get("developerMetadataLookup")
        if lookup is None:
            raise ctx.fail("Only developerMetadataLookup data filters are supported for developer metadata.")
        out.extend(m for m in ctx.ss.developer_metadata if lookup_matches(m, lookup) and m not in out)
    return out


def delete_developer_metadata(ctx: Ctx, req: dict) -> dict:
    gone = _metadata_matching(ctx, [req.get("dataFilter") or {}])
    ctx.ss.developer_metadata = [m for m in ctx.ss.developer_metadata if m not in gone]
    return {"deleteDeveloperMetadata": {"deletedDeveloperMetadata": gone}}


def update_developer_metadata(ctx: Ctx, req: dict) -> dict:
    tree = fields(ctx, req)
    src = dict(req.get("developerMetadata") or {})
    if "location" in src:
        src["location"] = normalize_location(ctx, src["location"])
    hits = _metadata_matching(ctx, req.get("dataFilters") or [])
    out = []
    for md in hits:
        new = apply_mask(md, src, tree) or {}
        new["metadataId"] = md["metadataId"]
        ctx.ss.developer_metadata[ctx.ss.developer_metadata.index(md)] = new
        out.append(new)
    return {"updateDeveloperMetadata": {"developerMetadata": out}}
