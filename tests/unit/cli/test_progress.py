from __future__ import annotations

import io
import logging

import pytest

from fhirpeer.cli.progress import LoggedProgress, TerminalProgress, progress_for
from fhirpeer.domain import ResourceType
from fhirpeer.sync_engine.engine import SyncProgress


class FakeTty(io.StringIO):
    def isatty(self) -> bool:
        return True


def event(rtype: ResourceType, done: int, total: int | None, created: int, *, finished: bool = False) -> SyncProgress:
    return SyncProgress(rtype, done, total, finished, {"created": created})


def test_terminal_gets_a_live_bar_and_a_final_line():
    stream = FakeTty()
    progress = progress_for(stream)
    assert isinstance(progress, TerminalProgress)
    progress(event(ResourceType.ENCOUNTER, 500, 1000, 500))
    progress(event(ResourceType.ENCOUNTER, 1000, 1000, 1000, finished=True))
    out = stream.getvalue()
    assert "\r\033[K" in out and "[############............]  50%" in out
    assert out.endswith("Encounter            1,000 processed created 1,000\n")


def test_no_terminal_gets_log_records_spaced_by_the_interval(caplog: pytest.LogCaptureFixture):
    assert isinstance(progress_for(io.StringIO()), LoggedProgress)
    progress = LoggedProgress(interval=3600)
    with caplog.at_level(logging.INFO, logger="fhirpeer.progress"):
        for done in range(1, 50):
            progress(event(ResourceType.PATIENT, done, 50, done))
        progress(event(ResourceType.PATIENT, 50, 50, 50, finished=True))
    assert [r.getMessage() for r in caplog.records] == [
        "Patient: 1 record(s) processed so far created 1",  # the first, then nothing for an hour
        "Patient: 50 record(s) done created 50",  # and the end of each type
    ]
