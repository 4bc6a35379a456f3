"""manage.py check_alerts: defaults, one line per rule, --dry-run, --rule, --time-window, --loop, bad arguments."""

import io
import os
import signal
import subprocess
import sys
import threading
from datetime import timedelta
from pathlib import Path

import pytest
from django.core import mail
from django.core.management import CommandError, call_command

from llm.calls import spool
from llm.models import AlertLog, AlertRule, LLMRequestLog
from llm.tests.conftest import NOW


@pytest.fixture
def failing_calls(make_log):
    """20 failed calls ten minutes before NOW."""
    for _ in range(20):
        make_log(timestamp=NOW - timedelta(minutes=10), status=LLMRequestLog.Status.ERROR, error_type="timeout")


def make_rule(**fields):
    values = {"name": "Errors", "metric_type": "error_rate", "threshold": 5.0, "min_requests": 10}
    values.update(fields)
    return AlertRule.objects.create(**values)


def run(*args):
    out = io.StringIO()
    call_command("check_alerts", *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


@pytest.mark.django_db
def test_it_creates_the_three_defaults_only_once_and_prints_them(frozen):
    first = run("--create-defaults").splitlines()
    second = run("--create-defaults").splitlines()

    ids = dict(AlertRule.objects.values_list("name", "pk"))
    assert first == [
        f'Created rule {ids["High error rate"]} "High error rate": More than 5 % of calls failed in the last hour.',
        f'Created rule {ids["Slow responses (P95)"]} "Slow responses (P95)": '
        "P95 latency above 5,000 ms in the last hour.",
        f'Created rule {ids["Token spike"]} "Token spike": '
        "Tokens in the last hour at least 3 times those of the hour before.",
        "Nothing checked: run check_alerts (from cron, or with --loop) to check the rules.",
    ]
    assert second == [
        "The 3 default rules exist already; nothing created.",
        "Nothing checked: run check_alerts (from cron, or with --loop) to check the rules.",
    ]
    assert sorted(AlertRule.objects.values_list("metric_type", flat=True)) == ["error_rate", "latency", "token_spike"]


@pytest.mark.django_db
def test_it_only_creates_the_defaults_and_checks_nothing(frozen, failing_calls):
    run("--create-defaults")

    assert AlertLog.objects.count() == 0
    assert mail.outbox == []
    assert set(AlertRule.objects.values_list("state", "last_evaluated_at")) == {("ok", None)}


@pytest.mark.django_db
def test_it_prints_one_line_per_rule_with_value_threshold_and_state(frozen, failing_calls):
    make_rule(name="A errors")
    make_rule(name="B quiet", threshold=100, comparison="gt")

    out = run()

    assert out.splitlines() == [
        "A errors: Error rate 100 % (threshold > 5 %) · 20 calls · firing · fired",
        "B quiet: Error rate 100 % (threshold > 100 %) · 20 calls · ok",
    ]
    assert AlertLog.objects.get().alert_rule.name == "A errors"
    assert len(mail.outbox) == 1


@pytest.mark.django_db
def test_it_writes_and_sends_nothing_in_a_dry_run(frozen, failing_calls):
    rule = make_rule()

    out = run("--dry-run")

    assert out.strip().splitlines() == [
        "Errors: Error rate 100 % (threshold > 5 %) · 20 calls · firing · would be fired",
        "Dry run: nothing written, nothing sent.",
    ]
    assert not AlertLog.objects.exists()
    rule.refresh_from_db()
    assert (rule.state, rule.last_evaluated_at, rule.last_value) == ("ok", None, None)
    assert mail.outbox == []


@pytest.mark.django_db
def test_it_creates_no_defaults_in_a_dry_run_and_says_which_it_would(frozen):
    AlertRule.objects.create(name="Token spike", metric_type="token_spike", threshold=4)

    out = run("--create-defaults", "--dry-run").splitlines()

    assert out[:3] == [
        'Would create rule "High error rate": More than 5 % of calls failed in the last hour.',
        'Would create rule "Slow responses (P95)": P95 latency above 5,000 ms in the last hour.',
        "Dry run: nothing written.",
    ]
    assert list(AlertRule.objects.values_list("name", flat=True)) == ["Token spike"]


@pytest.mark.django_db
def test_it_overrides_every_rules_window(frozen, make_log):
    make_rule(time_window_minutes=60)
    for _ in range(20):
        make_log(timestamp=NOW - timedelta(minutes=100), status="error", error_type="timeout")

    assert "0 calls · ok" in run()
    assert "20 calls · firing · fired" in run("--time-window", "120")


@pytest.mark.django_db
def test_it_checks_only_the_rule_asked_for(frozen, failing_calls):
    make_rule(name="A errors")
    chosen = make_rule(name="B errors")

    out = run("--rule", str(chosen.pk))

    assert out.startswith("B errors:")
    assert "A errors" not in out
    assert list(AlertLog.objects.values_list("alert_rule__name", flat=True)) == ["B errors"]


@pytest.mark.django_db
def test_it_says_so_when_no_rule_is_active(frozen):
    make_rule(is_active=False)

    assert run().strip() == "No active alert rules."


@pytest.mark.django_db
def test_it_runs_the_other_rules_and_exits_non_zero_when_one_fails(frozen, failing_calls):
    broken = make_rule(name="A broken")
    AlertRule.objects.filter(pk=broken.pk).update(metric_type="no_such_metric")
    make_rule(name="B errors")
    out = io.StringIO()

    with pytest.raises(CommandError, match=r"^1 rule\(s\) failed to evaluate; see the log for details$"):
        call_command("check_alerts", stdout=out, stderr=io.StringIO())

    lines = out.getvalue().splitlines()
    assert lines[0].startswith("A broken: FAILED (")
    assert lines[1].startswith("B errors: Error rate 100 %")
    assert AlertLog.objects.get().alert_rule.name == "B errors"


def spool_failed_calls(count):
    for _ in range(count):
        spool.append(
            row=LLMRequestLog(
                timestamp=NOW - timedelta(minutes=3),
                model_name="openai/gpt-oss-20b",
                status=LLMRequestLog.Status.ERROR,
                error_type="timeout",
                latency_ms=30000.0,
            ),
            reason="OperationalError: database is locked",
        )


@pytest.mark.django_db
def test_it_writes_spooled_calls_first_so_they_count(frozen):
    make_rule()
    spool_failed_calls(12)

    out = run()

    assert out.splitlines() == [
        "Spool: wrote 12 call(s), 0 already stored, 0 still waiting.",
        "Errors: Error rate 100 % (threshold > 5 %) · 12 calls · firing · fired",
    ]
    assert LLMRequestLog.objects.count() == 12
    assert spool.pending_count() == 0


@pytest.mark.django_db
def test_it_leaves_the_spool_alone_in_a_dry_run(frozen):
    make_rule()
    spool_failed_calls(12)

    out = run("--dry-run")

    assert "0 calls" in out
    assert spool.pending_count() == 12
    assert not LLMRequestLog.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--time-window", "0"], "--time-window must be between 1 and 43200 minutes"),
        (["--time-window", "43201"], "--time-window must be between 1 and 43200 minutes"),
        (["--time-window", "soon"], "Error: argument --time-window: invalid int value: 'soon'"),
        (["--rule", "999999"], "--rule 999999: no active alert rule has this id"),
        (["--interval", "60"], "--interval only makes sense with --loop"),
        (["--loop"], "--loop needs --interval SECONDS (1 or more)"),
        (["--loop", "--interval", "0"], "--loop needs --interval SECONDS (1 or more)"),
        (
            ["--create-defaults", "--loop", "--interval", "60"],
            "--create-defaults only creates the rules; run check_alerts again to check them",
        ),
        (
            ["--create-defaults", "--rule", "1"],
            "--create-defaults only creates the rules; run check_alerts again to check them",
        ),
    ],
)
def test_it_rejects_bad_arguments_with_one_clear_line(args, message):
    with pytest.raises(CommandError) as caught:
        call_command("check_alerts", *args, stdout=io.StringIO(), stderr=io.StringIO())

    assert str(caught.value) == message
    assert "\n" not in str(caught.value)


@pytest.mark.django_db(transaction=True)
def test_it_loops_until_sigterm(make_log):
    # Real time and real commits here, as in a long-lived process: the loop waits on a real clock and
    # recycles its database connection between passes.
    for _ in range(20):
        make_log(status=LLMRequestLog.Status.ERROR, error_type="timeout")
    make_rule()
    out = io.StringIO()

    def stop_after_first_pass():
        # Waits for output rather than for time: the loop itself waits an hour between passes.
        for _ in range(1000):
            if "fired" in out.getvalue():
                break
            threading.Event().wait(0.01)
        os.kill(os.getpid(), signal.SIGTERM)

    previous = signal.getsignal(signal.SIGTERM)
    killer = threading.Thread(target=stop_after_first_pass)
    killer.start()
    call_command("check_alerts", "--loop", "--interval", "3600", stdout=out, stderr=io.StringIO())
    killer.join()

    assert out.getvalue().splitlines()[-1] == "Stopped."
    assert AlertLog.objects.count() == 1
    assert signal.getsignal(signal.SIGTERM) is previous


def test_it_exits_non_zero_with_one_line_on_stderr():
    base = Path(__file__).resolve().parents[2]
    result = subprocess.run(
        [sys.executable, "manage.py", "check_alerts", "--time-window", "0"],
        cwd=base,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "core.settings"},
    )

    assert result.returncode == 1
    assert result.stderr.strip() == "CommandError: --time-window must be between 1 and 43200 minutes"
