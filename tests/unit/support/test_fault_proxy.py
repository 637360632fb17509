"""FaultProxy in front of a tiny in-memory FHIR-like upstream (no real server needed)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from tests.support.fault_proxy import FaultProxy

SYSTEM = "https://fhirpeer.test/unit"


class FakeFhir(ThreadingHTTPServer):
    """Stores POSTed resources; searches by identifier; answers with absolute URLs like a real server."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _FakeHandler)
        self.resources: list[dict[str, Any]] = []
        self.requests: list[tuple[str, str, bytes]] = []
        self.base = f"http://127.0.0.1:{self.server_address[1]}/fhir"


class _FakeHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server: FakeFhir

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _send(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        for name, value in {"Content-Type": "application/fhir+json", **(headers or {})}.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.requests.append(("POST", self.path, body))
        resource = {**json.loads(body), "id": str(len(self.server.resources) + 1)}
        self.server.resources.append(resource)
        location = f"{self.server.base}/Patient/{resource['id']}/_history/1"
        self._send(201, resource, {"Location": location, "Content-Location": location})

    def do_GET(self) -> None:
        self.server.requests.append(("GET", self.path, b""))
        wanted = parse_qs(urlsplit(self.path).query).get("identifier", [""])[0]
        matches = [r for r in self.server.resources if _has_identifier(r, wanted)]
        self._send(200, _searchset(self.server.base, self.path, matches))


def _has_identifier(resource: dict[str, Any], token: str) -> bool:
    return any(f"{i['system']}|{i['value']}" == token for i in resource.get("identifier", []))


def _searchset(base: str, path: str, matches: list[dict[str, Any]]) -> dict[str, Any]:
    query = urlsplit(path).query
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": len(matches),
        "link": [
            {"relation": "self", "url": f"{base}/Patient?{query}"},
            {"relation": "next", "url": f"{base}/Patient?{query}&_offset=20"},
        ],
        "entry": [{"fullUrl": f"{base}/Patient/{r['id']}", "resource": r} for r in matches],
    }


@pytest.fixture
def upstream() -> Iterator[FakeFhir]:
    server = FakeFhir()
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def _patient(value: str) -> dict[str, Any]:
    return {"resourceType": "Patient", "identifier": [{"system": SYSTEM, "value": value}]}


def _search(base_url: str, value: str) -> dict[str, Any]:
    response = requests.get(f"{base_url}/Patient", params={"identifier": f"{SYSTEM}|{value}"}, timeout=10)
    response.raise_for_status()
    return response.json()


def test_forwards_and_rewrites_urls(upstream: FakeFhir) -> None:
    with FaultProxy(upstream.base) as proxy:
        assert proxy.base_url.endswith("/fhir") and proxy.base_url != upstream.base
        created = requests.post(f"{proxy.base_url}/Patient", json=_patient("a"), timeout=10)
        assert created.status_code == 201
        assert created.headers["Location"].startswith(f"{proxy.base_url}/Patient/")
        assert created.headers["Content-Location"].startswith(f"{proxy.base_url}/Patient/")

        bundle = _search(proxy.base_url, "a")
        assert bundle["total"] == 1
        assert all(link["url"].startswith(proxy.base_url) for link in bundle["link"])
        assert bundle["entry"][0]["fullUrl"] == f"{proxy.base_url}/Patient/1"
        # the rewritten next link leads back through the proxy
        assert requests.get(bundle["link"][1]["url"], timeout=10).status_code == 200
        assert proxy.counters == {"429": 0, "503": 0, "reset_before": 0, "drop_after": 0, "forwarded": 3}


def test_request_body_urls_go_back_to_upstream(upstream: FakeFhir) -> None:
    with FaultProxy(upstream.base) as proxy:
        patient = {**_patient("b"), "link": [{"other": {"reference": f"{proxy.base_url}/Patient/9"}}]}
        requests.post(f"{proxy.base_url}/Patient", json=patient, timeout=10).raise_for_status()
    assert upstream.resources[0]["link"][0]["other"]["reference"] == f"{upstream.base}/Patient/9"


def test_429_has_retry_after_and_is_not_forwarded(upstream: FakeFhir) -> None:
    with FaultProxy(upstream.base, p_429=1.0, retry_after=3) as proxy:
        response = requests.post(f"{proxy.base_url}/Patient", json=_patient("c"), timeout=10)
        assert response.status_code == 429
        assert response.headers["Retry-After"] == "3"
        assert response.json()["resourceType"] == "OperationOutcome"
        assert proxy.counters["429"] == 1 and proxy.counters["forwarded"] == 0
    assert upstream.requests == []


def test_503_is_not_forwarded(upstream: FakeFhir) -> None:
    with FaultProxy(upstream.base, p_503=1.0) as proxy:
        response = requests.get(f"{proxy.base_url}/metadata", timeout=10)
        assert response.status_code == 503
        assert response.json()["issue"][0]["code"] == "transient"
        assert proxy.counters["503"] == 1
    assert upstream.requests == []


def test_reset_before_raises_connection_error(upstream: FakeFhir) -> None:
    with FaultProxy(upstream.base, p_reset_before=1.0) as proxy:
        with pytest.raises(requests.ConnectionError):
            requests.post(f"{proxy.base_url}/Patient", json=_patient("d"), timeout=10)
        assert proxy.counters["reset_before"] == 1
    assert upstream.requests == []


def test_drop_after_applies_the_write_but_loses_the_response(upstream: FakeFhir) -> None:
    with FaultProxy(upstream.base, p_drop_after=1.0) as proxy:
        with pytest.raises(requests.ConnectionError):
            requests.post(f"{proxy.base_url}/Patient", json=_patient("e"), timeout=10)
        proxy.faults_enabled = False
        assert _search(proxy.base_url, "e")["total"] == 1
        assert proxy.counters["drop_after"] == 1 and proxy.counters["forwarded"] == 2


def test_faults_only_on_selected_methods(upstream: FakeFhir) -> None:
    with FaultProxy(upstream.base, p_503=1.0, methods={"post"}) as proxy:
        assert requests.get(f"{proxy.base_url}/Patient", timeout=10).status_code == 200
        assert requests.post(f"{proxy.base_url}/Patient", json=_patient("f"), timeout=10).status_code == 503


def test_same_seed_same_faults(upstream: FakeFhir) -> None:
    def statuses(seed: int) -> list[int]:
        with FaultProxy(upstream.base, seed=seed, p_429=0.3, p_503=0.3) as proxy, requests.Session() as s:
            return [s.get(f"{proxy.base_url}/metadata", timeout=10).status_code for _ in range(30)]

    first = statuses(42)
    assert first == statuses(42)
    assert {200, 429, 503} <= set(first)


def test_rejects_probabilities_above_one(upstream: FakeFhir) -> None:
    with pytest.raises(ValueError, match="no more than 1"):
        FaultProxy(upstream.base, p_429=0.6, p_503=0.6)
