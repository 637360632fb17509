"""Test parts that a developer machine may lack (Node for the R4 check, Java for HAPI, Chromium): skipped there
with the reason, but under `CI` — where `.ci/run` installs every part — a missing part fails the test."""

from __future__ import annotations

import os

import pytest


def require(unavailable: str | None, what: str) -> None:
    """Skip (developer machine) or fail (CI) the calling test when `unavailable` says why `what` cannot run."""
    if unavailable is None:
        return
    if os.environ.get("CI"):
        pytest.fail(f"{what} must run under CI but cannot: {unavailable}", pytrace=False)
    pytest.skip(f"{what} unavailable (CI is not set, so this is a skip): {unavailable}")
