"""A rule's ok/firing state: the pure `step` between two evaluations, and the live check that
reads the metric, moves the state under the rule's row lock, records the alert and notifies.
"""

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from llm.alerts.notify import Delivery, notify
from llm.alerts.rules import Reading, describe, is_breached, read_metric
from llm.models import AlertLog, AlertRule

logger = logging.getLogger(__name__)


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
class RuleState:
    """What the state machine remembers of a rule between two evaluations."""

    state: str  # AlertRule.State: ok | firing
    last_notice_at: datetime | None = None  # when the latest open alert (fire or reminder) went out


def step(
    *, state: RuleState, value: float | None, sample: int, now: datetime, rule: AlertRule
) -> tuple[RuleState, str]:
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


def acknowledge_alert(*, alert_id: int, user) -> AlertLog:
    """Mark the alert acknowledged by `user` now and return it.

    Idempotent: acknowledging again (by anyone) keeps the first who and when. Raises AlertLog.DoesNotExist.
    """
    AlertLog.objects.filter(pk=alert_id, acknowledged=False).update(
        acknowledged=True, acknowledged_at=timezone.now(), acknowledged_by=user
    )
    return AlertLog.objects.select_related("alert_rule", "acknowledged_by").get(pk=alert_id)
