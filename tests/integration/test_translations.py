"""The product speaks English and Korean: the Korean catalogue is complete and
compiled, pages follow the browser's language or the one picked in the header,
and every signed-in page shows times in the agent's own time zone.

The catalogue is checked by parsing the committed .po and .mo in Python: a fresh
machine has no GNU gettext, and the committed .mo is what runs there."""

import ast
import gettext
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from django.conf import settings
from django.test import RequestFactory
from django.urls import reverse
from django.utils import timezone

from pods.middleware import AgentTimeZoneMiddleware
from pods.models import Agent, Pod
from tests import factories
from tests.functional.test_agent_signs_in_and_sees_home import assert_page
from tests.functional.test_agent_works_the_queue import signed_in, ticket_in
from tickets.models import SlaPolicy

KOREAN = Path(settings.LOCALE_PATHS[0]) / "ko" / "LC_MESSAGES"
KOREAN_BROWSER = {"HTTP_ACCEPT_LANGUAGE": "ko-KR,ko;q=0.9,en;q=0.5"}
ENGLISH_BROWSER = {"HTTP_ACCEPT_LANGUAGE": "en-GB,en;q=0.9"}
# 03:00 UTC is noon in Seoul (UTC+9, no daylight saving).
WRITTEN_AT = datetime(2026, 1, 15, 3, 0, tzinfo=UTC)


# --- The catalogue ------------------------------------------------------------------


def po_entries(path: Path) -> list[dict]:
    """The entries of a .po file as {"msgctxt", "msgid", "msgid_plural", "msgstr"
    (form index to text), "flags"}, in order; obsolete (#~) entries skipped."""
    entries, entry, field = [], {"flags": set()}, None

    def finish() -> dict:
        if "msgid" in entry:
            entries.append(entry)
        return {"flags": set()}

    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#~"):
            continue
        if line.startswith("#"):
            if "msgstr" in entry:
                entry = finish()
            if line.startswith("#,"):
                entry["flags"] |= {flag.strip() for flag in line[2:].split(",")}
            continue
        if line.startswith('"'):
            container, key = field
            container[key] += ast.literal_eval(line)
            continue
        keyword, _, quoted = line.partition(" ")
        if keyword in ("msgctxt", "msgid") and "msgstr" in entry:
            entry = finish()
        if keyword.startswith("msgstr"):
            index = int(keyword[7:-1]) if "[" in keyword else 0
            field = (entry.setdefault("msgstr", {}), index)
        else:
            field = (entry, keyword)
        field[0][field[1]] = ast.literal_eval(quoted)
    finish()
    return entries


def catalogue_of(entries: list[dict]) -> dict:
    """What a compiled .mo holds for these entries, keyed as GNUTranslations keys
    its catalogue: "context\\x04msgid", and (msgid, n) for plural forms."""
    catalogue = {}
    for entry in entries:
        key = entry["msgid"]
        if "msgctxt" in entry:
            key = f"{entry['msgctxt']}\x04{key}"
        if "msgid_plural" in entry:
            for index, text in entry["msgstr"].items():
                catalogue[(key, index)] = text
        else:
            catalogue[key] = entry["msgstr"][0]
    return catalogue


class TestKoreanCatalogue:
    def test_every_message_has_a_korean_translation(self):
        entries = po_entries(KOREAN / "django.po")
        messages = [entry for entry in entries if entry["msgid"]]

        untranslated = [
            entry["msgid"]
            for entry in messages
            if not all(text.strip() for text in entry["msgstr"].values())
        ]
        fuzzy = [entry["msgid"] for entry in entries if "fuzzy" in entry["flags"]]

        assert len(messages) > 500
        assert untranslated == []
        assert fuzzy == []

    def test_the_header_says_korean_with_one_plural_form(self):
        header = po_entries(KOREAN / "django.po")[0]

        assert header["msgid"] == ""
        assert "Language: ko\n" in header["msgstr"][0]
        assert "Plural-Forms: nplurals=1; plural=0;" in header["msgstr"][0]

    def test_the_compiled_catalogue_matches_the_po_file(self):
        expected = catalogue_of(po_entries(KOREAN / "django.po"))
        with open(KOREAN / "django.mo", "rb") as compiled:
            translations = gettext.GNUTranslations(compiled)

        compiled_catalogue = dict(translations._catalog)
        # The header is parsed from the .mo, not compared as text.
        del expected[""], compiled_catalogue[""]
        stale = sorted(
            str(key)
            for key in expected.keys() | compiled_catalogue.keys()
            if expected.get(key) != compiled_catalogue.get(key)
        )
        assert stale == [], "run compilemessages (README, Languages)"

    def test_placeholders_survive_translation(self):
        for entry in po_entries(KOREAN / "django.po"):
            if "python-format" not in entry["flags"]:
                continue
            source = entry.get("msgid_plural", entry["msgid"])
            for text in entry["msgstr"].values():
                assert _placeholders(text) == _placeholders(source), entry["msgid"]


def _placeholders(text: str) -> set[str]:
    return set(re.findall(r"%\(\w+\)[sd]|%%", text))


# --- Pages in the browser's language ------------------------------------------------


@pytest.fixture
def pod(db):
    made = factories.staffed_pod(size=2)
    Agent.objects.filter(pod=made).update(presence=Agent.Presence.OFFLINE)
    return made


@pytest.fixture
def agent(pod):
    return Agent.objects.filter(pod=pod, role=Agent.Role.AGENT).order_by("id").first()


@pytest.mark.django_db
class TestPagesFollowTheBrowsersLanguage:
    def test_queue_page(self, client, pod, agent):
        ticket_in(pod, subject="Meter")
        client = signed_in(client, agent)

        korean = assert_page(client.get(reverse("queue"), **KOREAN_BROWSER), "미배정")
        english = assert_page(client.get(reverse("queue"), **ENGLISH_BROWSER))

        assert '<html lang="ko">' in korean
        assert "대기열" in korean
        assert "담당하기" in korean
        assert "Unassigned" not in korean
        assert '<html lang="en">' in english
        assert "Unassigned" in english
        assert "Take" in english
        assert "미배정" not in english

    def test_ticket_page(self, client, pod, agent):
        ticket = ticket_in(pod, subject="Meter")
        client = signed_in(client, agent)
        url = reverse("ticket-detail", args=[ticket.id])

        korean = assert_page(client.get(url, **KOREAN_BROWSER), "대화", "내부 메모")
        english = assert_page(client.get(url, **ENGLISH_BROWSER), "Conversation")

        assert "Internal note" not in korean
        assert "Internal note" in english

    def test_sign_in_page(self, client, db):
        korean = assert_page(client.get(reverse("login"), **KOREAN_BROWSER), "로그인")
        english = assert_page(client.get(reverse("login"), **ENGLISH_BROWSER))

        assert "Sign in" not in korean
        assert "Sign in" in english

    def test_contact_form(self, client, db):
        korean = assert_page(
            client.get(reverse("contact"), **KOREAN_BROWSER),
            "문의하기",
            "메시지 보내기",
            "이메일 주소",
        )
        english = assert_page(client.get(reverse("contact"), **ENGLISH_BROWSER))

        assert "Send message" not in korean
        assert "Contact us" in english
        assert "Send message" in english

    def test_a_refusal_from_a_service_is_translated(self, client, pod, agent):
        ticket = ticket_in(pod)
        colleague = Agent.objects.filter(pod=pod).exclude(id=agent.id).first()
        signed_in(client, colleague).post(reverse("ticket-take", args=[ticket.id]))

        response = signed_in(client, agent).post(
            reverse("ticket-take", args=[ticket.id]), follow=True, **KOREAN_BROWSER
        )

        assert "이미 이 티켓을 담당하고 있어요" in response.content.decode()


# --- The header's language switcher -------------------------------------------------


@pytest.mark.django_db
class TestLanguageSwitcher:
    def test_every_page_offers_both_languages_named_in_themselves(self, client):
        html = assert_page(client.get(reverse("login"), **ENGLISH_BROWSER))

        assert f'action="{reverse("set_language")}"' in html
        assert 'value="ko" lang="ko">한국어</button>' in html
        assert 'value="en" lang="en" aria-current="true">English</button>' in html

    def test_the_choice_outranks_the_browser_for_the_session(self, client, pod, agent):
        client = signed_in(client, agent)
        queue = reverse("queue")

        switched = client.post(
            reverse("set_language"),
            {"language": "ko", "next": queue},
            **ENGLISH_BROWSER,
        )
        korean = assert_page(client.get(queue, **ENGLISH_BROWSER), "미배정")

        assert switched.status_code == 302
        assert switched["Location"] == queue
        assert switched.cookies[settings.LANGUAGE_COOKIE_NAME].value == "ko"
        assert 'value="ko" lang="ko" aria-current="true">한국어</button>' in korean

        client.post(reverse("set_language"), {"language": "en", "next": queue})
        english = assert_page(client.get(queue, **KOREAN_BROWSER), "Unassigned")
        assert "미배정" not in english

    def test_an_unknown_language_changes_nothing(self, client, db):
        response = client.post(
            reverse("set_language"), {"language": "xx", "next": "/"}, **ENGLISH_BROWSER
        )

        assert response.status_code == 302
        assert settings.LANGUAGE_COOKIE_NAME not in response.cookies


# --- Times in the agent's time zone -------------------------------------------------


@pytest.mark.django_db
class TestTimesInTheAgentsZone:
    def test_ticket_page_shows_seoul_wall_time(self, client, pod, agent):
        Agent.objects.filter(id=agent.id).update(time_zone="Asia/Seoul")
        ticket = ticket_in(pod, now=WRITTEN_AT)

        html = assert_page(
            signed_in(client, agent).get(reverse("ticket-detail", args=[ticket.id])),
            "Times in Asia/Seoul",
        )

        assert 'datetime="2026-01-15T12:00:00+09:00"' in html

    def test_queue_page_shows_seoul_wall_time(self, client, pod, agent):
        Agent.objects.filter(id=agent.id).update(time_zone="Asia/Seoul")
        SlaPolicy.objects.create(name="All", first_response_minutes=60)
        ticket_in(pod, now=WRITTEN_AT)

        html = assert_page(
            signed_in(client, agent).get(reverse("queue")), "Times in Asia/Seoul"
        )

        # Due an hour after it was written: 13:00 in Seoul.
        assert 'datetime="2026-01-15T13:00:00+09:00"' in html

    def test_the_agents_own_zone_outranks_the_pods(self, client, pod, agent):
        Pod.objects.filter(id=pod.id).update(time_zone="America/New_York")
        Agent.objects.filter(id=agent.id).update(time_zone="Asia/Seoul")
        ticket = ticket_in(pod, now=WRITTEN_AT)

        html = signed_in(client, agent).get(reverse("ticket-detail", args=[ticket.id]))

        assert 'datetime="2026-01-15T12:00:00+09:00"' in html.content.decode()

    def test_an_agent_who_kept_the_default_sees_the_pods_zone(self, client, pod, agent):
        Pod.objects.filter(id=pod.id).update(time_zone="America/New_York")
        ticket = ticket_in(pod, now=WRITTEN_AT)

        html = signed_in(client, agent).get(reverse("ticket-detail", args=[ticket.id]))

        assert 'datetime="2026-01-14T22:00:00-05:00"' in html.content.decode()


@pytest.mark.django_db
class TestAgentTimeZoneMiddleware:
    def zone_seen(self, user) -> str:
        request = RequestFactory().get("/pods/")
        request.user = user
        seen = []

        def view(request):
            seen.append(timezone.get_current_timezone_name())
            return None

        AgentTimeZoneMiddleware(view)(request)
        return seen[0]

    def test_activates_the_agents_zone_for_any_page(self, pod, agent):
        Agent.objects.filter(id=agent.id).update(time_zone="Asia/Seoul")
        agent.refresh_from_db()

        assert self.zone_seen(agent.user) == "Asia/Seoul"
        assert timezone.get_current_timezone_name() == settings.TIME_ZONE

    def test_a_user_who_is_no_agent_sees_the_sites_zone(self, db):
        assert self.zone_seen(factories.admin_user()) == settings.TIME_ZONE

    def test_a_zone_this_machine_does_not_know_falls_back_to_utc(self, pod, agent):
        Agent.objects.filter(id=agent.id).update(time_zone="Mars/Olympus_Mons")

        assert self.zone_seen(agent.user) == "UTC"
