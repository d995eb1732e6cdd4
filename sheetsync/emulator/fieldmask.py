"""Field masks in all three spellings Google accepts: ``a.b``, ``a/b`` and ``a(b,c)``.

A parsed mask is a tree ``{name: subtree}`` where ``None`` means "this whole field". Read masks project a
response (``fields=sheets.properties``); write masks say which fields an update request sets or clears
(``fields=userEnteredFormat(textFormat)`` must leave the value and the other format fields alone).
"""

from __future__ import annotations

import copy
import re
from typing import Any

from sheetsync.emulator.errors import invalid_argument

Mask = dict[str, Any]  # name -> Mask | None
_TOKEN_RE = re.compile(r"\s*([A-Za-z0-9_*@]+|[.,/()])")


def _camel(name: str) -> str:
    if "_" not in name:
        return name
    head, *rest = name.split("_")
    return head + "".join(p[:1].upper() + p[1:] for p in rest)


def parse_mask(text: str) -> Mask:
    """Parse ``a.b,c(d,e/f)`` into a tree; snake_case names are accepted and turned into camelCase."""
    tokens: list[str] = []
    pos = 0
    text = text.strip()
    while pos < len(text):
        m = _TOKEN_RE.match(text, pos)
        if not m:
            raise invalid_argument(f"Invalid field selection {text}")
        tokens.append(m.group(1))
        pos = m.end()
    tree: Mask = {}
    i = _parse_list(tokens, 0, tree, text)
    if i != len(tokens):
        raise invalid_argument(f"Invalid field selection {text}")
    return tree


def _insert(tree: Mask, path: list[str]) -> Mask | None:
    """Insert a path; returns the subtree at its end (None when that field is now whole)."""
    node: Mask | None = tree
    for k, name in enumerate(path):
        assert node is not None
        last = k == len(path) - 1
        if name in node and node[name] is None:
            return None
        if last:
            node.setdefault(name, {})
            return node[name]
        node = node.setdefault(name, {})
    return node


def _parse_list(tokens: list[str], i: int, tree: Mask, text: str) -> int:
    while i < len(tokens):
        path = []
        if tokens[i] in ",./()":
            raise invalid_argument(f"Invalid field selection {text}")
        path.append(_camel(tokens[i]))
        i += 1
        while i < len(tokens) and tokens[i] in "./":
            if i + 1 >= len(tokens) or tokens[i + 1] in ",./()":
                raise invalid_argument(f"Invalid field selection {text}")
            path.append(_camel(tokens[i + 1]))
            i += 2
        if i < len(tokens) and tokens[i] == "(":
            sub = _insert(tree, path)
            scratch: Mask = {}
            i = _parse_list(tokens, i + 1, scratch, text)
            if i >= len(tokens) or tokens[i] != ")":
                raise invalid_argument(f"Invalid field selection {text}")
            i += 1
            if sub is not None:
                _merge_trees(sub, scratch)
        else:
            _mark_whole(tree, path)
        if i < len(tokens) and tokens[i] == ",":
            i += 1
            continue
        break
    return i


def _mark_whole(tree: Mask, path: list[str]) -> None:
    node = tree
    for name in path[:-1]:
        if name in node and node[name] is None:
            return
        node = node.setdefault(name, {})
    node[path[-1]] = None


def _merge_trees(dst: Mask, src: Mask) -> None:
    for k, v in src.items():
        if v is None:
            dst[k] = None
        elif k in dst and dst[k] is None:
            continue
        elif k in dst:
            _merge_trees(dst[k], v)
        else:
            dst[k] = v
    # a node with an empty subtree means "whole" only when written bare; keep explicit empties as whole
    for k, v in list(dst.items()):
        if v == {}:
            dst[k] = None


def finalize(tree: Mask) -> Mask:
    """Empty subtrees (``a()`` or ``a`` reached only by prefix) mean the whole field."""
    for k, v in list(tree.items()):
        if v is not None:
            if v:
                finalize(v)
            else:
                tree[k] = None
    return tree


def project(obj: Any, tree: Mask | None) -> Any:
    """Read-side projection: keep only the fields in the mask (lists are projected element-wise)."""
    if tree is None or "*" in tree:
        return obj
    if isinstance(obj, list):
        return [project(x, tree) for x in obj]
    if isinstance(obj, dict):
        out = {}
        for k, sub in tree.items():
            if k in obj:
                out[k] = project(obj[k], sub)
        return out
    return obj


def apply_mask(target: dict | None, source: dict | None, tree: Mask | None) -> dict | None:
    """Write-side: a new dict with the masked fields taken from ``source`` (absent there = cleared).
    Never mutates its arguments, so stored dicts can be shared between cells."""
    if tree is None or "*" in tree:
        return copy.deepcopy(source) if source else None
    out = dict(target) if target else {}
    src = source or {}
    for k, sub in tree.items():
        if sub is None:
            if src.get(k) is not None:
                out[k] = copy.deepcopy(src[k])
            else:
                out.pop(k, None)
        else:
            merged = apply_mask(out.get(k) if isinstance(out.get(k), dict) else None, src.get(k), sub)
            if merged:
                out[k] = merged
            else:
                out.pop(k, None)
    return out or None


def mask(text: str | None) -> Mask | None:
    """Parse an optional mask string; None/empty means no mask."""
    if not text:
        return None
    return finalize(parse_mask(text))
