"""Test data built through the real services, so tests see what production sees."""

import itertools
from datetime import date

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.utils import timezone

import pods.services
from pods.models import Agent, Pod

_sequence = itertools.count(1)
PASSWORD = "test-pass-2026"


def user(*, username: str | None = None, staff: bool = False, **fields):
    number = next(_sequence)
    username = username or f"user{number}"
    made = get_user_model().objects.create_user(
        username=username,
        password=PASSWORD,
        email=f"{username}@staff.example",
        first_name=fields.pop("first_name", "Test"),
        last_name=fields.pop("last_name", f"User{number}"),
        is_staff=staff,
        **fields,
    )
    return made


def admin_user(**fields):
    made = user(staff=True, **fields)
    made.groups.add(Group.objects.get(name=pods.services.ADMIN_GROUP))
    return made


def pod(
    *, name: str | None = None, target_size: int = 10, threshold: int = 70_000
) -> Pod:
    return pods.services.pod_create(
        name=name or f"Pod {next(_sequence)}",
        target_size=target_size,
        split_threshold=threshold,
        now=timezone.now(),
    )


def agent(
    *,
    pod: Pod | None,
    role: str = Agent.Role.AGENT,
    tier: str = Agent.Tier.MIDDLE,
    presence: str = Agent.Presence.ONLINE,
    capacity: int = 8,
    hired_on: date | None = None,
    username: str | None = None,
) -> Agent:
    made = pods.services.agent_hire(
        user=user(username=username),
        pod=pod,
        role=role,
        tier=tier,
        capacity=capacity,
        hired_on=hired_on or date(2024, 1, 1),
        now=timezone.now(),
    )
    if presence != made.presence:
        pods.services.agent_presence_set(
            agent=made, presence=presence, now=timezone.now()
        )
    return made


def staffed_pod(*, size: int = 4, threshold: int = 70_000, **pod_fields) -> Pod:
    """A pod with a lead and size-1 online agents of mixed tiers."""
    made = pod(threshold=threshold, **pod_fields)
    tiers = itertools.cycle([Agent.Tier.HIGH, Agent.Tier.MIDDLE, Agent.Tier.LOW])
    agent(pod=made, role=Agent.Role.LEAD, tier=next(tiers), hired_on=date(2020, 1, 1))
    for index in range(size - 1):
        agent(pod=made, tier=next(tiers), hired_on=date(2021, 1, 1 + index))
    made.refresh_from_db()
    return made


def email_identity(address: str) -> list[tuple[str, str]]:
    return [("EMAIL", address)]


def email_bytes(
    *,
    sender: str = "Ann Lee <ann@customer.example>",
    to: str = "support@helpdesk.localhost",
    subject: str = "My meter reading",
    body: str = "Hello, my reading is 12345.",
    message_id: str | None = "<auto>",
    in_reply_to: str = "",
    references: str = "",
    cc: str = "",
    headers: dict[str, str] | None = None,
    attachments: list[tuple[str, str, bytes]] = (),
) -> bytes:
    """An RFC 822 message as a mail client would send it; message_id="<auto>"
    makes a fresh id, None leaves the header out."""
    from email.message import EmailMessage
    from email.utils import format_datetime, make_msgid

    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    if cc:
        message["Cc"] = cc
    message["Subject"] = subject
    message["Date"] = format_datetime(timezone.now())
    if message_id == "<auto>":
        message["Message-ID"] = make_msgid(domain="customer.example")
    elif message_id is not None:
        message["Message-ID"] = message_id
    if in_reply_to:
        message["In-Reply-To"] = in_reply_to
    if references:
        message["References"] = references
    for name, value in (headers or {}).items():
        message[name] = value
    message.set_content(body)
    for filename, content_type, data in attachments:
        maintype, subtype = content_type.split("/")
        message.add_attachment(
            data, maintype=maintype, subtype=subtype, filename=filename
        )
    return bytes(message)


def signature(*, body: bytes, secret: str) -> str:
    """The X-Helpdesk-Signature header value of a webhook body."""
    import hashlib
    import hmac

    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
