"""python manage.py refresh_figures [--days 90] [--pod POD ...]: recompute the
dashboards' day rows of the last days (by each pod's clock) from the tickets,
then the period rows; a progress line per day and the time taken."""

import time
from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

import pods.selectors
from tickets import services


class Command(BaseCommand):
    help = "Recompute the pods' figures of the last days, then their periods."

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--days", type=int, default=2, help="local days up to today (default 2)"
        )
        parser.add_argument(
            "--pod", action="append", default=[], help="pod id or name (repeatable)"
        )

    def handle(self, *args, days: int, pod: list[str], **options) -> None:
        if days < 1:
            raise CommandError("--days must be 1 or more")
        pod_ids = [self.pod_id(reference) for reference in pod] or None
        now = timezone.now()
        started = time.monotonic()
        # Every pod's last `days` local days, whatever its time zone (UTC-12 to
        # UTC+14): a day not begun yet for a pod is skipped for it.
        first = (now - timedelta(hours=12)).date() - timedelta(days=days - 1)
        last = (now + timedelta(hours=14)).date()
        count = (last - first).days + 1
        rows = 0
        # Oldest first, a day at a time: each day commits on its own, so an
        # interrupted run keeps what it did and a rerun is harmless.
        for index in range(count):
            day = first + timedelta(days=index)
            rows += services.figures_refresh(days=[day], pod_ids=pod_ids, now=now)
            self.stdout.write(
                f"\r  {day}: {index + 1}/{count} days, {rows} day rows, "
                f"{time.monotonic() - started:.1f} s",
                ending="",
            )
            self.stdout.flush()
        periods = services.figures_periods_refresh(now=now, pod_ids=pod_ids)
        self.stdout.write("")
        self.stdout.write(
            self.style.SUCCESS(
                f"Figures refreshed: {rows} day rows, {periods} period rows "
                f"in {time.monotonic() - started:.1f} s"
            )
        )

    def pod_id(self, reference: str) -> int:
        found = pods.selectors.pod_by_id_or_name(reference=reference)
        if found is None:
            raise CommandError(f"no pod {reference!r}")
        return found.id
