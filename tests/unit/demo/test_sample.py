"""The sample-program generator: contract-valid, realistic, deterministic, streaming."""

from __future__ import annotations

import csv
import re
import statistics
import tracemalloc
from collections import Counter, defaultdict
from datetime import date, datetime
from pathlib import Path

import pytest

from fhirpeer.demo.sample import (
    HEADERS,
    SampleSummary,
    apply_changes,
    generate_program,
    monthly_active_targets,
    npi_is_valid,
    patients_for_contacts,
)

# The contract (shared/spec/contract.md), spelled out here so the test does not trust the code under test.
COLUMNS = {
    "patients.csv": {"patient_mrn", "family_name", "given_name", "birth_date", "gender"},
    "staff.csv": {"staff_id", "npi", "family_name", "given_name", "discipline", "site_id"},
    "sites.csv": {"site_id", "name", "kind"},
    "peer_contacts.csv": {
        "contact_id", "patient_mrn", "peer_id", "start", "mode", "status", "duration_min", "setting",
        "site_id", "purposes",
    },
    "care_team.csv": {"team_id", "patient_mrn", "staff_id", "role", "start_date", "end_date", "site_id"},
    "handoffs.csv": {
        "handoff_id", "patient_mrn", "kind", "requested_at", "status", "requester_id", "to_staff_id",
        "to_site_id", "priority", "via", "note",
    },
    "enrollments.csv": {
        "enrollment_id", "patient_mrn", "start_date", "status", "end_date", "end_reason", "peer_id", "team_id",
        "site_id", "program",
    },
}  # fmt: skip
REQUIRED = {
    "patients.csv": ("patient_mrn",),
    "staff.csv": ("staff_id",),
    "sites.csv": ("site_id", "name"),
    "peer_contacts.csv": ("contact_id", "patient_mrn", "peer_id", "start", "mode", "status"),
    "care_team.csv": ("team_id", "patient_mrn", "staff_id", "role", "start_date"),
    "handoffs.csv": ("handoff_id", "patient_mrn", "kind", "requested_at", "status"),
    "enrollments.csv": ("enrollment_id", "patient_mrn", "start_date", "status"),
}
GENDERS = {"female", "male", "other", "unknown"}
DISCIPLINES = {
    "peer",
    "pcp",
    "lcsw",
    "psychiatrist",
    "peer_supervisor",
    "case_manager",
    "ed_clinician",
    "other",
}
SITE_KINDS = {
    "primary_care", "emergency_department", "hospital", "community_peer_program", "mental_health",
    "sud_treatment", "mutual_aid", "housing", "transportation", "legal", "employment", "childcare",
    "eldercare", "home_health", "other",
}  # fmt: skip
MODES = {"in_person", "telephone", "video", "text"}
CONTACT_STATUSES = {"completed", "scheduled", "cancelled", "no_show", "entered_in_error"}
SETTINGS = {"clinic", "community", "home", "hospital"}
PURPOSES = {
    "engagement", "recovery_planning", "resource_navigation", "appointment_support", "crisis_support",
    "discharge_support", "aftercare_planning", "harm_reduction",
}  # fmt: skip
ROLES = {
    "peer",
    "pcp",
    "oversight_pcp",
    "champion_pcp",
    "lcsw",
    "psychiatrist",
    "peer_supervisor",
    "case_manager",
}
HANDOFF_KINDS = {
    "ed_to_peer", "aftercare_peer", "mental_health", "sud_treatment", "mutual_aid", "housing",
    "transportation", "legal", "employment", "childcare", "eldercare", "home_health", "other",
}  # fmt: skip
HANDOFF_STATUSES = {"proposed", "active", "completed", "declined", "cancelled", "entered_in_error"}
PRIORITIES = {"", "routine", "urgent", "asap", "stat"}
VIA = {"", "in_person", "warm_line", "telephone", "video"}

ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
ISO_STAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}[+-]\d{2}:\d{2}$")
PATIENTS = 500


def read(folder: Path, name: str) -> list[dict[str, str]]:
    with (folder / name).open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def header(folder: Path, name: str) -> list[str]:
    with (folder / name).open(encoding="utf-8", newline="") as handle:
        return next(csv.reader(handle))


def is_date(value: str) -> bool:
    if not ISO_DATE.match(value):
        return False
    date.fromisoformat(value)
    return True


def is_stamp(value: str) -> bool:
    return bool(ISO_STAMP.match(value)) and datetime.fromisoformat(value).tzinfo is not None


@pytest.fixture(scope="module")
def program(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, SampleSummary]:
    out = tmp_path_factory.mktemp("program")
    return out, generate_program(out, patients=PATIENTS)


@pytest.fixture(scope="module")
def rows(program: tuple[Path, SampleSummary]) -> dict[str, list[dict[str, str]]]:
    return {name: read(program[0], name) for name in COLUMNS}


# --- shape of the files


def test_every_file_has_the_contract_header(program: tuple[Path, SampleSummary]) -> None:
    for name, columns in COLUMNS.items():
        got = header(program[0], name)
        assert set(got) == columns, name
        assert tuple(got) == HEADERS[name]


def test_plain_utf8_without_bom(program: tuple[Path, SampleSummary]) -> None:
    for name in COLUMNS:
        raw = (program[0] / name).read_bytes()
        assert not raw.startswith(b"\xef\xbb\xbf")
        raw.decode("utf-8")


def test_required_cells_present_and_business_keys_unique(rows: dict[str, list[dict[str, str]]]) -> None:
    for name, required in REQUIRED.items():
        for row in rows[name]:
            assert all(row[column] for column in required), (name, row)
    for name, key in (
        ("patients.csv", "patient_mrn"),
        ("staff.csv", "staff_id"),
        ("sites.csv", "site_id"),
        ("peer_contacts.csv", "contact_id"),
        ("handoffs.csv", "handoff_id"),
    ):
        keys = [row[key] for row in rows[name]]
        assert len(keys) == len(set(keys)), name
    team_keys = [(row["team_id"], row["staff_id"]) for row in rows["care_team.csv"]]
    assert len(team_keys) == len(set(team_keys))


def test_summary_counts_match_the_files(
    program: tuple[Path, SampleSummary], rows: dict[str, list[dict[str, str]]]
) -> None:
    summary = program[1]
    assert summary.counts == {name: len(rows[name]) for name in COLUMNS}
    assert summary.counts["patients.csv"] == PATIENTS
    assert summary.contacts == len(rows["peer_contacts.csv"])
    assert "contact modes" in summary.format()


# --- values allowed by the contract


def test_patients(rows: dict[str, list[dict[str, str]]]) -> None:
    start = date(2026, 1, 5)
    for row in rows["patients.csv"]:
        assert re.fullmatch(r"MRN\d{6}", row["patient_mrn"])
        assert row["gender"] in GENDERS
        assert row["family_name"] and row["given_name"]
        born = date.fromisoformat(row["birth_date"])
        age = start.year - born.year - ((start.month, start.day) < (born.month, born.day))
        assert 18 <= age <= 75
    assert set(Counter(row["gender"] for row in rows["patients.csv"])) == GENDERS


def test_names_are_diverse_and_exercise_encoding(rows: dict[str, list[dict[str, str]]]) -> None:
    names = [(row["family_name"], row["given_name"]) for row in rows["patients.csv"]]
    families = {family for family, _ in names}
    givens = {given for _, given in names}
    assert ("Núñez", "José") in names
    assert "Zoë" in givens and "Nguyễn" in families
    assert any("'" in family for family in families)
    assert any("-" in family for family in families)
    assert sum(not (family + given).isascii() for family, given in names) > PATIENTS // 10
    assert len(families) > 50


def test_staff_and_npis(rows: dict[str, list[dict[str, str]]]) -> None:
    sites = {row["site_id"] for row in rows["sites.csv"]}
    npis = []
    for row in rows["staff.csv"]:
        assert row["discipline"] in DISCIPLINES
        assert not row["site_id"] or row["site_id"] in sites
        if row["discipline"] == "peer":
            assert row["npi"] == ""
        if row["discipline"] in ("pcp", "lcsw", "psychiatrist", "ed_clinician"):
            assert re.fullmatch(r"\d{10}", row["npi"]) and npi_is_valid(row["npi"]), row
            npis.append(row["npi"])
    assert len(npis) == len(set(npis))
    disciplines = Counter(row["discipline"] for row in rows["staff.csv"])
    assert disciplines["peer"] == -(-PATIENTS // 15)
    for smaller_pool in ("pcp", "lcsw", "psychiatrist", "peer_supervisor"):
        assert 0 < disciplines[smaller_pool] < disciplines["peer"]
    assert disciplines["ed_clinician"] >= 2


def test_npi_check_digit() -> None:
    assert npi_is_valid("1234567893")  # CMS's published example
    assert not npi_is_valid("1234567890")
    assert not npi_is_valid("123456789")


def test_sites(rows: dict[str, list[dict[str, str]]]) -> None:
    kinds = Counter(row["kind"] for row in rows["sites.csv"])
    assert set(kinds) <= SITE_KINDS
    assert 1 <= kinds["primary_care"] <= 2
    for kind in ("emergency_department", "community_peer_program", "housing", "transportation", "mutual_aid"):
        assert kinds[kind] >= 1, kind
    assert all(row["name"] for row in rows["sites.csv"])


def test_contacts_values(rows: dict[str, list[dict[str, str]]]) -> None:
    for row in rows["peer_contacts.csv"]:
        assert re.fullmatch(r"C-\d{7}", row["contact_id"])
        assert is_stamp(row["start"]) and row["start"].endswith("-05:00")
        assert row["mode"] in MODES and row["status"] in CONTACT_STATUSES
        if row["duration_min"]:
            assert row["status"] == "completed"
            assert 0 <= int(row["duration_min"]) <= 1440
            assert 1 <= int(row["duration_min"]) <= 240
        assert (row["setting"] != "") == (row["mode"] == "in_person")
        assert not row["setting"] or row["setting"] in SETTINGS
        if row["purposes"]:
            parts = row["purposes"].split(";")
            assert set(parts) <= PURPOSES and len(parts) == len(set(parts))
    statuses = Counter(row["status"] for row in rows["peer_contacts.csv"])
    assert statuses["completed"] / sum(statuses.values()) > 0.75
    for status in ("scheduled", "cancelled", "no_show"):
        assert statuses[status] > 0


def test_in_person_settings_and_purposes(rows: dict[str, list[dict[str, str]]]) -> None:
    in_person = [row for row in rows["peer_contacts.csv"] if row["mode"] == "in_person"]
    settings = Counter(row["setting"] for row in in_person)
    assert settings.most_common(1)[0][0] == "clinic" and set(settings) == SETTINGS
    for row in in_person:
        if row["setting"] == "hospital":
            assert "discharge_support" in row["purposes"].split(";")
        if row["setting"] == "home":
            assert row["site_id"] == ""
    purposes = Counter(p for row in rows["peer_contacts.csv"] for p in row["purposes"].split(";") if p)
    assert set(purposes) == PURPOSES


def test_scheduled_contacts_are_in_the_future_of_the_export(
    program: tuple[Path, SampleSummary], rows: dict[str, list[dict[str, str]]]
) -> None:
    as_of = program[1].as_of
    for row in rows["peer_contacts.csv"]:
        day = date.fromisoformat(row["start"][:10])
        if row["status"] in ("scheduled",):
            assert day >= as_of
        if row["status"] in ("completed", "no_show", "entered_in_error"):
            assert day < as_of


def test_care_team_values(rows: dict[str, list[dict[str, str]]]) -> None:
    for row in rows["care_team.csv"]:
        assert re.fullmatch(r"T-\d{6}", row["team_id"]) and row["team_id"][2:] == row["patient_mrn"][3:]
        assert row["role"] in ROLES
        assert is_date(row["start_date"])
        if row["end_date"]:
            assert is_date(row["end_date"]) and row["end_date"] >= row["start_date"]


def test_care_teams_have_the_core_roles_and_rotating_coverage(rows: dict[str, list[dict[str, str]]]) -> None:
    teams: dict[str, list[dict[str, str]]] = defaultdict(list)
    for row in rows["care_team.csv"]:
        teams[row["team_id"]].append(row)
    assert len(teams) == PATIENTS
    rotations = 0
    for members in teams.values():
        roles = Counter(member["role"] for member in members)
        assert {"peer", "pcp", "lcsw", "psychiatrist"} <= set(roles)
        assert len({member["patient_mrn"] for member in members}) == 1
        for role, n in roles.items():
            if n == 2:  # a replacement: the first ends the day the second starts
                first, second = sorted((m for m in members if m["role"] == role), key=lambda m: m["start_date"])
                assert first["end_date"] == second["start_date"] > first["start_date"]
                rotations += 1
    assert rotations >= 10
    roles = Counter(row["role"] for row in rows["care_team.csv"])
    assert roles["oversight_pcp"] > 0 and roles["peer_supervisor"] > 0


def test_handoffs_values(rows: dict[str, list[dict[str, str]]]) -> None:
    staff = {row["staff_id"]: row for row in rows["staff.csv"]}
    sites = {row["site_id"]: row for row in rows["sites.csv"]}
    for row in rows["handoffs.csv"]:
        assert re.fullmatch(r"H-\d{7}", row["handoff_id"])
        assert row["kind"] in HANDOFF_KINDS and row["status"] in HANDOFF_STATUSES
        assert is_stamp(row["requested_at"])
        assert row["priority"] in PRIORITIES and row["via"] in VIA
        if row["kind"] == "ed_to_peer":
            assert staff[row["requester_id"]]["discipline"] == "ed_clinician"
            assert sites[row["to_site_id"]]["kind"] == "community_peer_program"
            assert row["via"] in ("warm_line", "in_person")
        elif row["kind"] == "aftercare_peer":
            assert staff[row["requester_id"]]["discipline"] == "peer"
        elif row["to_site_id"]:
            assert sites[row["to_site_id"]]["kind"] == row["kind"]
    kinds = Counter(row["kind"] for row in rows["handoffs.csv"])
    for kind in ("ed_to_peer", "aftercare_peer", "housing", "transportation", "mental_health", "mutual_aid"):
        assert kinds[kind] > 0, kind
    priorities = Counter(row["priority"] for row in rows["handoffs.csv"] if row["kind"] == "ed_to_peer")
    assert priorities["urgent"] + priorities["asap"] > 0


def test_handoff_notes_exercise_quoting(
    program: tuple[Path, SampleSummary], rows: dict[str, list[dict[str, str]]]
) -> None:
    notes = [row["note"] for row in rows["handoffs.csv"] if row["note"]]
    assert any("," in note for note in notes)
    assert any('"' in note for note in notes)
    assert any("\n" in note for note in notes)
    physical_lines = (program[0] / "handoffs.csv").read_text(encoding="utf-8").count("\n")
    assert physical_lines > len(rows["handoffs.csv"]) + 1


def test_references_resolve(rows: dict[str, list[dict[str, str]]]) -> None:
    mrns = {row["patient_mrn"] for row in rows["patients.csv"]}
    staff = {row["staff_id"]: row["discipline"] for row in rows["staff.csv"]}
    sites = {row["site_id"] for row in rows["sites.csv"]}
    for row in rows["peer_contacts.csv"]:
        assert row["patient_mrn"] in mrns and staff[row["peer_id"]] == "peer"
        assert not row["site_id"] or row["site_id"] in sites
    for row in rows["care_team.csv"]:
        assert row["patient_mrn"] in mrns and row["staff_id"] in staff
        assert not row["site_id"] or row["site_id"] in sites
    for row in rows["handoffs.csv"]:
        assert row["patient_mrn"] in mrns
        for column in ("requester_id", "to_staff_id"):
            assert not row[column] or row[column] in staff
        assert not row["to_site_id"] or row["to_site_id"] in sites


def test_contact_peer_is_on_the_patient_team_that_day(rows: dict[str, list[dict[str, str]]]) -> None:
    spans: dict[str, list[tuple[str, str, str]]] = defaultdict(list)
    for row in rows["care_team.csv"]:
        if row["role"] == "peer":
            spans[row["patient_mrn"]].append((row["staff_id"], row["start_date"], row["end_date"] or "9999"))
    for row in rows["peer_contacts.csv"]:
        day = row["start"][:10]
        assert any(peer == row["peer_id"] and begin <= day <= end for peer, begin, end in spans[row["patient_mrn"]]), (
            row
        )


# --- realistic distributions (Penn integrated peer program)


def test_mode_shares(program: tuple[Path, SampleSummary], rows: dict[str, list[dict[str, str]]]) -> None:
    modes = Counter(row["mode"] for row in rows["peer_contacts.csv"])
    total = sum(modes.values())
    for mode, expected in (("telephone", 0.73), ("in_person", 0.26), ("video", 0.03)):
        assert abs(modes[mode] / total - expected) <= 0.04, mode
        assert program[1].mode_shares[mode] == pytest.approx(modes[mode] / total)
    assert modes["text"] / total <= 0.01


def test_contact_duration_quartiles(program: tuple[Path, SampleSummary], rows: dict[str, list[dict[str, str]]]) -> None:
    minutes = [int(row["duration_min"]) for row in rows["peer_contacts.csv"] if row["duration_min"]]
    q1, median, q3 = statistics.quantiles(minutes, n=4)
    assert abs(median - 25) <= 4
    assert abs(q1 - 11) <= 3
    assert abs(q3 - 45) <= 6
    s1, s2, s3 = program[1].duration_quartiles
    assert abs(s2 - 25) <= 4 and abs(s1 - 11) <= 3 and abs(s3 - 45) <= 6


def test_monthly_activity_falls_from_82_to_42_percent(
    program: tuple[Path, SampleSummary], rows: dict[str, list[dict[str, str]]]
) -> None:
    enrolled: dict[str, date] = {}
    for row in rows["care_team.csv"]:
        day = date.fromisoformat(row["start_date"])
        enrolled[row["patient_mrn"]] = min(day, enrolled.get(row["patient_mrn"], day))
    active: list[set[str]] = [set() for _ in range(6)]
    for row in rows["peer_contacts.csv"]:
        if row["status"] in ("completed", "scheduled"):
            month = (date.fromisoformat(row["start"][:10]) - enrolled[row["patient_mrn"]]).days // 30
            active[month].add(row["patient_mrn"])
    shares = [len(patients) / PATIENTS for patients in active]
    assert abs(shares[0] - 0.82) <= 0.06
    assert abs(shares[5] - 0.42) <= 0.06
    assert shares[0] > shares[2] > shares[5]
    assert program[1].month_active_share == pytest.approx(tuple(shares))


def test_several_contacts_per_active_month(rows: dict[str, list[dict[str, str]]]) -> None:
    per_patient_month = Counter(
        (row["patient_mrn"], row["start"][:7]) for row in rows["peer_contacts.csv"] if row["status"] == "completed"
    )
    assert statistics.mean(per_patient_month.values()) > 2


def test_peer_caseloads_between_10_and_20(
    program: tuple[Path, SampleSummary], rows: dict[str, list[dict[str, str]]]
) -> None:
    caseloads: dict[str, set[str]] = defaultdict(set)
    for row in rows["care_team.csv"]:
        if row["role"] == "peer":
            caseloads[row["staff_id"]].add(row["patient_mrn"])
    peers = {row["staff_id"] for row in rows["staff.csv"] if row["discipline"] == "peer"}
    assert set(caseloads) == peers
    sizes = [len(patients) for patients in caseloads.values()]
    assert min(sizes) >= 10 and max(sizes) <= 20
    assert program[1].caseloads == (min(sizes), max(sizes))


def test_activity_curve_interpolates_for_other_program_lengths() -> None:
    assert monthly_active_targets(6) == pytest.approx((0.82, 0.76, 0.71, 0.57, 0.54, 0.42))
    three = monthly_active_targets(3)
    assert three[0] == pytest.approx(0.82) and three[-1] == pytest.approx(0.42)
    assert three[0] > three[1] > three[2]


# --- determinism, volume, streaming


def snapshot(folder: Path) -> dict[str, bytes]:
    return {name: (folder / name).read_bytes() for name in COLUMNS}


def test_same_seed_same_files_other_seed_other_files(tmp_path: Path) -> None:
    generate_program(tmp_path / "a", patients=60, seed=3)
    generate_program(tmp_path / "b", patients=60, seed=3)
    generate_program(tmp_path / "c", patients=60, seed=4)
    assert snapshot(tmp_path / "a") == snapshot(tmp_path / "b")
    other = snapshot(tmp_path / "c")
    for name in ("patients.csv", "peer_contacts.csv", "care_team.csv", "handoffs.csv"):
        assert other[name] != snapshot(tmp_path / "a")[name], name


def test_target_contacts_sets_the_volume(tmp_path: Path) -> None:
    summary = generate_program(tmp_path, patients=200, target_contacts=12_000)
    assert abs(summary.contacts - 12_000) / 12_000 < 0.08
    assert summary.contacts_per_active_month > 3
    patients = patients_for_contacts(12_000)
    assert abs(generate_program(tmp_path / "p", patients=patients).contacts - 12_000) / 12_000 < 0.08


def test_other_offsets_and_lengths(tmp_path: Path) -> None:
    summary = generate_program(tmp_path, patients=40, months=3, site_timezone="+01:00", start=date(2025, 3, 3))
    assert len(summary.month_active_share) == 3
    contacts = read(tmp_path, "peer_contacts.csv")
    assert contacts and all(row["start"].endswith("+01:00") for row in contacts)
    with pytest.raises(ValueError):
        generate_program(tmp_path, patients=10, site_timezone="America/New_York")


def peak_memory(folder: Path, target_contacts: int) -> tuple[int, SampleSummary]:
    tracemalloc.start()
    try:
        summary = generate_program(folder, patients=400, target_contacts=target_contacts)
        return tracemalloc.get_traced_memory()[1], summary
    finally:
        tracemalloc.stop()


def test_generation_streams(tmp_path: Path) -> None:
    small_peak, small = peak_memory(tmp_path / "small", 4_000)
    big_peak, big = peak_memory(tmp_path / "big", 20_000)
    assert abs(big.contacts - 20_000) / 20_000 < 0.08
    assert abs(small.contacts - 4_000) / 4_000 < 0.08
    # Holding 16 000 more rows as lists of strings would take megabytes; streaming keeps the peak flat
    # (the fixed part is rosters, lookup tables and the csv writers' buffers).
    assert big_peak - small_peak < 100_000, (small_peak, big_peak)
    assert big_peak < (tmp_path / "big" / "peer_contacts.csv").stat().st_size


# --- incremental changes


def keyed(folder: Path) -> dict[tuple[str, str], dict[str, str]]:
    out = {}
    for name, key in (("peer_contacts.csv", "contact_id"), ("handoffs.csv", "handoff_id")):
        out.update({(name, row[key]): row for row in read(folder, name)})
    out.update({("care_team.csv", f"{r['team_id']}|{r['staff_id']}"): r for r in read(folder, "care_team.csv")})
    return out


def test_apply_changes_changes_exactly_the_returned_keys(tmp_path: Path) -> None:
    generate_program(tmp_path, patients=120)
    before = keyed(tmp_path)
    latest_completed = max(
        row["start"][:10]
        for (name, _), row in before.items()
        if name == "peer_contacts.csv" and row["status"] == "completed"
    )
    untouched = {name: (tmp_path / name).read_bytes() for name in ("patients.csv", "staff.csv", "sites.csv")}
    changed = apply_changes(tmp_path, count=7)
    after = keyed(tmp_path)

    assert len(changed) == 7 and len(set(changed)) == 7
    assert {name for name, _ in changed} == {"peer_contacts.csv", "handoffs.csv", "care_team.csv"}
    assert set(before) == set(after)
    differing = {key for key in before if before[key] != after[key]}
    assert differing == set(changed)
    for key in changed:
        old, new = before[key], after[key]
        if key[0] == "peer_contacts.csv":
            assert (old["status"], new["status"]) == ("scheduled", "completed")
            assert 1 <= int(new["duration_min"]) <= 240
        elif key[0] == "handoffs.csv":
            assert old["status"] in ("proposed", "active") and new["status"] == "completed"
        else:
            assert old["end_date"] == "" and is_date(new["end_date"]) and new["end_date"] >= new["start_date"]
            assert new["end_date"] >= latest_completed
    assert untouched == {name: (tmp_path / name).read_bytes() for name in untouched}
    assert [header(tmp_path, name) for name in COLUMNS] == [list(HEADERS[name]) for name in COLUMNS]


def test_apply_changes_is_deterministic_and_bounded(tmp_path: Path) -> None:
    generate_program(tmp_path / "a", patients=50)
    generate_program(tmp_path / "b", patients=50)
    assert apply_changes(tmp_path / "a", seed=5) == apply_changes(tmp_path / "b", seed=5)
    assert snapshot(tmp_path / "a") == snapshot(tmp_path / "b")
    assert apply_changes(tmp_path / "a", count=0) == []
    with pytest.raises(ValueError):
        apply_changes(tmp_path / "a", count=-1)


def test_apply_changes_refuses_a_file_without_its_key_column(tmp_path: Path) -> None:
    (tmp_path / "handoffs.csv").write_text("patient_mrn,status\nMRN000001,active\n", encoding="utf-8")
    with pytest.raises(ValueError, match="handoff_id"):
        apply_changes(tmp_path)
