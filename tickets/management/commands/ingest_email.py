"""Ingest email from files: single .eml files, mbox files and Maildir folders.

Each message is stored as an envelope (a repeat of the same bytes is skipped)
and processed at once, so a second run over the same files adds nothing."""

import mailbox
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from tickets import services
from tickets.models import InboundEnvelope, Ticket


class Command(BaseCommand):
    help = "Ingest .eml files, mbox files or Maildir folders as inbound email."

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "paths", nargs="+", help=".eml file, folder of .eml files, mbox or Maildir"
        )
        parser.add_argument(
            "--queue",
            action="store_true",
            help="leave processing to the Celery workers instead of doing it here",
        )

    def handle(self, *args, paths: list[str], queue: bool, **options) -> None:
        outcomes: Counter[str] = Counter()
        for path in paths:
            for name, raw in self._messages(Path(path)):
                outcomes[self._ingest(raw=raw, name=name, queue=queue)] += 1
        summary = ", ".join(
            f"{count} {state.lower()}" for state, count in sorted(outcomes.items())
        )
        self.stdout.write(f"{sum(outcomes.values())} messages: {summary or 'none'}")

    def _ingest(self, *, raw: bytes, name: str, queue: bool) -> str:
        received = services.envelope_receive(
            channel=Ticket.Channel.EMAIL,
            source=InboundEnvelope.Source.FILE,
            raw=raw,
            now=timezone.now(),
            meta={"file": name[:300]},
        )
        if not received.created:
            return "already stored"
        if queue:
            return "queued"
        envelope = services.envelope_process(
            envelope_id=received.envelope.id, now=timezone.now()
        )
        if envelope.state in (envelope.State.FAILED, envelope.State.QUARANTINED):
            self.stderr.write(f"{name}: {envelope.state.lower()}: {envelope.error}")
        return envelope.state

    def _messages(self, path: Path) -> Iterator[tuple[str, bytes]]:
        if path.is_dir() and (path / "cur").is_dir() and (path / "new").is_dir():
            yield from self._folder(
                mailbox.Maildir(path, factory=None, create=False), path
            )
        elif path.is_dir():
            # A plain folder: its .eml files (anything else in it is not mail).
            for child in sorted(path.glob("*.eml")):
                yield from self._messages(child)
        elif path.is_file():
            with path.open("rb") as handle:
                is_mbox = handle.read(5) == b"From "
            if is_mbox:
                yield from self._folder(mailbox.mbox(path, create=False), path)
            else:
                yield str(path), path.read_bytes()
        else:
            raise CommandError(f"{path}: no such file or folder")

    @staticmethod
    def _folder(box: mailbox.Mailbox, path: Path) -> Iterator[tuple[str, bytes]]:
        try:
            for key in box.iterkeys():
                # get_bytes is the message as stored: an mbox "From " line is not
                # part of it, and no header is rewritten.
                yield f"{path}:{key}", box.get_bytes(key)
        finally:
            box.close()
