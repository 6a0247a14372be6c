"""`manage.py refresh_figures` and the beat task: day rows for every pod's
last days, then the period rows pages read."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

import tickets.selectors
import tickets.services
import tickets.tasks
from tests import factories
from tickets.models import PodDayFigures, PodPeriodFigures


@pytest.fixture
def pod(db):
    made = factories.staffed_pod(size=2, name="Mercury")
    tickets.services.ticket_open(
        identities=[("EMAIL", "ann@customer.example")],
        channel="EMAIL",
        subject="Meter",
        now=timezone.now(),
    )
    return made


class TestRefreshFiguresCommand:
    def test_fills_the_days_and_the_periods_with_progress(self, pod):
        out = StringIO()

        call_command("refresh_figures", "--days", "5", stdout=out)

        assert "Figures refreshed:" in out.getvalue()
        assert "5/" in out.getvalue()
        assert PodDayFigures.objects.filter(pod=pod).count() >= 5
        assert PodPeriodFigures.objects.filter(pod=pod).count() == 4
        figures = tickets.selectors.pod_figures(pod_id=pod.id, period_days=1)
        assert figures.contacts == 1

    def test_an_unknown_pod_is_refused_before_any_work(self, pod):
        with pytest.raises(CommandError, match="no pod 'Pluto'"):
            call_command("refresh_figures", "--pod", "Pluto", stdout=StringIO())

        assert not PodDayFigures.objects.exists()


class TestRefreshFiguresTask:
    def test_refreshes_today_and_yesterday_then_the_periods(self, pod):
        written = tickets.tasks.refresh_figures.delay().get()

        assert written == PodDayFigures.objects.filter(pod=pod).count()
        assert 1 <= written <= 3  # today and yesterday (and tomorrow east of UTC)
        assert tickets.selectors.pod_figures(pod_id=pod.id, period_days=7).contacts == 1
