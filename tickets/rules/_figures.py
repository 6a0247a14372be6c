"""Figures of a pod's work, pure: fixed duration histograms and their quantiles,
local days and periods, and the additive totals a day row holds, merged into a
period.

A histogram counts durations (seconds) in geometric buckets 5% wide: bucket 0
is [0, 1 s), bucket k >= 1 is [1.05**(k-1), 1.05**k). Histograms of two sets
add up to the histogram of their union, so day rows merge into any period
exactly; a quantile read off the histogram lies in the same bucket as the exact
value, so it is within 5% of it (for durations of a second or more)."""

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo

BUCKET_RATIO = 1.05
_LOG_RATIO = math.log(BUCKET_RATIO)
# The periods a page may choose, in local days ending today.
FIGURE_PERIODS = (1, 7, 30, 90)
MEDIAN = 0.5
P90 = 0.9
RATE_PLACES = Decimal("0.001")
MEAN_PLACES = Decimal("0.01")
NO_REASON = 0  # the reasons map's key for contacts without a contact reason
SATISFIED_RATINGS = (4, 5)

Histogram = dict[int, int]


# --- Histograms -------------------------------------------------------------------


def bucket_lower(index: int) -> float:
    return 0.0 if index == 0 else BUCKET_RATIO ** (index - 1)


def bucket_upper(index: int) -> float:
    return BUCKET_RATIO**index


def duration_bucket(seconds: float) -> int:
    """The bucket of a duration; a negative one (clocks apart) counts as 0 s."""
    if seconds < 1:
        return 0
    index = int(math.log(seconds) / _LOG_RATIO) + 1
    # The logarithm may land one bucket off right at a bound.
    while index > 1 and seconds < bucket_lower(index):
        index -= 1
    while seconds >= bucket_upper(index):
        index += 1
    return index


def histogram_of(durations: Iterable[float]) -> Histogram:
    histogram: Histogram = {}
    for seconds in durations:
        bucket = duration_bucket(seconds)
        histogram[bucket] = histogram.get(bucket, 0) + 1
    return histogram


def histogram_merge(*histograms: Mapping[int, int]) -> Histogram:
    merged: Histogram = {}
    for histogram in histograms:
        for bucket, count in histogram.items():
            merged[bucket] = merged.get(bucket, 0) + count
    return {bucket: merged[bucket] for bucket in sorted(merged) if merged[bucket]}


def histogram_count(histogram: Mapping[int, int]) -> int:
    return sum(histogram.values())


def histogram_quantile(histogram: Mapping[int, int], q: float) -> float | None:
    """The q-quantile (nearest rank: the ceil(q*n)-th smallest duration) read
    off the histogram: interpolated inside the bucket holding that rank by the
    rank's place among the bucket's durations. None for an empty histogram."""
    total = histogram_count(histogram)
    if total == 0:
        return None
    rank = max(1, math.ceil(q * total))
    below = 0
    for bucket in sorted(histogram):
        count = histogram[bucket]
        if below + count >= rank:
            low, high = bucket_lower(bucket), bucket_upper(bucket)
            return low + (high - low) * (rank - below - 0.5) / count
        below += count
    raise AssertionError("unreachable: the rank lies within the total")


def histogram_to_json(histogram: Mapping[int, int]) -> dict[str, int]:
    return {str(bucket): count for bucket, count in sorted(histogram.items())}


def histogram_from_json(value: Mapping[str, int] | None) -> Histogram:
    return {int(bucket): int(count) for bucket, count in (value or {}).items()}


# --- Days and periods -----------------------------------------------------------


def local_day(moment: datetime, time_zone: str) -> date:
    return moment.astimezone(ZoneInfo(time_zone)).date()


def local_day_bounds(day: date, time_zone: str) -> tuple[datetime, datetime]:
    """[start, end) of a local day in UTC (23 or 25 hours long on a DST change)."""
    zone = ZoneInfo(time_zone)
    start = datetime.combine(day, time(), tzinfo=zone)
    end = datetime.combine(day + timedelta(days=1), time(), tzinfo=zone)
    return start.astimezone(UTC), end.astimezone(UTC)


def period_days(*, last_day: date, days: int) -> list[date]:
    """The local days of a period of `days` days ending with `last_day`, oldest
    first."""
    return [last_day - timedelta(days=offset) for offset in range(days - 1, -1, -1)]


def previous_period_days(*, last_day: date, days: int) -> list[date]:
    return period_days(last_day=last_day - timedelta(days=days), days=days)


# --- Rates ------------------------------------------------------------------------


def share(part: int, whole: int) -> Decimal | None:
    """part / whole to three places; None when there is nothing to divide."""
    if whole == 0:
        return None
    return (Decimal(part) / Decimal(whole)).quantize(RATE_PLACES, ROUND_HALF_UP)


def ratio(part: int, whole: int, *, places: Decimal) -> Decimal | None:
    if whole == 0:
        return None
    return (Decimal(part) / Decimal(whole)).quantize(places, ROUND_HALF_UP)


class Trend:
    UP = "UP"
    DOWN = "DOWN"
    FLAT = "FLAT"
    NEW = "NEW"  # none in the previous period


def trend(current: int, previous: int) -> tuple[str, Decimal | None]:
    """Direction and relative change of a count against the previous period's
    (None when the previous period had none)."""
    if previous == 0:
        return (Trend.NEW if current else Trend.FLAT), None
    change = share(current - previous, previous)
    if current > previous:
        return Trend.UP, change
    if current < previous:
        return Trend.DOWN, change
    return Trend.FLAT, change


def ratings_csat(
    ratings: tuple[int, ...],
) -> tuple[int, Decimal | None, Decimal | None]:
    """Answered count, share of 4 and 5, and mean, of counts per rating 1..5."""
    answered = sum(ratings)
    satisfied = sum(ratings[rating - 1] for rating in SATISFIED_RATINGS)
    total = sum(count * rating for rating, count in enumerate(ratings, start=1))
    return (
        answered,
        share(satisfied, answered),
        ratio(total, answered, places=MEAN_PLACES),
    )


# --- Additive totals: what a day row holds and a period merges ------------------

NO_RATINGS = (0, 0, 0, 0, 0)


def _add_ratings(a: tuple[int, ...], b: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(x + y for x, y in zip(a, b, strict=True))


@dataclass(frozen=True)
class TemplateTally:
    """A template's uses in the pod, and the answered surveys of solves that
    followed a use on their ticket: how many, how many 4 or 5, their sum."""

    uses: int = 0
    rated: int = 0
    satisfied: int = 0
    rating_sum: int = 0

    def __add__(self, other: "TemplateTally") -> "TemplateTally":
        return TemplateTally(
            uses=self.uses + other.uses,
            rated=self.rated + other.rated,
            satisfied=self.satisfied + other.satisfied,
            rating_sum=self.rating_sum + other.rating_sum,
        )


@dataclass(frozen=True)
class AgentTotals:
    """One agent's work in one pod: tickets solved (as assignee), of them with
    one reply and reopened, first responses made and their durations, and
    the ratings of surveys about them."""

    solved: int = 0
    one_touch: int = 0
    reopened: int = 0
    first_response: Histogram = field(default_factory=dict)
    ratings: tuple[int, ...] = NO_RATINGS

    @property
    def first_responses(self) -> int:
        return histogram_count(self.first_response)

    def __add__(self, other: "AgentTotals") -> "AgentTotals":
        return AgentTotals(
            solved=self.solved + other.solved,
            one_touch=self.one_touch + other.one_touch,
            reopened=self.reopened + other.reopened,
            first_response=histogram_merge(self.first_response, other.first_response),
            ratings=_add_ratings(self.ratings, other.ratings),
        )

    def to_json(self) -> dict:
        return {
            "solved": self.solved,
            "one_touch": self.one_touch,
            "reopened": self.reopened,
            "first_response": histogram_to_json(self.first_response),
            "ratings": list(self.ratings),
        }

    @classmethod
    def from_json(cls, value: Mapping) -> "AgentTotals":
        return cls(
            solved=value.get("solved", 0),
            one_touch=value.get("one_touch", 0),
            reopened=value.get("reopened", 0),
            first_response=histogram_from_json(value.get("first_response")),
            ratings=tuple(value.get("ratings", NO_RATINGS)),
        )


def _merge_maps(a: Mapping, b: Mapping, zero) -> dict:
    merged = dict(a)
    for key, value in b.items():
        merged[key] = merged.get(key, zero) + value
    return {key: merged[key] for key in sorted(merged)}


@dataclass(frozen=True)
class FigureTotals:
    """Everything a pod's figures come from, additive over days: day rows hold
    one day's, a period row the sum of its days'.

    contacts: tickets opened (merged duplicates not counted); first_response:
    histogram of first_response_at - created_at of tickets first answered that
    day; resolution: of solved_at - created_at of tickets solved; one_touch and
    reopened: of the solved, with exactly one agent reply / reopened before;
    ratings: surveys answered, per rating 1..5; repeat_contacts: contacts of a
    customer with an earlier ticket, same_pod: in that ticket's pod,
    both_assigned: both tickets have an assignee, same_agent: the same one;
    reasons: contacts per contact reason id (NO_REASON for none); templates:
    per template id; agents: per agent id."""

    contacts: int = 0
    first_response: Histogram = field(default_factory=dict)
    resolution: Histogram = field(default_factory=dict)
    one_touch: int = 0
    reopened: int = 0
    ratings: tuple[int, ...] = NO_RATINGS
    repeat_contacts: int = 0
    same_pod: int = 0
    both_assigned: int = 0
    same_agent: int = 0
    reasons: dict[int, int] = field(default_factory=dict)
    templates: dict[int, TemplateTally] = field(default_factory=dict)
    agents: dict[int, AgentTotals] = field(default_factory=dict)

    @property
    def solved(self) -> int:
        return histogram_count(self.resolution)

    def __add__(self, other: "FigureTotals") -> "FigureTotals":
        return FigureTotals(
            contacts=self.contacts + other.contacts,
            first_response=histogram_merge(self.first_response, other.first_response),
            resolution=histogram_merge(self.resolution, other.resolution),
            one_touch=self.one_touch + other.one_touch,
            reopened=self.reopened + other.reopened,
            ratings=_add_ratings(self.ratings, other.ratings),
            repeat_contacts=self.repeat_contacts + other.repeat_contacts,
            same_pod=self.same_pod + other.same_pod,
            both_assigned=self.both_assigned + other.both_assigned,
            same_agent=self.same_agent + other.same_agent,
            reasons=_merge_maps(self.reasons, other.reasons, 0),
            templates=_merge_maps(self.templates, other.templates, TemplateTally()),
            agents=_merge_maps(self.agents, other.agents, AgentTotals()),
        )

    def to_json(self) -> dict:
        return {
            "contacts": self.contacts,
            "first_response": histogram_to_json(self.first_response),
            "resolution": histogram_to_json(self.resolution),
            "one_touch": self.one_touch,
            "reopened": self.reopened,
            "ratings": list(self.ratings),
            "repeat_contacts": self.repeat_contacts,
            "same_pod": self.same_pod,
            "both_assigned": self.both_assigned,
            "same_agent": self.same_agent,
            "reasons": {str(key): count for key, count in self.reasons.items()},
            "templates": {
                str(key): [tally.uses, tally.rated, tally.satisfied, tally.rating_sum]
                for key, tally in self.templates.items()
            },
            "agents": {
                str(key): totals.to_json() for key, totals in self.agents.items()
            },
        }

    @classmethod
    def from_json(cls, value: Mapping) -> "FigureTotals":
        return cls(
            contacts=value.get("contacts", 0),
            first_response=histogram_from_json(value.get("first_response")),
            resolution=histogram_from_json(value.get("resolution")),
            one_touch=value.get("one_touch", 0),
            reopened=value.get("reopened", 0),
            ratings=tuple(value.get("ratings", NO_RATINGS)),
            repeat_contacts=value.get("repeat_contacts", 0),
            same_pod=value.get("same_pod", 0),
            both_assigned=value.get("both_assigned", 0),
            same_agent=value.get("same_agent", 0),
            reasons={int(k): v for k, v in value.get("reasons", {}).items()},
            templates={
                int(k): TemplateTally(*v) for k, v in value.get("templates", {}).items()
            },
            agents={
                int(k): AgentTotals.from_json(v)
                for k, v in value.get("agents", {}).items()
            },
        )


def _add_into(into: dict, counts: Mapping) -> None:
    for key, count in counts.items():
        into[key] = into.get(key, 0) + count


def totals_sum(totals: Iterable[FigureTotals]) -> FigureTotals:
    """The sum of many totals, added in place (a period row merges up to 90
    days for every pod every minute; `+` copies every map at each step)."""
    scalars = dict.fromkeys(_SCALARS, 0)
    first_response: Histogram = {}
    resolution: Histogram = {}
    ratings = [0] * 5
    reasons: dict[int, int] = {}
    templates: dict[int, list[int]] = {}
    agents: dict[int, dict] = {}
    for one in totals:
        for name in _SCALARS:
            scalars[name] += getattr(one, name)
        _add_into(first_response, one.first_response)
        _add_into(resolution, one.resolution)
        for index, count in enumerate(one.ratings):
            ratings[index] += count
        _add_into(reasons, one.reasons)
        for template, tally in one.templates.items():
            sums = templates.setdefault(template, [0, 0, 0, 0])
            sums[0] += tally.uses
            sums[1] += tally.rated
            sums[2] += tally.satisfied
            sums[3] += tally.rating_sum
        for agent, work in one.agents.items():
            sums = agents.setdefault(
                agent,
                {"solved": 0, "one_touch": 0, "reopened": 0, "fr": {}, "r": [0] * 5},
            )
            sums["solved"] += work.solved
            sums["one_touch"] += work.one_touch
            sums["reopened"] += work.reopened
            _add_into(sums["fr"], work.first_response)
            for index, count in enumerate(work.ratings):
                sums["r"][index] += count
    return FigureTotals(
        **scalars,
        first_response=_sorted(first_response),
        resolution=_sorted(resolution),
        ratings=tuple(ratings),
        reasons=_sorted(reasons),
        templates={
            template: TemplateTally(*templates[template])
            for template in sorted(templates)
        },
        agents={
            agent: AgentTotals(
                solved=agents[agent]["solved"],
                one_touch=agents[agent]["one_touch"],
                reopened=agents[agent]["reopened"],
                first_response=_sorted(agents[agent]["fr"]),
                ratings=tuple(agents[agent]["r"]),
            )
            for agent in sorted(agents)
        },
    )


_SCALARS = (
    "contacts",
    "one_touch",
    "reopened",
    "repeat_contacts",
    "same_pod",
    "both_assigned",
    "same_agent",
)


def _sorted(counts: dict) -> dict:
    return {key: counts[key] for key in sorted(counts) if counts[key]}


# --- A period's figures from its days ---------------------------------------------


@dataclass(frozen=True)
class PeriodTotals:
    """What a period row stores: the period's totals, the previous equal
    period's contacts per reason (for trends), and per-day series for
    sparklines (oldest first)."""

    first_day: date
    last_day: date
    totals: FigureTotals
    previous_reasons: dict[int, int]
    contacts_series: tuple[int, ...]
    solved_series: tuple[int, ...]
    first_response_median_series: tuple[float | None, ...]
    csat_series: tuple[Decimal | None, ...]
    reason_series: dict[int, tuple[int, ...]]

    def to_json(self) -> dict:
        return {
            "first_day": self.first_day.isoformat(),
            "last_day": self.last_day.isoformat(),
            "totals": self.totals.to_json(),
            "previous_reasons": {
                str(key): count for key, count in self.previous_reasons.items()
            },
            "contacts_series": list(self.contacts_series),
            "solved_series": list(self.solved_series),
            "first_response_median_series": list(self.first_response_median_series),
            "csat_series": [
                None if rate is None else str(rate) for rate in self.csat_series
            ],
            "reason_series": {
                str(key): list(series) for key, series in self.reason_series.items()
            },
        }

    @classmethod
    def from_json(cls, value: Mapping) -> "PeriodTotals":
        return cls(
            first_day=date.fromisoformat(value["first_day"]),
            last_day=date.fromisoformat(value["last_day"]),
            totals=FigureTotals.from_json(value["totals"]),
            previous_reasons={
                int(key): count for key, count in value["previous_reasons"].items()
            },
            contacts_series=tuple(value["contacts_series"]),
            solved_series=tuple(value["solved_series"]),
            first_response_median_series=tuple(value["first_response_median_series"]),
            csat_series=tuple(
                None if rate is None else Decimal(rate) for rate in value["csat_series"]
            ),
            reason_series={
                int(key): tuple(series)
                for key, series in value["reason_series"].items()
            },
        )


def period_totals(
    *,
    days: list[date],
    by_day: Mapping[date, FigureTotals],
    previous_days: list[date],
) -> PeriodTotals:
    """Merge the day totals of a period (a day without a row counts as empty)
    and of the previous equal period's reasons into what a period row holds."""
    empty = FigureTotals()
    day_totals = [by_day.get(day, empty) for day in days]
    totals = totals_sum(day_totals)
    previous_reasons: dict[int, int] = {}
    for day in previous_days:
        _add_into(previous_reasons, by_day.get(day, empty).reasons)
    return PeriodTotals(
        first_day=days[0],
        last_day=days[-1],
        totals=totals,
        previous_reasons=_sorted(previous_reasons),
        contacts_series=tuple(one.contacts for one in day_totals),
        solved_series=tuple(one.solved for one in day_totals),
        first_response_median_series=tuple(
            histogram_quantile(one.first_response, MEDIAN) for one in day_totals
        ),
        csat_series=tuple(ratings_csat(one.ratings)[1] for one in day_totals),
        reason_series={
            reason: tuple(one.reasons.get(reason, 0) for one in day_totals)
            for reason in totals.reasons
        },
    )


def period_headline(period: PeriodTotals) -> PeriodTotals:
    """The period's pod-wide totals alone: without the per-agent, per-reason
    and per-template detail nor the series. The same pod-wide figures as the
    whole period's, a small fraction of its size."""
    return replace(
        period,
        totals=replace(period.totals, reasons={}, templates={}, agents={}),
        previous_reasons={},
        contacts_series=(),
        solved_series=(),
        first_response_median_series=(),
        csat_series=(),
        reason_series={},
    )
