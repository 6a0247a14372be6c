"""What makes two deliveries the same message."""

import hashlib
from collections.abc import Iterable


def email_dedupe_key(
    *,
    message_id: str,
    raw_sha256: str,
    sender: str,
    subject: str,
    text: str,
    attachment_hashes: Iterable[str],
) -> str:
    """The key under which an email is stored once.

    With a Message-ID, the key covers the id and the content, but not the transport
    headers: the same message fetched by IMAP and posted by a webhook (different
    Received lines) is one message, while two different messages that reuse a
    Message-ID both get in (and are flagged). Without one, the raw bytes decide."""
    if not message_id:
        return raw_sha256
    digest = hashlib.sha256()
    for part in (message_id, sender, subject, text, *sorted(attachment_hashes)):
        digest.update(part.encode("utf-8", "surrogatepass"))
        digest.update(b"\0")
    return digest.hexdigest()


def provider_dedupe_key(*, provider: str, external_id: str) -> str:
    """The key of an SMS, social or phone event: the provider's own id."""
    return hashlib.sha256(f"{provider}\0{external_id}".encode()).hexdigest()
