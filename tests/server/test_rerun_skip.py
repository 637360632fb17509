"""A rerun skips unchanged rows before parsing them, and reports bad rows exactly as the first run did: rows
rejected or read with warnings are read again every run, and a duplicate of an unchanged row is still rejected."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from fhirpeer.records import ContactRecord
from tests.support.sync_run import rows, sync, write_rows


def written(report: dict[str, Any]) -> int:
    return sum(c["created"] + c["updated"] for c in report["counts"].values())


@pytest.fixture
def contact_parses(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The contact_id of every contact row pydantic parses."""
    seen: list[str] = []
    original = ContactRecord.model_validate

    def counting(data: Any, *args: Any, **kwargs: Any) -> Any:
        seen.append(data.get("contact_id", ""))
        return original(data, *args, **kwargs)

    monkeypatch.setattr(ContactRecord, "model_validate", counting)
    return seen


def test_a_rerun_parses_only_the_rows_it_must_report_again(
    fhir_base_url: str, test_namespace: str, export: Path, tmp_path: Path, contact_parses: list[str]
) -> None:
    contacts = rows(export / "peer_contacts.csv")
    bad, warned = contacts[2], contacts[3]
    bad["mode"] = "carrier_pigeon"
    warned["purposes"] = "engagement;juggling"
    write_rows(export / "peer_contacts.csv", [*contacts, dict(contacts[0])])  # the last row: a duplicate
    code, first = sync(fhir_base_url, test_namespace, export, tmp_path)
    assert code == 1
    assert written(first) > 0
    contact_parses.clear()

    code, again = sync(fhir_base_url, test_namespace, export, tmp_path)
    assert code == 1
    assert written(again) == 0
    assert sorted(contact_parses) == sorted([bad["contact_id"], warned["contact_id"]])
    assert again["rejected"] == first["rejected"]
    assert {(r["id"], r["line"]) for r in again["rejected"]} >= {
        (bad["contact_id"], 4), (contacts[0]["contact_id"], len(contacts) + 2),
    }  # fmt: skip
    assert again["warnings"] == first["warnings"]
    assert any(w["line"] == 5 and w["column"] == "purposes" for w in again["warnings"])
