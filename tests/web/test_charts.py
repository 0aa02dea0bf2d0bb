"""Server-drawn SVG charts (fhirauth/web/charts.py): well-formed, accessible, escaped, styled
only through classes, and bars in proportion to what they count."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest
from markupsafe import Markup

from fhirauth.web.charts import Bar, Times, bar_chart, times_chart

SVG = "{http://www.w3.org/2000/svg}"


def parse(chart: Markup) -> ET.Element:
    assert isinstance(chart, Markup)
    return ET.fromstring(str(chart))


def bars(root: ET.Element) -> list[ET.Element]:
    return [r for r in root.iter(f"{SVG}rect") if "bar" in r.get("class", "").split()]


def texts(root: ET.Element) -> list[str]:
    return ["".join(t.itertext()) for t in root.iter(f"{SVG}text")]


def test_bars_are_as_long_as_their_counts_are_in_proportion() -> None:
    root = parse(
        bar_chart(
            "Requests today",
            [
                Bar("approved", 8, "approved"),
                Bar("denied", 2, "denied"),
                Bar("pended", 4, "pended"),
            ],
        )
    )
    widths = [float(r.get("width", "")) for r in bars(root)]
    assert widths[0] > 0
    assert widths[1] / widths[0] == pytest.approx(0.25, abs=0.001)
    assert widths[2] / widths[0] == pytest.approx(0.5, abs=0.001)
    assert [r.get("class") for r in bars(root)] == ["bar approved", "bar denied", "bar pended"]
    assert {"approved", "denied", "pended", "8", "2", "4"} <= set(texts(root))


def test_a_zero_count_draws_no_length_and_still_shows_its_figure() -> None:
    root = parse(bar_chart("Pended", [Bar("overdue", 0, "overdue"), Bar("later", 3, "muted")]))
    overdue, later = bars(root)
    assert float(overdue.get("width", "")) == 0 and float(later.get("width", "")) > 0
    assert overdue.get("class") == "bar overdue"
    assert "0" in texts(root)


def test_a_chart_is_an_image_with_a_title_a_spoken_summary_and_its_size() -> None:
    root = parse(bar_chart("Requests this week", [Bar("approved", 3), Bar("denied", 1)]))
    assert root.get("role") == "img"
    assert root.get("aria-label") == "Requests this week: approved 3, denied 1"
    title = root.find(f"{SVG}title")
    assert title is not None and title.text == "Requests this week"
    width, height = root.get("width"), root.get("height")
    assert root.get("viewBox") == f"0 0 {width} {height}" and int(height or 0) > 0


def test_every_label_is_escaped_and_no_element_carries_a_style() -> None:
    attack = "<script>alert(1)</script>"
    for chart in (
        bar_chart(attack, [Bar(attack, 2, 'x" onload="alert(1)'), Bar("ok", 1)]),
        times_chart(attack, [Times(attack, 3, 1.5, 2.0)]),
        bar_chart(attack, [], empty=attack),
    ):
        assert "<script" not in chart and "&lt;script&gt;" in chart
        assert "style=" not in chart and "onload=" not in chart
        root = parse(chart)  # still well-formed markup
        assert attack in texts(root) or root.findtext(f"{SVG}title") == attack


def test_the_css_class_of_a_bar_keeps_only_safe_characters() -> None:
    root = parse(bar_chart("t", [Bar("a", 1, "Due-24h <b>")]))
    (rect,) = bars(root)
    assert rect.get("class") == "bar due-24h b"


def test_no_data_draws_an_empty_chart_that_says_so() -> None:
    for chart in (
        bar_chart("Requests today", [Bar("approved", 0), Bar("denied", 0)], "None received yet."),
        bar_chart("Requests today", [], "None received yet."),
    ):
        root = parse(chart)
        assert bars(root) == []
        assert texts(root) == ["None received yet."]
        assert root.get("aria-label") == "Requests today: None received yet."
        assert root.get("role") == "img" and root.get("viewBox")


def test_decision_times_draw_median_and_90th_percentile_for_each_class() -> None:
    root = parse(
        times_chart(
            "Hours to decision",
            [Times("standard", 40, 24.0, 96.0), Times("expedited", 10, 12.0, 48.0)],
        )
    )
    widths = {(i // 2, r.get("class")): float(r.get("width", "")) for i, r in enumerate(bars(root))}
    # Drawn to a tenth of a unit.
    assert widths[(0, "bar p90")] == pytest.approx(4 * widths[(0, "bar median")], abs=0.5)
    assert widths[(1, "bar median")] * 8 == pytest.approx(widths[(0, "bar p90")], abs=0.5)
    assert widths[(1, "bar p90")] == 2 * widths[(0, "bar median")]
    shown = texts(root)
    assert "standard (40 decided)" in shown and "expedited (10 decided)" in shown
    assert {"24.0 h", "96.0 h", "12.0 h", "48.0 h", "median", "90th percentile"} <= set(shown)
    assert "expedited, 10 decided: median 12.0 h, 90th percentile 48.0 h" in (
        root.get("aria-label") or ""
    )


def test_a_class_with_nothing_decided_shows_a_dash_beside_the_other() -> None:
    root = parse(
        times_chart("t", [Times("standard", 2, 5.0, 9.0), Times("expedited", 0, None, None)])
    )
    assert texts(root).count("-") == 2
    assert "expedited (0 decided)" in texts(root)


def test_decision_times_with_nothing_decided_say_so() -> None:
    chart = times_chart("t", [Times("standard", 0, None, None), Times("expedited", 0, None, None)])
    assert texts(parse(chart)) == ["No request was decided in this period."]


def test_every_decision_made_at_once_draws_zero_length_bars_with_their_figures() -> None:
    root = parse(times_chart("t", [Times("standard", 3, 0.0, 0.0)]))
    assert [float(r.get("width", "")) for r in bars(root)] == [0.0, 0.0]
    assert texts(root).count("0.0 h") == 2
