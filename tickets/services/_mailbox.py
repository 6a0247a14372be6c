"""Mail fetched from a mailbox: each message's envelope and the mailbox
checkpoint commit together, so the checkpoint never runs ahead of stored mail
and a fetcher killed at any point resumes without loss or duplication."""

from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.db.models import F
from django.db.models.functions import Greatest

from tickets.models import InboundEnvelope, MailboxCheckpoint, Ticket
from tickets.services._intake import Received, envelope_receive


@dataclass(frozen=True)
class Checkpoint:
    uidvalidity: int
    last_uid: int


def mailbox_checkpoint(*, mailbox: str, uidvalidity: int, now: datetime) -> Checkpoint:
    """Where fetching the mailbox resumes. A changed UIDVALIDITY (the server
    renumbered the folder) restarts from the beginning; the envelopes' unique key
    keeps already stored mail from being stored twice."""
    with transaction.atomic():
        checkpoint, _ = MailboxCheckpoint.objects.select_for_update().get_or_create(
            mailbox=mailbox,
            defaults={"uidvalidity": uidvalidity, "last_uid": 0, "updated_at": now},
        )
        if checkpoint.uidvalidity != uidvalidity:
            checkpoint.uidvalidity = uidvalidity
            checkpoint.last_uid = 0
            checkpoint.updated_at = now
            checkpoint.save(update_fields=["uidvalidity", "last_uid", "updated_at"])
    return Checkpoint(uidvalidity=checkpoint.uidvalidity, last_uid=checkpoint.last_uid)


def mailbox_message_store(
    *, mailbox: str, uidvalidity: int, uid: int, raw: bytes, now: datetime
) -> Received:
    """Store one fetched message as an envelope and move the checkpoint past it,
    in one transaction."""
    with transaction.atomic():
        received = envelope_receive(
            channel=Ticket.Channel.EMAIL,
            source=InboundEnvelope.Source.IMAP,
            raw=raw,
            now=now,
            meta={"mailbox": mailbox, "uid": uid, "uidvalidity": uidvalidity},
        )
        MailboxCheckpoint.objects.filter(
            mailbox=mailbox, uidvalidity=uidvalidity
        ).update(last_uid=Greatest(F("last_uid"), uid), updated_at=now)
    return received
