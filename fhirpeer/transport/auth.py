"""Authentication for FHIR requests.

Every scheme is an :class:`Auth`: ``apply(headers)`` adds what a request needs, ``invalidate()`` forgets a
cached token after a 401 so that the next ``apply`` fetches a fresh one. Token schemes talk to their token
endpoint through the session given with :meth:`Auth.bind` (the FHIR client binds its own session, so TLS
settings are shared).

Settings come only from environment variables (:func:`auth_from_env`); secrets never appear in ``repr()``, log
records or error messages.
"""

from __future__ import annotations

import base64
import logging
import threading
import time
import uuid
from collections.abc import Callable, Mapping, MutableMapping
from pathlib import Path
from typing import Any

import jwt
import requests
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from .. import errors

__all__ = [
    "ASSERTION_TYPE",
    "Auth",
    "BasicAuth",
    "BearerToken",
    "ClientCredentials",
    "NoAuth",
    "SmartBackendServices",
    "auth_from_env",
    "discover_token_endpoint",
]

log = logging.getLogger("fhirpeer.auth")

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
#: Refresh a token this many seconds before it runs out (less for very short-lived tokens).
REFRESH_MARGIN = 60.0
#: Lifetime assumed when the token endpoint gives no ``expires_in``.
DEFAULT_TOKEN_LIFETIME = 300.0
#: Lifetime of a SMART client assertion (the specification allows at most five minutes).
ASSERTION_LIFETIME = 300
TOKEN_TIMEOUT = (5.0, 30.0)
DEFAULT_SMART_SCOPE = "system/*.write system/*.read"
SUPPORTED_JWT_ALGORITHMS = ("RS384", "ES384")

Clock = Callable[[], float]


class Auth:
    """Base of all authentication schemes; by itself it adds nothing."""

    def apply(self, headers: MutableMapping[str, str]) -> None:
        """Add authentication headers to an outgoing request's ``headers``."""

    def invalidate(self) -> None:
        """Forget cached credentials after the server answered 401 (the request is then retried once)."""

    def bind(self, session: requests.Session) -> None:
        """Use ``session`` for any HTTP call the scheme needs (token endpoints, discovery)."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class NoAuth(Auth):
    """No authentication (open test servers)."""


class BasicAuth(Auth):
    """HTTP Basic authentication."""

    def __init__(self, username: str, password: str) -> None:
        self.username = username
        self._password = password

    def apply(self, headers: MutableMapping[str, str]) -> None:
        """Add ``Authorization: Basic ...``."""
        pair = f"{self.username}:{self._password}".encode()
        headers["Authorization"] = "Basic " + base64.b64encode(pair).decode("ascii")

    def __repr__(self) -> str:
        return f"BasicAuth(username={self.username!r}, password=***)"


class BearerToken(Auth):
    """A static bearer token obtained outside fhirpeer."""

    def __init__(self, token: str) -> None:
        self._token = token

    def apply(self, headers: MutableMapping[str, str]) -> None:
        """Add ``Authorization: Bearer ...``."""
        headers["Authorization"] = f"Bearer {self._token}"

    def __repr__(self) -> str:
        return "BearerToken(token=***)"


def discover_token_endpoint(session: requests.Session, base_url: str, *, timeout: Any = TOKEN_TIMEOUT) -> str:
    """The ``token_endpoint`` of ``{base_url}/.well-known/smart-configuration``.

    Raises:
        AuthError: the document is missing, not JSON or has no ``token_endpoint``.
        ServerUnreachable: the server cannot be reached.
    """
    url = f"{base_url.rstrip('/')}/.well-known/smart-configuration"
    try:
        response = session.get(url, headers={"Accept": "application/json"}, timeout=timeout)
    except requests.RequestException as exc:
        raise errors.ServerUnreachable(f"SMART discovery at {_no_query(url)} failed: {type(exc).__name__}") from None
    if response.status_code != 200:
        raise errors.AuthError(
            f"SMART discovery at {_no_query(url)} refused: HTTP {response.status_code}; set FHIRPEER_TOKEN_URL",
            status=response.status_code,
        )
    endpoint = _json_or_none(response)
    token_endpoint = endpoint.get("token_endpoint") if isinstance(endpoint, dict) else None
    if not isinstance(token_endpoint, str) or not token_endpoint.startswith(("https://", "http://")):
        raise errors.AuthError(f"SMART discovery at {_no_query(url)} gave no token_endpoint; set FHIRPEER_TOKEN_URL")
    return token_endpoint


class _TokenAuth(Auth):
    """An OAuth2 ``client_credentials`` grant with a cached, refreshed access token."""

    def __init__(
        self,
        token_url: str | None,
        client_id: str,
        scope: str | None,
        *,
        base_url: str | None = None,
        session: requests.Session | None = None,
        clock: Clock = time.time,
    ) -> None:
        if not token_url and not base_url:
            raise errors.ConfigError(f"{type(self).__name__} needs a token URL or a FHIR base URL to discover it")
        self.token_url = token_url
        self.client_id = client_id
        self.scope = scope
        self._base_url = base_url
        self._session = session
        self._clock = clock
        self._token: str | None = None
        self._expires_at = 0.0
        self._lock = threading.Lock()
        self.tokens_fetched = 0

    def bind(self, session: requests.Session) -> None:
        """Use ``session`` for token requests unless one was given at construction."""
        if self._session is None:
            self._session = session

    def apply(self, headers: MutableMapping[str, str]) -> None:
        """Add ``Authorization: Bearer <access token>``, fetching a token when none is valid."""
        headers["Authorization"] = f"Bearer {self._valid_token()}"

    def invalidate(self) -> None:
        """Drop the cached token."""
        with self._lock:
            self._token = None
            self._expires_at = 0.0

    def _valid_token(self) -> str:
        with self._lock:
            if self._token is None or self._clock() >= self._expires_at:
                self._token, self._expires_at = self._fetch_token()
            return self._token

    def _http(self) -> requests.Session:
        if self._session is None:
            self._session = requests.Session()
        return self._session

    def _endpoint(self) -> str:
        if not self.token_url:
            assert self._base_url is not None  # guaranteed by __init__
            self.token_url = discover_token_endpoint(self._http(), self._base_url)
        return self.token_url

    def _token_form(self, endpoint: str) -> dict[str, str]:
        raise NotImplementedError

    def _token_request_auth(self) -> tuple[str, str] | None:
        return None

    def _fetch_token(self) -> tuple[str, float]:
        endpoint = self._endpoint()
        form = self._token_form(endpoint)
        if self.scope:
            form["scope"] = self.scope
        started = self._clock()
        try:
            response = self._http().post(
                endpoint,
                data=form,
                headers={"Accept": "application/json"},
                auth=self._token_request_auth(),
                timeout=TOKEN_TIMEOUT,
            )
        except requests.RequestException as exc:
            raise errors.ServerUnreachable(
                f"token endpoint {_no_query(endpoint)} unreachable: {type(exc).__name__}"
            ) from None
        return self._read_token_response(response, endpoint, started)

    def _read_token_response(self, response: requests.Response, endpoint: str, started: float) -> tuple[str, float]:
        status = response.status_code
        where = f"token endpoint {_no_query(endpoint)}"
        if status in (408, 429) or status >= 500:
            raise errors.TemporaryError(f"{where} failed: HTTP {status}", status=status)
        body = _json_or_none(response)
        if status != 200:
            error_code = body.get("error") if isinstance(body, dict) else None
            detail = f" ({error_code})" if isinstance(error_code, str) and error_code.isidentifier() else ""
            raise errors.AuthError(f"{where} refused the credentials: HTTP {status}{detail}", status=status)
        token = body.get("access_token") if isinstance(body, dict) else None
        if not isinstance(token, str) or not token:
            raise errors.AuthError(f"{where} answered HTTP {status} without an access_token", status=status)
        lifetime = _lifetime(body.get("expires_in") if isinstance(body, dict) else None)
        margin = min(REFRESH_MARGIN, lifetime / 2)
        self.tokens_fetched += 1
        log.debug("access token fetched from %s, valid %ss", _no_query(endpoint), lifetime)
        return token, started + lifetime - margin

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(token_url={self.token_url!r}, client_id={self.client_id!r}, "
            f"scope={self.scope!r}, credentials=***)"
        )


class ClientCredentials(_TokenAuth):
    """OAuth2 client credentials with a client secret.

    ``client_auth="post"`` (default) sends ``client_id``/``client_secret`` in the form body; ``"basic"`` sends
    them as HTTP Basic. ``token_url=None`` discovers it from ``base_url``'s SMART configuration on first use.
    """

    def __init__(
        self,
        token_url: str | None,
        client_id: str,
        client_secret: str,
        scope: str | None = None,
        *,
        client_auth: str = "post",
        base_url: str | None = None,
        session: requests.Session | None = None,
        clock: Clock = time.time,
    ) -> None:
        super().__init__(token_url, client_id, scope, base_url=base_url, session=session, clock=clock)
        if client_auth not in ("post", "basic"):
            raise errors.ConfigError("client_auth must be 'post' or 'basic'")
        self._client_secret = client_secret
        self.client_auth = client_auth

    def _token_form(self, endpoint: str) -> dict[str, str]:
        form = {"grant_type": "client_credentials"}
        if self.client_auth == "post":
            form.update(client_id=self.client_id, client_secret=self._client_secret)
        return form

    def _token_request_auth(self) -> tuple[str, str] | None:
        return (self.client_id, self._client_secret) if self.client_auth == "basic" else None


class SmartBackendServices(_TokenAuth):
    """SMART Backend Services: client credentials with a JWT client assertion (RS384 or ES384)."""

    def __init__(
        self,
        token_url: str | None,
        client_id: str,
        private_key_pem: str | bytes,
        kid: str,
        algorithm: str = "RS384",
        jku: str | None = None,
        scope: str | None = DEFAULT_SMART_SCOPE,
        *,
        base_url: str | None = None,
        session: requests.Session | None = None,
        clock: Clock = time.time,
    ) -> None:
        super().__init__(token_url, client_id, scope, base_url=base_url, session=session, clock=clock)
        if algorithm not in SUPPORTED_JWT_ALGORITHMS:
            raise errors.ConfigError(f"JWT algorithm must be one of {', '.join(SUPPORTED_JWT_ALGORITHMS)}")
        if not kid:
            raise errors.ConfigError("SMART backend services need a key id (FHIRPEER_KEY_ID)")
        self._private_key = _load_private_key(private_key_pem, algorithm)
        self.kid = kid
        self.algorithm = algorithm
        self.jku = jku

    def client_assertion(self, audience: str) -> str:
        """A signed JWT: iss = sub = client_id, aud = token endpoint, exp = now + 300 s, unique jti."""
        now = int(self._clock())
        claims = {
            "iss": self.client_id,
            "sub": self.client_id,
            "aud": audience,
            "exp": now + ASSERTION_LIFETIME,
            "jti": uuid.uuid4().hex,
        }
        headers = {"kid": self.kid, "typ": "JWT"}
        if self.jku:
            headers["jku"] = self.jku
        return jwt.encode(claims, self._private_key, algorithm=self.algorithm, headers=headers)

    def _token_form(self, endpoint: str) -> dict[str, str]:
        return {
            "grant_type": "client_credentials",
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": self.client_assertion(endpoint),
        }

    def __repr__(self) -> str:
        return (
            f"SmartBackendServices(token_url={self.token_url!r}, client_id={self.client_id!r}, "
            f"kid={self.kid!r}, algorithm={self.algorithm!r}, jku={self.jku!r}, scope={self.scope!r}, "
            "private_key=***)"
        )


def _load_private_key(pem: str | bytes, algorithm: str) -> rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey:
    data = pem.encode() if isinstance(pem, str) else pem
    try:
        key = load_pem_private_key(data, password=None)
    except (ValueError, TypeError):
        raise errors.ConfigError("the private key is not an unencrypted PEM private key") from None
    wanted = rsa.RSAPrivateKey if algorithm.startswith("RS") else ec.EllipticCurvePrivateKey
    if not isinstance(key, wanted):
        raise errors.ConfigError(f"the private key does not match the JWT algorithm {algorithm}")
    if isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.name != "secp384r1":
        raise errors.ConfigError("ES384 needs a P-384 (secp384r1) key")
    return key


def _lifetime(expires_in: object) -> float:
    try:
        value = float(expires_in)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return DEFAULT_TOKEN_LIFETIME
    return value if value > 0 else DEFAULT_TOKEN_LIFETIME


def _json_or_none(response: requests.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _no_query(url: str) -> str:
    return url.split("?", 1)[0]


# --- configuration from the environment ---------------------------------------------------------------

AUTH_MODES = ("none", "basic", "bearer", "client_credentials", "smart_backend")


def env_value(environ: Mapping[str, str], name: str, *, required: bool = False) -> str | None:
    """The value of ``name`` or the content of the file named by ``name_FILE`` (trailing newline removed).

    Raises ConfigError when both are set, the file cannot be read, or a required value is missing.
    """
    direct = environ.get(name)
    file_name = environ.get(f"{name}_FILE")
    if direct and file_name:
        raise errors.ConfigError(f"set either {name} or {name}_FILE, not both")
    value = direct
    if file_name:
        try:
            value = Path(file_name).read_text(encoding="utf-8").rstrip("\r\n")
        except OSError as exc:
            raise errors.ConfigError(f"{name}_FILE: cannot read {file_name} ({exc.strerror})") from None
    if required and not value:
        raise errors.ConfigError(
            f"{name} (or {name}_FILE) must be set for FHIRPEER_AUTH={environ.get('FHIRPEER_AUTH')}"
        )
    return value or None


def _private_key_from_env(environ: Mapping[str, str]) -> str:
    """The PEM key: FHIRPEER_PRIVATE_KEY_FILE (a path) or FHIRPEER_PRIVATE_KEY (the PEM text)."""
    pem = env_value(environ, "FHIRPEER_PRIVATE_KEY")
    if not pem:
        raise errors.ConfigError("FHIRPEER_PRIVATE_KEY_FILE must name the PEM private key for smart_backend")
    return pem


def auth_from_env(environ: Mapping[str, str], base_url: str, *, session: requests.Session | None = None) -> Auth:
    """Build the :class:`Auth` described by ``FHIRPEER_*`` environment variables.

    ``FHIRPEER_AUTH`` is one of none (default), basic, bearer, client_credentials, smart_backend. Token URLs
    are discovered from ``{base_url}/.well-known/smart-configuration`` on first use when
    ``FHIRPEER_TOKEN_URL`` is unset.
    """
    mode = (environ.get("FHIRPEER_AUTH") or "none").strip().lower()
    if mode not in AUTH_MODES:
        raise errors.ConfigError(f"FHIRPEER_AUTH must be one of {', '.join(AUTH_MODES)}, not {mode!r}")
    if mode == "none":
        return NoAuth()
    if mode == "basic":
        username = env_value(environ, "FHIRPEER_USERNAME", required=True)
        password = env_value(environ, "FHIRPEER_PASSWORD", required=True)
        return BasicAuth(str(username), str(password))
    if mode == "bearer":
        return BearerToken(str(env_value(environ, "FHIRPEER_BEARER_TOKEN", required=True)))
    token_url = env_value(environ, "FHIRPEER_TOKEN_URL")
    client_id = str(env_value(environ, "FHIRPEER_CLIENT_ID", required=True))
    scope = env_value(environ, "FHIRPEER_SCOPE")
    if mode == "client_credentials":
        secret = str(env_value(environ, "FHIRPEER_CLIENT_SECRET", required=True))
        return ClientCredentials(token_url, client_id, secret, scope, base_url=base_url, session=session)
    return SmartBackendServices(
        token_url,
        client_id,
        _private_key_from_env(environ),
        kid=str(env_value(environ, "FHIRPEER_KEY_ID", required=True)),
        algorithm=(env_value(environ, "FHIRPEER_JWT_ALG") or "RS384").upper(),
        jku=env_value(environ, "FHIRPEER_JKU"),
        scope=scope or DEFAULT_SMART_SCOPE,
        base_url=base_url,
        session=session,
    )
