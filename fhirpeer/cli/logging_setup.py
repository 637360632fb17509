"""PHI-safe logging: plain text or JSON lines, with the run id on every line.

Log calls in fhirpeer pass only ids, business keys, resource types, HTTP statuses and OperationOutcome
codes as `extra` fields; the JSON formatter emits only whitelisted fields, so nothing else can leak.
"""

from __future__ import annotations

import json
import logging
import sys
import time

SAFE_FIELDS = (
    "run_id",
    "resource_type",
    "key",
    "status",
    "outcome",
    "count",
    "file",
    "line",
    "strategy",
    "attempt",
)


class _RunIdFilter(logging.Filter):
    def __init__(self, run_id: str):
        super().__init__()
        self.run_id = run_id

    def filter(self, record: logging.LogRecord) -> bool:
        record.run_id = getattr(record, "run_id", self.run_id)
        return True


class JsonLinesFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        doc = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        doc.update({f: getattr(record, f) for f in SAFE_FIELDS if getattr(record, f, None) is not None})
        return json.dumps(doc, ensure_ascii=False)


def configure_logging(level: str = "INFO", fmt: str = "text", run_id: str = "", stream=None) -> None:
    """Send fhirpeer's logs to stderr (or `stream`) in the chosen format."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.addFilter(_RunIdFilter(run_id))
    if fmt == "json":
        handler.setFormatter(JsonLinesFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger("fhirpeer")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False
