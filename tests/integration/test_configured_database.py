"""The suite runs on the database the environment names; CI demands PostgreSQL."""

import os

import pytest
from django.db import connection

from tests.conftest import REAL_STACK


@pytest.mark.django_db
class TestConfiguredDatabase:
    def test_runs_on_the_database_the_environment_names(self):
        expected = "postgresql" if os.environ.get("DATABASE_URL") else "sqlite"

        assert connection.vendor == expected

    def test_real_stack_runs_on_postgresql(self):
        if not REAL_STACK:
            pytest.skip(
                "only the real stack (HELPDESK_REAL_STACK=1) must be PostgreSQL"
            )

        with connection.cursor() as cursor:
            cursor.execute("SELECT version()")
            version = cursor.fetchone()[0]

        assert connection.vendor == "postgresql"
        assert version.startswith("PostgreSQL")
