"""Telling people: an alert's email and webhook, sent by `notify`, which never raises.

Every failed channel is named in the `Delivery` it returns, for the caller to record on the alert.
"""

import json
import logging
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlencode

from django.conf import settings
from django.core.mail import EmailMessage
from django.utils import timezone

from llm.alerts.rules import Reading, describe, format_threshold, format_value, iso_utc, metric_label
from llm.models import AlertLog, AlertRule

logger = logging.getLogger(__name__)

# Module-level so a test can shorten them; in service a webhook gets 5 s and 2 retries.
WEBHOOK_TIMEOUT = 5.0
WEBHOOK_RETRIES = 2
WEBHOOK_RETRY_DELAY = 1.0


@dataclass(frozen=True)
class Delivery:
    """Outcome of one notification: `error` names each failed channel, empty when all went out."""

    delivered: bool
    error: str = ""


_EVENT_TITLE = {
    "fired": "FIRING",
    "reminded": "STILL FIRING",
    "resolved": "RESOLVED",
    "test": "TEST",
}


def dashboard_url(*, rule: AlertRule, window_start: datetime, window_end: datetime) -> str:
    """Link to the logs page filtered to the alert's window (and model, for a per-model rule)."""
    params = {"start_date": iso_utc(window_start), "end_date": iso_utc(window_end)}
    if rule.model_name:
        params["model"] = rule.model_name
    return f"{settings.SITE_URL}/logs/?{urlencode(params)}"


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
        f"Metric:    {metric_label(rule=rule)}",
        f"Value:     {format_value(rule=rule, value=reading.value)}",
        f"Threshold: {format_threshold(rule=rule)}",
        f"Model:     {rule.model_name or 'all models'}",
        f"Window:    {iso_utc(reading.window_start)} to {iso_utc(reading.window_end)} ({reading.calls} calls)",
        "",
        f"Calls in this window: {link}",
    ]
    return "\n".join(lines) + "\n"


def _webhook_payload(
    *, rule: AlertRule, event: str, reading: Reading, alert: AlertLog | None, link: str, title: str
) -> dict:
    # "text" makes it a valid Slack (and Mattermost, Discord /slack) incoming-webhook message.
    return {
        "text": f"{title}\n{iso_utc(reading.window_start)} to {iso_utc(reading.window_end)} · <{link}|calls>",
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
        "window_start": iso_utc(reading.window_start),
        "window_end": iso_utc(reading.window_end),
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
            url,
            data=body,
            method="POST",
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
