"""Identities: the fake OAuth endpoint, bearer tokens, service accounts without Drive storage, sharing."""

from __future__ import annotations

import functools

import gspread
import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from google.oauth2 import service_account
from gspread.http_client import HTTPClient

from sheetsync.backends.google_http import SheetsyncHTTPClient
from sheetsync.emulator.drive_access import STORAGE_MESSAGE
from tests.emulator.helpers import call, error, ok

SA = "labeller@sheetsync-test.iam.gserviceaccount.com"


@functools.cache
def _pem() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


class PlainClient(SheetsyncHTTPClient):
    """gspread's own HTTPClient, only routed to the emulator: no retries, so Google's answer surfaces as is
    (sheetsync's retry treats a usageLimits 403 as rate limiting; that is the client's business)."""

    def request(self, method, endpoint, *args, **kwargs):
        return HTTPClient.request(self, method, self.rewrite(endpoint), *args, **kwargs)


def sa_client(em, email: str = SA, subject: str | None = None) -> gspread.Client:
    """The real service-account flow: google-auth signs a JWT and trades it at the emulator's /token."""
    info = {"type": "service_account", "project_id": "p", "private_key_id": "k", "private_key": _pem(),
            "client_email": email, "client_id": "1", "token_uri": em.url + "/token"}
    creds = service_account.Credentials.from_service_account_info(
        info, scopes=["https://www.googleapis.com/auth/spreadsheets", "https://www.googleapis.com/auth/drive"],
        subject=subject)
    factory = functools.partial(PlainClient, emulator_host=em.address, timeout=5)
    return gspread.Client(auth=creds, http_client=factory)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_a_service_account_cannot_create_in_my_drive(sheets_emulator):
    gc = sa_client(sheets_emulator)
    with pytest.raises(gspread.exceptions.APIError) as info:
        gc.create("SA's own")
    body = info.value.response.json()["error"]
    assert info.value.response.status_code == 403 and body["message"] == STORAGE_MESSAGE
    assert body["errors"] == [{"message": STORAGE_MESSAGE, "domain": "usageLimits", "reason": "storageQuotaExceeded"}]
    assert sheets_emulator.state.spreadsheets == {}
    principal = sheets_emulator.identities.get(SA)
    assert principal.service_account and not principal.drive_storage
    resp = requests.post(sheets_emulator.url + "/v4/spreadsheets", json={}, headers=bearer(principal.token), timeout=5)
    assert error(resp, 403) == {"code": 403, "message": "The caller does not have permission",
                                "status": "PERMISSION_DENIED"}  # the Sheets API's own create refuses too
    entries = [e for e in sheets_emulator.request_log if e.kind == "token"]
    assert entries and entries[0].path == "/token"


def test_a_person_shares_with_the_service_account_which_then_edits(sheets_emulator, gspread_client):
    sh = gspread_client.create("Shared with the labeller")  # the anonymous user stands in for a person
    gc = sa_client(sheets_emulator)
    with pytest.raises(PermissionError):
        gc.open_by_key(sh.id)  # not shared yet: 403, the caller does not have permission
    sh.share(SA, perm_type="user", role="reader", notify=False)
    ws = gc.open_by_key(sh.id).sheet1
    with pytest.raises(gspread.exceptions.APIError, match="The caller does not have permission"):
        ws.update([["x"]], "A1")  # a reader may not write
    sh.share(SA, perm_type="user", role="writer", notify=False)
    ws.update([["labelled"]], "A1")
    assert sh.sheet1.get_all_values() == [["labelled"]]
    assert {e.identity for e in sheets_emulator.request_log if e.method == "PUT"} == {SA}


def test_an_old_service_account_with_storage_and_domain_wide_delegation(sheets_emulator):
    sheets_emulator.add_principal("legacy@old.iam.gserviceaccount.com", drive_storage=True)
    assert sa_client(sheets_emulator, "legacy@old.iam.gserviceaccount.com").create("Legacy").title == "Legacy"
    delegated = sa_client(sheets_emulator, subject="person@example.com")  # acts as the person: their storage
    sh = delegated.create("Delegated")
    assert sheets_emulator.spreadsheet(sh.id).owner == "person@example.com"


def test_refresh_tokens_unknown_tokens_and_bad_grants(sheets_emulator, gspread_client):
    person = sheets_emulator.add_principal("expert@example.com")
    assert not person.service_account and person.drive_storage
    got = requests.post(sheets_emulator.url + "/token", timeout=5,
                        data={"grant_type": "refresh_token", "refresh_token": person.refresh_token})
    assert got.status_code == 200 and got.json()["token_type"] == "Bearer"
    token = got.json()["access_token"]
    assert token.startswith("emulator-token-") and token == person.token
    made = ok(requests.post(sheets_emulator.url + "/drive/v3/files", headers=bearer(token), timeout=5,
                            json={"name": "Mine", "mimeType": "application/vnd.google-apps.spreadsheet"}))
    assert sheets_emulator.spreadsheet(made["id"]).owner == "expert@example.com"
    bad = requests.post(sheets_emulator.url + "/token", data={"grant_type": "refresh_token", "refresh_token": "x"},
                        timeout=5)
    assert bad.status_code == 400 and bad.json()["error"] == "invalid_grant"
    assert requests.post(sheets_emulator.url + "/token", timeout=5).json()["error"] == "unsupported_grant_type"
    sheets_err = error(requests.get(f"{sheets_emulator.url}/v4/spreadsheets/{made['id']}", headers=bearer("forged"),
                                    timeout=5), 401)
    assert sheets_err["status"] == "UNAUTHENTICATED" and "invalid authentication credentials" in sheets_err["message"]
    drive_err = error(requests.get(sheets_emulator.url + "/drive/v3/files", headers=bearer("forged"), timeout=5), 401)
    assert drive_err["errors"][0]["reason"] == "authError"


def test_sharing_notifies_by_default_and_can_fail_after_sharing(sheets_emulator, gspread_client):
    sh = gspread_client.create("Notify")
    url = f"/drive/v3/files/{sh.id}/permissions"
    ok(call(sheets_emulator, "POST", url, {"type": "user", "role": "writer", "emailAddress": "a@example.com"}))
    ok(call(sheets_emulator, "POST", url, {"type": "user", "role": "writer", "emailAddress": "b@example.com"},
            sendNotificationEmail="false"))
    ok(call(sheets_emulator, "POST", url, {"type": "domain", "role": "reader", "domain": "example.com"}))
    assert [n["emailAddress"] for n in sheets_emulator.notifications] == ["a@example.com"]
    sheets_emulator.fail_share_emails(emails=["c@example.com"])
    with pytest.raises(gspread.exceptions.APIError) as info:
        sh.share("c@example.com", perm_type="user", role="writer", notify=True)
    body = info.value.response.json()["error"]
    assert info.value.response.status_code == 400 and body["errors"][0]["reason"] == "invalidSharingRequest"
    assert "successfully shared but emails could not be sent to c@example.com" in body["message"]
    assert "c@example.com" in {p.get("emailAddress") for p in sh.list_permissions()}  # the share was made
    assert [n["emailAddress"] for n in sheets_emulator.notifications] == ["a@example.com"]
    sh.share("c@example.com", perm_type="user", role="writer", notify=True)  # the failure was used up
    assert [n["emailAddress"] for n in sheets_emulator.notifications] == ["a@example.com", "c@example.com"]
