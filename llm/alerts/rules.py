"""Alert rules: the defaults, what each metric means, how a value is read and how it is written.

A rule's metric over a window is read by `read_metric` with the same formulas, exact percentiles and
read path (through the rollups) as the dashboard (llm.analytics), so an alert and a chart never
disagree on a number.
"""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.db.models import QuerySet

from llm.analytics.filters import LogFilters
from llm.analytics.formulas import error_rate, token_spike_ratio
from llm.analytics.rollups import Figures, exact_latency_percentiles, split_window, window_figures
from llm.models import AlertRule, LLMRequestLog

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


# --- Reading a metric -------------------------------------------------------------


def rule_calls(*, rule: AlertRule, start: datetime, end: datetime) -> QuerySet:
    """The calls a rule watches in [start, end): all of them, or its model's."""
    calls = LLMRequestLog.objects.filter(timestamp__gte=start, timestamp__lt=end)
    if rule.model_name:
        calls = calls.filter(model_name=rule.model_name)
    return calls


def rule_filters(*, rule: AlertRule, start: datetime, end: datetime) -> LogFilters:
    """The window [start, end) of the calls a rule watches, as the dashboard's filters (to read through the rollups)."""
    return LogFilters(start=start, end=end, end_inclusive=False, model=rule.model_name or None)


def _figures(*, rule: AlertRule, start: datetime, end: datetime) -> Figures:
    filters = rule_filters(rule=rule, start=start, end=end)
    return window_figures(filters=filters, histograms=False).get(None, Figures())


def _read_error_rate(*, rule: AlertRule, start: datetime, end: datetime) -> tuple[float | None, int, str]:
    figures = _figures(rule=rule, start=start, end=end)
    if not figures.calls:
        return None, 0, "no calls"
    return error_rate(errors=figures.errors, calls=figures.calls), figures.calls, ""


def _read_latency(*, rule: AlertRule, start: datetime, end: datetime) -> tuple[float | None, int, str]:
    filters = rule_filters(rule=rule, start=start, end=end)
    split = split_window(filters=filters)
    count = sum(f.calls for f in window_figures(filters=filters, split=split, histograms=False).values())
    if not count:
        return None, 0, "no calls"
    # The same exact percentile the API reports, so an alert and the dashboard never disagree.
    p95 = exact_latency_percentiles(filters=filters, split=split, fractions=(0.95,))[None][0.95]
    return latency_value(p95), count, ""


def _read_token_spike(*, rule: AlertRule, start: datetime, end: datetime) -> tuple[float | None, int, str]:
    current = _figures(rule=rule, start=start, end=end)
    baseline = _figures(rule=rule, start=start - (end - start), end=start).total_tokens
    if not baseline:
        # No baseline: any traffic would be an "infinite" spike, which is noise, not news.
        return None, current.calls, "no tokens in the previous window"
    return token_spike_ratio(tokens=current.total_tokens, baseline=baseline), current.calls, ""


def latency_value(p95: float | None) -> float | None:
    """A latency rule's value from a window's P95: milliseconds to 2 decimals (None: no data)."""
    return None if p95 is None else round(p95, 2)


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


# --- Writing a value --------------------------------------------------------------


def metric_label(*, rule: AlertRule) -> str:
    """'Error rate', 'P95 latency' or 'Token spike'."""
    return _LABEL[rule.metric_type]


def format_value(*, rule: AlertRule, value: float | None) -> str:
    """'7.5 %', '5200 ms', '3.2×', or 'no data'."""
    return "no data" if value is None else f"{value:g}{_UNIT[rule.metric_type]}"


def format_threshold(*, rule: AlertRule) -> str:
    """'> 5 %': the comparison and the threshold with its unit."""
    return f"{_SYMBOL[rule.comparison]} {rule.threshold:g}{_UNIT[rule.metric_type]}"


def describe(*, rule: AlertRule, value: float | None) -> str:
    """'Error rate 7.5 % (threshold > 5 %)' — the human phrase used in messages, emails and command output."""
    return f"{metric_label(rule=rule)} {format_value(rule=rule, value=value)} (threshold {format_threshold(rule=rule)})"


def iso_utc(moment: datetime) -> str:
    """A window bound as alerts write it (links, emails, webhooks, backtests): ISO 8601 UTC, 'Z'."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def create_default_rules() -> list[AlertRule]:
    """Create the three default rules that do not exist yet (matched by name); returns those created."""
    created = []
    for values in DEFAULT_RULES:
        rule, was_created = AlertRule.objects.get_or_create(name=values["name"], defaults=values)
        if was_created:
            created.append(rule)
    return created
