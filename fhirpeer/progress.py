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

    def update(self, label: str, done: int, detail: str = "") -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if self.tty:
            if now - self._last >= 0.2 or label != self._label:
                self.stream.write(f"\r\033[K{label:<15} {done:>9,} processed {detail}")
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
