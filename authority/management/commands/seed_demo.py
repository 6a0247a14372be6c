"""python manage.py seed_demo: a working support floor to look at, built through the
real services (routing, splitting), idempotent: a second run adds nothing.

It lives in the top app because every capability extends it (tickets, grants)."""

import random
from dataclasses import dataclass
from datetime import date, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

import authority.services
import pods.selectors
import pods.services
import tickets.selectors
import tickets.services

SEED = 2026
DEMO_PODS = [
    # name, customers to seed, split threshold (Jupiter is lowered so a split shows)
    ("Mercury", 60, 70_000),
    ("Venus", 60, 70_000),
    ("Earth", 60, 70_000),
    ("Jupiter", 0, 90),
]
FIRST_NAMES = [
    "Amelia",
    "Minji",
    "Oliver",
    "Seo-yeon",
    "Harry",
    "Jiwoo",
    "Isla",
    "Hyun-woo",
    "Noah",
    "Yuna",
    "Freya",
    "Dong-hyun",
    "Leo",
    "Soo-ah",
    "Grace",
    "Tae-yang",
    "Jack",
    "Eun-ji",
    "Poppy",
    "Jun-ho",
    "Ava",
    "Ha-eun",
    "Arthur",
    "Ji-min",
    "Mia",
    "Sung-min",
    "Theo",
    "Da-eun",
    "Lily",
    "Min-jun",
    "Oscar",
    "Chae-won",
]
LAST_NAMES = [
    "Smith",
    "Kim",
    "Jones",
    "Lee",
    "Taylor",
    "Park",
    "Brown",
    "Choi",
    "Wilson",
    "Jung",
    "Evans",
    "Kang",
    "Thomas",
    "Cho",
    "Roberts",
    "Yoon",
]
SUBJECTS = [
    "My bill looks higher than usual",
    "Moving house next month",
    "Meter reading not accepted",
    "Can I pause my plan while abroad?",
    "Refund for double payment",
    "Direct debit date change",
    "Smart meter installation",
    "Question about my tariff",
    "요금이 두 번 청구되었어요",
    "이사 예정인데 어떻게 하나요?",
]
# The contact reason an agent gives each subject (tickets' demo reasons).
SUBJECT_REASONS = {
    "My bill looks higher than usual": "Bill query",
    "Moving house next month": "Moving home",
    "Meter reading not accepted": "Meter reading",
    "Can I pause my plan while abroad?": "Payment plan",
    "Refund for double payment": "Refund",
    "Direct debit date change": "Payment plan",
    "Smart meter installation": "Smart meter",
    "Question about my tariff": "Tariff change",
    "요금이 두 번 청구되었어요": "Refund",
    "이사 예정인데 어떻게 하나요?": "Moving home",
}
DEMO_REPLY = (
    "Thanks for getting in touch! I've sorted this on your account; if "
    "anything else comes up, just reply here and it comes straight to me."
)
CHANNELS = ["EMAIL", "EMAIL", "CHAT", "PHONE", "SMS", "SOCIAL", "WEB"]
BODIES = [
    "Hi, {subject_lower}. Could someone have a look? Thanks, {first}",
    "Hello! {subject_lower} — my account number is A-{number:05d}. {first}",
    "안녕하세요, {subject_lower} 확인 부탁드립니다. {first} 드림",
]
# Signs the demo's webhooks (see docs/channels.md); the real stack takes its
# secrets from the environment or admin, never from here.
DEMO_WEBHOOK_SECRET = "demo-webhook-secret"  # noqa: S105 - demo only


@dataclass(frozen=True)
class DemoLogin:
    role: str
    username: str


class Command(BaseCommand):
    help = "Create idempotent demo data: pods, agents with logins, customers, tickets."

    def handle(self, *args, **options) -> None:
        self.password = settings.HELPDESK["DEMO_PASSWORD"]
        self.random = random.Random(SEED)  # noqa: S311 - demo data, not secrets
        self.now = timezone.now()
        logins = [self.seed_admin()]
        tickets.services.demo_configuration_seed(webhook_secret=DEMO_WEBHOOK_SECRET)
        tickets.services.demo_templates_seed(now=self.now)
        self.reason_ids = dict(
            tickets.selectors.contact_reasons_active().values_list("name", "id")
        )
        for index, (name, customers, threshold) in enumerate(DEMO_PODS):
            lead = self.seed_pod(index=index, name=name, threshold=threshold)
            logins.append(DemoLogin(role=f"lead of {name}", username=lead))
            self.seed_customers(pod_name=name, count=customers)
        self.seed_near_threshold(pod_name="Jupiter")
        self.seed_authority(history_pod_name="Mercury")
        # Ninety days of solved work by the same customers and agents, then
        # the nightly proficiency run on it, so figures and tiers are real.
        tickets.services.demo_history_seed(now=self.now)
        pods.services.proficiency_policy_demo_seed(now=self.now)
        tickets.services.proficiency_recompute(
            period_end=self.now.date(), days=30, now=self.now
        )
        # The dashboards read rollups: fill them for the whole history now
        # rather than wait for the beat (which the embedded default has not).
        tickets.services.figures_rollups_refresh(days=90, now=self.now)
        authority.services.authority_figures_refresh(days=90, now=self.now)
        authority.services.delegation_snapshot_refresh(now=self.now)
        self.print_logins(logins)

    def seed_admin(self) -> DemoLogin:
        user_model = get_user_model()
        admin, created = user_model.objects.get_or_create(
            username="admin",
            defaults={
                "is_staff": True,
                "is_superuser": True,
                "email": "admin@demo.test",
            },
        )
        if created:
            admin.set_password(self.password)
            admin.save(update_fields=["password"])
        admin.groups.add(Group.objects.get(name=pods.services.ADMIN_GROUP))
        return DemoLogin(role="admin", username="admin")

    def seed_pod(self, *, index: int, name: str, threshold: int) -> str:
        """Create the pod and its eight agents; return the lead's username."""
        pod = pods.selectors.pod_by_id_or_name(reference=name)
        if pod is None:
            pod = pods.services.pod_create(
                name=name,
                split_threshold=threshold,
                reply_address=f"{name.lower()}@support.demo.test",
                now=self.now,
            )
        lead_username = f"{name.lower()}.lead"
        tiers = ["HIGH", "MIDDLE", "MIDDLE", "LOW", "HIGH", "MIDDLE", "LOW", "MIDDLE"]
        for seat in range(8):
            role = "LEAD" if seat == 0 else "AGENT"
            username = lead_username if seat == 0 else f"{name.lower()}.agent{seat}"
            first = FIRST_NAMES[(index * 8 + seat) % len(FIRST_NAMES)]
            last = LAST_NAMES[(index * 5 + seat) % len(LAST_NAMES)]
            self.seed_agent(
                pod=pod,
                username=username,
                first_name=first,
                last_name=last,
                role=role,
                tier=tiers[seat],
                hired_on=date(2019 + seat % 6, 1 + seat, 1 + index),
                online=seat % 4 != 3,
            )
        return lead_username

    @transaction.atomic
    def seed_agent(self, *, pod, username: str, online: bool, **fields) -> None:
        user_model = get_user_model()
        if user_model.objects.filter(username=username).exists():
            return
        user = user_model.objects.create_user(
            username=username,
            password=self.password,
            email=f"{username}@staff.demo.test",
            first_name=fields.pop("first_name"),
            last_name=fields.pop("last_name"),
        )
        agent = pods.services.agent_hire(user=user, pod=pod, now=self.now, **fields)
        if online:
            pods.services.agent_presence_set(
                agent=agent, presence="ONLINE", now=self.now
            )

    def seed_customers(self, *, pod_name: str, count: int) -> None:
        prefix = pod_name.lower()
        for number in range(count):
            email = f"{prefix}.customer{number}@example.com"
            if pods.selectors.customer_lookup(kind="EMAIL", value=email):
                continue
            self.seed_contact(email=email, number=number)

    def seed_contact(self, *, email: str, number: int) -> None:
        first = self.random.choice(FIRST_NAMES)
        last = self.random.choice(LAST_NAMES)
        when = self.now - timedelta(minutes=self.random.randint(5, 60 * 24 * 20))
        subject = self.random.choice(SUBJECTS)
        body = self.random.choice(BODIES).format(
            subject_lower=subject[0].lower() + subject[1:], first=first, number=number
        )
        ticket = tickets.services.demo_contact_seed(
            email=email,
            name=f"{first} {last}",
            channel=self.random.choice(CHANNELS),
            subject=subject,
            text=body,
            now=when,
        )
        reason_id = self.reason_ids.get(SUBJECT_REASONS.get(subject, ""))
        if reason_id:
            ticket = tickets.services.ticket_fields_set(
                ticket=ticket, contact_reason_id=reason_id, now=ticket.created_at
            )
        if ticket.assignee_id and number % 3 == 0:
            replied = when + timedelta(minutes=20)
            # An email is timed by its arrival, not by `when`: no reply before it.
            if replied > ticket.created_at:
                tickets.services.message_reply(
                    ticket=ticket,
                    agent_id=ticket.assignee_id,
                    text=DEMO_REPLY,
                    now=replied,
                )
            tickets.services.ticket_solve(
                ticket=ticket, now=when + timedelta(minutes=25)
            )

    def seed_near_threshold(self, *, pod_name: str) -> None:
        """Bring the demo pod within a few customers of its lowered threshold."""
        pod = pods.selectors.pod_by_id_or_name(reference=pod_name)
        if pod is None or pod.parent_id or pods.selectors.pod_splits(pod_id=pod.id):
            return
        # New customers go to the least-loaded pod, so give these ones the Jupiter
        # pod by pausing the others while they arrive.
        missing = max(0, pod.split_threshold - 5 - pod.customer_count)
        others = pods.selectors.pod_list().exclude(id=pod.id)
        paused = list(
            others.filter(accepts_new_customers=True).values_list("id", flat=True)
        )
        pods.services.pods_accepting_set(pod_ids=paused, accepting=False)
        try:
            for number in range(missing):
                self.seed_contact(
                    email=f"jupiter.customer{number}@example.com", number=number
                )
        finally:
            pods.services.pods_accepting_set(pod_ids=paused, accepting=True)

    def seed_authority(self, *, history_pod_name: str) -> None:
        """The funnel's action types and rules, a class pass for every demo
        customer, and ninety days of asks, approvals and grants for the
        delegation insights and authority usage."""
        customer_ids = [
            customer.id
            for name, count, threshold in DEMO_PODS
            for number in range(count or threshold)
            if (
                customer := pods.selectors.customer_lookup(
                    kind="EMAIL", value=f"{name.lower()}.customer{number}@example.com"
                )
            )
        ]
        authority.services.demo_authority_seed(now=self.now, customer_ids=customer_ids)
        pod = pods.selectors.pod_by_id_or_name(reference=history_pod_name)
        if pod is not None:
            authority.services.demo_authority_history_seed(
                now=self.now, pod_id=pod.id, customer_ids=customer_ids
            )

    def print_logins(self, logins: list[DemoLogin]) -> None:
        self.stdout.write(
            self.style.SUCCESS("Demo data ready. Sign in at /accounts/login/")
        )
        self.stdout.write(f"  password for every demo login: {self.password}")
        for login in [*logins, DemoLogin(role="agent", username="mercury.agent1")]:
            self.stdout.write(f"  {login.role:<16} {login.username}")
        self.stdout.write(
            f"  webhooks (/inbound/email/, /inbound/sms/ ...) are signed with "
            f"the demo secret {DEMO_WEBHOOK_SECRET!r}"
        )
        self.stdout.write(
            "  Jupiter is 5 customers from its lowered split threshold: "
            "`python manage.py split_pod Jupiter --dry-run` shows the plan."
        )
        self.stdout.write(
            "  /authority/insights/ (admin, or a pod lead): what to delegate, "
            "and who uses their authority."
        )
