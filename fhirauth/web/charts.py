"""Charts drawn on the server as inline SVG: the console sends no script, so a chart is markup.

Every text is escaped here (a label may come from a bundle); colours come from the stylesheet
through CSS classes (``bar approved``, ``bar overdue``...), never a ``style`` attribute, which
the console's Content-Security-Policy would refuse. Each chart is an image to assistive
technology (``role="img"``), named by its ``<title>`` and an ``aria-label`` that reads out
every figure.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

WIDTH = 520
ROW = 26  # one bar's row, in user units
BAR = 18
LABEL = 190  # the column the labels are right-aligned in
PAD = 8
VALUE = 80  # room after the longest bar for its figure
_KIND = re.compile(r"[^a-z0-9-]+")


@dataclass(frozen=True)
class Bar:
    """One bar: its label, its count, and the CSS class it is coloured by."""

    label: str
    value: int
    kind: str = ""


@dataclass(frozen=True)
class Times:
    """A clock class's decision times in hours (None: nothing decided) and how many requests
    they were computed from."""

    label: str
    count: int
    median: float | None
    p90: float | None


def _classes(kind: str) -> str:
    """``bar`` and the kind, reduced to a safe class name."""
    words = [w for w in (_KIND.sub("-", k.lower()).strip("-") for k in kind.split()) if w]
    return " ".join(["bar", *words])


def _open(title: str, summary: str, height: int) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" '
        f'aria-label="{escape(summary)}" width="{WIDTH}" height="{height}" '
        f'viewBox="0 0 {WIDTH} {height}"><title>{escape(title)}</title>'
    )


def _empty(title: str, sentence: str) -> Markup:
    height = ROW + 2 * PAD
    return Markup(
        _open(title, f"{title}: {sentence}", height)
        + f'<text class="empty" x="{WIDTH // 2}" y="{PAD + ROW // 2 + 4}" '
        f'text-anchor="middle">{escape(sentence)}</text></svg>'
    )


def _row(y: int, label: str, length: float, kind: str, figure: str) -> str:
    """A labelled horizontal bar at ``y`` with its figure after it."""
    middle = y + BAR // 2 + 4
    x = LABEL + PAD
    return (
        f'<text class="label" x="{LABEL}" y="{middle}" text-anchor="end">{escape(label)}</text>'
        f'<rect class="{escape(_classes(kind))}" x="{x}" y="{y}" width="{length:.1f}" '
        f'height="{BAR}"/>'
        f'<text class="value" x="{x + length + 4:.1f}" y="{middle}">{escape(figure)}</text>'
    )


def _plot() -> int:
    return WIDTH - LABEL - 2 * PAD - VALUE


def bar_chart(title: str, bars: Sequence[Bar], empty: str = "Nothing to show yet.") -> Markup:
    """Horizontal bars, one per category, as long as their counts are in proportion; a chart
    with only the sentence ``empty`` when every count is zero."""
    top = max((b.value for b in bars), default=0)
    if top <= 0:
        return _empty(title, empty)
    height = len(bars) * ROW + 2 * PAD
    summary = f"{title}: " + ", ".join(f"{b.label} {b.value}" for b in bars)
    out = [_open(title, summary, height)]
    for i, b in enumerate(bars):
        length = _plot() * max(b.value, 0) / top
        out.append(_row(PAD + i * ROW, b.label, length, b.kind, str(b.value)))
    out.append("</svg>")
    return Markup("".join(out))


def _hours(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} h"


def times_chart(
    title: str, classes: Sequence[Times], empty: str = "No request was decided in this period."
) -> Markup:
    """Median and 90th-percentile hours side by side for each clock class (``bar median``,
    ``bar p90``), bars in proportion to the longest time."""
    values = [v for t in classes for v in (t.median, t.p90) if v is not None]
    if not any(t.count for t in classes) or not values:
        return _empty(title, empty)
    top = max(values) or 1.0  # every decision at once: zero-length bars, figures still shown
    height = len(classes) * (3 * ROW) + 2 * PAD
    summary = f"{title}: " + "; ".join(
        f"{t.label}, {t.count} decided: median {_hours(t.median)}, 90th percentile {_hours(t.p90)}"
        for t in classes
    )
    out = [_open(title, summary, height)]
    for i, t in enumerate(classes):
        y = PAD + i * 3 * ROW
        out.append(
            f'<text class="group" x="{PAD}" y="{y + BAR // 2 + 4}">'
            f"{escape(t.label)} ({t.count} decided)</text>"
        )
        for j, (name, kind, value) in enumerate(
            (("median", "median", t.median), ("90th percentile", "p90", t.p90)), start=1
        ):
            length = _plot() * (value or 0) / top
            out.append(_row(y + j * ROW, name, length, kind, _hours(value)))
    out.append("</svg>")
    return Markup("".join(out))
