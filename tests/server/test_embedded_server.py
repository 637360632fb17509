"""The embedded sekmet server (and the FHIR behaviour fhirpeer relies on), the proxy against a real server.

Tests taking ``fhir_base_url`` also run against ``$FHIRPEER_TEST_SERVER``; the others start their own
embedded servers in ``tmp_path``.
"""

from __future__ import annotations

import socket
import uuid
from pathlib import Path
from typing import Any

import pytest

from fhirpeer.demo.embedded_server import EmbeddedServer, EmbeddedServerError
from fhirpeer.errors import FatalError, ServerUnreachable
from fhirpeer.transport.retry import RetryPolicy
from tests.support.fault_proxy import FaultProxy
from tests.support.inventory import fhir_client, namespace_systems


def _patient(system: str, value: str) -> dict[str, Any]:
    return {
        "resourceType": "Patient",
        "identifier": [{"system": system, "value": value}],
        "gender": "unknown",
    }


def _careteam(system: str, value: str) -> dict[str, Any]:
    return {
        "resourceType": "CareTeam",
        "status": "active",
        "identifier": [{"system": system, "value": value}],
    }


def _transaction(*entries: dict[str, Any]) -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": "transaction", "entry": list(entries)}


def _put_entry(resource: dict[str, Any], full_url: str | None = None) -> dict[str, Any]:
    ident = resource["identifier"][0]
    url = f"{resource['resourceType']}?identifier={ident['system']}|{ident['value']}"
    entry: dict[str, Any] = {"resource": resource, "request": {"method": "PUT", "url": url}}
    if full_url:
        entry["fullUrl"] = full_url
    return entry


def _post_transaction(base: str, bundle: dict[str, Any]) -> dict[str, Any]:
    """POST a transaction through FhirClient (auth from FHIRPEER_AUTH…); the transaction-response Bundle."""
    with fhir_client(base) as client:
        return client.transaction(bundle)


def _search(base: str, resource_type: str, **params: str) -> list[dict[str, Any]]:
    with fhir_client(base) as client:
        return list(client.search(resource_type, list(params.items())))


def _count(base: str, resource_type: str, **params: str) -> int:
    return len(_search(base, resource_type, **params))


def _capability_resources(base: str) -> list[dict[str, Any]]:
    with fhir_client(base) as client:
        return list(client.capabilities()["rest"][0]["resource"])


def _port_is_free(port: int) -> bool:
    """Nobody listens on the port and a server could bind it again (SO_REUSEADDR, as uvicorn does:
    connections the server closed may linger in TIME_WAIT)."""
    with socket.socket() as probe:
        if probe.connect_ex(("127.0.0.1", port)) == 0:
            return False
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
            sock.listen()
        except OSError:
            return False
    return True


# ---------------- FHIR behaviour (embedded or $FHIRPEER_TEST_SERVER) ----------------


def _status(entry: dict[str, Any]) -> str:
    return str(entry["response"]["status"])


def test_metadata_is_fhir_4_0_1(fhir_base_url: str) -> None:
    with fhir_client(fhir_base_url) as client:
        assert client.capabilities()["fhirVersion"] == "4.0.1"


def test_conditional_update_in_transaction_twice_gives_one_resource(fhir_base_url: str, test_namespace: str) -> None:
    system = namespace_systems(test_namespace)["Patient"]
    bundle = _transaction(_put_entry(_patient(system, "P-1")))
    first, second = _post_transaction(fhir_base_url, bundle), _post_transaction(fhir_base_url, bundle)
    assert _status(first["entry"][0]).startswith("201")
    assert _status(second["entry"][0]).startswith("200")
    assert _count(fhir_base_url, "Patient", identifier=f"{system}|P-1") == 1


def test_careteam_conditional_update_and_conditional_reference(fhir_base_url: str, test_namespace: str) -> None:
    sid = namespace_systems(test_namespace)
    patient, patient_urn = _patient(sid["Patient"], "P-2"), f"urn:uuid:{uuid.uuid4()}"
    team = {**_careteam(sid["CareTeam"], "T-2"), "subject": {"reference": patient_urn}}
    bundle = _transaction(_put_entry(patient, patient_urn), _put_entry(team))
    for _ in range(2):
        _post_transaction(fhir_base_url, bundle)  # raises FatalError when refused
    assert _count(fhir_base_url, "CareTeam", identifier=f"{sid['CareTeam']}|T-2") == 1

    # a conditional reference to the CareTeam resolves inside a transaction
    communication = {
        "resourceType": "Communication",
        "status": "completed",
        "identifier": [{"system": sid["Communication"], "value": "C-2"}],
        "subject": {"reference": f"Patient?identifier={sid['Patient']}|P-2"},
        "recipient": [{"reference": f"CareTeam?identifier={sid['CareTeam']}|T-2"}],
    }
    _post_transaction(fhir_base_url, _transaction(_put_entry(communication)))
    [stored] = _search(fhir_base_url, "Communication", identifier=f"{sid['Communication']}|C-2")
    assert stored["recipient"][0]["reference"].startswith("CareTeam/")


def test_capability_statement_lists_careteam_search_params(fhir_base_url: str) -> None:
    careteam = next(r for r in _capability_resources(fhir_base_url) if r["type"] == "CareTeam")
    names = {p["name"] for p in careteam.get("searchParam", [])}
    assert {"identifier", "patient", "subject", "status"} <= names


# ---------------- sekmet without the CareTeam parameters ----------------


def test_careteam_conditional_update_without_params_is_400(
    embedded_server_without_careteam_params: EmbeddedServer, test_namespace: str
) -> None:
    base = embedded_server_without_careteam_params.base_url
    system = namespace_systems(test_namespace)["CareTeam"]
    with fhir_client(base) as client, pytest.raises(FatalError) as refused:
        client.put(f"CareTeam?identifier={system}|T-3", _careteam(system, "T-3"))
    assert refused.value.status == 400
    assert refused.value.issues, "the 400 carries an OperationOutcome"
    assert "CareTeam" not in {r["type"] for r in _capability_resources(base)}


# ---------------- EmbeddedServer lifecycle (embedded servers of their own) ----------------


@pytest.mark.embedded_only(reason="stops and restarts a server")
def test_stop_frees_the_port_and_data_survives_a_restart(tmp_path: Path) -> None:
    server = EmbeddedServer(tmp_path / "data")
    with server:
        port = server.port
        with fhir_client(server.base_url) as client:
            created = client.post("Patient", _patient("https://fhirpeer.test/x", "keep"))
        assert created.status == 201
        patient_id = created.id
        assert patient_id
    assert not server.running
    assert _port_is_free(port)
    assert (tmp_path / "data" / "sekmet.db").is_file()

    with EmbeddedServer(tmp_path / "data", port=port) as again, fhir_client(again.base_url) as client:
        assert client.read("Patient", patient_id) is not None


@pytest.mark.embedded_only(reason="restarts a server with other search parameters")
def test_careteams_written_without_params_are_found_after_restart_with_params(tmp_path: Path) -> None:
    system = "https://fhirpeer.test/reindex"
    with EmbeddedServer(tmp_path, careteam_search_params=False) as plain, fhir_client(plain.base_url) as c:
        assert c.post("CareTeam", _careteam(system, "T-4")).status == 201
    with EmbeddedServer(tmp_path) as server:
        assert _count(server.base_url, "CareTeam", identifier=f"{system}|T-4") == 1


@pytest.mark.embedded_only(reason="starts a server on a busy port")
def test_start_failure_reports_the_log_tail(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        server = EmbeddedServer(tmp_path, port=busy.getsockname()[1], startup_timeout=15)
        with pytest.raises(EmbeddedServerError, match=r"(?i)address already in use"):
            server.start()
    assert not server.running


# ---------------- fault proxy against the real server ----------------


def test_drop_after_through_proxy_applies_the_transaction(fhir_base_url: str, test_namespace: str) -> None:
    system = namespace_systems(test_namespace)["Patient"]
    with FaultProxy(fhir_base_url, p_drop_after=1.0, methods={"POST"}) as proxy:
        once = fhir_client(proxy.base_url)
        once.retry_policy = RetryPolicy(max_attempts=1)
        with once, pytest.raises(ServerUnreachable):
            once.transaction(_transaction(_put_entry(_patient(system, "P-5"))))
        proxy.faults_enabled = False
        with fhir_client(proxy.base_url) as client:
            [page] = client.search_bundles("Patient", [("identifier", f"{system}|P-5")])
        assert [e["resource"]["identifier"][0]["value"] for e in page["entry"]] == ["P-5"]
        assert page["entry"][0]["fullUrl"].startswith(proxy.base_url)
        assert proxy.counters["drop_after"] == 1
