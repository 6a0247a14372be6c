"""python manage.py split_pod POD [--dry-run]: preview or run a pod split now.

Lives in tickets because a split moves open tickets with their customers."""

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

import pods.selectors
import pods.services
from tickets import services


class Command(BaseCommand):
    help = "Preview (--dry-run) or run the split of a pod, given its id or name."

    def add_arguments(self, parser) -> None:
        parser.add_argument("pod", help="pod id or exact name")
        parser.add_argument("--dry-run", action="store_true", help="show the plan only")

    def handle(self, *args, pod: str, dry_run: bool, **options) -> None:
        found = pods.selectors.pod_by_id_or_name(reference=pod)
        if found is None:
            raise CommandError(f"no pod {pod!r}")
        try:
            plan = pods.selectors.pod_split_plan(pod=found)
        except pods.selectors.CannotSplit as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(
            f"{found.name}: {plan.customers_total} customers, "
            f"{len(plan.members.moving) + len(plan.members.staying)} members\n"
            f"  new lead: agent {plan.members.new_lead_id}\n"
            f"  moving agents: {list(plan.members.moving)} "
            f"tiers {plan.tier_mix_moving}\n"
            f"  staying agents: {list(plan.members.staying)} "
            f"tiers {plan.tier_mix_staying}\n"
            f"  customers moving: {plan.customers.moved_total} "
            f"(following their agent {plan.customers.followers_moving}, "
            f"unowned {plan.customers.unowned}, "
            f"leaving a staying agent {plan.customers.followers_staying})"
        )
        if dry_run:
            return
        now = timezone.now()
        try:
            split = pods.services.pod_split_request(
                pod_id=found.id, reason="split_pod command", now=now
            )
        except pods.services.SplitRefused as exc:
            raise CommandError(str(exc)) from exc
        moved = services.pod_split_run(split_id=split.id, now=now)
        self.stdout.write(
            self.style.SUCCESS(f"split {split.id} done: {moved} customers moved")
        )
