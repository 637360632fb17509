"""Business keys with `+`, spaces, `/`, `:`, `%` and non-ASCII survive match URLs on a real server.

HAPI refuses a resource that does not satisfy its own match URL (400 HAPI-0929), and a `+` sent unencoded
in a query is decoded as a space: a key would then be looked up under another value, and a rerun without
the state store would create a duplicate (that is what a mis-encoding does on sekmet). Every write
strategy is run, since each builds its URLs (match URLs, searches, ids) its own way.
"""

from __future__ import annotations

from pathlib import Path

from tests.server.conftest import EVERY_STRATEGY
from tests.support.exports import generate_export
from tests.support.inventory import versions
from tests.support.sync_run import TYPES, expected_keys, rows, sync, write_rows

#: How each original key is made awkward, in turn (none may hold `|`, `,`, `$` or `\`).
TEMPLATES = ("{v}+A", "{v} B", "Zoë {v}/é", "urn:x:{v}", "東京+{v} %20", "{v} + ü:/")
#: The columns holding a key of the rewritten kinds, per file.
KEY_COLUMNS = {
    "patients.csv": ("patient_mrn",),
    "staff.csv": ("staff_id",),
    "peer_contacts.csv": ("contact_id", "patient_mrn", "peer_id"),
    "care_team.csv": ("team_id", "patient_mrn", "staff_id"),
    "handoffs.csv": ("handoff_id", "patient_mrn", "requester_id", "to_staff_id"),
    "enrollments.csv": ("enrollment_id", "patient_mrn", "peer_id", "team_id"),
}


def make_keys_awkward(export: Path) -> None:
    """Rewrite MRNs, staff ids, contact ids, team ids and handoff ids consistently across all files."""
    renamed: dict[str, str] = {}

    def awkward(value: str) -> str:
        if value and value not in renamed:
            renamed[value] = TEMPLATES[len(renamed) % len(TEMPLATES)].format(v=value)
        return renamed.get(value, value)

    for name, columns in KEY_COLUMNS.items():
        data = rows(export / name)
        for row in data:
            for column in columns:
                row[column] = awkward(row[column])
        write_rows(export / name, data)


@EVERY_STRATEGY
def test_awkward_keys_are_held_once_and_a_rerun_writes_nothing(fhir_base_url, test_namespace, tmp_path, strategy):
    export = tmp_path / "export"
    generate_export(export, patients=6, seed=12)
    make_keys_awkward(export)
    expected = expected_keys(export)
    awkward = expected["Patient"] | expected["Encounter"] | expected["CareTeam"] | expected["ServiceRequest"]
    for needle in ("+", " ", "/", ":", "%", "ü", "東"):
        assert any(needle in key for key in awkward), needle

    code, report = sync(fhir_base_url, test_namespace, export, tmp_path)
    assert code == 0, report["rejected"][:3]
    held = {t: versions(fhir_base_url, test_namespace, t) for t in TYPES}  # each key exactly once
    for rtype in TYPES:
        assert set(held[rtype]) == expected[rtype], rtype
        assert report["counts"][rtype]["created"] == len(expected[rtype]), rtype

    code, again = sync(fhir_base_url, test_namespace, export, tmp_path)
    assert code == 0
    assert {t: again["counts"][t]["created"] + again["counts"][t]["updated"] for t in TYPES} == dict.fromkeys(TYPES, 0)
    assert {t: versions(fhir_base_url, test_namespace, t) for t in TYPES} == held

    # without the state store, every key must be found on the server again through its match URL
    (tmp_path / "state.sqlite").unlink()
    code, lost = sync(fhir_base_url, test_namespace, export, tmp_path)
    assert code == 0, lost["rejected"][:3]
    assert sum(lost["counts"][t]["created"] for t in TYPES) == 0
    assert {t: set(versions(fhir_base_url, test_namespace, t)) for t in TYPES} == expected
