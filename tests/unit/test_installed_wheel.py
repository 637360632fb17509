"""`pip install .` (not editable) works from any directory: the default mapping files ship inside the wheel."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.support.paths import REPO


@pytest.mark.slow
def test_the_wheel_carries_the_mappings_and_validate_runs_from_another_directory(tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(wheels), str(REPO)],
        check=True, capture_output=True, timeout=600,
    )  # fmt: skip
    (wheel,) = wheels.glob("fhirpeer-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    shipped = sorted(n.rsplit("/", 1)[1] for n in names if n.startswith("fhirpeer/_mappings/"))
    assert shipped == sorted(p.name for p in (REPO / "mappings").glob("*.yaml"))
    assert {"fhirpeer/py.typed", "fhirpeer/run_report.schema.json"} <= set(names)  # typing marker, report schema

    site = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--quiet", "--target", str(site), str(wheel)],
        check=True, capture_output=True, timeout=600,
    )  # fmt: skip
    elsewhere = tmp_path / "somewhere-else"
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("FHIRPEER_")}
    env["PYTHONPATH"] = str(site)  # the installed copy only, not the source checkout
    probe = subprocess.run(
        [sys.executable, "-c", "import fhirpeer, fhirpeer.mapping_files as m; print(fhirpeer.__file__); "
         "print(m.default_mappings_dir()); print(m.load_mappings().identifiers.namespace); "
         "print(fhirpeer.report_schema()['properties']['schema_version']['const'])"],
        cwd=elsewhere, env=env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    package_file, mappings_dir, namespace, schema_version = probe.stdout.split()
    assert schema_version == "3"
    assert Path(package_file).is_relative_to(site)
    assert Path(mappings_dir) == site / "fhirpeer" / "_mappings"
    assert namespace == "https://fhir.example.org"
    validate = subprocess.run(
        [sys.executable, "-m", "fhirpeer.cli", "validate", "--input", str(REPO / "tests/fixtures/golden/export")],
        cwd=elsewhere, env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert validate.returncode == 1, validate.stderr[-2000:]  # the golden export has deliberately bad rows
    assert "record(s) checked" in validate.stdout
