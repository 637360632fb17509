from __future__ import annotations

import io

from fhirpeer.progress import Progress


class FakeTty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_terminal_gets_a_live_bar_and_a_final_line():
    stream = FakeTty()
    progress = Progress(True, stream=stream)
    progress.update("Encounter", 500, "created 500", total=1000)
    progress.done("Encounter", 1000, "created 1,000")
    out = stream.getvalue()
    assert "\r\033[K" in out and "[############............]  50%" in out
    assert out.endswith("Encounter           1,000 processed created 1,000\n")


def test_no_terminal_gets_plain_lines_without_control_characters():
    stream = io.StringIO()
    progress = Progress(True, stream=stream, interval=0)
    progress.update("Patient", 10, "created 10", total=20)
    progress.done("Patient", 20, "created 20")
    out = stream.getvalue()
    assert "\r" not in out and "\033" not in out
    assert out.splitlines() == ["Patient: 10 processed created 10", "Patient                20 processed created 20"]


def test_disabled_progress_writes_nothing():
    stream = FakeTty()
    Progress(False, stream=stream).update("Patient", 1)
    assert stream.getvalue() == ""
