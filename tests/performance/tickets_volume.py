"""Add years of ticket history and its conversations to the pods volume, fast.

On top of tests/performance/pods_volume.py (pods, agents, customers, open
tickets), this adds `tickets` tickets spread from the first customer's arrival
to `now`, in realistic proportions: mostly solved and closed history, about
OPEN_SHARE of all tickets still open (the recent ones, unassigned in the pod's
queue or held by an agent within their capacity), every channel, priorities,
contact reasons and tags, SLA policies with their due times, and 3-4 messages
per ticket on average (customer messages, agents' replies in the customer's
channel, internal notes, email quoting earlier mail, call records of phone
calls). The open tickets pods_volume made get their conversations and due times
too.

Rows are written with COPY, one chunk of CHUNK_TICKETS tickets per transaction:
memory holds one chunk, whatever the volume. Everything is deterministic from the
seed and the chunk number, and the progress is recorded in a table of its own
(VOLUME_TABLE), so an interrupted run resumes at the next chunk and a finished
one is not redone. While loading, the tables' plain indexes are dropped (their
definitions kept in that table) and built again at the end, then the tables are
analysed. Foreign keys are not checked row by row when the database user may
skip triggers (a superuser): the rows are made from ids read from the database,
and the end checks the main references in bulk instead.
"""

import json
import math
import random
import sys
import time
from array import array
from bisect import bisect_right
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import accumulate

from django.db import connection, transaction

from pods.models import Pod
from tests.performance import pods_volume
from tickets import rules, selectors
from tickets.models import ContactReason, SlaPolicy, Tag

VOLUME_TABLE = "bench_tickets_volume"
CHUNK_TICKETS = 20_000
OPEN_SHARE = 0.03
# A ticket this recent is open with this probability; older ones less and less
# (exponentially, with the decay chosen so that OPEN_SHARE of all tickets are open).
RECENT_OPEN_RATE = 0.95
ASSIGNED_OPEN_RATE = 0.5
CLOSE_AFTER = timedelta(days=4)  # solved tickets close after this (auto-close)
REOPEN_RATE = 0.03
REASON_RATE = 0.85
TAG_RATE = 0.25
NOTE_RATE = 0.12
KOREAN_RATE = 0.1
MISSED_CALL_RATE = 0.1
RECORDED_CALL_RATE = 0.8
TABLES = ("tickets_ticket", "tickets_message", "tickets_callrecord")
TAG_TABLE = "tickets_ticket_tags"
# Index builds at once after the load: one core each.
INDEX_BUILDERS = 2

CHANNEL_WEIGHTS = {
    "EMAIL": 40,
    "CHAT": 18,
    "PHONE": 14,
    "SMS": 10,
    "SOCIAL": 8,
    "WEB": 7,
    "API": 3,
}
PRIORITY_WEIGHTS = {"NORMAL": 68, "LOW": 12, "HIGH": 15, "URGENT": 5}
# Messages in a ticket (notes included): mean about 3.7.
MESSAGE_COUNT_WEIGHTS = {
    1: 8,
    2: 30,
    3: 24,
    4: 15,
    5: 8,
    6: 5,
    7: 3,
    8: 2,
    9: 1.5,
    10: 1,
    12: 1,
    15: 0.8,
    20: 0.5,
    30: 0.2,
}
# Conversational channels are answered in kind, the rest by email (as
# tickets.selectors.ticket_reply_channel decides).
REPLIED_IN_KIND = {"CHAT", "SMS", "SOCIAL"}
# Median minutes to the first reply and to the solve, by channel.
FIRST_REPLY_MINUTES = {"CHAT": 2, "PHONE": 0, "SMS": 40, "SOCIAL": 50}
SOLVE_MINUTES = {"CHAT": 20, "PHONE": 30}
DEFAULT_FIRST_REPLY_MINUTES = 150
DEFAULT_SOLVE_MINUTES = 600

# Around the clock, so due times are plain additions (the rules agree).
SLA_POLICIES = (
    # name, position, priority, channel, first, next, resolution (minutes)
    ("Volume standard", 100, "", "", 240, 480, 2880),
    ("Volume urgent", 10, "URGENT", "", 30, 60, 480),
    ("Volume high", 20, "HIGH", "", 120, 240, 1440),
    ("Volume chat", 50, "", "CHAT", 5, 10, 240),
    ("Volume SMS", 50, "", "SMS", 60, 120, 1440),
    ("Volume social", 50, "", "SOCIAL", 60, 120, 1440),
)

# Why customers write: a subject, what they say, what the agent answers.
REASONS = {
    "Refund": (
        "Refund for order",
        "I returned my order last week and have not had the refund yet.",
        "I have checked your return and the refund is on its way: it should show"
        " on your statement within three working days.",
    ),
    "Delivery delay": (
        "Where is my order",
        "My parcel was due on Monday and the tracking has not moved since.",
        "I have chased the courier for you: the parcel is at the local depot and"
        " goes out for delivery tomorrow morning.",
    ),
    "Change of address": (
        "New address",
        "We are moving next month. Could you change the delivery address?",
        "Done: every order from today goes to the new address. Good luck with"
        " the move!",
    ),
    "Billing question": (
        "Question about my bill",
        "This month's bill is higher than usual and I do not see why.",
        "The difference is the annual service charge, billed once a year. I have"
        " attached a breakdown so you can see each line.",
    ),
    "Cancellation": (
        "Cancel my subscription",
        "Please cancel my subscription at the end of this month.",
        "I have cancelled it from the end of the month, and you keep everything"
        " until then. If you change your mind, just reply here.",
    ),
    "Damaged item": (
        "Item arrived damaged",
        "The item arrived with a cracked cover. Photos attached.",
        "Sorry about that! A replacement is on its way today, and there is no"
        " need to send the damaged one back.",
    ),
    "Sign-in problem": (
        "Cannot sign in",
        "I cannot sign in since I changed my phone; the code never arrives.",
        "I have reset the two-step sign-in on your account: the next sign-in asks"
        " you to set up the new phone.",
    ),
    "Moving home": (
        "Moving home",
        "We move house on the 14th. What do I need to do to keep the service?",
        "Nothing on your side: I have booked the move for the 14th and you will"
        " get a confirmation by email.",
    ),
    "Payment failed": (
        "Payment failed",
        "My card payment failed twice although the card works elsewhere.",
        "The bank declined it as a security check. I have sent a new payment link"
        " that you can use straight away.",
    ),
    "Product question": (
        "Question before buying",
        "Does the larger model fit a standard shelf, and is it quiet?",
        "Yes to both: it is 38 cm deep and runs at 32 dB, about a whisper.",
    ),
    "Returns": (
        "Return label",
        "How do I return an item I bought online?",
        "I have emailed you a prepaid label; any post office takes the parcel.",
    ),
    "Warranty claim": (
        "Warranty claim",
        "My machine stopped working after eight months.",
        "It is under warranty: an engineer visits on Thursday between 8 and 12.",
    ),
}
KOREAN_INBOUND = (
    "안녕하세요. 주문한 상품이 아직 도착하지 않았습니다. 확인 부탁드립니다.",
    "환불 요청드립니다. 지난주에 반품했는데 아직 처리가 안 되었어요.",
    "로그인이 안 됩니다. 비밀번호를 바꿨는데도 계속 오류가 나요.",
)
KOREAN_OUTBOUND = (
    "안녕하세요, 문의 주셔서 감사합니다. 확인해 보니 내일 오전에 배송될 예정입니다.",
    "불편을 드려 죄송합니다. 환불이 오늘 처리되었고 3일 안에 입금됩니다.",
)
FOLLOW_UPS = (
    "Any news on this? I am still waiting.",
    "Thanks, that helps. One more thing: can you confirm it by email?",
    "Sorry, I forgot to say: the order was a gift, so please do not include the"
    " receipt.",
    "I tried that and it still does not work.",
    "Great, thank you so much!",
)
NOTES = (
    "Checked the order history: second contact about this in a month.",
    "@lead can we waive the fee here? Long-standing customer.",
    "Courier case opened, reference attached to the order.",
    "Called the customer back, no answer; left a voicemail.",
)
CLOSINGS = (
    "Have a lovely day,",
    "Anything else, just reply to this message.",
    "Take care,",
    "Thanks for your patience,",
)
TAGS = (
    "vip",
    "follow-up",
    "escalated",
    "billing",
    "bug",
    "feedback",
    "korean",
    "callback",
    "refund-approved",
    "fraud-check",
)

TICKET_COLUMNS = (
    "id",
    "status",
    "priority",
    "channel",
    "subject",
    "created_at",
    "updated_at",
    "assigned_at",
    "agent_active_at",
    "first_response_at",
    "last_customer_message_at",
    "last_agent_reply_at",
    "pending_since",
    "solved_at",
    "closed_at",
    "reopened_count",
    "sla_policy_id",
    "first_response_due",
    "next_response_due",
    "resolution_due",
    "sla_check_at",
    "sla_due_at",
    "assignee_id",
    "customer_id",
    "pod_id",
    "contact_reason_id",
)
# What the open tickets pods_volume made get: their conversation's times and SLA.
TICKET_UPDATE_COLUMNS = (
    "id",
    "updated_at",
    "agent_active_at",
    "first_response_at",
    "last_customer_message_at",
    "last_agent_reply_at",
    "pending_since",
    "sla_policy_id",
    "first_response_due",
    "next_response_due",
    "resolution_due",
    "sla_check_at",
    "sla_due_at",
    "contact_reason_id",
)
MESSAGE_COLUMNS = (
    "id",
    "ticket_id",
    "direction",
    "channel",
    "author_agent_id",
    "author_customer_id",
    "author_name",
    "author_address",
    "text",
    "visible_text",
    "html",
    "external_id",
    "dedupe_key",
    "external_id_conflict",
    "is_automatic",
    "headers",
    "created_at",
    "delivery",
    "delivery_attempts",
    "delivery_error",
    "sent_at",
)
CALL_COLUMNS = (
    "ticket_id",
    "message_id",
    "provider",
    "call_id",
    "state",
    "from_number",
    "to_number",
    "agent_id",
    "started_at",
    "answered_at",
    "ended_at",
    "duration_seconds",
    "recording_url",
)
TAG_COLUMNS = ("ticket_id", "tag_id")
NULL = "\\N"


class VolumeMismatch(RuntimeError):
    """The database holds another ticket volume, or no pods volume to add to."""


# --- Timestamps -----------------------------------------------------------------------


class Stamps:
    """Epoch seconds to COPY's timestamptz text, whole seconds, UTC: the date part
    is made once per day (isoformat per row costs more than the rest of a row)."""

    def __init__(self) -> None:
        self._days: dict[int, str] = {}

    def __call__(self, moment: float | None) -> str:
        if moment is None:
            return NULL
        seconds = int(moment)
        day, second = divmod(seconds, 86_400)
        prefix = self._days.get(day)
        if prefix is None:
            date = datetime.fromtimestamp(day * 86_400, UTC)
            prefix = self._days[day] = date.strftime("%Y-%m-%d ")
        hour, rest = divmod(second, 3600)
        minute, sec = divmod(rest, 60)
        return f"{prefix}{hour:02d}:{minute:02d}:{sec:02d}+00"


# --- What the database already holds --------------------------------------------------


@dataclass
class Population:
    """The generated customers, oldest first, as flat arrays (about 40 bytes a
    customer), and the base pods' agents."""

    customer_ids: array = field(default_factory=lambda: array("q"))
    pod_ids: array = field(default_factory=lambda: array("q"))
    primary_ids: array = field(default_factory=lambda: array("q"))  # 0: none
    created: array = field(default_factory=lambda: array("d"))
    has_phone: bytearray = field(default_factory=bytearray)
    agents: dict[int, tuple[int, ...]] = field(default_factory=dict)  # by pod
    agent_names: dict[int, str] = field(default_factory=dict)
    pod_names: dict[int, str] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.customer_ids)


class _LineSink:
    """A writable file for COPY ... TO STDOUT that hands complete lines on."""

    def __init__(self, take: Callable[[list[str]], None]) -> None:
        self._take = take
        self._rest = ""

    def write(self, data: str | bytes) -> int:
        text = data.decode() if isinstance(data, bytes) else data
        lines = (self._rest + text).split("\n")
        self._rest = lines.pop()
        for line in lines:
            self._take(line.split("\t"))
        return len(data)


def population_read() -> Population:
    """Read the base pods' customers (streamed with COPY TO, so the rows never sit
    in memory as tuples) and agents."""
    people = Population()
    base = list(
        Pod.objects.filter(name__startswith=pods_volume.BASE_POD_PREFIX).values_list(
            "id", "name"
        )
    )
    if not base:
        raise VolumeMismatch("no pods volume: run pods_volume.volume_generate first")
    people.pod_names = dict(base)
    pod_ids = [pod_id for pod_id, _ in base]

    def take(row: list[str]) -> None:
        people.customer_ids.append(int(row[0]))
        people.pod_ids.append(int(row[1]))
        people.primary_ids.append(0 if row[2] == NULL else int(row[2]))
        people.created.append(float(row[3]))

    phones: set[int] = set()
    with connection.cursor() as cursor:
        customers = cursor.mogrify(
            "COPY (SELECT id, pod_id, primary_agent_id,"
            " extract(epoch FROM created_at) FROM pods_customer"
            " WHERE pod_id = ANY(%s) ORDER BY created_at, id) TO STDOUT",
            [pod_ids],
        )
        cursor.copy_expert(customers.decode(), _LineSink(take))
        with_phones = cursor.mogrify(
            "COPY (SELECT i.customer_id FROM pods_customeridentity i"
            " JOIN pods_customer c ON c.id = i.customer_id"
            " WHERE i.kind = 'PHONE' AND c.pod_id = ANY(%s)) TO STDOUT",
            [pod_ids],
        )
        cursor.copy_expert(
            with_phones.decode(), _LineSink(lambda row: phones.add(int(row[0])))
        )
        cursor.execute(
            "SELECT a.id, a.pod_id, u.first_name, u.last_name FROM pods_agent a"
            " JOIN auth_user u ON u.id = a.user_id"
            " WHERE a.pod_id = ANY(%s) AND a.left_on IS NULL ORDER BY a.id",
            [pod_ids],
        )
        agents: dict[int, list[int]] = {pod_id: [] for pod_id in pod_ids}
        for agent_id, pod_id, first, last in cursor.fetchall():
            agents[pod_id].append(agent_id)
            people.agent_names[agent_id] = f"{first} {last}".strip()
    people.agents = {pod_id: tuple(each) for pod_id, each in agents.items()}
    people.has_phone = bytearray(
        1 if customer_id in phones else 0 for customer_id in people.customer_ids
    )
    return people


# --- The volume's record --------------------------------------------------------------


@dataclass
class Plan:
    """What this volume is, kept in VOLUME_TABLE so a resumed run makes the same."""

    tickets: int
    seed: int
    now: float
    first_ticket_id: int
    chunk_tickets: int
    chunks_done: int = 0
    base_done: bool = False
    indexes: list[list[str]] | None = None  # (name, definition) dropped for the load
    finished: bool = False

    @property
    def chunks(self) -> int:
        return math.ceil(self.tickets / self.chunk_tickets)


def plan_table_ensure() -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            f"CREATE TABLE IF NOT EXISTS {VOLUME_TABLE} ("
            " tickets bigint NOT NULL, seed integer NOT NULL,"
            " now double precision NOT NULL, first_ticket_id bigint NOT NULL,"
            " chunk_tickets integer NOT NULL, chunks_done integer NOT NULL,"
            " base_done boolean NOT NULL, indexes text, finished boolean NOT NULL,"
            " started_at timestamptz NOT NULL DEFAULT now(),"
            " finished_at timestamptz)"
        )


def plan_read() -> Plan | None:
    plan_table_ensure()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT tickets, seed, now, first_ticket_id, chunk_tickets, chunks_done,"  # noqa: S608
            f" base_done, indexes, finished FROM {VOLUME_TABLE}"
        )
        row = cursor.fetchone()
    if row is None:
        return None
    *head, indexes, finished = row
    return Plan(
        *head, indexes=json.loads(indexes) if indexes else None, finished=finished
    )


def plan_save(plan: Plan) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {VOLUME_TABLE} SET chunks_done = %s, base_done = %s,"  # noqa: S608
            " indexes = %s, finished = %s,"
            " finished_at = CASE WHEN %s THEN now() END",
            [
                plan.chunks_done,
                plan.base_done,
                json.dumps(plan.indexes) if plan.indexes is not None else None,
                plan.finished,
                plan.finished,
            ],
        )


def volume_state() -> dict | None:
    """The ticket volume recorded in the database (None when there is none)."""
    plan = plan_read()
    if plan is None:
        return None
    return {
        "tickets": plan.tickets,
        "seed": plan.seed,
        "chunks_done": plan.chunks_done,
        "chunks": plan.chunks,
        "finished": plan.finished,
    }


def _plan_start(*, tickets: int, seed: int, now: datetime, chunk_tickets: int) -> Plan:
    """Record the volume, reserve its ticket ids and make what tickets refer to
    (SLA policies, contact reasons, tags), in one transaction."""
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_get_serial_sequence('tickets_ticket', 'id')")
            (sequence,) = cursor.fetchone()
            cursor.execute("SELECT nextval(%s)", [sequence])
            (first,) = cursor.fetchone()
            cursor.execute("SELECT setval(%s, %s)", [sequence, first + tickets - 1])
        plan = Plan(
            tickets=tickets,
            seed=seed,
            now=now.timestamp(),
            first_ticket_id=first,
            chunk_tickets=chunk_tickets,
        )
        references_ensure()
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {VOLUME_TABLE} (tickets, seed, now, first_ticket_id,"  # noqa: S608
                " chunk_tickets, chunks_done, base_done, finished)"
                " VALUES (%s, %s, %s, %s, %s, 0, false, false)",
                [tickets, seed, plan.now, first, chunk_tickets],
            )
    return plan


def references_ensure() -> None:
    """SLA policies (around the clock), contact reasons and tags."""
    for name, position, priority, channel, first, then, resolve in SLA_POLICIES:
        SlaPolicy.objects.get_or_create(
            name=name,
            defaults={
                "position": position,
                "priority": priority,
                "channel": channel,
                "first_response_minutes": first,
                "next_response_minutes": then,
                "resolution_minutes": resolve,
            },
        )
    for name in REASONS:
        ContactReason.objects.get_or_create(name=name)
    for name in TAGS:
        Tag.objects.get_or_create(name=name)


# --- One ticket and its conversation --------------------------------------------------


@dataclass
class Context:
    """What every case of a run shares: the population, references and the
    agents' remaining room for open tickets."""

    people: Population
    now: float
    seed: int
    start: float
    span: float
    total: int
    open_decay_days: float
    policies: list
    reason_ids: dict[str, int]
    tag_ids: list[int]
    room: dict[int, int]  # agent id: open tickets they can still take
    stamp: Stamps = field(default_factory=Stamps)
    _policy_cache: dict = field(default_factory=dict)

    def policy(self, *, priority: str, channel: str, pod_id: int):
        key = (priority, channel, pod_id)
        if key not in self._policy_cache:
            self._policy_cache[key] = rules.sla_policy_choose(
                policies=self.policies,
                priority=priority,
                channel=channel,
                pod_id=pod_id,
            )
        return self._policy_cache[key]


_CHANNELS = tuple(CHANNEL_WEIGHTS)
_CHANNEL_CUM = tuple(accumulate(CHANNEL_WEIGHTS.values()))
_PRIORITIES = tuple(PRIORITY_WEIGHTS)
_PRIORITY_CUM = tuple(accumulate(PRIORITY_WEIGHTS.values()))
_COUNTS = tuple(MESSAGE_COUNT_WEIGHTS)
_COUNT_CUM = tuple(accumulate(MESSAGE_COUNT_WEIGHTS.values()))
_REASON_NAMES = tuple(REASONS)


def _minutes(rng: random.Random, median: float) -> float:
    """A log-normal duration in seconds around a median in minutes."""
    return median * 60 * rng.lognormvariate(0, 1.0)


@dataclass
class Case:
    """One ticket: its row's fields, as epoch seconds and ids, and its messages."""

    id: int
    customer_index: int
    pod_id: int
    channel: str
    priority: str
    status: str
    created: float
    assignee: int | None
    reason: str
    korean: bool
    order: int
    solved: float | None = None
    closed: float | None = None
    reopened: int = 0
    messages: list[tuple[str, float, int | None]] = field(default_factory=list)
    tags: tuple[int, ...] = ()


def case_make(ctx: Context, rng: random.Random, *, index: int, ticket_id: int) -> Case:
    """The ticket at `index` of the history (0 is the oldest)."""
    people = ctx.people
    created = ctx.start + ctx.span * (index + rng.random()) / ctx.total
    known = max(1, bisect_right(people.created, created))
    customer = int(rng.random() * known)
    pod_id = people.pod_ids[customer]
    channel = rng.choices(_CHANNELS, cum_weights=_CHANNEL_CUM)[0]
    if channel in ("SMS", "PHONE") and not people.has_phone[customer]:
        channel = "EMAIL"
    priority = rng.choices(_PRIORITIES, cum_weights=_PRIORITY_CUM)[0]
    age_days = (ctx.now - created) / 86_400
    is_open = rng.random() < RECENT_OPEN_RATE * math.exp(
        -age_days / ctx.open_decay_days
    )
    case = Case(
        id=ticket_id,
        customer_index=customer,
        pod_id=pod_id,
        channel=channel,
        priority=priority,
        status="",
        created=created,
        assignee=None,
        reason=rng.choice(_REASON_NAMES),
        korean=rng.random() < KOREAN_RATE,
        order=rng.randint(100_000, 999_999),
    )
    if is_open:
        _open_status(ctx, rng, case)
    else:
        _history_status(ctx, rng, case)
    _conversation(ctx, rng, case)
    if rng.random() < TAG_RATE:
        case.tags = tuple(sorted(set(rng.sample(ctx.tag_ids, rng.randint(1, 2)))))
    return case


def _agent_for(ctx: Context, rng: random.Random, case: Case) -> int:
    primary = ctx.people.primary_ids[case.customer_index]
    if primary and rng.random() < 0.7:
        return primary
    return rng.choice(ctx.people.agents[case.pod_id])


def _open_status(ctx: Context, rng: random.Random, case: Case) -> None:
    agent = _agent_for(ctx, rng, case)
    if ctx.room.get(agent, 0) > 0 and rng.random() < ASSIGNED_OPEN_RATE:
        ctx.room[agent] -= 1
        case.assignee = agent
        case.status = "OPEN" if rng.random() < 0.6 else "PENDING"
    else:
        # Unassigned: new, or back in the queue after an agent's first reply.
        case.status = "NEW" if rng.random() < 0.85 else "OPEN"


def _history_status(ctx: Context, rng: random.Random, case: Case) -> None:
    median = SOLVE_MINUTES.get(case.channel, DEFAULT_SOLVE_MINUTES)
    age = ctx.now - case.created
    case.solved = case.created + min(_minutes(rng, median), age * 0.9)
    case.assignee = _agent_for(ctx, rng, case)
    if ctx.now - case.solved > CLOSE_AFTER.total_seconds():
        case.status = "CLOSED"
        case.closed = case.solved + CLOSE_AFTER.total_seconds()
    else:
        case.status = "SOLVED"
    if rng.random() < REOPEN_RATE:
        case.reopened = 1


def _directions(rng: random.Random, case: Case, count: int) -> list[str]:
    if case.status == "NEW":
        return ["INBOUND"] * min(count, 2)
    directions = ["INBOUND"]
    reply = True
    while len(directions) < count:
        if rng.random() < NOTE_RATE:
            directions.append("NOTE")
            continue
        directions.append("OUTBOUND" if reply else "INBOUND")
        reply = not reply
    talking = [d for d in directions if d != "NOTE"]
    if case.status == "PENDING" and talking[-1] != "OUTBOUND":
        directions.append("OUTBOUND")  # waiting on the customer's answer
    elif case.status == "OPEN" and case.assignee is None and len(talking) < 2:
        directions[1:] = ["OUTBOUND", "INBOUND"]  # back in the queue after a reply
    elif case.status == "OPEN" and talking[-1] != "INBOUND":
        directions.append("INBOUND")  # the customer's turn has come back
    return directions


def _conversation(ctx: Context, rng: random.Random, case: Case) -> None:
    """The messages' directions, times and authors (texts are made when written)."""
    count = rng.choices(_COUNTS, cum_weights=_COUNT_CUM)[0]
    directions = _directions(rng, case, count)
    first_reply = _minutes(
        rng, FIRST_REPLY_MINUTES.get(case.channel, DEFAULT_FIRST_REPLY_MINUTES)
    )
    end = case.solved if case.solved is not None else ctx.now - 60
    start = min(case.created + max(first_reply, 30), end)
    later = sorted(start + (end - start) * rng.random() for _ in directions[1:])
    agent = case.assignee
    if agent is None and "OUTBOUND" in directions:
        # Replied once, then back to the queue: a pod colleague wrote.
        agent = rng.choice(ctx.people.agents[case.pod_id])
    case.messages = [
        (direction, moment, None if direction == "INBOUND" else agent)
        for direction, moment in zip(directions, [case.created, *later], strict=True)
    ]


# --- Rows -----------------------------------------------------------------------------


@dataclass
class Chunk:
    """The COPY lines of one chunk, made before they are written (one chunk of
    tickets and their messages at a time: the memory bound)."""

    tickets: list[str] = field(default_factory=list)
    ticket_updates: list[str] = field(default_factory=list)
    messages: list[str] = field(default_factory=list)
    calls: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)


def _times(case: Case) -> dict[str, float | None]:
    """The ticket's activity times, read off its conversation."""
    inbound = [t for d, t, _ in case.messages if d == "INBOUND"]
    outbound = [t for d, t, _ in case.messages if d == "OUTBOUND"]
    by_agent = [t for d, t, _ in case.messages if d != "INBOUND"]
    last = case.messages[-1][1]
    pending_since = outbound[-1] if case.status == "PENDING" and outbound else None
    return {
        "updated": max(last, case.closed or case.solved or 0),
        "agent_active": by_agent[-1] if by_agent and case.assignee else None,
        "first_response": outbound[0] if outbound else None,
        "last_customer": inbound[-1] if inbound else None,
        "last_agent": outbound[-1] if outbound else None,
        "pending_since": pending_since,
    }


def _sla(ctx: Context, case: Case, times: dict) -> tuple:
    """(policy id, first, next, resolution, check, due): what sla_start and the
    conversation's messages would have set."""
    policy = ctx.policy(
        priority=case.priority, channel=case.channel, pod_id=case.pod_id
    )
    if policy is None:
        return (None, None, None, None, None, None)
    targets = policy.targets
    resolution = _plus(case.created, targets.resolution_minutes)
    if case.status in ("SOLVED", "CLOSED"):
        return (policy.policy_id, None, None, resolution, None, None)
    first = next_due = None
    if times["first_response"] is None:
        first = _plus(case.created, targets.first_response_minutes)
    elif (times["last_customer"] or 0) > times["last_agent"]:
        next_due = _plus(times["last_customer"], targets.next_response_minutes)
    running = [due for due in (first, next_due, resolution) if due is not None]
    unreported = [due for due in running if due > ctx.now]
    return (
        policy.policy_id,
        first,
        next_due,
        resolution,
        min(unreported, default=None),
        min(running, default=None),
    )


def _plus(moment: float, minutes: int | None) -> float | None:
    return None if minutes is None else moment + minutes * 60


def ticket_line(ctx: Context, case: Case, extra: str) -> str:
    stamp = ctx.stamp
    times = _times(case)
    policy_id, first, next_due, resolution, check, due = _sla(ctx, case, times)
    assigned = case.created + 120 if case.assignee else None
    subject = REASONS[case.reason][0]
    with_reason = case.assignee and case.order % 100 < REASON_RATE * 100
    reason_id = ctx.reason_ids[case.reason] if with_reason else None
    return (
        "\t".join(
            (
                str(case.id),
                case.status,
                case.priority,
                case.channel,
                f"{subject} {case.order}",
                stamp(case.created),
                stamp(times["updated"]),
                stamp(assigned),
                stamp(times["agent_active"]),
                stamp(times["first_response"]),
                stamp(times["last_customer"]),
                stamp(times["last_agent"]),
                stamp(times["pending_since"]),
                stamp(case.solved),
                stamp(case.closed),
                str(case.reopened),
                _id(policy_id),
                stamp(first),
                stamp(next_due),
                stamp(resolution),
                stamp(check),
                stamp(due),
                _id(case.assignee),
                str(ctx.people.customer_ids[case.customer_index]),
                str(case.pod_id),
                _id(reason_id),
            )
        )
        + extra
    )


def ticket_update_line(ctx: Context, case: Case) -> str:
    stamp = ctx.stamp
    times = _times(case)
    policy_id, first, next_due, resolution, check, due = _sla(ctx, case, times)
    reason_id = ctx.reason_ids[case.reason] if case.assignee else None
    return (
        "\t".join(
            (
                str(case.id),
                stamp(times["updated"]),
                stamp(times["agent_active"]),
                stamp(times["first_response"]),
                stamp(times["last_customer"]),
                stamp(times["last_agent"]),
                stamp(times["pending_since"]),
                _id(policy_id),
                stamp(first),
                stamp(next_due),
                stamp(resolution),
                stamp(check),
                stamp(due),
                _id(reason_id),
            )
        )
        + "\n"
    )


def _id(value: int | None) -> str:
    return NULL if value is None else str(value)


def message_lines(
    ctx: Context, rng: random.Random, case: Case, *, first_id: int, chunk: Chunk
) -> int:
    """Append the case's message (and call record) lines; return how many
    messages."""
    stamp = ctx.stamp
    people = ctx.people
    customer_id = people.customer_ids[case.customer_index]
    first_name, last_name = pods_volume.customer_names(customer_id)
    customer_name = f"{first_name.title()} {last_name.title()}"
    email = pods_volume.customer_email(customer_id)
    phone = pods_volume.customer_phone(customer_id)
    _, said, answer = REASONS[case.reason]
    pod_name = people.pod_names[case.pod_id]
    previous_reply = replied_on = ""
    for number, (direction, moment, agent) in enumerate(case.messages):
        message_id = first_id + number
        at = stamp(moment)
        visible = ""
        external = ""
        channel = case.channel
        if direction == "INBOUND":
            if number == 0:
                text = KOREAN_INBOUND[case.order % 3] if case.korean else said
                text = f"Hi, {text} Order {case.order}.\\n{first_name.title()}"
            else:
                text = rng.choice(FOLLOW_UPS)
            address = phone if channel in ("SMS", "PHONE") else email
            if channel == "EMAIL":
                external = f"<v{message_id}.{ctx.seed}@mail.example>"
                if previous_reply:
                    visible = text
                    text = (
                        f"{text}\\n\\nOn {replied_on}, {pod_name} wrote:\\n"
                        f"> {previous_reply[:160]}"
                    )
            elif channel in ("SMS", "SOCIAL"):
                external = f"v{channel[:2]}{message_id}"
            line = (
                f"{message_id}\t{case.id}\tINBOUND\t{channel}\t{NULL}\t{customer_id}"
                f"\t{customer_name}\t{address}\t{text}\t{visible}\t\t{external}"
                f"\t\tf\tf\t{{}}\t{at}\tNOT_SENT\t0\t\t{NULL}\n"
            )
            if channel == "PHONE" and number == 0:
                chunk.calls.append(
                    _call_line(rng, case, message_id, phone, moment, stamp)
                )
        else:
            agent_name = people.agent_names.get(agent, "")
            if direction == "NOTE":
                text = rng.choice(NOTES)
                delivery, attempts, sent = "NOT_SENT", 0, NULL
            else:
                if channel not in REPLIED_IN_KIND:
                    channel = "EMAIL"
                body = KOREAN_OUTBOUND[case.order % 2] if case.korean else answer
                text = (
                    f"Hi {first_name.title()},\\n\\n{body}\\n\\n"
                    f"{CLOSINGS[message_id % 4]}\\n{agent_name.split(' ')[0]}"
                )
                previous_reply, replied_on = body, at[:10]
                delivery, attempts, sent = "SENT", 1, at
            line = (
                f"{message_id}\t{case.id}\t{direction}\t{channel}\t{agent}\t{NULL}"
                f"\t{agent_name}\t\t{text}\t\t\t\t\tf\tf\t{{}}\t{at}\t{delivery}"
                f"\t{attempts}\t\t{sent}\n"
            )
        chunk.messages.append(line)
    return len(case.messages)


def _call_line(
    rng: random.Random,
    case: Case,
    message_id: int,
    phone: str,
    moment: float,
    stamp: Stamps,
) -> str:
    missed = rng.random() < MISSED_CALL_RATE
    answered = None if missed else moment + rng.randint(2, 40)
    duration = 0 if missed else rng.randint(40, 1200)
    ended = moment + 30 if missed else answered + duration
    call_id = f"vol-{message_id}"
    recording = (
        f"https://recordings.example/{call_id}.mp3"
        if not missed and rng.random() < RECORDED_CALL_RATE
        else ""
    )
    return (
        f"{case.id}\t{message_id}\tbench\t{call_id}\t"
        f"{'MISSED' if missed else 'ENDED'}\t{phone}\t+448000000000\t"
        f"{NULL if missed or case.assignee is None else case.assignee}\t"
        f"{stamp(moment)}\t{stamp(answered)}\t{stamp(ended)}\t"
        f"{NULL if missed else duration}\t{recording}\n"
    )


# --- Writing --------------------------------------------------------------------------


class Progress:
    """Tickets and messages written so far, their rate and the time left, on
    stderr."""

    def __init__(self, *, total: int, done: int) -> None:
        self.total = total
        self.done = done
        self.at_start = done
        self.messages = 0
        self.started = time.perf_counter()

    def add(self, *, tickets: int, messages: int) -> None:
        self.done += tickets
        self.messages += messages
        elapsed = max(time.perf_counter() - self.started, 1e-9)
        rate = (self.done - self.at_start) / elapsed
        left = (self.total - self.done) / rate if rate else 0
        sys.stderr.write(
            f"\r  tickets {self.done:>11,}/{self.total:,}"
            f"  messages {self.messages:>12,}"
            f"  {rate:>8,.0f} tickets/s  {elapsed:6.0f} s  ~{left:5.0f} s left "
        )
        sys.stderr.flush()

    def end(self) -> None:
        sys.stderr.write("\n")


class _LineSource:
    """A readable file over COPY lines already made, a chunk of them per read."""

    def __init__(self, lines: list[str]) -> None:
        self._lines = lines
        self._at = 0

    def read(self, size: int = -1) -> str:
        taken: list[str] = []
        length = 0
        while self._at < len(self._lines) and (size < 0 or length < size):
            line = self._lines[self._at]
            taken.append(line)
            length += len(line)
            self._at += 1
        return "".join(taken)


def copy_lines(table: str, columns: Sequence[str], lines: list[str]) -> None:
    if not lines:
        return
    stream = _LineSource(lines)
    with connection.cursor() as cursor:
        cursor.copy_expert(
            f"COPY {table} ({', '.join(columns)}) FROM STDIN",
            stream,
            size=pods_volume.COPY_CHUNK,
        )


def _message_ids(count: int) -> int:
    """Take `count` consecutive message ids; return the first."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_get_serial_sequence('tickets_message', 'id')")
        (sequence,) = cursor.fetchone()
        cursor.execute("SELECT nextval(%s)", [sequence])
        (first,) = cursor.fetchone()
        cursor.execute("SELECT setval(%s, %s)", [sequence, first + count - 1])
    return first


def _triggers_skippable() -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_setting('is_superuser') = 'on'")
        return cursor.fetchone()[0]


def _chunk_write(chunk: Chunk, *, skip_triggers: bool, extra_columns: Sequence[str]):
    with connection.cursor() as cursor:
        if skip_triggers:
            # The rows refer to ids just read; the references are checked in bulk
            # at the end (references_check) instead of one lookup per row.
            cursor.execute("SET LOCAL session_replication_role = replica")
        cursor.execute("SET LOCAL synchronous_commit = off")
    copy_lines("tickets_ticket", (*TICKET_COLUMNS, *extra_columns), chunk.tickets)
    if chunk.ticket_updates:
        _tickets_update(chunk.ticket_updates)
    copy_lines("tickets_message", MESSAGE_COLUMNS, chunk.messages)
    copy_lines("tickets_callrecord", CALL_COLUMNS, chunk.calls)
    copy_lines(TAG_TABLE, TAG_COLUMNS, chunk.tags)


def _tickets_update(lines: list[str]) -> None:
    columns = TICKET_UPDATE_COLUMNS
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TEMP TABLE volume_ticket_update ON COMMIT DROP AS"  # noqa: S608
            f" SELECT {', '.join(columns)} FROM tickets_ticket WITH NO DATA"
        )
    copy_lines("volume_ticket_update", columns, lines)
    assignments = ", ".join(f"{column} = u.{column}" for column in columns[1:])
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE tickets_ticket t SET {assignments}"  # noqa: S608
            " FROM volume_ticket_update u WHERE t.id = u.id"
        )


def _context(plan: Plan, people: Population, *, existing_open: int) -> Context:
    now = plan.now
    start = people.created[0]
    span = max(now - 300 - start, 1.0)
    per_day = plan.tickets / (span / 86_400)
    wanted_open = OPEN_SHARE * (plan.tickets + existing_open) - existing_open
    decay = max(wanted_open, 1) / (RECENT_OPEN_RATE * per_day)
    reasons = dict(
        ContactReason.objects.filter(name__in=REASONS).values_list("name", "id")
    )
    tags = list(
        Tag.objects.filter(name__in=TAGS).order_by("id").values_list("id", flat=True)
    )
    return Context(
        people=people,
        now=now,
        seed=plan.seed,
        start=start,
        span=span,
        total=plan.tickets,
        open_decay_days=max(decay, 0.25),
        policies=selectors.sla_policy_facts(),
        reason_ids=reasons,
        tag_ids=tags,
        room=_agent_room(),
    )


def _agent_room() -> dict[int, int]:
    """Open tickets each base agent can still take (capacity less what they hold)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT a.id, a.capacity - count(t.id) FROM pods_agent a"
            " JOIN pods_pod p ON p.id = a.pod_id"
            " LEFT JOIN tickets_ticket t ON t.assignee_id = a.id"
            " AND t.status IN ('NEW', 'OPEN', 'PENDING')"
            " WHERE p.name LIKE %s GROUP BY a.id",
            [pods_volume.BASE_POD_PREFIX + "%"],
        )
        return {agent_id: max(room, 0) for agent_id, room in cursor.fetchall()}


def _existing_open_tickets(plan: Plan) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT t.id, t.customer_id, t.pod_id, t.channel, t.priority, t.status,"
            " extract(epoch FROM t.created_at), t.assignee_id FROM tickets_ticket t"
            " WHERE t.id < %s AND t.status IN ('NEW', 'OPEN', 'PENDING')"
            " AND NOT EXISTS (SELECT 1 FROM tickets_message m WHERE m.ticket_id = t.id)"
            " ORDER BY t.id",
            [plan.first_ticket_id],
        )
        return cursor.fetchall()


def _base_chunk(ctx: Context, rows: list[tuple]) -> Chunk:
    """Conversations and due times for the open tickets pods_volume made."""
    rng = random.Random(f"{ctx.seed}:volume-base")
    people = ctx.people
    index_of = {
        customer_id: index for index, customer_id in enumerate(people.customer_ids)
    }
    cases = []
    for (
        ticket_id,
        customer_id,
        pod_id,
        channel,
        priority,
        status,
        created,
        agent,
    ) in rows:
        index = index_of.get(customer_id)
        if index is None:
            continue
        case = Case(
            id=ticket_id,
            customer_index=index,
            pod_id=pod_id,
            channel=channel,
            priority=priority,
            status=status,
            created=float(created),
            assignee=agent,
            reason=rng.choice(_REASON_NAMES),
            korean=rng.random() < KOREAN_RATE,
            order=rng.randint(100_000, 999_999),
        )
        _conversation(ctx, rng, case)
        cases.append(case)
    chunk = Chunk()
    first_id = _message_ids(sum(len(case.messages) for case in cases) or 1)
    for case in cases:
        first_id += message_lines(ctx, rng, case, first_id=first_id, chunk=chunk)
        chunk.ticket_updates.append(ticket_update_line(ctx, case))
    return chunk


def _history_chunk(ctx: Context, plan: Plan, number: int, extra: str) -> Chunk:
    rng = random.Random(f"{plan.seed}:volume-chunk:{number}")
    begin = number * plan.chunk_tickets
    end = min(begin + plan.chunk_tickets, plan.tickets)
    cases = [
        case_make(ctx, rng, index=index, ticket_id=plan.first_ticket_id + index)
        for index in range(begin, end)
    ]
    chunk = Chunk()
    first_id = _message_ids(sum(len(case.messages) for case in cases))
    for case in cases:
        chunk.tickets.append(ticket_line(ctx, case, extra))
        first_id += message_lines(ctx, rng, case, first_id=first_id, chunk=chunk)
        chunk.tags.extend(f"{case.id}\t{tag_id}\n" for tag_id in case.tags)
    return chunk


# --- Indexes, counters, statistics ----------------------------------------------------


def indexes_drop(plan: Plan) -> None:
    """Drop the plain indexes of the tables being loaded, keeping their
    definitions in the plan (indexes backing a constraint stay)."""
    if plan.indexes is not None:
        return
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT i.relname, pg_get_indexdef(i.oid) FROM pg_index x"
            " JOIN pg_class i ON i.oid = x.indexrelid"
            " JOIN pg_class t ON t.oid = x.indrelid"
            " WHERE t.relname = ANY(%s) AND NOT x.indisprimary AND NOT x.indisunique"
            " AND NOT EXISTS (SELECT 1 FROM pg_constraint c"
            "                 WHERE c.conindid = x.indexrelid)"
            " ORDER BY t.relname, i.relname",
            [[*TABLES, TAG_TABLE]],
        )
        plan.indexes = [list(row) for row in cursor.fetchall()]
        plan_save(plan)
        for name, _ in plan.indexes:
            cursor.execute(f'DROP INDEX IF EXISTS "{name}"')


def indexes_build(plan: Plan, *, say: Callable[[str], None]) -> None:
    """Build the dropped indexes again, two at a time (the full-text index on
    messages alone takes as long as all the others), the most costly first."""
    definitions = sorted(
        plan.indexes or [],
        key=lambda item: (" gin " not in item[1], "tickets_message" not in item[1]),
    )
    with ThreadPoolExecutor(max_workers=INDEX_BUILDERS) as pool:
        for name, seconds in pool.map(_index_build, definitions):
            say(f"index {name} built in {seconds:.1f} s")


def _index_build(item: list[str]) -> tuple[str, float]:
    """Build one index on a connection of this thread, then close it."""
    name, definition = item
    started = time.perf_counter()
    try:
        with connection.cursor() as cursor:
            cursor.execute("SET maintenance_work_mem = '512MB'")
            cursor.execute(
                definition.replace("CREATE INDEX ", "CREATE INDEX IF NOT EXISTS ", 1)
            )
    finally:
        connection.close()
    return name, time.perf_counter() - started


def autovacuum_set(*, enabled: bool) -> None:
    """Keep autovacuum off the tables while they load (it would vacuum and
    analyse them again and again, on the cores the load needs; they are
    vacuumed once at the end), and give it back after."""
    with connection.cursor() as cursor:
        for table in (*TABLES, TAG_TABLE):
            if enabled:
                cursor.execute(f"ALTER TABLE {table} RESET (autovacuum_enabled)")
            else:
                cursor.execute(f"ALTER TABLE {table} SET (autovacuum_enabled = false)")


# Each: what refers, what it must find (checked with one anti-join each).
REFERENCES = (
    ("tickets_message", "ticket_id", "tickets_ticket"),
    ("tickets_message", "author_agent_id", "pods_agent"),
    ("tickets_message", "author_customer_id", "pods_customer"),
    ("tickets_ticket", "customer_id", "pods_customer"),
    ("tickets_ticket", "pod_id", "pods_pod"),
    ("tickets_ticket", "assignee_id", "pods_agent"),
    ("tickets_ticket", "sla_policy_id", "tickets_slapolicy"),
    ("tickets_ticket", "contact_reason_id", "tickets_contactreason"),
    ("tickets_callrecord", "message_id", "tickets_message"),
    (TAG_TABLE, "ticket_id", "tickets_ticket"),
    (TAG_TABLE, "tag_id", "tickets_tag"),
)


def references_check() -> dict[str, int]:
    """Rows whose reference finds nothing, per reference (all zero when sound)."""
    broken = {}
    with connection.cursor() as cursor:
        # Each check is a hash anti-join over millions of ids: room to hash.
        cursor.execute("SET work_mem = '256MB'")
        for table, column, target in REFERENCES:
            cursor.execute(
                f"SELECT count(*) FROM {table} r WHERE r.{column} IS NOT NULL"  # noqa: S608
                f" AND NOT EXISTS (SELECT 1 FROM {target} x WHERE x.id = r.{column})"
            )
            broken[f"{table}.{column}"] = cursor.fetchone()[0]
        cursor.execute("RESET work_mem")
    return broken


def tables_analyse() -> None:
    """Vacuum (for index-only scans) and analyse the loaded tables."""
    with connection.cursor() as cursor:
        for table in (*TABLES, TAG_TABLE, "pods_agent"):
            cursor.execute(f"VACUUM (ANALYZE) {table}")


# --- The volume -----------------------------------------------------------------------


@dataclass(frozen=True)
class Generated:
    tickets: int
    generated: bool
    seconds: float
    steps: dict[str, float]
    broken_references: dict[str, int]


def _say(text: str) -> None:
    sys.stderr.write(f"  {text}\n")
    sys.stderr.flush()


def volume_generate(
    *,
    tickets: int,
    seed: int,
    now: datetime,
    chunk_tickets: int = CHUNK_TICKETS,
    say: Callable[[str], None] = _say,
    stop_after_chunks: int | None = None,
) -> Generated:
    """Add `tickets` tickets with their conversations to the pods volume, or
    finish adding them after an interruption; nothing when they are there.
    Raise VolumeMismatch when the database holds another ticket volume, or no
    pods volume. `now` counts only for a new volume (a resumed one keeps its
    own). `stop_after_chunks` stops early, as an interruption would (tests)."""
    started = time.perf_counter()
    plan = plan_read()
    if plan is not None and (plan.tickets, plan.seed) != (tickets, seed):
        raise VolumeMismatch(
            f"the database holds a ticket volume of {plan.tickets:,} tickets (seed"
            f" {plan.seed}), not {tickets:,} (seed {seed}): use an empty database"
        )
    if plan is not None and plan.finished:
        return Generated(tickets, False, 0.0, {}, {})
    people = population_read()
    if plan is None:
        plan = _plan_start(
            tickets=tickets, seed=seed, now=now, chunk_tickets=chunk_tickets
        )
    steps: dict[str, float] = {}
    say(
        f"tickets: {plan.chunks_done}/{plan.chunks} chunks of {plan.chunk_tickets:,}"
        f" done; {len(people):,} customers"
    )
    indexes_drop(plan)
    autovacuum_set(enabled=False)
    skip_triggers = _triggers_skippable()
    extra_columns = pods_volume.ticket_column_defaults(set(TICKET_COLUMNS))
    extra = "".join(f"\t{value}" for value in extra_columns.values()) + "\n"
    existing = _existing_open_tickets(plan) if not plan.base_done else []
    ctx = _context(plan, people, existing_open=len(existing) or _base_open_count(plan))
    mark = time.perf_counter()
    if not plan.base_done:
        with transaction.atomic():
            _chunk_write(
                _base_chunk(ctx, existing),
                skip_triggers=skip_triggers,
                extra_columns=extra_columns,
            )
            plan.base_done = True
            plan_save(plan)
        say(f"{len(existing):,} open tickets of the pods volume given conversations")
    progress = Progress(total=plan.tickets, done=plan.chunks_done * plan.chunk_tickets)
    for number in range(plan.chunks_done, plan.chunks):
        if stop_after_chunks is not None and number >= stop_after_chunks:
            progress.end()
            return Generated(tickets, True, time.perf_counter() - started, steps, {})
        chunk = _history_chunk(ctx, plan, number, extra)
        with transaction.atomic():
            _chunk_write(
                chunk, skip_triggers=skip_triggers, extra_columns=extra_columns
            )
            plan.chunks_done = number + 1
            plan_save(plan)
        progress.add(tickets=len(chunk.tickets), messages=len(chunk.messages))
    progress.end()
    steps["rows"] = time.perf_counter() - mark
    mark = time.perf_counter()
    autovacuum_set(enabled=True)
    indexes_build(plan, say=say)
    steps["indexes"] = time.perf_counter() - mark
    mark = time.perf_counter()
    pods_volume.counters_set(pod_ids=list(people.pod_names))
    broken = references_check()
    steps["checks"] = time.perf_counter() - mark
    if any(broken.values()):
        raise RuntimeError(f"generated rows refer to nothing: {broken}")
    mark = time.perf_counter()
    tables_analyse()
    steps["vacuum analyze"] = time.perf_counter() - mark
    plan.finished = True
    plan_save(plan)
    return Generated(tickets, True, time.perf_counter() - started, steps, broken)


def _base_open_count(plan: Plan) -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM tickets_ticket WHERE id < %s"
            " AND status IN ('NEW', 'OPEN', 'PENDING')",
            [plan.first_ticket_id],
        )
        return cursor.fetchone()[0]
