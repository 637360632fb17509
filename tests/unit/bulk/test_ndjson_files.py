"""The NDJSON export writer: parts of bounded size, the manifest, the key sidecar, streaming and crash safety."""

from __future__ import annotations

import json
import tracemalloc
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from fhirpeer._version import __version__
from fhirpeer.bulk import ndjson_files
from fhirpeer.bulk.errors import BulkExportError
from fhirpeer.bulk.manifest import KEYS_FILE, MANIFEST_FILE, Manifest, read_manifest, sha256_of, verify_files
from fhirpeer.bulk.ndjson_files import NdjsonExportWriter
from fhirpeer.content_hash import content_hash

NAMESPACE = "https://fhirpeer.test/bulk"
FIXED = datetime(2026, 1, 5, 15, 0, 0, 123000, tzinfo=UTC)


def encounter(n: int, **extra: Any) -> dict[str, Any]:
    return {
        "resourceType": "Encounter",
        "id": f"enc-{n:05d}",
        "status": "finished",
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},  # v3-ActCode AMB
        "subject": {"reference": f"Patient/pat-{n:05d}"},
        **extra,
    }


def patient(n: int) -> dict[str, Any]:
    return {"resourceType": "Patient", "id": f"pat-{n:05d}", "name": [{"family": "Ñúñez", "given": ["Zoë"]}]}


def writer(out: Path, **options: Any) -> NdjsonExportWriter:
    return NdjsonExportWriter(out, namespace=NAMESPACE, clock=lambda: FIXED, **options)


def lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def visible(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if not p.name.startswith("."))


# --- parts ----------------------------------------------------------------------------------------------


def test_parts_are_cut_at_the_resource_limit(tmp_path: Path) -> None:
    with writer(tmp_path, max_resources_per_part=2) as w:
        for n in range(5):
            w.add(encounter(n), key=f"C-{n}")
    manifest = w.manifest
    assert manifest is not None
    assert [(o.url, o.count) for o in manifest.outputs] == [
        ("Encounter.0001.ndjson", 2),
        ("Encounter.0002.ndjson", 2),
        ("Encounter.0003.ndjson", 1),
    ]
    written = [r for o in manifest.outputs for r in lines(tmp_path / o.url)]
    assert written == [encounter(n) for n in range(5)]


def test_parts_are_cut_before_the_byte_limit(tmp_path: Path) -> None:
    one_line = len(json.dumps(encounter(0), separators=(",", ":")).encode()) + 1
    limit = 2 * one_line + 5
    with writer(tmp_path, max_bytes_per_part=limit) as w:
        for n in range(5):
            w.add(encounter(n), key=f"C-{n}")
    assert w.manifest is not None
    sizes = [(tmp_path / o.url).stat().st_size for o in w.manifest.outputs]
    assert sizes == [2 * one_line, 2 * one_line, one_line]
    assert all(size <= limit for size in sizes)


def test_a_resource_bigger_than_the_byte_limit_gets_a_part_of_its_own(tmp_path: Path) -> None:
    with writer(tmp_path, max_bytes_per_part=300) as w:
        w.add(encounter(0), key="C-0")
        w.add(encounter(1, text={"status": "generated", "div": "<div>" + "x" * 400 + "</div>"}), key="C-1")
        w.add(encounter(2), key="C-2")
    assert w.manifest is not None
    assert [o.count for o in w.manifest.outputs] == [1, 1, 1]


def test_one_resource_per_line_utf8_and_byte_exact(tmp_path: Path) -> None:
    with writer(tmp_path) as w:
        w.add(patient(1), key="MRN-1")
    raw = (tmp_path / "Patient.0001.ndjson").read_bytes()
    assert raw.count(b"\n") == 1 and raw.endswith(b"\n")
    assert "Ñúñez".encode() in raw  # not \u-escaped
    assert json.loads(raw) == patient(1)


# --- manifest -------------------------------------------------------------------------------------------


def test_manifest_lists_parts_in_import_order_with_counts_sizes_and_hashes(tmp_path: Path) -> None:
    with writer(tmp_path, max_resources_per_part=2) as w:
        for n in range(3):
            w.add(encounter(n), key=f"C-{n}")
        w.add({"resourceType": "Basic", "id": "b-1"}, key="B-1")
        for n in range(3):
            w.add(patient(n), key=f"MRN-{n}")
        w.add({"resourceType": "Organization", "id": "org-1"}, key="S-1")
    document = json.loads((tmp_path / MANIFEST_FILE).read_text())
    assert document["transactionTime"] == "2026-01-05T15:00:00.123Z"
    assert document["requiresAccessToken"] is False
    assert document["error"] == []
    assert [(o["type"], o["url"], o["count"]) for o in document["output"]] == [
        ("Organization", "Organization.0001.ndjson", 1),
        ("Patient", "Patient.0001.ndjson", 2),
        ("Patient", "Patient.0002.ndjson", 1),
        ("Encounter", "Encounter.0001.ndjson", 2),
        ("Encounter", "Encounter.0002.ndjson", 1),
        ("Basic", "Basic.0001.ndjson", 1),  # a type outside the roster order goes last
    ]
    own = document["extension"]["fhirpeer"]
    assert own["formatVersion"] == 1
    assert own["fhirpeerVersion"] == __version__
    assert own["namespace"] == NAMESPACE
    assert own["importOrder"] == ["Organization", "Patient", "Encounter", "Basic"]
    for name, details in own["files"].items():
        assert details == {"bytes": (tmp_path / name).stat().st_size, "sha256": sha256_of(tmp_path / name)}
    assert own["keys"] == {"url": KEYS_FILE, "count": 8, "sha256": sha256_of(tmp_path / KEYS_FILE)}
    manifest = read_manifest(tmp_path, verify=True)
    assert manifest == w.manifest
    assert manifest.counts() == {"Organization": 1, "Patient": 3, "Encounter": 3, "Basic": 1}
    assert manifest.total == 8


def test_an_empty_export_still_has_a_manifest(tmp_path: Path) -> None:
    with writer(tmp_path) as w:
        pass
    manifest = read_manifest(tmp_path, verify=True)
    assert manifest.outputs == () and manifest.keys_count == 0
    assert w.manifest == manifest


@pytest.mark.parametrize("bad_url", ["../Encounter.0001.ndjson", "/etc/passwd", "Patient.0001.ndjson", "x.json"])
def test_a_manifest_naming_anything_but_its_own_parts_is_refused(tmp_path: Path, bad_url: str) -> None:
    with writer(tmp_path) as w:
        w.add(encounter(1), key="C-1")
    document = json.loads((tmp_path / MANIFEST_FILE).read_text())
    document["extension"]["fhirpeer"]["files"][bad_url] = document["extension"]["fhirpeer"]["files"].pop(
        "Encounter.0001.ndjson"
    )
    document["output"][0]["url"] = bad_url
    with pytest.raises(BulkExportError, match="not a part file name"):
        Manifest.from_json(document)


# --- key sidecar ----------------------------------------------------------------------------------------


def test_sidecar_has_type_id_key_and_hash_per_resource(tmp_path: Path) -> None:
    with writer(tmp_path) as w:
        w.add(patient(1), key="MRN-1")
        w.add(encounter(1), key="C-1", content_hash="given-hash")
    assert lines(tmp_path / KEYS_FILE) == [
        {"resourceType": "Patient", "id": "pat-00001", "key": "MRN-1", "hash": content_hash(patient(1))},
        {"resourceType": "Encounter", "id": "enc-00001", "key": "C-1", "hash": "given-hash"},
    ]


# --- streaming ------------------------------------------------------------------------------------------


def peak_bytes_writing(out: Path, count: int) -> int:
    def resources() -> Iterator[dict[str, Any]]:
        for n in range(count):
            yield encounter(n)

    tracemalloc.start()
    try:
        with writer(out, max_resources_per_part=2000) as w:
            for n, resource in enumerate(resources()):
                w.add(resource, key=f"C-{n}")
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_memory_does_not_grow_with_the_export(tmp_path: Path) -> None:
    small = peak_bytes_writing(tmp_path / "small", 300)
    large = peak_bytes_writing(tmp_path / "large", 6_000)  # keeping them would take megabytes
    assert large < small * 1.5 + 64 * 1024, (small, large)
    assert read_manifest(tmp_path / "large").total == 6_000


def test_lines_reach_the_disk_while_the_export_runs(tmp_path: Path) -> None:
    w = writer(tmp_path, max_resources_per_part=10)
    with w:
        for n in range(25):
            w.add(encounter(n), key=f"C-{n}")
        staged = [p for p in tmp_path.iterdir() if p.name.startswith(".fhirpeer-export-")]
        assert len(staged) == 1
        finished = sorted(p.name for p in staged[0].iterdir() if p.stat().st_size > 0)
        assert "Encounter.0001.ndjson" in finished and "Encounter.0002.ndjson" in finished
        assert w.counts == {"Encounter": 25}


# --- crash safety ---------------------------------------------------------------------------------------


def test_an_exception_during_the_export_leaves_no_manifest_and_no_parts(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError), writer(tmp_path) as w:
        w.add(encounter(1), key="C-1")
        raise RuntimeError("mapping blew up")
    assert list(tmp_path.iterdir()) == []


def test_a_killed_export_leaves_no_manifest(tmp_path: Path) -> None:
    w = writer(tmp_path)
    w.open()
    w.add(encounter(1), key="C-1")
    # the process dies here: no close(), no abort()
    assert visible(tmp_path) == []
    with pytest.raises(BulkExportError, match="no manifest"):
        read_manifest(tmp_path)


def test_a_crash_before_the_manifest_is_written_leaves_parts_no_manifest_points_at(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def crash(*args: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(ndjson_files, "write_manifest", crash)
    w = writer(tmp_path)
    w.open()
    w.add(encounter(1), key="C-1")
    with pytest.raises(OSError):
        w.close()
    assert MANIFEST_FILE not in visible(tmp_path)
    with pytest.raises(BulkExportError, match="no manifest"):
        read_manifest(tmp_path)


def test_overwrite_removes_the_old_manifest_before_touching_its_files(tmp_path: Path) -> None:
    with writer(tmp_path, max_resources_per_part=1) as w:
        for n in range(3):
            w.add(encounter(n), key=f"C-{n}")
    (tmp_path / "notes.txt").write_text("kept")
    again = writer(tmp_path, overwrite=True)
    again.open()
    assert MANIFEST_FILE not in visible(tmp_path)  # from here on, a crash leaves no manifest
    again.add(encounter(9), key="C-9")
    manifest = again.close()
    assert visible(tmp_path) == sorted(["Encounter.0001.ndjson", KEYS_FILE, MANIFEST_FILE, "notes.txt"])
    assert [o.count for o in manifest.outputs] == [1]
    assert lines(tmp_path / "Encounter.0001.ndjson") == [encounter(9)]
    verify_files(tmp_path, manifest)


def test_a_non_empty_folder_is_refused_without_overwrite(tmp_path: Path) -> None:
    (tmp_path / "something.csv").write_text("a,b\n")
    with pytest.raises(BulkExportError, match="not empty"):
        writer(tmp_path).open()


def test_verification_catches_a_part_changed_after_the_export(tmp_path: Path) -> None:
    with writer(tmp_path) as w:
        w.add(encounter(1), key="C-1")
        w.add(encounter(2), key="C-2")
    part = tmp_path / "Encounter.0001.ndjson"
    part.write_bytes(part.read_bytes()[:-10])
    with pytest.raises(BulkExportError, match=r"Encounter\.0001\.ndjson: size differs"):
        read_manifest(tmp_path, verify=True)
    part.write_bytes(part.read_bytes() + b"0123456789")
    with pytest.raises(BulkExportError, match="SHA-256 mismatch"):
        read_manifest(tmp_path, verify=True)


# --- refused resources ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("resource", "key", "message"),
    [
        ({"resourceType": "Patient", "name": [{"family": "Doe"}]}, "MRN-1", "without a valid id"),
        ({"resourceType": "Patient", "id": "has space", "name": [{"family": "Doe"}]}, "MRN-1", "without a valid id"),
        ({"id": "p1", "name": [{"family": "Doe"}]}, "MRN-1", "without a valid resourceType"),
        ({"resourceType": "Patient", "id": "p1", "name": [{"family": "Doe"}]}, "", "business key is empty"),
        (
            encounter(1, subject={"reference": "Patient?identifier=https://x|Doe"}),
            "C-1",
            "Encounter/enc-00001: subject.reference is not a literal reference",
        ),
        (
            encounter(1, participant=[{"individual": {"reference": "urn:uuid:Doe"}}]),
            "C-1",
            "participant.individual.reference is not a literal reference",
        ),
    ],
)
def test_resources_bulk_import_cannot_take_are_refused_without_echoing_values(
    tmp_path: Path, resource: dict[str, Any], key: str, message: str
) -> None:
    with writer(tmp_path) as w, pytest.raises(BulkExportError, match=message) as caught:
        w.add(resource, key=key)
    assert "Doe" not in str(caught.value)


def test_part_limits_must_be_positive(tmp_path: Path) -> None:
    with pytest.raises(BulkExportError):
        writer(tmp_path, max_resources_per_part=0)
    with pytest.raises(BulkExportError):
        writer(tmp_path, max_bytes_per_part=0)


def test_an_aborted_export_cannot_be_closed_or_reused(tmp_path: Path) -> None:
    w = writer(tmp_path)
    w.open()
    w.add(encounter(1), key="C-1")
    w.abort()
    with pytest.raises(BulkExportError, match="aborted"):
        w.close()
    with pytest.raises(BulkExportError, match="closed"):
        w.add(encounter(2), key="C-2")
    assert list(tmp_path.iterdir()) == []
