"""Shared drives (where a service account can create), files.list corpora visibility, appProperties."""

from __future__ import annotations

import requests

from sheetsync.emulator import Emulator
from tests.emulator.helpers import error, ok
from tests.emulator.test_identity import SA, sa_client

SHEET = "application/vnd.google-apps.spreadsheet"


def drive_call(em, method: str, path: str, token: str | None = None, body=None, **params) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return requests.request(method, em.url + "/drive/v3/files" + path, json=body, params=params or None,
                            headers=headers, timeout=10)


def test_a_service_account_creates_in_a_shared_drive_folder(sheets_emulator):
    drive = sheets_emulator.add_shared_drive("Labelling", members=[SA, "expert@example.com"])
    folder = sheets_emulator.add_folder("Runs", parent=drive)
    gc = sa_client(sheets_emulator)
    sh = gc.create("Run 1", folder_id=folder)  # gspread sends supportsAllDrives=True
    got = sheets_emulator.spreadsheet(sh.id)
    assert (got.drive_id, got.owner, got.parents) == (drive, None, [folder])
    assert gc.open("Run 1").id == sh.id  # corpora=user lists what the caller created
    token = sheets_emulator.identities.get(SA).token
    meta = ok(drive_call(sheets_emulator, "GET", f"/{sh.id}", token, supportsAllDrives="true",
                         fields="id,driveId,owners,parents"))
    assert meta == {"id": sh.id, "driveId": drive, "parents": [folder]}  # the drive owns it: no owners


def test_a_shared_drive_parent_needs_supports_all_drives_and_membership(sheets_emulator):
    drive = sheets_emulator.add_shared_drive("Team", members=[SA])
    folder = sheets_emulator.add_folder("F", parent=drive)
    token = sheets_emulator.add_principal(SA).token
    body = {"name": "x", "mimeType": SHEET, "parents": [folder]}
    err = error(drive_call(sheets_emulator, "POST", "", token, body), 404)
    assert err["message"] == f"File not found: {folder}." and err["errors"][0]["reason"] == "notFound"
    ok(drive_call(sheets_emulator, "POST", "", token, body, supportsAllDrives="true"))
    outsider = sheets_emulator.add_principal("other@x.iam.gserviceaccount.com")
    error(drive_call(sheets_emulator, "POST", "", outsider.token, body, supportsAllDrives="true"), 404)
    my_drive_folder = ok(drive_call(sheets_emulator, "POST", "", None, {"name": "Shared folder",
                                                                         "mimeType": "application/vnd.google-apps.folder"}))
    ok(drive_call(sheets_emulator, "POST", f"/{my_drive_folder['id']}/permissions", None,
                  {"type": "user", "role": "writer", "emailAddress": SA}))
    refused = drive_call(sheets_emulator, "POST", "", token, dict(body, parents=[my_drive_folder["id"]]),
                         supportsAllDrives="true")
    assert error(refused, 403)["errors"][0]["reason"] == "storageQuotaExceeded"  # a shared My Drive folder won't do


def test_files_list_corpora_and_shared_drive_visibility(sheets_emulator):
    drive = sheets_emulator.add_shared_drive("Team", members=[SA, "expert@example.com"])
    sa = sheets_emulator.add_principal(SA)
    expert = sheets_emulator.add_principal("expert@example.com")
    made = ok(drive_call(sheets_emulator, "POST", "", sa.token, {"name": "Run", "mimeType": SHEET, "parents": [drive]},
                         supportsAllDrives="true"))

    def names(token, **params):
        return [f["name"] for f in ok(drive_call(sheets_emulator, "GET", "", token, **params))["files"]]

    both = {"supportsAllDrives": "true", "includeItemsFromAllDrives": "true"}
    assert names(sa.token, **both) == ["Run"]  # created it
    assert names(expert.token, **both) == []  # corpora=user: never created or opened it
    assert names(expert.token, corpora="allDrives", **both) == ["Run"]
    assert names(expert.token, corpora="drive", driveId=drive, **both) == ["Run"]
    assert names(expert.token, corpora="allDrives", includeItemsFromAllDrives="true") == []  # app lacks supportsAllDrives
    refused = error(drive_call(sheets_emulator, "GET", "", expert.token, corpora="allDrives", supportsAllDrives="true"), 403)
    assert refused["message"].startswith("The includeItemsFromAllDrives parameter must be set to true")
    assert error(drive_call(sheets_emulator, "GET", "", expert.token, driveId=drive, **both), 403)["errors"][0][
        "reason"] == "teamDriveIdRequiresTeamDriveCorpora"
    error(drive_call(sheets_emulator, "GET", f"/{made['id']}", expert.token), 404)  # no supportsAllDrives: not found
    ok(drive_call(sheets_emulator, "GET", f"/{made['id']}", expert.token, supportsAllDrives="true"))
    assert names(expert.token, **both) == ["Run"]  # opened now, so corpora=user lists it


def test_app_properties_on_create_in_q_and_in_fields(sheets_emulator):
    body = {"name": "Tagged", "mimeType": SHEET, "appProperties": {"sheetsync": "ws-1"}}
    made = ok(drive_call(sheets_emulator, "POST", "", None, body))
    assert "appProperties" not in made  # only when fields asks
    ok(drive_call(sheets_emulator, "POST", "", None, {"name": "Other", "mimeType": SHEET,
                                                       "appProperties": {"sheetsync": "ws-2"}}))
    q = "appProperties has { key='sheetsync' and value='ws-1' } and trashed = false"
    found = ok(drive_call(sheets_emulator, "GET", "", None, q=q, fields="files(id,name,appProperties)"))["files"]
    assert found == [{"id": made["id"], "name": "Tagged", "appProperties": {"sheetsync": "ws-1"}}]
    ok(drive_call(sheets_emulator, "PATCH", f"/{made['id']}", None, {"appProperties": {"sheetsync": None, "k": "v"}}))
    got = ok(drive_call(sheets_emulator, "GET", f"/{made['id']}", None, fields="appProperties"))
    assert got == {"appProperties": {"k": "v"}}
    assert ok(drive_call(sheets_emulator, "GET", "", None, q=q))["files"] == []
    too_long = {"name": "x", "mimeType": SHEET, "appProperties": {"k": "v" * 124}}
    assert error(drive_call(sheets_emulator, "POST", "", None, too_long), 400)["errors"][0]["location"] == "appProperties.k"
    assert error(drive_call(sheets_emulator, "GET", "", None, q="appProperties has { key='k' }"), 400)[
        "errors"][0]["location"] == "q"


def test_drive_facts_survive_a_restart(tmp_path):
    state = tmp_path / "s.json"
    with Emulator(state_file=state) as em:
        drive = em.add_shared_drive("Kept", members=[SA])
        token = em.add_principal(SA).token
        made = ok(drive_call(em, "POST", "", token, {"name": "In drive", "mimeType": SHEET, "parents": [drive],
                                                     "appProperties": {"a": "b"}}, supportsAllDrives="true"))
    with Emulator(state_file=state) as em:
        ss = em.spreadsheet(made["id"])
        assert (ss.drive_id, ss.app_properties, ss.owner) == (drive, {"a": "b"}, None)
        assert em.state.shared_drives[drive]["members"] == [SA]


def test_identity_and_drive_controls_over_http(sheets_emulator):
    from tests.emulator.helpers import call

    p = ok(call(sheets_emulator, "POST", "/_emulator/principals", {"email": SA}))
    assert p["service_account"] and not p["drive_storage"] and p["token"].startswith("emulator-token-")
    drive = ok(call(sheets_emulator, "POST", "/_emulator/shared-drives", {"name": "D", "members": [SA]}))["id"]
    folder = ok(call(sheets_emulator, "POST", "/_emulator/folders", {"name": "F", "parent": drive}))["id"]
    ok(drive_call(sheets_emulator, "POST", "", p["token"], {"name": "S", "mimeType": SHEET, "parents": [folder]},
                  supportsAllDrives="true"))
    ok(call(sheets_emulator, "POST", "/_emulator/share-email-failures", {"count": 1}))
    assert ok(call(sheets_emulator, "GET", "/_emulator/notifications")) == {"notifications": []}
    assert error(call(sheets_emulator, "POST", "/_emulator/folders", {"name": "F", "parent": "nope"}), 404)
