"""Progress from the API's progress callback: a live line on a terminal; otherwise (cron, CI, log files) a log
record every few seconds, so it takes the configured log format (JSON lines stay JSON)."""

from __future__ import annotations

import logging
import time
from typing import TextIO

from .. import Outcome, SyncProgress

_SHOWN = (Outcome.CREATED, Outcome.UPDATED, Outcome.UNCHANGED, Outcome.FAILED)
log = logging.getLogger("fhirpeer.progress")


def _detail(event: SyncProgress) -> str:
    return " ".join(f"{o} {event.counts.get(o, 0):,}" for o in _SHOWN if event.counts.get(o))


class LoggedProgress:
    """A `ProgressCallback` that logs a line per type when it is done and otherwise every `interval` seconds."""

    def __init__(self, interval: float = 10.0):
        self.interval = interval
        self._last = float("-inf")

    def __call__(self, event: SyncProgress) -> None:
        now = time.monotonic()
        if event.finished or now - self._last >= self.interval:
            state = "done" if event.finished else "processed so far"
            log.info("%s: %s record(s) %s %s", event.resource_type, f"{event.done:,}", state, _detail(event),
                     extra={"resource_type": str(event.resource_type), "count": event.done})  # fmt: skip
            self._last = now


class TerminalProgress:
    """A `ProgressCallback` that draws a live line (with a bar when the total is known) on a terminal."""

    def __init__(self, stream: TextIO):
        self.stream = stream
        self._last = float("-inf")  # the first update is always drawn
        self._label = ""

    def __call__(self, event: SyncProgress) -> None:
        label = str(event.resource_type)
        if event.finished:
            self.stream.write(f"\r\033[K{label:<16} {event.done:>9,} processed {_detail(event)}\n")
            self.stream.flush()
            return
        now = time.monotonic()
        if now - self._last >= 0.2 or label != self._label:
            bar = _bar(event.done, event.total)
            self.stream.write(f"\r\033[K{label:<16} {bar}{event.done:>9,} processed {_detail(event)}")
            self.stream.flush()
            self._last = now
        self._label = label


def progress_for(stream: TextIO) -> TerminalProgress | LoggedProgress:
    """A live line on a terminal, log records elsewhere."""
    return TerminalProgress(stream) if stream.isatty() else LoggedProgress()


def _bar(done: int, total: int | None, width: int = 24) -> str:
    if not total:
        return ""
    filled = min(width, round(width * done / total))
    return f"[{'#' * filled}{'.' * (width - filled)}] {min(100, round(100 * done / total)):>3}% "
