"""Identify and route: who a contact is, which pod owns them, who takes it."""

from datetime import timedelta

import pytest

import pods.services
import tickets.services
from pods.models import (
    Agent,
    Customer,
    CustomerAssignment,
    CustomerIdentity,
    Pod,
    PossibleDuplicate,
)
from tests import factories
from tests.conftest import require_postgres
from tickets.models import Ticket


def identify(*identities, now, trusted=False):
    return pods.services.customer_identify(
        identities=list(identities), now=now, trusted=trusted
    )


def open_ticket(*identities, now, trusted=False):
    return tickets.services.ticket_open(
        identities=list(identities),
        channel=Ticket.Channel.EMAIL,
        subject="Help",
        now=now,
        trusted=trusted,
    )


def nothing_created() -> bool:
    return not (
        Customer.objects.exists()
        or CustomerIdentity.objects.exists()
        or CustomerAssignment.objects.exists()
        or Ticket.objects.exists()
        or Pod.objects.exclude(customer_count=0).exists()
    )


@pytest.mark.django_db
class TestCustomerIdentify:
    def test_creates_a_customer_with_its_identities_in_an_open_pod(self, now):
        pod = factories.staffed_pod(size=3)

        found = identify(
            ("EMAIL", "Ann@Example.com"), ("PHONE", "07700 900123"), now=now
        )

        customer = Customer.objects.get()
        assert found.created
        assert (found.customer_id, found.pod_id) == (customer.id, pod.id)
        assert set(customer.identities.values_list("kind", "value")) == {
            ("EMAIL", "ann@example.com"),
            ("PHONE", "+447700900123"),
        }
        history = CustomerAssignment.objects.get()
        assert (history.customer_id, history.from_pod_id, history.to_pod_id) == (
            customer.id,
            None,
            pod.id,
        )
        assert history.reason == CustomerAssignment.Reason.FIRST_CONTACT
        pod.refresh_from_db()
        assert pod.customer_count == 1

    def test_finds_the_same_customer_on_a_repeat_contact(self, now):
        factories.staffed_pod(size=3)
        first = identify(("EMAIL", "ann@example.com"), now=now)

        again = identify(("EMAIL", " ANN@example.COM "), now=now + timedelta(days=3))

        assert not again.created
        assert again.customer_id == first.customer_id
        assert Customer.objects.count() == 1
        assert CustomerIdentity.objects.count() == 1
        assert Pod.objects.get(id=first.pod_id).customer_count == 1

    def test_records_a_possible_duplicate_and_merges_nothing(self, now):
        factories.staffed_pod(size=3)
        ann = identify(("EMAIL", "ann@example.com"), now=now)
        phone = identify(("PHONE", "+44 7700 900123"), now=now)

        found = identify(
            ("EMAIL", "ann@example.com"), ("PHONE", "07700900123"), now=now
        )
        identify(("PHONE", "07700900123"), ("EMAIL", "ann@example.com"), now=now)

        assert found.customer_id == ann.customer_id
        assert found.possible_duplicates == (phone.customer_id,)
        duplicate = PossibleDuplicate.objects.get()
        assert (duplicate.customer_id, duplicate.other_id) == (
            ann.customer_id,
            phone.customer_id,
        )
        assert duplicate.resolved_at is None
        assert not Customer.objects.filter(merged_into__isnull=False).exists()
        assert CustomerIdentity.objects.get(kind="PHONE").customer_id == (
            phone.customer_id
        )

    def test_attaches_unknown_identities_only_when_the_channel_vouches(self, now):
        factories.staffed_pod(size=3)
        ann = identify(("EMAIL", "ann@example.com"), now=now)

        identify(("EMAIL", "ann@example.com"), ("PHONE", "07700900123"), now=now)
        untrusted = set(CustomerIdentity.objects.values_list("kind", "value"))
        identify(
            ("EMAIL", "ann@example.com"),
            ("PHONE", "07700900123"),
            now=now,
            trusted=True,
        )

        assert untrusted == {("EMAIL", "ann@example.com")}
        assert set(
            CustomerIdentity.objects.filter(customer_id=ann.customer_id).values_list(
                "kind", "value"
            )
        ) == {("EMAIL", "ann@example.com"), ("PHONE", "+447700900123")}
        assert Customer.objects.count() == 1

    def test_a_trusted_contact_never_takes_another_customers_identity(self, now):
        factories.staffed_pod(size=3)
        ann = identify(("EMAIL", "ann@example.com"), now=now)
        bob = identify(("EMAIL", "bob@example.com"), now=now)

        identify(
            ("EMAIL", "ann@example.com"),
            ("EMAIL", "bob@example.com"),
            now=now,
            trusted=True,
        )

        assert CustomerIdentity.objects.get(value="bob@example.com").customer_id == (
            bob.customer_id
        )
        assert PossibleDuplicate.objects.filter(customer_id=ann.customer_id).exists()

    @pytest.mark.parametrize(
        "identities",
        [
            [("EMAIL", '"a@x.com"@evil.test')],
            [("EMAIL", "x@evil.test <y@pod.example>")],
            [("EMAIL", "ann@example.com, bob@example.com")],
            [("PHONE", "call me"), ("EMAIL", "ann at example")],
            [("FAX", "0123")],
            [],
        ],
    )
    def test_refuses_a_contact_that_identifies_nobody(self, now, identities):
        factories.staffed_pod(size=3)

        with pytest.raises(pods.services.InvalidContact):
            pods.services.customer_identify(identities=identities, now=now)

        assert nothing_created()

    def test_skips_an_unusable_identity_beside_a_good_one(self, now):
        factories.staffed_pod(size=3)

        identify(("PHONE", "call me"), ("EMAIL", "ann@example.com"), now=now)

        assert list(CustomerIdentity.objects.values_list("kind", "value")) == [
            ("EMAIL", "ann@example.com")
        ]

    def test_refuses_a_new_customer_when_no_pod_is_open(self, now):
        pod = factories.staffed_pod(size=3)
        Pod.objects.filter(id=pod.id).update(accepts_new_customers=False)

        with pytest.raises(pods.services.NoPodAvailable):
            identify(("EMAIL", "ann@example.com"), now=now)

        assert nothing_created()

    def test_sends_new_customers_to_staffed_pods_before_empty_ones(self, now):
        factories.pod()
        staffed = factories.staffed_pod(size=2)

        found = [identify(("EMAIL", f"c{i}@example.com"), now=now) for i in range(5)]

        assert {f.pod_id for f in found} == {staffed.id}


@pytest.mark.django_db
class TestContactRoute:
    def test_routes_a_known_customer_to_their_pod_and_previous_agent(self, now):
        first_pod = factories.staffed_pod(size=3)
        ticket = open_ticket(("EMAIL", "ann@example.com"), now=now).ticket
        tickets.services.ticket_solve(ticket=ticket, now=now)
        factories.staffed_pod(size=5)  # emptier, but ann is already owned

        route = pods.services.contact_route(
            identities=[("EMAIL", "ann@example.com")], now=now
        )

        assert route.pod_id == first_pod.id
        assert route.agent_id == ticket.assignee_id
        assert not route.customer_created

    def test_gives_the_contact_to_the_least_loaded_when_previous_is_away(self, now):
        pod = factories.staffed_pod(size=3)
        ticket = open_ticket(("EMAIL", "ann@example.com"), now=now).ticket
        tickets.services.ticket_solve(ticket=ticket, now=now)
        previous = Agent.objects.get(id=ticket.assignee_id)
        pods.services.agent_presence_set(
            agent=previous, presence=Agent.Presence.AWAY, now=now
        )
        busy, idle = pod.members.exclude(id=previous.id).order_by("id")
        Agent.objects.filter(id=busy.id).update(open_ticket_count=4)

        route = pods.services.contact_route(
            identities=[("EMAIL", "ann@example.com")], now=now
        )

        assert route.agent_id == idle.id

    def test_leaves_the_contact_for_the_pod_queue_when_nobody_can_take_it(self, now):
        pod = factories.staffed_pod(size=2)
        Agent.objects.filter(pod=pod).update(presence=Agent.Presence.OFFLINE)

        opened = open_ticket(("EMAIL", "ann@example.com"), now=now)

        assert opened.ticket.pod_id == pod.id
        assert opened.ticket.assignee_id is None
        assert opened.ticket.status == Ticket.Status.NEW

    def test_routes_a_known_customer_in_five_queries(
        self, now, django_assert_num_queries
    ):
        factories.staffed_pod(size=10)
        ticket = open_ticket(("EMAIL", "ann@example.com"), now=now).ticket
        tickets.services.ticket_solve(ticket=ticket, now=now)

        # identity, owner (identify), owner (route), previous agent, pod's agents
        with django_assert_num_queries(2):
            route = pods.services.contact_route(
                identities=[("EMAIL", "ann@example.com"), ("PHONE", "07700900123")],
                now=now,
            )

        assert route.agent_id == ticket.assignee_id

    def test_routes_a_new_customer_in_a_fixed_number_of_queries(
        self, now, django_assert_num_queries
    ):
        for size in (3, 6, 9):
            factories.staffed_pod(size=size)

        # identities, savepoint, pod loads, customer, identities, history,
        # counter, threshold check, release, owner, pod's agents
        with django_assert_num_queries(10):
            route = pods.services.contact_route(
                identities=[("EMAIL", "new@example.com"), ("PHONE", "07700900123")],
                now=now,
            )

        assert route.customer_created


@pytest.mark.django_db
class TestNewCustomerSpread:
    def test_spreads_a_thousand_new_customers_evenly_per_active_agent(self, now):
        sized = {factories.staffed_pod(size=size).id: size for size in (4, 8, 12)}

        for number in range(1000):
            identify(("EMAIL", f"customer{number}@example.com"), now=now)

        counts = dict(Pod.objects.values_list("id", "customer_count"))
        assert sum(counts.values()) == 1000 == Customer.objects.count()
        per_agent = [counts[pod_id] / agents for pod_id, agents in sized.items()]
        even = 1000 / sum(sized.values())
        assert all(abs(share - even) / even <= 0.01 for share in per_agent)


@pytest.mark.django_db(transaction=True)
class TestConcurrentFirstContacts:
    def test_fifty_first_contacts_from_one_new_address_make_one_customer(
        self, now, run_concurrently
    ):
        require_postgres()
        pod = factories.staffed_pod(size=4)

        results = run_concurrently(
            lambda index: open_ticket(("EMAIL", "New@X.com"), now=now), count=50
        )

        assert [r for r in results if isinstance(r, Exception)] == []
        customer = Customer.objects.get()
        assert list(CustomerIdentity.objects.values_list("kind", "value")) == [
            ("EMAIL", "new@x.com")
        ]
        assert sum(r.customer_created for r in results) == 1
        pod.refresh_from_db()
        assert pod.customer_count == 1 == Customer.objects.filter(pod=pod).count()
        assert Ticket.objects.filter(customer=customer, pod=pod).count() == 50
        assert CustomerAssignment.objects.count() == 1
