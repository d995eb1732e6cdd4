"""Names a workbook scopes to its tabs: which tabs sheetsync made (a hidden name on each), and the header
rows a tab prints on every page (``_xlnm.Print_Titles``).

Excel and LibreOffice keep a tab-scoped name when the tab is renamed or moved (the writer remaps
``localSheetId`` when it moves tabs), and the expert never sees it. A tab without it is the expert's, and a
write that would rebuild it is refused — as on Google, where a developer-metadata mark does the same.
"""

from __future__ import annotations

from typing import Any

from lxml import etree

from sheetsync.backends.xlsx_package import MAIN_NS

OWNER_NAME = "_sheetsync_tab"
_M = f"{{{MAIN_NS}}}"
# workbook.xml's children that come before <definedNames> (the schema fixes their order)
_BEFORE_NAMES = {"fileVersion", "fileSharing", "workbookPr", "workbookProtection", "bookViews", "sheets",
                 "functionGroups", "externalReferences"}


def owned(workbook: Any, index: int) -> bool:
    """Whether the tab at ``index`` (in ``<sheets>``) carries :data:`OWNER_NAME`."""
    names = workbook.find(f"{_M}definedNames")
    return names is not None and any(
        n.get("name") == OWNER_NAME and n.get("localSheetId") == str(index) for n in names
    )


def mark_owned(workbook: Any, indices: list[int]) -> None:
    """Give the tabs at ``indices`` the mark (those that have it keep one)."""
    if not indices:
        return
    names = workbook.find(f"{_M}definedNames")
    if names is None:
        names = etree.Element(f"{_M}definedNames")
        after = [i for i, el in enumerate(workbook) if etree.QName(el).localname in _BEFORE_NAMES]
        workbook.insert(after[-1] + 1 if after else 0, names)
    have = {n.get("localSheetId") for n in names if n.get("name") == OWNER_NAME}
    for index in map(str, indices):
        if index not in have:
            el = etree.SubElement(names, f"{_M}definedName", name=OWNER_NAME, localSheetId=index, hidden="1")
            el.text = '"sheetsync"'


def set_tab_name(workbook: Any, name: str, index: int, text: str | None) -> None:
    """Make the name ``name`` scoped to the tab at ``index`` say ``text`` (None: remove it)."""
    names = workbook.find(f"{_M}definedNames")
    found = [] if names is None else [n for n in names if n.get("name") == name and n.get("localSheetId") == str(index)]
    for el in found[1 if text is not None else 0:]:
        names.remove(el)
    if text is None:
        return
    if names is None:
        names = etree.Element(f"{_M}definedNames")
        after = [i for i, el in enumerate(workbook) if etree.QName(el).localname in _BEFORE_NAMES]
        workbook.insert(after[-1] + 1 if after else 0, names)
    el = found[0] if found else etree.SubElement(names, f"{_M}definedName", name=name, localSheetId=str(index))
    el.text = text
