"""Reads behind the pod pages: who is in a pod, in the order the page shows."""

from datetime import date

import pytest
from django.utils import timezone

import pods.selectors
import pods.services
from pods.models import Agent
from tests import factories


def member(*, pod, role, first_name, last_name, left: bool = False) -> Agent:
    hired = pods.services.agent_hire(
        user=factories.user(first_name=first_name, last_name=last_name),
        pod=pod,
        role=role,
        hired_on=date(2024, 1, 1),
        now=timezone.now(),
    )
    if left:
        Agent.objects.filter(id=hired.id).update(left_on=date(2025, 1, 1))
    return hired


@pytest.mark.django_db
class TestPodMembers:
    def test_lists_the_pods_lead_first_then_by_role_and_name(self):
        pod = factories.pod()
        specialist = member(
            pod=pod, role=Agent.Role.SPECIALIST, first_name="Ada", last_name="Abel"
        )
        zed = member(pod=pod, role=Agent.Role.AGENT, first_name="Zed", last_name="Z")
        amy = member(pod=pod, role=Agent.Role.AGENT, first_name="Amy", last_name="A")
        # The pod's lead sorts after another lead by name, yet comes first.
        lead = member(pod=pod, role=Agent.Role.LEAD, first_name="Yan", last_name="Y")
        pod.lead = lead
        pod.save(update_fields=["lead"])
        other_lead = member(
            pod=pod, role=Agent.Role.LEAD, first_name="Bea", last_name="B"
        )

        members = list(pods.selectors.pod_members(pod_id=pod.id))

        assert members == [lead, other_lead, amy, zed, specialist]

    def test_leaves_out_agents_who_left_and_other_pods(self):
        pod, other = factories.staffed_pod(size=2), factories.staffed_pod(size=2)
        gone = member(
            pod=pod, role=Agent.Role.AGENT, first_name="Gus", last_name="G", left=True
        )

        members = list(pods.selectors.pod_members(pod_id=pod.id))

        assert len(members) == 2
        assert gone not in members
        assert not set(members) & set(other.members.all())

    def test_is_one_query_with_the_users(self, django_assert_num_queries):
        pod = factories.staffed_pod(size=4)

        with django_assert_num_queries(1):
            names = [str(agent) for agent in pods.selectors.pod_members(pod_id=pod.id)]

        assert len(names) == 4
