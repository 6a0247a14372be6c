"""Charts as inline SVG, for every app's templates: a trend line (sparkline),
horizontal bars with their labels and values (bars) and a bar filling up to a
threshold (progress).

No script, no CDN, no style attribute (strict CSP): shapes carry classes that
static/pods/charts.css colours, and presentation attributes that keep a chart
readable without it. Each chart is role="img" with a text alternative that says
what the picture shows, numbers included, for screen readers and as a tooltip.

    {% load charts %}
    {% sparkline series label=_("Contacts per day") %}
    {% bars rows label=_("Agents by tier") %}        rows: (label, value[, tone])
    {% progress pod.customer_count pod.split_threshold label=_("Customers") %}

The functions below the tags are pure (numbers in, markup out) and unit tested.
"""

import re
from collections.abc import Sequence
from decimal import Decimal

from django import template
from django.utils.formats import number_format
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext

register = template.Library()

Number = int | float | Decimal

SPARK_WIDTH, SPARK_HEIGHT, SPARK_PAD = 120, 32, 3
BAR_WIDTH, BAR_ROW, BAR_GAP = 320, 20, 6
BAR_LABEL_END, BAR_START, BAR_END = 112, 118, 268
BAR_LABEL_CHARS = 18
PROGRESS_WIDTH, PROGRESS_HEIGHT = 320, 14
# The split gauge's levels: amber from 80% of the threshold, red from 95%.
NEAR_PERCENT, OVER_PERCENT = 80, 95
TONE = re.compile(r"^[a-z][a-z0-9-]{0,30}$")


@register.simple_tag
def sparkline(values, label: str = "") -> SafeString:
    return sparkline_svg(_numbers(values), label=str(label))


@register.simple_tag
def bars(rows, label: str = "", maximum=None) -> SafeString:
    return bars_svg(list(rows or ()), label=str(label), maximum=maximum)


@register.simple_tag
def progress(
    value,
    maximum,
    label: str = "",
    near: int = NEAR_PERCENT,
    over: int = OVER_PERCENT,
) -> SafeString:
    return progress_svg(value, maximum, label=str(label), near=near, over=over)


# --- Sparkline ------------------------------------------------------------------------


def sparkline_svg(values: Sequence[Number | None], *, label: str) -> SafeString:
    """A trend line of the values left to right; missing values (None) break
    the line. The baseline is zero (or the lowest value below it), so a small
    change does not look like a cliff."""
    known = [value for value in values if value is not None]
    if not known:
        return _svg(
            "sparkline", SPARK_WIDTH, SPARK_HEIGHT, _no_data(label), mark_safe("")
        )
    low, high = float(min(0, min(known))), float(max(known))
    step = (SPARK_WIDTH - 2 * SPARK_PAD) / max(len(values) - 1, 1)

    def point(index: int, value: Number) -> tuple[float, float]:
        share = 0.5 if high == low else (float(value) - low) / (high - low)
        return (
            SPARK_PAD + index * step,
            SPARK_HEIGHT - SPARK_PAD - share * (SPARK_HEIGHT - 2 * SPARK_PAD),
        )

    commands, pen_down = [], False
    for index, value in enumerate(values):
        if value is None:
            pen_down = False
            continue
        x, y = point(index, value)
        commands.append(f"{'L' if pen_down else 'M'}{x:.2f} {y:.2f}")
        pen_down = True
    last = max(index for index, value in enumerate(values) if value is not None)
    last_x, last_y = point(last, known[-1])
    shapes = format_html(
        '<path class="chart__line" d="{}" fill="none" stroke="currentColor" '
        'stroke-width="1.5" stroke-linejoin="round" stroke-linecap="round"/>'
        '<circle class="chart__dot" cx="{}" cy="{}" r="2.5" fill="currentColor"/>',
        " ".join(commands),
        f"{last_x:.2f}",
        f"{last_y:.2f}",
    )
    text = gettext(
        "%(label)s: %(count)s values, from %(first)s to %(last)s; "
        "lowest %(lowest)s, highest %(highest)s."
    ) % {
        "label": label or gettext("Trend"),
        "count": len(known),
        "first": _number(known[0]),
        "last": _number(known[-1]),
        "lowest": _number(min(known)),
        "highest": _number(max(known)),
    }
    return _svg("sparkline", SPARK_WIDTH, SPARK_HEIGHT, text, shapes)


# --- Bars -----------------------------------------------------------------------------


def bars_svg(rows: Sequence, *, label: str, maximum=None) -> SafeString:
    """Horizontal bars, one per (label, value) or (label, value, tone) row,
    scaled to the largest value (or the given maximum); a tone adds the class
    chart__bar--<tone> (for example a tier). Long labels are shortened on the
    bar and kept whole in the text alternative and the row's tooltip."""
    parsed = [_bar_row(row) for row in rows]
    if not parsed:
        return _svg("bars", BAR_WIDTH, BAR_ROW, _no_data(label), mark_safe(""))
    values = [value for _, value, _ in parsed]
    scale = float(maximum) if maximum else max(float(max(values)), 0.0)
    height = len(parsed) * (BAR_ROW + BAR_GAP) - BAR_GAP
    shapes = format_html_join(
        "",
        "{}",
        (
            (_bar(index, name, value, tone, scale),)
            for index, (name, value, tone) in enumerate(parsed)
        ),
    )
    text = gettext("%(label)s: %(rows)s.") % {
        "label": label or gettext("Bars"),
        "rows": "; ".join(f"{name} {_number(value)}" for name, value, _ in parsed),
    }
    return _svg("bars", BAR_WIDTH, height, text, shapes)


def _bar_row(row) -> tuple[str, Number, str]:
    if isinstance(row, dict):
        name, value, tone = row.get("label"), row.get("value"), row.get("tone", "")
    else:
        name, value, *rest = row
        tone = rest[0] if rest else ""
    tone = tone if tone and TONE.match(str(tone)) else ""
    number = _numbers([value])[0]
    return str(name), number if number is not None else 0, str(tone)


def _bar(index: int, name: str, value: Number, tone: str, scale: float) -> SafeString:
    top = index * (BAR_ROW + BAR_GAP)
    share = 0.0 if scale <= 0 else min(max(float(value), 0.0) / scale, 1.0)
    width = share * (BAR_END - BAR_START)
    short = name if len(name) <= BAR_LABEL_CHARS else name[: BAR_LABEL_CHARS - 1] + "…"
    classes = "chart__bar" + (f" chart__bar--{tone}" if tone else "")
    middle = top + BAR_ROW / 2
    return format_html(
        '<g class="chart__row"><title>{}</title>'
        '<text class="chart__label" x="{}" y="{}" text-anchor="end" '
        'dominant-baseline="central">{}</text>'
        '<rect class="chart__track" x="{}" y="{}" width="{}" height="{}" rx="3" '
        'fill="currentColor" fill-opacity="0.12"/>'
        '<rect class="{}" x="{}" y="{}" width="{}" height="{}" rx="3" '
        'fill="currentColor"/>'
        '<text class="chart__value" x="{}" y="{}" dominant-baseline="central">{}'
        "</text></g>",
        f"{name}: {_number(value)}",
        BAR_LABEL_END,
        f"{middle:.2f}",
        short,
        BAR_START,
        top + 2,
        BAR_END - BAR_START,
        BAR_ROW - 4,
        classes,
        BAR_START,
        top + 2,
        f"{width:.2f}",
        BAR_ROW - 4,
        f"{BAR_END + 6}",
        f"{middle:.2f}",
        _number(value),
    )


# --- Progress -------------------------------------------------------------------------


def progress_svg(
    value: Number | None,
    maximum: Number | None,
    *,
    label: str,
    near: int = NEAR_PERCENT,
    over: int = OVER_PERCENT,
) -> SafeString:
    """A bar filling towards a threshold: chart__fill--ok below `near` percent
    of it, --near from there, --over from `over` percent (full at 100% and
    beyond, the text says how far)."""
    value, maximum = _numbers([value])[0] or 0, _numbers([maximum])[0]
    if not maximum or maximum <= 0:
        return _svg(
            "progress", PROGRESS_WIDTH, PROGRESS_HEIGHT, _no_data(label), mark_safe("")
        )
    percent = int(float(value) * 100 // float(maximum))
    level = "over" if percent >= over else "near" if percent >= near else "ok"
    width = min(max(float(value) / float(maximum), 0.0), 1.0) * PROGRESS_WIDTH
    shapes = format_html(
        '<rect class="chart__track" x="0" y="0" width="{}" height="{}" rx="7" '
        'fill="currentColor" fill-opacity="0.12"/>'
        '<rect class="chart__fill chart__fill--{}" x="0" y="0" width="{}" '
        'height="{}" rx="7" fill="currentColor"/>',
        PROGRESS_WIDTH,
        PROGRESS_HEIGHT,
        level,
        f"{width:.2f}",
        PROGRESS_HEIGHT,
    )
    text = gettext("%(label)s: %(value)s of %(maximum)s (%(percent)s%%).") % {
        "label": label or gettext("Progress"),
        "value": _number(value),
        "maximum": _number(maximum),
        "percent": percent,
    }
    return _svg("progress", PROGRESS_WIDTH, PROGRESS_HEIGHT, text, shapes)


# --- Shared ---------------------------------------------------------------------------


def _svg(
    kind: str, width: int, height: int, text: str, shapes: SafeString
) -> SafeString:
    return format_html(
        '<svg xmlns="http://www.w3.org/2000/svg" class="chart chart--{}" '
        'viewBox="0 0 {} {}" role="img" aria-label="{}" '
        'preserveAspectRatio="xMinYMid meet"><title>{}</title>{}</svg>',
        kind,
        width,
        height,
        text,
        text,
        shapes,
    )


def _no_data(label: str) -> str:
    return gettext("%(label)s: no data yet.") % {"label": label or gettext("Chart")}


def _numbers(values) -> list[Number | None]:
    numbers: list[Number | None] = []
    for value in values or ():
        if value is None or value == "":
            numbers.append(None)
            continue
        try:
            number = Decimal(str(value))
        except ArithmeticError:  # decimal.InvalidOperation: not a number at all
            number = None
        # NaN and infinity cannot be drawn: a gap, like a missing value.
        if number is None or not number.is_finite():
            numbers.append(None)
        else:
            numbers.append(value if isinstance(value, int | float) else number)
    return numbers


def _number(value: Number) -> str:
    """A number as people read it here: grouped thousands, at most one decimal
    (whole numbers without one)."""
    if isinstance(value, float | Decimal) and value != int(value):
        return number_format(round(Decimal(str(value)), 1), 1, force_grouping=True)
    return number_format(int(value), 0, force_grouping=True)
