"""`manage.py ingest_email` over the corpus in tests/emails (charsets, nesting,
attachments, hostile HTML, bounces, auto-replies, missing headers, tricky
senders), as .eml files, as an mbox and as a Maildir: nothing crashes, each
file ends in a final state with its reason, and a second pass adds nothing."""

import io
import mailbox
from pathlib import Path

import pytest
from django.core.management import call_command

from tests import factories
from tickets.models import Attachment, InboundEnvelope, Message, Ticket

pytestmark = pytest.mark.django_db

CORPUS = Path(__file__).resolve().parents[1] / "emails"
FINAL_STATES = {"PROCESSED", "DUPLICATE", "IGNORED", "QUARANTINED", "FAILED"}


@pytest.fixture
def pod(db):
    return factories.staffed_pod(size=3)


def corpus_files() -> list[Path]:
    return sorted(CORPUS.glob("*.eml"))


def ingest(*paths) -> str:
    out, err = io.StringIO(), io.StringIO()
    call_command("ingest_email", *map(str, paths), stdout=out, stderr=err)
    return out.getvalue()


class TestIngestEmail:
    def test_the_corpus_is_there(self):
        assert len(corpus_files()) >= 30

    def test_every_file_ends_in_a_final_state_and_a_rerun_adds_nothing(self, pod):
        ingest(CORPUS)
        counts = (
            InboundEnvelope.objects.count(),
            Message.objects.count(),
            Ticket.objects.count(),
            Attachment.objects.count(),
        )

        summary = ingest(CORPUS)

        assert set(InboundEnvelope.objects.values_list("state", flat=True)) <= (
            FINAL_STATES
        )
        assert InboundEnvelope.objects.count() == len(corpus_files())
        assert "already stored" in summary
        assert (
            InboundEnvelope.objects.count(),
            Message.objects.count(),
            Ticket.objects.count(),
            Attachment.objects.count(),
        ) == counts
        assert not InboundEnvelope.objects.filter(state="FAILED", error="").exists()

    def test_stored_html_carries_no_script(self, pod):
        ingest(CORPUS)

        for html in Message.objects.exclude(html="").values_list("html", flat=True):
            lowered = html.lower()
            assert "<script" not in lowered
            assert "javascript:" not in lowered
            assert " onerror=" not in lowered
            assert " onload=" not in lowered

    def test_an_mbox_and_a_maildir_hold_the_same_messages(self, pod, tmp_path):
        box = mailbox.mbox(tmp_path / "archive.mbox")
        maildir = mailbox.Maildir(tmp_path / "Maildir")
        for number in range(3):
            raw = factories.email_bytes(subject=f"Archived {number}")
            box.add(raw)
            maildir.add(raw)
        box.flush()
        box.close()

        ingest(tmp_path / "archive.mbox")
        again = ingest(tmp_path / "Maildir")

        assert Message.objects.count() == 3
        assert "3 duplicate" in again or "already stored" in again

    def test_a_missing_path_is_a_clear_error(self, tmp_path):
        from django.core.management.base import CommandError

        with pytest.raises(CommandError, match="no such file"):
            ingest(tmp_path / "nothing-here")
