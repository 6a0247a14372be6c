"""`manage.py fetch_mail` against a real IMAP server (dovecot on loopback, TLS)."""

import io

import pytest
from django.core.management import call_command

from tests import factories
from tests.imap_server import imap_server
from tickets.models import InboundEnvelope, MailboxCheckpoint, Message

pytestmark = pytest.mark.django_db


@pytest.fixture
def server():
    with imap_server() as running:
        yield running


@pytest.fixture
def pod(db):
    return factories.staffed_pod(size=2)


def fetch(server, settings, after_store="seen", **options) -> str:
    settings.HELPDESK = {**settings.HELPDESK, "IMAP": server.settings(after_store)}
    out = io.StringIO()
    call_command("fetch_mail", stdout=out, **options)
    return out.getvalue()


class TestFetchMail:
    def test_stores_new_mail_once_and_marks_it_seen(
        self, server, pod, settings, django_capture_on_commit_callbacks
    ):
        server.deliver([factories.email_bytes(subject=f"Mail {n}") for n in range(3)])

        with django_capture_on_commit_callbacks(execute=True):
            first = fetch(server, settings)
            second = fetch(server, settings)

        assert "3 new messages" in first
        assert "0 new messages" in second
        assert InboundEnvelope.objects.filter(source="IMAP").count() == 3
        assert Message.objects.count() == 3
        assert server.uids("UNSEEN") == []
        assert MailboxCheckpoint.objects.get().last_uid == max(server.uids())

    def test_resumes_after_the_checkpoint(
        self, server, pod, settings, django_capture_on_commit_callbacks
    ):
        server.deliver([factories.email_bytes(subject="one")])
        with django_capture_on_commit_callbacks(execute=True):
            fetch(server, settings)
        server.deliver([factories.email_bytes(subject="two")])

        with django_capture_on_commit_callbacks(execute=True):
            out = fetch(server, settings)

        assert "1 new messages" in out
        assert sorted(Message.objects.values_list("ticket__subject", flat=True)) == [
            "one",
            "two",
        ]

    def test_a_lost_checkpoint_stores_nothing_twice(
        self, server, pod, settings, django_capture_on_commit_callbacks
    ):
        server.deliver([factories.email_bytes() for _ in range(2)])
        with django_capture_on_commit_callbacks(execute=True):
            fetch(server, settings, after_store="keep")
        MailboxCheckpoint.objects.update(last_uid=0)

        with django_capture_on_commit_callbacks(execute=True):
            fetch(server, settings, after_store="keep")

        assert InboundEnvelope.objects.count() == 2
        assert Message.objects.count() == 2

    def test_delete_removes_only_stored_mail(
        self, server, pod, settings, django_capture_on_commit_callbacks
    ):
        server.deliver([factories.email_bytes() for _ in range(3)])

        with django_capture_on_commit_callbacks(execute=True):
            fetch(server, settings, after_store="delete", limit=2)

        assert len(server.uids()) == 1
        assert InboundEnvelope.objects.count() == 2
