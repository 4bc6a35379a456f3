"""The metric catalogue: one function per metrics endpoint, each assembling its figures.

Every call figure is read through `rollups`: the window's fresh whole hours from the rollup tables,
the rest (edge hours, hours changed since their roll-up, filters rollups do not hold) from the raw
rows, so the state of the rollups changes the speed of a figure, never its value. Headline
percentiles are exact (`rollups.exact_latency_percentiles`); chart points (one per time bucket)
read theirs from the merged histogram and say so (`HISTOGRAM_PERCENTILE`). Minute buckets and the
latest errors read raw rows. Time buckets come from `buckets`, the formulas (error rate,
percentages) from `formulas`.
"""

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from django.core.exceptions import EmptyResultSet, FullResultSet
from django.db import connections
from django.db.models import Avg, Count, Max, Min, QuerySet, Sum

from llm.analytics.buckets import bucket_condition, bucket_expression, bucket_start, bucket_starts, floor_to_bucket
from llm.analytics.filters import LogFilters, matching_logs
from llm.analytics.formulas import error_rate, percentage, satisfaction_rate
from llm.analytics.listings import PREVIEW_CHARS, feedback_queryset
from llm.analytics.percentiles import grouped_latency_percentiles
from llm.analytics.rollups import (
    RELATIVE_ERROR,
    Figures,
    WindowSplit,
    bucket_latency,
    exact_latency_percentiles,
    feedback_counts,
    split_window,
    unique_users,
    window_figures,
)
from llm.models import COST_PLACES, LLMRequestLog, UserFeedback

# --- Shared pieces ------------------------------------------------------------------


def _ms(value: float | None) -> float | None:
    return None if value is None else round(float(value), 3)


def _cost(value) -> Decimal:
    return Decimal(value or 0).quantize(_COST_QUANTUM)


_COST_QUANTUM = Decimal(1).scaleb(-COST_PLACES)


def _filtered_from(queryset: QuerySet) -> tuple[str, list]:
    """`FROM <log table> WHERE (<queryset's filters>)` and its parameters, for hand-written statements.

    The filters are compiled once and shared; the log filters only ever name the log table's own
    columns (a join would need its table in the FROM, hence the check).
    """
    query = queryset.query
    table = query.model._meta.db_table
    try:
        where, params = query.get_compiler(queryset.db).compile(query.where)
    except FullResultSet:
        where, params = "1 = 1", []
    except EmptyResultSet:
        where, params = "1 = 0", []
    if set(query.alias_map) - {table}:
        raise ValueError("_filtered_from only takes filters on the log table's own columns")
    return f"FROM {connections[queryset.db].ops.quote_name(table)} WHERE ({where})", list(params)


def _uuid(value) -> uuid.UUID:
    # PostgreSQL hands back a UUID; SQLite stores 32 hex digits.
    return value if isinstance(value, uuid.UUID) else uuid.UUID(value)


def _utc(value) -> datetime:
    # PostgreSQL hands back an aware datetime; Django's SQLite converter a naive one, in UTC.
    if not isinstance(value, datetime):
        value = datetime.fromisoformat(value)
    return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)


def _window(filters: LogFilters, first: datetime | None, last: datetime | None):
    """(first instant, last instant) of the requested range; the data's span fills what is missing."""
    start = filters.start or first
    if filters.end is None:
        end = last
    else:
        end = filters.end if filters.end_inclusive else filters.end - timedelta(microseconds=1)
    return start, end


# --- Reading through the rollups ----------------------------------------------------------------

# Chart points (one per time bucket) read their percentiles from the merged latency histogram;
# each point says so, with the bound on its relative error.
HISTOGRAM_PERCENTILE = {
    "percentile_method": "histogram",
    "percentile_max_relative_error": round(RELATIVE_ERROR, 6),
}


def _avg_ms(figures: Figures | None) -> float | None:
    return None if figures is None else _ms(figures.avg_latency_ms)


def _figures_cost(figures: Figures | None) -> Decimal | None:
    """A group's cost: the sum over its priced calls; null when it has calls but none priced.

    An unpriced call has no cost rather than a cost of 0, so a group made only of such calls must
    not read "$0"; an empty (zero-filled) bucket did cost 0.
    """
    if figures is None:
        return _cost(0)
    if figures.calls and not figures.priced_calls:
        return None
    return figures.cost


def _data_span(filters: LogFilters) -> tuple[datetime | None, datetime | None]:
    """The range to bucket over; only reads the first/last call (two index probes) when the request left it open."""
    if filters.start is not None and filters.end is not None:
        return _window(filters, None, None)
    span = matching_logs(filters=filters).aggregate(first=Min("timestamp"), last=Max("timestamp"))
    return _window(filters, span["first"], span["last"])


def _time_unit(group_by: str) -> str:
    """The rollup time unit a bucket is made of: hours for hour buckets, days for day, week and month."""
    return "hour" if group_by == "hour" else "day"


def _per_bucket(figures: dict, group_by: str, *, position: int = 0) -> dict:
    """Figures keyed by hour or day (at `position` of a tuple key) merged into the buckets of `group_by`."""
    merged: dict = {}
    for key, value in figures.items():
        moment = key[position] if isinstance(key, tuple) else key
        if not isinstance(moment, datetime):
            moment = datetime(moment.year, moment.month, moment.day, tzinfo=UTC)
        start = floor_to_bucket(moment, group_by)
        bucket = (*key[:position], start, *key[position + 1 :]) if isinstance(key, tuple) else start
        merged[bucket] = merged[bucket].add(value) if bucket in merged else value
    return merged


# --- Endpoint figures -----------------------------------------------------------------


def overview(*, filters: LogFilters) -> dict:
    """Headline figures over the filtered calls, through the rollups (`llm.analytics.rollups`).

    Exact whatever the state of the rollups: sums, P50/P95/P99 (numpy's linear interpolation of
    the raw latencies) and unique users. `avg_cost_per_call` divides by priced calls only (an
    unpriced call has no cost, not 0); `unpriced_calls` counts the rest. `start_date`/`end_date`
    are the requested bounds, or the data's first/last call when the request left them open.
    """
    split = split_window(filters=filters)
    figures = window_figures(filters=filters, split=split, histograms=False).get(None, Figures())
    percentiles = exact_latency_percentiles(filters=filters, split=split)[None]
    start, end = _data_span(filters)
    calls, errors = figures.calls, figures.errors
    return {
        "total_calls": calls,
        "success_count": calls - errors,
        "error_count": errors,
        "error_rate": error_rate(errors=errors, calls=calls),
        "prompt_tokens": figures.prompt_tokens,
        "completion_tokens": figures.completion_tokens,
        "total_tokens": figures.total_tokens,
        "avg_latency_ms": _avg_ms(figures),
        "p50_latency_ms": _ms(percentiles[0.5]),
        "p95_latency_ms": _ms(percentiles[0.95]),
        "p99_latency_ms": _ms(percentiles[0.99]),
        "total_cost": _figures_cost(figures),
        "avg_cost_per_call": _cost(figures.cost / figures.priced_calls) if figures.priced_calls else None,
        "unique_users": unique_users(filters=filters, split=split)[None] if calls else 0,
        "unpriced_calls": figures.unpriced_calls,
        "start_date": start,
        "end_date": end,
    }


def token_usage(*, filters: LogFilters) -> dict:
    """Token and cost totals per time bucket (group_by, default day), zero-filled over the range.

    Minute buckets read the raw rows; the others fold hourly or daily rollup figures.
    """
    group_by = filters.group_by or "day"
    start, last = _data_span(filters)
    if start is None or last is None:
        return {"group_by": group_by, "results": []}
    starts = bucket_starts(start=start, last=last, group_by=group_by)
    if group_by == "minute":
        found = _minute_figures(filters)
    else:
        unit = _time_unit(group_by)
        found = _per_bucket(window_figures(filters=filters, group_by=(unit,), histograms=False), group_by)
    results = []
    for period in starts:
        figures = found.get(period)
        results.append(
            {
                "period": period,
                "calls": figures.calls if figures else 0,
                "prompt_tokens": figures.prompt_tokens if figures else 0,
                "completion_tokens": figures.completion_tokens if figures else 0,
                "total_tokens": figures.total_tokens if figures else 0,
                "total_cost": _figures_cost(figures),
                "unpriced_calls": figures.unpriced_calls if figures else 0,
            }
        )
    return {"group_by": group_by, "results": results}


def _minute_figures(filters: LogFilters) -> dict[datetime, Figures]:
    """Per-minute sums from the raw rows (rollups hold nothing finer than an hour)."""
    queryset = matching_logs(filters=filters)
    vendor = connections[queryset.db].vendor
    rows = (
        queryset.annotate(period=bucket_expression(group_by="minute", vendor=vendor))
        .values("period")
        .annotate(
            calls=Count("*"),
            prompt_tokens=Sum("prompt_tokens"),
            completion_tokens=Sum("completion_tokens"),
            total_tokens=Sum("total_tokens"),
            total_cost=Sum("cost_estimate"),
            priced=Count("cost_estimate"),
        )
    )
    found = {}
    for row in rows:
        cost = Decimal(row["total_cost"] or 0).quantize(_COST_QUANTUM)
        found[bucket_start(row["period"])] = Figures(
            calls=row["calls"],
            prompt_tokens=row["prompt_tokens"] or 0,
            completion_tokens=row["completion_tokens"] or 0,
            total_tokens=row["total_tokens"] or 0,
            cost_micros=int(cost.scaleb(COST_PLACES)),
            priced_calls=row["priced"],
            unpriced_calls=row["calls"] - row["priced"],
        )
    return found


def latency(*, filters: LogFilters) -> dict:
    """Latency per model (exact P50/P95/P99); with group_by also a per-(bucket, model) series of avg and P95.

    Series points read their P95 from the merged histogram (within 1 %, and they say so), except minute
    buckets, which rank the raw rows. Buckets with no calls carry null latencies (0 would be false).
    """
    split = split_window(filters=filters)
    per_status = window_figures(filters=filters, split=split, group_by=("model_name", "status"), histograms=False)
    per_model: dict[str, Figures] = {}
    for (model, _), figures in per_status.items():
        per_model[model] = per_model[model].add(figures) if model in per_model else figures
    percentiles = exact_latency_percentiles(filters=filters, split=split, by_model=True) if per_model else {}
    results = []
    for model in sorted(per_model):
        figures, found = per_model[model], percentiles.get(model, {})
        succeeded = per_status.get((model, LLMRequestLog.Status.SUCCESS))
        results.append(
            {
                "model": model,
                "calls": figures.calls,
                "avg_latency_ms": _avg_ms(figures),
                "p50_latency_ms": _ms(found.get(0.5)),
                "p95_latency_ms": _ms(found.get(0.95)),
                "p99_latency_ms": _ms(found.get(0.99)),
                "min_latency_ms": _ms(figures.latency_min_ms),
                "max_latency_ms": _ms(figures.latency_max_ms),
                "avg_time_to_first_token_ms": _ms(figures.avg_ttft_ms),
                **_generation_speed(succeeded),
            }
        )
    body = {"results": results}
    if filters.group_by:
        body["group_by"] = filters.group_by
        models = sorted(per_model)
        if filters.group_by == "minute":
            body["timeseries"] = _minute_latency_series(filters, models)
        else:
            body["timeseries"] = _latency_series(filters, models, split)
    return body


def _generation_speed(succeeded: Figures | None) -> dict:
    """Output speed over a model's successful calls: their output tokens over their total latency, as
    milliseconds per output token and output tokens per second (null without output tokens). A ratio of
    sums, so a long answer weighs by its length rather than counting as much as a one-token reply."""
    tokens = succeeded.completion_tokens if succeeded else 0
    if not tokens or not succeeded.latency_sum_us:
        return {"time_per_output_token_ms": None, "output_tokens_per_second": None}
    return {
        "time_per_output_token_ms": _ms(succeeded.latency_sum_us / 1000 / tokens),
        "output_tokens_per_second": round(tokens * 1_000_000 / succeeded.latency_sum_us, 2),
    }


def _latency_series(filters: LogFilters, models: list[str], split: WindowSplit) -> list[dict]:
    """Avg and P95 per (bucket, model). Hour and day buckets read each P95 from that period's digest; week
    and month buckets merge the histograms of their days."""
    group_by = filters.group_by
    start, last = _data_span(filters)
    if start is None or last is None:
        return []
    starts = bucket_starts(start=start, last=last, group_by=group_by)
    unit = _time_unit(group_by)
    if group_by in ("hour", "day"):
        latencies = bucket_latency(filters=filters, unit=unit, by_model=True, split=split)
        found = {key: (period.avg_latency_ms, period.p95_latency_ms) for key, period in latencies.items()}
    else:
        found = window_figures(filters=filters, split=split, group_by=(unit, "model_name"), histograms=("latency",))
        found = {
            key: (figures.avg_latency_ms, figures.latency_percentile(0.95))
            for key, figures in _per_bucket(found, group_by).items()
        }
    points, nothing = [], (None, None)
    for period in starts:
        shown = _iso(period)  # once per bucket, not once per point: 720 hours × the models add up
        for model in models:
            avg, p95 = found.get((period, model), nothing)
            points.append(
                {"period": shown, "model": model, "avg_latency_ms": _ms(avg), "p95_latency_ms": _ms(p95)}
                | HISTOGRAM_PERCENTILE
            )
    return points


def _iso(moment: datetime) -> str:
    """A UTC instant as the API writes it (DRF's encoder: ISO 8601 with Z)."""
    return moment.isoformat().replace("+00:00", "Z")


def _minute_latency_series(filters: LogFilters, models: list[str]) -> list[dict]:
    """Per-(minute, model) average and exact P95 from the raw rows."""
    queryset = matching_logs(filters=filters)
    start, last = _data_span(filters)
    if start is None or last is None:
        return []
    starts = bucket_starts(start=start, last=last, group_by="minute")
    vendor = connections[queryset.db].vendor
    bucketed = queryset.annotate(period=bucket_expression(group_by="minute", vendor=vendor))
    rows = list(bucketed.values("period", "model_name").annotate(calls=Count("*"), avg=Avg("latency_ms")))
    averages = {(bucket_start(row["period"]), row["model_name"]): row["avg"] for row in rows}
    p95 = grouped_latency_percentiles(
        queryset=bucketed,
        group_by=("period", "model_name"),
        fractions=(0.95,),
        condition_for=bucket_condition("minute"),
        counts={(row["period"], row["model_name"]): row["calls"] for row in rows},
    )
    p95 = {(bucket_start(period), model): found[0.95] for (period, model), found in p95.items()}
    return [
        {
            "period": period,
            "model": model,
            "avg_latency_ms": _ms(averages.get((period, model))),
            "p95_latency_ms": _ms(p95.get((period, model))),
        }
        for period in starts
        for model in models
    ]


def errors(*, filters: LogFilters, recent_count: int = 10) -> dict:
    """Error totals, by category and by model (through the rollups), and the latest errors (raw rows)."""
    groups = window_figures(filters=filters, group_by=("model_name", "error_type"), histograms=False)
    per_model: dict[str, list[int]] = {}
    per_type: dict[str, int] = {}
    for (model, error_type), figures in groups.items():
        totals = per_model.setdefault(model, [0, 0])
        totals[0] += figures.calls
        totals[1] += figures.errors
        if figures.errors:
            name = error_type or "unknown"
            per_type[name] = per_type.get(name, 0) + figures.errors
    calls = sum(calls_ for calls_, _ in per_model.values())
    total_errors = sum(errors_ for _, errors_ in per_model.values())
    return {
        "total_errors": total_errors,
        "error_rate": error_rate(errors=total_errors, calls=calls),
        "by_type": [
            {"error_type": name, "count": count, "percentage": percentage(part=count, whole=total_errors)}
            for name, count in sorted(per_type.items(), key=lambda item: (-item[1], item[0]))
        ],
        "by_model": [
            {"model": model, "errors": errors_, "calls": calls_, "error_rate": error_rate(errors=errors_, calls=calls_)}
            for model, (calls_, errors_) in sorted(per_model.items(), key=lambda item: (-item[1][1], item[0]))
            if errors_
        ],
        "recent": _recent_errors(filters, recent_count) if total_errors else [],
    }


def _recent_errors(filters: LogFilters, count: int) -> list[dict]:
    """The latest `count` failed calls of the window, newest first: one statement on the raw rows.

    Written as SQL over the filters compiled once (`_filtered_from`): through the ORM it cost ~2.4 ms more.
    """
    queryset = matching_logs(filters=filters)
    source, params = _filtered_from(queryset)
    with connections[queryset.db].cursor() as cursor:
        cursor.execute(
            f"SELECT request_id, timestamp, model_name, error_type, http_status, latency_ms, user_id, "
            f"SUBSTR(error_message, 1, {PREVIEW_CHARS}) {source} AND status = %s "
            "ORDER BY timestamp DESC, id DESC LIMIT %s",
            [*params, LLMRequestLog.Status.ERROR, count],
        )
        recent = cursor.fetchall()
    return [
        {
            "request_id": _uuid(request_id),
            "timestamp": _utc(timestamp),
            "model": model,
            "error_type": error_type,
            "http_status": http_status,
            "latency_ms": _ms(latency_ms),
            "user_id": user_id,
            "error_message": message,
        }
        for request_id, timestamp, model, error_type, http_status, latency_ms, user_id, message in recent
    ]


def model_usage(*, filters: LogFilters) -> dict:
    """Per-model calls, share of calls (%), tokens, cost, latency, exact P95 and error rate, through the rollups."""
    split = split_window(filters=filters)
    per_model = window_figures(filters=filters, split=split, group_by=("model_name",), histograms=False)
    p95 = exact_latency_percentiles(filters=filters, split=split, fractions=(0.95,), by_model=True) if per_model else {}
    calls = sum(figures.calls for figures in per_model.values())
    ordered = sorted(per_model.items(), key=lambda item: (-item[1].calls, item[0]))
    return {
        "results": [
            {
                "model": model,
                "calls": figures.calls,
                "share": percentage(part=figures.calls, whole=calls),
                "prompt_tokens": figures.prompt_tokens,
                "completion_tokens": figures.completion_tokens,
                "total_tokens": figures.total_tokens,
                "total_cost": _figures_cost(figures),
                "unpriced_calls": figures.unpriced_calls,
                "avg_latency_ms": _avg_ms(figures),
                "p95_latency_ms": _ms(p95.get(model, {}).get(0.95)),
                "error_rate": error_rate(errors=figures.errors, calls=figures.calls),
            }
            for model, figures in ordered
        ]
    }


def daily_stats(*, filters: LogFilters) -> dict:
    """One row per UTC day of the range (zero-filled): calls, errors, tokens, cost, latency, users.

    Through the rollups: daily figures, each day's P95 from its latency digest or histogram (within 1 %,
    and each row says so) and exact unique users per day.
    """
    start, last = _data_span(filters)
    if start is None or last is None:
        return {"results": []}
    starts = bucket_starts(start=start, last=last, group_by="day")
    split = split_window(filters=filters)
    found = window_figures(filters=filters, split=split, group_by=("day",), histograms=False)
    users = unique_users(filters=filters, split=split, by_day=True) if found else {}
    latencies = bucket_latency(filters=filters, unit="day", split=split) if found else {}
    results = []
    for day in starts:
        figures = found.get(day.date())
        calls, errors_ = (figures.calls, figures.errors) if figures else (0, 0)
        p95 = latencies[day].p95_latency_ms if day in latencies else None
        results.append(
            {
                "date": day.date().isoformat(),
                "calls": calls,
                "errors": errors_,
                "error_rate": error_rate(errors=errors_, calls=calls),
                "total_tokens": figures.total_tokens if figures else 0,
                "total_cost": _figures_cost(figures),
                "unpriced_calls": figures.unpriced_calls if figures else 0,
                "avg_latency_ms": _avg_ms(figures),
                "p95_latency_ms": _ms(p95),
                **HISTOGRAM_PERCENTILE,
                "unique_users": users.get(day.date(), 0),
            }
        )
    return {"results": results}


def feedback_analytics(*, filters: LogFilters) -> dict:
    """Thumbs up/down totals, satisfaction (% up), per model and per bucket (zero-filled), through the
    feedback rollups (`rollups.feedback_counts`): exact whatever their state. 2-4 queries."""
    group_by = filters.group_by or "day"
    unit = "minute" if group_by == "minute" else _time_unit(group_by)
    counts = feedback_counts(filters=filters, unit=unit)
    up_rating = UserFeedback.Rating.THUMBS_UP
    per_model: dict[str, list[int]] = {}
    per_bucket: dict[datetime, list[int]] = {}
    for (bucket, model, rating), count in counts.items():
        for totals in (
            per_model.setdefault(model, [0, 0]),
            per_bucket.setdefault(floor_to_bucket(bucket, group_by), [0, 0]),
        ):
            totals[0] += count
            totals[1] += count if rating == up_rating else 0
    total = sum(n for n, _ in per_model.values())
    up = sum(u for _, u in per_model.values())
    over_time = []
    if total or (filters.start is not None and filters.end is not None):
        if filters.start is not None and filters.end is not None:
            start, last = _window(filters, None, None)
        else:
            span = (
                feedback_queryset(filters=filters).order_by().aggregate(first=Min("created_at"), last=Max("created_at"))
            )
            start, last = _window(filters, span["first"], span["last"])
        for period in bucket_starts(start=start, last=last, group_by=group_by):
            n, u = per_bucket.get(period, (0, 0))
            over_time.append(_feedback_figures(total=n, up=u, period=period))
    return {
        **_feedback_figures(total=total, up=up),
        "by_model": [
            {"model": model, **_feedback_figures(total=n, up=u)}
            for model, (n, u) in sorted(per_model.items(), key=lambda item: (-item[1][0], item[0]))
        ],
        "group_by": group_by,
        "over_time": over_time,
    }


def _feedback_figures(*, total: int, up: int, **first) -> dict:
    return {
        **first,
        "total": total,
        "thumbs_up": up,
        "thumbs_down": total - up,
        "satisfaction_rate": satisfaction_rate(thumbs_up=up, total=total),
    }
