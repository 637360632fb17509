"""Same input, same bytes: across processes whose string hashing differs (PYTHONHASHSEED), the sample generator
writes the same export and mapping sends the same resources and Bundles — so content hashes, and with them no-op
reruns, do not depend on set or dict iteration order."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.support.paths import REPO


def run_in_process(out: Path, hash_seed: str) -> dict[str, bytes]:
    env = {**os.environ, "PYTHONHASHSEED": hash_seed, "PYTHONPATH": str(REPO)}
    env = {k: v for k, v in env.items() if not k.startswith("FHIRPEER_")}
    cli = [sys.executable, "-m", "fhirpeer.cli"]
    export, ndjson, bundles = out / "export", out / "ndjson", out / "bundles"
    subprocess.run([*cli, "sample", "--out", str(export), "--patients", "30", "--seed", "5"], env=env, check=True,
                   capture_output=True)  # fmt: skip
    done = subprocess.run(
        [*cli, "validate", "--input", str(export), "--ndjson-out", str(ndjson), "--bundles-out", str(bundles)],
        env=env, capture_output=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}


def test_export_and_mapping_are_byte_identical_across_hash_seeds(tmp_path: Path) -> None:
    first = run_in_process(tmp_path / "a", "1")
    second = run_in_process(tmp_path / "b", "4242")
    assert len([name for name in first if name.startswith("ndjson/")]) >= 6
    assert len([name for name in first if name.startswith("bundles/")]) >= 6
    assert first.keys() == second.keys()
    assert [name for name in first if first[name] != second[name]] == []
