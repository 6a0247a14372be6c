"""Chart template tags (pods/templatetags/charts.py): the SVG is parsed and its
shapes measured, so a chart that draws the wrong picture fails, not only one
that fails to render."""

import re
import xml.etree.ElementTree as ET
from decimal import Decimal

import pytest
from django.template import Context, Template
from django.utils import translation

from pods.templatetags import charts

SVG = "{http://www.w3.org/2000/svg}"


def parse(markup: str) -> ET.Element:
    # Markup our own code made from fixed test values: no untrusted XML.
    return ET.fromstring(str(markup))  # noqa: S314


def path_points(svg: ET.Element) -> list[list[tuple[float, float]]]:
    """The line's segments (a missing value starts a new one) as (x, y)."""
    d = svg.find(f"{SVG}path").get("d")
    segments: list[list[tuple[float, float]]] = []
    for command, x, y in re.findall(r"([ML])([\d.]+) ([\d.]+)", d):
        if command == "M":
            segments.append([])
        segments[-1].append((float(x), float(y)))
    return segments


@pytest.fixture(autouse=True)
def english():
    with translation.override("en"):
        yield


class TestSparkline:
    def test_draws_the_series_left_to_right_from_a_zero_baseline(self):
        svg = parse(charts.sparkline_svg([0, 5, 10], label="Contacts per day"))

        (points,) = path_points(svg)
        xs = [x for x, _ in points]
        ys = [y for _, y in points]
        assert xs == [3.0, 60.0, 117.0]
        # SVG y grows downwards: 0 at the bottom edge, 10 at the top edge.
        assert ys == [29.0, 16.0, 3.0]
        dot = svg.find(f"{SVG}circle")
        assert (float(dot.get("cx")), float(dot.get("cy"))) == (117.0, 3.0)

    def test_small_changes_are_not_drawn_as_cliffs(self):
        svg = parse(charts.sparkline_svg([50, 52], label="x"))

        (points,) = path_points(svg)
        # Against a zero baseline 50 and 52 sit near the top, close together.
        assert points[1][1] == 3.0
        assert abs(points[0][1] - points[1][1]) < 2

    def test_says_what_it_shows_in_words(self):
        svg = parse(charts.sparkline_svg([3, 1, 1200, 7], label="Contacts per day"))

        expected = "Contacts per day: 4 values, from 3 to 7; lowest 1, highest 1,200."
        assert svg.get("role") == "img"
        assert svg.get("aria-label") == expected
        assert svg.find(f"{SVG}title").text == expected

    def test_a_missing_value_breaks_the_line(self):
        svg = parse(charts.sparkline_svg([1, None, 3, 4], label="x"))

        segments = path_points(svg)
        assert [len(segment) for segment in segments] == [1, 2]
        assert "3 values" in svg.get("aria-label")

    def test_a_flat_series_is_drawn_mid_height(self):
        svg = parse(charts.sparkline_svg([0, 0, 0], label="x"))

        (points,) = path_points(svg)
        assert {y for _, y in points} == {16.0}

    def test_no_values_says_so_and_draws_nothing(self):
        svg = parse(charts.sparkline_svg([], label="Contacts"))

        assert svg.get("aria-label") == "Contacts: no data yet."
        assert svg.find(f"{SVG}path") is None

    def test_the_label_is_escaped(self):
        markup = str(charts.sparkline_svg([1, 2], label='<script>"x"</script>'))

        assert "<script>" not in markup
        assert parse(markup).get("aria-label").startswith('<script>"x"</script>:')


class TestBars:
    def test_bars_are_scaled_to_the_largest_value(self):
        svg = parse(
            charts.bars_svg([("High", 2), ("Middle", 4), ("Low", 1)], label="x")
        )

        rows = svg.findall(f"{SVG}g")
        widths = [float(row.findall(f"{SVG}rect")[1].get("width")) for row in rows]
        assert widths == [75.0, 150.0, 37.5]
        labels = [row.findall(f"{SVG}text")[0].text for row in rows]
        values = [row.findall(f"{SVG}text")[1].text for row in rows]
        assert labels == ["High", "Middle", "Low"]
        assert values == ["2", "4", "1"]

    def test_decimal_values_are_drawn_like_any_number(self):
        rows = [("Mercury", Decimal("1.89")), ("Venus", Decimal("3.78"))]

        svg = parse(charts.bars_svg(rows, label="Cost"))

        widths = [
            float(row.findall(f"{SVG}rect")[1].get("width"))
            for row in svg.findall(f"{SVG}g")
        ]
        assert widths == [75.0, 150.0]
        assert svg.get("aria-label") == "Cost: Mercury 1.9; Venus 3.8."

    def test_a_given_maximum_scales_instead(self):
        svg = parse(charts.bars_svg([("Open", 3)], label="x", maximum=6))

        rect = svg.find(f"{SVG}g").findall(f"{SVG}rect")[1]
        assert float(rect.get("width")) == 75.0

    def test_rows_stack_top_to_bottom_inside_the_view_box(self):
        svg = parse(charts.bars_svg([("a", 1), ("b", 2)], label="x"))

        assert svg.get("viewBox") == "0 0 320 46"
        tops = [
            float(row.findall(f"{SVG}rect")[1].get("y"))
            for row in svg.findall(f"{SVG}g")
        ]
        assert tops == [2.0, 28.0]

    def test_tone_adds_a_class_and_an_unsafe_tone_is_dropped(self):
        svg = parse(
            charts.bars_svg(
                [("High", 1, "tier-high"), {"label": "Low", "value": 2, "tone": '"x'}],
                label="x",
            )
        )

        classes = [
            row.findall(f"{SVG}rect")[1].get("class") for row in svg.findall(f"{SVG}g")
        ]
        assert classes == ["chart__bar chart__bar--tier-high", "chart__bar"]

    def test_text_alternative_lists_every_row_with_full_labels(self):
        name = "Moving home and changing tariff"
        svg = parse(charts.bars_svg([(name, 1200), ("Bills", 2.25)], label="Reasons"))

        assert svg.get("aria-label") == f"Reasons: {name} 1,200; Bills 2.2."
        row = svg.find(f"{SVG}g")
        assert row.find(f"{SVG}title").text == f"{name}: 1,200"
        assert row.findall(f"{SVG}text")[0].text == "Moving home and c…"

    def test_negative_and_missing_values_draw_no_bar(self):
        svg = parse(charts.bars_svg([("a", -3), ("b", None), ("c", 0)], label="x"))

        widths = [
            float(row.findall(f"{SVG}rect")[1].get("width"))
            for row in svg.findall(f"{SVG}g")
        ]
        assert widths == [0.0, 0.0, 0.0]

    def test_no_rows_says_so(self):
        assert parse(charts.bars_svg([], label="Tiers")).get("aria-label") == (
            "Tiers: no data yet."
        )


class TestProgress:
    @pytest.mark.parametrize(
        ("value", "width", "level", "percent"),
        [
            (0, 0.0, "ok", 0),
            (35_000, 160.0, "ok", 50),
            (56_000, 256.0, "near", 80),
            (66_500, 304.0, "over", 95),
            (90_000, 320.0, "over", 128),
        ],
    )
    def test_fills_towards_the_threshold_and_colours_by_level(
        self, value, width, level, percent
    ):
        svg = parse(charts.progress_svg(value, 70_000, label="Customers"))

        fill = svg.findall(f"{SVG}rect")[1]
        assert float(fill.get("width")) == width
        assert fill.get("class") == f"chart__fill chart__fill--{level}"
        assert svg.get("aria-label") == (
            f"Customers: {charts._number(value)} of 70,000 ({percent}%)."
        )

    def test_no_threshold_says_so(self):
        svg = parse(charts.progress_svg(5, 0, label="Customers"))

        assert svg.get("aria-label") == "Customers: no data yet."
        assert svg.find(f"{SVG}rect") is None


class TestTemplateTags:
    def test_tags_render_svg_without_script_or_style(self):
        html = Template(
            "{% load charts %}"
            "{% sparkline series label='Trend' %}"
            "{% bars rows label='Tiers' %}"
            "{% progress 7 10 label='Seats' %}"
        ).render(Context({"series": [1, "2", Decimal("3.5")], "rows": [("High", 1)]}))

        assert html.count("<svg") == 3
        assert "<script" not in html
        assert "style=" not in html
        assert "Trend: 3 values, from 1 to 3.5" in html
        assert "Seats: 7 of 10 (70%)." in html

    def test_text_that_is_not_a_number_is_a_gap(self):
        html = Template("{% load charts %}{% sparkline series label='T' %}").render(
            Context({"series": [1, "n/a", float("nan"), 2]})
        )

        assert "T: 2 values" in html
