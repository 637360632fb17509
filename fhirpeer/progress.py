"""Progress on stderr: a live line on a terminal, plain lines otherwise (cron, CI, log files)."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class Progress:
    def __init__(self, enabled: bool, stream: TextIO | None = None, interval: float = 10.0):
        self.enabled = enabled
        self.stream = stream or sys.stderr
        self.tty = enabled and self.stream.isatty()
        self.interval = interval
        self._last = 0.0
        self._label = ""

    def update(self, label: str, done: int, detail: str = "", total: int | None = None) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if self.tty:
            if now - self._last >= 0.2 or label != self._label:
                self.stream.write(f"\r\033[K{label:<15} {_bar(done, total)}{done:>9,} processed {detail}")
                self.stream.flush()
                self._last = now
        elif now - self._last >= self.interval:
            self.stream.write(f"{label}: {done:,} processed {detail}\n")
            self._last = now
        self._label = label

    def done(self, label: str, done: int, detail: str = "") -> None:
        if not self.enabled:
            return
        prefix = "\r\033[K" if self.tty else ""
        self.stream.write(f"{prefix}{label:<15} {done:>9,} processed {detail}\n")
        self.stream.flush()


def _bar(done: int, total: int | None, width: int = 24) -> str:
    if not total:
        return ""
    filled = min(width, round(width * done / total))
    return f"[{'#' * filled}{'.' * (width - filled)}] {min(100, round(100 * done / total)):>3}% "
