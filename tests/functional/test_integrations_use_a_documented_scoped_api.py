"""The API: an OpenAPI schema and offline docs, one error format, pod scope."""

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from tests import factories


@pytest.fixture
def api():
    return APIClient()


@pytest.mark.django_db
class TestSchemaAndDocs:
    def test_schema_describes_the_pods_endpoints(self, api):
        api.force_authenticate(factories.user())

        response = api.get(
            "/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json"
        )

        paths = response.json()["paths"]
        assert response.status_code == 200
        assert {"/api/pods/", "/api/customers/lookup/", "/api/routing/preview/"} <= set(
            paths
        )

    def test_docs_load_their_assets_from_this_server(self, client):
        client.force_login(factories.user())

        page = client.get("/api/docs/").content.decode()

        assert "swagger-ui" in page
        assert "cdn." not in page
        assert "https://" not in page.split("<body")[0]


@pytest.mark.django_db
class TestErrorsAndAuth:
    def test_anonymous_caller_gets_the_error_format(self, api):
        response = api.get("/api/pods/")

        assert response.status_code in {401, 403}
        assert response.json()["error"]["code"] in {
            "not_authenticated",
            "authentication_failed",
        }

    def test_token_authentication_works(self, api):
        agent = factories.agent(pod=factories.pod())
        token = Token.objects.create(user=agent.user)

        response = api.get("/api/pods/", HTTP_AUTHORIZATION=f"Token {token.key}")

        assert response.status_code == 200
        assert [pod["id"] for pod in response.json()["results"]] == [agent.pod_id]

    def test_bad_identity_is_a_400_naming_the_field(self, api):
        api.force_authenticate(factories.agent(pod=factories.pod()).user)

        response = api.get(
            "/api/customers/lookup/", {"kind": "EMAIL", "value": "not-mail"}
        )

        error = response.json()["error"]
        assert response.status_code == 400
        assert error["code"] == "invalid"
        assert "value" in error["fields"]


@pytest.mark.django_db
class TestPodScope:
    def test_another_pods_objects_answer_404(self, api, now):
        import tickets.services

        mine, theirs = factories.staffed_pod(size=2), factories.staffed_pod(size=2)
        opened = tickets.services.ticket_open(
            identities=[("EMAIL", "x@example.com")],
            channel="EMAIL",
            subject="s",
            now=now,
        )
        other = theirs if opened.ticket.pod_id == mine.id else mine
        api.force_authenticate(factories.agent(pod=other).user)

        responses = [
            api.get(f"/api/pods/{opened.ticket.pod_id}/"),
            api.get(f"/api/pods/{opened.ticket.pod_id}/agents/"),
            api.get(
                "/api/customers/lookup/", {"kind": "EMAIL", "value": "x@example.com"}
            ),
        ]

        assert [r.status_code for r in responses] == [404, 404, 404]
        assert all("x@example.com" not in r.content.decode() for r in responses)

    def test_agent_sets_own_presence(self, api):
        agent = factories.agent(pod=factories.pod(), presence="OFFLINE")
        api.force_authenticate(agent.user)

        response = api.put("/api/me/presence/", {"presence": "AWAY"}, format="json")
        refused = api.put("/api/me/presence/", {"presence": "ASLEEP"}, format="json")

        agent.refresh_from_db()
        assert response.status_code == 200
        assert agent.presence == "AWAY"
        assert refused.status_code == 400
