"""Drive v3: create, open, list (q, fields, paging), delete, copy, share."""

from __future__ import annotations

import gspread
import pytest

from tests.emulator.helpers import call, error, ok


def test_create_open_list_delete(gspread_client, sheets_emulator):
    folder = ok(call(sheets_emulator, "POST", "/drive/v3/files", {"name": "F", "mimeType": "application/vnd.google-apps.folder"}))
    a = gspread_client.create("Alpha", folder_id=folder["id"])
    b = gspread_client.create("Beta")
    assert gspread_client.open("Alpha").id == a.id
    assert gspread_client.open_by_url(f"https://docs.google.com/spreadsheets/d/{b.id}/edit").title == "Beta"
    names = {f["name"] for f in gspread_client.list_spreadsheet_files()}
    assert names == {"Alpha", "Beta"}
    assert [f["name"] for f in gspread_client.list_spreadsheet_files(folder_id=folder["id"])] == ["Alpha"]
    raw = ok(call(sheets_emulator, "GET", "/drive/v3/files", q=f"'{folder['id']}' in parents and not name contains 'x'"))
    assert [f["id"] for f in raw["files"]] == [a.id] and raw["kind"] == "drive#fileList"
    page = ok(call(sheets_emulator, "GET", "/drive/v3/files", pageSize=1, fields="nextPageToken,files(id)"))
    assert set(page) == {"nextPageToken", "files"} and set(page["files"][0]) == {"id"}
    rest = ok(call(sheets_emulator, "GET", "/drive/v3/files", pageSize=5, pageToken=page["nextPageToken"]))
    assert len(rest["files"]) == 2 and "nextPageToken" not in rest
    got = ok(call(sheets_emulator, "GET", f"/drive/v3/files/{a.id}", fields="id,name,parents,modifiedTime"))
    assert got["parents"] == [folder["id"]] and got["name"] == "Alpha"
    assert a.get_lastUpdateTime()
    gspread_client.del_spreadsheet(b.id)
    with pytest.raises(gspread.exceptions.SpreadsheetNotFound):
        gspread_client.open("Beta")
    err = error(call(sheets_emulator, "DELETE", f"/drive/v3/files/{b.id}"), 404)
    assert err["errors"][0]["reason"] == "notFound"
    assert error(call(sheets_emulator, "GET", "/drive/v3/files", q="name == 'x'"), 400)["errors"][0]["location"] == "q"


def test_copy_and_share(gspread_client):
    src = gspread_client.create("Source")
    src.sheet1.update([["v"]], "A1")
    dup = gspread_client.copy(src.id, title="Copied")
    assert dup.title == "Copied" and dup.sheet1.get_all_values() == [["v"]]
    src.share("expert@example.com", perm_type="user", role="writer", notify=False)
    src.share("example.com", perm_type="domain", role="reader", notify=False)
    perms = src.list_permissions()
    assert {(p["type"], p["role"]) for p in perms} == {("user", "owner"), ("user", "writer"), ("domain", "reader")}
    writer = next(p for p in perms if p["role"] == "writer")
    src.remove_permissions("expert@example.com")
    assert writer["id"] not in {p["id"] for p in src.list_permissions()}
    assert gspread_client.export(src.id, gspread.utils.ExportFormat.CSV) == b"v\r\n"
