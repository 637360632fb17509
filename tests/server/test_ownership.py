"""The EHR owns its master data: fhirpeer finds the EHR's patients, staff and sites and points at them, and never
replaces a resource it did not write — on real servers, under each ownership policy, with and without the state
store."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from fhirpeer.demo.sample import make_npi
from tests.support.exports import generate_export
from tests.support.inventory import fhir_client, inventory
from tests.support.sync_run import rows, sync, write_rows

NPI = "http://hl7.org/fhir/sid/us-npi"


@pytest.fixture
def mrn_system(test_namespace: str) -> str:
    """An EHR's own MRN system (an OID, as EHRs use), one per test: tests share the server."""
    return f"urn:oid:2.16.840.1.113883.3.{int(test_namespace.rsplit('/', 1)[1], 16) % 10**9}.1"


@pytest.fixture
def export(tmp_path: Path) -> Path:
    out = tmp_path / "export"
    generate_export(out, patients=6, seed=21)
    return out


def config(tmp_path: Path, mrn_system: str, **settings: Any) -> Path:
    path = tmp_path / f"config-{len(list(tmp_path.glob('config-*')))}.yaml"
    path.write_text(json.dumps({"mrn_system": mrn_system, **settings}), encoding="utf-8")  # JSON is YAML
    return path


def ehr_patient(base_url: str, mrn_system: str, mrn: str, namespace: str) -> dict[str, Any]:
    """The EHR's Patient for `mrn`: data fhirpeer never sends (phone, address, a GP), and no fhirpeer tag."""
    with fhir_client(base_url) as client:
        gp_identifier = {"system": f"{namespace}/sid/ehr-staff", "value": "GP-1"}
        gp = client.post("Practitioner", {"resourceType": "Practitioner", "identifier": [gp_identifier]})
        patient = {
            "resourceType": "Patient",
            "identifier": [{"system": mrn_system, "value": mrn}],
            "name": [{"family": "EHR-Family", "given": ["Ehr"]}],
            "telecom": [{"system": "phone", "value": "+1-555-0100"}],
            "address": [{"line": ["1 Main St"], "city": "Philadelphia"}],
            "generalPractitioner": [{"reference": f"Practitioner/{gp.id}"}],
        }
        created = client.post("Patient", patient)
        held = client.read("Patient", str(created.id))
    assert held is not None
    return held


def patients_with_mrn(base_url: str, mrn_system: str, mrn: str) -> list[dict[str, Any]]:
    with fhir_client(base_url) as client:
        return list(client.search("Patient", [("identifier", f"{mrn_system}|{mrn}")]))


def encounters_of(base_url: str, namespace: str, export: Path, mrn: str) -> list[dict[str, Any]]:
    keys = {
        r["contact_id"] for r in rows(export / "peer_contacts.csv") if r["patient_mrn"] == mrn and r["mode"] != "text"
    }
    held = inventory(base_url, namespace, "Encounter")
    return [held[k][0] for k in sorted(keys) if k in held]


@pytest.mark.parametrize("policy", ["link", "create_if_absent"])
def test_the_ehrs_patient_survives_every_sync_and_fhirpeers_resources_point_at_it(
    fhir_base_url, test_namespace, export, tmp_path, mrn_system, policy
):
    mrn = rows(export / "patients.csv")[0]["patient_mrn"]
    before = ehr_patient(fhir_base_url, mrn_system, mrn, test_namespace)
    settings = config(tmp_path, mrn_system, ownership={"Patient": policy})
    code, report = sync(fhir_base_url, test_namespace, export, tmp_path, "--config", str(settings))
    if policy == "link":  # the other patients are not on the server: rejected, their dependants quarantined
        assert code == 1 and report["counts"]["Patient"]["linked"] == 1
        assert all("ownership policy link" in r["reason"] for r in report["rejected"] if r["resourceType"] == "Patient")
    else:
        assert code == 0, report["rejected"][:3]
        assert report["counts"]["Patient"]["linked"] == 1
        assert report["counts"]["Patient"]["created"] == len(rows(export / "patients.csv")) - 1
    # a change of the patient's row and a rerun: still never written
    patients = rows(export / "patients.csv")
    patients[0]["family_name"] = "Changed-In-The-Export"
    write_rows(export / "patients.csv", patients)
    sync(fhir_base_url, test_namespace, export, tmp_path, "--config", str(settings))

    (after,) = patients_with_mrn(fhir_base_url, mrn_system, mrn)
    assert after["id"] == before["id"] and after["meta"]["versionId"] == before["meta"]["versionId"]
    assert after["telecom"] == before["telecom"] and after["address"] == before["address"]
    assert after["generalPractitioner"] == before["generalPractitioner"]
    encounters = encounters_of(fhir_base_url, test_namespace, export, mrn)
    assert encounters and {e["subject"]["reference"] for e in encounters} == {f"Patient/{before['id']}"}


def test_own_replaces_the_ehrs_patient_as_documented(fhir_base_url, test_namespace, export, tmp_path, mrn_system):
    mrn = rows(export / "patients.csv")[0]["patient_mrn"]
    before = ehr_patient(fhir_base_url, mrn_system, mrn, test_namespace)
    code, report = sync(fhir_base_url, test_namespace, export, tmp_path, "--config",
                        str(config(tmp_path, mrn_system, ownership={"Patient": "own"})))  # fmt: skip
    assert code == 0, report["rejected"][:3]
    (after,) = patients_with_mrn(fhir_base_url, mrn_system, mrn)
    assert after["id"] == before["id"] and after["meta"]["versionId"] != before["meta"]["versionId"]
    assert "telecom" not in after and "generalPractitioner" not in after  # fhirpeer is the system of record


def test_a_lost_state_store_still_adopts_fhirpeers_own_and_leaves_the_ehrs_alone(
    fhir_base_url, test_namespace, export, tmp_path, mrn_system
):
    mrn = rows(export / "patients.csv")[0]["patient_mrn"]
    before = ehr_patient(fhir_base_url, mrn_system, mrn, test_namespace)
    settings = str(config(tmp_path, mrn_system))
    assert sync(fhir_base_url, test_namespace, export, tmp_path, "--config", settings)[0] == 0
    created = {k: v[0]["meta"]["versionId"] for k, v in inventory(fhir_base_url, test_namespace, "Encounter").items()}
    (tmp_path / "state.sqlite").unlink()

    code, report = sync(fhir_base_url, test_namespace, export, tmp_path, "--config", settings)
    assert code == 0, (report["rejected"][:3], report["conflicts"][:3])
    assert sum(c["created"] + c["updated"] for c in report["counts"].values()) == 0
    assert report["counts"]["Patient"]["linked"] == 1
    assert report["counts"]["Encounter"]["unchanged"] == len(created)
    again = {k: v[0]["meta"]["versionId"] for k, v in inventory(fhir_base_url, test_namespace, "Encounter").items()}
    assert again == created  # adopted: every one found again, none written, none duplicated
    (after,) = patients_with_mrn(fhir_base_url, mrn_system, mrn)
    assert after["meta"]["versionId"] == before["meta"]["versionId"]


def test_a_practitioner_found_by_npi_is_linked_and_pointed_at(
    fhir_base_url, test_namespace, export, tmp_path, mrn_system
):
    staff = rows(export / "staff.csv")
    peer = next(r for r in staff if r["discipline"] == "peer")
    peer["npi"] = make_npi(str(int(mrn_system.split(".")[-2]) % 10**8 + 10**8))  # unique to this test
    write_rows(export / "staff.csv", staff)
    with fhir_client(fhir_base_url) as client:
        ehr = client.post("Practitioner", {"resourceType": "Practitioner", "name": [{"family": "EHR-Peer"}],
                                           "identifier": [{"system": NPI, "value": peer["npi"]}]})  # fmt: skip
    code, report = sync(fhir_base_url, test_namespace, export, tmp_path, "--config", str(config(tmp_path, mrn_system)))
    assert code == 0, report["rejected"][:3]
    assert report["counts"]["Practitioner"]["linked"] == 1
    assert peer["staff_id"] not in inventory(fhir_base_url, test_namespace, "Practitioner")  # not created
    contacts = {r["contact_id"] for r in rows(export / "peer_contacts.csv") if r["peer_id"] == peer["staff_id"]
                and r["mode"] != "text"}  # fmt: skip
    held = inventory(fhir_base_url, test_namespace, "Encounter")
    performers = {p["individual"]["reference"] for k in contacts if k in held for p in held[k][0]["participant"]}
    assert contacts and performers == {f"Practitioner/{ehr.id}"}


def test_a_clinical_key_held_by_a_resource_fhirpeer_did_not_write_is_a_conflict_left_alone(
    fhir_base_url, test_namespace, export, tmp_path, mrn_system
):
    contact = next(r for r in rows(export / "peer_contacts.csv") if r["mode"] == "telephone")
    key = {"system": f"{test_namespace}/sid/peer-contact", "value": contact["contact_id"]}
    theirs = {"resourceType": "Encounter", "status": "planned", "identifier": [key],
              "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"}}  # fmt: skip
    with fhir_client(fhir_base_url) as client:
        client.post("Encounter", theirs)
    code, report = sync(fhir_base_url, test_namespace, export, tmp_path, "--config", str(config(tmp_path, mrn_system)))
    assert code == 1
    assert [(c["resourceType"], c["id"]) for c in report["conflicts"]] == [("Encounter", contact["contact_id"])]
    assert "was not written by fhirpeer" in report["conflicts"][0]["reason"]
    (held,) = inventory(fhir_base_url, test_namespace, "Encounter")[contact["contact_id"]]
    assert held["status"] == "planned" and held["meta"]["versionId"] == "1"  # left alone, not duplicated


def test_dependants_of_a_rejected_site_name_the_root_cause(fhir_base_url, test_namespace, export, tmp_path, mrn_system):
    sites = rows(export / "sites.csv")
    contacts = rows(export / "peer_contacts.csv")
    used = next(r["site_id"] for r in contacts if r["site_id"] and r["mode"] != "text")
    line = next(i for i, r in enumerate(sites) if r["site_id"] == used) + 2
    for r in sites:
        if r["site_id"] == used:
            r["name"] = ""  # a bad required cell: the site is rejected
    write_rows(export / "sites.csv", sites)
    code, report = sync(fhir_base_url, test_namespace, export, tmp_path, "--config", str(config(tmp_path, mrn_system)))
    assert code == 1
    dependants = [r for r in report["rejected"] if r["resourceType"] != "Organization"]
    assert dependants and all(f"Organization {used} rejected at sites.csv:{line} (name)" in r["reason"]
                              for r in dependants)  # fmt: skip


def test_each_written_bundle_gets_a_provenance_naming_fhirpeers_device(
    fhir_base_url, test_namespace, export, tmp_path, mrn_system
):
    code, report = sync(fhir_base_url, test_namespace, export, tmp_path, "--config", str(config(tmp_path, mrn_system)),
                        "--batch-size", "50")  # fmt: skip
    assert code == 0
    written = sum(c["created"] + c["updated"] for c in report["counts"].values())
    with fhir_client(fhir_base_url) as client:
        (device,) = inventory(fhir_base_url, test_namespace, "Device")["fhirpeer"]
        tag = f"{test_namespace}/CodeSystem/fhirpeer|written-by-fhirpeer"
        provenances = list(client.search("Provenance", [("_tag", tag), ("_count", "200")]))
    targets = [t["reference"] for p in provenances for t in p["target"]]
    assert len(targets) == written == len(set(targets))
    assert len(provenances) >= written // 50
    assert all(p["agent"][0]["who"]["reference"] == f"Device/{device['id']}" for p in provenances)
    assert {p["activity"]["coding"][0]["code"] for p in provenances} == {"CREATE"}
