"""The pure SLA rules: business hours, policy choice, due times and breaches.

Expected instants are worked out by hand from the calendar: January 2024 starts on
a Monday; in Europe/London the clocks go forward on Sunday 31 March 2024 at 01:00
GMT and back on Sunday 27 October 2024 at 02:00 BST; Asia/Seoul is UTC+9 all year.
"""

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tickets.rules import (
    ALWAYS_OPEN,
    BusinessHours,
    SlaDue,
    SlaMetric,
    SlaPolicyFacts,
    SlaTargets,
    business_deadline,
    business_minutes_between,
    sla_breaches,
    sla_due_on_agent_reply,
    sla_due_on_customer_message,
    sla_due_on_open,
    sla_next_due,
    sla_policy_choose,
    sla_resolution_paused,
)

LONDON = ZoneInfo("Europe/London")
SEOUL = ZoneInfo("Asia/Seoul")
END_OF_DAY = time(23, 59, 59, 999999)

WEEKDAYS_9_TO_5 = BusinessHours(
    timezone="Europe/London",
    weekly=tuple((day, time(9), time(17)) for day in range(5)),
)
EVERY_DAY_9_TO_5 = BusinessHours(
    timezone="Europe/London",
    weekly=tuple((day, time(9), time(17)) for day in range(7)),
)
SPLIT_SHIFT = BusinessHours(
    timezone="Europe/London",
    weekly=tuple(
        interval
        for day in range(5)
        for interval in ((day, time(9), time(12)), (day, time(13), time(17)))
    ),
)


def london(*args: int) -> datetime:
    return datetime(*args, tzinfo=LONDON)


def seoul(*args: int) -> datetime:
    return datetime(*args, tzinfo=SEOUL)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def sundays_only(opens: time, closes: time) -> BusinessHours:
    return BusinessHours(timezone="Europe/London", weekly=((6, opens, closes),))


# --- Business hours --------------------------------------------------------------


class TestBusinessHours:
    @pytest.mark.parametrize(
        ("timezone", "weekly"),
        [
            ("Mars/Olympus_Mons", ((0, time(9), time(17)),)),
            ("", ((0, time(9), time(17)),)),
            ("../../etc/passwd", ((0, time(9), time(17)),)),
            ("Europe/London", ((7, time(9), time(17)),)),
            ("Europe/London", ((-1, time(9), time(17)),)),
            ("Europe/London", ((0, time(9), time(9)),)),
            ("Europe/London", ((0, time(17), time(9)),)),
            ("Europe/London", ((0, time(9), time(13)), (0, time(12), time(17)))),
            ("Europe/London", ((0, time(9), time(17)), (0, time(10), time(11)))),
            ("Europe/London", ((0, time(9, tzinfo=UTC), time(17)),)),
        ],
    )
    def test_refuses_an_invalid_schedule(self, timezone, weekly):
        with pytest.raises(ValueError, match=r"."):
            BusinessHours(timezone=timezone, weekly=weekly)

    def test_accepts_touching_intervals_and_an_end_of_day_closing(self):
        weekly = ((0, time(13), END_OF_DAY), (0, time(9), time(13)))

        hours = BusinessHours(timezone="Asia/Seoul", weekly=weekly)

        assert hours.weekly == ((0, time(9), time(13)), (0, time(13), END_OF_DAY))

    def test_equal_schedules_given_in_any_order_are_equal(self):
        forwards = BusinessHours(
            timezone="UTC", weekly=((0, time(9), time(17)), (1, time(9), time(17)))
        )
        backwards = BusinessHours(
            timezone="UTC", weekly=((1, time(9), time(17)), (0, time(9), time(17)))
        )

        assert forwards == backwards
        assert hash(forwards) == hash(backwards)


# --- Business deadline -----------------------------------------------------------


class TestBusinessDeadline:
    def test_always_open_adds_wall_minutes_and_returns_utc(self):
        start = datetime(2024, 1, 6, 23, 0, tzinfo=ZoneInfo("America/New_York"))

        deadline = business_deadline(start=start, minutes=90, hours=ALWAYS_OPEN)

        assert deadline == utc(2024, 1, 7, 5, 30)
        assert deadline.tzinfo is UTC

    def test_always_open_counts_elapsed_time_across_a_clock_change(self):
        # 00:30 GMT plus two hours is 02:30 UTC, which London calls 03:30 BST.
        deadline = business_deadline(
            start=london(2024, 3, 31, 0, 30), minutes=120, hours=ALWAYS_OPEN
        )

        assert deadline == utc(2024, 3, 31, 2, 30)

    def test_start_inside_hours(self):
        deadline = business_deadline(
            start=london(2024, 1, 8, 10, 0), minutes=60, hours=WEEKDAYS_9_TO_5
        )

        assert deadline == utc(2024, 1, 8, 11, 0)
        assert deadline.tzinfo is UTC

    def test_a_full_day_ends_at_closing_not_the_next_morning(self):
        deadline = business_deadline(
            start=london(2024, 1, 8, 9, 0), minutes=480, hours=WEEKDAYS_9_TO_5
        )

        assert deadline == utc(2024, 1, 8, 17, 0)

    def test_start_before_opening_waits_for_it(self):
        deadline = business_deadline(
            start=london(2024, 1, 8, 7, 30), minutes=30, hours=WEEKDAYS_9_TO_5
        )

        assert deadline == utc(2024, 1, 8, 9, 30)

    def test_start_after_closing_waits_for_the_next_morning(self):
        deadline = business_deadline(
            start=london(2024, 1, 8, 18, 0), minutes=30, hours=WEEKDAYS_9_TO_5
        )

        assert deadline == utc(2024, 1, 9, 9, 30)

    def test_start_on_a_weekend_waits_for_monday(self):
        deadline = business_deadline(
            start=london(2024, 1, 13, 12, 0), minutes=30, hours=WEEKDAYS_9_TO_5
        )

        assert deadline == utc(2024, 1, 15, 9, 30)

    def test_start_on_a_holiday_waits_for_the_next_working_day(self):
        hours = BusinessHours(
            timezone="Europe/London",
            weekly=WEEKDAYS_9_TO_5.weekly,
            holidays=frozenset({date(2024, 1, 1)}),
        )

        deadline = business_deadline(
            start=london(2024, 1, 1, 10, 0), minutes=30, hours=hours
        )

        assert deadline == utc(2024, 1, 2, 9, 30)

    def test_spans_several_days_and_a_weekend(self):
        # Wed 120 + Thu 480 + Fri 480 = 1080, leaving 360 for Monday.
        deadline = business_deadline(
            start=london(2024, 1, 10, 15, 0), minutes=1440, hours=WEEKDAYS_9_TO_5
        )

        assert deadline == utc(2024, 1, 15, 15, 0)

    def test_split_shift_skips_the_lunch_break(self):
        deadline = business_deadline(
            start=london(2024, 1, 8, 11, 0), minutes=120, hours=SPLIT_SHIFT
        )

        assert deadline == utc(2024, 1, 8, 14, 0)

    def test_split_shift_start_during_lunch_waits_for_the_afternoon(self):
        deadline = business_deadline(
            start=london(2024, 1, 8, 12, 30), minutes=30, hours=SPLIT_SHIFT
        )

        assert deadline == utc(2024, 1, 8, 13, 30)

    def test_a_working_day_is_eight_hours_on_the_spring_forward_day(self):
        # 09:00 BST is 08:00 UTC; 17:00 BST is 16:00 UTC.
        deadline = business_deadline(
            start=london(2024, 3, 31, 9, 0), minutes=480, hours=EVERY_DAY_9_TO_5
        )

        assert deadline == utc(2024, 3, 31, 16, 0)

    def test_carries_over_from_gmt_into_bst(self):
        # Saturday 16:00-17:00 GMT, then Sunday from 09:00 BST (08:00 UTC).
        deadline = business_deadline(
            start=london(2024, 3, 30, 16, 0), minutes=120, hours=EVERY_DAY_9_TO_5
        )

        assert deadline == utc(2024, 3, 31, 9, 0)

    def test_an_interval_across_the_spring_forward_gap_is_one_hour_long(self):
        # 01:00 GMT (01:00 UTC) to 03:00 BST (02:00 UTC).
        hours = sundays_only(time(1), time(3))
        start = london(2024, 3, 30, 12, 0)

        full = business_deadline(start=start, minutes=60, hours=hours)
        one_more = business_deadline(start=start, minutes=61, hours=hours)

        assert full == utc(2024, 3, 31, 2, 0)
        assert one_more == utc(2024, 4, 7, 0, 1)  # next Sunday, 01:01 BST

    def test_an_opening_skipped_by_the_clocks_opens_when_they_jump(self):
        # 01:30 never happens that night: the clocks go from 01:00 GMT to 02:00 BST.
        hours = sundays_only(time(1, 30), time(3))

        deadline = business_deadline(
            start=london(2024, 3, 30, 12, 0), minutes=0, hours=hours
        )

        assert deadline == utc(2024, 3, 31, 1, 0)

    def test_a_working_day_is_eight_hours_on_the_fall_back_day(self):
        deadline = business_deadline(
            start=london(2024, 10, 27, 9, 0), minutes=480, hours=EVERY_DAY_9_TO_5
        )

        assert deadline == utc(2024, 10, 27, 17, 0)

    def test_an_interval_across_the_fall_back_hour_is_four_hours_long(self):
        # 00:00 BST (23:00 UTC on Saturday) to 03:00 GMT (03:00 UTC).
        hours = sundays_only(time(0), time(3))
        start = london(2024, 10, 26, 12, 0)

        three_hours = business_deadline(start=start, minutes=180, hours=hours)
        four_hours = business_deadline(start=start, minutes=240, hours=hours)

        assert three_hours == utc(2024, 10, 27, 2, 0)
        assert four_hours == utc(2024, 10, 27, 3, 0)

    @pytest.mark.parametrize(
        ("start", "expected"),
        [
            (seoul(2024, 1, 8, 17, 0), utc(2024, 1, 9, 1, 0)),
            (seoul(2024, 7, 1, 17, 0), utc(2024, 7, 2, 1, 0)),
        ],
    )
    def test_seoul_keeps_the_same_offset_all_year(self, start, expected):
        hours = BusinessHours(
            timezone="Asia/Seoul",
            weekly=tuple((day, time(9), time(18)) for day in range(5)),
        )

        # Monday 17:00-18:00 KST, then Tuesday 09:00-10:00 KST (01:00 UTC).
        deadline = business_deadline(start=start, minutes=120, hours=hours)

        assert deadline == expected

    def test_an_end_of_day_closing_runs_on_into_a_midnight_opening(self):
        hours = BusinessHours(
            timezone="Europe/London",
            weekly=((4, time(18), END_OF_DAY), (5, time(0), time(2))),
        )

        across_midnight = business_deadline(
            start=london(2024, 1, 12, 23, 30), minutes=60, hours=hours
        )
        whole_shift = business_deadline(
            start=london(2024, 1, 12, 18, 0), minutes=480, hours=hours
        )

        assert across_midnight == utc(2024, 1, 13, 0, 30)
        assert whole_shift == utc(2024, 1, 13, 2, 0)

    @pytest.mark.parametrize(
        ("start", "expected"),
        [
            (london(2024, 1, 8, 10, 15), utc(2024, 1, 8, 10, 15)),
            (london(2024, 1, 8, 9, 0), utc(2024, 1, 8, 9, 0)),
            (london(2024, 1, 8, 7, 0), utc(2024, 1, 8, 9, 0)),
            (london(2024, 1, 8, 17, 0), utc(2024, 1, 9, 9, 0)),
            (london(2024, 1, 13, 10, 0), utc(2024, 1, 15, 9, 0)),
        ],
    )
    def test_zero_minutes_is_start_if_open_else_the_next_opening(self, start, expected):
        deadline = business_deadline(start=start, minutes=0, hours=WEEKDAYS_9_TO_5)

        assert deadline == expected

    def test_refuses_a_schedule_without_an_opening_for_a_year(self):
        every_day = frozenset(
            date(2024, 1, 1) + timedelta(days=offset) for offset in range(800)
        )
        hours = BusinessHours(
            timezone="Europe/London", weekly=WEEKDAYS_9_TO_5.weekly, holidays=every_day
        )

        with pytest.raises(ValueError, match="No opening hours"):
            business_deadline(start=london(2024, 1, 1, 9), minutes=1, hours=hours)

    def test_refuses_a_naive_start(self):
        with pytest.raises(ValueError, match="aware"):
            business_deadline(
                start=datetime(2024, 1, 8, 10), minutes=1, hours=WEEKDAYS_9_TO_5
            )

    def test_refuses_negative_minutes(self):
        with pytest.raises(ValueError, match="negative"):
            business_deadline(
                start=london(2024, 1, 8, 10), minutes=-1, hours=WEEKDAYS_9_TO_5
            )


# --- Business minutes between ----------------------------------------------------


class TestBusinessMinutesBetween:
    def test_always_open_counts_whole_wall_minutes(self):
        minutes = business_minutes_between(
            start=utc(2024, 1, 6, 10, 0),
            end=utc(2024, 1, 6, 11, 30, 59),
            hours=ALWAYS_OPEN,
        )

        assert minutes == 90

    @pytest.mark.parametrize(
        ("hours", "expected"),
        [(ALWAYS_OPEN, 120), (sundays_only(time(0), END_OF_DAY), 120)],
    )
    def test_counts_elapsed_time_across_a_clock_change(self, hours, expected):
        # 00:00 GMT to 03:00 BST is two hours.
        minutes = business_minutes_between(
            start=london(2024, 3, 31, 0), end=london(2024, 3, 31, 3), hours=hours
        )

        assert minutes == expected

    @pytest.mark.parametrize("hours", [ALWAYS_OPEN, WEEKDAYS_9_TO_5])
    def test_is_zero_when_end_is_not_after_start(self, hours):
        minutes = business_minutes_between(
            start=london(2024, 1, 8, 11), end=london(2024, 1, 8, 10), hours=hours
        )

        assert minutes == 0

    def test_skips_nights_and_the_weekend(self):
        # Friday 16:00-17:00 and Monday 09:00-10:00.
        minutes = business_minutes_between(
            start=london(2024, 1, 12, 16, 0),
            end=london(2024, 1, 15, 10, 0),
            hours=WEEKDAYS_9_TO_5,
        )

        assert minutes == 120

    def test_skips_the_lunch_break(self):
        minutes = business_minutes_between(
            start=london(2024, 1, 8, 8, 0),
            end=london(2024, 1, 8, 18, 0),
            hours=SPLIT_SHIFT,
        )

        assert minutes == 420

    def test_skips_a_holiday(self):
        hours = BusinessHours(
            timezone="Europe/London",
            weekly=WEEKDAYS_9_TO_5.weekly,
            holidays=frozenset({date(2024, 1, 9)}),
        )

        minutes = business_minutes_between(
            start=london(2024, 1, 8, 9), end=london(2024, 1, 10, 17), hours=hours
        )

        assert minutes == 960

    def test_counts_only_the_real_length_of_a_spring_forward_interval(self):
        minutes = business_minutes_between(
            start=london(2024, 3, 30),
            end=london(2024, 4, 1),
            hours=sundays_only(time(1), time(3)),
        )

        assert minutes == 60

    def test_is_zero_across_a_year_of_holidays(self):
        every_day = frozenset(
            date(2024, 1, 1) + timedelta(days=offset) for offset in range(800)
        )
        hours = BusinessHours(
            timezone="Europe/London", weekly=WEEKDAYS_9_TO_5.weekly, holidays=every_day
        )

        minutes = business_minutes_between(
            start=london(2024, 1, 1), end=london(2026, 1, 1), hours=hours
        )

        assert minutes == 0

    @given(
        start=st.datetimes(
            min_value=datetime(2020, 1, 1),
            max_value=datetime(2030, 12, 31),
            timezones=st.just(UTC),
        ),
        minutes=st.integers(min_value=0, max_value=20000),
    )
    @settings(max_examples=100, deadline=None)
    def test_is_the_inverse_of_business_deadline(self, start, minutes):
        deadline = business_deadline(
            start=start, minutes=minutes, hours=WEEKDAYS_9_TO_5
        )

        elapsed = business_minutes_between(
            start=start, end=deadline, hours=WEEKDAYS_9_TO_5
        )

        assert elapsed == minutes

    @given(
        start=st.one_of(
            st.datetimes(
                min_value=datetime(2024, 3, 29),
                max_value=datetime(2024, 4, 1),
                timezones=st.just(UTC),
            ),
            st.datetimes(
                min_value=datetime(2024, 10, 25),
                max_value=datetime(2024, 10, 28),
                timezones=st.just(UTC),
            ),
        ),
        minutes=st.integers(min_value=0, max_value=600),
    )
    @settings(max_examples=50, deadline=None)
    def test_is_the_inverse_across_clock_changes(self, start, minutes):
        # Weekend night hours straddle both London clock changes of 2024.
        hours = BusinessHours(
            timezone="Europe/London",
            weekly=(
                (5, time(22), END_OF_DAY),
                (6, time(0), time(1, 30)),
                (6, time(1, 45), time(3)),
            ),
        )

        deadline = business_deadline(start=start, minutes=minutes, hours=hours)
        elapsed = business_minutes_between(start=start, end=deadline, hours=hours)

        assert elapsed == minutes


# --- Policies --------------------------------------------------------------------

TARGETS = SlaTargets(
    first_response_minutes=60, next_response_minutes=120, resolution_minutes=480
)


def policy(
    policy_id: int,
    *,
    priority: str | None = None,
    channel: str | None = None,
    pod_id: int | None = None,
    position: int = 0,
    targets: SlaTargets = TARGETS,
    hours: BusinessHours | None = WEEKDAYS_9_TO_5,
) -> SlaPolicyFacts:
    return SlaPolicyFacts(
        policy_id=policy_id,
        priority=priority,
        channel=channel,
        pod_id=pod_id,
        targets=targets,
        hours=hours,
        position=position,
    )


def choose(policies: list[SlaPolicyFacts]) -> SlaPolicyFacts | None:
    return sla_policy_choose(
        policies=policies, priority="URGENT", channel="EMAIL", pod_id=7
    )


class TestSlaTargets:
    def test_refuses_negative_minutes(self):
        with pytest.raises(ValueError, match="negative"):
            SlaTargets(
                first_response_minutes=-5,
                next_response_minutes=None,
                resolution_minutes=None,
            )


class TestSlaPolicyChoose:
    def test_returns_none_when_nothing_matches(self):
        policies = [
            policy(1, priority="LOW"),
            policy(2, channel="CHAT"),
            policy(3, pod_id=8),
        ]

        assert choose(policies) is None
        assert choose([]) is None

    def test_a_policy_without_conditions_matches_any_ticket(self):
        catch_all = policy(1)

        assert choose([catch_all]) == catch_all

    def test_more_conditions_win(self):
        urgent = policy(1, priority="URGENT")
        urgent_email = policy(2, priority="URGENT", channel="EMAIL", position=9)

        assert choose([urgent, urgent_email]) == urgent_email

    @pytest.mark.parametrize(
        ("stronger", "weaker"),
        [
            (policy(1, pod_id=7, position=5), policy(2, channel="EMAIL")),
            (policy(1, channel="EMAIL", position=5), policy(2, priority="URGENT")),
            (
                policy(1, pod_id=7, priority="URGENT", position=5),
                policy(2, channel="EMAIL", priority="URGENT"),
            ),
        ],
    )
    def test_pod_counts_more_than_channel_and_channel_more_than_priority(
        self, stronger, weaker
    ):
        assert choose([weaker, stronger]) == stronger

    def test_the_count_of_conditions_comes_before_which_they_are(self):
        pod = policy(1, pod_id=7)
        urgent_email = policy(2, priority="URGENT", channel="EMAIL")

        assert choose([pod, urgent_email]) == urgent_email

    def test_ties_go_to_the_lower_position_then_the_lower_id(self):
        late = policy(1, channel="EMAIL", position=2)
        early_high_id = policy(3, channel="EMAIL", position=1)
        early_low_id = policy(2, channel="EMAIL", position=1)
        policies = [late, early_high_id, early_low_id]

        assert choose(policies) == early_low_id
        assert choose(list(reversed(policies))) == early_low_id


# --- Due times -------------------------------------------------------------------

POLICY = policy(1)
NO_DUE = SlaDue(first_response_due=None, next_response_due=None, resolution_due=None)


class TestSlaDueOnOpen:
    def test_starts_first_response_and_resolution_in_business_hours(self):
        # Monday 16:30: 30 minutes left today, the rest from Tuesday 09:00.
        due = sla_due_on_open(policy=POLICY, opened_at=london(2024, 1, 8, 16, 30))

        assert due == SlaDue(
            first_response_due=utc(2024, 1, 9, 9, 30),
            next_response_due=None,
            resolution_due=utc(2024, 1, 9, 16, 30),
        )

    def test_no_policy_means_no_clocks(self):
        due = sla_due_on_open(policy=None, opened_at=london(2024, 1, 8, 10))

        assert due == NO_DUE

    def test_a_missing_target_leaves_its_clock_stopped(self):
        resolution_only = policy(
            1,
            targets=SlaTargets(
                first_response_minutes=None,
                next_response_minutes=30,
                resolution_minutes=60,
            ),
            hours=ALWAYS_OPEN,
        )

        due = sla_due_on_open(policy=resolution_only, opened_at=utc(2024, 1, 6, 10))

        assert due == SlaDue(
            first_response_due=None,
            next_response_due=None,
            resolution_due=utc(2024, 1, 6, 11),
        )


class TestSlaDueOnCustomerMessage:
    def test_starts_the_next_response_clock_when_no_reply_is_owed(self):
        due = SlaDue(
            first_response_due=None,
            next_response_due=None,
            resolution_due=utc(2024, 1, 9, 16, 30),
        )

        after = sla_due_on_customer_message(
            policy=POLICY,
            due=due,
            received_at=london(2024, 1, 8, 16, 0),
            awaiting_reply=False,
        )

        assert after == SlaDue(
            first_response_due=None,
            next_response_due=utc(2024, 1, 9, 10, 0),
            resolution_due=utc(2024, 1, 9, 16, 30),
        )

    def test_keeps_the_earlier_due_when_a_reply_is_already_owed(self):
        due = SlaDue(
            first_response_due=None,
            next_response_due=utc(2024, 1, 8, 12),
            resolution_due=utc(2024, 1, 9, 16, 30),
        )

        after = sla_due_on_customer_message(
            policy=POLICY,
            due=due,
            received_at=london(2024, 1, 8, 11),
            awaiting_reply=True,
        )

        assert after == due

    def test_no_next_response_target_leaves_the_clock_stopped(self):
        no_next = policy(
            1,
            targets=SlaTargets(
                first_response_minutes=60,
                next_response_minutes=None,
                resolution_minutes=None,
            ),
        )

        after = sla_due_on_customer_message(
            policy=no_next,
            due=NO_DUE,
            received_at=london(2024, 1, 8, 11),
            awaiting_reply=False,
        )

        assert after == NO_DUE


class TestSlaDueOnAgentReply:
    def test_stops_the_response_clocks_and_keeps_resolution(self):
        due = SlaDue(
            first_response_due=utc(2024, 1, 8, 10),
            next_response_due=utc(2024, 1, 8, 11),
            resolution_due=utc(2024, 1, 9, 16),
        )

        after = sla_due_on_agent_reply(due=due)

        assert after == SlaDue(
            first_response_due=None,
            next_response_due=None,
            resolution_due=utc(2024, 1, 9, 16),
        )


class TestSlaResolutionPaused:
    DUE = SlaDue(
        first_response_due=None,
        next_response_due=None,
        resolution_due=utc(2024, 1, 12, 16, 0),
    )

    def test_pushes_resolution_by_the_business_minutes_of_the_pause(self):
        # Paused Friday 15:00 to Monday 10:00: 120 + 60 business minutes.
        after = sla_resolution_paused(
            policy=POLICY,
            due=self.DUE,
            paused_from=london(2024, 1, 12, 15, 0),
            resumed_at=london(2024, 1, 15, 10, 0),
        )

        # Friday 16:00 + 180: 60 on Friday, 120 from Monday 09:00.
        assert after.resolution_due == utc(2024, 1, 15, 11, 0)

    def test_a_pause_outside_business_hours_changes_nothing(self):
        after = sla_resolution_paused(
            policy=POLICY,
            due=self.DUE,
            paused_from=london(2024, 1, 12, 18, 0),
            resumed_at=london(2024, 1, 14, 18, 0),
        )

        assert after == self.DUE

    def test_a_pause_does_not_move_a_due_time_sitting_on_closing(self):
        due = SlaDue(None, None, resolution_due=utc(2024, 1, 12, 17, 0))

        after = sla_resolution_paused(
            policy=POLICY,
            due=due,
            paused_from=london(2024, 1, 12, 15, 0),
            resumed_at=london(2024, 1, 12, 15, 0, 30),
        )

        assert after == due

    def test_a_pause_after_the_breach_does_not_undo_it(self):
        after = sla_resolution_paused(
            policy=POLICY,
            due=self.DUE,
            paused_from=london(2024, 1, 12, 16, 30),
            resumed_at=london(2024, 1, 15, 10, 0),
        )

        assert after == self.DUE

    def test_without_a_policy_or_resolution_clock_nothing_moves(self):
        paused = {
            "paused_from": london(2024, 1, 12, 10),
            "resumed_at": london(2024, 1, 12, 11),
        }

        assert sla_resolution_paused(policy=None, due=self.DUE, **paused) == self.DUE
        assert sla_resolution_paused(policy=POLICY, due=NO_DUE, **paused) == NO_DUE


class TestSlaBreaches:
    DUE = SlaDue(
        first_response_due=utc(2024, 1, 8, 10),
        next_response_due=None,
        resolution_due=utc(2024, 1, 8, 9),
    )

    def test_nothing_is_breached_before_the_earliest_due(self):
        assert sla_breaches(due=self.DUE, now=utc(2024, 1, 8, 8, 59)) == ()

    def test_a_due_time_equal_to_now_is_breached(self):
        breaches = sla_breaches(due=self.DUE, now=utc(2024, 1, 8, 9))

        assert breaches == (SlaMetric.RESOLUTION,)

    def test_lists_breaches_in_metric_order(self):
        breaches = sla_breaches(due=self.DUE, now=utc(2024, 1, 8, 12))

        assert breaches == (SlaMetric.FIRST_RESPONSE, SlaMetric.RESOLUTION)

    def test_stopped_clocks_never_breach(self):
        assert sla_breaches(due=NO_DUE, now=utc(2099, 1, 1)) == ()


class TestSlaNextDue:
    def test_returns_the_earliest_running_due_time(self):
        due = SlaDue(
            first_response_due=None,
            next_response_due=utc(2024, 1, 8, 12),
            resolution_due=utc(2024, 1, 8, 11),
        )

        assert sla_next_due(due=due) == utc(2024, 1, 8, 11)

    def test_returns_none_when_no_clock_runs(self):
        assert sla_next_due(due=NO_DUE) is None


class TestSlaDueLifecycle:
    def test_open_reply_message_pause_and_breach(self):
        # Opened Monday 16:30: first response Tue 09:30, resolution Tue 16:30.
        due = sla_due_on_open(policy=POLICY, opened_at=london(2024, 1, 8, 16, 30))
        due = sla_due_on_agent_reply(due=due)
        assert due == SlaDue(None, None, resolution_due=utc(2024, 1, 9, 16, 30))

        due = sla_due_on_customer_message(
            policy=POLICY,
            due=due,
            received_at=london(2024, 1, 9, 10),
            awaiting_reply=False,
        )
        due = sla_due_on_customer_message(
            policy=POLICY,
            due=due,
            received_at=london(2024, 1, 9, 11),
            awaiting_reply=True,
        )
        assert due.next_response_due == utc(2024, 1, 9, 12)
        assert sla_next_due(due=due) == utc(2024, 1, 9, 12)

        due = sla_due_on_agent_reply(due=due)
        # Pending Tue 13:00 to Wed 10:00 is 240 + 60 business minutes; Tue 16:30
        # plus 300 is 30 on Tuesday and 270 from Wednesday 09:00.
        due = sla_resolution_paused(
            policy=POLICY,
            due=due,
            paused_from=london(2024, 1, 9, 13),
            resumed_at=london(2024, 1, 10, 10),
        )

        assert due == SlaDue(None, None, resolution_due=utc(2024, 1, 10, 13, 30))
        assert sla_breaches(due=due, now=utc(2024, 1, 10, 13, 29)) == ()
        assert sla_breaches(due=due, now=utc(2024, 1, 10, 13, 30)) == (
            SlaMetric.RESOLUTION,
        )
