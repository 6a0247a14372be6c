"""python manage.py refresh_authority_figures [--days 90] [--pod ID ...]
[--delegation]: recompute the authority rollups of the dashboards (the last
`days` local days of each pod, then its period rows), as the beat tasks do; used
after loading data (the demo seed, the benchmark)."""

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from authority import services


class Command(BaseCommand):
    help = "Recompute the authority figures of the pod dashboards."

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--days",
            type=int,
            default=services.FIGURE_PERIODS[-1],
            help="Local days to recompute, today included (default 90).",
        )
        parser.add_argument(
            "--pod", type=int, action="append", dest="pods", help="Only this pod."
        )
        parser.add_argument(
            "--delegation",
            action="store_true",
            help="Also store the delegation recommendations' snapshot.",
        )

    def handle(self, *args, days: int, pods, delegation: bool, **options) -> None:
        if days < 1:
            raise CommandError("--days must be at least 1")
        now = timezone.now()
        refreshed = services.authority_figures_refresh(now=now, days=days, pod_ids=pods)
        self.stdout.write(
            f"{refreshed.pods} pods, {refreshed.days} pod-days: "
            f"{refreshed.day_rows} day rows, {refreshed.agent_rows} agent rows"
        )
        if delegation:
            snapshot = services.delegation_snapshot_refresh(now=now)
            self.stdout.write(
                f"{len(snapshot.recommendations)} delegation recommendations"
            )
