from datetime import UTC, datetime, time
from decimal import Decimal

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from llm.calls.pricing import recompute_costs


def parse_since(value: str) -> datetime:
    """An ISO date (midnight UTC) or datetime (naive means UTC)."""
    try:
        moment = parse_datetime(value)
        if moment is None:
            day = parse_date(value)
            moment = datetime.combine(day, time.min) if day else None
    except ValueError:
        moment = None
    if moment is None:
        raise CommandError(f"--since must be an ISO 8601 date or datetime (e.g. 2026-01-31), got {value!r}")
    if timezone.is_naive(moment):
        return timezone.make_aware(moment, UTC)
    try:
        # Converted here: the query would otherwise overflow with a traceback at year 0 or 10000.
        return moment.astimezone(UTC)
    except (OverflowError, ValueError):
        raise CommandError(f"--since is outside years 1-9999 once converted to UTC, got {value!r}") from None


def usd(amount: Decimal, *, sign: bool = False) -> str:
    """'$1,234.567890': costs are stored to 6 places, so 2 would show most single calls as $0.00."""
    text = f"${abs(amount):,.6f}"
    if amount < 0:
        return "-" + text
    return "+" + text if sign else text


class Command(BaseCommand):
    help = "Re-price stored calls from the ModelPrice table, e.g. after adding or correcting a price."

    def add_arguments(self, parser):
        parser.add_argument("--model", help="only calls of this model")
        parser.add_argument("--since", help="only calls from this ISO date or datetime on (UTC when naive)")
        parser.add_argument("--dry-run", action="store_true", help="report what would change, write nothing")
        parser.add_argument(
            "--include-sender-costs",
            action="store_true",
            help="also re-price calls whose cost was sent with them to /api/ingest/ (kept by default)",
        )

    def handle(self, *args, model, since, dry_run, include_sender_costs, **options):
        result = recompute_costs(
            model_name=model,
            since=parse_since(since) if since else None,
            dry_run=dry_run,
            include_sender_costs=include_sender_costs,
        )
        verb = "would change" if dry_run else "changed"
        self.stdout.write(
            f"Examined {result.examined} calls; {result.changed} costs {verb}; {result.unpriced} unpriced."
        )
        if result.changed:
            # Sums over the changed calls only, and said so: printed bare, "before 0.000000" read as the total.
            self.stdout.write(
                f"Cost of the changed calls: {usd(result.cost_before)} before, {usd(result.cost_after)} after "
                f"({usd(result.difference, sign=True)})."
            )
        if result.sender_kept:
            self.stdout.write(
                f"Kept the cost their sender gave on {result.sender_kept} calls "
                "(--include-sender-costs re-prices them)."
            )
        if dry_run:
            self.stdout.write("Dry run: nothing written.")
