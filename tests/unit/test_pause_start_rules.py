"""When a pause may start (rules.pause_start_problem, pure): from today up to
the days ahead allowed, before the entitlement ends, and clear of the pause
already set; an entitlement holds one pause at a time. Checked one case at a
time and, over every day around the limits, against an oracle written from
those words."""

from datetime import date, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from authority.rules import pause_start_problem

TODAY = date(2026, 3, 15)
END = TODAY + timedelta(days=50)


def problem(starts_on, *, days=10, ends_on=END, paused=(None, None), ahead=30):
    return pause_start_problem(
        starts_on=starts_on,
        days=days,
        today=TODAY,
        max_days_ahead=ahead,
        ends_on=ends_on,
        paused_from=paused[0],
        paused_until=paused[1],
    )


def in_days(count: int) -> date:
    return TODAY + timedelta(days=count)


class TestOneCaseAtATime:
    @pytest.mark.parametrize("offset", [0, 1, 29, 30])
    def test_today_up_to_the_days_ahead_is_allowed(self, offset):
        assert problem(in_days(offset)) is None

    def test_yesterday_is_in_the_past(self):
        reason = problem(in_days(-1))
        assert (reason.code, reason.ok) == ("pause_start_past", False)
        assert reason.params == {"start": "2026-03-14"}

    def test_one_day_past_the_limit_is_too_far(self):
        reason = problem(in_days(31))
        assert reason.code == "pause_start_too_far"
        assert reason.params == {
            "start": "2026-04-15",
            "latest": "2026-04-14",
            "days": 30,
        }

    def test_the_limit_is_the_setting(self):
        assert problem(in_days(3), ahead=2).code == "pause_start_too_far"
        assert problem(in_days(0), ahead=0) is None

    def test_the_last_day_and_after_are_not_before_the_end(self):
        ends_on = in_days(10)
        assert problem(in_days(9), ends_on=ends_on) is None
        reason = problem(in_days(10), ends_on=ends_on)
        assert reason.code == "pause_start_after_end"
        assert reason.params == {"start": "2026-03-25", "end": "2026-03-25"}

    def test_an_ended_entitlement_cannot_be_paused_even_today(self):
        assert problem(TODAY, ends_on=in_days(-3)).code == "pause_start_after_end"

    def test_over_a_pause_set_ahead_is_an_overlap(self):
        paused = (in_days(5), in_days(10))
        # Starts inside; ends inside; covers it whole.
        for start, days in ((in_days(7), 2), (in_days(1), 5), (in_days(2), 20)):
            reason = problem(start, days=days, paused=paused)
            assert reason.code == "pause_overlaps", (start, days)
            assert reason.params["from"] == "2026-03-20"
            assert reason.params["until"] == "2026-03-25"

    def test_a_running_pause_overlaps_a_pause_from_today(self):
        reason = problem(TODAY, paused=(in_days(-2), in_days(3)))
        assert reason.code == "pause_overlaps"

    def test_touching_is_not_overlapping_but_one_pause_at_a_time_holds(self):
        paused = (in_days(5), in_days(10))
        # Ends the day the set pause begins / begins the day it ends.
        assert problem(in_days(1), days=4, paused=paused).code == "already_paused"
        reason = problem(in_days(10), days=4, paused=paused)
        assert (reason.code, reason.params) == (
            "already_paused",
            {"until": "2026-03-25"},
        )

    def test_a_pause_that_is_over_stands_in_no_way(self):
        assert problem(TODAY, paused=(in_days(-20), in_days(-5))) is None
        assert problem(TODAY, paused=(in_days(-20), TODAY)) is None


def oracle(start: date, days: int, ends_on: date, paused, ahead: int) -> str | None:
    if start < TODAY:
        return "pause_start_past"
    if (start - TODAY).days > ahead:
        return "pause_start_too_far"
    if start >= ends_on:
        return "pause_start_after_end"
    paused_from, paused_until = paused
    if paused_until is None or paused_until <= TODAY:
        return None
    mine = {start + timedelta(days=n) for n in range(days)}
    theirs = {
        (paused_from or TODAY) + timedelta(days=n)
        for n in range((paused_until - (paused_from or TODAY)).days)
    }
    return "pause_overlaps" if mine & theirs else "already_paused"


@settings(max_examples=300, deadline=None, database=None)
@given(
    offset=st.integers(-5, 40),
    days=st.integers(1, 20),
    end=st.integers(-3, 45),
    paused=st.one_of(
        st.just((None, None)),
        st.tuples(st.integers(-10, 35), st.integers(1, 15)).map(
            lambda pair: (in_days(pair[0]), in_days(pair[0] + pair[1]))
        ),
    ),
    ahead=st.integers(0, 35),
)
def test_agrees_with_the_oracle_on_every_day_around_the_limits(
    offset, days, end, paused, ahead
):
    start, ends_on = in_days(offset), in_days(end)
    reason = problem(start, days=days, ends_on=ends_on, paused=paused, ahead=ahead)
    expected = oracle(start, days, ends_on, paused, ahead)
    assert (reason.code if reason else None) == expected
    assert reason is None or reason.ok is False
