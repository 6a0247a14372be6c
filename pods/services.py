"""Writes of pods: identify and route contacts, agent load and presence, splits,
merges, hiring and proficiency. Every function owns its transaction and takes now=.
"""

import hashlib
import hmac
import itertools
import logging
import math
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.contrib.auth.models import Group, Permission
from django.db import IntegrityError, connection, transaction
from django.db.models import Count, F, Q
from django.db.models.functions import Greatest
from django.utils.translation import gettext

from pods import outbound, rules, selectors
from pods.models import (
    Agent,
    AgentKpiSnapshot,
    Customer,
    CustomerAssignment,
    CustomerIdentity,
    Pod,
    PodSplit,
    PodSplitCustomer,
    PortalLink,
    PortalLinkRequest,
    PossibleDuplicate,
    ProficiencyPolicy,
    Seat,
)

logger = logging.getLogger(__name__)

ROLE_GROUPS = {
    Agent.Role.AGENT: "Agents",
    Agent.Role.LEAD: "Pod leads",
    Agent.Role.SPECIALIST: "Specialists",
}
ADMIN_GROUP = "Admins"
AGENT_PERMISSIONS = [
    "pods.view_pod",
    "pods.view_agent",
    "pods.view_customer",
    "pods.view_customeridentity",
    "pods.view_seat",
]
LEAD_PERMISSIONS = [
    *AGENT_PERMISSIONS,
    "pods.view_podsplit",
    "pods.view_agentkpisnapshot",
    "pods.view_possibleduplicate",
    "pods.view_dashboard",
]
ADMIN_PERMISSIONS = [
    *LEAD_PERMISSIONS,
    "pods.view_all_pods",
    "pods.split_pod",
    "pods.view_proficiencypolicy",
    "pods.view_customerassignment",
    *(
        f"pods.{action}_{model}"
        for model in (
            "pod",
            "agent",
            "seat",
            "customer",
            "customeridentity",
            "possibleduplicate",
            "proficiencypolicy",
        )
        for action in ("add", "change")
    ),
]
ROLE_PERMISSIONS = {
    ROLE_GROUPS[Agent.Role.AGENT]: AGENT_PERMISSIONS,
    ROLE_GROUPS[Agent.Role.SPECIALIST]: AGENT_PERMISSIONS,
    ROLE_GROUPS[Agent.Role.LEAD]: LEAD_PERMISSIONS,
    ADMIN_GROUP: ADMIN_PERMISSIONS,
}


class PodsError(Exception):
    """Base of the errors raised by pods services."""


class InvalidContact(PodsError):
    """The identities on a contact cannot identify anyone."""


class NoPodAvailable(PodsError):
    """No pod is open to new customers."""


class SplitRefused(PodsError):
    """The pod cannot be split now (too few members, or it is closed)."""


class MergeRefused(PodsError):
    """The two customers cannot be merged."""


# --- Identify and route ------------------------------------------------------------


@dataclass(frozen=True)
class Identification:
    customer_id: int
    pod_id: int
    created: bool
    primary_agent_id: int | None = None
    possible_duplicates: tuple[int, ...] = field(default=())


@dataclass(frozen=True)
class Route:
    customer_id: int
    pod_id: int
    agent_id: int | None
    customer_created: bool


def identities_normalise(
    *, identities: Sequence[tuple[str, str]]
) -> list[tuple[str, str]]:
    """Normalise (kind, raw value) pairs, dropping repeats; raise InvalidContact
    when none is usable. Invalid extras are skipped with a log line."""
    region = getattr(settings, "HELPDESK_PHONE_REGION", "GB")
    normalised: list[tuple[str, str]] = []
    problems = []
    for kind, raw in identities:
        try:
            pair = (kind, rules.normalise_identity(kind, raw, default_region=region))
        except rules.InvalidIdentity as exc:
            problems.append(str(exc))
            continue
        if pair not in normalised:
            normalised.append(pair)
    if not normalised:
        raise InvalidContact("; ".join(problems) or "the contact carries no identity")
    if problems:
        logger.info("contact identities skipped: %s", "; ".join(problems))
    return normalised


def customer_identify(
    *,
    identities: Sequence[tuple[str, str]],
    now: datetime,
    display_name: str = "",
    trusted: bool = False,
) -> Identification:
    """Find the customer behind a contact's identities, or create exactly one.

    The first identity that matches decides the customer; identities of other
    customers on the same contact are recorded as possible duplicates, never merged.
    Unknown identities are attached to a found customer only when `trusted` (the
    channel authenticated them). Raises InvalidContact, NoPodAvailable."""
    normalised = identities_normalise(identities=identities)
    known = selectors.owners_by_identities(identities=normalised)
    if known:
        return _identify_known(
            normalised=normalised, known=known, trusted=trusted, now=now
        )
    try:
        return _customer_create(
            normalised=normalised, display_name=display_name, now=now
        )
    except IntegrityError:
        # A concurrent first contact created the customer between our read and our
        # insert; the unique (kind, value) constraint made ours fail. Use theirs.
        known = selectors.owners_by_identities(identities=normalised)
        if not known:
            raise
        return _identify_known(
            normalised=normalised, known=known, trusted=trusted, now=now
        )


def contact_route(
    *,
    identities: Sequence[tuple[str, str]],
    now: datetime,
    display_name: str = "",
    trusted: bool = False,
    lock_customer: bool = False,
) -> Route:
    """Identify the customer, then choose who in their pod takes the contact.

    With lock_customer (call inside the caller's transaction), the customer row is
    held until commit so a concurrent split cannot move them under the new ticket.
    The agent is a suggestion: reserve them with agent_load_take."""
    found = customer_identify(
        identities=identities, now=now, display_name=display_name, trusted=trusted
    )
    if lock_customer:
        owner = selectors.customer_owner(customer_id=found.customer_id, for_update=True)
    else:
        owner = selectors.Owner(
            customer_id=found.customer_id,
            pod_id=found.pod_id,
            primary_agent_id=found.primary_agent_id,
        )
    return Route(
        customer_id=owner.customer_id,
        pod_id=owner.pod_id,
        agent_id=selectors.agent_for_contact(owner=owner),
        customer_created=found.created,
    )


def _identify_known(
    *,
    normalised: list[tuple[str, str]],
    known: dict[tuple[str, str], selectors.Owner],
    trusted: bool,
    now: datetime,
) -> Identification:
    owner = next(known[pair] for pair in normalised if pair in known)
    first = owner.customer_id
    others = tuple(
        sorted({o.customer_id for o in known.values() if o.customer_id != first})
    )
    for other in others:
        evidence = ", ".join(f"{kind.lower()} {value}" for (kind, value) in known)
        _possible_duplicate_record(
            customer_id=first, other_id=other, evidence=evidence, now=now
        )
    if trusted:
        unknown = [pair for pair in normalised if pair not in known]
        _identities_attach(customer_id=first, identities=unknown, now=now)
    return Identification(
        customer_id=first,
        pod_id=owner.pod_id,
        created=False,
        possible_duplicates=others,
        primary_agent_id=owner.primary_agent_id,
    )


def _customer_create(
    *, normalised: list[tuple[str, str]], display_name: str, now: datetime
) -> Identification:
    with transaction.atomic():
        pod_id = rules.choose_pod_for_new_customer(selectors.pod_loads())
        if pod_id is None:
            raise NoPodAvailable("no pod is open to new customers")
        customer = Customer.objects.create(
            pod_id=pod_id, display_name=display_name[:200], created_at=now
        )
        CustomerIdentity.objects.bulk_create(
            CustomerIdentity(customer=customer, kind=kind, value=value, created_at=now)
            for kind, value in normalised
        )
        CustomerAssignment.objects.create(
            customer=customer,
            to_pod_id=pod_id,
            reason=CustomerAssignment.Reason.FIRST_CONTACT,
            at=now,
        )
        _pod_customers_added(pod_id=pod_id, count=1, now=now)
    return Identification(customer_id=customer.id, pod_id=pod_id, created=True)


def _identities_attach(
    *, customer_id: int, identities: list[tuple[str, str]], now: datetime
) -> None:
    for kind, value in identities:
        try:
            with transaction.atomic():
                CustomerIdentity.objects.create(
                    customer_id=customer_id, kind=kind, value=value, created_at=now
                )
        except IntegrityError:
            logger.info("identity %s %s was claimed concurrently", kind, value)


def _possible_duplicate_record(
    *, customer_id: int, other_id: int, evidence: str, now: datetime
) -> None:
    low, high = sorted((customer_id, other_id))
    PossibleDuplicate.objects.bulk_create(
        [
            PossibleDuplicate(
                customer_id=low, other_id=high, evidence=evidence[:400], found_at=now
            )
        ],
        ignore_conflicts=True,
    )


def _pod_customers_added(*, pod_id: int, count: int, now: datetime) -> None:
    """Count new customers in the pod's counter and queue a split once it is due."""
    Pod.objects.filter(id=pod_id).update(customer_count=F("customer_count") + count)
    customers, threshold, state = Pod.objects.values_list(
        "customer_count", "split_threshold", "state"
    ).get(id=pod_id)
    if state == Pod.State.ACTIVE and rules.split_is_due(
        customers=customers, threshold=threshold
    ):
        try:
            pod_split_request(pod_id=pod_id, reason="split threshold reached", now=now)
        except SplitRefused as exc:
            logger.warning("pod %s reached its split threshold but: %s", pod_id, exc)


# --- Agent load and presence ----------------------------------------------------------


def agent_load_take(*, agent_id: int, now: datetime, force: bool = False) -> bool:
    """Count one more open ticket for the agent if they are online and under
    capacity (or always, with force); False when they are not.

    A single conditional UPDATE, so two contacts racing for the last slot cannot
    both take it."""
    agents = Agent.objects.filter(id=agent_id)
    if not force:
        agents = agents.filter(
            presence=Agent.Presence.ONLINE, open_ticket_count__lt=F("capacity")
        )
    return bool(
        agents.update(
            open_ticket_count=F("open_ticket_count") + 1, last_assigned_at=now
        )
    )


def agent_load_release(*, agent_id: int, count: int = 1) -> None:
    """Count `count` open tickets less for the agent (never below zero)."""
    Agent.objects.filter(id=agent_id).update(
        open_ticket_count=Greatest(F("open_ticket_count") - count, 0)
    )


def agent_load_set(*, loads: dict[int, int]) -> int:
    """Reset agents' open-ticket counters to counts taken from tickets; return how
    many were wrong."""
    corrected = 0
    for agent_id, open_tickets in loads.items():
        corrected += (
            Agent.objects.filter(id=agent_id)
            .exclude(open_ticket_count=open_tickets)
            .update(open_ticket_count=open_tickets)
        )
    return corrected


def agent_presence_set(*, agent: Agent, presence: str, now: datetime) -> str:
    """Set the agent's presence; return the previous one."""
    if presence not in Agent.Presence.values:
        raise PodsError(f"unknown presence {presence!r}")
    previous = agent.presence
    agent.presence = presence
    agent.presence_changed_at = now
    agent.save(update_fields=["presence", "presence_changed_at"])
    if previous != presence:
        outbound.agent_presence_announce(
            agent_id=agent.id, pod_id=agent.pod_id, presence=presence
        )
    return previous


def customers_since_backdate(*, since: dict[int, datetime]) -> int:
    """Record that customers have been customers since an earlier time than
    their first contact here (an imported or demo account's age); a date is
    never moved later. Return how many moved."""
    moved = 0
    with transaction.atomic():
        for customer_id, when in sorted(since.items()):
            moved += Customer.objects.filter(
                id=customer_id, created_at__gt=when
            ).update(created_at=when)
    return moved


def customer_primary_agent_set(*, customer_id: int, agent_id: int) -> bool:
    """Record the agent who last settled the customer's case, when that agent is
    in the customer's pod. Return whether it was recorded."""
    agent_pod = (
        Agent.objects.filter(id=agent_id).values_list("pod_id", flat=True).first()
    )
    if agent_pod is None:
        return False
    return bool(
        Customer.objects.filter(id=customer_id, pod_id=agent_pod).update(
            primary_agent_id=agent_id
        )
    )


# --- Pods, seats and hiring ---------------------------------------------------


def pod_create(
    *,
    name: str,
    now: datetime,
    target_size: int = 10,
    split_threshold: int = 70_000,
    reply_address: str = "",
    parent: Pod | None = None,
) -> Pod:
    """Create a pod with one open seat per place of its target size."""
    with transaction.atomic():
        pod = Pod.objects.create(
            name=name,
            target_size=target_size,
            split_threshold=split_threshold,
            reply_address=reply_address,
            parent=parent,
            created_at=now,
        )
        Seat.objects.bulk_create(
            Seat(pod=pod, reason=Seat.Reason.FOUNDING, opened_at=now)
            for _ in range(target_size)
        )
    return pod


def pods_accepting_set(*, pod_ids: Sequence[int], accepting: bool) -> int:
    """Open or close pods to new customers; return how many changed."""
    return Pod.objects.filter(id__in=pod_ids).update(accepts_new_customers=accepting)


@dataclass(frozen=True)
class PodStaffing:
    pod_id: int
    open_seats: int
    tier_mix: dict[str, int]


def agent_hire(
    *,
    user,
    hired_on: date,
    now: datetime,
    role: str = Agent.Role.AGENT,
    pod: Pod | None = None,
    capacity: int = 8,
    tier: str = Agent.Tier.MIDDLE,
) -> Agent:
    """Make the user an agent and seat them: in the given pod, or in the pod with
    the most open seats, preferring the one whose tier mix lacks their tier."""
    with transaction.atomic():
        pod_id = pod.id if pod is not None else _pod_for_hire(tier=tier)
        agent = Agent.objects.create(
            user=user,
            pod_id=pod_id,
            role=role,
            hired_on=hired_on,
            capacity=capacity,
            tier=tier,
        )
        if pod_id is not None:
            _seat_fill(pod_id=pod_id, agent=agent, now=now)
            if role == Agent.Role.LEAD:
                Pod.objects.filter(id=pod_id, lead__isnull=True).update(lead=agent)
        _role_groups_set(user=user, role=role)
    return agent


def _pod_for_hire(*, tier: str) -> int | None:
    pods = (
        Pod.objects.exclude(state=Pod.State.CLOSED)
        .annotate(open_seats=Count("seats", filter=Q(seats__agent__isnull=True)))
        .filter(open_seats__gt=0)
        .values_list("id", "open_seats")
    )
    candidates = []
    for pod_id, open_seats in pods:
        tiers = selectors.active_members(pod_id=pod_id).values_list("tier", flat=True)
        candidates.append((pod_id, open_seats, rules.tier_mix(tiers)))
    if not candidates:
        return None
    best = min(candidates, key=lambda c: (-c[1], c[2].get(tier, 0), c[0]))
    return best[0]


def _seat_fill(*, pod_id: int, agent: Agent, now: datetime) -> None:
    seat = (
        Seat.objects.select_for_update()
        .filter(pod_id=pod_id, agent__isnull=True)
        .order_by("opened_at", "id")
        .first()
    )
    if seat is None:
        seat = Seat(pod_id=pod_id, reason=Seat.Reason.GROWTH, opened_at=now)
    seat.agent = agent
    seat.filled_at = now
    seat.save()


def role_permissions_grant(*, grants: dict[str, Sequence[str]]) -> None:
    """Make sure each role group exists and holds the given permissions
    ("app_label.codename"). Idempotent; each app grants its own after migrate."""
    for group_name, permissions in grants.items():
        group, _ = Group.objects.get_or_create(name=group_name)
        condition = Q(pk__in=[])
        for permission in permissions:
            app_label, codename = permission.split(".", 1)
            condition |= Q(content_type__app_label=app_label, codename=codename)
        group.permissions.add(*Permission.objects.filter(condition))


def _role_groups_set(*, user, role: str) -> None:
    groups = Group.objects.filter(name__in=ROLE_GROUPS.values())
    user.groups.remove(*groups)
    user.groups.add(Group.objects.get(name=ROLE_GROUPS[role]))


# --- Splitting --------------------------------------------------------------------


def pod_split_request(
    *, pod_id: int, now: datetime, reason: str = "", requested_by=None
) -> PodSplit:
    """Queue the split of a pod once; a second request returns the first.

    Raises SplitRefused when the pod has fewer than two members or is closed."""
    existing = PodSplit.objects.filter(source_id=pod_id).exclude(
        state=PodSplit.State.DONE
    )
    if found := existing.first():
        return found
    pod = Pod.objects.get(id=pod_id)
    if pod.state == Pod.State.CLOSED:
        raise SplitRefused(gettext("%(pod)s is closed") % {"pod": pod})
    if selectors.active_members(pod_id=pod_id).count() < 2:
        raise SplitRefused(
            gettext("%(pod)s needs at least two members to split") % {"pod": pod}
        )
    try:
        with transaction.atomic():
            split = PodSplit.objects.create(
                source_id=pod_id,
                requested_by=requested_by,
                reason=reason[:200],
                requested_at=now,
            )
    except IntegrityError:
        return existing.get()
    outbound.pod_split_enqueue(split_id=split.id)
    return split


def pod_split_prepare(*, split_id: int, now: datetime) -> PodSplit:
    """Create the new pod, move its members and seats, and freeze which customers
    will follow. Idempotent: a split past this step is returned unchanged."""
    with transaction.atomic():
        split = PodSplit.objects.select_for_update().get(id=split_id)
        if split.state != PodSplit.State.QUEUED:
            return split
        source = Pod.objects.select_for_update().get(id=split.source_id)
        try:
            plan = selectors.pod_split_plan(pod=source)
        except rules.CannotSplit as exc:
            raise SplitRefused(str(exc)) from exc
        new_pod = Pod.objects.create(
            name=_child_pod_name(source),
            lead_id=plan.members.new_lead_id,
            target_size=source.target_size,
            split_threshold=source.split_threshold,
            state=Pod.State.SPLITTING,
            accepts_new_customers=False,
            parent=source,
            time_zone=source.time_zone,
            created_at=now,
        )
        _members_move(plan=plan, source=source, new_pod=new_pod)
        seats_opened = _seats_open_to_target(
            pod=source, now=now
        ) + _seats_open_to_target(pod=new_pod, now=now)
        _split_customers_freeze(split=split, source=source, plan=plan)
        source.state = Pod.State.SPLITTING
        source.save(update_fields=["state"])
        split.new_pod = new_pod
        split.state = PodSplit.State.MOVING
        split.started_at = now
        split.customers_before = plan.customers_total
        split.agents_moved = len(plan.members.moving)
        split.seats_opened = seats_opened
        split.plan = {
            "new_lead": plan.members.new_lead_id,
            "moving_agents": list(plan.members.moving),
            "staying_agents": list(plan.members.staying),
            "customers_to_move": plan.customers.moved_total,
            "followers_moving": plan.customers.followers_moving,
            "unowned_moving": plan.customers.unowned,
            "followers_of_staying_moving": plan.customers.followers_staying,
            "tier_mix_before": plan.tier_mix_before,
            "tier_mix_staying": plan.tier_mix_staying,
            "tier_mix_moving": plan.tier_mix_moving,
        }
        split.save()
    return split


def _child_pod_name(source: Pod) -> str:
    """Name a new pod after its root: "Mercury" begets "Mercury 2", "Mercury 3"."""
    root = source.name.rsplit(" ", 1)[0] if source.parent_id else source.name
    for number in itertools.count(2):
        name = f"{root} {number}"
        if not Pod.objects.filter(name=name).exists():
            return name
    raise AssertionError("unreachable")


def _members_move(*, plan: selectors.SplitPlan, source: Pod, new_pod: Pod) -> None:
    moving = plan.members.moving
    Agent.objects.filter(id__in=moving).update(pod=new_pod)
    Seat.objects.filter(agent_id__in=moving).update(pod=new_pod)
    new_lead = Agent.objects.select_related("user").get(id=plan.members.new_lead_id)
    if new_lead.role != Agent.Role.LEAD:
        new_lead.role = Agent.Role.LEAD
        new_lead.save(update_fields=["role"])
        _role_groups_set(user=new_lead.user, role=Agent.Role.LEAD)


def _seats_open_to_target(*, pod: Pod, now: datetime) -> int:
    members = Seat.objects.filter(pod=pod, agent__isnull=False).count()
    open_seats = Seat.objects.filter(pod=pod, agent__isnull=True).count()
    missing = rules.seats_to_open(
        target_size=pod.target_size, members=members, open_seats=open_seats
    )
    Seat.objects.bulk_create(
        Seat(pod=pod, reason=Seat.Reason.SPLIT, opened_at=now) for _ in range(missing)
    )
    return missing


def _split_customers_freeze(
    *, split: PodSplit, source: Pod, plan: selectors.SplitPlan
) -> None:
    """Write the planned customers with INSERT ... SELECT: 35k ids never pass
    through Python."""
    categories = selectors.split_customer_categories(pod=source, division=plan.members)
    quotas = {
        "follow_moving": plan.customers.followers_moving,
        "unowned": plan.customers.unowned,
        "follow_staying": plan.customers.followers_staying,
    }
    table = PodSplitCustomer._meta.db_table
    for name, quota in quotas.items():
        if quota <= 0:
            continue
        chosen = categories[name].order_by("id").values("id")[:quota]
        select_sql, params = chosen.query.sql_with_params()
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {table} (split_id, customer_id) "  # noqa: S608 - table name from model meta
                f"SELECT %s, chosen.id FROM ({select_sql}) chosen",
                [split.id, *params],
            )


@dataclass(frozen=True)
class SplitBatch:
    customer_ids: list[int]
    new_pod_id: int
    moving_agent_ids: tuple[int, ...]


def pod_split_move_batch(
    *, split: PodSplit, limit: int, now: datetime, after: int = 0
) -> SplitBatch:
    """Move the next planned customers (ids above `after`) to the new pod, with
    their history rows.

    Call inside the caller's transaction, so whatever follows the customers (their
    open tickets) moves in the same commit. An empty batch means all have moved."""
    # A duplicate delivery of the split task may run this split alongside. Holding
    # the split row until commit makes their batches take turns: each reads which
    # customers are still to move only after the other's batch has committed, so
    # no customer is counted (or its counter moved) twice.
    PodSplit.objects.select_for_update().values_list("id").get(id=split.id)
    moving_agents = tuple(split.plan.get("moving_agents", ()))
    ids = selectors.split_planned_customer_ids(split=split, limit=limit, after=after)
    batch = SplitBatch(
        customer_ids=ids, new_pod_id=split.new_pod_id, moving_agent_ids=moving_agents
    )
    if not ids:
        return batch
    if connection.vendor == "postgresql":
        _split_batch_move_sql(
            split=split, ids=ids, moving_agents=moving_agents, now=now
        )
    else:
        _split_batch_move_orm(
            split=split, ids=ids, moving_agents=moving_agents, now=now
        )
    Pod.objects.filter(id=split.source_id).update(
        customer_count=F("customer_count") - len(ids)
    )
    Pod.objects.filter(id=split.new_pod_id).update(
        customer_count=F("customer_count") + len(ids)
    )
    PodSplit.objects.filter(id=split.id).update(
        customers_moved=F("customers_moved") + len(ids)
    )
    return batch


def _split_batch_move_sql(
    *, split: PodSplit, ids: list[int], moving_agents: tuple[int, ...], now: datetime
) -> None:
    # One statement per table, the ids as one array parameter: no model instances
    # and no 5,000-placeholder IN lists to compile.
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {Customer._meta.db_table} SET pod_id = %s,"  # noqa: S608 - table from model meta
            " primary_agent_id = CASE WHEN primary_agent_id = ANY(%s)"
            " THEN primary_agent_id END"
            " WHERE id = ANY(%s) AND pod_id = %s",
            [split.new_pod_id, list(moving_agents), ids, split.source_id],
        )
        cursor.execute(
            f"INSERT INTO {CustomerAssignment._meta.db_table}"  # noqa: S608 - table from model meta
            " (customer_id, from_pod_id, to_pod_id, split_id, reason, at)"
            " SELECT moved, %s, %s, %s, %s, %s FROM unnest(%s::bigint[]) AS moved"
            " ON CONFLICT DO NOTHING",
            [
                split.source_id,
                split.new_pod_id,
                split.id,
                CustomerAssignment.Reason.SPLIT,
                now,
                ids,
            ],
        )


def _split_batch_move_orm(
    *, split: PodSplit, ids: list[int], moving_agents: tuple[int, ...], now: datetime
) -> None:
    """The same moves for the embedded SQLite default (no arrays, no unnest)."""
    moved = Customer.objects.filter(id__in=ids, pod_id=split.source_id)
    # Customers whose agent stays lose their primary agent; followers keep theirs.
    moved.exclude(primary_agent_id__in=moving_agents).update(
        pod_id=split.new_pod_id, primary_agent=None
    )
    moved.update(pod_id=split.new_pod_id)
    CustomerAssignment.objects.bulk_create(
        (
            CustomerAssignment(
                customer_id=customer_id,
                from_pod_id=split.source_id,
                to_pod_id=split.new_pod_id,
                split=split,
                reason=CustomerAssignment.Reason.SPLIT,
                at=now,
            )
            for customer_id in ids
        ),
        batch_size=2000,
        ignore_conflicts=True,
    )


def pod_split_tickets_moved(*, split: PodSplit, count: int) -> None:
    """Count tickets that followed their customers (told by tickets)."""
    PodSplit.objects.filter(id=split.id).update(
        tickets_moved=F("tickets_moved") + count
    )


def pod_split_finish(*, split_id: int, now: datetime) -> PodSplit:
    """Open both pods again, with customer counts recounted exactly. Idempotent."""
    with transaction.atomic():
        split = PodSplit.objects.select_for_update().get(id=split_id)
        if split.state == PodSplit.State.DONE:
            return split
        if split.state != PodSplit.State.MOVING:
            raise SplitRefused(f"split {split_id} has not been prepared")
        pods = Pod.objects.select_for_update().filter(
            id__in=[split.source_id, split.new_pod_id]
        )
        for pod in pods:
            pod.customer_count = Customer.objects.active().filter(pod=pod).count()
            pod.state = Pod.State.ACTIVE
            pod.accepts_new_customers = True
            pod.save(update_fields=["customer_count", "state", "accepts_new_customers"])
        split.state = PodSplit.State.DONE
        split.finished_at = now
        split.save(update_fields=["state", "finished_at"])
    outbound.pod_split_announce(split_id=split.id)
    return split


def pod_split_requeue(*, split_ids: Sequence[int]) -> None:
    for split_id in split_ids:
        outbound.pod_split_enqueue(split_id=split_id)


# --- Counters -----------------------------------------------------------------------


def pod_customer_counts_reconcile(*, now: datetime) -> dict[int, tuple[int, int]]:
    """Prove each pod's customer counter right against a COUNT, fixing any drift.

    Each pod row is locked while it is counted, so customers added meanwhile wait
    instead of being counted twice. Return {pod_id: (counter, actual)} of fixes."""
    corrections = {}
    for pod_id in Pod.objects.values_list("id", flat=True):
        with transaction.atomic():
            counter = (
                Pod.objects.select_for_update()
                .values_list("customer_count", flat=True)
                .get(id=pod_id)
            )
            actual = Customer.objects.active().filter(pod_id=pod_id).count()
            if counter != actual:
                Pod.objects.filter(id=pod_id).update(customer_count=actual)
                corrections[pod_id] = (counter, actual)
    if corrections:
        logger.warning("pod customer counters corrected: %s", corrections)
    return corrections


# --- Merging -----------------------------------------------------------------------


def customer_merge(*, source_id: int, target_id: int, now: datetime) -> Customer:
    """Move the source customer's identities and history onto the target and mark
    the source merged. Call inside the caller's transaction when other apps move
    their rows too (tickets do). Raises MergeRefused."""
    if source_id == target_id:
        raise MergeRefused("a customer cannot be merged into themselves")
    with transaction.atomic():
        # Lock both rows in id order so two opposite merges cannot deadlock.
        locked = {
            c.id: c
            for c in Customer.objects.select_for_update()
            .filter(id__in=[source_id, target_id])
            .order_by("id")
        }
        source, target = locked.get(source_id), locked.get(target_id)
        if source is None or target is None:
            raise MergeRefused("both customers must exist")
        if source.merged_into_id or target.merged_into_id:
            raise MergeRefused("one of the customers was already merged")
        CustomerIdentity.objects.filter(customer=source).update(customer=target)
        CustomerAssignment.objects.filter(customer=source).update(customer=target)
        if target.primary_agent_id is None and source.pod_id == target.pod_id:
            target.primary_agent_id = source.primary_agent_id
            target.save(update_fields=["primary_agent"])
        source.merged_into = target
        source.save(update_fields=["merged_into"])
        target.absorbed_ids = sorted(
            {*(target.absorbed_ids or ()), source.id, *(source.absorbed_ids or ())}
        )
        target.save(update_fields=["absorbed_ids"])
        Pod.objects.filter(id=source.pod_id).update(
            customer_count=F("customer_count") - 1
        )
        low, high = sorted((source_id, target_id))
        PossibleDuplicate.objects.filter(customer_id=low, other_id=high).update(
            resolved_at=now, resolution="MERGED"
        )
    return target


# --- Proficiency --------------------------------------------------------------------


# The demo's agents handle a few contacts a week, not forty a day: scored
# against a production policy every one of them would be Low.
DEMO_POLICY_TARGETS = {
    "contacts_per_day_target": Decimal("0.5"),
    "handle_minutes_target": Decimal("30"),
}


def proficiency_policy_demo_seed(*, now: datetime) -> ProficiencyPolicy:
    """Scale the active policy to the demo's volume, unless an admin has
    already changed it from the defaults."""
    policy = proficiency_policy_active(now=now)
    untouched = all(
        getattr(policy, name) == ProficiencyPolicy._meta.get_field(name).default
        for name in DEMO_POLICY_TARGETS
    )
    if untouched:
        for name, value in DEMO_POLICY_TARGETS.items():
            setattr(policy, name, value)
        policy.name = "Demo policy (scaled to the demo's volume)"
        policy.updated_at = now
        policy.save()
    return policy


def proficiency_policy_active(*, now: datetime) -> ProficiencyPolicy:
    policy = ProficiencyPolicy.objects.filter(is_active=True).first()
    if policy is None:
        policy, _ = ProficiencyPolicy.objects.get_or_create(
            is_active=True, defaults={"updated_at": now}
        )
    return policy


def scoring_policy(policy: ProficiencyPolicy) -> rules.ScoringPolicy:
    return rules.ScoringPolicy(
        contacts_per_day=(
            policy.contacts_per_day_target,
            policy.contacts_per_day_weight,
        ),
        handle_minutes=(policy.handle_minutes_target, policy.handle_minutes_weight),
        csat=(policy.csat_target, policy.csat_weight),
        one_touch=(policy.one_touch_target, policy.one_touch_weight),
        cap=policy.score_cap,
        middle_from=policy.middle_from,
        high_from=policy.high_from,
    )


def agent_proficiency_record(
    *,
    agent_id: int,
    contacts_per_day: Decimal,
    handle_minutes: Decimal | None,
    csat: Decimal | None,
    one_touch_rate: Decimal | None,
    period_start: date,
    period_end: date,
    now: datetime,
) -> AgentKpiSnapshot:
    """Score the agent's KPIs for a period and set their tier; a rerun for the same
    period replaces its reading."""
    kpis = rules.Kpis(
        contacts_per_day=contacts_per_day,
        handle_minutes=handle_minutes,
        csat=csat,
        one_touch_rate=one_touch_rate,
    )
    policy = scoring_policy(proficiency_policy_active(now=now))
    score = rules.proficiency_score(kpis, policy)
    tier = rules.proficiency_tier(score, policy)
    with transaction.atomic():
        snapshot, _ = AgentKpiSnapshot.objects.update_or_create(
            agent_id=agent_id,
            period_end=period_end,
            defaults={
                "period_start": period_start,
                "contacts_per_day": kpis.contacts_per_day,
                "handle_minutes": kpis.handle_minutes,
                "csat": kpis.csat,
                "one_touch_rate": kpis.one_touch_rate,
                "score": score,
                "tier": tier,
                "computed_at": now,
            },
        )
        Agent.objects.filter(id=agent_id).update(proficiency_score=score, tier=tier)
    return snapshot


# --- Live events for the apps above ------------------------------------------------


def pod_event_publish(*, pod_id: int, event: dict) -> None:
    """Send a live event to everyone watching the pod, after commit. The apps above
    pods publish through here so websocket group names live in one place."""
    outbound.broadcast_on_commit(outbound.pod_group(pod_id), event)


def user_event_publish(*, user_id: int, event: dict) -> None:
    """Send a live event to one user's open pages, after commit."""
    outbound.broadcast_on_commit(outbound.user_group(user_id), event)


# --- Customer portal: one-time sign-in links ----------------------------------------

PORTAL_TOKEN_BYTES = 32  # 256 bits from secrets: never guessable, never derived


class PortalRateLimited(PodsError):
    """The client address asked for too many sign-in links; retry after."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"too many sign-in links asked for; retry in {retry_after}s")
        self.retry_after = retry_after


class PortalLinkInvalid(PodsError):
    """The sign-in link is unknown, used, superseded or expired."""


@dataclass(frozen=True)
class PortalSignIn:
    customer_id: int
    identity_id: int


def portal_requester_hash(address: str) -> str:
    """A keyed hash of a client address: counted without being kept."""
    key = settings.SECRET_KEY.encode()
    return hmac.new(key, f"portal:{address}".encode(), hashlib.sha256).hexdigest()


def portal_link_request(
    *, email: str, requester_ip: str, now: datetime, language: str = ""
) -> bool:
    """Send a sign-in link to a known email identity; return whether one went.

    The caller answers the same whatever this returns (no enumeration). Every
    accepted request counts against the client address: over its limit this
    raises PortalRateLimited and writes nothing. An address that already had
    its links this hour silently gets none. A new link supersedes the
    customer's unused ones."""
    portal = settings.HELPDESK_PORTAL
    requester = portal_requester_hash(requester_ip)
    with transaction.atomic():
        _portal_requester_count(requester=requester, now=now)
        try:
            value = rules.normalise_identity("EMAIL", email)
        except rules.InvalidIdentity:
            return False
        identity = (
            CustomerIdentity.objects.select_for_update()
            .filter(kind=CustomerIdentity.Kind.EMAIL, value=value)
            .first()
        )
        if identity is None:
            return False
        facts = selectors.customer_facts(customer_id=identity.customer_id)
        window = timedelta(minutes=portal["ADDRESS_WINDOW_MINUTES"])
        sent = selectors.portal_links_since(identity_id=identity.id, since=now - window)
        if facts is None or sent >= portal["LINKS_PER_ADDRESS"]:
            logger.info("no portal link for identity %s: %s sent", identity.id, sent)
            return False
        PortalLink.objects.filter(
            customer_id__in=facts.family_ids,
            used_at__isnull=True,
            superseded_at__isnull=True,
        ).update(superseded_at=now)
        token = secrets.token_urlsafe(PORTAL_TOKEN_BYTES)
        link = PortalLink.objects.create(
            token_hash=selectors.portal_token_hash(token),
            customer_id=facts.customer_id,
            identity=identity,
            requester_hash=requester,
            language=language[:16],
            created_at=now,
            expires_at=now + timedelta(minutes=portal["LINK_MINUTES"]),
        )
        outbound.portal_link_send(link_id=link.id, token=token)
    return True


def _portal_requester_count(*, requester: str, now: datetime) -> None:
    """Count one request of the client address in its sliding window, or raise
    PortalRateLimited with the seconds until its oldest request leaves it."""
    portal = settings.HELPDESK_PORTAL
    window = timedelta(minutes=portal["IP_WINDOW_MINUTES"])
    recent = selectors.portal_requests_since(
        requester_hash=requester, since=now - window
    )
    if len(recent) >= portal["LINKS_PER_IP"]:
        wait = (recent[-portal["LINKS_PER_IP"]] + window - now).total_seconds()
        raise PortalRateLimited(retry_after=max(1, math.ceil(wait)))
    PortalLinkRequest.objects.create(requester_hash=requester, requested_at=now)


def portal_link_redeem(*, token: str, now: datetime) -> PortalSignIn:
    """Use a sign-in link: once, before it expires, while it is the customer's
    newest. Signs in the customer the link's customer is now (a merge since
    the link was sent signs in the survivor). Raises PortalLinkInvalid."""
    with transaction.atomic():
        link = (
            PortalLink.objects.select_for_update()
            .filter(token_hash=selectors.portal_token_hash(token))
            .first()
        )
        if (
            link is None
            or link.used_at is not None
            or link.superseded_at is not None
            or link.expires_at <= now
        ):
            raise PortalLinkInvalid("this sign-in link has expired or was used")
        link.used_at = now
        link.save(update_fields=["used_at"])
        facts = selectors.portal_customer(
            customer_id=link.customer_id, identity_id=link.identity_id
        )
        if facts is None:
            raise PortalLinkInvalid("this sign-in link's address is no longer known")
    return PortalSignIn(customer_id=facts.customer_id, identity_id=link.identity_id)


PORTAL_LINKS_KEPT = timedelta(days=30)


def portal_links_prune(*, now: datetime) -> int:
    """Delete sign-in links and link requests no limit or audit needs any more
    (older than PORTAL_LINKS_KEPT, far past every window); return how many."""
    before = now - PORTAL_LINKS_KEPT
    links, _ = PortalLink.objects.filter(created_at__lt=before).delete()
    asks, _ = PortalLinkRequest.objects.filter(requested_at__lt=before).delete()
    return links + asks
