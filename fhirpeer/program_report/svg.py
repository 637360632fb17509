"""Small hand-written SVG charts for the report page: columns with bands, horizontal bars, a box plot.

Each chart is one ``<svg>`` string with a ``<title>`` and an ``aria-label``; every text is escaped. A
suppressed value is drawn as a hatched placeholder labelled "suppressed", never as a bar of some height.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from html import escape

from .suppress import Suppressed

INK = "#1d2939"
MUTED = "#667085"
GRID = "#e4e7ec"
BAR = "#2e5c8a"
BAR_ALT = "#3f8f8b"
ALERT = "#b42318"
BAND_FILLS = ("#eef4fb", "#f3f8f1", "#fbf5ec")
REFERENCE = "#f2c14e"
FONT = "font-family=\"'Segoe UI', system-ui, -apple-system, 'Helvetica Neue', Arial, sans-serif\""

Value = float | None | Suppressed


@dataclass(frozen=True)
class Bar:
    label: str
    value: Value  # in chart units; None = no data
    value_label: str = ""  # printed at the end of the bar
    caption: str = ""  # printed under the label (e.g. "41 / 50")
    alert: bool = False


@dataclass(frozen=True)
class Band:
    """A shaded background behind bars ``first``…``last`` (0-based), labelled at the top."""

    first: int
    last: int
    label: str


def _text(x: float, y: float, content: str, *, size: int = 12, anchor: str = "middle", fill: str = INK,
          weight: str = "normal") -> str:  # fmt: skip
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" text-anchor="{anchor}" fill="{fill}" '
        f'font-weight="{weight}">{escape(content)}</text>'
    )


def _wrap(label: str, width: float, *, size: int) -> list[str]:
    """``label`` on as few lines as fit ``width`` (an average glyph is about 0.58 em wide)."""
    per_line = max(1, int(width / (size * 0.58)))
    lines: list[str] = []
    for word in label.split():
        if lines and len(lines[-1]) + 1 + len(word) <= per_line:
            lines[-1] += f" {word}"
        else:
            lines.append(word)
    return lines or [""]


def _fit(label: str, width: float, *, size: int) -> str:
    """``label`` cut with an ellipsis to fit ``width``."""
    room = max(2, int(width / (size * 0.58)))
    return label if len(label) <= room else label[: room - 1] + "…"


def _open(width: int, height: int, title: str, pattern_id: str) -> list[str]:
    return [
        f'<svg viewBox="0 0 {width} {height}" width="100%" style="max-width:{width}px" '
        f'role="img" aria-label="{escape(title)}" {FONT} class="chart">',
        f"<title>{escape(title)}</title>",
        f'<defs><pattern id="{pattern_id}" width="6" height="6" patternUnits="userSpaceOnUse" '
        'patternTransform="rotate(45)"><rect width="6" height="6" fill="#f2f4f7"/>'
        '<line x1="0" y1="0" x2="0" y2="6" stroke="#98a2b3" stroke-width="2"/></pattern></defs>',
    ]


def column_chart(
    bars: Sequence[Bar],
    *,
    title: str,
    chart_id: str,
    y_max: float = 1.0,
    ticks: Sequence[float] = (0, 0.25, 0.5, 0.75, 1.0),
    tick_label: Callable[[float], str] = lambda v: f"{v:.0%}",
    bands: Sequence[Band] = (),
    width: int = 960,
    height: int = 320,
) -> str:
    """Vertical bars on a 0…``y_max`` axis, with optional labelled background bands."""
    left, right, bottom = 48, 16, 58
    top = 54 if bands else 28
    plot_w, plot_h = width - left - right, height - top - bottom
    slot = plot_w / max(1, len(bars))
    bar_w = min(64.0, slot * 0.56)
    pattern = f"{chart_id}-hatch"

    def y_of(value: float) -> float:
        return top + plot_h * (1 - min(value, y_max) / y_max)

    out = _open(width, height, title, pattern)
    for i, band in enumerate(bands):
        x0, x1 = left + band.first * slot, left + (band.last + 1) * slot
        out.append(
            f'<rect x="{x0:.1f}" y="{top - 40}" width="{x1 - x0:.1f}" height="{plot_h + 40}" '
            f'fill="{BAND_FILLS[i % len(BAND_FILLS)]}"/>'
        )
        lines = _wrap(band.label, x1 - x0 - 8, size=12)
        for j, line in enumerate(lines):
            y = top - 10 - (len(lines) - 1 - j) * 14
            out.append(_text((x0 + x1) / 2, y, line, size=12, fill=MUTED, weight="600"))
    for tick in ticks:
        y = y_of(tick)
        out.append(f'<line x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}" stroke="{GRID}"/>')
        out.append(_text(left - 8, y + 4, tick_label(tick), size=11, anchor="end", fill=MUTED))
    for i, bar in enumerate(bars):
        cx = left + slot * (i + 0.5)
        x = cx - bar_w / 2
        if isinstance(bar.value, Suppressed):
            y = y_of(y_max * 0.35)
            out.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar_w:.1f}" height="{top + plot_h - y:.1f}" '
                f'fill="url(#{pattern})" stroke="#98a2b3" stroke-dasharray="3 2"/>'
            )
            out.append(_text(cx, y - 6, "suppressed", size=11, fill=MUTED))
        elif bar.value is not None:
            y = y_of(bar.value)
            fill = ALERT if bar.alert else BAR
            out.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar_w:.1f}" height="{top + plot_h - y:.1f}" '
                f'rx="2" fill="{fill}"/>'
            )
            out.append(_text(cx, y - 6, bar.value_label, size=12, weight="600"))
        else:
            out.append(_text(cx, top + plot_h - 6, "no data", size=11, fill=MUTED))
        out.append(_text(cx, top + plot_h + 18, bar.label, size=12))
        if bar.caption:
            out.append(_text(cx, top + plot_h + 34, bar.caption, size=11, fill=MUTED))
    out.append(f'<line x1="{left}" x2="{width - right}" y1="{top + plot_h}" y2="{top + plot_h}" stroke="{MUTED}"/>')
    out.append("</svg>")
    return "\n".join(out)


def bar_rows(
    bars: Sequence[Bar],
    *,
    title: str,
    chart_id: str,
    x_max: float,
    ticks: Sequence[float],
    tick_label: Callable[[float], str] = lambda v: f"{v:g}",
    reference_range: tuple[float, float] | None = None,
    reference_label: str = "",
    limit: tuple[float, str] | None = None,
    width: int = 960,
    label_width: int = 150,
) -> str:
    """Horizontal bars, one per row, with an optional shaded reference range and a limit line."""
    row_h, top, bottom, right = 30, 30 if reference_range or limit else 12, 30, 70
    height = top + row_h * max(1, len(bars)) + bottom
    left = label_width
    plot_w = width - left - right
    plot_bottom = height - bottom
    pattern = f"{chart_id}-hatch"

    def x_of(value: float) -> float:
        return left + plot_w * min(value, x_max) / x_max

    out = _open(width, height, title, pattern)
    if reference_range is not None:
        x0, x1 = x_of(reference_range[0]), x_of(reference_range[1])
        out.append(
            f'<rect x="{x0:.1f}" y="{top}" width="{x1 - x0:.1f}" height="{plot_bottom - top}" fill="{REFERENCE}" '
            'fill-opacity="0.18"/>'
        )
        if reference_label:
            out.append(_text((x0 + x1) / 2, top - 8, reference_label, size=11, fill=MUTED))
    for tick in ticks:
        x = x_of(tick)
        out.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{top}" y2="{plot_bottom}" stroke="{GRID}"/>')
        out.append(_text(x, plot_bottom + 16, tick_label(tick), size=11, fill=MUTED))
    for i, bar in enumerate(bars):
        y = top + i * row_h
        cy = y + row_h / 2
        out.append(_text(left - 10, cy + 4, _fit(bar.label, left - 16, size=12), size=12, anchor="end"))
        if isinstance(bar.value, Suppressed):
            out.append(
                f'<rect x="{left}" y="{y + 6}" width="{plot_w * 0.3:.1f}" height="{row_h - 12}" '
                f'fill="url(#{pattern})" stroke="#98a2b3" stroke-dasharray="3 2"/>'
            )
            out.append(_text(left + plot_w * 0.3 + 8, cy + 4, "suppressed", size=11, anchor="start", fill=MUTED))
        elif bar.value is not None:
            x = x_of(bar.value)
            fill = ALERT if bar.alert else BAR_ALT
            out.append(
                f'<rect x="{left}" y="{y + 6}" width="{max(1.0, x - left):.1f}" height="{row_h - 12}" rx="2" '
                f'fill="{fill}"/>'
            )
            out.append(_text(x + 8, cy + 4, bar.value_label, size=12, anchor="start", weight="600"))
        else:
            out.append(_text(left + 8, cy + 4, "no data", size=11, anchor="start", fill=MUTED))
    if limit is not None:
        x = x_of(limit[0])
        out.append(
            f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{top - 4}" y2="{plot_bottom}" stroke="{ALERT}" '
            'stroke-width="2" stroke-dasharray="5 3"/>'
        )
        out.append(_text(x + 4, top - 8, limit[1], size=11, anchor="start", fill=ALERT))
    out.append(f'<line x1="{left}" x2="{left}" y1="{top}" y2="{plot_bottom}" stroke="{MUTED}"/>')
    out.append("</svg>")
    return "\n".join(out)


def box_plot(
    q1: Value,
    median: Value,
    q3: Value,
    *,
    title: str,
    chart_id: str,
    x_max: float,
    ticks: Sequence[float],
    unit: str = "min",
    width: int = 960,
) -> str:
    """The interquartile box and the median on a 0…``x_max`` axis."""
    left, right, height = 40, 40, 120
    plot_w = width - left - right
    axis_y, box_top, box_h = 92, 30, 36
    pattern = f"{chart_id}-hatch"

    def x_of(value: float) -> float:
        return left + plot_w * min(value, x_max) / x_max

    out = _open(width, height, title, pattern)
    for tick in ticks:
        x = x_of(tick)
        out.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{box_top - 8}" y2="{axis_y}" stroke="{GRID}"/>')
        out.append(_text(x, axis_y + 16, f"{tick:g} {unit}", size=11, fill=MUTED))
    values = (q1, median, q3)
    if any(isinstance(v, Suppressed) for v in values):
        out.append(
            f'<rect x="{left}" y="{box_top}" width="{plot_w * 0.3:.1f}" height="{box_h}" fill="url(#{pattern})" '
            'stroke="#98a2b3" stroke-dasharray="3 2"/>'
        )
        out.append(_text(left + plot_w * 0.3 + 8, box_top + box_h / 2 + 4, "suppressed", anchor="start", fill=MUTED))
    elif isinstance(q1, float | int) and isinstance(median, float | int) and isinstance(q3, float | int):
        x1, xm, x3 = x_of(q1), x_of(median), x_of(q3)
        out.append(
            f'<rect x="{x1:.1f}" y="{box_top}" width="{max(1.0, x3 - x1):.1f}" height="{box_h}" rx="3" '
            f'fill="{BAR}" fill-opacity="0.22" stroke="{BAR}"/>'
        )
        out.append(
            f'<line x1="{xm:.1f}" x2="{xm:.1f}" y1="{box_top - 4}" y2="{box_top + box_h + 4}" stroke="{BAR}" '
            'stroke-width="3"/>'
        )
        out.append(_text(x1, box_top - 10, f"Q1 {q1:g}", size=11, fill=MUTED))
        out.append(_text(xm, box_top - 10, f"median {median:g}", size=12, weight="600"))
        out.append(_text(x3, box_top - 10, f"Q3 {q3:g}", size=11, fill=MUTED))
    else:
        out.append(_text(left + 8, box_top + box_h / 2 + 4, "no data", anchor="start", fill=MUTED))
    out.append(f'<line x1="{left}" x2="{width - right}" y1="{axis_y}" y2="{axis_y}" stroke="{MUTED}"/>')
    out.append("</svg>")
    return "\n".join(out)
