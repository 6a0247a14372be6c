"""Signatures: inbound webhooks signed by their channel's secret, and the
Message-IDs of our own replies, signed so a forged In-Reply-To cannot pass for one."""

import hashlib
import hmac
import re
from collections.abc import Iterable

SIGNATURE_PREFIX = "sha256="
REPLY_ID_PATTERN = re.compile(r"^<t(\d+)\.m(\d+)\.([0-9a-f]{20})@([^<>@\s]+)>$")


def webhook_signature(*, secret: str, body: bytes) -> str:
    """The X-Helpdesk-Signature header value for a body: sha256=<hex HMAC>."""
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return SIGNATURE_PREFIX + digest


def webhook_signature_valid(
    *, secrets: Iterable[str], body: bytes, header: str | None
) -> bool:
    """Whether the header is the body's signature under any of the secrets. Every
    secret is compared in constant time, so timing tells nothing about which."""
    if not header or not header.startswith(SIGNATURE_PREFIX):
        return False
    candidate = header.strip().encode()
    matched = False
    for secret in secrets:
        expected = webhook_signature(secret=secret, body=body).encode()
        matched |= hmac.compare_digest(expected, candidate)
    return matched


def reply_message_id(*, ticket_id: int, message_id: int, key: str, domain: str) -> str:
    """The Message-ID of our outbound message: ticket and message ids with an HMAC,
    so a reply's In-Reply-To leads back to the ticket only if we issued it."""
    tag = _reply_tag(ticket_id, message_id, key)
    return f"<t{ticket_id}.m{message_id}.{tag}@{domain}>"


def reply_message_id_verify(*, value: str, key: str) -> tuple[int, int] | None:
    """(ticket id, message id) of a Message-ID we issued, or None for any other,
    including a look-alike whose HMAC does not match."""
    match = REPLY_ID_PATTERN.match(value.strip())
    if match is None:
        return None
    ticket_id, message_id = int(match.group(1)), int(match.group(2))
    expected = _reply_tag(ticket_id, message_id, key)
    if not hmac.compare_digest(expected, match.group(3)):
        return None
    return ticket_id, message_id


def _reply_tag(ticket_id: int, message_id: int, key: str) -> str:
    payload = f"reply-message-id:{ticket_id}:{message_id}".encode()
    return hmac.new(key.encode(), payload, hashlib.sha256).hexdigest()[:20]
