"""Alert rules: reading a rule's metric, the ok/firing state machine, notifications and backtests.

The command and the views call `run_checks`, `create_default_rules`, `send_test_notification` and
`backtest_rule`; everything that talks to SMTP or a webhook sits behind `notify`.
"""
import json
import logging
import math
import time
import urllib.error
import urllib.request
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

from django.conf import settings
from django.core.mail import EmailMessage
from django.db import connection, transaction
from django.db.models import Count, IntegerField, Q, QuerySet, Sum
from django.db.models.expressions import RawSQL
from django.utils import timezone

from llm.analytics.formulas import error_rate, token_spike_ratio
from llm.analytics.percentiles import grouped_latency_percentiles, latency_percentiles
from llm.models import AlertLog, AlertRule, LLMRequestLog

logger = logging.getLogger(__name__)

# Module-level so a test can shorten them; the issue fixes 5 s and 2 retries.
WEBHOOK_TIMEOUT = 5.0
WEBHOOK_RETRIES = 2
WEBHOOK_RETRY_DELAY = 1.0
MAX_BACKTEST_FIRES_LISTED = 50

DEFAULT_RULES = [
    {
        "name": "High error rate",
        "description": "More than 5 % of calls failed in the last hour.",
        "metric_type": AlertRule.MetricType.ERROR_RATE,
        "comparison": AlertRule.Comparison.GT,
        "threshold": 5.0,
    },
    {
        "name": "Slow responses (P95)",
        "description": "P95 latency above 5,000 ms in the last hour.",
        "metric_type": AlertRule.MetricType.LATENCY,
        "comparison": AlertRule.Comparison.GT,
        "threshold": 5000.0,
    },
    {
        "name": "Token spike",
        "description": "Tokens in the last hour at least 3 times those of the hour before.",
        "metric_type": AlertRule.MetricType.TOKEN_SPIKE,
        "comparison": AlertRule.Comparison.GTE,
        "threshold": 3.0,
    },
]

_COMPARE = {
    AlertRule.Comparison.GT: lambda value, threshold: value > threshold,
    AlertRule.Comparison.GTE: lambda value, threshold: value >= threshold,
    AlertRule.Comparison.LT: lambda value, threshold: value < threshold,
    AlertRule.Comparison.LTE: lambda value, threshold: value <= threshold,
}
_SYMBOL = dict(AlertRule.Comparison.choices)
_LABEL = {
    AlertRule.MetricType.ERROR_RATE: "Error rate",
    AlertRule.MetricType.LATENCY: "P95 latency",
    AlertRule.MetricType.TOKEN_SPIKE: "Token spike",
}
_UNIT = {
    AlertRule.MetricType.ERROR_RATE: " %",
    AlertRule.MetricType.LATENCY: " ms",
    AlertRule.MetricType.TOKEN_SPIKE: "×",
}


@dataclass(frozen=True)
class Reading:
    """A rule's metric over one window. `value` is None when there were no calls (or no baseline)."""

    value: float | None
    calls: int
    window_start: datetime
    window_end: datetime
    # False when the window had fewer than min_requests calls, or a token spike had no baseline.
    eligible: bool
    note: str = ""


@dataclass
class RuleResult:
    """What one check of one rule saw and did; `action` is fired/reminded/resolved/none or failed."""

    rule: AlertRule
    reading: Reading | None = None
    breached: bool = False
    state: str = ""
    action: str = "none"
    alert: AlertLog | None = None
    error: str = ""


@dataclass(frozen=True)
class Delivery:
    """Outcome of one notification: `error` names each failed channel, empty when all went out."""

    delivered: bool
    error: str = ""


# --- Reading a metric -------------------------------------------------------------


def _calls(*, rule: AlertRule, start: datetime, end: datetime) -> QuerySet:
    calls = LLMRequestLog.objects.filter(timestamp__gte=start, timestamp__lt=end)
    if rule.model_name:
        calls = calls.filter(model_name=rule.model_name)
    return calls


def _read_error_rate(*, rule: AlertRule, start: datetime, end: datetime) -> tuple[float | None, int, str]:
    figures = _calls(rule=rule, start=start, end=end).aggregate(
        calls=Count("*"), errors=Count("status", filter=Q(status=LLMRequestLog.Status.ERROR))
    )
    if not figures["calls"]:
        return None, 0, "no calls"
    return error_rate(errors=figures["errors"], calls=figures["calls"]), figures["calls"], ""


def _read_latency(*, rule: AlertRule, start: datetime, end: datetime) -> tuple[float | None, int, str]:
    calls = _calls(rule=rule, start=start, end=end)
    count = calls.count()
    if not count:
        return None, 0, "no calls"
    # The same percentile the API reports, so an alert and the dashboard never disagree.
    p95 = latency_percentiles(queryset=calls, fractions=(0.95,), count=count)[0.95]
    return (None if p95 is None else round(p95, 2)), count, ""


def _read_token_spike(*, rule: AlertRule, start: datetime, end: datetime) -> tuple[float | None, int, str]:
    current = Q(timestamp__gte=start)
    figures = _calls(rule=rule, start=start - (end - start), end=end).aggregate(
        # A column that is never null: Django refuses COUNT(*) with a filter.
        calls=Count("timestamp", filter=current),
        tokens=Sum("total_tokens", filter=current),
        baseline=Sum("total_tokens", filter=~current),
    )
    if not figures["baseline"]:
        # No baseline: any traffic would be an "infinite" spike, which is noise, not news.
        return None, figures["calls"], "no tokens in the previous window"
    return token_spike_ratio(tokens=figures["tokens"] or 0, baseline=figures["baseline"]), figures["calls"], ""


_READERS = {
    AlertRule.MetricType.ERROR_RATE: _read_error_rate,
    AlertRule.MetricType.LATENCY: _read_latency,
    AlertRule.MetricType.TOKEN_SPIKE: _read_token_spike,
}


def read_metric(*, rule: AlertRule, now: datetime, window_minutes: int | None = None) -> Reading:
    """The rule's metric over [now - window, now); the window is the rule's unless overridden."""
    end = now
    start = now - timedelta(minutes=window_minutes or rule.time_window_minutes)
    value, calls, note = _READERS[rule.metric_type](rule=rule, start=start, end=end)
    eligible = value is not None and calls >= rule.min_requests
    if value is not None and not eligible:
        note = f"{calls} calls, fewer than min_requests={rule.min_requests}"
    return Reading(value=value, calls=calls, window_start=start, window_end=end, eligible=eligible, note=note)


def is_breached(*, rule: AlertRule, value: float | None) -> bool:
    """Whether a value crosses the rule's threshold; None (no data) never does."""
    return value is not None and _COMPARE[rule.comparison](value, rule.threshold)


def describe(*, rule: AlertRule, value: float | None) -> str:
    """'Error rate 7.5 % (threshold > 5 %)' — the human phrase used in messages, emails and command output."""
    unit = _UNIT[rule.metric_type]
    shown = "no data" if value is None else f"{value:g}{unit}"
    return f"{_LABEL[rule.metric_type]} {shown} (threshold {_SYMBOL[rule.comparison]} {rule.threshold:g}{unit})"


# --- State machine ----------------------------------------------------------------


@dataclass(frozen=True)
class RuleState:
    """What the state machine remembers of a rule between two evaluations."""

    state: str  # AlertRule.State: ok | firing
    last_notice_at: datetime | None = None  # when the latest open alert (fire or reminder) went out


def step(*, state: RuleState, value: float | None, sample: int, now: datetime, rule: AlertRule) -> tuple[RuleState, str]:
    """One evaluation of `rule`: the state after seeing `value` over `sample` calls at `now`, and the
    notification it calls for: "fired", "reminded", "resolved" or "none".

    Pure (no database, no clock): the live check and the backtest both run every reading through it,
    so a backtest replays exactly what the cron check would have done.
    """
    if value is None or sample < rule.min_requests:
        return state, "none"  # Too little data either way: neither fire nor declare it resolved.
    breached = is_breached(rule=rule, value=value)
    if state.state == AlertRule.State.OK:
        return (RuleState(AlertRule.State.FIRING, now), "fired") if breached else (state, "none")
    if not breached:
        return RuleState(AlertRule.State.OK), "resolved"
    if state.last_notice_at is None:
        return RuleState(AlertRule.State.FIRING, now), "fired"  # Its alerts were deleted by hand: start afresh.
    # Strictly later than the last notice: a second run at the same instant is the same event.
    due = state.last_notice_at + timedelta(minutes=rule.cooldown_minutes)
    if now >= due and now > state.last_notice_at:
        return RuleState(AlertRule.State.FIRING, now), "reminded"
    return state, "none"


def _latest_open(rule: AlertRule) -> AlertLog | None:
    return rule.logs.filter(resolved_at=None).order_by("-triggered_at", "-id").first()


def _transition(*, rule_id: int, reading: Reading, now: datetime, dry_run: bool) -> tuple[RuleResult, list[int]]:
    """Decide and record one rule's transition while holding its row.

    The row lock (PostgreSQL) or the IMMEDIATE write transaction (SQLite) makes an overlapping run wait
    here and then decide from the state this run wrote, so one event yields one AlertLog.
    """
    with transaction.atomic():
        rule = AlertRule.objects.select_for_update().get(pk=rule_id)
        breached = is_breached(rule=rule, value=reading.value)
        latest = _latest_open(rule)
        before = RuleState(rule.state, latest.triggered_at if latest else None)
        after, action = step(state=before, value=reading.value, sample=reading.calls, now=now, rule=rule)
        if not rule.is_active:
            after, action = before, "none"  # Switched off while this run was reading its metric.
        result = RuleResult(rule=rule, reading=reading, breached=breached, action=action)
        resolved_ids: list[int] = []
        if dry_run:
            result.state = after.state
            return result, resolved_ids
        if action in ("fired", "reminded"):
            result.alert = AlertLog.objects.create(
                alert_rule=rule,
                message=_message(rule=rule, reading=reading),
                metric_value=reading.value,
                threshold=rule.threshold,
                model_name=rule.model_name,
                window_start=reading.window_start,
                window_end=reading.window_end,
                is_reminder=action == "reminded",
                triggered_at=now,
            )
        elif action == "resolved":
            open_logs = rule.logs.filter(resolved_at=None)
            resolved_ids = list(open_logs.values_list("pk", flat=True))
            open_logs.update(resolved_at=now)
            result.alert = latest
        rule.state = after.state
        rule.last_value = reading.value
        rule.last_evaluated_at = now
        rule.save(update_fields=["state", "last_value", "last_evaluated_at", "updated_at"])
        result.state = rule.state
        return result, resolved_ids


def _message(*, rule: AlertRule, reading: Reading) -> str:
    scope = rule.model_name or "all models"
    return (
        f"{rule.name}: {describe(rule=rule, value=reading.value)} over the last "
        f"{_minutes_phrase(reading)} ({scope}, {reading.calls} calls)"
    )


def _minutes_phrase(reading: Reading) -> str:
    minutes = int((reading.window_end - reading.window_start).total_seconds() // 60)
    return f"{minutes} minute" + ("" if minutes == 1 else "s")


def check_rule(
    *, rule: AlertRule, now: datetime, window_minutes: int | None = None, dry_run: bool = False
) -> RuleResult:
    """Evaluate one rule, move its state, record and notify. Raises when the evaluation itself fails."""
    reading = read_metric(rule=rule, now=now, window_minutes=window_minutes)
    result, resolved_ids = _transition(rule_id=rule.pk, reading=reading, now=now, dry_run=dry_run)
    if dry_run or result.action == "none":
        return result
    # After the commit: a slow webhook must never hold the rule's lock.
    delivery = notify(rule=result.rule, event=result.action, reading=reading, alert=result.alert)
    if result.alert is not None:
        _record_delivery(alert=result.alert, delivery=delivery, now=now, append=result.action == "resolved")
    return result


def _record_delivery(*, alert: AlertLog, delivery: Delivery, now: datetime, append: bool) -> None:
    updates = {}
    if delivery.delivered and not append:
        updates["notified_at"] = now
    if delivery.error:
        prefix = "resolved: " if append else ""
        error = prefix + delivery.error
        updates["notification_error"] = f"{alert.notification_error}\n{error}".strip() if append else error
    if updates:
        AlertLog.objects.filter(pk=alert.pk).update(**updates)
        for name, value in updates.items():
            setattr(alert, name, value)


def run_checks(
    *,
    now: datetime | None = None,
    window_minutes: int | None = None,
    rule_id: int | None = None,
    dry_run: bool = False,
) -> list[RuleResult]:
    """Check every active rule (or the one given); a rule that raises is logged, marked failed, skipped."""
    now = now or timezone.now()
    rules = AlertRule.objects.filter(is_active=True).order_by("name", "id")
    if rule_id is not None:
        rules = rules.filter(pk=rule_id)
    results = []
    for rule in rules:
        try:
            results.append(check_rule(rule=rule, now=now, window_minutes=window_minutes, dry_run=dry_run))
        except AlertRule.DoesNotExist:
            continue  # Deleted while this run was reading its metric: nothing left to alert on.
        except Exception as exc:  # One broken rule must not silence the others.
            logger.exception("Alert rule %s (id %s) failed", rule.name, rule.pk)
            results.append(RuleResult(rule=rule, state=rule.state, action="failed", error=str(exc) or repr(exc)))
    return results


def create_default_rules() -> list[AlertRule]:
    """Create the three default rules that do not exist yet (matched by name); returns those created."""
    created = []
    for values in DEFAULT_RULES:
        rule, was_created = AlertRule.objects.get_or_create(name=values["name"], defaults=values)
        if was_created:
            created.append(rule)
    return created


# --- Notifications ----------------------------------------------------------------

_EVENT_TITLE = {
    "fired": "FIRING",
    "reminded": "STILL FIRING",
    "resolved": "RESOLVED",
    "test": "TEST",
}


def dashboard_url(*, rule: AlertRule, window_start: datetime, window_end: datetime) -> str:
    """Link to the logs page filtered to the alert's window (and model, for a per-model rule)."""
    params = {"start_date": _iso(window_start), "end_date": _iso(window_end)}
    if rule.model_name:
        params["model"] = rule.model_name
    return f"{settings.SITE_URL}/logs/?{urlencode(params)}"


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def recipients_for(rule: AlertRule) -> list[str]:
    """The rule's own comma-separated recipients, else settings.ALERT_EMAIL_RECIPIENTS."""
    own = [address.strip() for address in rule.email_recipients.split(",") if address.strip()]
    return own or list(settings.ALERT_EMAIL_RECIPIENTS)


def notify(*, rule: AlertRule, event: str, reading: Reading, alert: AlertLog | None = None) -> Delivery:
    """Send one notification (event: fired, reminded, resolved or test) by email and webhook.

    Never raises: each failed channel is named in `Delivery.error`; `delivered` is True when at least one
    channel went out.
    """
    link = dashboard_url(rule=rule, window_start=reading.window_start, window_end=reading.window_end)
    title = f"[{_EVENT_TITLE[event]}] {rule.name}: {describe(rule=rule, value=reading.value)}"
    # One line whatever a name typed in the admin holds: a newline in a subject is refused by Django.
    title = " ".join(title.split())
    errors, delivered = [], False
    recipients = recipients_for(rule)
    if rule.notify_email and not recipients:
        # Said out loud: an alert nobody was told about must not look delivered.
        errors.append("email: no recipients (set the rule's email_recipients or ALERT_EMAIL_RECIPIENTS)")
    elif rule.notify_email:
        try:
            EmailMessage(
                subject=title,
                body=_email_body(rule=rule, event=event, reading=reading, link=link),
                from_email=settings.DEFAULT_FROM_EMAIL,
                to=recipients,
            ).send(fail_silently=False)
            delivered = True
        except Exception as exc:  # SMTP, DNS, auth...: record it, the other channel still goes.
            logger.warning("Alert email for rule %s failed: %s", rule.pk, exc)
            errors.append(f"email: {exc.__class__.__name__}: {exc}")
    if rule.webhook_url:
        payload = _webhook_payload(rule=rule, event=event, reading=reading, alert=alert, link=link, title=title)
        error = _post_webhook(url=rule.webhook_url, payload=payload)
        if error:
            logger.warning("Alert webhook for rule %s failed: %s", rule.pk, error)
            errors.append(f"webhook: {error}")
        else:
            delivered = True
    return Delivery(delivered=delivered, error="; ".join(errors))


def _email_body(*, rule: AlertRule, event: str, reading: Reading, link: str) -> str:
    lines = [
        {
            "fired": "An alert rule started firing.",
            "reminded": "An alert rule is still firing.",
            "resolved": "An alert rule is back to normal.",
            "test": "This is a test notification; nothing is wrong.",
        }[event],
        "",
        f"Rule:      {rule.name}",
        f"Metric:    {_LABEL[rule.metric_type]}",
        f"Value:     {'no data' if reading.value is None else f'{reading.value:g}{_UNIT[rule.metric_type]}'}",
        f"Threshold: {_SYMBOL[rule.comparison]} {rule.threshold:g}{_UNIT[rule.metric_type]}",
        f"Model:     {rule.model_name or 'all models'}",
        f"Window:    {_iso(reading.window_start)} to {_iso(reading.window_end)} ({reading.calls} calls)",
        "",
        f"Calls in this window: {link}",
    ]
    return "\n".join(lines) + "\n"


def _webhook_payload(
    *, rule: AlertRule, event: str, reading: Reading, alert: AlertLog | None, link: str, title: str
) -> dict:
    # "text" makes it a valid Slack (and Mattermost, Discord /slack) incoming-webhook message.
    return {
        "text": f"{title}\n{_iso(reading.window_start)} to {_iso(reading.window_end)} · <{link}|calls>",
        "event": event,
        "rule": {
            "id": rule.pk,
            "name": rule.name,
            "metric_type": rule.metric_type,
            "comparison": rule.comparison,
            "threshold": rule.threshold,
            "model_name": rule.model_name,
        },
        "value": reading.value,
        "calls": reading.calls,
        "window_start": _iso(reading.window_start),
        "window_end": _iso(reading.window_end),
        "alert_id": alert.pk if alert else None,
        "dashboard_url": link,
    }


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A webhook answers where it was configured: following a 3xx could land the POST on an internal host."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


_WEBHOOK_OPENER = urllib.request.build_opener(_NoRedirects)


def _post_webhook(*, url: str, payload: dict) -> str:
    """POST JSON with a timeout, retrying transient failures; returns '' on success, else the last error."""
    body = json.dumps(payload).encode()
    error = ""
    for attempt in range(WEBHOOK_RETRIES + 1):
        if attempt:
            time.sleep(WEBHOOK_RETRY_DELAY)
        request = urllib.request.Request(
            url, data=body, method="POST",
            headers={"Content-Type": "application/json", "User-Agent": "llm-observability-alerts"},
        )
        try:
            with _WEBHOOK_OPENER.open(request, timeout=WEBHOOK_TIMEOUT) as response:
                response.read()
            return ""
        except urllib.error.HTTPError as exc:
            error = f"HTTP {exc.code}"
            if exc.code < 500 and exc.code != 429:
                return error  # The receiver rejected the message; sending it again will not help.
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            error = f"{reason.__class__.__name__}: {reason}"
    return error


def send_test_notification(*, rule: AlertRule, now: datetime | None = None) -> Delivery:
    """Send a test notification through the rule's channels, with its last value; writes no AlertLog."""
    now = now or timezone.now()
    start = now - timedelta(minutes=rule.time_window_minutes)
    reading = Reading(value=rule.last_value, calls=0, window_start=start, window_end=now, eligible=False)
    return notify(rule=rule, event="test", reading=reading)


# --- Backtest ---------------------------------------------------------------------


@dataclass
class _Bucket:
    calls: int = 0
    errors: int = 0
    tokens: int = 0
    p95: float | None = None


def _window_values(*, rule: AlertRule, buckets: list[_Bucket]) -> Iterable[tuple[float | None, int]]:
    """(value, calls) for each window after the first, which only serves as a baseline; the same
    figures (and the same None for "no data") as the live readers give."""
    for index in range(1, len(buckets)):
        bucket = buckets[index]
        if not bucket.calls:
            yield None, 0
        elif rule.metric_type == AlertRule.MetricType.ERROR_RATE:
            yield error_rate(errors=bucket.errors, calls=bucket.calls), bucket.calls
        elif rule.metric_type == AlertRule.MetricType.LATENCY:
            yield (None if bucket.p95 is None else round(bucket.p95, 2)), bucket.calls
        else:
            yield token_spike_ratio(tokens=bucket.tokens, baseline=buckets[index - 1].tokens), bucket.calls


def _window_index(*, start: datetime, window: timedelta) -> RawSQL:
    """Which window of `window` length after `start` a call falls in, computed by the database.

    The two databases need different SQL for seconds since the epoch; PostgreSQL's integer cast
    rounds, hence FLOOR there, while SQLite's truncates (the same for these non-negative values).
    """
    params = (start.timestamp(), window.total_seconds())
    if connection.vendor == "postgresql":
        sql = 'FLOOR((EXTRACT(EPOCH FROM "timestamp") - %s) / %s)::integer'
    else:
        sql = 'CAST(((julianday("timestamp") - 2440587.5) * 86400.0 - %s) / %s AS INTEGER)'
    return RawSQL(sql, params, output_field=IntegerField())


def _fill_buckets(*, rule: AlertRule, start: datetime, end: datetime, count: int) -> list[_Bucket]:
    window = (end - start) / count
    buckets = [_Bucket() for _ in range(count)]
    calls = _calls(rule=rule, start=start, end=end).order_by().annotate(
        window=_window_index(start=start, window=window)
    )
    # One GROUP BY over narrow columns: the counts and sums per window, never the rows.
    rows = calls.values("window").annotate(
        calls=Count("*"),
        errors=Count("status", filter=Q(status=LLMRequestLog.Status.ERROR)),
        tokens=Sum("total_tokens"),
    )
    for row in rows:
        bucket = buckets[min(max(row["window"], 0), count - 1)]
        bucket.calls += row["calls"]
        bucket.errors += row["errors"]
        bucket.tokens += row["tokens"] or 0
    if rule.metric_type == AlertRule.MetricType.LATENCY:
        # The API's own percentile per window. Without condition_for, SQLite ranks every window in one
        # sort; per-window LIMIT/OFFSET terms walked the latency index once per window (300k calls,
        # 720 hourly windows: 40 s).
        p95s = grouped_latency_percentiles(queryset=calls, group_by="window", fractions=(0.95,))
        for index, figures in p95s.items():
            buckets[min(max(index, 0), count - 1)].p95 = figures[0.95]
    return buckets


def backtest_rule(*, rule: AlertRule, days: int, now: datetime | None = None) -> dict:
    """How often the rule would have fired over the past `days` days.

    The past is cut into consecutive windows of the rule's length, ending now (the live check slides its
    window at each cron run, so this is an estimate of the same order); each window goes through the same
    threshold, min_requests and cooldown rules as a live check. Returns counts plus the first fires.
    """
    now = now or timezone.now()
    window = timedelta(minutes=rule.time_window_minutes)
    count = max(1, math.ceil(timedelta(days=days) / window))
    # One extra window in front: the token spike's baseline for the first window.
    start = now - window * (count + 1)
    buckets = _fill_buckets(rule=rule, start=start, end=now, count=count + 1)
    state = RuleState(AlertRule.State.OK)
    evaluated = breached_count = fires = reminders = 0
    max_value, fired = None, []
    for index, (value, calls) in enumerate(_window_values(rule=rule, buckets=buckets)):
        window_end = start + window * (index + 2)
        if value is not None:
            max_value = value if max_value is None else max(max_value, value)
        if value is None or calls < rule.min_requests:
            continue
        evaluated += 1
        breached_count += is_breached(rule=rule, value=value)
        state, action = step(state=state, value=value, sample=calls, now=window_end, rule=rule)
        if action == "fired":
            fires += 1
            if len(fired) < MAX_BACKTEST_FIRES_LISTED:
                fired.append({"window_start": _iso(window_end - window), "window_end": _iso(window_end), "value": value})
        reminders += action == "reminded"
    return {
        "rule": rule.pk,
        "days": days,
        "window_minutes": rule.time_window_minutes,
        "windows": count,
        "evaluated": evaluated,
        "breached": breached_count,
        "would_fire": fires,
        "reminders": reminders,
        "max_value": max_value,
        "fires": fired,
    }


# --- Acknowledgement --------------------------------------------------------------


def acknowledge_alert(*, alert_id: int, user) -> AlertLog:
    """Mark the alert acknowledged by `user` now and return it.

    Idempotent: acknowledging again (by anyone) keeps the first who and when. Raises AlertLog.DoesNotExist.
    """
    AlertLog.objects.filter(pk=alert_id, acknowledged=False).update(
        acknowledged=True, acknowledged_at=timezone.now(), acknowledged_by=user
    )
    return AlertLog.objects.select_related("alert_rule", "acknowledged_by").get(pk=alert_id)
