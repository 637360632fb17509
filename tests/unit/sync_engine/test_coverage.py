"""Counting what an export still holds of what earlier runs synced: O(1) by default, a key set for a full export."""

from __future__ import annotations

from pathlib import Path
from zoneinfo import ZoneInfo

from fhirpeer.domain import InputKind, Rejection, ResourceType, Source
from fhirpeer.mapping_files import load_mappings
from fhirpeer.records import Accepted, SiteRecord
from fhirpeer.sync_engine.coverage import ExportCoverage
from fhirpeer.sync_engine.state import RETRACTED_HASH, StateStore, Written

VOCAB = load_mappings().vocabulary(ZoneInfo("UTC"))


def site(key: str, line: int) -> Accepted:
    record = SiteRecord.model_validate({"site_id": key, "name": "Clinic"}, context={"vocab": VOCAB})
    return Accepted(record, Source("sites.csv", line))


def rejected(key: str, line: int) -> Rejection:
    return Rejection("sites.csv", line, key, "name", "name: required value is blank", ResourceType.ORGANIZATION)


def store(tmp_path: Path) -> StateStore:
    state = StateStore(tmp_path / "s.sqlite", "t")
    synced = [Written("Organization", f"S{n}", "h", f"id{n}", "1") for n in range(1, 6)]
    state.record_written([*synced, Written("Organization", "S6", RETRACTED_HASH, "id6", "2")], "r1")
    return state


def test_the_default_count_needs_no_key_set(tmp_path: Path) -> None:
    coverage = ExportCoverage(store(tmp_path), keep_keys=False)
    assert coverage.before == {"Organization": 5}  # the retracted S6 is no longer live
    coverage.note(InputKind.SITES, [site("S1", 2), site("S2", 3), rejected("S3", 4), site("S9", 5)])
    coverage.note(InputKind.SITES, [rejected("S1", 6)])  # a duplicate of S1, in a later chunk
    # S3 (rejected), S4 and S5 are not counted as held; S9 is new, the duplicate is not counted twice
    assert coverage.absent_count(ResourceType.ORGANIZATION) == 3


def test_a_full_export_keeps_the_keys_and_lists_what_it_lacks(tmp_path: Path) -> None:
    coverage = ExportCoverage(store(tmp_path), keep_keys=True)
    coverage.note(InputKind.SITES, [site("S1", 2), rejected("S3", 3)])
    coverage.note(InputKind.SITES, [site("S2", 4), rejected("S1", 5)])
    absent = coverage.absent(ResourceType.ORGANIZATION)
    assert [(row.key, row.server_id) for row in absent] == [("S4", "id4"), ("S5", "id5")]
    assert coverage.absent_count(ResourceType.ORGANIZATION) == 2  # a rejected row is in the export: never retracted
