"""The satisfaction figures read surveys by when they were answered: the index
that serves every agent's ratings of a period (csat_by_agent, read by the
nightly proficiency run) exists, and on PostgreSQL the planner can use it."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

import tickets.selectors
from tests.conftest import require_postgres
from tickets.models import SatisfactionSurvey

pytestmark = pytest.mark.django_db


def indexes_of(model) -> dict[str, list[str]]:
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(
            cursor, model._meta.db_table
        )
    return {
        name: details["columns"]
        for name, details in constraints.items()
        if details["index"] and not details["primary_key"]
    }


class TestSurveyIndexes:
    def test_answer_time_leads_an_index_of_its_own(self):
        indexes = indexes_of(SatisfactionSurvey)

        assert indexes["survey_answered"] == ["answered_at"]
        assert indexes["survey_pod"] == ["pod_id", "answered_at"]
        assert indexes["survey_agent"] == ["agent_id", "answered_at"]

    def test_every_agents_ratings_of_a_period_can_use_it(self, now):
        require_postgres()
        with CaptureQueriesContext(connection) as captured:
            tickets.selectors.csat_by_agent(start=now - timedelta(days=30), end=now)
        (query,) = captured.captured_queries

        agent_only = [
            name
            for name, columns in indexes_of(SatisfactionSurvey).items()
            if columns == ["agent_id"]
        ]
        with connection.cursor() as cursor:
            # Without rows the planner would scan the table whatever exists:
            # forbid that and see which index it reaches for. On an empty table
            # the foreign key's own index (agent only, the period as a filter)
            # costs the same, so it is set aside inside this test's transaction.
            cursor.execute("SET LOCAL enable_seqscan = off")
            for name in agent_only:
                cursor.execute(f'DROP INDEX "{name}"')
            cursor.execute("EXPLAIN " + query["sql"])
            plan = "\n".join(row[0] for row in cursor.fetchall())

        index_conditions = [line for line in plan.splitlines() if "Index Cond" in line]
        assert any("answered_at" in line for line in index_conditions), plan
