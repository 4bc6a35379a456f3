import logging
import signal
import threading

from django.core.management.base import BaseCommand, CommandError
from django.db import close_old_connections
from django.utils import timezone

from llm import alerts
from llm.analytics.rollups import refresh_rollups
from llm.calls import spool
from llm.models import AlertRule

logger = logging.getLogger(__name__)

MAX_WINDOW_MINUTES = 30 * 24 * 60


class Command(BaseCommand):
    help = (
        "Evaluate the active alert rules once (for cron, e.g. every 15 minutes), or repeatedly with --loop. "
        "Also writes calls waiting in the unsaved-calls spool and refreshes the hourly rollups. "
        "--create-defaults only creates the default rules."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--create-defaults",
            action="store_true",
            help="only create the three default rules that do not exist yet, and print them; checks nothing",
        )
        parser.add_argument(
            "--time-window", type=int, metavar="MINUTES", help="override every rule's window for this run"
        )
        parser.add_argument("--rule", type=int, metavar="ID", help="check only this active rule")
        parser.add_argument("--dry-run", action="store_true", help="evaluate and print; write and send nothing")
        parser.add_argument("--loop", action="store_true", help="check again every --interval seconds until stopped")
        parser.add_argument("--interval", type=int, default=None, metavar="SECONDS", help="seconds between checks")

    def handle(self, *args, create_defaults, time_window, rule, dry_run, loop, interval, **options):
        if create_defaults:
            if loop or rule is not None or time_window is not None or interval is not None:
                raise CommandError("--create-defaults only creates the rules; run check_alerts again to check them")
            self._create_defaults(dry_run=dry_run)
            return
        self._check_arguments(time_window=time_window, rule=rule, loop=loop, interval=interval)
        if not loop:
            failed = self._one_pass(time_window=time_window, rule=rule, dry_run=dry_run)
            if failed:
                raise CommandError(f"{failed} rule(s) failed to evaluate; see the log for details")
            return
        self._loop(time_window=time_window, rule=rule, dry_run=dry_run, interval=interval)

    def _create_defaults(self, *, dry_run):
        if dry_run:
            existing = set(AlertRule.objects.values_list("name", flat=True))
            created = [AlertRule(**values) for values in alerts.DEFAULT_RULES if values["name"] not in existing]
        else:
            created = alerts.create_default_rules()
        for new_rule in created:
            label = "Would create rule" if dry_run else f"Created rule {new_rule.pk}"
            self.stdout.write(f'{label} "{new_rule.name}": {new_rule.description}')
        if not created:
            self.stdout.write(f"The {len(alerts.DEFAULT_RULES)} default rules exist already; nothing created.")
        if dry_run:
            self.stdout.write("Dry run: nothing written.")
        # Said because the option sits on the checking command: one would expect it to check as well.
        self.stdout.write("Nothing checked: run check_alerts (from cron, or with --loop) to check the rules.")

    def _check_arguments(self, *, time_window, rule, loop, interval):
        if time_window is not None and not 1 <= time_window <= MAX_WINDOW_MINUTES:
            raise CommandError(f"--time-window must be between 1 and {MAX_WINDOW_MINUTES} minutes")
        if rule is not None and not AlertRule.objects.filter(pk=rule, is_active=True).exists():
            raise CommandError(f"--rule {rule}: no active alert rule has this id")
        if interval is not None and not loop:
            raise CommandError("--interval only makes sense with --loop")
        if loop and (interval is None or interval < 1):
            raise CommandError("--loop needs --interval SECONDS (1 or more)")

    def _one_pass(self, *, time_window, rule, dry_run) -> int:
        if not dry_run:
            # First, so calls the database refused earlier count in this run's figures.
            self._flush_spool()
            self._refresh_rollups()
        results = alerts.run_checks(now=timezone.now(), window_minutes=time_window, rule_id=rule, dry_run=dry_run)
        for result in results:
            self.stdout.write(self._line(result, dry_run=dry_run))
        if not results:
            self.stdout.write("No active alert rules.")
        if dry_run:
            self.stdout.write("Dry run: nothing written, nothing sent.")
        return sum(result.action == "failed" for result in results)

    def _flush_spool(self):
        if not spool.pending_count():  # a file check, no database work
            return
        try:
            result = spool.flush()
        except Exception as exc:  # A stuck spool must not stop the alerts.
            logger.exception("Spool flush failed")
            self.stderr.write(f"Could not flush the unsaved-calls spool: {exc}")
            return
        self.stdout.write(
            f"Spool: wrote {result.written} call(s), {result.duplicates} already stored, "
            f"{result.remaining} still waiting."
        )

    def _refresh_rollups(self):
        # Figures never depend on the rollups being fresh, only their speed does; so a failure is
        # reported and the rules are checked anyway. Quiet when it works: cron mails any output.
        try:
            result = refresh_rollups(now=timezone.now())
        except Exception as exc:
            logger.exception("Rollup refresh failed")
            self.stderr.write(f"Could not refresh the rollups: {exc}")
            return
        if result.hours:
            logger.info("Rolled up %s hour(s) holding %s call(s)", result.hours, result.calls)

    def _line(self, result: alerts.RuleResult, *, dry_run: bool) -> str:
        rule = result.rule
        if result.action == "failed":
            return f"{rule.name}: FAILED ({result.error})"
        reading = result.reading
        text = (
            f"{rule.name}: {alerts.describe(rule=rule, value=reading.value)} · {reading.calls} calls · {result.state}"
        )
        if result.action != "none":
            text += f" · {'would be ' if dry_run else ''}{result.action}"
        if reading.note:
            text += f" ({reading.note})"
        if result.alert is not None and result.alert.notification_error:
            text += f" · notification failed: {result.alert.notification_error}"
        return text

    def _loop(self, *, time_window, rule, dry_run, interval):
        stop = threading.Event()
        previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            while not stop.is_set():
                # A long-lived process must not keep a connection the database has since dropped.
                close_old_connections()
                try:
                    failed = self._one_pass(time_window=time_window, rule=rule, dry_run=dry_run)
                except Exception as exc:  # e.g. the database is restarting: try again next time
                    logger.exception("Alert check pass failed")
                    self.stderr.write(f"Check failed: {exc}")
                else:
                    if failed:
                        self.stderr.write(f"{failed} rule(s) failed to evaluate; see the log for details")
                stop.wait(interval)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        self.stdout.write("Stopped.")
