"""HAPI imports run one `$import` job per type, in import order, and their statuses add up to one."""

from __future__ import annotations

from fhirpeer.backfill.importing import merged, stages_by_type
from fhirpeer.bulk.importers import ImportState, ImportStatus
from fhirpeer.bulk.manifest import Manifest, OutputFile

ORDER = ("Organization", "Patient", "EpisodeOfCare", "Encounter")


def manifest(*parts: tuple[str, str, int]) -> Manifest:
    outputs = tuple(OutputFile(t, url, n, 100 * n, f"{i:064x}") for i, (t, url, n) in enumerate(parts))
    return Manifest("2026-01-05T15:00:00.000Z", "https://fhirpeer.test/ns", "0.1.0", ORDER, outputs)


def test_one_stage_per_type_present_in_import_order_with_all_its_parts() -> None:
    whole = manifest(
        ("Patient", "Patient.0001.ndjson", 3), ("Patient", "Patient.0002.ndjson", 1),
        ("Encounter", "Encounter.0001.ndjson", 5), ("Organization", "Organization.0001.ndjson", 1),
    )  # fmt: skip
    stages = stages_by_type(whole)
    assert [[o.url for o in s.outputs] for s in stages] == [
        ["Organization.0001.ndjson"],
        ["Patient.0001.ndjson", "Patient.0002.ndjson"],
        ["Encounter.0001.ndjson"],
    ]
    assert all(s.namespace == whole.namespace and s.import_order == ORDER for s in stages)
    assert sum(s.total for s in stages) == whole.total


def test_merged_statuses_sum_the_counts_and_keep_every_error() -> None:
    first = ImportStatus(ImportState.DONE, "j1", imported=2, failed=0, imported_by_type={"Patient": 2})
    second = ImportStatus(
        ImportState.DONE, "j2", imported=4, failed=1, imported_by_type={"Encounter": 4}, errors=("1 refused",)
    )
    status = merged([first, second])
    assert (status.job_id, status.imported, status.failed) == ("j2", 6, 1)
    assert dict(status.imported_by_type) == {"Patient": 2, "Encounter": 4}
    assert status.errors == ("1 refused",) and not status.complete
    assert merged([first]).complete
    unknown = merged([first, ImportStatus(ImportState.DONE, "j3")])
    assert unknown.imported is None and unknown.failed == 0
