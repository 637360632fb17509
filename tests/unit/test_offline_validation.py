"""`validate_export` with the resources a sync writes only if the server holds their key, and optional references."""

from __future__ import annotations

import json
from pathlib import Path

from fhirpeer.domain import Outcome
from fhirpeer.mapping_files import load_mappings
from fhirpeer.offline_validation import validate_export
from fhirpeer.settings import Settings

M = load_mappings()
CONTACTS_HEADER = "contact_id,patient_mrn,peer_id,start,mode,status,duration_min,handoff_id\n"
HANDOFFS = "handoff_id,patient_mrn,kind,requested_at,status\nH-1,MRN-1,ed_to_peer,2026-01-05T08:00:00-05:00,completed\n"


def export(folder: Path, contacts: str, **files: str) -> Path:
    folder.mkdir()
    (folder / "peer_contacts.csv").write_text(CONTACTS_HEADER + contacts, encoding="utf-8")
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


def test_only_if_exists_resources_are_counted_apart_and_never_previewed(tmp_path: Path) -> None:
    folder = export(
        tmp_path / "in",
        "C-1,MRN-1,P-1,2026-01-05T10:00:00Z,in_person,completed,30,\n"  # Encounter + (fulfilled Appointment)
        "C-2,MRN-1,P-1,2026-01-06T10:00:00Z,in_person,no_show,,\n"  # Appointment
        "C-3,MRN-1,P-1,2026-01-07T10:00:00Z,telephone,entered_in_error,10,\n",  # marks both, if they exist
    )
    report = validate_export(folder, Settings(), M, ndjson_dir=tmp_path / "nd")
    assert report.exit_code == 0
    counts = {t: {o: n for o, n in c.items() if n} for t, c in report.counts.items()}
    assert counts == {
        "Appointment": {Outcome.VALID: 1, Outcome.ONLY_IF_EXISTS: 2},
        "Encounter": {Outcome.VALID: 1, Outcome.ONLY_IF_EXISTS: 1},
    }
    sent = {
        p.stem: [(r["identifier"][0]["value"], r["status"]) for r in map(json.loads, p.read_text().splitlines())]
        for p in (tmp_path / "nd").glob("*.ndjson")
    }
    assert sent == {"Appointment": [("C-2", "noshow")], "Encounter": [("C-1", "finished")]}
    assert report.warnings == []  # Encounter.appointment is optional: it never dangles


def test_a_handoff_reference_outside_the_export_is_warned_and_one_inside_is_not(tmp_path: Path) -> None:
    rows = "C-1,MRN-1,P-1,2026-01-05T10:00:00Z,in_person,completed,30,H-1\n"
    with_handoff = validate_export(export(tmp_path / "a", rows, **{"handoffs.csv": HANDOFFS}), Settings(), M)
    assert with_handoff.exit_code == 0
    assert with_handoff.warnings == []
    missing = "C-2,MRN-1,P-1,2026-01-05T10:00:00Z,in_person,scheduled,30,H-404\n"
    report = validate_export(export(tmp_path / "b", rows + missing, **{"handoffs.csv": HANDOFFS}), Settings(), M)
    assert [str(w) for w in report.warnings] == [
        "peer_contacts.csv handoff_id: 1 reference(s) to keys not in this export (they must exist on the server)"
    ]
