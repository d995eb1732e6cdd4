"""Request validation against Google's own Sheets v4 discovery document (loaded from the installed
google-api-python-client, never copied).

Two views of the same document:

* :func:`json_schema` converts it to JSON Schema (``$ref`` -> definitions, ``any`` -> ``{}``, objects closed
  with ``additionalProperties: false``, every node nullable because proto3 JSON ``null`` means unset). Tests
  use it with ``jsonschema`` to cross-check responses and this module.
* :func:`validate` checks request bodies with validators compiled straight from the document: a fast
  boolean pass (a 240,000-cell updateCells body must not take jsonschema's tens of seconds), and only when
  that fails, a slow pass that collects Google-worded violations with proto field paths
  (``requests[0].add_sheet.properties``).
"""

from __future__ import annotations

import functools
import json
import os
import re
from collections.abc import Callable
from typing import Any

from sheetsync.emulator.errors import ApiError, invalid_argument

_TYPE_PREFIX = "type.googleapis.com/google.apps.sheets.v4."
_MAX_VIOLATIONS = 20


@functools.cache
def discovery() -> dict[str, Any]:
    """The bundled sheets.v4 discovery document."""
    import googleapiclient

    path = os.path.join(os.path.dirname(googleapiclient.__file__), "discovery_cache", "documents", "sheets.v4.json")
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


def schemas() -> dict[str, dict[str, Any]]:
    return discovery()["schemas"]


# ---- JSON Schema view ---------------------------------------------------------------------------------


def _convert(node: dict[str, Any]) -> dict[str, Any]:
    if "$ref" in node:
        out: dict[str, Any] = {"$ref": "#/definitions/" + node["$ref"]}
    else:
        t = node.get("type")
        if t == "any":
            out = {}
        elif t == "object":
            out = {"type": "object"}
            if "properties" in node:
                out["properties"] = {k: _convert(v) for k, v in node["properties"].items()}
                out["additionalProperties"] = False
            if "additionalProperties" in node:
                out["additionalProperties"] = _convert(node["additionalProperties"])
        elif t == "array":
            out = {"type": "array", "items": _convert(node["items"])}
        elif t == "integer":
            out = {"type": "integer"}
        elif t == "number":
            out = {"type": "number"}
        elif t == "boolean":
            out = {"type": "boolean"}
        else:
            out = {"type": "string"}
            if "enum" in node:
                out["enum"] = list(node["enum"])
    return {"anyOf": [{"type": "null"}, out]}


@functools.cache
def _definitions() -> dict[str, Any]:
    return {name: _convert(s) for name, s in schemas().items()}


def json_schema(name: str) -> dict[str, Any]:
    """A Draft 7 JSON Schema for one discovery schema (e.g. ``Spreadsheet``, ``BatchUpdateSpreadsheetRequest``)."""
    return {"$schema": "http://json-schema.org/draft-07/schema#", "$ref": f"#/definitions/{name}", "definitions": _definitions()}


# ---- fast boolean validators ----------------------------------------------------------------------------

Check = Callable[[Any], bool]
_compiled: dict[str, Check] = {}


def _is_int(x: Any) -> bool:
    t = type(x)
    if t is int:
        return True
    if t is float:
        return x.is_integer()
    if t is str:
        return bool(re.fullmatch(r"-?\d+", x))
    return False


def _is_num(x: Any) -> bool:
    t = type(x)
    return t is int or t is float or (t is str and _numeric_string(x))


def _numeric_string(x: str) -> bool:
    if x in ("NaN", "Infinity", "-Infinity"):
        return True
    try:
        float(x)
    except ValueError:
        return False
    return True


def _leaf(node: dict[str, Any]) -> Check:
    t = node.get("type")
    if t == "any":
        return lambda x: True
    if t == "integer":
        return lambda x: x is None or _is_int(x)
    if t == "number":
        return lambda x: x is None or _is_num(x)
    if t == "boolean":
        return lambda x: x is None or type(x) is bool
    if "enum" in node:
        allowed = frozenset(node["enum"])
        return lambda x: x is None or (type(x) is str and x in allowed)
    if node.get("format") == "int64":
        return lambda x: x is None or type(x) is str or type(x) is int
    return lambda x: x is None or type(x) is str


def _node_check(node: dict[str, Any]) -> Check:
    if "$ref" in node:
        name = node["$ref"]
        box: list[Check] = []

        def ref(x: Any) -> bool:
            if x is None:
                return True
            if not box:  # bind on first use: schemas refer to each other recursively
                box.append(_compiled_check(name))
            return box[0](x)

        return ref
    t = node.get("type")
    if t == "array":
        item = _node_check(node["items"])
        return lambda x: x is None or (type(x) is list and all(item(i) for i in x))
    if t == "object":
        if "properties" in node:
            return _object_check(node)
        if "additionalProperties" in node:
            value = _node_check(node["additionalProperties"])
            return lambda x: x is None or (type(x) is dict and all(value(v) for v in x.values()))
        return lambda x: x is None or type(x) is dict
    return _leaf(node)


def _object_check(node: dict[str, Any]) -> Check:
    fields: dict[str, Check] = {}
    for k, v in node.get("properties", {}).items():
        fields[k] = _node_check(v)
    get = fields.get

    def check(x: Any) -> bool:
        if x is None:
            return True
        if type(x) is not dict:
            return False
        for k, v in x.items():
            f = get(k)
            if f is None or not f(v):
                return False
        return True

    return check


def _compiled_check(name: str) -> Check:
    check = _compiled.get(name)
    if check is None:
        _compiled[name] = lambda x: _compiled[name](x)  # placeholder for recursive schemas
        check = _object_check(schemas()[name])
        _compiled[name] = check
    return check


# ---- slow pass with Google's wording ------------------------------------------------------------------


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)([A-Z])", r"_\1", name).lower()


def _type_name(node: dict[str, Any], field: str) -> str:
    if "$ref" in node:
        return _TYPE_PREFIX + node["$ref"]
    t = node.get("type")
    if t == "array":
        if node["items"].get("type") in ("array", "any"):
            return "type.googleapis.com/google.protobuf.ListValue"
        return _type_name(node["items"], field)
    if t == "integer":
        return "TYPE_INT32"
    if t == "number":
        return "TYPE_FLOAT" if node.get("format") == "float" else "TYPE_DOUBLE"
    if t == "boolean":
        return "TYPE_BOOL"
    if "enum" in node:
        return _TYPE_PREFIX + field[:1].upper() + field[1:]
    if node.get("format") == "int64":
        return "TYPE_INT64"
    return "TYPE_STRING"


def _bad_value(path: str, node: dict[str, Any], field: str, value: Any) -> str:
    shown = json.dumps(value, ensure_ascii=False)
    if len(shown) > 80:
        shown = shown[:77] + "..."
    return f"Invalid value at '{path}' ({_type_name(node, field)}), {shown}"


def _walk(value: Any, node: dict[str, Any], path: str, field: str, out: list[tuple[str, str]]) -> None:
    if value is None or len(out) >= _MAX_VIOLATIONS:
        return
    if "$ref" in node:
        target = schemas()[node["$ref"]]
        if type(value) is not dict:
            out.append((path, _bad_value(path, node, field, value)))
            return
        props = target.get("properties", {})
        for k, v in value.items():
            if k not in props:
                where = f" at '{path}'" if path else ""
                out.append((path, f'Invalid JSON payload received. Unknown name "{k}"{where}: Cannot find field.'))
                continue
            sub = f"{path}.{_snake(k)}" if path else _snake(k)
            _walk(v, props[k], sub, k, out)
        return
    t = node.get("type")
    if t == "array":
        if type(value) is not list:
            out.append((path, _bad_value(path, node, field, value)))
            return
        item = node["items"]
        check = _node_check(item)
        for i, v in enumerate(value):
            if not check(v):
                _walk(v, item, f"{path}[{i}]", field, out)
        return
    if t == "object":
        if type(value) is not dict:
            out.append((path, _bad_value(path, node, field, value)))
            return
        if "additionalProperties" in node:
            for k, v in value.items():
                _walk(v, node["additionalProperties"], f"{path}[{k}]", field, out)
        return
    if not _leaf(node)(value):
        out.append((path, _bad_value(path, node, field, value)))


def validate(body: Any, schema_name: str, root: str = "") -> None:
    """Raise a Google-shaped 400 INVALID_ARGUMENT if ``body`` does not fit ``schema_name``. ``root`` is the
    proto field the body binds to (``data`` for values.update), which Google puts in front of the path."""
    if body is None:
        return
    if _compiled_check(schema_name)(body):
        return
    violations: list[tuple[str, str]] = []
    _walk(body, {"$ref": schema_name}, root, "", violations)
    if not violations:  # the fast pass and the slow pass disagree: never hide it
        raise ApiError(500, "Internal error encountered.", "INTERNAL")
    message = "\n".join(desc for _, desc in violations)
    raise invalid_argument(message, violations)


def request_kinds() -> list[str]:
    """Every batchUpdate request kind the discovery document knows."""
    return list(schemas()["Request"]["properties"])
