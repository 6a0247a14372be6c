"""Pure rules of pods: identities, routing choices, split plans, proficiency scores.

No Django, no database, no clock: every input is passed in, so each rule is unit
tested on its own. Kinds, tiers and presences are the values of pods.models choices.
"""

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from email.errors import HeaderParseError
from email.headerregistry import Address

import phonenumbers

IDENTITY_KINDS = ("EMAIL", "PHONE", "CHAT", "SOCIAL", "ACCOUNT")
TIERS = ("LOW", "MIDDLE", "HIGH")
MAX_IDENTITY_LENGTH = 320
OPAQUE_IDENTITY = re.compile(r"^[\w.:@+-]{1,200}$")
# Host names only: letters and digits, inner hyphens, dot-separated. An addr-spec
# domain may also hold "/", "%", "!" or "_", which no mail host has and which old
# relays read as routing ("a@b.com%evil.test").
EMAIL_LABEL = r"[^\W_](?:(?:[^\W_]|-){0,61}[^\W_])?"
EMAIL_DOMAIN = re.compile(
    rf"^(?:{EMAIL_LABEL}\.)+(?:[^\W\d_]{{2,63}}|xn--[a-z0-9-]{{1,59}})$"
)
SOCIAL_IDENTITY = re.compile(r"^[a-z0-9_-]{1,40}:[\w.@+-]{1,200}$")


class InvalidIdentity(ValueError):
    """The value cannot identify a customer for its kind."""


def normalise_identity(kind: str, raw: str, *, default_region: str = "GB") -> str:
    """Return the canonical form of an identity, or raise InvalidIdentity.

    Emails are a single strict addr-spec, lower-cased; phones are E.164; social
    handles are `provider:handle`, lower-cased; chat and account ids are opaque.
    """
    if kind not in IDENTITY_KINDS:
        raise InvalidIdentity(f"unknown identity kind {kind!r}")
    value = (raw or "").strip()
    if not value or len(value) > MAX_IDENTITY_LENGTH:
        raise InvalidIdentity(f"{kind.lower()} identity is empty or too long")
    if kind == "EMAIL":
        return normalise_email(value)
    if kind == "PHONE":
        return normalise_phone(value, default_region=default_region)
    if kind == "SOCIAL":
        value = value.lower()
        if not SOCIAL_IDENTITY.match(value):
            raise InvalidIdentity("social identity must look like provider:handle")
        return value
    if not OPAQUE_IDENTITY.match(value):
        raise InvalidIdentity(f"{kind.lower()} identity has characters not allowed")
    return value


def normalise_email(value: str) -> str:
    """Accept exactly one bare addr-spec; anything a parser might read two ways is
    refused rather than guessed (CVE-2023-27043 class of confusion)."""
    if any(char in value for char in ' <>()",;:\\[]\r\n\t') or value.count("@") != 1:
        raise InvalidIdentity(f"{value!r} is not a single plain email address")
    try:
        address = Address(addr_spec=value)
    except (HeaderParseError, ValueError, IndexError) as exc:
        raise InvalidIdentity(f"{value!r} is not a valid email address") from exc
    if not address.username or not EMAIL_DOMAIN.match(address.domain.lower()):
        raise InvalidIdentity(f"{value!r} has no valid domain")
    return f"{address.username}@{address.domain}".lower()


def normalise_phone(value: str, *, default_region: str) -> str:
    try:
        number = phonenumbers.parse(value, default_region)
    except phonenumbers.NumberParseException as exc:
        raise InvalidIdentity(f"{value!r} is not a phone number") from exc
    if not phonenumbers.is_possible_number(number):
        raise InvalidIdentity(f"{value!r} is not a possible phone number")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


# --- Routing --------------------------------------------------------------------


@dataclass(frozen=True)
class PodLoad:
    pod_id: int
    customers: int
    active_agents: int


def choose_pod_for_new_customer(pods: Iterable[PodLoad]) -> int | None:
    """The open pod with the fewest customers per active agent (ties: lowest id).

    A pod with no active agent is only chosen when no pod has one."""
    pods = list(pods)  # read twice below: a generator would be empty the second time
    staffed = [pod for pod in pods if pod.active_agents > 0]
    candidates = staffed or list(pods)
    if not candidates:
        return None
    best = min(
        candidates,
        key=lambda pod: (
            Decimal(pod.customers + 1) / max(pod.active_agents, 1),
            pod.customers,
            pod.pod_id,
        ),
    )
    return best.pod_id


@dataclass(frozen=True)
class AgentLoad:
    agent_id: int
    presence: str
    open_tickets: int
    capacity: int
    last_assigned_rank: int = 0  # smaller = assigned longer ago

    @property
    def available(self) -> bool:
        return self.presence == "ONLINE" and self.open_tickets < self.capacity


def choose_agent(
    *, previous: AgentLoad | None, members: Sequence[AgentLoad]
) -> int | None:
    """The customer's previous agent when online and under capacity, else the
    least-loaded available member, else None (the ticket waits in the pod queue)."""
    if previous is not None and previous.available:
        return previous.agent_id
    available = [agent for agent in members if agent.available]
    if not available:
        return None
    best = min(
        available,
        key=lambda agent: (
            Decimal(agent.open_tickets) / agent.capacity,
            agent.last_assigned_rank,
            agent.agent_id,
        ),
    )
    return best.agent_id


# --- Splitting --------------------------------------------------------------------


def split_is_due(*, customers: int, threshold: int) -> bool:
    return customers >= threshold


@dataclass(frozen=True)
class Member:
    agent_id: int
    role: str
    tier: str
    hired_rank: int  # 0 = hired first
    score: Decimal
    primary_customers: int


@dataclass(frozen=True)
class MemberDivision:
    new_lead_id: int
    moving: tuple[int, ...]
    staying: tuple[int, ...]


class CannotSplit(ValueError):
    """The pod has too few members to make two pods."""


def divide_members(*, members: Sequence[Member], lead_id: int | None) -> MemberDivision:
    """Split members into two halves with a balanced Low / Middle / High mix.

    The new pod's lead is the most senior member who is not the lead (ties by higher
    proficiency). Within each tier, members are dealt alternately (largest book of
    primary customers first), so both the tier mix and the customers who follow
    their agent stay balanced."""
    candidates = [m for m in members if m.agent_id != lead_id]
    if len(candidates) < 1 or len(members) < 2:
        raise CannotSplit("a pod needs at least two members to split")
    new_lead = min(candidates, key=lambda m: (m.hired_rank, -m.score, m.agent_id))
    moving, staying = [new_lead.agent_id], []
    if lead_id is not None and any(m.agent_id == lead_id for m in members):
        staying.append(lead_id)
    moving_books = new_lead.primary_customers
    staying_books = sum(m.primary_customers for m in members if m.agent_id == lead_id)
    tier_of = {m.agent_id: m.tier for m in members}
    moving_mix, staying_mix = (
        tier_mix(tier_of[a] for a in moving),
        tier_mix(tier_of[a] for a in staying),
    )
    rest = [m for m in candidates if m.agent_id != new_lead.agent_id]
    in_tiers = {
        tier: sorted(
            (m for m in rest if m.tier == tier),
            key=lambda m: (-m.primary_customers, m.agent_id),
        )
        for tier in reversed(TIERS)
    }
    # The two leads are placed first; when their tiers differ, the next member of
    # each of those tiers has only one side to go to. Deal those before anyone
    # else: dealt later, they can land on the side that just grew, and the halves
    # end two apart.
    order = [
        in_tier.pop(0)
        for tier, in_tier in in_tiers.items()
        if in_tier and moving_mix[tier] != staying_mix[tier]
    ]
    order += [m for in_tier in in_tiers.values() for m in in_tier]
    for member in order:
        goes = _next_side(
            tier_moving=moving_mix[member.tier],
            tier_staying=staying_mix[member.tier],
            moving=len(moving),
            staying=len(staying),
            moving_books=moving_books,
            staying_books=staying_books,
        )
        if goes:
            moving.append(member.agent_id)
            moving_mix[member.tier] += 1
            moving_books += member.primary_customers
        else:
            staying.append(member.agent_id)
            staying_mix[member.tier] += 1
            staying_books += member.primary_customers
    return MemberDivision(
        new_lead_id=new_lead.agent_id, moving=tuple(moving), staying=tuple(staying)
    )


def _next_side(
    *,
    tier_moving: int,
    tier_staying: int,
    moving: int,
    staying: int,
    moving_books: int,
    staying_books: int,
) -> bool:
    """True when the next member should go to the new pod: the side with fewer of
    the member's tier first, then the smaller side, then the side with fewer
    customers to follow."""
    if tier_moving != tier_staying:
        return tier_moving < tier_staying
    if moving != staying:
        return moving < staying
    return moving_books <= staying_books


@dataclass(frozen=True)
class CustomerDivision:
    """How many customers of each kind move to the new pod."""

    target: int
    followers_moving: int  # primary agent moves: they follow
    unowned: int  # no primary agent in the pod: divided to balance
    followers_staying: int  # primary agent stays: moved only if balance needs it
    moved_total: int = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(
            self,
            "moved_total",
            self.followers_moving + self.unowned + self.followers_staying,
        )


def divide_customers(
    *, total: int, follow_moving: int, unowned: int, follow_staying: int
) -> CustomerDivision:
    """Send half of the pod's customers to the new pod.

    Customers follow their primary agent first; the unowned fill the gap; only if
    that is still short do customers of staying agents move, and only if the
    followers alone are more than half do some of them stay. The two pods end with
    floor(total / 2) and ceil(total / 2) customers."""
    if follow_moving + unowned + follow_staying != total:
        raise ValueError("customer categories must add up to the total")
    target = total // 2
    from_moving = min(follow_moving, target)
    from_unowned = min(unowned, target - from_moving)
    from_staying = min(follow_staying, target - from_moving - from_unowned)
    return CustomerDivision(
        target=target,
        followers_moving=from_moving,
        unowned=from_unowned,
        followers_staying=from_staying,
    )


def seats_to_open(*, target_size: int, members: int, open_seats: int) -> int:
    """Open seats so members plus open seats reach the pod's target size."""
    return max(0, target_size - members - open_seats)


def tier_mix(tiers: Iterable[str]) -> dict[str, int]:
    mix = dict.fromkeys(TIERS, 0)
    for tier in tiers:
        mix[tier] = mix.get(tier, 0) + 1
    return mix


# --- Proficiency ----------------------------------------------------------------


@dataclass(frozen=True)
class Kpis:
    contacts_per_day: Decimal
    handle_minutes: Decimal | None
    csat: Decimal | None
    one_touch_rate: Decimal | None


@dataclass(frozen=True)
class ScoringPolicy:
    contacts_per_day: tuple[Decimal, Decimal]  # (target, weight)
    handle_minutes: tuple[Decimal, Decimal]  # lower is better
    csat: tuple[Decimal, Decimal]
    one_touch: tuple[Decimal, Decimal]
    cap: Decimal
    middle_from: Decimal
    high_from: Decimal


SCORE_PLACES = Decimal("0.001")


def proficiency_score(kpis: Kpis, policy: ScoringPolicy) -> Decimal:
    """Weighted average of each KPI against its target, each ratio capped.

    A KPI with no reading (no surveys answered yet) is left out and the remaining
    weights carry the score, so a missing figure neither helps nor hurts."""
    parts: list[tuple[Decimal, Decimal]] = []
    target, weight = policy.contacts_per_day
    parts.append((_ratio(kpis.contacts_per_day, target, policy.cap), weight))
    if kpis.handle_minutes is not None:
        target, weight = policy.handle_minutes
        parts.append((_inverse_ratio(kpis.handle_minutes, target, policy.cap), weight))
    if kpis.csat is not None:
        target, weight = policy.csat
        parts.append((_ratio(kpis.csat, target, policy.cap), weight))
    if kpis.one_touch_rate is not None:
        target, weight = policy.one_touch
        parts.append((_ratio(kpis.one_touch_rate, target, policy.cap), weight))
    total_weight = sum((weight for _, weight in parts), Decimal(0))
    if total_weight <= 0:
        return Decimal("0.000")
    score = sum((ratio * weight for ratio, weight in parts), Decimal(0)) / total_weight
    return score.quantize(SCORE_PLACES, rounding=ROUND_HALF_UP)


def proficiency_tier(score: Decimal, policy: ScoringPolicy) -> str:
    if score >= policy.high_from:
        return "HIGH"
    if score >= policy.middle_from:
        return "MIDDLE"
    return "LOW"


def _ratio(value: Decimal, target: Decimal, cap: Decimal) -> Decimal:
    if target <= 0:
        return cap
    return min(max(value, Decimal(0)) / target, cap)


def _inverse_ratio(value: Decimal, target: Decimal, cap: Decimal) -> Decimal:
    if value <= 0:
        return cap
    return min(target / value, cap)


# An agent's time_zone defaults to this: it means they never chose one.
AGENT_DEFAULT_ZONE = "UTC"


def display_time_zone(*, agent_zone: str, pod_zone: str | None, site_zone: str) -> str:
    """The zone an agent's pages show times in: the one they chose, else their
    pod's, else the site's."""
    zone = agent_zone or site_zone
    if zone == AGENT_DEFAULT_ZONE and pod_zone:
        return pod_zone
    return zone


# --- Staffing figures ---------------------------------------------------------------

CENT = Decimal("0.01")


def customers_per_agent(*, customers: int, agents: int) -> Decimal | None:
    """Customers each agent looks after, to one decimal; None for a pod without
    agents (no ratio to show, rather than a division by zero)."""
    if agents <= 0:
        return None
    return (Decimal(customers) / agents).quantize(Decimal("0.1"), ROUND_HALF_UP)


def cost_per_customer(
    *, agents: int, customers: int, agent_monthly_cost: Decimal
) -> Decimal | None:
    """What serving one customer costs a month: the pod's agents times the
    monthly cost of an agent, over its customers, to the cent; None for a pod
    without customers."""
    if customers <= 0:
        return None
    return (agents * agent_monthly_cost / customers).quantize(CENT, ROUND_HALF_UP)


def split_progress(*, customers: int, threshold: int) -> int:
    """How far the pod is towards its split, in whole percent (100 and more:
    the split is due)."""
    if threshold <= 0:
        return 100
    return customers * 100 // threshold
