import time
from datetime import UTC, datetime
from datetime import time as clock

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from llm.analytics.rollups import refresh_rollups


class Command(BaseCommand):
    help = (
        "Roll up every complete UTC hour of calls not rolled up yet or changed since (for cron, e.g. every "
        "5 minutes; check_alerts also does it). --since/--all roll up again from a date, or everything."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--since",
            metavar="ISO",
            help="roll up again every complete hour from this date or datetime on (naive means UTC)",
        )
        parser.add_argument(
            "--all", action="store_true", dest="rebuild_all", help="roll up again every hour, from the first call on"
        )

    def handle(self, *args, since, rebuild_all, **options):
        if since is not None and rebuild_all:
            raise CommandError("--since and --all cannot be combined: --all starts at the first call")
        now = timezone.now()
        start = None if since is None else _parse_since(since)
        if start is not None and start >= now:
            raise CommandError(f"--since {since} is in the future; only complete hours are rolled up")
        started = time.monotonic()
        result = refresh_rollups(
            now=now, since=start, rebuild=rebuild_all, progress=lambda line: self.stdout.write(f"  {line}")
        )
        seconds = time.monotonic() - started
        if not result.hours:
            self.stdout.write(
                "Rollups are up to date."
                if not result.skipped
                else f"Rollups are up to date ({result.skipped} hour(s) rolled up by another run)."
            )
            return
        changed = f", {result.changed} of them changed since their last roll-up" if result.changed else ""
        self.stdout.write(
            self.style.SUCCESS(
                f"Rolled up {result.hours} hour(s) holding {result.calls} call(s) in {seconds:.1f} s{changed}."
            )
        )


def _parse_since(raw: str) -> datetime:
    """An ISO 8601 date (its midnight) or datetime, naive meaning UTC; one clear line when malformed."""
    try:
        parsed = parse_datetime(raw) if len(raw) > 10 else None
        day = None if parsed else parse_date(raw)
    except ValueError:
        parsed = day = None
    if parsed is None and day is None:
        raise CommandError(f"--since {raw!r}: enter an ISO 8601 date or datetime, e.g. 2026-01-31 or 2026-01-31T12:00Z")
    if parsed is None:
        return datetime.combine(day, clock.min, tzinfo=UTC)
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
