"""Who is calling: principals, the fake OAuth token endpoint, and bearer tokens on requests.

* ``POST /token`` trades Google's OAuth grants for an access token naming a principal:
  ``grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer`` (the service-account flow: google-auth signs
  a JWT whose ``iss`` is the service account's email, ``sub`` the user it impersonates under domain-wide
  delegation) or ``grant_type=refresh_token`` (a user's OAuth / ADC credentials; the refresh token must
  be one :meth:`Identities.add` issued). The JWT's signature is not checked (the emulator has no keys).
  Bad grants get Google's OAuth error body, ``{"error": "invalid_grant", ...}`` (RFC 6749 §5.2).
* A request carrying ``Authorization: Bearer <token>`` acts as that token's principal; an unknown token
  is 401 UNAUTHENTICATED with Google's wording (sheets-api.md §5.3). A request with no credentials is the
  anonymous user: one user for quotas, the owner of what it creates, allowed to open everything (the
  emulator's own superuser, so tests that never think about identity keep working).
* A principal is a service account when registered so (``add_principal(email, service_account=True)``)
  or, unregistered, when its email ends in ``.iam.gserviceaccount.com``. Service accounts have **no Drive
  storage** by default (Google's rule since 2025: n8n-io/n8n#26050 quoting the shared-drives guide,
  burnash/gspread#1568, #1592): they can create files only inside shared drives. ``drive_storage=True``
  models an older service account that still has its 15 GB.
"""

from __future__ import annotations

import base64
import binascii
import json
import secrets
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

from sheetsync.emulator.errors import ApiError

SA_SUFFIX = ".iam.gserviceaccount.com"
ANONYMOUS = "anonymous"
ANONYMOUS_EMAIL = "emulator@sheetsync.local"  # the owner of files the anonymous user creates
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
UNAUTHENTICATED = ("Request had invalid authentication credentials. Expected OAuth 2 access token, login "
                   "cookie or other valid authentication credential. See "
                   "https://developers.google.com/identity/sign-in/web/devconsole-project.")


@dataclass
class Principal:
    email: str
    service_account: bool = False
    drive_storage: bool = True
    refresh_token: str | None = None
    tokens: list[str] = field(default_factory=list)

    @property
    def anonymous(self) -> bool:
        return self.email == ANONYMOUS_EMAIL

    @property
    def identity(self) -> str:
        """The name the request log and the quota buckets use."""
        return ANONYMOUS if self.anonymous else self.email

    @property
    def token(self) -> str:
        """The principal's latest access token (``Authorization: Bearer <token>``)."""
        return self.tokens[-1]


ANONYMOUS_PRINCIPAL = Principal(ANONYMOUS_EMAIL)


def unauthenticated(drive: bool) -> ApiError:
    if drive:  # Drive keeps the older errors[] list
        errors = [{"message": "Invalid Credentials", "domain": "global", "reason": "authError",
                   "location": "Authorization", "locationType": "header"}]
        return ApiError(401, UNAUTHENTICATED, "UNAUTHENTICATED", errors=errors,
                        headers={"WWW-Authenticate": 'Bearer realm="https://accounts.google.com/"'})
    return ApiError(401, UNAUTHENTICATED, "UNAUTHENTICATED",
                    headers={"WWW-Authenticate": 'Bearer realm="https://accounts.google.com/"'})


class OAuthError(Exception):
    def __init__(self, status: int, error: str, description: str) -> None:
        super().__init__(description)
        self.status, self.body = status, {"error": error, "error_description": description}


class Identities:
    """The principals the emulator knows and the tokens it issued (thread-safe)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.principals: dict[str, Principal] = {}
        self.by_token: dict[str, Principal] = {}
        self.by_refresh: dict[str, Principal] = {}

    def clear(self) -> None:
        with self.lock:
            self.principals.clear()
            self.by_token.clear()
            self.by_refresh.clear()

    def add(self, email: str, *, service_account: bool | None = None, drive_storage: bool | None = None) -> Principal:
        """Register (or re-configure) a principal and give it an access token and a refresh token."""
        with self.lock:
            return self._add(email, service_account, drive_storage)

    def _add(self, email: str, service_account: bool | None, drive_storage: bool | None) -> Principal:
        email = email.strip()
        if not email or "@" not in email:
            raise ValueError(f"a principal needs an email address, not {email!r}")
        p = self.principals.get(email.lower())
        if p is None:
            p = Principal(email)
            self.principals[email.lower()] = p
            p.refresh_token = "emulator-refresh-" + secrets.token_hex(8)
            self.by_refresh[p.refresh_token] = p
            self._issue(p)
        if service_account is not None:
            p.service_account = service_account
        elif email.lower().endswith(SA_SUFFIX):
            p.service_account = True
        p.drive_storage = drive_storage if drive_storage is not None else not p.service_account
        return p

    def _issue(self, p: Principal) -> str:
        token = "emulator-token-" + secrets.token_hex(12)
        p.tokens.append(token)
        self.by_token[token] = p
        return token

    def get(self, email: str) -> Principal | None:
        with self.lock:
            return self.principals.get(email.strip().lower())

    def caller(self, headers: Mapping[str, str] | None, drive: bool) -> Principal:
        """The principal a request acts as; 401 for a bearer token the emulator never issued."""
        auth = (headers or {}).get("Authorization") or ""
        scheme, _, token = auth.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            return ANONYMOUS_PRINCIPAL
        with self.lock:
            p = self.by_token.get(token)
        if p is None:
            raise unauthenticated(drive)
        return p

    # -- POST /token
    def grant(self, data: bytes) -> dict[str, Any]:
        """Answer an OAuth token request; raises :class:`OAuthError` with Google's error body."""
        form = {k: v[0] for k, v in parse_qs(data.decode("utf-8", "replace")).items()}
        grant_type = form.get("grant_type")
        with self.lock:
            if grant_type == JWT_BEARER:
                claims = _jwt_claims(form.get("assertion") or "")
                email = claims.get("sub") or claims.get("iss")
                if not isinstance(email, str) or "@" not in email:
                    raise OAuthError(400, "invalid_grant", "Invalid JWT: the iss claim is not an email address.")
                p = self.principals.get(email.lower()) or self._add(email, None, None)
            elif grant_type == "refresh_token":
                p = self.by_refresh.get(form.get("refresh_token") or "")
                if p is None:
                    raise OAuthError(400, "invalid_grant", "Token has been expired or revoked.")
            else:
                raise OAuthError(400, "unsupported_grant_type", f"Invalid grant_type: {grant_type or ''}")
            token = self._issue(p)
        return {"access_token": token, "expires_in": 3599, "token_type": "Bearer"}


def _jwt_claims(assertion: str) -> dict[str, Any]:
    parts = assertion.split(".")
    if len(parts) != 3:
        raise OAuthError(400, "invalid_grant", "Invalid JWT: Token must be a short-lived token and in a reasonable timeframe.")
    try:
        payload = base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4))
        claims = json.loads(payload)
    except (binascii.Error, ValueError):
        raise OAuthError(400, "invalid_grant", "Invalid JWT Signature.") from None
    if not isinstance(claims, dict):
        raise OAuthError(400, "invalid_grant", "Invalid JWT Signature.")
    return claims
