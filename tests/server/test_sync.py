"""`fhirpeer sync` against a real FHIR server (embedded sekmet, or FHIRPEER_TEST_SERVER).

Each test uses its own identifier namespace, so tests never see each other's data. Only the tests whose outcome
depends on how fhirpeer writes run under every write strategy.
"""

from __future__ import annotations

from fhirpeer.cli import main
from tests.server.conftest import EVERY_STRATEGY
from tests.support.inventory import inventory, versions
from tests.support.sync_run import TYPES, all_versions, expected_keys, rows, sync, write_rows, written


@EVERY_STRATEGY
def test_first_sync_creates_everything_once_and_rerun_writes_nothing(
    fhir_base_url, test_namespace, export, tmp_path, strategy
):
    code, report = sync(fhir_base_url, test_namespace, export, tmp_path)
    assert code == 0, report
    expected = expected_keys(export)
    held = all_versions(fhir_base_url, test_namespace)
    for rtype in TYPES:
        assert set(held[rtype]) == expected[rtype], rtype
        assert report["counts"][rtype]["created"] == len(expected[rtype])
    # an Encounter is skipped for a text contact that happened, and for a contact entered in error that was never
    # sent (it only marks what was sent before)
    contacts = rows(export / "peer_contacts.csv")
    happened = ("completed", "entered_in_error")
    assert report["counts"]["Encounter"]["skipped"] == len(
        [r for r in contacts if (r["mode"] == "text" and r["status"] in happened) or r["status"] == "entered_in_error"]
    )

    code, again = sync(fhir_base_url, test_namespace, export, tmp_path)
    assert code == 0
    for rtype in TYPES:
        assert again["counts"][rtype]["created"] == again["counts"][rtype]["updated"] == 0
        assert again["counts"][rtype]["unchanged"] == len(expected[rtype])
    assert all_versions(fhir_base_url, test_namespace) == held  # no versionId moved


@EVERY_STRATEGY
def test_changing_one_row_updates_exactly_that_resource(fhir_base_url, test_namespace, export, tmp_path, strategy):
    assert sync(fhir_base_url, test_namespace, export, tmp_path)[0] == 0
    before = all_versions(fhir_base_url, test_namespace)
    contacts = rows(export / "peer_contacts.csv")
    target = next(r for r in contacts if r["status"] == "completed" and r["mode"] == "telephone")
    target["duration_min"] = str(int(target["duration_min"] or 0) + 7)
    write_rows(export / "peer_contacts.csv", contacts)

    code, report = sync(fhir_base_url, test_namespace, export, tmp_path)
    assert code == 0
    assert report["counts"]["Encounter"]["updated"] == 1
    after = all_versions(fhir_base_url, test_namespace)
    changed = {(t, k) for t in TYPES for k in after[t] if after[t][k] != before[t][k]}
    assert changed == {("Encounter", target["contact_id"])}
    enc = inventory(fhir_base_url, test_namespace, "Encounter")[target["contact_id"]][0]
    assert enc["length"]["value"] == int(target["duration_min"])


def test_entered_in_error_row_becomes_entered_in_error(fhir_base_url, test_namespace, export, tmp_path):
    assert sync(fhir_base_url, test_namespace, export, tmp_path)[0] == 0
    contacts = rows(export / "peer_contacts.csv")
    target = next(r for r in contacts if r["mode"] != "text")
    target["status"] = "entered_in_error"
    handoffs = rows(export / "handoffs.csv")
    handoffs[0]["status"] = "entered_in_error"
    write_rows(export / "peer_contacts.csv", contacts)
    write_rows(export / "handoffs.csv", handoffs)
    assert sync(fhir_base_url, test_namespace, export, tmp_path)[0] == 0
    enc = inventory(fhir_base_url, test_namespace, "Encounter")[target["contact_id"]]
    sr = inventory(fhir_base_url, test_namespace, "ServiceRequest")[handoffs[0]["handoff_id"]]
    assert [e["status"] for e in enc] == ["entered-in-error"]
    assert [s["status"] for s in sr] == ["entered-in-error"]


def test_bad_rows_are_rejected_and_every_good_row_lands(fhir_base_url, test_namespace, export, tmp_path):
    contacts = rows(export / "peer_contacts.csv")
    contacts[2]["mode"] = "carrier_pigeon"
    contacts[5]["patient_mrn"] = "MRN-NOT-ANYWHERE"  # a reference nobody can resolve
    write_rows(export / "peer_contacts.csv", contacts)
    code, report = sync(fhir_base_url, test_namespace, export, tmp_path)
    assert code == 1
    bad = {r["id"]: r for r in report["rejected"]}
    assert set(bad) == {contacts[2]["contact_id"], contacts[5]["contact_id"]}
    assert (
        bad[contacts[2]["contact_id"]]["reason"] == "mode: unknown value (allowed: in_person, telephone, text, video)"
    )
    assert bad[contacts[2]["contact_id"]]["line"] == 4  # header is line 1, no multi-line rows here
    assert "patient_mrn" in bad[contacts[5]["contact_id"]]["reason"]
    expected = expected_keys(export)["Encounter"] - set(bad)
    assert set(versions(fhir_base_url, test_namespace, "Encounter")) == expected
    assert report["counts"]["Encounter"]["failed"] == 2


def test_missing_required_column_exits_2_and_writes_nothing(fhir_base_url, test_namespace, export, tmp_path, capsys):
    contacts = rows(export / "peer_contacts.csv")
    for r in contacts:
        del r["status"]
    write_rows(export / "peer_contacts.csv", contacts)
    code, _ = sync(fhir_base_url, test_namespace, export, tmp_path)
    assert code == 2
    assert "peer_contacts.csv: missing required column(s): status" in capsys.readouterr().err
    for rtype in TYPES:
        assert inventory(fhir_base_url, test_namespace, rtype) == {}


def test_dry_run_reads_the_server_and_writes_nothing(fhir_base_url, test_namespace, export, tmp_path):
    code, plan = sync(fhir_base_url, test_namespace, export, tmp_path, "--dry-run")
    assert code == 0
    expected = expected_keys(export)
    assert plan["counts"]["Encounter"]["created"] == len(expected["Encounter"])
    assert inventory(fhir_base_url, test_namespace, "Encounter") == {}
    assert sync(fhir_base_url, test_namespace, export, tmp_path)[0] == 0
    contacts = rows(export / "peer_contacts.csv")
    contacts[0]["duration_min"] = "999"
    write_rows(export / "peer_contacts.csv", contacts)
    before = all_versions(fhir_base_url, test_namespace)
    code, plan = sync(fhir_base_url, test_namespace, export, tmp_path, "--dry-run")
    assert plan["counts"]["Encounter"]["updated"] == 1
    assert plan["counts"]["Encounter"]["unchanged"] == len(expected["Encounter"]) - 1
    assert all_versions(fhir_base_url, test_namespace) == before


@EVERY_STRATEGY
def test_state_lost_rerun_adopts_existing_resources_without_duplicates(
    fhir_base_url, test_namespace, export, tmp_path, strategy
):
    assert sync(fhir_base_url, test_namespace, export, tmp_path)[0] == 0
    (tmp_path / "state.sqlite").unlink()
    code, report = sync(fhir_base_url, test_namespace, export, tmp_path)
    assert code == 0
    assert report["counts"]["Encounter"]["created"] == 0
    held = all_versions(fhir_base_url, test_namespace)  # fails when a key is held twice
    assert {t: set(keys) for t, keys in held.items()} == expected_keys(export)


def test_status_lists_runs_and_quarantined_records_until_fixed(fhir_base_url, test_namespace, export, tmp_path, capsys):
    contacts = rows(export / "peer_contacts.csv")
    good_mode = contacts[1]["mode"]
    contacts[1]["mode"] = "fax"
    write_rows(export / "peer_contacts.csv", contacts)
    assert sync(fhir_base_url, test_namespace, export, tmp_path)[0] == 1
    capsys.readouterr()
    assert main(["status", "--state", str(tmp_path / "state.sqlite")]) == 0
    out = capsys.readouterr().out
    assert "1 record(s) currently rejected" in out and contacts[1]["contact_id"] in out and "mode: unknown value" in out
    contacts[1]["mode"] = good_mode
    write_rows(export / "peer_contacts.csv", contacts)
    assert sync(fhir_base_url, test_namespace, export, tmp_path)[0] == 0
    capsys.readouterr()
    main(["status", "--state", str(tmp_path / "state.sqlite")])
    out = capsys.readouterr().out
    assert "0 record(s) currently rejected" in out
    assert out.count("finished") >= 2


def test_records_removed_from_the_export_stay_on_the_server(fhir_base_url, test_namespace, export, tmp_path):
    """No deletes: a row that disappears from the export leaves its resource on the server, untouched."""
    assert sync(fhir_base_url, test_namespace, export, tmp_path)[0] == 0
    before = all_versions(fhir_base_url, test_namespace)
    contacts = rows(export / "peer_contacts.csv")
    handoffs = rows(export / "handoffs.csv")
    removed_contact = next(r for r in contacts if r["mode"] != "text")
    write_rows(export / "peer_contacts.csv", [r for r in contacts if r is not removed_contact])
    write_rows(export / "handoffs.csv", handoffs[1:])

    code, report = sync(fhir_base_url, test_namespace, export, tmp_path)
    assert code == 0
    assert written(report) == 0
    assert all_versions(fhir_base_url, test_namespace) == before  # still there, same versions
    assert removed_contact["contact_id"] in before["Encounter"]
    assert handoffs[0]["handoff_id"] in before["ServiceRequest"]
