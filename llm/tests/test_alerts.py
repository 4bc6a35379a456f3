"""llm.alerts: reading each metric (rules), the ok/firing state machine (state), notifications (notify) and
the backtest."""

import threading
from datetime import timedelta

import pytest
import time_machine
from django.core import mail
from django.db import connection, connections

from llm.alerts import state as alert_state
from llm.alerts.backtest import backtest_rule
from llm.alerts.notify import Delivery, send_test_notification
from llm.alerts.rules import create_default_rules, is_breached, iso_utc
from llm.alerts.state import RuleState, check_rule, run_checks
from llm.analytics.percentiles import latency_percentiles
from llm.models import AlertLog, AlertRule, LLMRequestLog
from llm.tests.conftest import NOW

ERROR = LLMRequestLog.Status.ERROR


@pytest.fixture
def add_calls(make_log):
    """add_calls(n, errors=k, minutes_ago=m, **fields): n calls m minutes before NOW, the first k failed."""

    def add(count, *, errors=0, minutes_ago=5, **fields):
        for index in range(count):
            values = {"timestamp": NOW - timedelta(minutes=minutes_ago), **fields}
            if index < errors:
                values.update(status=ERROR, error_type="server_error")
            make_log(**values)

    return add


def make_rule(**fields):
    values = {
        "name": "Errors",
        "metric_type": AlertRule.MetricType.ERROR_RATE,
        "threshold": 5.0,
        "time_window_minutes": 60,
        "min_requests": 10,
        "cooldown_minutes": 60,
    }
    values.update(fields)
    return AlertRule.objects.create(**values)


def check(rule, **kwargs):
    return check_rule(rule=AlertRule.objects.get(pk=rule.pk), now=kwargs.pop("now", NOW), **kwargs)


# --- Error rate, comparisons, min_requests, per-model ----------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(("errors", "fires"), [(4, False), (5, False), (6, True)])
def test_it_fires_error_rate_only_above_threshold(frozen, add_calls, errors, fires):
    rule = make_rule(threshold=5)
    add_calls(100, errors=errors)

    result = check(rule)

    assert result.reading.value == errors
    assert result.action == ("fired" if fires else "none")
    assert AlertLog.objects.filter(alert_rule=rule).count() == int(fires)
    assert AlertRule.objects.get(pk=rule.pk).state == ("firing" if fires else "ok")


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("comparison", "expected"),
    # Error rates 4 %, 5 % and 6 % against a threshold of 5.
    [
        ("gt", [False, False, True]),
        ("gte", [False, True, True]),
        ("lt", [True, False, False]),
        ("lte", [True, True, False]),
    ],
)
def test_it_applies_each_comparison(frozen, comparison, expected):
    rule = make_rule(comparison=comparison, threshold=5)
    assert [is_breached(rule=rule, value=value) for value in (4.0, 5.0, 6.0)] == expected
    assert is_breached(rule=rule, value=None) is False


@pytest.mark.django_db
def test_it_fires_a_lt_rule_through_the_whole_check(frozen, add_calls):
    rule = make_rule(comparison="lt", threshold=50, metric_type="error_rate")
    add_calls(20, errors=2)  # 10 %, below 50

    assert check(rule).action == "fired"


@pytest.mark.django_db
def test_it_does_not_fire_below_min_requests(frozen, add_calls):
    rule = make_rule(min_requests=10)
    add_calls(9, errors=9)

    result = check(rule)

    assert result.reading.value == 100.0
    assert result.reading.eligible is False
    assert "fewer than min_requests=10" in result.reading.note
    assert result.action == "none"
    assert not AlertLog.objects.exists()
    assert mail.outbox == []


@pytest.mark.django_db
def test_it_counts_only_the_rules_model_and_window(frozen, add_calls):
    rule = make_rule(model_name="llama-3.1-8b-instant", threshold=5)
    add_calls(20, errors=20, model_name="openai/gpt-oss-20b")
    add_calls(20, errors=2, model_name="llama-3.1-8b-instant")
    add_calls(20, errors=20, model_name="llama-3.1-8b-instant", minutes_ago=61)  # before the window

    result = check(rule)

    assert result.reading.calls == 20
    assert result.reading.value == 10.0
    alert = AlertLog.objects.get()
    assert alert.model_name == "llama-3.1-8b-instant"
    assert "model=llama-3.1-8b-instant" in mail.outbox[0].body


@pytest.mark.django_db
def test_it_uses_the_overridden_window(frozen, add_calls):
    rule = make_rule(time_window_minutes=60)
    add_calls(20, errors=20, minutes_ago=90)

    assert check(rule).reading.calls == 0
    result = check(rule, window_minutes=120)
    assert result.reading.calls == 20
    assert result.reading.window_start == NOW - timedelta(minutes=120)


# --- Latency (P95) ---------------------------------------------------------------------


@pytest.fixture
def twenty_latencies(make_log):
    """20 calls at 100, 200, ..., 2000 ms: P95 by linear interpolation is 1900 + 0.05 × 100 = 1905 ms."""
    for step in range(1, 21):
        make_log(timestamp=NOW - timedelta(minutes=step), latency_ms=step * 100.0)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("comparison", "threshold", "fires"),
    [("gt", 1904.99, True), ("gt", 1905, False), ("gt", 1905.01, False), ("gte", 1905, True), ("lte", 1905, True)],
)
def test_it_fires_latency_on_the_p95(frozen, twenty_latencies, comparison, threshold, fires):
    rule = make_rule(metric_type="latency", comparison=comparison, threshold=threshold)

    result = check(rule)

    assert result.reading.value == 1905.0
    assert result.action == ("fired" if fires else "none")


@pytest.mark.django_db
def test_it_reports_the_same_p95_as_the_metrics_function(frozen, make_log):
    for index, latency in enumerate([12.5, 830.0, 97.25, 4100.0, 220.0, 220.0, 15000.0, 640.0, 51.0, 3300.0, 7.0]):
        make_log(timestamp=NOW - timedelta(minutes=index + 1), latency_ms=latency)
    rule = make_rule(metric_type="latency", threshold=1, min_requests=1)

    expected = latency_percentiles(queryset=LLMRequestLog.objects.all(), fractions=(0.95,))[0.95]

    assert check(rule).reading.value == round(expected, 2)
    assert round(expected, 2) == 9550.0  # numpy.percentile(values, 95) = 4100 + 0.5 × (15000 − 4100)


@pytest.mark.django_db
def test_it_backtests_latency_with_the_same_percentile(frozen, twenty_latencies):
    rule = make_rule(metric_type="latency", threshold=1900)

    result = backtest_rule(rule=rule, days=1, now=NOW)

    assert (result["evaluated"], result["would_fire"], result["max_value"]) == (1, 1, 1905.0)


@pytest.mark.django_db
def test_it_backtests_latency_per_window_with_edges_in_the_right_window(frozen, twenty_latencies, make_log):
    for step in range(1, 21):  # 10 ... 200 ms in the hour before: P95 190.5
        make_log(timestamp=NOW - timedelta(minutes=60 + step), latency_ms=step * 10.0)
    make_log(timestamp=NOW - timedelta(minutes=60), latency_ms=5000.0)  # 11:00:00 sharp: the later window
    rule = make_rule(metric_type="latency", threshold=1000)

    result = backtest_rule(rule=rule, days=1, now=NOW)

    # Later window: 100 ... 2000 and 5000 → P95 at rank 19 of 21 = 2000.
    assert (result["evaluated"], result["breached"], result["max_value"]) == (2, 1, 2000.0)
    assert result["fires"] == [
        {"window_start": "2026-03-02T11:00:00Z", "window_end": "2026-03-02T12:00:00Z", "value": 2000.0}
    ]


# --- Token spike -------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(("current", "fires"), [(290, False), (300, True), (310, True)])
def test_it_fires_token_spike_at_n_times_the_previous_window(frozen, add_calls, current, fires):
    rule = make_rule(metric_type="token_spike", comparison="gte", threshold=3, min_requests=1)
    add_calls(10, minutes_ago=90, prompt_tokens=10, completion_tokens=0)  # 100 tokens before
    add_calls(1, minutes_ago=10, prompt_tokens=current, completion_tokens=0)

    result = check(rule)

    assert result.reading.value == current / 100
    assert result.action == ("fired" if fires else "none")


@pytest.mark.django_db
def test_it_does_not_fire_token_spike_without_a_previous_window(frozen, add_calls):
    rule = make_rule(metric_type="token_spike", comparison="gte", threshold=3, min_requests=1)
    add_calls(50, minutes_ago=10)

    result = check(rule)

    assert result.reading.value is None
    assert result.reading.note == "no tokens in the previous window"
    assert result.action == "none"


@pytest.mark.django_db
def test_it_does_not_fire_token_spike_when_the_previous_window_had_zero_tokens(frozen, add_calls):
    rule = make_rule(metric_type="token_spike", comparison="gte", threshold=3, min_requests=1)
    add_calls(5, minutes_ago=90, prompt_tokens=0, completion_tokens=0)
    add_calls(5, minutes_ago=10)

    assert check(rule).action == "none"
    assert not AlertLog.objects.exists()


# --- State machine -----------------------------------------------------------------


@pytest.mark.django_db
def test_it_records_the_alert_with_its_window_and_value(frozen, add_calls):
    rule = make_rule(name="API errors", threshold=5)
    add_calls(50, errors=10)

    check(rule)

    alert = AlertLog.objects.get()
    assert alert.metric_value == 20.0
    assert alert.threshold == 5.0
    assert alert.window_start == NOW - timedelta(minutes=60)
    assert alert.window_end == NOW
    assert alert.triggered_at == NOW
    assert alert.notified_at == NOW
    assert alert.notification_error == ""
    assert alert.is_reminder is False
    assert (
        alert.message == "API errors: Error rate 20 % (threshold > 5 %) over the last 60 minutes (all models, 50 calls)"
    )
    rule.refresh_from_db()
    assert (rule.state, rule.last_value, rule.last_evaluated_at) == ("firing", 20.0, NOW)


@pytest.mark.django_db
def test_it_emails_subject_with_rule_and_value_and_body_with_window_and_link(frozen, add_calls, settings):
    settings.SITE_URL = "https://llm.example.com"
    rule = make_rule(name="API errors", threshold=5, email_recipients="a@example.com, b@example.com")
    add_calls(50, errors=10)

    check(rule)

    assert len(mail.outbox) == 1
    email = mail.outbox[0]
    assert email.subject == "[FIRING] API errors: Error rate 20 % (threshold > 5 %)"
    assert email.to == ["a@example.com", "b@example.com"]
    assert email.from_email == settings.DEFAULT_FROM_EMAIL
    assert "Value:     20 %" in email.body
    assert "Threshold: > 5 %" in email.body
    assert "Window:    2026-03-02T11:00:00Z to 2026-03-02T12:00:00Z (50 calls)" in email.body
    assert (
        "https://llm.example.com/logs/?start_date=2026-03-02T11%3A00%3A00Z&end_date=2026-03-02T12%3A00%3A00Z"
        in email.body
    )


@pytest.mark.django_db
def test_it_emails_the_settings_recipients_when_the_rule_names_none(frozen, add_calls):
    rule = make_rule()
    add_calls(20, errors=20)

    check(rule)

    assert mail.outbox[0].to == ["oncall@example.com"]  # ALERT_EMAIL_RECIPIENTS in pytest_env


@pytest.mark.django_db
def test_it_sends_no_email_when_the_rule_opts_out(frozen, add_calls):
    rule = make_rule(notify_email=False)
    add_calls(20, errors=20)

    check(rule)

    assert mail.outbox == []
    assert AlertLog.objects.get().notified_at is None


@pytest.mark.django_db
def test_it_stays_quiet_while_firing_within_the_cooldown(frozen, add_calls):
    rule = make_rule(cooldown_minutes=60)
    add_calls(20, errors=20)
    check(rule)

    frozen.shift(timedelta(minutes=59))
    result = check(rule, now=NOW + timedelta(minutes=59), window_minutes=120)

    assert result.action == "none"
    assert result.state == "firing"
    assert AlertLog.objects.count() == 1
    assert len(mail.outbox) == 1


@pytest.mark.django_db
def test_it_sends_one_reminder_after_the_cooldown(frozen, add_calls):
    rule = make_rule(cooldown_minutes=60)
    add_calls(20, errors=20)
    check(rule)

    later = NOW + timedelta(minutes=60)
    frozen.move_to(later)
    first = check(rule, now=later, window_minutes=120)
    again = check(rule, now=later + timedelta(minutes=15), window_minutes=120)

    assert (first.action, again.action) == ("reminded", "none")
    reminder = AlertLog.objects.get(is_reminder=True)
    assert reminder.triggered_at == later
    assert [email.subject.split("]")[0] for email in mail.outbox] == ["[FIRING", "[STILL FIRING"]


@pytest.mark.django_db
def test_it_resolves_the_open_alerts_and_says_so(frozen, add_calls):
    rule = make_rule(cooldown_minutes=0)
    add_calls(20, errors=20)
    check(rule)
    check(rule, now=NOW + timedelta(minutes=1))  # a reminder, also open
    add_calls(400, minutes_ago=1)  # healthy traffic dilutes the errors

    result = check(rule, now=NOW + timedelta(minutes=2))

    assert result.action == "resolved"
    assert result.state == "ok"
    assert set(AlertLog.objects.values_list("resolved_at", flat=True)) == {NOW + timedelta(minutes=2)}
    assert mail.outbox[-1].subject.startswith("[RESOLVED] Errors: Error rate 4.76 % (threshold > 5 %)")
    assert "back to normal" in mail.outbox[-1].body


@pytest.mark.django_db
def test_it_neither_fires_nor_resolves_without_enough_calls(frozen, add_calls):
    rule = make_rule()
    add_calls(20, errors=20)
    check(rule)

    result = check(rule, now=NOW + timedelta(minutes=90))  # the window is empty now

    assert result.reading.calls == 0
    assert (result.action, result.state) == ("none", "firing")
    assert AlertLog.objects.get().resolved_at is None


@pytest.mark.django_db
def test_it_starts_a_fresh_alert_when_a_firing_rules_alerts_were_deleted(frozen, add_calls):
    rule = make_rule()
    add_calls(20, errors=20)
    check(rule)
    AlertLog.objects.all().delete()

    result = check(rule, now=NOW + timedelta(minutes=15))

    assert result.action == "fired"
    assert AlertLog.objects.get().triggered_at == NOW + timedelta(minutes=15)


@pytest.mark.django_db
def test_it_writes_nothing_in_a_dry_run(frozen, add_calls):
    rule = make_rule()
    add_calls(20, errors=20)

    result = check(rule, dry_run=True)

    assert (result.action, result.state) == ("fired", "firing")
    assert not AlertLog.objects.exists()
    rule.refresh_from_db()
    assert (rule.state, rule.last_value, rule.last_evaluated_at) == ("ok", None, None)
    assert mail.outbox == []


# --- Running all rules, failures --------------------------------------------------


@pytest.mark.django_db
def test_it_skips_a_rule_that_raises_and_runs_the_others(frozen, add_calls):
    broken = make_rule(name="A broken")
    AlertRule.objects.filter(pk=broken.pk).update(metric_type="no_such_metric")
    make_rule(name="B errors")
    make_rule(name="C inactive", is_active=False)
    add_calls(20, errors=20)

    results = run_checks(now=NOW)

    assert [(r.rule.name, r.action) for r in results] == [("A broken", "failed"), ("B errors", "fired")]
    assert "no_such_metric" in results[0].error
    assert AlertLog.objects.get().alert_rule.name == "B errors"


@pytest.mark.django_db
def test_it_records_a_failing_smtp_and_still_runs_the_other_rules(frozen, add_calls, settings):
    settings.EMAIL_BACKEND = "llm.tests.webhooks.FailingEmailBackend"
    make_rule(name="A errors")
    make_rule(name="B errors", threshold=1)
    add_calls(20, errors=20)

    results = run_checks(now=NOW)

    assert [r.action for r in results] == ["fired", "fired"]
    for alert in AlertLog.objects.all():
        assert alert.notification_error == "email: SMTPException: Connection unexpectedly closed"
        assert alert.notified_at is None


@pytest.mark.django_db
def test_it_creates_the_three_defaults_once():
    assert len(create_default_rules()) == 3
    assert create_default_rules() == []
    rules = {r.metric_type: (r.comparison, r.threshold) for r in AlertRule.objects.all()}
    assert rules == {"error_rate": ("gt", 5.0), "latency": ("gt", 5000.0), "token_spike": ("gte", 3.0)}


@pytest.mark.django_db
def test_it_records_an_alert_that_had_nobody_to_email(frozen, add_calls, settings):
    settings.ALERT_EMAIL_RECIPIENTS = []
    rule = make_rule()
    add_calls(20, errors=20)

    check(rule)

    alert = AlertLog.objects.get()
    assert alert.notified_at is None
    assert alert.notification_error == (
        "email: no recipients (set the rule's email_recipients or ALERT_EMAIL_RECIPIENTS)"
    )
    assert mail.outbox == []


# --- Webhooks ----------------------------------------------------------------------


@pytest.mark.django_db
def test_it_posts_a_slack_compatible_webhook(frozen, add_calls, webhook_server, settings):
    settings.SITE_URL = "https://llm.example.com"
    rule = make_rule(name="API errors", webhook_url=webhook_server.url("/ok"), notify_email=False)
    add_calls(20, errors=4)

    check(rule)

    (received,) = webhook_server.received
    assert received["content_type"] == "application/json"
    payload = received["json"]
    assert payload["text"].startswith("[FIRING] API errors: Error rate 20 % (threshold > 5 %)")
    alert = AlertLog.objects.get()
    assert payload["event"] == "fired"
    assert payload["alert_id"] == alert.pk
    assert payload["value"] == 20.0
    assert payload["calls"] == 20
    assert payload["rule"] == {
        "id": rule.pk,
        "name": "API errors",
        "metric_type": "error_rate",
        "comparison": "gt",
        "threshold": 5.0,
        "model_name": "",
    }
    assert payload["window_start"] == "2026-03-02T11:00:00Z"
    assert payload["window_end"] == "2026-03-02T12:00:00Z"
    assert payload["dashboard_url"].startswith("https://llm.example.com/logs/?start_date=")
    assert alert.notified_at == NOW


@pytest.mark.django_db
def test_it_retries_a_failing_webhook_twice_and_records_the_error(frozen, add_calls, webhook_server, fast_webhooks):
    rule = make_rule(webhook_url=webhook_server.url("/fail"))
    add_calls(20, errors=20)

    check(rule)

    assert webhook_server.paths() == ["/fail", "/fail", "/fail"]
    alert = AlertLog.objects.get()
    assert alert.notification_error == "webhook: HTTP 500"
    assert alert.notified_at == NOW  # the email still went out
    assert len(mail.outbox) == 1


@pytest.mark.django_db
def test_it_does_not_retry_a_webhook_the_receiver_rejects(frozen, add_calls, webhook_server, fast_webhooks):
    rule = make_rule(webhook_url=webhook_server.url("/reject"), notify_email=False)
    add_calls(20, errors=20)

    check(rule)

    assert webhook_server.paths() == ["/reject"]
    assert AlertLog.objects.get().notification_error == "webhook: HTTP 400"


@pytest.mark.django_db
def test_it_gives_up_on_a_webhook_that_times_out(frozen, add_calls, webhook_server, fast_webhooks):
    rule = make_rule(webhook_url=webhook_server.url("/slow"), notify_email=False)
    add_calls(20, errors=20)

    check(rule)

    alert = AlertLog.objects.get()
    assert len(webhook_server.paths()) == 3
    assert alert.notification_error.startswith("webhook: ")
    assert "timed out" in alert.notification_error
    assert alert.notified_at is None


@pytest.mark.django_db
def test_it_sends_a_test_notification_without_an_alert(frozen, webhook_server):
    rule = make_rule(name="API errors", webhook_url=webhook_server.url("/ok"))

    delivery = send_test_notification(rule=rule)

    assert delivery == Delivery(delivered=True, error="")
    assert mail.outbox[0].subject == "[TEST] API errors: Error rate no data (threshold > 5 %)"
    assert webhook_server.received[0]["json"]["event"] == "test"
    assert not AlertLog.objects.exists()


# --- Backtest ----------------------------------------------------------------------


@pytest.mark.django_db
def test_it_backtests_how_often_a_rule_would_have_fired(frozen, add_calls):
    rule = make_rule(threshold=5, time_window_minutes=60, cooldown_minutes=120)
    # Two incidents: one of three hours (one fire, one reminder after two hours), one of one hour.
    for hours_ago in (30, 29, 28):
        add_calls(20, errors=10, minutes_ago=hours_ago * 60 - 30)
    add_calls(20, errors=10, minutes_ago=10 * 60 - 30)
    add_calls(20, errors=0, minutes_ago=20 * 60 - 30)  # healthy hour
    add_calls(5, errors=5, minutes_ago=5 * 60 - 30)  # too few calls to count
    add_calls(20, errors=10, minutes_ago=8 * 24 * 60)  # older than the 7 days asked for

    result = backtest_rule(rule=rule, days=7, now=NOW)

    assert result["windows"] == 7 * 24
    assert result["evaluated"] == 5
    assert result["breached"] == 4
    assert result["would_fire"] == 2
    assert result["reminders"] == 1
    assert result["max_value"] == 100.0
    assert result["fires"] == [
        {"window_start": "2026-03-01T06:00:00Z", "window_end": "2026-03-01T07:00:00Z", "value": 50.0},
        {"window_start": "2026-03-02T02:00:00Z", "window_end": "2026-03-02T03:00:00Z", "value": 50.0},
    ]


@pytest.mark.django_db
@pytest.mark.parametrize("offset", [timedelta(0), timedelta(microseconds=1), timedelta(minutes=59, seconds=59.999999)])
def test_it_backtests_a_call_on_a_window_edge_into_the_window_it_starts(frozen, add_calls, offset):
    rule = make_rule(threshold=5)
    edge = NOW - timedelta(hours=1)
    add_calls(20, errors=20, minutes_ago=(NOW - edge - offset) / timedelta(minutes=1))

    result = backtest_rule(rule=rule, days=1, now=NOW)

    assert [fire["window_start"] for fire in result["fires"]] == ["2026-03-02T11:00:00Z"]


@pytest.mark.django_db
def test_it_backtests_a_token_spike_against_the_window_before(frozen, add_calls):
    rule = make_rule(metric_type="token_spike", comparison="gte", threshold=3, min_requests=1)
    add_calls(1, minutes_ago=150, prompt_tokens=100, completion_tokens=0)
    add_calls(1, minutes_ago=90, prompt_tokens=300, completion_tokens=0)

    result = backtest_rule(rule=rule, days=1, now=NOW)

    assert (result["evaluated"], result["would_fire"], result["max_value"]) == (1, 1, 3.0)


# --- Two runs at once --------------------------------------------------------------


@pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks need PostgreSQL")
@pytest.mark.django_db(transaction=True)
def test_it_alerts_once_when_two_runs_overlap(frozen, add_calls, monkeypatch):
    make_rule(name="Errors")
    add_calls(20, errors=20)
    # Both runs read the metric before either records anything: the worst interleaving.
    both_read = threading.Barrier(2, timeout=10)
    original = alert_state._transition

    def transition_after_both_read(**kwargs):
        both_read.wait()
        return original(**kwargs)

    monkeypatch.setattr(alert_state, "_transition", transition_after_both_read)
    results, errors = [], []

    def run():
        try:
            results.extend(run_checks(now=NOW))
        except Exception as exc:  # surfaced by the assertion below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    assert errors == []
    assert sorted(r.action for r in results) == ["fired", "none"]
    assert AlertLog.objects.count() == 1
    assert len(mail.outbox) == 1


@pytest.mark.django_db
def test_it_does_not_follow_a_webhook_redirect(frozen, add_calls, webhook_server, fast_webhooks):
    rule = make_rule(webhook_url=webhook_server.url("/moved"), notify_email=False)
    add_calls(20, errors=20)

    check(rule)

    assert AlertLog.objects.get().notification_error == "webhook: HTTP 302"
    assert webhook_server.paths() == ["/moved"]  # neither retried nor followed to /ok


@pytest.mark.django_db
def test_it_sends_a_one_line_subject_for_a_name_with_a_newline(frozen, add_calls):
    rule = make_rule(name="High\nerrors", email_recipients="oncall@example.com")
    add_calls(20, errors=20)

    check(rule)

    assert len(mail.outbox) == 1
    assert mail.outbox[0].subject.startswith("[FIRING] High errors: ")
    assert AlertLog.objects.get().notification_error == ""


# --- One state machine for the live check and the backtest -----------------------------------


def test_it_steps_through_fire_remind_and_resolve_as_a_pure_function():
    rule = AlertRule(threshold=5, min_requests=10, cooldown_minutes=60, comparison=AlertRule.Comparison.GT)
    ok = RuleState(AlertRule.State.OK)
    t0 = NOW

    firing, action = alert_state.step(state=ok, value=9.0, sample=20, now=t0, rule=rule)
    assert (firing, action) == (RuleState(AlertRule.State.FIRING, t0), "fired")
    later = t0 + timedelta(minutes=59)
    assert alert_state.step(state=firing, value=9.0, sample=20, now=later, rule=rule) == (firing, "none")
    assert alert_state.step(state=firing, value=9.0, sample=20, now=t0 + timedelta(minutes=60), rule=rule) == (
        RuleState(AlertRule.State.FIRING, t0 + timedelta(minutes=60)),
        "reminded",
    )
    assert alert_state.step(state=firing, value=9.0, sample=20, now=t0, rule=rule) == (firing, "none")  # same instant
    assert alert_state.step(state=firing, value=1.0, sample=20, now=t0, rule=rule) == (ok, "resolved")
    assert alert_state.step(state=firing, value=1.0, sample=9, now=t0, rule=rule) == (firing, "none")  # too few calls
    assert alert_state.step(state=firing, value=None, sample=50, now=t0, rule=rule) == (firing, "none")  # no data
    assert alert_state.step(state=ok, value=5.0, sample=20, now=t0, rule=rule) == (ok, "none")  # not above 5
    orphan = RuleState(AlertRule.State.FIRING, None)  # firing, its alerts deleted by hand
    assert alert_state.step(state=orphan, value=9.0, sample=20, now=t0, rule=rule) == (
        RuleState(AlertRule.State.FIRING, t0),
        "fired",
    )


@pytest.mark.django_db
@pytest.mark.parametrize("metric", ["error_rate", "token_spike"])
def test_it_backtests_exactly_what_the_live_check_does_on_the_same_series(add_calls, metric):
    """Replay one day of hourly windows through check_alerts at each window's end and through the
    backtest: the same fires, reminders and windows."""
    # Per hour (oldest first): (calls, errors, tokens per call). Incidents, quiet hours, thin hours.
    series = [
        (20, 0, 10),
        (20, 10, 10),
        (20, 10, 40),
        (20, 10, 10),
        (20, 10, 10),
        (20, 0, 10),
        (3, 3, 500),
        (20, 0, 10),
        (0, 0, 0),
        (20, 8, 50),
        (20, 9, 200),
        (20, 0, 10),
        (20, 10, 10),
        (20, 1, 40),
        (20, 10, 10),
        (20, 10, 10),
        (20, 10, 10),
        (20, 0, 200),
        (20, 0, 10),
        (20, 2, 10),
        (20, 10, 60),
        (20, 0, 10),
        (20, 10, 10),
        (20, 0, 10),
    ]
    hours = len(series)
    for index, (count, errors, tokens) in enumerate(series):
        minutes_ago = (hours - index) * 60 - 30
        add_calls(count, errors=errors, minutes_ago=minutes_ago, prompt_tokens=tokens, completion_tokens=0)
    fields = {"threshold": 5} if metric == "error_rate" else {"threshold": 3, "comparison": AlertRule.Comparison.GTE}
    rule = make_rule(metric_type=metric, time_window_minutes=60, cooldown_minutes=120, min_requests=10, **fields)

    backtest = backtest_rule(rule=rule, days=1, now=NOW)

    live_fires, live_reminders = [], 0
    for index in range(1, hours + 1):  # the first hour only serves as the spike's baseline
        window_end = NOW - timedelta(hours=hours - index)
        with time_machine.travel(window_end, tick=False):
            result = check(rule, now=window_end)
        if result.action == "fired":
            live_fires.append(
                {
                    "window_start": iso_utc(window_end - timedelta(hours=1)),
                    "window_end": iso_utc(window_end),
                    "value": result.reading.value,
                }
            )
        live_reminders += result.action == "reminded"

    assert backtest["fires"] == live_fires
    assert backtest["would_fire"] == len(live_fires) >= 2
    assert backtest["reminders"] == live_reminders
    assert AlertLog.objects.filter(alert_rule=rule, is_reminder=False).count() == len(live_fires)
