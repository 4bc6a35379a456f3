"""How often a rule would have fired over the past days: the same `step` as the live check,
run over per-window figures read through the rollups (hours inside one window) and one GROUP BY
over the raw rows (the rest)."""

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.db import connection
from django.db.models import Count, IntegerField, Sum
from django.db.models.expressions import RawSQL
from django.utils import timezone

from llm.alerts.rules import is_breached, iso_utc, latency_value, rule_filters
from llm.alerts.state import RuleState, step
from llm.analytics.formulas import error_count, error_rate, token_spike_ratio
from llm.analytics.percentiles import grouped_latency_percentiles
from llm.analytics.rollups import WindowSplit, keep_rollup_hours, raw_queryset, rollup_figures, split_window
from llm.models import AlertRule

MAX_BACKTEST_FIRES_LISTED = 50


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
            yield latency_value(bucket.p95), bucket.calls
        else:
            yield token_spike_ratio(tokens=bucket.tokens, baseline=buckets[index - 1].tokens), bucket.calls


def _window_index(*, start: datetime, window: timedelta) -> RawSQL:
    """Which window of `window` length after `start` a call falls in, computed by the database.

    The two databases need different SQL for the time since the epoch. PostgreSQL's epoch is an exact
    numeric, floored (its integer cast would round). SQLite's julianday() is a float rounded to the
    millisecond, which put calls at hh:59:59.999999 in the next window: there the stored text
    ('YYYY-MM-DD HH:MM:SS[.ffffff]', UTC) is read as whole seconds plus microseconds, in integers.
    """
    if connection.vendor == "postgresql":
        sql = 'FLOOR((EXTRACT(EPOCH FROM "timestamp") - %s) / %s)::integer'
        return RawSQL(sql, (start.timestamp(), window.total_seconds()), output_field=IntegerField())
    micros = (
        "(CAST(strftime('%%s', substr(\"timestamp\", 1, 19)) AS INTEGER) * 1000000 "
        "+ CAST(substr(\"timestamp\" || '.000000', 21, 6) AS INTEGER))"
    )
    start_us = (start - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)
    window_us = window // timedelta(microseconds=1)
    return RawSQL(f"(({micros} - %s) / %s)", (start_us, window_us), output_field=IntegerField())


def _fill_buckets(*, rule: AlertRule, start: datetime, end: datetime, count: int) -> list[_Bucket]:
    """Per-window calls, errors, tokens (and P95 for a latency rule) over [start, end) cut into `count` windows.

    Counts and tokens go through the rollups: a fresh hour that lies inside one window is read from
    them, every other stretch (hours holding a window's edge, stale hours) from the raw rows in one
    GROUP BY per window. A latency rule ranks each window's raw latencies (an exact P95 per window).
    """
    window = (end - start) / count
    buckets = [_Bucket() for _ in range(count)]

    def index_of(moment: datetime) -> int:
        return min(max(math.floor((moment - start) / window), 0), count - 1)

    filters = rule_filters(rule=rule, start=start, end=end)
    if rule.metric_type == AlertRule.MetricType.LATENCY:
        split = WindowSplit(rollup=(), raw=((start, end),))
    else:
        split = keep_rollup_hours(
            split_window(filters=filters), filters=filters, keep=lambda hour: index_of(hour) == index_of(hour + _LAST)
        )
    for hour, figures in rollup_figures(filters=filters, split=split, group_by=("hour",), histograms=False).items():
        bucket = buckets[index_of(hour)]
        bucket.calls += figures.calls
        bucket.errors += figures.errors
        bucket.tokens += figures.total_tokens
    if not split.raw:
        return buckets
    calls = raw_queryset(filters=filters, split=split).annotate(window=_window_index(start=start, window=window))
    # One GROUP BY over narrow columns: the counts and sums per window, never the rows.
    rows = calls.values("window").annotate(
        calls=Count("*"),
        errors=error_count(),
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


# The last instant of an hour: an hour lies inside one window when its first and last instants do.
_LAST = timedelta(hours=1, microseconds=-1)


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
                fired.append(
                    {"window_start": iso_utc(window_end - window), "window_end": iso_utc(window_end), "value": value}
                )
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
