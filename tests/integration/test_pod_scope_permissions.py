"""One backend decides object permissions: own pod only, unless allowed all pods."""

import pytest

from pods.models import Customer
from tests import factories


@pytest.fixture
def two_pods():
    return factories.staffed_pod(size=2), factories.staffed_pod(size=2)


@pytest.mark.django_db
class TestPodScopeBackend:
    def test_agent_sees_own_pod_and_not_another(self, two_pods):
        mine, theirs = two_pods
        agent = factories.agent(pod=mine)

        assert agent.user.has_perm("pods.view_pod", mine)
        assert not agent.user.has_perm("pods.view_pod", theirs)

    def test_scope_follows_objects_that_carry_a_pod(self, two_pods, now):
        import pods.services

        mine, _ = two_pods
        agent = factories.agent(pod=mine)
        found = pods.services.customer_identify(
            identities=[("EMAIL", "c@example.com")], now=now
        )
        customer = Customer.objects.get(id=found.customer_id)

        allowed = agent.user.has_perm("pods.view_customer", customer)

        assert allowed == (customer.pod_id == mine.id)

    def test_lead_is_scoped_like_an_agent(self, two_pods):
        mine, theirs = two_pods

        assert mine.lead.user.has_perm("pods.view_pod", mine)
        assert not mine.lead.user.has_perm("pods.view_pod", theirs)

    def test_admin_sees_every_pod(self, two_pods):
        admin = factories.admin_user()

        assert all(admin.has_perm("pods.view_pod", pod) for pod in two_pods)

    def test_model_permission_is_still_required(self, two_pods):
        mine, _ = two_pods
        agent = factories.agent(pod=mine)

        assert not agent.user.has_perm("pods.change_pod", mine)
        assert not agent.user.has_perm("pods.split_pod")

    def test_inactive_user_and_user_without_agent_see_nothing(self, two_pods):
        mine, _ = two_pods
        agent = factories.agent(pod=mine)
        agent.user.is_active = False
        agent.user.save()
        stranger = factories.user()

        assert not agent.user.has_perm("pods.view_pod", mine)
        assert not stranger.has_perm("pods.view_pod", mine)
