"""Which content each of the expert's labels was given for.

This is the store's knowledge, checked against the sheet on every read, so that no cell the expert can
edit — the hidden key, the Status flag — is the only record of it. Push and pull observe every labelled
row the same way:

* a label seen before, unchanged, keeps the content it was given for — unless the row was flagged stale
  and the expert cleared its Status cell while the row showed the new content: then it was re-checked and
  counts for the new content (a tab without its Status column shows no flags at all, so nothing there
  counts as re-checked);
* a new or changed label was given for what the row shows now: the content its key names, when the key
  names this row's id; otherwise (the row's text is another row's, or unknown) for nothing sheetsync can
  vouch for — the label is kept, and counted again once the expert re-checks it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from sheetsync.annotate_sheet import SheetRow


@dataclass(frozen=True)
class LabelState:
    sig: str  # fingerprint of the expert's texts when last seen
    given_for: str  # content hash the label was given for ("" = unknown)
    flagged_for: str = ""  # content a stale flag is shown for ("" = not flagged)


def label_signature(expert: dict[str, str]) -> str:
    """Changes whenever any of the expert's texts changes (byte for byte)."""
    h = hashlib.sha256()
    for name in sorted(expert):
        h.update(name.encode() + b"\x1f" + expert[name].encode() + b"\x1e")
    return h.hexdigest()[:16]


def shown_content(row: SheetRow, *, key_missing: bool, remembered: str | None) -> str | None:
    """The content hash the row's cells show, as far as sheetsync can vouch for it: its key's, when the key
    names this id; without a key column, what sheetsync last wrote into this id's row."""
    if key_missing:
        return remembered
    return None if row.misplaced or row.key is None else row.key.content


def observe(
    row: SheetRow, before: LabelState | None, shown: str | None, *, flags_readable: bool = True
) -> LabelState | None:
    """The row's label state after this read (``None``: the row holds no label). ``flags_readable`` is
    false when the tab has no Status column (renamed or deleted): an empty flag then says nothing, so no
    stale label counts as re-checked."""
    if not row.labelled:
        return None
    sig = label_signature(row.expert)
    if before is not None and before.sig == sig:
        if before.flagged_for and flags_readable and not row.status.strip() and shown == before.flagged_for:
            return LabelState(sig, before.flagged_for)  # re-checked: the expert cleared the flag
        return before
    return LabelState(sig, shown or "", before.flagged_for if before else "")
