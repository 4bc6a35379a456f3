"""The metrics and feedback endpoints, the alert readings and the alert backtest against an independent
recomputation from the stored rows (Decimal sums, numpy percentiles, Python sets, UTC buckets computed
here), with the rollups absent, fresh, half-built and stale: a figure never depends on their state.

Per-bucket (chart) P95s may come from histograms: an entry that says "percentile_method": "histogram"
carries "percentile_max_relative_error" (at most 1 %) and must be within it; every other percentile
is exact (numpy's linear interpolation, compared after the API's 3-decimal rounding).
"""

import math
import random
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

import numpy as np
import pytest
import time_machine
from django.contrib.auth import get_user_model
from django.db import transaction
from rest_framework.test import APIClient

from llm.alerts import backtest_rule
from llm.alerts.rules import Reading, is_breached, read_metric
from llm.alerts.state import RuleState, step
from llm.analytics.rollups import refresh_rollups
from llm.calls.pricing import recompute_costs
from llm.models import (
    AlertRule,
    ChangedHour,
    DailyRollup,
    DailyUserPresence,
    HourlyRollup,
    HourlyUserPresence,
    LLMRequestLog,
    ModelPrice,
    RolledUpHour,
    UserFeedback,
)
from llm.tests.conftest import NOW

# The tests compare data the module-scoped `snapshots` took; the mark guards against a test touching the
# database outside a transaction.
pytestmark = pytest.mark.django_db

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
MICRO = timedelta(microseconds=1)
# The calls run from a Friday 07:00 to the frozen Monday noon: Feb 27 and Mar 2 are partial days, Feb 28 and
# Mar 1 whole ones; the weeks and months both change on Mar 2.
FIRST = datetime(2026, 2, 27, 7, tzinfo=UTC)
HOURS = int((NOW - FIRST) / HOUR)
MODELS = ["m-alpha", "m-beta", "org/m-gamma-7b", "m-delta", "m-epsilon"]
RARE_MODEL = "m-zeta-rare"  # few calls; the one whose costs `recompute_costs` rewrites
ERROR_TYPES = ["rate_limit", "timeout", "server_error", "connection", ""]  # "" reads as "unknown"
SOURCES = ["sdk", "api", "ingest", "otlp", "sample"]
USERS = ["", ""] + [f"user-{i}" for i in range(30)]
# Repeated latencies (ties), 0 (its own histogram bucket) and 1.0 (a bucket edge).
COMMON_LATENCIES = [0.0, 1.0, 250.0, 250.5, 999.999]
STATES = ["absent", "fresh", "half-built", "stale"]
# Chart-point keys a rollup may answer from histograms: left out when comparing the states' JSON.
CHART_PERCENTILE_KEYS = {"p95_latency_ms", "percentile_method", "percentile_max_relative_error"}


def utc(*parts) -> datetime:
    return datetime(*parts, tzinfo=UTC)


# --- The data ------------------------------------------------------------------------------


def _call(rng: random.Random, timestamp: datetime, **overrides) -> LLMRequestLog:
    failed = rng.random() < 0.15
    prompt, completion = rng.randrange(0, 3000), 0 if failed else rng.randrange(0, 1500)
    latency = rng.choice(COMMON_LATENCIES) if rng.random() < 0.12 else round(rng.lognormvariate(6.3, 0.9), 3)
    pick = rng.random()
    cost = None if pick < 0.2 else Decimal(0) if pick < 0.23 else Decimal(rng.randrange(1, 5_000_000)).scaleb(-6)
    values = {
        # From the seeded generator, so that every state gets the same ids (the errors' "recent" list shows them).
        "request_id": uuid.UUID(int=rng.getrandbits(128)),
        "timestamp": timestamp,
        "model_name": RARE_MODEL if rng.random() < 0.03 else rng.choice(MODELS),
        "status": "error" if failed else "success",
        "error_type": rng.choice(ERROR_TYPES) if failed else "",
        "http_status": rng.choice([429, 500, 503, None]) if failed else 200,
        "error_message": (f"boom {rng.randrange(1000)} " + "x" * rng.choice([0, 250])) if failed else "",
        "source": rng.choice(SOURCES),
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "cached_prompt_tokens": rng.randrange(0, prompt + 1),
        "latency_ms": latency,
        # Streamed calls only; some with a first token at 0 ms.
        "time_to_first_token_ms": None if rng.random() < 0.3 else round(latency * rng.random(), 3),
        "cost_estimate": cost,  # None: unpriced, which is not a cost of 0
        "user_id": rng.choice(USERS),
    }
    values.update(overrides)
    return LLMRequestLog(**values)


def _moment(rng: random.Random, hour: datetime) -> datetime:
    """A time in the hour; often exactly on its first or its last microsecond."""
    pick = rng.random()
    if pick < 0.1:
        return hour
    if pick < 0.15:
        return hour + HOUR - MICRO
    return hour + timedelta(microseconds=rng.randrange(3600 * 10**6))


def _make_calls(rng: random.Random) -> None:
    calls = [_call(rng, _moment(rng, FIRST + HOUR * rng.randrange(HOURS))) for _ in range(1100)]
    LLMRequestLog.objects.bulk_create(calls)
    feedback = []
    for call in LLMRequestLog.objects.order_by("timestamp", "request_id"):
        if rng.random() < 0.15:
            given = call.timestamp + timedelta(minutes=rng.randrange(0, 600), microseconds=rng.randrange(10**6))
            if rng.random() < 0.1:  # exactly on the next midnight
                given = call.timestamp.replace(hour=0, minute=0, second=0, microsecond=0) + DAY
            rating = rng.choice(["thumbs_up", "thumbs_up", "thumbs_down"])
            feedback.append(UserFeedback(request=call, rating=rating, created_at=min(given, NOW)))
    UserFeedback.objects.bulk_create(feedback)


def _in(start: datetime, end: datetime, **more):
    return LLMRequestLog.objects.filter(timestamp__gte=start, timestamp__lt=end, **more)


def _change_calls() -> None:
    """Late calls (a spool replay) into rolled-up hours and on hour and day edges; latencies, costs and
    statuses rewritten; calls deleted and one moved to another day; a rare model re-priced. All through
    the ORM, so the triggers mark the hours; the same in every state."""
    rng = random.Random(7)
    late = [_call(rng, _moment(rng, FIRST + HOUR * rng.randrange(20, 24))) for _ in range(30)]
    late += [_call(rng, when) for when in (utc(2026, 2, 28, 9), utc(2026, 3, 1), utc(2026, 3, 2, 11, 59, 59, 999999))]
    LLMRequestLog.objects.bulk_create(late)
    _in(utc(2026, 2, 28, 10), utc(2026, 2, 28, 13), model_name="m-alpha").update(latency_ms=250.0)
    _in(utc(2026, 3, 1, 3), utc(2026, 3, 1, 6), model_name="m-beta").update(cost_estimate=Decimal("1.234567"))
    _in(utc(2026, 2, 28, 15), utc(2026, 2, 28, 17), model_name="m-delta", status="success").update(
        status="error", error_type="timeout"
    )
    _in(utc(2026, 3, 1, 8), utc(2026, 3, 1, 9), cost_estimate__isnull=False).update(cost_estimate=None)
    one = LLMRequestLog.objects.filter(timestamp__gte=utc(2026, 3, 1, 12)).order_by("timestamp", "request_id")[0]
    one.latency_ms, one.time_to_first_token_ms = 0.0, None
    one.save()
    _in(utc(2026, 3, 1, 20), utc(2026, 3, 1, 21), model_name="m-epsilon").delete()
    _in(utc(2026, 2, 28, 4), utc(2026, 2, 28, 5)).delete()  # an hour left without calls
    moved = LLMRequestLog.objects.filter(timestamp__gte=utc(2026, 3, 2, 8)).order_by("timestamp", "request_id")[0]
    LLMRequestLog.objects.filter(pk=moved.pk).update(timestamp=utc(2026, 2, 27, 8, 30))
    ModelPrice.objects.create(
        model_name=RARE_MODEL,
        input_per_million=Decimal("0.5"),
        cached_input_per_million=Decimal("0.25"),
        output_per_million=Decimal("1.5"),
        effective_from=FIRST - DAY,
    )
    assert recompute_costs(model_name=RARE_MODEL, since=utc(2026, 3, 1)).changed > 0


def _drop_hours(hours: list[datetime]) -> None:
    """As if these hours had never been rolled up: their rows and their days' rows gone."""
    days = {hour.date() for hour in hours}
    RolledUpHour.objects.filter(hour__in=hours).delete()
    HourlyRollup.objects.filter(hour__in=hours).delete()
    HourlyUserPresence.objects.filter(hour__in=hours).delete()
    DailyRollup.objects.filter(day__in=days).delete()
    DailyUserPresence.objects.filter(day__in=days).delete()


def build(state: str) -> None:
    """The same stored calls and feedback in every state; only the rollups differ."""
    _make_calls(random.Random(13))
    if state == "stale":
        refresh_rollups(now=NOW)
    _change_calls()
    if state == "fresh":
        refresh_rollups(now=NOW)
        assert not ChangedHour.objects.filter(hour__lt=NOW).exists()
    elif state == "half-built":
        refresh_rollups(now=utc(2026, 3, 1, 15))  # an interrupted backfill, with holes
        _drop_hours([utc(2026, 2, 27, h) for h in (17, 18, 19)] + [utc(2026, 3, 1, 3)])
        assert 0 < RolledUpHour.objects.count() < HOURS
    elif state == "stale":
        assert ChangedHour.objects.count() >= 10
    assert RolledUpHour.objects.exists() == (state != "absent")


def reset() -> None:
    """No calls, feedback or rollups; no change marks either (also none that earlier tests left behind,
    which is what the clean_change_marks fixture does for a test of its own)."""
    UserFeedback.objects.all().delete()
    LLMRequestLog.objects.all().delete()
    ModelPrice.objects.filter(model_name=RARE_MODEL).delete()
    for table in (HourlyRollup, DailyRollup, HourlyUserPresence, DailyUserPresence, RolledUpHour, ChangedHour):
        table.objects.all().delete()


# --- Windows -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Window:
    """Query parameters as sent, and the same selection in Python: [start, last] of the timestamps."""

    name: str
    params: dict = field(default_factory=dict)
    start: datetime | None = None
    last: datetime | None = None  # the last instant included
    model: str | None = None
    status: str | None = None
    error_type: str | None = None
    user_id: str | None = None

    def __str__(self):
        return self.name

    def holds(self, moment: datetime) -> bool:
        return (self.start is None or moment >= self.start) and (self.last is None or moment <= self.last)

    def selects(self, call: LLMRequestLog) -> bool:
        return self.holds(call.timestamp) and all(
            wanted is None or getattr(call, column) == wanted
            for wanted, column in (
                (self.model, "model_name"),
                (self.status, "status"),
                (self.error_type, "error_type"),
                (self.user_id, "user_id"),
            )
        )


def window(name: str, start: str | None = None, end: str | None = None, **filters) -> Window:
    params = {"start_date": start, "end_date": end} | filters
    params = {key: value for key, value in params.items() if value is not None}
    first = None if start is None else _instant(start)
    # A date-only end covers its whole day; a datetime end is inclusive.
    last = None if end is None else _instant(end) + (DAY - MICRO if len(end) == 10 else timedelta(0))
    return Window(name, params, first, last, **filters)


def _instant(text: str) -> datetime:
    """A date (its midnight) or a datetime with its offset, in UTC."""
    if len(text) == 10:
        return datetime.combine(date.fromisoformat(text), time.min, UTC)
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


WINDOWS = [
    window("whole-days", "2026-02-28", "2026-03-01"),
    window("mid-hour", "2026-02-27T09:17:03Z", "2026-03-01T20:43:00Z"),
    window("hour-edges", "2026-02-28T03:00:00Z", "2026-02-28T09:00:00Z"),
    window("dashboard", "2026-02-27T07:30:00Z", "2026-03-02T11:59:59.999999Z"),
    window("inside-one-hour", "2026-03-01T05:10:00Z", "2026-03-01T05:50:00Z"),
    window("open"),
    window("open-start", end="2026-02-28T11:01:00Z"),
    window("open-end", "2026-02-28T02:17:03Z"),
    window("model", "2026-02-27T09:17:03Z", model="org/m-gamma-7b"),
    window("errors", "2026-02-28", "2026-03-01", status="error"),
    window("error-type", error_type="timeout"),
    window("user", "2026-02-27T12:00:00Z", user_id="user-3"),
    window("combined", "2026-02-28T02:17:03Z", "2026-03-02T12:00:00Z", model="m-beta", status="success"),
    window("empty", "2026-03-05T00:00:00Z", "2026-03-05T05:30:00Z"),
]


# --- Expected figures ------------------------------------------------------------------------


class Exact:
    """A headline percentile: equal to numpy's after the API's rounding to 3 decimals."""

    def __init__(self, value: float | None):
        self.value = value


class Chart(Exact):
    """A chart point's percentile: exact, or within the relative error its entry declares."""


class Mean(Exact):
    """An average, rounded to 3 decimals by the API."""


def percentile(values, q: float) -> float | None:
    return None if not values else float(np.percentile(np.array(values, dtype=float), q))


def mean(values) -> float | None:
    return math.fsum(values) / len(values) if values else None


def rate(part: int, whole: int) -> float:
    return round(part * 100 / whole, 2) if whole else 0.0


def cost_sum(calls) -> Decimal:
    return sum((c.cost_estimate for c in calls if c.cost_estimate is not None), Decimal(0))


def group_cost(calls) -> Decimal | None:
    """The sum of the priced calls; none when there are calls but none priced (0 for no calls)."""
    if calls and all(c.cost_estimate is None for c in calls):
        return None
    return cost_sum(calls)


def users(calls) -> int:
    return len({c.user_id for c in calls if c.user_id})


def iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def floor_to(moment: datetime, group_by: str) -> datetime:
    """The start of the UTC hour, day, week (from Monday) or month holding `moment`."""
    if group_by == "hour":
        return moment.replace(minute=0, second=0, microsecond=0)
    midnight = moment.replace(hour=0, minute=0, second=0, microsecond=0)
    if group_by == "week":
        return midnight - timedelta(days=midnight.weekday())
    return midnight.replace(day=1) if group_by == "month" else midnight


def following(start: datetime, group_by: str) -> datetime:
    if group_by == "month":
        return (start + timedelta(days=32)).replace(day=1)
    return start + {"hour": HOUR, "day": DAY, "week": 7 * DAY}[group_by]


def buckets(w: Window, moments: list[datetime], group_by: str) -> list[datetime]:
    """Every bucket from the window's start (or the first moment) to its last instant (or the last moment)."""
    first, last = w.start or min(moments, default=None), w.last or max(moments, default=None)
    if first is None or last is None:
        return []
    found, current = [], floor_to(first, group_by)
    while current <= last:
        found.append(current)
        current = following(current, group_by)
    return found


def by_bucket(calls, group_by: str) -> dict[datetime, list]:
    grouped: dict[datetime, list] = {}
    for call in calls:
        grouped.setdefault(floor_to(call.timestamp, group_by), []).append(call)
    return grouped


def by_model(calls) -> dict[str, list]:
    grouped: dict[str, list] = {}
    for call in calls:
        grouped.setdefault(call.model_name, []).append(call)
    return grouped


def sums(calls) -> dict:
    return {
        name: sum(getattr(c, name) for c in calls) for name in ("prompt_tokens", "completion_tokens", "total_tokens")
    }


def expected_overview(calls, w: Window) -> dict:
    latencies = [c.latency_ms for c in calls]
    priced = [c.cost_estimate for c in calls if c.cost_estimate is not None]
    errors = sum(c.status == "error" for c in calls)
    moments = [c.timestamp for c in calls]
    return {
        "total_calls": len(calls),
        "success_count": len(calls) - errors,
        "error_count": errors,
        "error_rate": rate(errors, len(calls)),
        **sums(calls),
        "avg_latency_ms": Mean(mean(latencies)),
        "p50_latency_ms": Exact(percentile(latencies, 50)),
        "p95_latency_ms": Exact(percentile(latencies, 95)),
        "p99_latency_ms": Exact(percentile(latencies, 99)),
        "total_cost": group_cost(calls),
        "avg_cost_per_call": (sum(priced, Decimal(0)) / len(priced)).quantize(Decimal("0.000001")) if priced else None,
        "unique_users": users(calls),
        "unpriced_calls": len(calls) - len(priced),
        "start_date": iso(w.start or min(moments, default=None)),
        "end_date": iso(w.last or max(moments, default=None)),
    }


def expected_token_usage(calls, w: Window, group_by: str) -> dict:
    grouped = by_bucket(calls, group_by)
    results = []
    for period in buckets(w, [c.timestamp for c in calls], group_by):
        rows = grouped.get(period, [])
        priced = sum(c.cost_estimate is not None for c in rows)
        results.append(
            {"period": iso(period), "calls": len(rows), **sums(rows), "total_cost": group_cost(rows)}
            | {"unpriced_calls": len(rows) - priced}
        )
    return {"group_by": group_by, "results": results}


def expected_latency(calls, w: Window, group_by: str | None) -> dict:
    models = by_model(calls)
    results = []
    for model in sorted(models):
        latencies = [c.latency_ms for c in models[model]]
        ttfts = [c.time_to_first_token_ms for c in models[model] if c.time_to_first_token_ms is not None]
        results.append(
            {
                "model": model,
                "calls": len(latencies),
                "avg_latency_ms": Mean(mean(latencies)),
                "p50_latency_ms": Exact(percentile(latencies, 50)),
                "p95_latency_ms": Exact(percentile(latencies, 95)),
                "p99_latency_ms": Exact(percentile(latencies, 99)),
                "min_latency_ms": Mean(min(latencies)),
                "max_latency_ms": Mean(max(latencies)),
                "avg_time_to_first_token_ms": Mean(mean(ttfts)),
            }
        )
    body = {"results": results}
    if group_by:
        grouped = {key: by_model(rows) for key, rows in by_bucket(calls, group_by).items()}
        body["group_by"] = group_by
        body["timeseries"] = []
        for period in buckets(w, [c.timestamp for c in calls], group_by):
            for model in sorted(models):
                latencies = [c.latency_ms for c in grouped.get(period, {}).get(model, [])]
                body["timeseries"].append(
                    {
                        "period": iso(period),
                        "model": model,
                        "avg_latency_ms": Mean(mean(latencies)),
                        "p95_latency_ms": Chart(percentile(latencies, 95)),
                    }
                )
    return body


def expected_errors(calls) -> dict:
    failed = [c for c in calls if c.status == "error"]
    types: dict[str, int] = {}
    for call in failed:
        # A failure recorded without a category counts with the "unknown" ones.
        name = call.error_type or "unknown"
        types[name] = types.get(name, 0) + 1
    models = by_model(calls)
    model_rows = [(m, sum(c.status == "error" for c in rows), len(rows)) for m, rows in models.items()]
    recent = sorted(failed, key=lambda c: (c.timestamp, c.pk), reverse=True)[:10]
    return {
        "total_errors": len(failed),
        "error_rate": rate(len(failed), len(calls)),
        "by_type": [
            {"error_type": kind, "count": n, "percentage": rate(n, len(failed))}
            for kind, n in sorted(types.items(), key=lambda item: (-item[1], item[0]))
        ],
        "by_model": [
            {"model": m, "errors": e, "calls": n, "error_rate": rate(e, n)}
            for m, e, n in sorted(model_rows, key=lambda row: (-row[1], row[0]))
            if e
        ],
        "recent": [
            {
                "request_id": str(c.request_id),
                "timestamp": iso(c.timestamp),
                "model": c.model_name,
                "error_type": c.error_type,
                "http_status": c.http_status,
                "latency_ms": Mean(c.latency_ms),
                "user_id": c.user_id,
                "error_message": c.error_message[:200],
            }
            for c in recent
        ],
    }


def expected_model_usage(calls) -> dict:
    models = by_model(calls)
    results = []
    for model, rows in sorted(models.items(), key=lambda item: (-len(item[1]), item[0])):
        priced = sum(c.cost_estimate is not None for c in rows)
        errors = sum(c.status == "error" for c in rows)
        results.append(
            {
                "model": model,
                "calls": len(rows),
                "share": rate(len(rows), len(calls)),
                **sums(rows),
                "total_cost": group_cost(rows),
                "unpriced_calls": len(rows) - priced,
                "avg_latency_ms": Mean(mean([c.latency_ms for c in rows])),
                "p95_latency_ms": Exact(percentile([c.latency_ms for c in rows], 95)),
                "error_rate": rate(errors, len(rows)),
            }
        )
    return {"results": results}


def expected_daily_stats(calls, w: Window) -> dict:
    grouped = by_bucket(calls, "day")
    results = []
    for day in buckets(w, [c.timestamp for c in calls], "day"):
        rows = grouped.get(day, [])
        errors = sum(c.status == "error" for c in rows)
        latencies = [c.latency_ms for c in rows]
        results.append(
            {
                "date": day.date().isoformat(),
                "calls": len(rows),
                "errors": errors,
                "error_rate": rate(errors, len(rows)),
                "total_tokens": sum(c.total_tokens for c in rows),
                "total_cost": group_cost(rows),
                "unpriced_calls": sum(c.cost_estimate is None for c in rows),
                "avg_latency_ms": Mean(mean(latencies)),
                "p95_latency_ms": Chart(percentile(latencies, 95)),
                "unique_users": users(rows),
            }
        )
    return {"results": results}


def _thumbs(rows) -> dict:
    up = sum(f.rating == "thumbs_up" for f in rows)
    return {
        "total": len(rows),
        "thumbs_up": up,
        "thumbs_down": len(rows) - up,
        "satisfaction_rate": rate(up, len(rows)) if rows else None,
    }


def expected_feedback(feedback, w: Window, group_by: str) -> dict:
    """Feedback given in the window (by its own time), on calls of the window's model and user."""
    chosen = [
        f
        for f in feedback
        if w.holds(f.created_at)
        and (w.model is None or f.request.model_name == w.model)
        and (w.user_id is None or f.request.user_id == w.user_id)
    ]
    models: dict[str, list] = {}
    for row in chosen:
        models.setdefault(row.request.model_name, []).append(row)
    periods: dict[datetime, list] = {}
    for row in chosen:
        periods.setdefault(floor_to(row.created_at, group_by), []).append(row)
    moments = [f.created_at for f in chosen]
    return {
        **_thumbs(chosen),
        "by_model": [
            {"model": model, **_thumbs(rows)}
            for model, rows in sorted(models.items(), key=lambda item: (-len(item[1]), item[0]))
        ],
        "group_by": group_by,
        "over_time": [
            {"period": iso(period), **_thumbs(periods.get(period, []))} for period in buckets(w, moments, group_by)
        ],
    }


# --- Asking the API and comparing --------------------------------------------------------------


def requests_for(w: Window) -> dict[str, tuple[str, dict]]:
    """Every endpoint request of a window: name → (path, query parameters)."""
    asks = {"overview": ("/api/metrics/overview/", w.params)}
    for group_by in ("hour", "day", "week", "month"):
        asks[f"token-usage-{group_by}"] = ("/api/metrics/token-usage/", w.params | {"group_by": group_by})
    asks["latency"] = ("/api/metrics/latency/", w.params)
    for group_by in ("hour", "day"):
        asks[f"latency-{group_by}"] = ("/api/metrics/latency/", w.params | {"group_by": group_by})
    asks["errors"] = ("/api/metrics/errors/", w.params)
    asks["model-usage"] = ("/api/metrics/model-usage/", w.params)
    asks["daily-stats"] = ("/api/metrics/daily-stats/", w.params)
    # The feedback analytics take no status or error type.
    documented = {k: v for k, v in w.params.items() if k in ("start_date", "end_date", "model", "user_id")}
    asks["feedback-day"] = ("/api/feedback/analytics/", documented)
    asks["feedback-hour"] = ("/api/feedback/analytics/", documented | {"group_by": "hour"})
    return asks


def expected_for(name: str, w: Window, calls, feedback) -> dict:
    """`calls`: the calls the window selects; `feedback`: all of it."""
    if name == "overview":
        return expected_overview(calls, w)
    if name.startswith("token-usage-"):
        return expected_token_usage(calls, w, name.removeprefix("token-usage-"))
    if name.startswith("latency"):
        return expected_latency(calls, w, name.removeprefix("latency").removeprefix("-") or None)
    if name == "errors":
        return expected_errors(calls)
    if name == "model-usage":
        return expected_model_usage(calls)
    if name == "daily-stats":
        return expected_daily_stats(calls, w)
    return expected_feedback(feedback, w, name.removeprefix("feedback-"))


def assert_exact_percentile(got, expected: float | None, where: str) -> None:
    if expected is None:
        assert got is None, where
    else:
        assert got is not None and math.isclose(got, round(expected, 3), abs_tol=0.0011), (where, got, expected)


def assert_chart_percentile(entry: dict, key: str, expected: float | None, where: str) -> None:
    """Exact, unless the entry says it read a histogram: then within the relative error it declares."""
    got = entry[key]
    if entry.get("percentile_method") != "histogram":
        assert "percentile_max_relative_error" not in entry, where
        assert_exact_percentile(got, expected, where)
        return
    bound = entry["percentile_max_relative_error"]
    assert isinstance(bound, int | float) and 0 <= bound <= 0.01, (where, bound)
    if expected is None:
        assert got is None, where
    else:
        assert got is not None and abs(got - expected) <= bound * expected + 0.0011, (where, got, expected, bound)


def assert_matches(got, expected, where: str) -> None:
    """`got` (JSON) holds every figure of `expected`, each compared as its kind requires."""
    if isinstance(expected, dict):
        assert isinstance(got, dict), (where, got)
        for key, value in expected.items():
            assert key in got, (where, key)
            if isinstance(value, Chart):
                assert_chart_percentile(got, key, value.value, f"{where}.{key}")
            else:
                assert_matches(got[key], value, f"{where}.{key}")
    elif isinstance(expected, list):
        assert isinstance(got, list) and len(got) == len(expected), (where, len(got), len(expected))
        for index, (one, wanted) in enumerate(zip(got, expected, strict=True)):
            assert_matches(one, wanted, f"{where}[{index}]")
    elif isinstance(expected, Mean):
        if expected.value is None:
            assert got is None, where
        else:
            assert got is not None and abs(got - expected.value) <= 0.001, (where, got, expected.value)
    elif isinstance(expected, Exact):
        assert_exact_percentile(got, expected.value, where)
    elif isinstance(expected, Decimal):
        assert got is not None and Decimal(str(got)) == expected, (where, got, expected)
    else:
        assert got == expected, (where, got, expected)


def without_chart_percentiles(body):
    """The JSON without the percentile fields of chart points (latency series entries, daily rows)."""
    if isinstance(body, list):
        return [without_chart_percentiles(item) for item in body]
    if not isinstance(body, dict):
        return body
    chart_point = "date" in body or ("period" in body and "model" in body)
    return {
        key: without_chart_percentiles(value)
        for key, value in body.items()
        if not (chart_point and key in CHART_PERCENTILE_KEYS)
    }


# --- Alerts ------------------------------------------------------------------------------------

RULES = [
    # (metric, model, window minutes, threshold)
    ("error_rate", "", 60, 10.0),
    ("error_rate", "m-alpha", 180, 20.0),
    ("latency", "", 60, 2500.0),
    ("latency", "org/m-gamma-7b", 240, 2000.0),
    ("token_spike", "", 60, 1.5),
    ("token_spike", "m-beta", 120, 2.0),
]
# (now, window override in minutes): on an hour edge, mid-hour, inside one hour, whole days, partly and
# wholly before the data.
READINGS = [
    (NOW, None),
    (NOW - 7 * HOUR + timedelta(minutes=23, seconds=5), 90),
    (utc(2026, 3, 1), None),
    (utc(2026, 3, 1), 24 * 60),
    (utc(2026, 2, 28, 5, 50), 40),
    (NOW, 3 * 24 * 60),
    (utc(2026, 2, 27, 9, 30), 24 * 60),
    (FIRST - HOUR, 60),
]
BACKTEST_ON_THE_HOUR = NOW
BACKTEST_MID_HOUR = NOW - timedelta(minutes=37, seconds=5)


def make_rules() -> list[AlertRule]:
    return [
        AlertRule.objects.create(
            name=f"{metric} {model or 'all'} {minutes}",
            metric_type=metric,
            model_name=model,
            time_window_minutes=minutes,
            threshold=threshold,
            comparison="gte" if metric == "token_spike" else "gt",
            min_requests=5,
            cooldown_minutes=120,
        )
        for metric, model, minutes, threshold in RULES
    ]


def _watched(calls, rule: AlertRule, start: datetime, end: datetime) -> list:
    return [c for c in calls if start <= c.timestamp < end and (not rule.model_name or c.model_name == rule.model_name)]


def expected_value(rule: AlertRule, current: list, previous: list) -> tuple[float | None, str]:
    """A rule's value over a window's calls (`previous`: the window before, the token spike's baseline);
    a latency is the exact P95, before the rule's rounding to 2 decimals."""
    if rule.metric_type == "token_spike":
        baseline = sum(c.total_tokens for c in previous)
        if not baseline:
            return None, "no tokens in the previous window"
        return round(sum(c.total_tokens for c in current) / baseline, 2), ""
    if not current:
        return None, "no calls"
    if rule.metric_type == "error_rate":
        return rate(sum(c.status == "error" for c in current), len(current)), ""
    return percentile([c.latency_ms for c in current], 95), ""


def assert_value(rule: AlertRule, got: float | None, expected: float | None, where) -> None:
    if rule.metric_type != "latency" or expected is None:
        assert got == expected, (where, got, expected)
    else:  # a P95 rounded to 2 decimals
        assert got is not None and abs(got - expected) <= 0.005 + 1e-9, (where, got, expected)


def expected_backtest(calls, rule: AlertRule, days: int, now: datetime) -> dict:
    """The backtest recomputed: consecutive windows ending at `now`, the first only a baseline, each
    window's value from its calls, run through the live check's state machine (`step`)."""
    length = timedelta(minutes=rule.time_window_minutes)
    count = max(1, math.ceil(timedelta(days=days) / length))
    start = now - length * (count + 1)
    windows = [_watched(calls, rule, start + length * i, start + length * (i + 1)) for i in range(count + 1)]
    state, evaluated, breached, fires, reminders, max_value, fired = RuleState("ok"), 0, 0, 0, 0, None, []
    for index in range(1, count + 1):
        current, window_end = windows[index], start + length * (index + 1)
        value = expected_value(rule, current, windows[index - 1])[0] if current else None
        if rule.metric_type == "latency" and value is not None:
            value = round(value, 2)
        if value is not None:
            max_value = value if max_value is None else max(max_value, value)
        if value is None or len(current) < rule.min_requests:
            continue
        evaluated += 1
        breached += is_breached(rule=rule, value=value)
        state, action = step(state=state, value=value, sample=len(current), now=window_end, rule=rule)
        fires += action == "fired"
        reminders += action == "reminded"
        if action == "fired":
            fired.append({"window_start": iso(window_end - length), "window_end": iso(window_end), "value": value})
    return {
        "rule": rule.pk,
        "days": days,
        "window_minutes": rule.time_window_minutes,
        "windows": count,
        "evaluated": evaluated,
        "breached": breached,
        "would_fire": fires,
        "reminders": reminders,
        "max_value": max_value,
        "fires": fired,
    }


# --- The four states, each answered while it stands --------------------------------------------


@dataclass
class Snapshot:
    """What one state stored and what every endpoint, alert reading and backtest answered in it."""

    calls: list[LLMRequestLog]
    feedback: list[UserFeedback]
    rules: list[AlertRule]
    answers: dict[tuple[str, str], tuple[int, object]]  # (window, request) → (HTTP status, JSON)
    readings: dict[tuple[str, datetime, int | None], Reading]
    backtests: dict[tuple[str, datetime], dict]

    def rows(self) -> list[tuple]:
        columns = ("request_id", "timestamp", "model_name", "status", "error_type", "latency_ms", "cost_estimate")
        more = ("time_to_first_token_ms", "total_tokens", "user_id", "source")
        return sorted(tuple(getattr(c, name) for name in columns + more) for c in self.calls)


def take_snapshot(client: APIClient, rules: list[AlertRule]) -> Snapshot:
    answers = {}
    for w in WINDOWS:
        for name, (path, params) in requests_for(w).items():
            response = client.get(path, params)
            answers[w.name, name] = (response.status_code, response.json())
    return Snapshot(
        calls=list(LLMRequestLog.objects.order_by("timestamp", "pk")),
        feedback=list(UserFeedback.objects.select_related("request")),
        rules=rules,
        answers=answers,
        readings={
            (rule.name, now, minutes): read_metric(rule=rule, now=now, window_minutes=minutes)
            for rule in rules
            for now, minutes in READINGS
        },
        backtests={
            (rule.name, now): backtest_rule(rule=rule, days=3, now=now)
            for rule in rules
            for now in (BACKTEST_ON_THE_HOUR, BACKTEST_MID_HOUR)
        },
    )


@pytest.fixture(scope="module")
def snapshots(django_db_setup, django_db_blocker) -> dict[str, Snapshot]:
    """Each state built in turn in one transaction that is rolled back at the end.

    Building a state takes most of a second; building it once and answering every question in it keeps
    the module fast, and the tests then compare plain data, state by state and across states.
    """
    found = {}
    with django_db_blocker.unblock(), time_machine.travel(NOW, tick=False), transaction.atomic():
        client = APIClient()
        client.force_authenticate(get_user_model().objects.create_user(username="rollup-reader"))
        rules = make_rules()
        for state in STATES:
            reset()
            build(state)
            found[state] = take_snapshot(client, rules)
        transaction.set_rollback(True)
    return found


# --- Tests ---------------------------------------------------------------------------------------


def test_it_builds_every_state_from_the_same_calls(snapshots):
    rows = snapshots["absent"].rows()
    assert len(rows) > 1000
    for state in STATES[1:]:
        assert snapshots[state].rows() == rows, state
        assert len(snapshots[state].feedback) == len(snapshots["absent"].feedback) > 100


@pytest.mark.parametrize("state", STATES)
@pytest.mark.parametrize("w", WINDOWS, ids=str)
def test_it_matches_the_rows_in_every_endpoint(snapshots, w, state):
    snapshot = snapshots[state]
    chosen = [c for c in snapshot.calls if w.selects(c)]
    assert bool(chosen) == (w.name != "empty")
    for name in requests_for(w):
        status, body = snapshot.answers[w.name, name]
        assert status == 200, (name, body)
        assert_matches(body, expected_for(name, w, chosen, snapshot.feedback), f"{state} {w} {name}")


@pytest.mark.parametrize("w", WINDOWS, ids=str)
def test_it_answers_the_same_json_in_every_state(snapshots, w):
    for name in requests_for(w):
        first = without_chart_percentiles(snapshots["absent"].answers[w.name, name])
        for state in STATES[1:]:
            assert without_chart_percentiles(snapshots[state].answers[w.name, name]) == first, (state, name)


@pytest.mark.parametrize("state", STATES)
def test_it_reads_every_alert_metric_from_the_rows(snapshots, state):
    snapshot = snapshots[state]
    for rule in snapshot.rules:
        for now, minutes in READINGS:
            length = timedelta(minutes=minutes or rule.time_window_minutes)
            start = now - length
            current = _watched(snapshot.calls, rule, start, now)
            value, note = expected_value(rule, current, _watched(snapshot.calls, rule, start - length, start))
            eligible = value is not None and len(current) >= rule.min_requests
            if value is not None and not eligible:
                note = f"{len(current)} calls, fewer than min_requests={rule.min_requests}"
            reading = snapshot.readings[rule.name, now, minutes]
            where = (state, rule.name, now, minutes)
            assert_value(rule, reading.value, value, where)
            assert (reading.calls, reading.window_start, reading.window_end) == (len(current), start, now), where
            assert (reading.eligible, reading.note) == (eligible, note), where


@pytest.mark.parametrize("state", STATES)
@pytest.mark.parametrize(
    "now",
    [
        pytest.param(BACKTEST_MID_HOUR, id="mid-hour"),
        # Windows cut on the hour: calls at hh:59:59.999999 and hh:00:00 sit on their edges.
        pytest.param(BACKTEST_ON_THE_HOUR, id="on-the-hour"),
    ],
)
def test_it_backtests_every_rule_from_the_rows(snapshots, now, state):
    snapshot = snapshots[state]
    for rule in snapshot.rules:
        got, expected = snapshot.backtests[rule.name, now], expected_backtest(snapshot.calls, rule, 3, now)
        where = (state, rule.name, now)
        assert assert_backtest_counts(got) == assert_backtest_counts(expected), where
        assert_value(rule, got["max_value"], expected["max_value"], where)
        assert [(f["window_start"], f["window_end"]) for f in got["fires"]] == [
            (f["window_start"], f["window_end"]) for f in expected["fires"]
        ], where
        for one, wanted in zip(got["fires"], expected["fires"], strict=True):
            assert_value(rule, one["value"], wanted["value"], where)


def assert_backtest_counts(result: dict) -> dict:
    return {key: value for key, value in result.items() if key not in ("max_value", "fires")}
