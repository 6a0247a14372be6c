"""Reads of pods: who owns a customer, who should take a contact, pod figures."""

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.conf import settings
from django.db.models import Case, Count, F, Q, QuerySet, When

from pods import rules
from pods.models import (
    Agent,
    Customer,
    CustomerIdentity,
    Pod,
    PodSplit,
    PodSplitCustomer,
    PortalLink,
    PortalLinkRequest,
    Seat,
)
from pods.rules import CannotSplit

__all__ = ["CannotSplit"]  # raised by pod_split_plan, caught by callers

ACTIVE_AGENT_ROLES = (Agent.Role.AGENT, Agent.Role.LEAD)


def active_members(*, pod_id: int) -> QuerySet[Agent]:
    return Agent.objects.filter(
        pod_id=pod_id, left_on__isnull=True, user__is_active=True
    ).select_related("user")


def pod_loads() -> list[rules.PodLoad]:
    """Customers and active agents of every pod open to new customers."""
    pods = Pod.objects.filter(
        state=Pod.State.ACTIVE, accepts_new_customers=True
    ).annotate(
        active_agents=Count(
            "members",
            filter=Q(
                members__left_on__isnull=True,
                members__role__in=ACTIVE_AGENT_ROLES,
                members__user__is_active=True,
            ),
        )
    )
    return [
        rules.PodLoad(
            pod_id=pod.id, customers=pod.customer_count, active_agents=pod.active_agents
        )
        for pod in pods.only("id", "customer_count")
    ]


def owners_by_identities(
    *, identities: Sequence[tuple[str, str]]
) -> dict[tuple[str, str], "Owner"]:
    """Map each known (kind, normalised value) to the pod and primary agent of its
    customer, in one query; merged customers resolve to the customer they were
    merged into (one more query, only for them)."""
    if not identities:
        return {}
    condition = Q()
    for kind, value in identities:
        condition |= Q(kind=kind, value=value)
    found = (
        CustomerIdentity.objects.filter(condition)
        .order_by()
        .values_list(
            "kind",
            "value",
            "customer_id",
            "customer__merged_into_id",
            "customer__pod_id",
            "customer__primary_agent_id",
        )
    )
    return {
        (kind, value): (
            customer_owner(customer_id=merged)
            if merged
            else Owner(customer_id=customer, pod_id=pod, primary_agent_id=primary)
        )
        for kind, value, customer, merged, pod, primary in found
    }


def customers_by_identities(
    *, identities: Sequence[tuple[str, str]]
) -> dict[tuple[str, str], int]:
    """Map each known (kind, normalised value) to its customer id; merged customers
    resolve to the customer they were merged into."""
    if not identities:
        return {}
    condition = Q()
    for kind, value in identities:
        condition |= Q(kind=kind, value=value)
    found = CustomerIdentity.objects.filter(condition).values_list(
        "kind", "value", "customer_id", "customer__merged_into_id"
    )
    return {
        (kind, value): merged or customer for kind, value, customer, merged in found
    }


@dataclass(frozen=True)
class Owner:
    customer_id: int
    pod_id: int
    primary_agent_id: int | None


def customer_owner(*, customer_id: int, for_update: bool = False) -> Owner:
    """The pod and primary agent that own a customer.

    With for_update (inside a transaction), the customer row stays locked until
    commit, so a pod split cannot move the customer between this read and the
    write that depends on it (a ticket created in the old pod after the move)."""
    customers = Customer.objects.all()
    if for_update:
        customers = customers.select_for_update()
    pod_id, primary_agent_id = customers.values_list("pod_id", "primary_agent_id").get(
        id=customer_id
    )
    return Owner(
        customer_id=customer_id, pod_id=pod_id, primary_agent_id=primary_agent_id
    )


def agent_loads(*, pod_id: int) -> list[rules.AgentLoad]:
    """Every agent of the pod who could take a contact now, least recently
    assigned first."""
    agents = (
        Agent.objects.filter(
            pod_id=pod_id,
            presence=Agent.Presence.ONLINE,
            left_on__isnull=True,
            role__in=(*ACTIVE_AGENT_ROLES, Agent.Role.SPECIALIST),
        )
        .order_by("last_assigned_at", "id")
        .values_list("id", "presence", "open_ticket_count", "capacity")
    )
    return [
        rules.AgentLoad(
            agent_id=agent_id,
            presence=presence,
            open_tickets=open_tickets,
            capacity=capacity,
            last_assigned_rank=rank,
        )
        for rank, (agent_id, presence, open_tickets, capacity) in enumerate(agents)
    ]


def agent_for_contact(*, owner: Owner) -> int | None:
    """The agent who should take this customer's contact, or None for the queue."""
    members = agent_loads(pod_id=owner.pod_id)
    # An agent who is not online cannot take the contact anyway, so the previous
    # agent is looked for among the online members: no query of their own.
    previous = next(
        (agent for agent in members if agent.agent_id == owner.primary_agent_id), None
    )
    return rules.choose_agent(previous=previous, members=members)


def home_pod_id(*, user_id: int) -> int | None:
    """The pod a user works in as an agent, or None."""
    return (
        Agent.objects.filter(user_id=user_id).values_list("pod_id", flat=True).first()
    )


def agent_for_user(*, user_id: int) -> Agent | None:
    return Agent.objects.select_related("pod").filter(user_id=user_id).first()


def pod_list() -> QuerySet[Pod]:
    return (
        Pod.objects.exclude(state=Pod.State.CLOSED)
        .select_related("lead__user")
        .annotate(
            member_count=Count(
                "members", filter=Q(members__left_on__isnull=True), distinct=True
            ),
            open_seat_count=Count(
                "seats", filter=Q(seats__agent__isnull=True), distinct=True
            ),
        )
        .order_by("name", "id")
    )


def pod_detail(*, pod_id: int) -> Pod:
    return Pod.objects.select_related("lead__user", "parent").get(id=pod_id)


def pod_visible_to(*, user, pod_id: int, perm: str) -> Pod | None:
    """The pod when `user` holds `perm` on it (the permission backend decides),
    else None: callers answer 404 alike for another pod and a missing one."""
    try:
        pod = pod_detail(pod_id=pod_id)
    except Pod.DoesNotExist:
        return None
    return pod if user.has_perm(perm, pod) else None


MEMBER_ROLE_ORDER = (Agent.Role.LEAD, Agent.Role.AGENT, Agent.Role.SPECIALIST)


def pod_members(*, pod_id: int) -> QuerySet[Agent]:
    """The pod's current members: its lead first, then by role (leads, agents,
    specialists) and name."""
    return (
        Agent.objects.filter(pod_id=pod_id, left_on__isnull=True)
        .select_related("user")
        .annotate(
            is_pod_lead=Case(When(pod__lead=F("pk"), then=0), default=1),
            role_rank=Case(
                *(
                    When(role=role, then=rank)
                    for rank, role in enumerate(MEMBER_ROLE_ORDER)
                ),
                default=len(MEMBER_ROLE_ORDER),
            ),
        )
        .order_by(
            "is_pod_lead",
            "role_rank",
            "user__last_name",
            "user__first_name",
            "user__username",
            "id",
        )
    )


def pod_open_seats(*, pod_id: int) -> QuerySet[Seat]:
    return Seat.objects.filter(pod_id=pod_id, agent__isnull=True).order_by(
        "opened_at", "id"
    )


def pod_splits(*, pod_id: int) -> QuerySet[PodSplit]:
    return (
        PodSplit.objects.filter(Q(source_id=pod_id) | Q(new_pod_id=pod_id))
        .select_related("source", "new_pod")
        .order_by("-requested_at", "-id")
    )


def split_for_run(*, split_id: int) -> PodSplit:
    return PodSplit.objects.select_related("source__lead", "new_pod__lead").get(
        id=split_id
    )


def split_planned_customer_ids(
    *, split: PodSplit, limit: int, after: int = 0
) -> list[int]:
    """The next planned customers still in the source pod, in id order, from
    after `after` (the last id of the previous batch: earlier ids are not scanned
    again)."""
    return list(
        PodSplitCustomer.objects.filter(
            split=split, customer_id__gt=after, customer__pod_id=split.source_id
        )
        .order_by("customer_id")
        .values_list("customer_id", flat=True)[:limit]
    )


def customer_lookup(*, kind: str, value: str) -> Customer | None:
    identity = (
        CustomerIdentity.objects.select_related(
            "customer__pod", "customer__primary_agent__user"
        )
        .filter(kind=kind, value=value)
        .first()
    )
    if identity is None:
        return None
    customer = identity.customer
    while customer.merged_into_id is not None:
        customer = Customer.objects.select_related("pod", "primary_agent__user").get(
            id=customer.merged_into_id
        )
    return customer


def splits_stalled(*, requested_before) -> list[int]:
    """Unfinished splits requested before the given time (to queue them again)."""
    return list(
        PodSplit.objects.exclude(state=PodSplit.State.DONE)
        .filter(requested_at__lt=requested_before)
        .values_list("id", flat=True)
    )


@dataclass(frozen=True)
class RoutePreview:
    customer_id: int | None
    pod_id: int | None
    agent_id: int | None
    new_customer: bool

    def as_dict(self) -> dict:
        return {
            "customer": self.customer_id,
            "pod": self.pod_id,
            "agent": self.agent_id,
            "new_customer": self.new_customer,
        }


def route_preview(*, identities: Sequence[tuple[str, str]]) -> RoutePreview:
    """Where a contact with these normalised identities would be routed now."""
    known = customers_by_identities(identities=identities)
    if not known:
        pod_id = rules.choose_pod_for_new_customer(pod_loads())
        return RoutePreview(
            customer_id=None, pod_id=pod_id, agent_id=None, new_customer=True
        )
    first = next(known[pair] for pair in identities if pair in known)
    owner = customer_owner(customer_id=first)
    return RoutePreview(
        customer_id=first,
        pod_id=owner.pod_id,
        agent_id=agent_for_contact(owner=owner),
        new_customer=False,
    )


@dataclass(frozen=True)
class SplitPlan:
    members: rules.MemberDivision
    customers: rules.CustomerDivision
    customers_total: int
    tier_mix_before: dict[str, int]
    tier_mix_staying: dict[str, int]
    tier_mix_moving: dict[str, int]


def pod_split_plan(*, pod: Pod) -> SplitPlan:
    """What a split of the pod would do now, without changing anything.

    Raises rules.CannotSplit."""
    facts = list(active_members(pod_id=pod.id).order_by("hired_on", "id"))
    # Counted from the pod's customers (index on pod, primary agent), not by joining
    # agents to every customer they are primary for.
    books = dict(
        Customer.objects.active()
        .filter(pod_id=pod.id)
        .order_by()
        .values_list("primary_agent_id")
        .annotate(n=Count("id"))
        .values_list("primary_agent_id", "n")
    )
    for agent in facts:
        agent.books = books.get(agent.id, 0)
    # Seniority is the hire date: members hired the same day share a rank, so the
    # rule breaks their tie by proficiency, not by row id.
    hire_ranks = {
        hired_on: rank
        for rank, hired_on in enumerate(sorted({agent.hired_on for agent in facts}))
    }
    members = [
        rules.Member(
            agent_id=agent.id,
            role=agent.role,
            tier=agent.tier,
            hired_rank=hire_ranks[agent.hired_on],
            score=agent.proficiency_score,
            primary_customers=agent.books,
        )
        for agent in facts
    ]
    division = rules.divide_members(members=members, lead_id=pod.lead_id)
    follow_moving = sum(books.get(a, 0) for a in division.moving)
    follow_staying = sum(books.get(a, 0) for a in division.staying)
    counts = {
        "follow_moving": follow_moving,
        "unowned": sum(books.values()) - follow_moving - follow_staying,
        "follow_staying": follow_staying,
    }
    customers = rules.divide_customers(total=sum(counts.values()), **counts)
    tiers = {m.agent_id: m.tier for m in members}
    return SplitPlan(
        members=division,
        customers=customers,
        customers_total=sum(counts.values()),
        tier_mix_before=rules.tier_mix(tiers.values()),
        tier_mix_staying=rules.tier_mix(tiers[a] for a in division.staying),
        tier_mix_moving=rules.tier_mix(tiers[a] for a in division.moving),
    )


def split_customer_categories(*, pod: Pod, division: rules.MemberDivision) -> dict:
    base = Customer.objects.active().filter(pod_id=pod.id)
    return {
        "follow_moving": base.filter(primary_agent_id__in=division.moving),
        "unowned": base.exclude(primary_agent_id__in=division.moving).exclude(
            primary_agent_id__in=division.staying
        ),
        "follow_staying": base.filter(primary_agent_id__in=division.staying),
    }


def pod_by_id_or_name(*, reference: str) -> Pod | None:
    pods = Pod.objects.all()
    if reference.isdigit():
        return pods.filter(id=int(reference)).first()
    return pods.filter(name=reference).first()


def pod_lead_user_id(*, pod_id: int) -> int | None:
    """The user id of the pod's lead, to notify them directly."""
    return (
        Pod.objects.filter(id=pod_id, lead__isnull=False)
        .values_list("lead__user_id", flat=True)
        .first()
    )


def customer_identities(*, customer_id: int) -> list[tuple[str, str]]:
    """The customer's identities (kind, normalised value), oldest first."""
    return list(
        CustomerIdentity.objects.filter(customer_id=customer_id)
        .order_by("id")
        .values_list("kind", "value")
    )


@dataclass(frozen=True)
class AgentBrief:
    id: int
    user_id: int
    pod_id: int | None
    name: str


def agent_brief(*, agent_id: int) -> AgentBrief | None:
    """Who an active agent is and where they work, in one read."""
    row = (
        Agent.objects.filter(id=agent_id, left_on__isnull=True, user__is_active=True)
        .values_list(
            "id",
            "user_id",
            "pod_id",
            "user__first_name",
            "user__last_name",
            "user__username",
        )
        .first()
    )
    if row is None:
        return None
    agent, user, pod, first, last, username = row
    return AgentBrief(
        id=agent, user_id=user, pod_id=pod, name=f"{first} {last}".strip() or username
    )


def agents_of_pods(*, pod_ids: Sequence[int] | None) -> list[AgentBrief]:
    """The current members of these pods (None: of every pod), by pod and name,
    in one read."""
    agents = Agent.objects.filter(left_on__isnull=True, pod__isnull=False)
    if pod_ids is not None:
        agents = agents.filter(pod_id__in=list(pod_ids))
    rows = agents.order_by(
        "pod_id", "user__first_name", "user__last_name", "user__username", "id"
    ).values_list(
        "id",
        "user_id",
        "pod_id",
        "user__first_name",
        "user__last_name",
        "user__username",
    )
    return [
        AgentBrief(
            id=agent,
            user_id=user,
            pod_id=pod,
            name=f"{first} {last}".strip() or username,
        )
        for agent, user, pod, first, last, username in rows
    ]


@dataclass(frozen=True)
class CustomerFacts:
    customer_id: int
    pod_id: int
    pod_time_zone: str
    segment: str
    created_at: datetime
    display_name: str
    absorbed_ids: tuple[int, ...] = ()

    @property
    def family_ids(self) -> tuple[int, ...]:
        """This customer and every one merged into them: whose history is theirs."""
        return (self.customer_id, *self.absorbed_ids)


def customer_facts(*, customer_id: int) -> CustomerFacts | None:
    """What the authority engine needs to know of a customer, in one read (a
    merged customer answers for the one it was merged into)."""
    row = (
        Customer.objects.filter(id=customer_id)
        .values_list(
            "id",
            "merged_into_id",
            "pod_id",
            "pod__time_zone",
            "segment",
            "created_at",
            "display_name",
            "absorbed_ids",
        )
        .first()
    )
    if row is None:
        return None
    found, merged_into, pod, time_zone, segment, created_at, name, absorbed = row
    if merged_into is not None:
        return customer_facts(customer_id=merged_into)
    return CustomerFacts(
        customer_id=found,
        pod_id=pod,
        pod_time_zone=time_zone,
        segment=segment,
        created_at=created_at,
        display_name=name,
        absorbed_ids=tuple(absorbed or ()),
    )


@dataclass(frozen=True)
class AgentRole:
    agent_id: int
    user_id: int
    pod_id: int | None
    role: str


def agent_role_of_user(*, user_id: int) -> AgentRole | None:
    """The active agent a user is, with their role and pod."""
    row = (
        Agent.objects.filter(user_id=user_id, left_on__isnull=True)
        .values_list("id", "pod_id", "role")
        .first()
    )
    if row is None:
        return None
    agent_id, pod_id, role = row
    return AgentRole(agent_id=agent_id, user_id=user_id, pod_id=pod_id, role=role)


# --- Staffing figures: the pod dashboard and the organisation view --------------------


@dataclass(frozen=True)
class PodStaffing:
    """A pod's people and customers now. Agents are its current members (not
    left, user active, any role: everyone the pod pays for), by proficiency
    tier; the cost per customer is a month of those agents at
    HELPDESK["AGENT_MONTHLY_COST"] over the pod's customers."""

    pod: Pod
    agents: int
    tiers: dict[str, int]
    open_seats: int
    customers_per_agent: Decimal | None
    cost_per_customer: Decimal | None
    agent_monthly_cost: Decimal
    cost_currency: str
    split_progress: int

    @property
    def customers(self) -> int:
        return self.pod.customer_count


def pod_staffing(*, pod_id: int) -> PodStaffing:
    """The staffing figures of one pod, in one read. Raises Pod.DoesNotExist."""
    return _staffing(_pods_with_staffing().get(id=pod_id))


def organisation_staffing() -> list[PodStaffing]:
    """The staffing figures of every pod not closed, by name, in one read."""
    pods = _pods_with_staffing().exclude(state=Pod.State.CLOSED).order_by("name", "id")
    return [_staffing(pod) for pod in pods]


def split_history(*, limit: int = 20) -> list[PodSplit]:
    """The latest splits of every pod, newest first."""
    return list(
        PodSplit.objects.select_related("source", "new_pod").order_by(
            "-requested_at", "-id"
        )[:limit]
    )


def _pods_with_staffing() -> QuerySet[Pod]:
    current = Q(members__left_on__isnull=True, members__user__is_active=True)
    by_tier = {
        f"tier_{tier.lower()}": Count(
            "members", filter=current & Q(members__tier=tier), distinct=True
        )
        for tier in rules.TIERS
    }
    return Pod.objects.select_related("lead__user").annotate(
        current_members=Count("members", filter=current, distinct=True),
        vacant_seats=Count("seats", filter=Q(seats__agent__isnull=True), distinct=True),
        **by_tier,
    )


def _staffing(pod: Pod) -> PodStaffing:
    cost = settings.HELPDESK["AGENT_MONTHLY_COST"]
    agents, customers = pod.current_members, pod.customer_count
    return PodStaffing(
        pod=pod,
        agents=agents,
        tiers={tier: getattr(pod, f"tier_{tier.lower()}") for tier in rules.TIERS},
        open_seats=pod.vacant_seats,
        customers_per_agent=rules.customers_per_agent(
            customers=customers, agents=agents
        ),
        cost_per_customer=rules.cost_per_customer(
            agents=agents, customers=customers, agent_monthly_cost=cost
        ),
        agent_monthly_cost=cost,
        cost_currency=settings.HELPDESK["AGENT_COST_CURRENCY"],
        split_progress=rules.split_progress(
            customers=customers, threshold=pod.split_threshold
        ),
    )


# --- Customer portal: who is signed in ------------------------------------------------

# The session keys of a portal sign-in (pods.views writes them, the middleware
# reads them); a staff sign-in uses Django's own keys, so the two never mix.
PORTAL_CUSTOMER_KEY = "portal_customer_id"
PORTAL_IDENTITY_KEY = "portal_identity_id"
PORTAL_EXPIRES_KEY = "portal_expires_at"
PORTAL_SESSION_KEYS = (PORTAL_CUSTOMER_KEY, PORTAL_IDENTITY_KEY, PORTAL_EXPIRES_KEY)


def portal_customer(*, customer_id: int, identity_id: int) -> CustomerFacts | None:
    """The customer a portal session stands for, while the email identity it
    signed in with still belongs to them (a merge moves identities to the
    survivor, whose family includes the merged customer); None otherwise."""
    owner = (
        CustomerIdentity.objects.filter(
            id=identity_id, kind=CustomerIdentity.Kind.EMAIL
        )
        .values_list("customer_id", flat=True)
        .first()
    )
    if owner is None:
        return None
    facts = customer_facts(customer_id=owner)
    if facts is None or customer_id not in facts.family_ids:
        return None
    return facts


@dataclass(frozen=True)
class PortalLinkDelivery:
    """What the email of a sign-in link needs: where it goes, in which language."""

    link_id: int
    address: str
    display_name: str
    language: str
    expires_at: datetime
    usable: bool


def portal_link_delivery(*, link_id: int) -> PortalLinkDelivery | None:
    row = (
        PortalLink.objects.filter(id=link_id)
        .values_list(
            "identity__value",
            "customer__display_name",
            "language",
            "expires_at",
            "used_at",
            "superseded_at",
        )
        .first()
    )
    if row is None:
        return None
    address, name, language, expires_at, used_at, superseded_at = row
    return PortalLinkDelivery(
        link_id=link_id,
        address=address,
        display_name=name,
        language=language,
        expires_at=expires_at,
        usable=used_at is None and superseded_at is None,
    )


def portal_requests_since(*, requester_hash: str, since: datetime) -> list[datetime]:
    """When a client address asked for sign-in links after `since`, oldest first."""
    return list(
        PortalLinkRequest.objects.filter(
            requester_hash=requester_hash, requested_at__gt=since
        )
        .order_by("requested_at")
        .values_list("requested_at", flat=True)
    )


def portal_links_since(*, identity_id: int, since: datetime) -> int:
    """How many sign-in links went to an email identity after `since`."""
    return PortalLink.objects.filter(
        identity_id=identity_id, created_at__gt=since
    ).count()


def portal_token_hash(token: str) -> str:
    """How a sign-in link's token is stored and looked up: its sha256, never
    the token itself."""
    return hashlib.sha256(token.encode()).hexdigest()


def portal_link_usable(*, token_hash: str, now: datetime) -> bool:
    """Whether a sign-in link would sign in now (read only: showing its page
    must not use it)."""
    return PortalLink.objects.filter(
        token_hash=token_hash,
        used_at__isnull=True,
        superseded_at__isnull=True,
        expires_at__gt=now,
    ).exists()


def email_identity_address(*, identity_id: int) -> str | None:
    """The normalised address of an email identity (the one a portal sign-in
    used); None when it is gone or is not an email identity."""
    return (
        CustomerIdentity.objects.filter(
            id=identity_id, kind=CustomerIdentity.Kind.EMAIL
        )
        .values_list("value", flat=True)
        .first()
    )
