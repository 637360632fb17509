"""Rows a rerun skips before parsing: exactly those whose cells, lookups, mappings, reading settings and fhirpeer
version are as when their fingerprint was recorded; warned, rejected and duplicate rows are read as before."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

import fhirpeer.pipeline as pipeline
from fhirpeer.domain import InputKind, Rejection
from fhirpeer.input.folder import InputFolder
from fhirpeer.input.lookups import lookups_of
from fhirpeer.input.row_skip import WARNED, RowSkip, Unchanged
from fhirpeer.mapping_files import Mappings, load_mappings
from fhirpeer.pipeline import MappingOptions, row_digest
from fhirpeer.records import RECORD_MODELS, Accepted

M = load_mappings()
UTC = ZoneInfo("UTC")
CONTACTS = "contact_id,patient_mrn,peer_id,start,mode,status,duration_min,setting,site_id,purposes\n"
ROW_1 = "C-1,MRN-1,P-1,2026-01-05T10:00:00-05:00,in_person,completed,30,,S-1,engagement\n"
ROW_2 = "C-2,MRN-2,P-1,2026-01-06T10:00:00-05:00,telephone,completed,20,,,\n"
SITES = "site_id,name,kind\nS-1,Main Clinic,primary_care\n"
ENROLLMENTS = "enrollment_id,patient_mrn,start_date,status,end_date\nE-1,MRN-1,2026-01-01,active,\n"


@dataclass(frozen=True)
class Known:
    fingerprint: str


class Store:
    """The state store's records table, as the engine fills it: the fingerprint of each accepted record."""

    def __init__(self) -> None:
        self.fingerprints: dict[str, str] = {}
        self.lookups = 0

    def known(self, keys: list[str]) -> dict[str, Known]:
        self.lookups += 1
        return {k: Known(self.fingerprints[k]) for k in keys if k in self.fingerprints}

    def record(self, items: list[Any]) -> None:
        for item in items:
            if isinstance(item, Accepted):
                assert item.fingerprint is not None
                self.fingerprints[item.record.key] = item.fingerprint


@pytest.fixture
def parses(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The kinds of the rows pydantic parses, one entry per parse."""
    seen: list[str] = []
    for kind, model in RECORD_MODELS.items():
        original = model.model_validate

        def counting(data: Any, *args: Any, _original: Any = original, _kind: str = kind.value, **kw: Any) -> Any:
            seen.append(_kind)
            return _original(data, *args, **kw)

        monkeypatch.setattr(model, "model_validate", counting)
    yield seen


def export(tmp_path: Path, contacts: str = ROW_1 + ROW_2, sites: str = SITES, enrollments: str = ENROLLMENTS) -> Path:
    (tmp_path / "peer_contacts.csv").write_text(CONTACTS + contacts, encoding="utf-8")
    (tmp_path / "sites.csv").write_text(sites, encoding="utf-8")
    (tmp_path / "enrollments.csv").write_text(enrollments, encoding="utf-8")
    return tmp_path


def read(
    path: Path, store: Store, *, m: Mappings = M, tz: ZoneInfo = UTC, options: MappingOptions | None = None
) -> list[Any]:
    """Read the contacts as a sync does, then record what was accepted (as if it all landed)."""
    folder = InputFolder(path, m, m.vocabulary(tz))
    lookups = lookups_of(folder)
    options = options or MappingOptions()
    skip = RowSkip(row_digest(m, options, InputKind.CONTACTS, folder.vocab), store.known, lookups.row_context)
    items = list(folder.records(InputKind.CONTACTS, skip))
    store.record(items)
    return items


def keys_of(items: list[Any], cls: type) -> list[str]:
    return [i.record.key for i in items if isinstance(i, cls)]


def test_an_unchanged_rerun_parses_no_contact_row(tmp_path: Path, parses: list[str]) -> None:
    path, store = export(tmp_path), Store()
    read(path, store)
    assert parses.count("contacts") == 2
    parses.clear()
    again = read(path, store)
    assert keys_of(again, Unchanged) == ["C-1", "C-2"]
    assert [i.source.line for i in again] == [2, 3]
    assert "contacts" not in parses
    assert store.lookups == 2  # one state-store lookup per batch of rows, not one per row


def test_a_changed_cell_is_parsed_again_and_the_rest_is_not(tmp_path: Path, parses: list[str]) -> None:
    path, store = export(tmp_path), Store()
    read(path, store)
    export(tmp_path, ROW_1.replace(",30,", ",31,") + ROW_2)
    parses.clear()
    again = read(path, store)
    assert keys_of(again, Accepted) == ["C-1"]
    assert keys_of(again, Unchanged) == ["C-2"]
    assert parses.count("contacts") == 1


def test_spacing_and_column_order_that_parse_the_same_are_unchanged(tmp_path: Path, parses: list[str]) -> None:
    path, store = export(tmp_path), Store()
    read(path, store)
    reordered = "patient_mrn,contact_id,peer_id,start,mode,status,duration_min,setting,site_id,purposes,extra\n"
    row = "MRN-2 , C-2,P-1,2026-01-06T10:00:00-05:00,telephone,completed,20,,,,anything\n"
    (tmp_path / "peer_contacts.csv").write_text(reordered + row, encoding="utf-8")
    assert keys_of(read(path, store), Unchanged) == ["C-2"]


@pytest.mark.parametrize(
    "change",
    [
        pytest.param({"sites": "site_id,name,kind\nS-1,Main Clinic,emergency_department\n"}, id="site kind"),
        pytest.param(
            {"enrollments": ENROLLMENTS.replace("2026-01-01,active,", "2026-01-01,finished,2026-01-04")},
            id="enrollment period",
        ),
        pytest.param({"enrollments": ENROLLMENTS.replace("active", "planned")}, id="enrollment status"),
    ],
)
def test_a_changed_looked_up_row_reparses_the_contacts_that_read_it(
    tmp_path: Path, parses: list[str], change: dict[str, str]
) -> None:
    path, store = export(tmp_path), Store()
    read(path, store)
    export(tmp_path, **change)
    again = read(path, store)
    assert keys_of(again, Accepted) == ["C-1"]  # at site S-1, patient MRN-1
    assert keys_of(again, Unchanged) == ["C-2"]  # no site, another patient


def test_a_new_mapping_version_time_zone_or_option_reparses_every_row(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path, store = export(tmp_path), Store()
    read(path, store)
    assert keys_of(read(path, store, tz=ZoneInfo("America/New_York")), Accepted) == ["C-1", "C-2"]
    assert keys_of(read(path, store, options=MappingOptions(part2_labels=False)), Accepted) == ["C-1", "C-2"]
    other = M.model_copy(update={"identifiers": M.identifiers.model_copy(update={"namespace": "urn:other"})})
    assert keys_of(read(path, store, m=other), Accepted) == ["C-1", "C-2"]
    monkeypatch.setattr(pipeline, "__version__", "99.0.0")
    assert keys_of(read(path, store, m=other), Accepted) == ["C-1", "C-2"]
    assert keys_of(read(path, store, m=other), Unchanged) == ["C-1", "C-2"]


def test_a_row_read_with_warnings_is_read_and_warned_about_on_every_run(tmp_path: Path) -> None:
    path, store = export(tmp_path, ROW_1.replace("engagement", "engagement;juggling") + ROW_2), Store()
    read(path, store)
    assert store.fingerprints["C-1"].endswith(WARNED)
    for _ in range(2):
        folder = InputFolder(path, M, M.vocabulary(UTC))
        skip = RowSkip(row_digest(M, MappingOptions(), InputKind.CONTACTS, folder.vocab), store.known,
                       lookups_of(folder).row_context)  # fmt: skip
        items = list(folder.records(InputKind.CONTACTS, skip))
        assert keys_of(items, Accepted) == ["C-1"]
        assert items[0].fingerprint == store.fingerprints["C-1"]  # so the engine still skips mapping it
        assert [(w.line, w.column) for w in folder.warnings] == [(2, "purposes")]


def test_a_rejected_row_is_rejected_again_even_when_its_key_is_known(tmp_path: Path) -> None:
    path, store = export(tmp_path), Store()
    read(path, store)
    export(tmp_path, ROW_1.replace("in_person", "carrier_pigeon") + ROW_2)
    for _ in range(2):
        items = read(path, store)
        assert [(r.id, r.column) for r in items if isinstance(r, Rejection)] == [("C-1", "mode")]


def test_a_duplicate_of_an_unchanged_row_is_still_rejected_as_a_duplicate(tmp_path: Path) -> None:
    path, store = export(tmp_path), Store()
    read(path, store)
    export(tmp_path, ROW_1 + ROW_2 + ROW_1)
    items = read(path, store)
    assert keys_of(items, Unchanged) == ["C-1", "C-2"]
    assert [(r.line, r.reason) for r in items if isinstance(r, Rejection)] == [(4, "contact_id: duplicate of line 2")]


def test_care_team_rows_cannot_be_skipped_one_by_one(tmp_path: Path) -> None:
    (tmp_path / "care_team.csv").write_text("team_id,patient_mrn,staff_id,role,start_date\n", encoding="utf-8")
    folder = InputFolder(tmp_path, M, M.vocabulary(UTC))
    with pytest.raises(ValueError, match="several fields"):
        list(folder.records(InputKind.CARE_TEAM, RowSkip("d", Store().known)))
