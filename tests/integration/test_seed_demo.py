"""seed_demo builds a working support floor through the real services, once."""

from io import StringIO

import pytest
from django.core.management import call_command

from pods.models import Agent, Customer, Pod
from tickets.models import InboundEnvelope, Ticket


def counts() -> dict[str, int]:
    return {
        "pods": Pod.objects.count(),
        "agents": Agent.objects.count(),
        "customers": Customer.objects.count(),
        "tickets": Ticket.objects.count(),
    }


# Committed for real: the processing the intake queues on commit runs as it
# does under `make run`, where it once stamped the demo's emails with the real
# clock instead of their time in the story.
@pytest.mark.django_db(transaction=True)
class TestSeedDemo:
    def test_builds_pods_agents_customers_and_tickets_once(self, settings):
        settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
        out = StringIO()

        call_command("seed_demo", stdout=out)
        first = counts()
        call_command("seed_demo", stdout=StringIO())

        jupiter = Pod.objects.get(name="Jupiter")
        assert counts() == first
        assert first["pods"] == 4
        assert first["agents"] == 32
        # Every customer's contact, and weeks of history before it.
        assert first["tickets"] > 2 * first["customers"] > 400
        assert jupiter.split_threshold - jupiter.customer_count == 5
        assert Ticket.objects.filter(status="SOLVED").exists()
        assert "mercury.lead" in out.getvalue()
        assert "admin" in out.getvalue()
        # The demo's emails arrive over weeks, not all today.
        processed = InboundEnvelope.objects.filter(channel="EMAIL").values_list(
            "processed_at", flat=True
        )
        assert len({when.date() for when in processed}) > 10
        # Scored against a policy scaled to the demo's volume, not everyone is Low.
        assert len(set(Agent.objects.values_list("tier", flat=True))) == 3
