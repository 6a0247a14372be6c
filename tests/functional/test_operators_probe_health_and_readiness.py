"""Load balancers ask /healthz (alive) and /readyz (every part reachable)."""

import pytest
from django.db.utils import OperationalError
from django.test import override_settings

from helpdesk import health


@pytest.mark.django_db
class TestHealth:
    def test_healthz_answers_without_touching_anything(
        self, client, django_assert_num_queries
    ):
        with django_assert_num_queries(0):
            response = client.get("/healthz")

        assert response.status_code == 200
        assert response.json() == {"status": "ok"}
        assert response["Cache-Control"].startswith("max-age=0")

    def test_readyz_reports_every_part_ready(self, client, settings):
        response = client.get("/readyz")

        body = response.json()
        assert response.status_code == 200
        assert body["status"] == "ready"
        assert body["failing"] == []
        assert body["database"] in {"sqlite", "postgresql"}
        assert body["channel_layer"] in {"InMemoryChannelLayer", "RedisChannelLayer"}
        expected_redis = (
            "ok" if settings.REDIS_URL else "not configured (embedded default)"
        )
        assert body["redis"] == expected_redis

    @override_settings(
        REDIS_URL="redis://127.0.0.1:1/0",
        CACHES={
            "default": {
                "BACKEND": "django.core.cache.backends.redis.RedisCache",
                "LOCATION": "redis://127.0.0.1:1/0",
                "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
            }
        },
    )
    def test_readyz_names_an_unreachable_redis_with_503(self, client):
        response = client.get("/readyz")

        body = response.json()
        assert response.status_code == 503
        assert body["failing"] == ["redis"]
        assert body["redis"].startswith("failing: ConnectionError")

    def test_readyz_names_a_failing_database_with_503(self, client, monkeypatch):
        def database_down() -> str:
            raise OperationalError("connection refused")

        monkeypatch.setitem(health.READINESS_CHECKS, "database", database_down)

        response = client.get("/readyz")

        assert response.status_code == 503
        assert response.json()["failing"] == ["database"]

    def test_every_response_carries_a_request_id(self, client):
        offered = client.get("/healthz", headers={"X-Request-ID": "trace-1234abcd"})
        generated = client.get("/healthz", headers={"X-Request-ID": "bad id\n"})

        assert offered["X-Request-ID"] == "trace-1234abcd"
        assert len(generated["X-Request-ID"]) == 32
