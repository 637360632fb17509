"""An export with every coded value the contract allows: every mode × setting × status, every role, every handoff
kind × status, every priority and via, every discipline (with and without a NUCC taxonomy), an ED site, blank
names, genders and birth dates, contacts that fulfil a handoff, and every enrollment status × end reason × program
(contacts naming an enrollment, and contacts inside an enrollment's period). For mapper tests and the R4 and HAPI
checks."""

from __future__ import annotations

import itertools
from pathlib import Path

from fhirpeer import contract


def write_every_case(folder: Path) -> None:
    """Write the seven input files of that export into `folder`."""
    (folder / "sites.csv").write_text(
        "site_id,name,kind\n" + "".join(f"S-{i},Site {i},{k}\n" for i, k in enumerate(contract.SITE_KINDS)),
        encoding="utf-8",
    )
    (folder / "staff.csv").write_text(
        "staff_id,npi,family_name,given_name,discipline,site_id,taxonomy\n"
        + "".join(f"D-{i},{1000000000 + i},Fam{i},Giv {i},{d},S-0,\n" for i, d in enumerate(contract.DISCIPLINES))
        + "P-1,,Núñez,José,peer,,\nD-99,,,,pcp,S-0,207R00000X\n",
        encoding="utf-8",
    )
    (folder / "patients.csv").write_text(
        "patient_mrn,family_name,given_name,birth_date,gender\n"
        + "".join(f"MRN-{i},O'Brien,Zoë,1980-01-0{i + 1},{g}\n" for i, g in enumerate(contract.GENDERS))
        + "MRN-9,,,,\n",
        encoding="utf-8",
    )
    rows = []
    settings = [None, *contract.CONTACT_SETTINGS]
    combos = [(m, s) for m in contract.CONTACT_MODES for s in (settings if m == "in_person" else [None])]
    for n, ((mode, setting), status) in enumerate(itertools.product(combos, contract.CONTACT_STATUSES)):
        duration = "" if n % 3 == 0 else str(n)
        purposes = ";".join(contract.CONTACT_PURPOSES[: n % 4])
        site_id = f"S-{n % 3}" if n % 2 else ""  # S-1 is the emergency department
        handoff_id = "H-0" if n % 5 == 0 else ""
        enrollment_id = f"E-{n % 4}" if n % 7 == 0 else ""  # others fall in their patient's enrollment period
        rows.append(
            f"C-{n},MRN-{n % 4},P-1,2026-01-05T10:{n % 60:02d}:00,{mode},{status},{duration},{setting or ''},"
            f"{site_id},{purposes},{handoff_id},{enrollment_id}\n"
        )
    (folder / "peer_contacts.csv").write_text(
        "contact_id,patient_mrn,peer_id,start,mode,status,duration_min,setting,site_id,purposes,handoff_id,"
        "enrollment_id\n" + "".join(rows),
        encoding="utf-8",
    )
    (folder / "care_team.csv").write_text(
        "team_id,patient_mrn,staff_id,role,start_date,end_date,site_id\n"
        + "".join(f"T-1,MRN-1,D-{i},{r},2026-01-0{i + 1},,S-0\n" for i, r in enumerate(contract.CARE_TEAM_ROLES))
        + "T-2,MRN-2,P-1,peer,2025-01-01,2025-06-30,\n",
        encoding="utf-8",
    )
    rows = []
    for n, (kind, status) in enumerate(itertools.product(contract.HANDOFF_KINDS, contract.HANDOFF_STATUSES)):
        priority = (["", *contract.HANDOFF_PRIORITIES])[n % 5]
        via = (["", *contract.HANDOFF_VIA])[n % 5]
        note = f'"Note {n}, with ""quotes""\nand a second line"' if n % 2 else ""
        rows.append(
            f"H-{n},MRN-{n % 4},{kind},2026-01-06T09:00:00-05:00,{status},D-0,P-1,S-{n % 5},{priority},{via},{note}\n"
        )
    (folder / "handoffs.csv").write_text(
        "handoff_id,patient_mrn,kind,requested_at,status,requester_id,to_staff_id,to_site_id,priority,via,note\n"
        + "".join(rows),
        encoding="utf-8",
    )
    rows = []
    programs = ["", *contract.PROGRAMS]
    reasons = ["", *contract.ENROLLMENT_END_REASONS]
    for n, status in enumerate(contract.ENROLLMENT_STATUSES * 3):
        ended = status in ("finished", "withdrawn")
        end = "2026-06-30" if ended and n % 2 == 0 else ""
        reason = reasons[n % len(reasons)] if ended else ""
        team = "T-1" if n % 3 == 0 else ""
        referral = "H-0" if n % 4 == 0 else ""
        rows.append(
            f"E-{n},MRN-{n % 4},2026-01-0{n % 5 + 1},{status},{end},{reason},{'P-1' if n % 2 else ''},{team},"
            f"S-{n % 3},{programs[n % len(programs)]},{referral}\n"
        )
    (folder / "enrollments.csv").write_text(
        "enrollment_id,patient_mrn,start_date,status,end_date,end_reason,peer_id,team_id,site_id,program,"
        "referral_handoff_id\n" + "".join(rows),
        encoding="utf-8",
    )
