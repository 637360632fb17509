"""Google OAuth2 access tokens from google-auth credentials, as a fhirpeer :class:`~fhirpeer.auth.Auth`.

Needs the ``gcp`` extra (google-auth). The caller builds the credentials, e.g.
``google.oauth2.service_account.Credentials.from_service_account_file(path, scopes=[CLOUD_PLATFORM_SCOPE])`` or
``google.auth.default(scopes=[CLOUD_PLATFORM_SCOPE])[0]`` (which reads the environment, so it stays out of this
library). Tokens are refreshed by google-auth when they expire, and again after a 401.
"""

from __future__ import annotations

import threading
from collections.abc import MutableMapping
from typing import Any

import requests

from ... import errors
from ...transport.auth import Auth

__all__ = ["CLOUD_PLATFORM_SCOPE", "GoogleCredentials"]

#: The OAuth scope of the Cloud Healthcare API (https://cloud.google.com/healthcare-api/docs/reference/rest).
CLOUD_PLATFORM_SCOPE = "https://www.googleapis.com/auth/cloud-platform"


class GoogleCredentials(Auth):
    """Bearer tokens from a ``google.auth.credentials.Credentials`` object."""

    def __init__(self, credentials: Any) -> None:
        try:
            import google.auth.transport.requests  # noqa: F401
        except ImportError:  # pragma: no cover - depends on the installed extras
            raise errors.ConfigError("Google Cloud import needs google-auth: pip install 'fhirpeer[gcp]'") from None
        self._credentials = credentials
        self._session: requests.Session | None = None
        self._lock = threading.Lock()
        self._stale = False

    def bind(self, session: requests.Session) -> None:
        if self._session is None:
            self._session = session

    def apply(self, headers: MutableMapping[str, str]) -> None:
        """Add ``Authorization: Bearer …``, refreshing the token when it is missing, expired or refused."""
        from google.auth.exceptions import RefreshError
        from google.auth.transport.requests import Request

        with self._lock:
            if self._stale or not self._credentials.valid:
                try:
                    self._credentials.refresh(Request(self._session or requests.Session()))
                except RefreshError:
                    raise errors.AuthError("Google refused to issue an access token for the credentials") from None
                self._stale = False
            added: dict[str, str] = {}
            self._credentials.apply(added)  # google-auth writes a lower-case "authorization"
        headers["Authorization"] = next(v for k, v in added.items() if k.lower() == "authorization")

    def invalidate(self) -> None:
        with self._lock:
            self._stale = True

    def __repr__(self) -> str:
        return f"GoogleCredentials({type(self._credentials).__name__}, token=***)"
