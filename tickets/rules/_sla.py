"""SLA maths: business hours, due times and breaches.

Pure Python: the service layer passes in the stored policies and every instant, so
each rule is checked without a database or a clock. Every datetime taken here must
be aware; every datetime returned is in UTC.
"""

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from itertools import pairwise
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

END_OF_DAY = time.max  # a closing time of 23:59:59.999999 means "until midnight"
_MIDNIGHT = time.min
_ONE_DAY = timedelta(days=1)
_ONE_MINUTE = timedelta(minutes=1)
_ONE_MICROSECOND = timedelta(microseconds=1)
# A schedule with no opening for a year (every day a holiday, no weekly hours)
# would otherwise loop for ever looking for one.
_MAX_CLOSED_DAYS = 366


# --- Business hours --------------------------------------------------------------


@dataclass(frozen=True)
class BusinessHours:
    """Opening hours of a support desk, in its own local time."""

    timezone: str
    weekly: tuple[tuple[int, time, time], ...]
    holidays: frozenset[date] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        _timezone_load(name=self.timezone)
        for interval in self.weekly:
            _interval_validate(interval=interval)
        weekly = tuple(sorted(self.weekly))
        _intervals_check_overlap(weekly=weekly)
        # Sorted and frozen so that equal schedules compare and hash equal.
        object.__setattr__(self, "weekly", weekly)
        object.__setattr__(self, "holidays", frozenset(self.holidays))


ALWAYS_OPEN: BusinessHours | None = None


def _timezone_load(*, name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        raise ValueError(f"Unknown time zone: {name!r}.") from None


def _interval_validate(*, interval: tuple[int, time, time]) -> None:
    weekday, opens, closes = interval
    if not isinstance(weekday, int) or not 0 <= weekday <= 6:
        raise ValueError(f"Weekday must be 0 (Monday) to 6 (Sunday), not {weekday!r}.")
    if not (isinstance(opens, time) and isinstance(closes, time)):
        raise ValueError("Opening and closing times must be times of day.")
    if opens.tzinfo is not None or closes.tzinfo is not None:
        raise ValueError("Opening and closing times are local: give them no tzinfo.")
    if opens >= closes:
        raise ValueError(f"Opening time {opens} must be before closing time {closes}.")


def _intervals_check_overlap(*, weekly: tuple[tuple[int, time, time], ...]) -> None:
    # weekly is sorted, so an overlap can only be between neighbours.
    for (day, _, closes), (next_day, next_opens, _) in pairwise(weekly):
        if day == next_day and next_opens < closes:
            raise ValueError(f"Opening hours overlap on weekday {day}.")


def _local_instant(*, zone: ZoneInfo, day: date, wall: time) -> datetime:
    """Return the first UTC instant at which the local clock reads `wall` or later.

    On a fall-back day a repeated wall time resolves to its first occurrence; on a
    spring-forward day a skipped wall time resolves to the moment of the jump.
    """
    local = datetime.combine(day, wall, tzinfo=zone)
    instant = local.astimezone(UTC)
    if instant.astimezone(zone).replace(tzinfo=None) == local.replace(tzinfo=None):
        return instant
    # fold=1 reads a skipped time with the offset after the jump, which lands
    # before the jump; fold=0 (instant) lands after it.
    return _offset_change_find(
        zone=zone, before=local.replace(fold=1).astimezone(UTC), after=instant
    )


def _offset_change_find(
    *, zone: ZoneInfo, before: datetime, after: datetime
) -> datetime:
    """Return the first instant in (before, after] with the offset `after` has."""
    offset_before = before.astimezone(zone).utcoffset()
    while after - before > _ONE_MICROSECOND:
        middle = before + (after - before) // 2
        if middle.astimezone(zone).utcoffset() == offset_before:
            before = middle
        else:
            after = middle
    return after


def _day_open_intervals(
    *, hours: BusinessHours, zone: ZoneInfo, day: date
) -> list[tuple[datetime, datetime]]:
    """Return the UTC intervals during which the desk is open on a local date."""
    if day in hours.holidays:
        return []
    intervals = []
    for weekday, opens, closes in hours.weekly:
        if weekday != day.weekday():
            continue
        start = _local_instant(zone=zone, day=day, wall=opens)
        if closes == END_OF_DAY:
            end = _local_instant(zone=zone, day=day + _ONE_DAY, wall=_MIDNIGHT)
        else:
            end = _local_instant(zone=zone, day=day, wall=closes)
        # Hours swallowed whole by a spring-forward jump are not open at all.
        if end > start:
            intervals.append((start, end))
    return intervals


def _open_intervals_from(
    *, hours: BusinessHours, start: datetime
) -> Iterator[tuple[datetime, datetime]]:
    """Yield the open UTC intervals, in order, from the local day before `start`."""
    zone = _timezone_load(name=hours.timezone)
    # A day's hours can only reach into the next local day through END_OF_DAY, so
    # beginning one day early never misses an interval that contains start.
    day = start.astimezone(zone).date() - _ONE_DAY
    last_open_day = day
    while True:
        intervals = _day_open_intervals(hours=hours, zone=zone, day=day)
        if intervals:
            last_open_day = day
        elif (day - last_open_day).days > _MAX_CLOSED_DAYS:
            raise ValueError(f"No opening hours within {_MAX_CLOSED_DAYS} days.")
        yield from intervals
        day += _ONE_DAY


def _aware_check(*, value: datetime, name: str) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be an aware datetime.")


def business_deadline(
    *, start: datetime, minutes: int, hours: BusinessHours | None
) -> datetime:
    """Return the UTC instant when `minutes` of business time have passed since start.

    The clock starts at the next opening when start is outside business hours, so
    zero minutes gives start itself when open, else the next opening.

    Raises ValueError when start is naive, minutes is negative, or the schedule has
    no opening within a year.
    """
    _aware_check(value=start, name="start")
    if minutes < 0:
        raise ValueError("minutes must not be negative.")
    # Arithmetic on a ZoneInfo datetime is wall-clock arithmetic; UTC is elapsed time.
    start = start.astimezone(UTC)
    remaining = timedelta(minutes=minutes)
    if hours is None:
        return start + remaining
    for opens, closes in _open_intervals_from(hours=hours, start=start):
        # The closing instant itself is closed: a deadline can end there, not start.
        if closes <= start:
            continue
        begin = max(opens, start)
        if remaining <= closes - begin:
            return begin + remaining
        remaining -= closes - begin
    raise AssertionError("unreachable: the interval generator never ends")


def business_minutes_between(
    *, start: datetime, end: datetime, hours: BusinessHours | None
) -> int:
    """Return the whole business minutes between two instants (0 if end <= start).

    Raises ValueError when start or end is naive.
    """
    _aware_check(value=start, name="start")
    _aware_check(value=end, name="end")
    # Subtracting two datetimes of one ZoneInfo ignores a clock change between them.
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    if end <= start:
        return 0
    if hours is None:
        return (end - start) // _ONE_MINUTE
    elapsed = timedelta()
    try:
        for opens, closes in _open_intervals_from(hours=hours, start=start):
            if opens >= end:
                break
            elapsed += max(timedelta(), min(closes, end) - max(opens, start))
    except ValueError:
        # A year with no opening: nothing more can elapse, whatever end is.
        pass
    return elapsed // _ONE_MINUTE


# --- Policies ----------------------------------------------------------------------


@dataclass(frozen=True)
class SlaTargets:
    """Business minutes allowed for each metric; None means no target."""

    first_response_minutes: int | None
    next_response_minutes: int | None
    resolution_minutes: int | None

    def __post_init__(self) -> None:
        for minutes in (
            self.first_response_minutes,
            self.next_response_minutes,
            self.resolution_minutes,
        ):
            if minutes is not None and minutes < 0:
                raise ValueError("SLA target minutes must not be negative.")


@dataclass(frozen=True)
class SlaPolicyFacts:
    """What the service layer knows of one stored SLA policy."""

    policy_id: int
    priority: str | None
    channel: str | None
    pod_id: int | None
    targets: SlaTargets
    hours: BusinessHours | None
    position: int


def _policy_matches(
    *, policy: SlaPolicyFacts, priority: str, channel: str, pod_id: int
) -> bool:
    return (
        policy.priority in (None, priority)
        and policy.channel in (None, channel)
        and policy.pod_id in (None, pod_id)
    )


def _policy_rank(policy: SlaPolicyFacts) -> tuple[int, ...]:
    has_pod = policy.pod_id is not None
    has_channel = policy.channel is not None
    has_priority = policy.priority is not None
    # Lower sorts first: most fields, then pod over channel over priority, then
    # the admin's ordering, then the id so that the choice never depends on input
    # order.
    return (
        -(has_pod + has_channel + has_priority),
        -has_pod,
        -has_channel,
        -has_priority,
        policy.position,
        policy.policy_id,
    )


def sla_policy_choose(
    *, policies: Sequence[SlaPolicyFacts], priority: str, channel: str, pod_id: int
) -> SlaPolicyFacts | None:
    """Choose the most specific policy matching a ticket, or None when none does."""
    matching = [
        policy
        for policy in policies
        if _policy_matches(
            policy=policy, priority=priority, channel=channel, pod_id=pod_id
        )
    ]
    return min(matching, key=_policy_rank, default=None)


# --- Due times ---------------------------------------------------------------------


@dataclass(frozen=True)
class SlaDue:
    """When each SLA metric of a ticket falls due; None means no clock running."""

    first_response_due: datetime | None
    next_response_due: datetime | None
    resolution_due: datetime | None


class SlaMetric(StrEnum):
    FIRST_RESPONSE = "FIRST_RESPONSE"
    NEXT_RESPONSE = "NEXT_RESPONSE"
    RESOLUTION = "RESOLUTION"


def _policy_deadline(
    *,
    policy: SlaPolicyFacts | None,
    start: datetime,
    minutes_of: Callable[[SlaTargets], int | None],
) -> datetime | None:
    if policy is None or (minutes := minutes_of(policy.targets)) is None:
        return None
    return business_deadline(start=start, minutes=minutes, hours=policy.hours)


def sla_due_on_open(*, policy: SlaPolicyFacts | None, opened_at: datetime) -> SlaDue:
    """Start the first-response and resolution clocks of a newly opened ticket."""
    return SlaDue(
        first_response_due=_policy_deadline(
            policy=policy,
            start=opened_at,
            minutes_of=lambda targets: targets.first_response_minutes,
        ),
        next_response_due=None,
        resolution_due=_policy_deadline(
            policy=policy,
            start=opened_at,
            minutes_of=lambda targets: targets.resolution_minutes,
        ),
    )


def sla_due_on_customer_message(
    *,
    policy: SlaPolicyFacts | None,
    due: SlaDue,
    received_at: datetime,
    awaiting_reply: bool,
) -> SlaDue:
    """Start the next-response clock unless an agent reply is already owed."""
    # A follow-up to an unanswered message must not push the owed reply later.
    if awaiting_reply:
        return due
    return replace(
        due,
        next_response_due=_policy_deadline(
            policy=policy,
            start=received_at,
            minutes_of=lambda targets: targets.next_response_minutes,
        ),
    )


def sla_due_on_agent_reply(*, due: SlaDue) -> SlaDue:
    """Stop the response clocks: the agent's reply has met them."""
    return replace(due, first_response_due=None, next_response_due=None)


def sla_resolution_paused(
    *,
    policy: SlaPolicyFacts | None,
    due: SlaDue,
    paused_from: datetime,
    resumed_at: datetime,
) -> SlaDue:
    """Push the resolution due time by the business minutes spent waiting (PENDING).

    A resolution already overdue when the pause began stays as it was: waiting on
    the customer afterwards does not undo a breach.
    """
    if policy is None or due.resolution_due is None:
        return due
    if due.resolution_due <= paused_from:
        return due
    paused = business_minutes_between(
        start=paused_from, end=resumed_at, hours=policy.hours
    )
    # Zero minutes would move a due time sitting on a closing instant to the next
    # opening, which is not a pause.
    if paused == 0:
        return due
    return replace(
        due,
        resolution_due=business_deadline(
            start=due.resolution_due, minutes=paused, hours=policy.hours
        ),
    )


def _due_by_metric(due: SlaDue) -> tuple[tuple[SlaMetric, datetime | None], ...]:
    return (
        (SlaMetric.FIRST_RESPONSE, due.first_response_due),
        (SlaMetric.NEXT_RESPONSE, due.next_response_due),
        (SlaMetric.RESOLUTION, due.resolution_due),
    )


def sla_breaches(*, due: SlaDue, now: datetime) -> tuple[SlaMetric, ...]:
    """Return the metrics due at or before now, in SlaMetric order."""
    return tuple(
        metric
        for metric, due_at in _due_by_metric(due)
        if due_at is not None and due_at <= now
    )


def sla_next_due(*, due: SlaDue) -> datetime | None:
    """Return the earliest running due time, the one a queue sorts by."""
    return min(
        (due_at for _, due_at in _due_by_metric(due) if due_at is not None),
        default=None,
    )
