import secrets
import time

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from llm.calls.storage import delete_logs
from llm.models import LLMRequestLog, Source
from llm.sources.sample import store_sample_calls

BATCH = 10_000
# Seconds between progress lines: at 10M calls one line a batch would be a thousand lines.
PROGRESS_EVERY = 2.0
# Ten times the largest benchmark dataset; a typo'd count would otherwise insert until the disk is full.
MAX_COUNT = 10_000_000


class Command(BaseCommand):
    help = "Insert realistic sample LLM calls (source='sample'); --clear removes only sample rows."
    # `make demo` runs it right after migrate, which has just shown the system check warnings.
    requires_system_checks = []

    def add_arguments(self, parser):
        parser.add_argument(
            "--count", type=int, default=500, help=f"number of calls to create, at most {MAX_COUNT} (default 500)"
        )
        parser.add_argument("--days", type=int, default=30, help="spread over the last D days (default 30)")
        parser.add_argument("--seed", type=int, default=None, help="random seed, for identical data each run")
        parser.add_argument("--clear", action="store_true", help="delete existing sample rows first")
        parser.add_argument("--if-empty", action="store_true", help="do nothing when any call is stored")
        parser.add_argument(
            "--text-chars",
            type=int,
            default=400,
            help="average length of prompt and response texts in characters (default 400)",
        )

    def handle(self, *args, count, days, seed, clear, text_chars, if_empty, **options):
        if not 0 <= count <= MAX_COUNT:
            raise CommandError(f"--count must be between 0 and {MAX_COUNT}")
        if not 1 <= days <= 3650:
            raise CommandError("--days must be between 1 and 3650")
        if not 40 <= text_chars <= 100_000:
            raise CommandError("--text-chars must be between 40 and 100000")
        if if_empty and LLMRequestLog.objects.exists():
            self.stdout.write("Calls are already stored; no sample data added.")
            return
        if clear:
            removed = delete_logs(LLMRequestLog.objects.filter(source=Source.SAMPLE))
            self.stdout.write(f"Removed {removed} sample calls.")
        if count == 0:
            return
        # Whole minutes, so two runs with the same seed in the same minute are identical.
        end = timezone.now().replace(second=0, microsecond=0)
        if seed is None:
            seed = secrets.randbits(32)
        result = store_sample_calls(
            count=count,
            days=days,
            seed=seed,
            end=end,
            text_chars=text_chars,
            batch_size=BATCH,
            progress=self._progress_printer(count),
        )
        if result.skipped:
            self.stdout.write(
                f"Skipped {result.skipped} sample calls already stored (the same --seed was used before); "
                "use --clear to replace them."
            )
        self.stdout.write(
            self.style.SUCCESS(
                f"Created {result.created} sample calls and {result.feedback} feedback entries over {days} days."
            )
        )

    def _progress_printer(self, total: int):
        """A progress callback printing "  done/total calls  rate calls/s" every PROGRESS_EVERY seconds and
        at the end; the rate is the average since the start."""
        started = last = time.monotonic()

        def progress(done: int) -> None:
            nonlocal last
            now = time.monotonic()
            if now - last < PROGRESS_EVERY and done < total:
                return
            last = now
            rate = done / max(now - started, 1e-6)
            self.stdout.write(f"  {done:,}/{total:,} calls  {rate:,.0f} calls/s")
            self.stdout.flush()  # shown at once when stdout is a file or a pipe (a log of a long run)

        return progress
