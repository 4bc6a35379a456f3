from django.core.management.base import BaseCommand, CommandError

from llm.calls import spool


class Command(BaseCommand):
    help = (
        "Write the calls spooled while the database refused them (logs/unsaved_calls.jsonl) into the "
        "database, each exactly once; records that still fail stay in the spool."
    )

    def handle(self, *args, **options):
        result = spool.flush()
        if result.busy:
            # Not a failure: the other run owns these records and reports on them itself.
            self.stdout.write(
                f"Another flush_spool is writing the spool now ({result.remaining} calls pending); nothing to do."
            )
            return
        self.stdout.write(
            f"Written {result.written}, already stored {result.duplicates}, remaining {result.remaining}."
        )
        if result.remaining:
            # Non-zero so cron mail or monitoring notices calls that cannot be saved.
            raise CommandError(f"{result.remaining} spooled calls could not be written yet; see the application log.")
