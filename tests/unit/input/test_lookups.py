"""What a contact's mapping reads from other files: the site kinds and the enrollments whose period holds the
contact's day in the site time zone (planned and entered-in-error enrollments hold nothing)."""

from __future__ import annotations

from pathlib import Path

from fhirpeer.input.lookups import lookups_of
from fhirpeer.settings import Settings
from tests.support.mapping import folder
from tests.support.records import M, contact

ENROLLMENTS = (
    "enrollment_id,patient_mrn,start_date,status,end_date\n"
    "E-1,MRN-1,2026-01-05,finished,2026-01-31\n"
    "E-2,MRN-1,2026-01-31,active,\n"
    "E-3,MRN-1,2026-01-01,planned,\n"
    "E-4,MRN-1,2026-01-01,entered_in_error,\n"
    "E-5,MRN-2,2026-01-01,withdrawn,2026-01-10\n"
    "E-bad,MRN-3,not a date,active,\n"
)


def lookups(tmp_path: Path, tz: str = "America/New_York"):
    (tmp_path / "enrollments.csv").write_text(ENROLLMENTS, encoding="utf-8")
    (tmp_path / "sites.csv").write_text("site_id,name,kind\nS-ED,ED,emergency_department\nS-X,X,\n", encoding="utf-8")
    return lookups_of(folder(tmp_path, M, Settings(site_timezone=tz)))


def test_site_kinds_come_from_sites_csv(tmp_path: Path) -> None:
    found = lookups(tmp_path)
    assert found.site_kind(contact(site_id="S-ED")) == "emergency_department"
    assert found.site_kind(contact(site_id="S-X")) is None


def test_a_contact_falls_in_every_running_enrollment_that_holds_its_day(tmp_path: Path) -> None:
    found = lookups(tmp_path)
    assert found.episodes_of(contact(start="2026-01-10T10:00:00-05:00")) == ("E-1",)
    assert found.episodes_of(contact(start="2026-01-31T10:00:00-05:00")) == ("E-1", "E-2")  # both days included
    assert found.episodes_of(contact(start="2026-03-01T10:00:00-05:00")) == ("E-2",)
    assert found.episodes_of(contact(start="2026-01-04T10:00:00-05:00")) == ()  # only planned / in error then


def test_the_day_is_taken_in_the_site_time_zone(tmp_path: Path) -> None:
    found = lookups(tmp_path)
    # 03:00 UTC on Feb 1 is still Jan 31 in New York: inside E-1 as well
    assert found.episodes_of(contact(start="2026-02-01T03:00:00+00:00")) == ("E-1", "E-2")


def test_a_named_enrollment_wins_and_other_patients_do_not_count(tmp_path: Path) -> None:
    found = lookups(tmp_path)
    assert found.episodes_of(contact(start="2026-01-10T10:00:00-05:00", enrollment_id="E-9")) == ("E-9",)
    assert found.episodes_of(contact(patient_mrn="MRN-2", start="2026-01-10T10:00:00-05:00")) == ("E-5",)
    assert found.episodes_of(contact(patient_mrn="MRN-3", start="2026-01-10T10:00:00-05:00")) == ()


def test_the_context_changes_when_the_enrollments_do(tmp_path: Path) -> None:
    rec = contact(start="2026-01-10T10:00:00-05:00", site_id="S-ED")
    before = lookups(tmp_path).context_of(rec)
    (tmp_path / "enrollments.csv").write_text(ENROLLMENTS.replace("2026-01-05,finished", "2026-01-11,finished"))
    after = lookups_of(folder(tmp_path, M, Settings(site_timezone="America/New_York"))).context_of(rec)
    assert before == "emergency_department|E-1" and after == "emergency_department|"
