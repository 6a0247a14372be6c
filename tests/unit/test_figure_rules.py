"""The pure figures rules: fixed histograms, quantiles, merges, days, trends."""

import math
import random
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from tickets import rules
from tickets.rules import AgentTotals, FigureTotals, TemplateTally, Trend


def exact_quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(1, math.ceil(q * len(ordered))) - 1]


class TestDurationBucket:
    def test_every_bucket_is_at_most_five_percent_wide(self):
        for index in range(1, 500):
            low, high = (
                rules._figures.bucket_lower(index),
                (rules._figures.bucket_upper(index)),
            )
            assert high / low <= 1.05 + 1e-12

    def test_a_duration_lies_in_its_bucket(self):
        generator = random.Random(7)
        for _ in range(5000):
            seconds = math.exp(generator.uniform(0, 17))  # 1 s to ~280 days
            bucket = rules.duration_bucket(seconds)
            assert rules._figures.bucket_lower(bucket) <= seconds
            assert seconds < rules._figures.bucket_upper(bucket)

    def test_bounds_land_in_the_bucket_they_open(self):
        for index in range(1, 300):
            bound = rules._figures.bucket_lower(index)
            assert rules.duration_bucket(bound) == index

    def test_under_a_second_and_negative_go_to_bucket_zero(self):
        assert rules.duration_bucket(0.4) == 0
        assert rules.duration_bucket(-30) == 0
        assert rules.duration_bucket(1) == 1


class TestHistogramQuantile:
    @pytest.mark.parametrize("seed", range(20))
    def test_median_and_p90_within_five_percent_of_exact(self, seed):
        generator = random.Random(seed)
        values = [
            generator.lognormvariate(8, 1.5) + 1
            for _ in range(generator.randint(1, 400))
        ]
        histogram = rules.histogram_of(values)
        for q in (rules.MEDIAN, rules.P90, 0.99):
            exact = exact_quantile(values, q)
            estimate = rules.histogram_quantile(histogram, q)
            assert abs(estimate - exact) <= 0.05 * exact

    def test_hand_computed(self):
        # 60 s, 1 h, 2 h: the median is the second smallest, 1 h.
        histogram = rules.histogram_of([60, 3600, 7200])
        assert rules.histogram_quantile(histogram, 0.5) == pytest.approx(3600, rel=0.05)
        assert rules.histogram_quantile(histogram, 0.9) == pytest.approx(7200, rel=0.05)

    def test_empty_has_no_quantile(self):
        assert rules.histogram_quantile({}, 0.5) is None


class TestHistogramMerge:
    def test_merged_equals_histogram_of_the_union(self):
        generator = random.Random(3)
        parts = [
            [generator.expovariate(1 / 3600) for _ in range(generator.randint(0, 50))]
            for _ in range(10)
        ]
        merged = rules.histogram_merge(*(rules.histogram_of(part) for part in parts))
        assert merged == rules.histogram_of([v for part in parts for v in part])

    def test_totals_add_every_figure(self):
        one = FigureTotals(
            contacts=2,
            first_response=rules.histogram_of([60]),
            resolution=rules.histogram_of([600, 900]),
            one_touch=1,
            reopened=1,
            ratings=(0, 0, 0, 1, 1),
            repeat_contacts=1,
            same_pod=1,
            both_assigned=1,
            same_agent=0,
            reasons={3: 2},
            templates={5: TemplateTally(uses=2, rated=1, satisfied=1, rating_sum=5)},
            agents={9: AgentTotals(solved=2, ratings=(0, 0, 0, 1, 0))},
        )
        two = FigureTotals(
            contacts=1,
            resolution=rules.histogram_of([600]),
            reasons={3: 1, 0: 4},
            templates={5: TemplateTally(uses=1)},
            agents={9: AgentTotals(solved=1, one_touch=1), 10: AgentTotals(solved=1)},
        )
        total = one + two
        assert total.contacts == 3
        assert total.solved == 3
        assert total.reasons == {0: 4, 3: 3}
        assert total.templates[5] == TemplateTally(
            uses=3, rated=1, satisfied=1, rating_sum=5
        )
        assert total.agents[9].solved == 3
        assert total.agents[9].one_touch == 1
        assert total.agents[10].solved == 1
        assert FigureTotals.from_json(total.to_json()) == total


class TestDaysAndPeriods:
    def test_local_day_bounds_follow_the_time_zone(self):
        start, end = rules.local_day_bounds(date(2026, 3, 29), "Europe/London")
        # The clocks go forward that night: a 23-hour day.
        assert start == datetime(2026, 3, 29, 0, 0, tzinfo=UTC)
        assert end == datetime(2026, 3, 29, 23, 0, tzinfo=UTC)
        start, _ = rules.local_day_bounds(date(2026, 5, 1), "Asia/Seoul")
        assert start == datetime(2026, 4, 30, 15, 0, tzinfo=UTC)

    def test_period_ends_today_and_previous_precedes_it(self):
        days = rules.period_days(last_day=date(2026, 5, 7), days=7)
        assert days[0] == date(2026, 5, 1)
        assert days[-1] == date(2026, 5, 7)
        previous = rules.previous_period_days(last_day=date(2026, 5, 7), days=7)
        assert previous[0] == date(2026, 4, 24)
        assert previous[-1] == date(2026, 4, 30)

    def test_period_totals_merge_days_and_series(self):
        by_day = {
            date(2026, 5, 6): FigureTotals(contacts=2, reasons={1: 2}),
            date(2026, 5, 7): FigureTotals(contacts=1, reasons={1: 1}),
            date(2026, 5, 4): FigureTotals(contacts=5, reasons={1: 5}),
        }
        period = rules.period_totals(
            days=rules.period_days(last_day=date(2026, 5, 7), days=2),
            by_day=by_day,
            previous_days=rules.previous_period_days(last_day=date(2026, 5, 7), days=2),
        )
        assert period.totals.contacts == 3
        assert period.contacts_series == (2, 1)
        assert period.reason_series == {1: (2, 1)}
        assert period.previous_reasons == {1: 5}
        assert rules.PeriodTotals.from_json(period.to_json()) == period


class TestRates:
    def test_trend(self):
        assert rules.trend(12, 10) == (Trend.UP, Decimal("0.200"))
        assert rules.trend(5, 10) == (Trend.DOWN, Decimal("-0.500"))
        assert rules.trend(3, 0) == (Trend.NEW, None)
        assert rules.trend(4, 4) == (Trend.FLAT, Decimal("0.000"))

    def test_csat_is_the_share_of_four_and_five(self):
        answered, satisfied, mean = rules.ratings_csat((1, 0, 1, 1, 1))
        assert answered == 4
        assert satisfied == Decimal("0.500")
        assert mean == Decimal("3.25")
        assert rules.ratings_csat((0, 0, 0, 0, 0)) == (0, None, None)
