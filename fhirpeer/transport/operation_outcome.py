"""OperationOutcome parsing that keeps only what is safe to log.

Servers echo submitted values in ``diagnostics`` (HAPI: ``HAPI-0929: Failed to ... "Smith"``). What
survives :func:`safe_diagnostics`: HAPI message codes (``HAPI-0988``), FHIRPath expressions and locations,
issue codes and the server's own wording. What goes: quoted substrings, values of ``name=value`` query
parameters, runs of three or more digits (dates, phone numbers, record numbers) outside HAPI codes, and
anything after 160 characters.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from ..errors import OutcomeIssue

__all__ = [
    "MAX_DIAGNOSTICS",
    "hapi_message_codes",
    "parse_operation_outcome",
    "safe_diagnostics",
    "safe_expression",
    "summarize_issues",
]

MAX_DIAGNOSTICS = 160
_REDACTED = "…"
_PLACEHOLDER = "\x00"

# Paired quotes of every kind servers use; an unpaired opening quote hides the rest of the text.
_QUOTED = re.compile(r'"[^"]*"|“[^”]*”|‘[^’]*’|«[^»]*»|`[^`]*`|(?<![A-Za-z])\'[^\']*\'')
_UNPAIRED_QUOTE = re.compile(r'["“‘«`].*$', re.DOTALL)
_QUERY_VALUE = re.compile(r"([?&][A-Za-z_][\w.:\-]*=)[^&\s,;)\]]+")
_HAPI_MESSAGE_CODE = r"HAPI-\d{4}"  # HAPI FHIR prefixes each message with its code, e.g. HAPI-0988
_HAPI_CODE_OR_DIGITS = re.compile(rf"({_HAPI_MESSAGE_CODE})(?!\d)|\d{{3,}}")
_WHITESPACE = re.compile(r"\s+")
_MESSAGE_CODE = re.compile(rf"\b{_HAPI_MESSAGE_CODE}\b")
_SEVERITY_ORDER = {"fatal": 0, "error": 1, "warning": 2, "information": 3}


def safe_diagnostics(text: str | None) -> str:
    """Scrub a server message so that it can be logged without PHI (see the module docstring)."""
    if not text:
        return ""
    scrubbed = _WHITESPACE.sub(" ", str(text)).strip()
    scrubbed = _strip_quoted(scrubbed, f'"{_REDACTED}"')
    scrubbed = _QUERY_VALUE.sub(rf"\g<1>{_REDACTED}", scrubbed)
    scrubbed = _HAPI_CODE_OR_DIGITS.sub(lambda m: m.group(1) or "#", scrubbed)
    return _truncate(scrubbed, MAX_DIAGNOSTICS)


def safe_expression(text: str | None) -> str:
    """Keep a FHIRPath expression or location, minus quoted literals (``where(family='Smith')``)."""
    if not text:
        return ""
    scrubbed = _strip_quoted(_WHITESPACE.sub(" ", str(text)).strip(), f"'{_REDACTED}'")
    return _truncate(scrubbed, MAX_DIAGNOSTICS)


def parse_operation_outcome(body: Mapping[str, Any] | None) -> list[OutcomeIssue]:
    """The issues of an OperationOutcome, scrubbed; [] for anything that is not an OperationOutcome."""
    if not isinstance(body, Mapping) or body.get("resourceType") != "OperationOutcome":
        return []
    raw_issues = body.get("issue")
    if not isinstance(raw_issues, list):
        return []
    return [_parse_issue(item) for item in raw_issues if isinstance(item, Mapping)]


def summarize_issues(issues: Iterable[OutcomeIssue], *, limit: int = 2) -> str:
    """A short PHI-free summary of the most severe issues, e.g. ``"processing HAPI-0988 at Encounter.status"``.

    Free-text diagnostics are left out on purpose: servers also echo values without quotes
    (``Patient O'Brien …``), which no scrubbing can recognise. Issue codes, HAPI message codes and paths
    say what was refused; the server's own log has the wording."""
    ordered = sorted(issues, key=lambda issue: _SEVERITY_ORDER.get(issue.severity, 9))
    parts = []
    for issue in ordered[:limit]:
        text = issue.code or issue.severity or "issue"
        message_codes = sorted(hapi_message_codes([issue]))
        if message_codes:
            text = f"{text} {' '.join(message_codes)}"
        if issue.expression:
            text = f"{text} at {', '.join(issue.expression[:3])}"
        parts.append(text)
    extra = len(ordered) - limit
    if extra > 0:
        parts.append(f"+{extra} more")
    return "; ".join(parts)


def hapi_message_codes(issues: Iterable[OutcomeIssue]) -> set[str]:
    """The HAPI message codes (``HAPI-0988``) the issues' diagnostics name."""
    return {code for issue in issues for code in _MESSAGE_CODE.findall(issue.diagnostics or "")}


def _parse_issue(item: Mapping[str, Any]) -> OutcomeIssue:
    diagnostics = item.get("diagnostics")
    if not diagnostics:
        details = item.get("details")
        diagnostics = details.get("text") if isinstance(details, Mapping) else None
    paths = item.get("expression") or item.get("location") or []
    if not isinstance(paths, list):
        paths = [paths]
    return OutcomeIssue(
        severity=_code(item.get("severity")),
        code=_code(item.get("code")),
        diagnostics=safe_diagnostics(diagnostics if isinstance(diagnostics, str) else None),
        expression=[safe_expression(p) for p in paths if isinstance(p, str) and p],
    )


def _strip_quoted(text: str, replacement: str) -> str:
    """Replace quoted substrings by ``replacement``; an unpaired opening quote hides everything after it."""
    text = text.replace(_PLACEHOLDER, "")
    text = _QUOTED.sub(_PLACEHOLDER, text)
    text = _UNPAIRED_QUOTE.sub(_PLACEHOLDER, text)
    return text.replace(_PLACEHOLDER, replacement)


def _code(value: object) -> str:
    """A FHIR code value (no whitespace, bounded), or "" when the server sent something else."""
    if not isinstance(value, str) or not re.fullmatch(r"[A-Za-z0-9\-_.]{1,64}", value):
        return ""
    return value


def _truncate(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return text[: limit - 1].rstrip() + _REDACTED
