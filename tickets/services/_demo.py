"""Demo data for `manage.py seed_demo`, made through the same intake as real
contacts: emails as raw RFC 822 envelopes, other channels as opened tickets
with the customer's first message; and, written in bulk for speed, weeks of
solved history before those contacts, so the dashboards have figures."""

import itertools
import random
import secrets
from bisect import bisect_right
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import transaction

import pods.selectors
import pods.services
from tickets import rules
from tickets.models import (
    BusinessHours,
    BusinessHoursInterval,
    ContactReason,
    InboundEnvelope,
    Message,
    ReplyTemplate,
    SatisfactionSurvey,
    SlaPolicy,
    TemplateUse,
    Ticket,
    WebhookSecret,
)
from tickets.services._assignment import ticket_open
from tickets.services._conversation import Incoming, inbound_message_add
from tickets.services._intake import envelope_process, envelope_receive
from tickets.services._satisfaction import TOKEN_BYTES

CONTACT_REASONS = [
    "Bill query",
    "Meter reading",
    "Moving home",
    "Payment plan",
    "Refund",
    "Smart meter",
    "Tariff change",
]
WEBHOOK_CHANNELS = ["EMAIL", "SMS", "PHONE", "SOCIAL"]


def demo_configuration_seed(*, webhook_secret: str) -> None:
    """Contact reasons, UK office hours, two SLA policies and the demo webhook
    secret of each channel; idempotent."""
    with transaction.atomic():
        for name in CONTACT_REASONS:
            ContactReason.objects.get_or_create(name=name)
        hours, created = BusinessHours.objects.get_or_create(
            name="UK office", defaults={"timezone": "Europe/London"}
        )
        if created:
            BusinessHoursInterval.objects.bulk_create(
                [
                    BusinessHoursInterval(
                        hours=hours, weekday=day, opens=time(8), closes=time(20)
                    )
                    for day in range(5)
                ]
                + [
                    BusinessHoursInterval(
                        hours=hours, weekday=5, opens=time(9), closes=time(17)
                    )
                ]
            )
        SlaPolicy.objects.get_or_create(
            name="Standard",
            defaults={
                "first_response_minutes": 240,
                "next_response_minutes": 480,
                "resolution_minutes": 3 * 24 * 60,
                "business_hours": hours,
                "position": 100,
            },
        )
        SlaPolicy.objects.get_or_create(
            name="Urgent",
            defaults={
                "priority": Ticket.Priority.URGENT,
                "first_response_minutes": 60,
                "next_response_minutes": 120,
                "resolution_minutes": 8 * 60,
                "position": 10,
            },
        )
        for channel in WEBHOOK_CHANNELS:
            WebhookSecret.objects.get_or_create(
                channel=channel,
                secret=webhook_secret,
                defaults={"note": "seed_demo; replace in production"},
            )


def demo_contact_seed(
    *, email: str, name: str, channel: str, subject: str, text: str, now: datetime
) -> Ticket:
    """One customer contact on the channel, as it would arrive."""
    if channel == Ticket.Channel.EMAIL:
        # One transaction: the processing queued on commit (run at once, with
        # the real clock, on the embedded default) then finds the envelope
        # already processed at the demo's time, not today.
        with transaction.atomic():
            received = envelope_receive(
                channel=channel,
                source=InboundEnvelope.Source.FILE,
                raw=_demo_email(
                    email=email, name=name, subject=subject, text=text, now=now
                ),
                now=now,
            )
            return envelope_process(envelope_id=received.envelope.id, now=now).ticket
    with transaction.atomic():
        ticket = ticket_open(
            identities=[("EMAIL", email)],
            channel=channel,
            subject=subject,
            display_name=name,
            now=now,
        ).ticket
        inbound_message_add(
            ticket=ticket,
            incoming=Incoming(
                channel=channel, text=text, author_name=name, author_address=email
            ),
            now=now,
        )
    return ticket


def _demo_email(*, email: str, name: str, subject: str, text: str, now) -> bytes:
    message = EmailMessage()
    message["From"] = f"{name} <{email}>"
    message["To"] = "support@helpdesk.localhost"
    message["Subject"] = subject
    message["Date"] = format_datetime(now)
    message["Message-ID"] = make_msgid(domain="demo.example")
    message.set_content(text)
    return bytes(message)


# --- Ninety days of history ---------------------------------------------------------

DEMO_HISTORY_SEED = 2026
# The first message of every history ticket carries a Message-ID of this
# domain: how a second run knows a pod's history is there already.
HISTORY_MARK = "demo-history.example"
# Conversational channels are answered in kind, the rest by email (as
# message_reply does).
REPLIED_IN_KIND = {"CHAT", "SMS", "SOCIAL"}
CHANNEL_WEIGHTS = {
    "EMAIL": 38,
    "CHAT": 22,
    "PHONE": 14,
    "WEB": 10,
    "SMS": 8,
    "SOCIAL": 8,
}
PRIORITY_WEIGHTS = {"NORMAL": 70, "LOW": 10, "HIGH": 15, "URGENT": 5}
# History contacts per customer before the one seed_demo gave them: most write
# one to four times a quarter.
CONTACTS_WEIGHTS = {0: 10, 1: 28, 2: 26, 3: 18, 4: 10, 5: 5, 6: 3}
# Monday is busiest, the weekend quiet; the day peaks mid-morning and after lunch.
WEEKDAY_WEIGHTS = (1.35, 1.2, 1.1, 1.05, 0.95, 0.45, 0.3)
HOUR_WEIGHTS = (
    *(0.15, 0.1, 0.08, 0.08, 0.1, 0.2, 0.45, 0.9),  # 00-07
    *(1.6, 2.2, 2.4, 2.1, 1.6, 1.8, 2.0, 1.9),  # 08-15
    *(1.7, 1.4, 1.1, 0.9, 0.8, 0.7, 0.5, 0.3),  # 16-23
)
# Median minutes to the first reply once someone is at their desk, by channel.
FIRST_REPLY_MINUTES = {"CHAT": 2, "PHONE": 4, "SMS": 35, "SOCIAL": 45}
DEFAULT_FIRST_REPLY_MINUTES = 150
SAME_AGENT_SHARE = 0.7
KOREAN_CUSTOMER_SHARE = 0.12
REASON_SHARE = 0.88
TEMPLATE_SHARE = 0.65  # of the first replies a template fits
SLOW_REPLY_MINUTES = 12 * 60  # a first reply after this apologises for the wait
REOPEN_SHARE = 0.05
ANSWERED_SHARE = 0.3
SURVEY_DAYS = 14
# The reason whose contacts rise over the period (a smart meter roll-out), so
# the contact-reason trend has something to show.
RISING_REASON = "Smart meter"
# Agents differ: (speed: a factor on every wait, one-touch share, quality: 0-1
# towards better ratings), dealt in seat order.
AGENT_PROFILES = (
    (0.6, 0.78, 1.0),
    (0.8, 0.72, 0.8),
    (1.0, 0.66, 0.6),
    (1.3, 0.58, 0.3),
    (0.9, 0.7, 0.9),
    (1.1, 0.62, 0.5),
    (1.5, 0.55, 0.2),
)
# Per contact reason, English then Korean: subject, what the customer says, and
# the agent's answer. A reason's template (by language) fits its first reply.
REASON_WORDS = {
    "Bill query": (
        (
            "My bill looks higher than usual",
            "Hi, this month's bill is much higher than last month's and I "
            "haven't used more. Can you check it?",
            "I've gone through your bill: last month was estimated low, and "
            "this one catches up with your real reading.",
        ),
        (
            "이번 달 요금이 너무 많이 나왔어요",
            "안녕하세요, 사용량은 비슷한데 요금이 많이 나왔어요. 확인 부탁드려요.",
            "지난달은 추정 검침이라 낮게 나왔고, 이번 달에 실제 검침이 반영됐어요.",
        ),
    ),
    "Meter reading": (
        (
            "Meter reading not accepted",
            "The app won't take my meter reading. Here it is: 04512.",
            "I've put 04512 on your account myself; your next bill uses it.",
        ),
        (
            "계량기 숫자가 등록되지 않아요",
            "앱에서 계량기 숫자 입력이 안 돼요. 04512입니다.",
            "04512로 직접 등록해 두었어요. 다음 요금에 반영돼요.",
        ),
    ),
    "Moving home": (
        (
            "Moving house next month",
            "We're moving on the 28th. What do I need to do with my account?",
            "Thanks for the heads-up: send me a reading on the day and I'll "
            "close the old address and set up the new one.",
        ),
        (
            "다음 달에 이사 가요",
            "28일에 이사하는데 계정은 어떻게 해야 하나요?",
            "이사 당일 계량기 숫자만 보내 주시면 정산과 새 주소 등록을 해 드릴게요.",
        ),
    ),
    "Payment plan": (
        (
            "Can I spread the cost?",
            "Money is tight this month. Could I pay the balance in instalments?",
            "Of course: I've set up three monthly payments; the first is on the 5th.",
        ),
        (
            "요금을 나눠서 낼 수 있을까요?",
            "이번 달 사정이 어려워서요. 나눠서 내도 될까요?",
            "네, 세 번에 나눠 내시도록 해 두었어요. 첫 납부일은 5일이에요.",
        ),
    ),
    "Refund": (
        (
            "Refund for double payment",
            "I was charged twice on the 3rd. Could I have one of them back?",
            "You're right, it went through twice; the second payment is refunded.",
        ),
        (
            "요금이 두 번 청구되었어요",
            "3일에 두 번 결제됐어요. 하나 환불해 주세요.",
            "두 번 결제된 것을 확인하고 한 건을 환불했어요.",
        ),
    ),
    "Smart meter": (
        (
            "Smart meter installation",
            "I got a letter about a smart meter. Can I book the installation?",
            "Booked: an engineer comes on Tuesday between 8 and 12.",
        ),
        (
            "스마트 계량기 설치 문의",
            "스마트 계량기 안내문을 받았어요. 설치 예약할 수 있나요?",
            "화요일 오전 8시에서 12시 사이로 설치 예약해 두었어요.",
        ),
    ),
    "Tariff change": (
        (
            "Question about my tariff",
            "Is there a cheaper tariff for me? I'm home most of the day.",
            "I've compared them for your usage: the fixed tariff saves you "
            "about £8 a month, and I can switch you today.",
        ),
        (
            "요금제 변경 문의",
            "낮에 집에 주로 있는데 더 저렴한 요금제가 있나요?",
            "사용량으로 비교해 보니 고정 요금제가 한 달에 약 8파운드 저렴해요.",
        ),
    ),
    "": (
        (
            "Quick question",
            "Hello, could someone get back to me about my account?",
            "Thanks for getting in touch: it's all sorted on your account now.",
        ),
        (
            "문의드립니다",
            "안녕하세요, 계정 관련해서 연락 부탁드려요.",
            "연락 주셔서 감사해요. 계정 문제는 해결해 두었어요.",
        ),
    ),
}
REASON_WEIGHTS = {
    "Bill query": 24,
    "Meter reading": 16,
    "Moving home": 12,
    "Payment plan": 10,
    "Refund": 12,
    "Smart meter": 10,
    "Tariff change": 10,
}
REASON_TEMPLATES = {
    ("en", "Bill query"): "Bill higher than expected",
    ("en", "Meter reading"): "Meter reading received",
    ("en", "Moving home"): "Moving home",
    ("en", "Refund"): "Refund on its way",
    ("ko", "Moving home"): "이사 안내",
    ("ko", "Refund"): "중복 결제 환불",
}
APOLOGY_TEMPLATES = {"en": "Sorry for the wait", "ko": "기다리게 해서 죄송해요"}
FOLLOW_UP_WORDS = (
    (
        "Thanks. One more thing: when will I see it on my account?",
        "감사해요. 언제 반영되나요?",
    ),
    (
        "It should show within two working days; I'll keep an eye on it for you.",
        "영업일 기준 이틀 안에 반영돼요. 제가 계속 확인할게요.",
    ),
)
REOPEN_WORDS = (
    "Sorry, it still isn't right: the app shows the old figure.",
    "죄송한데 아직 앱에 예전 금액이 보여요.",
)
REOPEN_REPLY_WORDS = (
    "You're right, the app had not caught up; it shows the new figure now.",
    "앱 반영이 늦었네요. 지금은 새 금액으로 보여요.",
)


def demo_history_seed(
    *,
    now: datetime,
    days: int = 90,
    seed: int = DEMO_HISTORY_SEED,
    pod_ids: Sequence[int] | None = None,
) -> int:
    """Give every pod (or the pods given) `days` days of solved history from
    its own customers, the ones with a ticket in it: repeat contacts, mostly
    to the same agent, on every channel, with contact reasons (one rising),
    replies (some from the demo templates), first responses timed by channel
    and office hours, a few reopens, and answered surveys; written in bulk,
    with the templates' counters and the customers' primary agents kept.
    Deterministic for the same seed, pods and `now`; a pod with history
    already is left alone. Return the tickets made."""
    reasons = _history_reasons()
    made = 0
    for pod_id, name, zone in _history_pods(pod_ids):
        with transaction.atomic():
            if _history_exists(pod_id=pod_id):
                continue
            floor = _HistoryFloor.read(
                pod_id=pod_id, pod_name=name, zone=zone, now=now, days=days
            )
            if floor is None:
                continue
            rng = random.Random(f"{seed}:{name}")  # noqa: S311 - demo data
            cases = floor.plan(rng=rng, reasons=reasons)
            _history_write(floor=floor, cases=cases)
            _primary_agents_record(customer_ids=[case.customer.id for case in cases])
            _customers_since_backdate(cases=cases)
            made += len(cases)
    return made


def _history_pods(pod_ids: Sequence[int] | None) -> list[tuple[int, str, str]]:
    found = pods.selectors.pod_list()
    if pod_ids is not None:
        found = found.filter(id__in=list(pod_ids))
    return list(found.values_list("id", "name", "time_zone"))


def _history_exists(*, pod_id: int) -> bool:
    return Message.objects.filter(
        ticket__pod_id=pod_id,
        direction=Message.Direction.INBOUND,
        external_id__endswith=f"@{HISTORY_MARK}>",
    ).exists()


def _history_reasons() -> dict[str, int]:
    with transaction.atomic():
        return {
            name: ContactReason.objects.get_or_create(name=name)[0].id
            for name in REASON_WEIGHTS
        }


@dataclass(frozen=True)
class _DemoAgent:
    id: int
    first_name: str
    speed: float
    one_touch: float
    quality: float


@dataclass(frozen=True)
class _DemoCustomer:
    id: int
    name: str
    address: str
    before: datetime  # the history ends before their first ticket here
    home_agent_id: int | None


@dataclass(frozen=True)
class _Said:
    at: datetime
    inbound: bool
    text: str
    template: str = ""  # the title of the template the reply started from


@dataclass
class _Case:
    customer: _DemoCustomer
    agent: _DemoAgent
    korean: bool
    reason: str
    ticket: Ticket
    conversation: list[_Said] = field(default_factory=list)
    rating: tuple[datetime, int] | None = None  # answered at, rating


class _HistoryClock:
    """Contact moments over the period, weighted by the pod's local weekday and
    hour, and the pod's office hours (UK office: weekdays 8-20, Saturday
    9-17)."""

    DESK_HOURS = ((8, 20),) * 5 + ((9, 17), None)

    def __init__(self, *, start: datetime, end: datetime, zone: str) -> None:
        self.zone = ZoneInfo(zone)
        self.start, self.end = start, end
        self.slots: list[datetime] = []
        self.cumulative: list[float] = []
        total = 0.0
        slot = start.replace(minute=0, second=0, microsecond=0)
        while slot < end:
            local = slot.astimezone(self.zone)
            total += WEEKDAY_WEIGHTS[local.weekday()] * HOUR_WEIGHTS[local.hour]
            self.slots.append(slot)
            self.cumulative.append(total)
            slot += timedelta(hours=1)

    def moment(self, rng: random.Random, *, before: datetime) -> datetime | None:
        """A contact moment in a whole hour ending by `before`."""
        count = bisect_right(self.slots, before - timedelta(hours=1))
        if count == 0:
            return None
        index = bisect_right(self.cumulative, rng.random() * self.cumulative[count - 1])
        return self.slots[min(index, count - 1)] + timedelta(
            seconds=rng.randrange(3600)
        )

    def at_desk(self, moment: datetime) -> datetime:
        """The moment, or the next opening of the office when it is closed."""
        local = moment.astimezone(self.zone)
        for _ in range(8):
            hours = self.DESK_HOURS[local.weekday()]
            if hours is not None:
                opens = local.replace(hour=hours[0], minute=0, second=0, microsecond=0)
                closes = local.replace(hour=hours[1], minute=0, second=0, microsecond=0)
                if local < opens:
                    return opens.astimezone(UTC)
                if local < closes:
                    return moment
            local = (local + timedelta(days=1)).replace(
                hour=0, minute=0, second=0, microsecond=0
            )
        return moment

    def progress(self, moment: datetime) -> float:
        return (moment - self.start) / (self.end - self.start)


def _minutes(rng: random.Random, median: float, spread: float) -> timedelta:
    return timedelta(minutes=median * rng.lognormvariate(0, spread))


def _weighted(rng: random.Random, weights: dict) -> object:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


class _HistoryFloor:
    """One pod's people and clock, and the history planned on them."""

    def __init__(self, *, pod_id, pod_name, agents, customers, clock, now) -> None:
        self.pod_id, self.pod_name = pod_id, pod_name
        self.agents: list[_DemoAgent] = agents
        self.customers: list[_DemoCustomer] = customers
        self.clock: _HistoryClock = clock
        self.now = now
        self.templates = {
            template.title: template
            for template in ReplyTemplate.objects.filter(
                pod__isnull=True, active=True
            ).order_by("id")
        }

    @classmethod
    def read(
        cls, *, pod_id: int, pod_name: str, zone: str, now: datetime, days: int
    ) -> "_HistoryFloor | None":
        # The lead leads: the pod's agents take the contacts, in seat order.
        lead = pods.selectors.pod_lead_user_id(pod_id=pod_id)
        members = sorted(
            (
                member
                for member in pods.selectors.agents_of_pods(pod_ids=[pod_id])
                if member.user_id != lead
            ),
            key=lambda member: member.id,
        )
        agents = [
            _DemoAgent(
                id=member.id,
                first_name=member.name.split()[0],
                speed=speed,
                one_touch=one_touch,
                quality=quality,
            )
            for member, (speed, one_touch, quality) in zip(
                members, itertools.cycle(AGENT_PROFILES), strict=False
            )
        ]
        customers = _pod_customers(pod_id=pod_id)
        if not agents or not customers:
            return None
        clock = _HistoryClock(start=now - timedelta(days=days), end=now, zone=zone)
        return cls(
            pod_id=pod_id,
            pod_name=pod_name,
            agents=agents,
            customers=customers,
            clock=clock,
            now=now,
        )

    def plan(self, *, rng: random.Random, reasons: dict[str, int]) -> list[_Case]:
        cases = []
        for customer in self.customers:
            korean = rng.random() < KOREAN_CUSTOMER_SHARE
            channel = _weighted(rng, CHANNEL_WEIGHTS)
            moments = [
                self.clock.moment(rng, before=customer.before)
                for _ in range(_weighted(rng, CONTACTS_WEIGHTS))
            ]
            for created in sorted(moment for moment in moments if moment):
                case = self._case(
                    rng,
                    customer=customer,
                    korean=korean,
                    channel=channel if rng.random() < 0.6 else None,
                    created=created,
                    reasons=reasons,
                )
                if case is not None:
                    cases.append(case)
        return cases

    def _case(self, rng, *, customer, korean, channel, created, reasons):
        agent = self._assignee(rng, customer=customer)
        channel = channel or _weighted(rng, CHANNEL_WEIGHTS)
        reason = self._reason(rng, created=created)
        subject, said, answer = REASON_WORDS[reason][int(korean)]
        language = "ko" if korean else "en"
        first_reply = self.clock.at_desk(created) + _minutes(
            rng,
            FIRST_REPLY_MINUTES.get(channel, DEFAULT_FIRST_REPLY_MINUTES) * agent.speed,
            0.9,
        )
        picked = max(created, first_reply - _minutes(rng, 6 * agent.speed, 0.6))
        template = self._template(
            rng,
            reason=reason,
            language=language,
            slow=first_reply - created > timedelta(minutes=SLOW_REPLY_MINUTES),
        )
        conversation = [
            _Said(at=created, inbound=True, text=said),
            _Said(at=first_reply, inbound=False, text=answer, template=template),
        ]
        replies = 1 if rng.random() < agent.one_touch else rng.choice((2, 2, 2, 3))
        for _ in range(replies - 1):
            conversation += self._exchange(
                rng,
                after=conversation[-1].at,
                channel=channel,
                agent=agent,
                korean=korean,
            )
        solved = conversation[-1].at + _minutes(rng, 3, 0.6)
        reopened = rng.random() < REOPEN_SHARE
        if reopened:
            again = self._reopen(rng, solved=solved, agent=agent, korean=korean)
            reopened = again[-1].at + timedelta(minutes=5) < self.now
            if reopened:
                conversation += again
                solved = again[-1].at + _minutes(rng, 3, 0.6)
        if solved >= self.now:
            return None
        case = _Case(
            customer=customer,
            agent=agent,
            korean=korean,
            reason=reason,
            ticket=self._ticket(
                customer=customer,
                agent=agent,
                channel=channel,
                priority=_weighted(rng, PRIORITY_WEIGHTS),
                subject=subject,
                reason_id=reasons.get(reason),
                conversation=conversation,
                picked=picked,
                solved=solved,
                reopened=reopened,
            ),
            conversation=conversation,
        )
        case.rating = self._rating(
            rng, case=case, slow=first_reply - created > timedelta(days=1)
        )
        return case

    def _assignee(self, rng: random.Random, *, customer) -> _DemoAgent:
        home = next(
            (agent for agent in self.agents if agent.id == customer.home_agent_id),
            None,
        )
        if home is not None and rng.random() < SAME_AGENT_SHARE:
            return home
        return rng.choice(self.agents)

    def _reason(self, rng: random.Random, *, created: datetime) -> str:
        if rng.random() >= REASON_SHARE:
            return ""
        rising = 0.4 + 1.6 * self.clock.progress(created)
        weights = {
            name: weight * (rising if name == RISING_REASON else 1)
            for name, weight in REASON_WEIGHTS.items()
        }
        return _weighted(rng, weights)

    def _template(self, rng, *, reason: str, language: str, slow: bool) -> str:
        title = (
            APOLOGY_TEMPLATES[language]
            if slow
            else REASON_TEMPLATES.get((language, reason), "")
        )
        if title in self.templates and rng.random() < TEMPLATE_SHARE:
            return title
        return ""

    def _exchange(self, rng, *, after, channel, agent, korean) -> list[_Said]:
        """The customer writes back, the agent answers."""
        chat = channel == "CHAT"
        back = after + _minutes(rng, 3 if chat else 240, 1.0)
        at_desk = back if chat else self.clock.at_desk(back)
        answer = at_desk + _minutes(rng, (2 if chat else 90) * agent.speed, 0.9)
        return [
            _Said(at=back, inbound=True, text=FOLLOW_UP_WORDS[0][int(korean)]),
            _Said(at=answer, inbound=False, text=FOLLOW_UP_WORDS[1][int(korean)]),
        ]

    def _reopen(self, rng, *, solved: datetime, agent, korean: bool) -> list[_Said]:
        """The customer writes again after the solve, the agent answers."""
        back = solved + _minutes(rng, 36 * 60, 0.8)
        answer = self.clock.at_desk(back) + _minutes(rng, 120 * agent.speed, 0.8)
        return [
            _Said(at=back, inbound=True, text=REOPEN_WORDS[int(korean)]),
            _Said(at=answer, inbound=False, text=REOPEN_REPLY_WORDS[int(korean)]),
        ]

    def _ticket(
        self, *, customer, agent, conversation, picked, solved, reopened, **fields
    ) -> Ticket:
        closed = solved + timedelta(
            days=settings.HELPDESK.get("SOLVED_AUTO_CLOSE_DAYS", 4)
        )
        is_closed = closed <= self.now
        return Ticket(
            pod_id=self.pod_id,
            customer_id=customer.id,
            assignee_id=agent.id,
            status=Ticket.Status.CLOSED if is_closed else Ticket.Status.SOLVED,
            priority=fields["priority"],
            channel=fields["channel"],
            subject=fields["subject"],
            contact_reason_id=fields["reason_id"],
            created_at=conversation[0].at,
            updated_at=closed if is_closed else solved,
            assigned_at=picked,
            agent_active_at=solved,
            first_response_at=conversation[1].at,
            last_customer_message_at=max(s.at for s in conversation if s.inbound),
            last_agent_reply_at=conversation[-1].at,
            solved_at=solved,
            closed_at=closed if is_closed else None,
            reopened_count=int(reopened),
        )

    def _rating(self, rng, *, case: _Case, slow: bool) -> tuple[datetime, int] | None:
        """An answer to the solve's survey from about a third of customers,
        mostly 4 or 5: better from a good agent, worse after a long wait or a
        reopen."""
        if rng.random() >= ANSWERED_SHARE:
            return None
        answered = case.ticket.solved_at + _minutes(rng, 120, 1.2)
        expires = case.ticket.solved_at + timedelta(days=SURVEY_DAYS)
        if answered >= min(self.now, expires):
            return None
        quality = case.agent.quality
        if slow or case.ticket.reopened_count:
            quality -= 0.6
        weights = {
            5: 45 + 20 * quality,
            4: 30,
            3: 10 - 5 * quality,
            2: 5 - 3 * quality,
            1: 5 - 3 * quality,
        }
        return answered, _weighted(rng, {r: max(w, 1) for r, w in weights.items()})


def _pod_customers(*, pod_id: int) -> list[_DemoCustomer]:
    """The pod's customers with a ticket in it, by id: their name and address
    from their first message, and the agent of their first ticket here."""
    first_tickets: dict[int, tuple[datetime, int | None]] = {}
    for customer_id, created_at, assignee_id in (
        Ticket.objects.filter(pod_id=pod_id, merged_into__isnull=True)
        .order_by("customer_id", "created_at", "id")
        .values_list("customer_id", "created_at", "assignee_id")
    ):
        first_tickets.setdefault(customer_id, (created_at, assignee_id))
    senders: dict[int, tuple[str, str]] = {}
    for customer_id, name, address in (
        Message.objects.filter(
            ticket__pod_id=pod_id,
            direction=Message.Direction.INBOUND,
            author_customer__isnull=False,
        )
        .order_by("author_customer_id", "created_at", "id")
        .values_list("author_customer_id", "author_name", "author_address")
    ):
        senders.setdefault(customer_id, (name, address))
    return [
        _DemoCustomer(
            id=customer_id,
            name=senders[customer_id][0],
            address=senders[customer_id][1],
            before=created_at - timedelta(hours=1),
            home_agent_id=assignee_id,
        )
        for customer_id, (created_at, assignee_id) in sorted(first_tickets.items())
        if customer_id in senders
    ]


def _history_write(*, floor: _HistoryFloor, cases: list[_Case]) -> None:
    Ticket.objects.bulk_create([case.ticket for case in cases])
    said_of: list[tuple[_Case, _Said, Message]] = []
    for number, case in enumerate(cases):
        for index, said in enumerate(case.conversation):
            message = _history_message(
                floor=floor, case=case, said=said, first=index == 0, number=number
            )
            said_of.append((case, said, message))
    Message.objects.bulk_create([message for _, _, message in said_of])
    uses = [
        TemplateUse(
            template=floor.templates[said.template],
            version=floor.templates[said.template].version,
            ticket_id=case.ticket.id,
            message_id=message.id,
            agent_id=case.agent.id,
            used_at=said.at,
        )
        for case, said, message in said_of
        if said.template
    ]
    TemplateUse.objects.bulk_create(uses)
    SatisfactionSurvey.objects.bulk_create(
        [_history_survey(case=case) for case in cases]
    )
    _template_counters_add(cases=cases, uses=uses)


def _history_message(
    *, floor: _HistoryFloor, case: _Case, said: _Said, first: bool, number: int
) -> Message:
    ticket = case.ticket
    if said.inbound:
        return Message(
            ticket_id=ticket.id,
            direction=Message.Direction.INBOUND,
            channel=ticket.channel,
            author_customer_id=case.customer.id,
            author_name=case.customer.name,
            author_address=case.customer.address,
            text=said.text,
            external_id=f"<{floor.pod_id}.{number}@{HISTORY_MARK}>" if first else "",
            created_at=said.at,
        )
    text = said.text
    if said.template:
        text = _template_text(floor=floor, case=case, title=said.template, line=text)
    return Message(
        ticket_id=ticket.id,
        direction=Message.Direction.OUTBOUND,
        channel=ticket.channel if ticket.channel in REPLIED_IN_KIND else "EMAIL",
        author_agent_id=case.agent.id,
        text=text,
        created_at=said.at,
        delivery=Message.Delivery.SENT,
        delivery_attempts=1,
        sent_at=said.at,
    )


def _template_text(*, floor: _HistoryFloor, case: _Case, title: str, line: str) -> str:
    first, _, last = case.customer.name.partition(" ")
    body = floor.templates[title].body
    # The templates leave a gap for what the agent found: the answer goes there.
    body = body.replace("\n\n\n\n", f"\n\n{line}\n\n", 1)
    return rules.template_render(
        body=body,
        variables={
            "customer.first_name": first,
            "customer.last_name": last,
            "customer.name": case.customer.name,
            "agent.first_name": case.agent.first_name,
            "ticket.number": str(case.ticket.id),
            "ticket.subject": case.ticket.subject,
            "pod.name": floor.pod_name,
        },
    )


def _history_survey(*, case: _Case) -> SatisfactionSurvey:
    ticket = case.ticket
    answered_at, rating = case.rating or (None, None)
    return SatisfactionSurvey(
        ticket_id=ticket.id,
        pod_id=ticket.pod_id,
        agent_id=ticket.assignee_id,
        solved_at=ticket.solved_at,
        token=secrets.token_urlsafe(TOKEN_BYTES),
        channel=ticket.channel if ticket.channel in ("SMS", "SOCIAL") else "EMAIL",
        sent_at=ticket.solved_at,
        expires_at=ticket.solved_at + timedelta(days=SURVEY_DAYS),
        rating=rating,
        answered_at=answered_at,
    )


def _template_counters_add(*, cases: list[_Case], uses: list[TemplateUse]) -> None:
    """Count the uses and the answered surveys that followed them, as replying
    and answering would have."""
    counts: dict[int, list] = defaultdict(lambda: [0, None, 0, 0])
    for use in uses:
        tally = counts[use.template_id]
        tally[0] += 1
        tally[1] = max(tally[1] or use.used_at, use.used_at)
    templates_of = defaultdict(set)
    for use in uses:
        templates_of[use.ticket_id].add(use.template_id)
    for case in cases:
        if case.rating is None:
            continue
        for template_id in templates_of[case.ticket.id]:
            counts[template_id][2] += 1
            counts[template_id][3] += case.rating[1]
    templates = ReplyTemplate.objects.select_for_update().in_bulk(sorted(counts))
    for template_id, (used, last, rated, rating_sum) in sorted(counts.items()):
        template = templates[template_id]
        template.use_count += used
        template.last_used_at = max(template.last_used_at or last, last)
        template.rated_count += rated
        template.rating_sum += rating_sum
        template.save(
            update_fields=["use_count", "last_used_at", "rated_count", "rating_sum"]
        )


def _customers_since_backdate(*, cases: list[_Case]) -> None:
    """Customers of the story were customers long before their first contact
    in it (a month to two years, by customer): their tenure, which rules read,
    must not be younger than their history."""
    first: dict[int, datetime] = {}
    for case in cases:
        opened = (
            case.conversation[0].at if case.conversation else case.ticket.created_at
        )
        customer_id = case.customer.id
        first[customer_id] = min(opened, first.get(customer_id, opened))
    pods.services.customers_since_backdate(
        since={
            customer_id: opened - timedelta(days=30 + customer_id * 37 % 700)
            for customer_id, opened in first.items()
        }
    )


def _primary_agents_record(*, customer_ids: list[int]) -> None:
    """Each customer's primary agent: who solved their latest solved ticket."""
    latest: dict[int, int] = {}
    for customer_id, agent_id in (
        Ticket.objects.filter(
            customer_id__in=sorted(set(customer_ids)),
            solved_at__isnull=False,
            assignee__isnull=False,
        )
        .order_by("customer_id", "solved_at", "id")
        .values_list("customer_id", "assignee_id")
    ):
        latest[customer_id] = agent_id
    for customer_id, agent_id in sorted(latest.items()):
        pods.services.customer_primary_agent_set(
            customer_id=customer_id, agent_id=agent_id
        )
