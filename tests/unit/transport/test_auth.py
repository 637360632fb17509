"""Authentication schemes, token caching, SMART backend assertions and configuration from the environment."""

from __future__ import annotations

import base64
import time
from pathlib import Path
from urllib.parse import parse_qs

import jwt
import pytest
import requests
import responses
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from fhirpeer import errors
from fhirpeer.transport.auth import (
    ASSERTION_TYPE,
    BasicAuth,
    BearerToken,
    ClientCredentials,
    NoAuth,
    SmartBackendServices,
    auth_from_env,
    discover_token_endpoint,
)

BASE = "http://fhir.test/fhir"
TOKEN_URL = "https://auth.test/oauth2/token"
SECRET = "s3cr3t-Value-never-shown"


class FakeClock:
    """A settable clock for token expiry tests."""

    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def pem_of(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def ec_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP384R1())


def form_of(call: responses.Call) -> dict[str, str]:
    body = call.request.body
    text = body.decode() if isinstance(body, bytes) else str(body)
    return {k: v[0] for k, v in parse_qs(text).items()}


def token_reply(token: str, expires_in: int | None = 3600) -> dict[str, object]:
    body: dict[str, object] = {"access_token": token, "token_type": "bearer"}
    if expires_in is not None:
        body["expires_in"] = expires_in
    return body


# --- static schemes -----------------------------------------------------------------------------------


def test_no_auth_adds_nothing() -> None:
    headers: dict[str, str] = {}
    NoAuth().apply(headers)
    assert headers == {}


def test_basic_auth_header_and_repr() -> None:
    headers: dict[str, str] = {}
    auth = BasicAuth("peer-sync", SECRET)

    auth.apply(headers)

    assert headers["Authorization"] == "Basic " + base64.b64encode(f"peer-sync:{SECRET}".encode()).decode()
    assert SECRET not in repr(auth)
    assert "peer-sync" in repr(auth)


def test_bearer_token_header_and_repr() -> None:
    headers: dict[str, str] = {}
    auth = BearerToken(SECRET)

    auth.apply(headers)

    assert headers == {"Authorization": f"Bearer {SECRET}"}
    assert SECRET not in repr(auth)


# --- client credentials -------------------------------------------------------------------------------


@responses.activate
def test_client_credentials_form_post_and_cached_token() -> None:
    responses.post(TOKEN_URL, json=token_reply("tok-1"))
    auth = ClientCredentials(TOKEN_URL, "fhirpeer", SECRET, "system/Encounter.write")

    first: dict[str, str] = {}
    second: dict[str, str] = {}
    auth.apply(first)
    auth.apply(second)

    assert first["Authorization"] == second["Authorization"] == "Bearer tok-1"
    assert len(responses.calls) == 1
    assert form_of(responses.calls[0]) == {
        "grant_type": "client_credentials",
        "client_id": "fhirpeer",
        "client_secret": SECRET,
        "scope": "system/Encounter.write",
    }


@responses.activate
def test_client_credentials_basic_client_auth() -> None:
    responses.post(TOKEN_URL, json=token_reply("tok-1"))
    auth = ClientCredentials(TOKEN_URL, "fhirpeer", SECRET, client_auth="basic")

    auth.apply({})

    request = responses.calls[0].request
    assert request.headers["Authorization"].startswith("Basic ")
    assert "client_secret" not in form_of(responses.calls[0])


@responses.activate
def test_token_refreshed_about_a_minute_before_expiry() -> None:
    responses.post(TOKEN_URL, json=token_reply("tok-1", 3600))
    responses.post(TOKEN_URL, json=token_reply("tok-2", 3600))
    clock = FakeClock()
    auth = ClientCredentials(TOKEN_URL, "fhirpeer", SECRET, clock=clock)
    start = clock.now
    headers: dict[str, str] = {}

    auth.apply(headers)
    clock.now = start + 3600 - 61
    auth.apply(headers)
    assert headers["Authorization"] == "Bearer tok-1"
    assert len(responses.calls) == 1

    clock.now = start + 3600 - 59
    auth.apply(headers)
    assert headers["Authorization"] == "Bearer tok-2"
    assert len(responses.calls) == 2


@responses.activate
def test_short_lived_tokens_are_refreshed_at_half_life() -> None:
    responses.post(TOKEN_URL, json=token_reply("tok-1", 40))
    responses.post(TOKEN_URL, json=token_reply("tok-2", 40))
    clock = FakeClock()
    auth = ClientCredentials(TOKEN_URL, "fhirpeer", SECRET, clock=clock)
    headers: dict[str, str] = {}

    auth.apply(headers)
    clock.now += 19
    auth.apply(headers)
    assert len(responses.calls) == 1
    clock.now += 2
    auth.apply(headers)
    assert headers["Authorization"] == "Bearer tok-2"


@responses.activate
def test_invalidate_forces_a_new_token() -> None:
    responses.post(TOKEN_URL, json=token_reply("tok-1"))
    responses.post(TOKEN_URL, json=token_reply("tok-2"))
    auth = ClientCredentials(TOKEN_URL, "fhirpeer", SECRET)
    headers: dict[str, str] = {}

    auth.apply(headers)
    auth.invalidate()
    auth.apply(headers)

    assert headers["Authorization"] == "Bearer tok-2"
    assert auth.tokens_fetched == 2


@responses.activate
def test_refused_credentials_raise_auth_error_naming_endpoint_and_status_only() -> None:
    responses.post(TOKEN_URL, status=401, json={"error": "invalid_client", "error_description": SECRET})
    auth = ClientCredentials(TOKEN_URL, "fhirpeer", SECRET)

    with pytest.raises(errors.AuthError) as info:
        auth.apply({})

    message = str(info.value)
    assert TOKEN_URL in message
    assert "HTTP 401" in message
    assert "invalid_client" in message
    assert SECRET not in message
    assert info.value.status == 401


@responses.activate
def test_token_endpoint_outage_is_temporary() -> None:
    responses.post(TOKEN_URL, status=503)
    auth = ClientCredentials(TOKEN_URL, "fhirpeer", SECRET)

    with pytest.raises(errors.TemporaryError) as info:
        auth.apply({})

    assert info.value.status == 503


@responses.activate
def test_token_response_without_access_token() -> None:
    responses.post(TOKEN_URL, json={"token_type": "bearer"})

    with pytest.raises(errors.AuthError, match="without an access_token"):
        ClientCredentials(TOKEN_URL, "fhirpeer", SECRET).apply({})


@responses.activate
def test_unreachable_token_endpoint() -> None:
    responses.post(TOKEN_URL, body=requests.ConnectionError("down"))

    with pytest.raises(errors.ServerUnreachable, match="token endpoint"):
        ClientCredentials(TOKEN_URL, "fhirpeer", SECRET).apply({})


def test_client_credentials_repr_hides_secret() -> None:
    auth = ClientCredentials(TOKEN_URL, "fhirpeer", SECRET)

    assert SECRET not in repr(auth)
    assert "fhirpeer" in repr(auth)


# --- SMART backend services ---------------------------------------------------------------------------


@pytest.mark.parametrize("algorithm", ["RS384", "ES384"])
@responses.activate
def test_smart_backend_assertion(
    algorithm: str, rsa_key: rsa.RSAPrivateKey, ec_key: ec.EllipticCurvePrivateKey
) -> None:
    key = rsa_key if algorithm == "RS384" else ec_key
    responses.post(TOKEN_URL, json=token_reply("tok-smart", 300))
    jku = "https://fhirpeer.example.org/.well-known/jwks.json"
    auth = SmartBackendServices(TOKEN_URL, "client-42", pem_of(key), kid="key-2024", algorithm=algorithm, jku=jku)
    headers: dict[str, str] = {}

    before = int(time.time())
    auth.apply(headers)

    assert headers["Authorization"] == "Bearer tok-smart"
    form = form_of(responses.calls[0])
    assert form["grant_type"] == "client_credentials"
    assert form["client_assertion_type"] == ASSERTION_TYPE
    assert form["scope"] == "system/*.write system/*.read"
    assertion = form["client_assertion"]
    header = jwt.get_unverified_header(assertion)
    assert header["alg"] == algorithm
    assert header["kid"] == "key-2024"
    assert header["jku"] == jku
    claims = jwt.decode(assertion, key.public_key(), algorithms=[algorithm], audience=TOKEN_URL)
    assert claims["iss"] == claims["sub"] == "client-42"
    assert claims["aud"] == TOKEN_URL
    assert before < claims["exp"] <= int(time.time()) + 300
    assert len(claims["jti"]) >= 16


def test_every_assertion_has_a_new_jti_and_no_jku_unless_asked(rsa_key: rsa.RSAPrivateKey) -> None:
    auth = SmartBackendServices(TOKEN_URL, "client-42", pem_of(rsa_key), kid="k1")

    first, second = auth.client_assertion(TOKEN_URL), auth.client_assertion(TOKEN_URL)

    decode = {"algorithms": ["RS384"], "audience": TOKEN_URL}
    assert (
        jwt.decode(first, rsa_key.public_key(), **decode)["jti"]
        != jwt.decode(second, rsa_key.public_key(), **decode)["jti"]
    )
    assert "jku" not in jwt.get_unverified_header(first)


def test_assertion_signed_with_another_key_does_not_verify(rsa_key: rsa.RSAPrivateKey) -> None:
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    assertion = SmartBackendServices(TOKEN_URL, "c", pem_of(other), kid="k").client_assertion(TOKEN_URL)

    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(assertion, rsa_key.public_key(), algorithms=["RS384"], audience=TOKEN_URL)


def test_smart_repr_hides_the_key(rsa_key: rsa.RSAPrivateKey) -> None:
    pem = pem_of(rsa_key)
    auth = SmartBackendServices(TOKEN_URL, "client-42", pem, kid="k1")

    text = repr(auth)

    assert "PRIVATE KEY" not in text
    assert pem.splitlines()[1] not in text
    assert "client-42" in text


def test_key_and_algorithm_must_match(rsa_key: rsa.RSAPrivateKey, ec_key: ec.EllipticCurvePrivateKey) -> None:
    with pytest.raises(errors.ConfigError, match="ES384"):
        SmartBackendServices(TOKEN_URL, "c", pem_of(rsa_key), kid="k", algorithm="ES384")
    with pytest.raises(errors.ConfigError, match="RS384"):
        SmartBackendServices(TOKEN_URL, "c", pem_of(ec_key), kid="k", algorithm="RS384")
    with pytest.raises(errors.ConfigError, match="P-384"):
        SmartBackendServices(
            TOKEN_URL, "c", pem_of(ec.generate_private_key(ec.SECP256R1())), kid="k", algorithm="ES384"
        )
    with pytest.raises(errors.ConfigError, match="algorithm"):
        SmartBackendServices(TOKEN_URL, "c", pem_of(rsa_key), kid="k", algorithm="HS256")
    with pytest.raises(errors.ConfigError, match="PEM"):
        SmartBackendServices(TOKEN_URL, "c", "not a key", kid="k")


# --- discovery ----------------------------------------------------------------------------------------


@responses.activate
def test_discover_token_endpoint() -> None:
    responses.get(f"{BASE}/.well-known/smart-configuration", json={"token_endpoint": TOKEN_URL})

    assert discover_token_endpoint(requests.Session(), BASE + "/") == TOKEN_URL


@responses.activate
@pytest.mark.parametrize(
    ("status", "body"), [(404, {"resourceType": "OperationOutcome"}), (200, {"issuer": "x"}), (200, None)]
)
def test_discovery_failures_are_auth_errors(status: int, body: dict | None) -> None:
    responses.get(f"{BASE}/.well-known/smart-configuration", status=status, json=body)

    with pytest.raises(errors.AuthError, match="FHIRPEER_TOKEN_URL"):
        discover_token_endpoint(requests.Session(), BASE)


@responses.activate
def test_token_url_discovered_on_first_use_through_the_bound_session() -> None:
    responses.get(f"{BASE}/.well-known/smart-configuration", json={"token_endpoint": TOKEN_URL})
    responses.post(TOKEN_URL, json=token_reply("tok-d"))
    session = requests.Session()
    auth = ClientCredentials(None, "fhirpeer", SECRET, base_url=BASE)
    auth.bind(session)
    headers: dict[str, str] = {}

    auth.apply(headers)
    auth.apply(headers)

    assert headers["Authorization"] == "Bearer tok-d"
    assert auth.token_url == TOKEN_URL
    assert [c.request.method for c in responses.calls] == ["GET", "POST"]


def test_token_auth_needs_a_url_or_a_base() -> None:
    with pytest.raises(errors.ConfigError):
        ClientCredentials(None, "fhirpeer", SECRET)


# --- configuration from the environment ---------------------------------------------------------------


def test_env_default_is_no_auth() -> None:
    assert isinstance(auth_from_env({}, BASE), NoAuth)


def test_env_basic_with_password_file(tmp_path: Path) -> None:
    secret_file = tmp_path / "password"
    secret_file.write_text(SECRET + "\n", encoding="utf-8")
    env = {"FHIRPEER_AUTH": "basic", "FHIRPEER_USERNAME": "peer", "FHIRPEER_PASSWORD_FILE": str(secret_file)}

    auth = auth_from_env(env, BASE)
    headers: dict[str, str] = {}
    auth.apply(headers)

    assert isinstance(auth, BasicAuth)
    assert base64.b64decode(headers["Authorization"].split()[1]).decode() == f"peer:{SECRET}"


def test_env_bearer_token_file(tmp_path: Path) -> None:
    (tmp_path / "token").write_text(SECRET, encoding="utf-8")

    auth = auth_from_env({"FHIRPEER_AUTH": "bearer", "FHIRPEER_BEARER_TOKEN_FILE": str(tmp_path / "token")}, BASE)
    headers: dict[str, str] = {}
    auth.apply(headers)

    assert headers["Authorization"] == f"Bearer {SECRET}"


@responses.activate
def test_env_client_credentials_with_secret_file_and_discovery(tmp_path: Path) -> None:
    (tmp_path / "secret").write_text(SECRET, encoding="utf-8")
    responses.get(f"{BASE}/.well-known/smart-configuration", json={"token_endpoint": TOKEN_URL})
    responses.post(TOKEN_URL, json=token_reply("tok-env"))
    env = {
        "FHIRPEER_AUTH": "client_credentials",
        "FHIRPEER_CLIENT_ID": "fhirpeer",
        "FHIRPEER_CLIENT_SECRET_FILE": str(tmp_path / "secret"),
        "FHIRPEER_SCOPE": "system/*.write",
    }

    auth = auth_from_env(env, BASE)
    auth.apply({})

    assert isinstance(auth, ClientCredentials)
    assert form_of(responses.calls[1])["client_secret"] == SECRET
    assert form_of(responses.calls[1])["scope"] == "system/*.write"
    assert SECRET not in repr(auth)


@pytest.mark.parametrize("algorithm", ["RS384", "ES384"])
def test_env_smart_backend(
    algorithm: str, tmp_path: Path, rsa_key: rsa.RSAPrivateKey, ec_key: ec.EllipticCurvePrivateKey
) -> None:
    key = rsa_key if algorithm == "RS384" else ec_key
    (tmp_path / "key.pem").write_text(pem_of(key), encoding="utf-8")
    env = {
        "FHIRPEER_AUTH": "smart_backend",
        "FHIRPEER_CLIENT_ID": "client-42",
        "FHIRPEER_TOKEN_URL": TOKEN_URL,
        "FHIRPEER_PRIVATE_KEY_FILE": str(tmp_path / "key.pem"),
        "FHIRPEER_KEY_ID": "kid-1",
        "FHIRPEER_JWT_ALG": algorithm.lower(),
        "FHIRPEER_JKU": "https://x.example/jwks.json",
    }

    auth = auth_from_env(env, BASE)

    assert isinstance(auth, SmartBackendServices)
    assert (auth.algorithm, auth.kid, auth.jku, auth.token_url) == (
        algorithm,
        "kid-1",
        "https://x.example/jwks.json",
        TOKEN_URL,
    )
    assert auth.scope == "system/*.write system/*.read"
    claims = jwt.decode(auth.client_assertion(TOKEN_URL), key.public_key(), algorithms=[algorithm], audience=TOKEN_URL)
    assert claims["iss"] == "client-42"


@pytest.mark.parametrize(
    ("env", "fragment"),
    [
        ({"FHIRPEER_AUTH": "kerberos"}, "FHIRPEER_AUTH"),
        ({"FHIRPEER_AUTH": "basic", "FHIRPEER_USERNAME": "u"}, "FHIRPEER_PASSWORD"),
        ({"FHIRPEER_AUTH": "bearer"}, "FHIRPEER_BEARER_TOKEN"),
        ({"FHIRPEER_AUTH": "client_credentials", "FHIRPEER_CLIENT_ID": "c"}, "FHIRPEER_CLIENT_SECRET"),
        ({"FHIRPEER_AUTH": "smart_backend", "FHIRPEER_CLIENT_ID": "c"}, "FHIRPEER_PRIVATE_KEY"),
        (
            {"FHIRPEER_AUTH": "bearer", "FHIRPEER_BEARER_TOKEN": "a", "FHIRPEER_BEARER_TOKEN_FILE": "/x"},
            "not both",
        ),
        ({"FHIRPEER_AUTH": "bearer", "FHIRPEER_BEARER_TOKEN_FILE": "/nonexistent/token"}, "cannot read"),
    ],
)
def test_env_errors(env: dict[str, str], fragment: str) -> None:
    with pytest.raises(errors.ConfigError, match=fragment):
        auth_from_env(env, BASE)


def test_env_error_messages_never_contain_secret_values() -> None:
    env = {"FHIRPEER_AUTH": "bearer", "FHIRPEER_BEARER_TOKEN": SECRET, "FHIRPEER_BEARER_TOKEN_FILE": "/x"}

    with pytest.raises(errors.ConfigError) as info:
        auth_from_env(env, BASE)

    assert SECRET not in str(info.value)
