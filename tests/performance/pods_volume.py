"""Fill a PostgreSQL database with pods at production volume, fast.

Pods and agents go through the pods services (pod_create, agent_hire), so they are
what production makes. The bulk (customers, identities, assignment history, open
tickets) is streamed to PostgreSQL with COPY from lazy iterators: rows are made as
the server reads them and never held in memory all at once.

Everything is deterministic from the seed, given an empty database: the same seed
makes the same customers, identities, primary agents and tickets.
"""

import random
import sys
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import cached_property

from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.db import connection, transaction

import pods.services
from pods.models import Agent, Customer, CustomerAssignment, Pod
from tickets.models import Ticket

BASE_POD_PREFIX = "Volume pod"
SPLIT_POD_PREFIX = "Bench split"
AGENTS_PER_POD = 10
AGENT_CAPACITY = 8
PRIMARY_AGENT_RATE = 0.8
PHONE_RATE = 1 / 3
OPEN_TICKET_RATE = 0.03
ONLINE_RATE = 0.7
# Customers' first contacts are spread evenly from here to a day before `now`, in
# id order, as they would have arrived.
HISTORY_START = datetime(2023, 1, 1, tzinfo=UTC)
# psycopg2 asks the stream for this many characters at a time.
COPY_CHUNK = 1 << 20
# An odd multiplier not divisible by 5 is a bijection modulo 10**8: phone numbers
# look scattered and are still unique per customer id.
PHONE_SCRAMBLE = 7_919_317

# Names for display names and addresses, picked from the customer id.
_FIRST_NAMES = (
    "amelia oliver isla george ava noah mia arthur ivy leo freya oscar lily harry "
    "grace jack sophia charlie rosie theo ella finley evie henry poppy jacob ruby "
    "alfie willow thomas daisy archie maya joshua emily william aisha mohammed zara"
)
_LAST_NAMES = (
    "smith jones taylor brown williams wilson johnson davies patel robinson wright "
    "thompson evans walker white roberts green hall wood jackson clarke khan lewis "
    "harris martin cooper king lee baker hill morgan moore scott young turner allen"
)
FIRST_NAMES = tuple(_FIRST_NAMES.split())
LAST_NAMES = tuple(_LAST_NAMES.split())
EMAIL_DOMAINS = (
    "example.com",
    "mail.example",
    "post.example",
    "inbox.example",
    "example.co.uk",
    "example.org",
)
# Ten agents: three High, four Middle, three Low.
TIER_MIX = ("HIGH", "MIDDLE", "LOW", "MIDDLE", "HIGH", "LOW", "MIDDLE", "HIGH", "LOW")
TIER_MIX += ("MIDDLE",)
TIER_SCORES = {"LOW": (600, 799), "MIDDLE": (800, 999), "HIGH": (1000, 1150)}


class VolumeMismatch(RuntimeError):
    """The database holds generated pods of a different volume than requested."""


# --- COPY plumbing ---------------------------------------------------------------


class Progress:
    """Rows written so far and their rate, on stderr, about once a second."""

    def __init__(self, label: str, *, expected: int | None = None) -> None:
        self.label = label
        self.expected = expected
        self.rows = 0
        self.started = time.perf_counter()
        self._shown = self.started

    def add(self, rows: int) -> None:
        self.rows += rows
        now = time.perf_counter()
        if now - self._shown >= 1.0:
            self._shown = now
            self._print(now, final=False)

    def done(self) -> float:
        now = time.perf_counter()
        self._print(now, final=True)
        return now - self.started

    def _print(self, now: float, *, final: bool) -> None:
        elapsed = max(now - self.started, 1e-9)
        of = f"/{self.expected:,}" if self.expected and not final else ""
        end = "\n" if final else "\r"
        sys.stderr.write(
            f"  {self.label:<22} {self.rows:>11,}{of} rows "
            f"{self.rows / elapsed:>10,.0f} rows/s {elapsed:7.1f} s{end}"
        )
        sys.stderr.flush()


class CopyStream:
    """A read-only text file over lines made lazily, for cursor.copy_expert.

    Each read joins just enough lines to fill the requested size, so memory holds
    one chunk, whatever the number of rows."""

    def __init__(self, lines: Iterator[str], progress: Progress) -> None:
        self._lines = lines
        self._progress = progress

    def read(self, size: int = -1) -> str:
        chunk: list[str] = []
        length = 0
        for line in self._lines:
            chunk.append(line)
            length += len(line)
            if 0 <= size <= length:
                break
        self._progress.add(len(chunk))
        return "".join(chunk)


def copy_rows(
    *,
    table: str,
    columns: Sequence[str],
    rows: Iterable[Sequence[object]],
    label: str,
    expected: int | None = None,
) -> tuple[int, float]:
    """COPY rows into a table; return (rows, seconds).

    Values are written in COPY text format: None is \\N; every other value is
    str()'d, so callers only pass values without tabs, newlines or backslashes
    (true of everything this module makes)."""
    progress = Progress(label, expected=expected)
    lines = (
        "\t".join("\\N" if value is None else str(value) for value in row) + "\n"
        for row in rows
    )
    sql = f"COPY {table} ({', '.join(columns)}) FROM STDIN"
    with connection.cursor() as cursor:
        cursor.copy_expert(sql, CopyStream(lines, progress), size=COPY_CHUNK)
    return progress.rows, progress.done()


# --- What a customer looks like, from their id -------------------------------------


def customer_names(customer_id: int) -> tuple[str, str]:
    first = FIRST_NAMES[(customer_id * 2_654_435_761) % len(FIRST_NAMES)]
    last = LAST_NAMES[(customer_id * 40_503) % len(LAST_NAMES)]
    return first, last


def customer_email(customer_id: int) -> str:
    """A unique, already normalised (lower-case) address."""
    first, last = customer_names(customer_id)
    domain = EMAIL_DOMAINS[customer_id % len(EMAIL_DOMAINS)]
    return f"{first}.{last}.{customer_id}@{domain}"


def customer_phone(customer_id: int) -> str:
    """A unique UK mobile number in E.164 (+4477 and eight digits)."""
    return f"+4477{(customer_id * PHONE_SCRAMBLE) % 100_000_000:08d}"


# --- Staff --------------------------------------------------------------------


@dataclass(frozen=True)
class Staff:
    pod_id: int
    agent_ids: tuple[int, ...]


def staff_pod(*, pod: Pod, slug: str, rng: random.Random, now: datetime) -> Staff:
    """Hire AGENTS_PER_POD agents into the pod through pods.services.agent_hire.

    Users are made in one bulk insert with unusable passwords (no PBKDF2 rounds).
    The most senior is the lead; tiers are a mix of Low, Middle and High; hire
    dates all differ; about ONLINE_RATE of them are online."""
    users = get_user_model().objects.bulk_create(
        get_user_model()(
            username=f"{slug}-{number:02d}",
            email=f"{slug}-{number:02d}@agents.example",
            first_name=FIRST_NAMES[(number * 7 + len(slug)) % len(FIRST_NAMES)].title(),
            last_name=LAST_NAMES[(number * 11 + pod.id) % len(LAST_NAMES)].title(),
            password=make_password(None),
        )
        for number in range(1, AGENTS_PER_POD + 1)
    )
    days_ago = sorted(rng.sample(range(30, 3000), AGENTS_PER_POD), reverse=True)
    tiers = [TIER_MIX[number % len(TIER_MIX)] for number in range(AGENTS_PER_POD)]
    rng.shuffle(tiers)
    agent_ids = []
    for number, (user, days, tier) in enumerate(
        zip(users, days_ago, tiers, strict=True)
    ):
        agent = pods.services.agent_hire(
            user=user,
            hired_on=now.date() - timedelta(days=days),
            now=now,
            role=Agent.Role.LEAD if number == 0 else Agent.Role.AGENT,
            pod=pod,
            capacity=AGENT_CAPACITY,
            tier=tier,
        )
        low, high = TIER_SCORES[tier]
        presence = (
            Agent.Presence.ONLINE
            if rng.random() < ONLINE_RATE
            else rng.choice([Agent.Presence.AWAY, Agent.Presence.OFFLINE])
        )
        Agent.objects.filter(id=agent.id).update(
            presence=presence,
            presence_changed_at=now,
            proficiency_score=Decimal(rng.randint(low, high)) / 1000,
        )
        agent_ids.append(agent.id)
    return Staff(pod_id=pod.id, agent_ids=tuple(agent_ids))


# --- Customers and what hangs off them ----------------------------------------------


@dataclass
class Block:
    """A run of consecutive customer ids dealt round-robin to some pods."""

    label: str  # keys the random streams, so a block is the same whatever its ids
    first_id: int
    count: int
    staffs: Sequence[Staff]
    seed: int
    start: datetime
    end: datetime
    ticketed: set[int]  # offsets of customers with an open ticket
    # Filled while customers stream: (customer_id, pod_id, primary_agent_id).
    ticket_owners: list[tuple[int, int, int | None]] = field(default_factory=list)

    def customer_id(self, offset: int) -> int:
        return self.first_id + offset

    def staff(self, offset: int) -> Staff:
        return self.staffs[offset % len(self.staffs)]

    def created_at(self, offset: int) -> str:
        return (self.start + self.step * offset).isoformat()

    @cached_property
    def step(self) -> timedelta:
        return (self.end - self.start) / max(self.count, 1)


def customer_rows(block: Block) -> Iterator[tuple]:
    rng = random.Random(f"{block.seed}:customers:{block.label}")
    for offset in range(block.count):
        customer_id = block.customer_id(offset)
        staff = block.staff(offset)
        primary = (
            rng.choice(staff.agent_ids) if rng.random() < PRIMARY_AGENT_RATE else None
        )
        if offset in block.ticketed:
            block.ticket_owners.append((customer_id, staff.pod_id, primary))
        first, last = customer_names(customer_id)
        yield (
            customer_id,
            f"{first.title()} {last.title()}",
            "",
            block.created_at(offset),
            staff.pod_id,
            primary,
        )


CUSTOMER_COLUMNS = (
    "id",
    "display_name",
    "segment",
    "created_at",
    "pod_id",
    "primary_agent_id",
)


def identity_rows(block: Block) -> Iterator[tuple]:
    rng = random.Random(f"{block.seed}:phones:{block.label}")
    for offset in range(block.count):
        customer_id = block.customer_id(offset)
        created = block.created_at(offset)
        yield ("EMAIL", customer_email(customer_id), created, customer_id)
        if rng.random() < PHONE_RATE:
            yield ("PHONE", customer_phone(customer_id), created, customer_id)


IDENTITY_COLUMNS = ("kind", "value", "created_at", "customer_id")


def assignment_rows(block: Block) -> Iterator[tuple]:
    reason = CustomerAssignment.Reason.FIRST_CONTACT.value
    for offset in range(block.count):
        yield (
            reason,
            block.created_at(offset),
            block.customer_id(offset),
            block.staff(offset).pod_id,
        )


ASSIGNMENT_COLUMNS = ("reason", "at", "customer_id", "to_pod_id")


def ticket_rows(block: Block, *, now: datetime) -> Iterator[tuple]:
    """Open tickets of the ticketed customers: some assigned to their primary
    agent (never past the agent's capacity), the rest waiting in the pod queue."""
    rng = random.Random(f"{block.seed}:tickets:{block.label}")
    budgets = {
        agent_id: rng.randint(0, AGENT_CAPACITY)
        for staff in block.staffs
        for agent_id in staff.agent_ids
    }
    with_activity = _ticket_has_agent_activity()
    columns = TICKET_COLUMNS + (("agent_active_at",) if with_activity else ())
    defaults = list(ticket_column_defaults(set(columns)).values())
    channels = [choice.value for choice in Ticket.Channel]
    for customer_id, pod_id, primary in block.ticket_owners:
        created = now - timedelta(minutes=rng.randint(5, 4 * 24 * 60))
        assignee = None
        if primary is not None and budgets[primary] > 0 and rng.random() < 0.6:
            assignee = primary
            budgets[primary] -= 1
        if assignee is None:
            status = Ticket.Status.NEW.value
        else:
            status = rng.choice([Ticket.Status.OPEN.value] * 3 + ["PENDING"])
        assigned = (created + timedelta(minutes=2)).isoformat() if assignee else None
        row = [
            status,
            Ticket.Priority.NORMAL.value,
            rng.choice(channels),
            f"Question {customer_id}",
            created.isoformat(),
            created.isoformat(),
            assigned,
            assignee,
            customer_id,
            pod_id,
        ]
        if with_activity:
            row.append(assigned)
        row.extend(defaults)
        yield row


TICKET_COLUMNS = (
    "status",
    "priority",
    "channel",
    "subject",
    "created_at",
    "updated_at",
    "assigned_at",
    "assignee_id",
    "customer_id",
    "pod_id",
)


def ticket_columns() -> tuple[str, ...]:
    columns = TICKET_COLUMNS
    if _ticket_has_agent_activity():
        columns = (*columns, "agent_active_at")
    return (*columns, *ticket_column_defaults(set(columns)))


def ticket_column_defaults(copied: set[str]) -> dict[str, object]:
    """The NOT NULL columns a COPY leaves out, with their model defaults.

    Django keeps defaults in Python, not in the table, so a COPY that names
    fewer columns than the model has (a field added later, say
    reopened_count) would insert NULL and fail; this names them with their
    default, whatever fields the model gains."""
    return {
        field.column: field.get_db_prep_save(field.get_default(), connection)
        for field in Ticket._meta.concrete_fields
        if not field.null
        and not field.primary_key
        and field.has_default()
        and field.column not in copied
    }


def _ticket_has_agent_activity() -> bool:
    return any(f.name == "agent_active_at" for f in Ticket._meta.concrete_fields)


def customer_ids_reserve(count: int) -> int:
    """Take `count` consecutive ids from the customer id sequence; return the
    first. The sequence ends past them, so later inserts never collide."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_get_serial_sequence(%s, 'id')", [Customer._meta.db_table]
        )
        (sequence,) = cursor.fetchone()
        cursor.execute("SELECT nextval(%s)", [sequence])
        (first,) = cursor.fetchone()
        cursor.execute("SELECT setval(%s, %s)", [sequence, first + count - 1])
    return first


def block_write(block: Block, *, now: datetime) -> dict[str, tuple[int, float]]:
    """COPY a block's customers, identities, history and open tickets, then make
    the pod and agent counters agree with them."""
    written = {
        "customers": copy_rows(
            table=Customer._meta.db_table,
            columns=CUSTOMER_COLUMNS,
            rows=customer_rows(block),
            label="customers",
            expected=block.count,
        ),
        "identities": copy_rows(
            table="pods_customeridentity",
            columns=IDENTITY_COLUMNS,
            rows=identity_rows(block),
            label="identities",
        ),
        "assignments": copy_rows(
            table=CustomerAssignment._meta.db_table,
            columns=ASSIGNMENT_COLUMNS,
            rows=assignment_rows(block),
            label="assignment history",
            expected=block.count,
        ),
        "tickets": copy_rows(
            table=Ticket._meta.db_table,
            columns=ticket_columns(),
            rows=ticket_rows(block, now=now),
            label="open tickets",
            expected=len(block.ticketed),
        ),
    }
    counters_set(pod_ids=[staff.pod_id for staff in block.staffs])
    return written


def counters_set(*, pod_ids: Sequence[int]) -> None:
    """Set pods' customer counts and agents' open-ticket counts from the rows."""
    open_statuses = [str(status) for status in Ticket.OPEN_STATUSES]
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE pods_pod p SET customer_count = ("
            " SELECT count(*) FROM pods_customer c"
            " WHERE c.pod_id = p.id AND c.merged_into_id IS NULL"
            ") WHERE p.id = ANY(%s)",
            [list(pod_ids)],
        )
        cursor.execute(
            "UPDATE pods_agent a SET open_ticket_count = load.n,"
            " last_assigned_at = load.last"
            " FROM (SELECT assignee_id, count(*) AS n, max(assigned_at) AS last"
            "       FROM tickets_ticket"
            "       WHERE status = ANY(%s) AND pod_id = ANY(%s)"
            "       GROUP BY assignee_id) load"
            " WHERE a.id = load.assignee_id",
            [open_statuses, list(pod_ids)],
        )


def tables_analyse(*, vacuum: bool) -> None:
    """Refresh planner statistics (and the visibility map, with vacuum) after a
    bulk load, as autovacuum would shortly after."""
    command = "VACUUM (ANALYZE)" if vacuum else "ANALYZE"
    with connection.cursor() as cursor:
        for table in (
            "pods_pod",
            "pods_agent",
            "pods_customer",
            "pods_customeridentity",
            "pods_customerassignment",
            "tickets_ticket",
        ):
            cursor.execute(f"{command} {table}")


# --- The volumes the benchmark asks for --------------------------------------------


@dataclass(frozen=True)
class Generated:
    pod_ids: tuple[int, ...]
    customers: int
    seconds: float
    tables: dict[str, tuple[int, float]]


def volume_present(*, customers: int, pods_count: int) -> bool:
    """Whether the base volume is already in the database; raise VolumeMismatch
    when a different one is."""
    base = Pod.objects.filter(name__startswith=BASE_POD_PREFIX)
    found_pods = base.count()
    if not found_pods:
        return False
    found = Customer.objects.filter(pod__in=base).count()
    if (found, found_pods) != (customers, pods_count):
        raise VolumeMismatch(
            f"the database holds {found:,} customers in {found_pods} generated pods, "
            f"not {customers:,} in {pods_count}: use an empty database"
        )
    return True


def volume_generate(
    *, customers: int, pods_count: int, seed: int, now: datetime
) -> Generated:
    """Make `pods_count` staffed pods and `customers` customers spread evenly over
    them (round-robin, so every pod's customers span the whole id range), in one
    transaction, then vacuum and analyse."""
    started = time.perf_counter()
    rng = random.Random(f"{seed}:staff")
    with transaction.atomic():
        staffs = []
        for number in range(1, pods_count + 1):
            pod = pods.services.pod_create(
                name=f"{BASE_POD_PREFIX} {number:02d}",
                now=HISTORY_START,
                reply_address=f"pod{number:02d}@support.example",
            )
            staffs.append(staff_pod(pod=pod, slug=f"vol{number:02d}", rng=rng, now=now))
        sys.stderr.write(f"  {pods_count} pods with {AGENTS_PER_POD} agents each\n")
        block = Block(
            label="base",
            first_id=customer_ids_reserve(customers),
            count=customers,
            staffs=staffs,
            seed=seed,
            start=HISTORY_START,
            end=now - timedelta(days=1),
            ticketed=set(
                random.Random(f"{seed}:ticketed").sample(
                    range(customers), round(customers * OPEN_TICKET_RATE)
                )
            ),
        )
        tables = block_write(block, now=now)
    analysed = time.perf_counter()
    tables_analyse(vacuum=True)
    tables["vacuum analyze"] = (0, time.perf_counter() - analysed)
    return Generated(
        pod_ids=tuple(staff.pod_id for staff in staffs),
        customers=customers,
        seconds=time.perf_counter() - started,
        tables=tables,
    )


def split_pod_generate(
    *,
    name: str,
    seed: int,
    now: datetime,
    customers: int = 70_000,
    open_tickets: int = 2_000,
) -> Generated:
    """Add one pod of exactly `customers` customers (at its split threshold), with
    AGENTS_PER_POD agents of mixed tiers and hire dates, ~80% of customers with a
    primary agent and `open_tickets` open tickets; then analyse."""
    started = time.perf_counter()
    rng = random.Random(f"{seed}:split-staff")
    with transaction.atomic():
        pod = pods.services.pod_create(name=name, now=now - timedelta(days=900))
        slug = "bs-" + "".join(ch for ch in name.lower() if ch.isalnum())[-12:]
        staff = staff_pod(pod=pod, slug=slug, rng=rng, now=now)
        block = Block(
            label="split",
            first_id=customer_ids_reserve(customers),
            count=customers,
            staffs=[staff],
            seed=seed,
            start=now - timedelta(days=900),
            end=now - timedelta(days=1),
            ticketed=set(
                random.Random(f"{seed}:split-ticketed").sample(
                    range(customers), open_tickets
                )
            ),
        )
        tables = block_write(block, now=now)
    tables_analyse(vacuum=False)
    return Generated(
        pod_ids=(pod.id,),
        customers=customers,
        seconds=time.perf_counter() - started,
        tables=tables,
    )


def split_pods_remove(*, prefix: str = SPLIT_POD_PREFIX) -> int:
    """Delete pods named with the prefix, the pods split from them, and everything
    of theirs (customers, identities, history, tickets, splits, agents, users), so
    the base volume is left as generated. Return how many pods went.

    Deletes run in one transaction in any order: every foreign key Django makes is
    DEFERRABLE INITIALLY DEFERRED and is checked at commit."""
    statements: list[str] = [
        "CREATE TEMP TABLE gone_pod ON COMMIT DROP AS"
        " WITH RECURSIVE tree AS ("
        "  SELECT id FROM pods_pod WHERE name LIKE %(prefix)s"
        "  UNION SELECT p.id FROM pods_pod p JOIN tree ON p.parent_id = tree.id"
        " ) SELECT id FROM tree",
        "CREATE TEMP TABLE gone_customer ON COMMIT DROP AS"
        " SELECT id FROM pods_customer WHERE pod_id IN (SELECT id FROM gone_pod)",
        "CREATE TEMP TABLE gone_agent ON COMMIT DROP AS"
        " SELECT id, user_id FROM pods_agent"
        " WHERE pod_id IN (SELECT id FROM gone_pod)",
        "CREATE TEMP TABLE gone_split ON COMMIT DROP AS"
        " SELECT id FROM pods_podsplit WHERE source_id IN (SELECT id FROM gone_pod)"
        " OR new_pod_id IN (SELECT id FROM gone_pod)",
        "DELETE FROM tickets_ticket WHERE pod_id IN (SELECT id FROM gone_pod)"
        " OR customer_id IN (SELECT id FROM gone_customer)",
        "DELETE FROM pods_podsplitcustomer"
        " WHERE split_id IN (SELECT id FROM gone_split)",
        "DELETE FROM pods_customerassignment"
        " WHERE customer_id IN (SELECT id FROM gone_customer)",
        "DELETE FROM pods_possibleduplicate"
        " WHERE customer_id IN (SELECT id FROM gone_customer)"
        " OR other_id IN (SELECT id FROM gone_customer)",
        "DELETE FROM pods_customeridentity"
        " WHERE customer_id IN (SELECT id FROM gone_customer)",
        "DELETE FROM pods_customer WHERE id IN (SELECT id FROM gone_customer)",
        "DELETE FROM pods_podsplit WHERE id IN (SELECT id FROM gone_split)",
        "DELETE FROM pods_seat WHERE pod_id IN (SELECT id FROM gone_pod)"
        " OR agent_id IN (SELECT id FROM gone_agent)",
        "DELETE FROM pods_agentkpisnapshot"
        " WHERE agent_id IN (SELECT id FROM gone_agent)",
        "DELETE FROM pods_agent WHERE id IN (SELECT id FROM gone_agent)",
        "DELETE FROM pods_pod WHERE id IN (SELECT id FROM gone_pod)",
        "DELETE FROM auth_user_groups"
        " WHERE user_id IN (SELECT user_id FROM gone_agent)",
        "DELETE FROM auth_user WHERE id IN (SELECT user_id FROM gone_agent)",
    ]
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(statements[0], {"prefix": prefix + "%"})
        for statement in statements[1:]:
            cursor.execute(statement)
        cursor.execute("SELECT count(*) FROM gone_pod")
        (removed,) = cursor.fetchone()
    return removed


def customers_created_since_remove(*, first_id: int) -> int:
    """Delete customers made from `first_id` on (by a benchmark of first contacts)
    with their identities and history, and take them off their pods' counters.
    Return how many went."""
    return _customers_remove(
        "SELECT id, pod_id FROM pods_customer WHERE id >= %s", [first_id]
    )


def first_contacts_remove(*, domain: str) -> int:
    """Delete customers whose email is at `domain` (left by an interrupted
    benchmark of first contacts), as customers_created_since_remove does."""
    return _customers_remove(
        "SELECT c.id, c.pod_id FROM pods_customer c"
        " JOIN pods_customeridentity i ON i.customer_id = c.id"
        " WHERE i.kind = 'EMAIL' AND i.value LIKE %s",
        ["%@" + domain],
    )


def _customers_remove(select_sql: str, params: Sequence[object]) -> int:
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "CREATE TEMP TABLE gone_customer ON COMMIT DROP AS " + select_sql, params
        )
        for statement in (
            "DELETE FROM tickets_ticket"
            " WHERE customer_id IN (SELECT id FROM gone_customer)",
            "DELETE FROM pods_customerassignment"
            " WHERE customer_id IN (SELECT id FROM gone_customer)",
            "DELETE FROM pods_possibleduplicate"
            " WHERE customer_id IN (SELECT id FROM gone_customer)"
            " OR other_id IN (SELECT id FROM gone_customer)",
            "DELETE FROM pods_customeridentity"
            " WHERE customer_id IN (SELECT id FROM gone_customer)",
            "DELETE FROM pods_customer WHERE id IN (SELECT id FROM gone_customer)",
            "UPDATE pods_pod p SET customer_count = p.customer_count - gone.n"
            " FROM (SELECT pod_id, count(*) AS n FROM gone_customer GROUP BY pod_id)"
            " gone WHERE p.id = gone.pod_id",
        ):
            cursor.execute(statement)
        cursor.execute("SELECT count(*) FROM gone_customer")
        (removed,) = cursor.fetchone()
    return removed
