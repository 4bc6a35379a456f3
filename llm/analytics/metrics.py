"""The metric catalogue: one function per metrics endpoint, each assembling its figures in SQL.

Percentiles come from `percentiles`, time buckets from `buckets`, the formulas (error rate,
percentages, who counts as a user) from `formulas`. The one figure whose SQL differs between
PostgreSQL and SQLite here is the daily stats (`_daily_rows_postgresql`: one LATERAL query,
which SQLite answers with the generic GROUP BY and percentile terms); both are tested.
"""

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from django.core.exceptions import EmptyResultSet, FullResultSet
from django.db import connections
from django.db.models import Avg, Count, Max, Min, Q, QuerySet, Sum, Value
from django.db.models.expressions import RawSQL

from llm.analytics.buckets import bucket_condition, bucket_expression, bucket_start, bucket_starts
from llm.analytics.filters import LogFilters, matching_logs
from llm.analytics.formulas import distinct_users, error_count, error_rate, percentage, satisfaction_rate, unique_users
from llm.analytics.listings import PREVIEW_CHARS, feedback_queryset
from llm.analytics.percentiles import PercentileCont, grouped_latency_percentiles, is_postgresql, latency_percentiles
from llm.models import COST_PLACES, LLMRequestLog, UserFeedback

# --- Shared pieces ------------------------------------------------------------------


def _ms(value: float | None) -> float | None:
    return None if value is None else round(float(value), 3)


def _cost(value) -> Decimal:
    return Decimal(value or 0).quantize(_COST_QUANTUM)


def _group_cost(row: dict) -> Decimal | None:
    """A group's cost: the sum over its priced calls; null when it has calls but none priced.

    An unpriced call has no cost rather than a cost of 0, so a group made only of
    such calls must not read "$0"; an empty (zero-filled) bucket did cost 0.
    """
    if row.get("calls") and not row.get("priced"):
        return None
    return _cost(row.get("total_cost"))


_COST_QUANTUM = Decimal(1).scaleb(-COST_PLACES)


def _sums() -> dict:
    """The per-group sums most endpoints share; all read columns of the covering index."""
    return {
        "calls": Count("*"),
        "errors": error_count(),
        "prompt_tokens": Sum("prompt_tokens"),
        "completion_tokens": Sum("completion_tokens"),
        "total_tokens": Sum("total_tokens"),
        "total_cost": Sum("cost_estimate"),
        "priced": Count("cost_estimate"),  # COUNT(column) skips the nulls: the unpriced calls
        "avg_latency_ms": Avg("latency_ms"),
    }


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


def _unique_users(queryset: QuerySet, *, group_by: str | None = None) -> dict:
    """{group value (None without group_by): unique users}, counted from `distinct_users`.

    COUNT(DISTINCT ...) sorts every row (1.1 s at 1M rows on PostgreSQL); counting the rows of a
    SELECT DISTINCT subquery lets the database hash instead (0.3 s), hence the separate query.
    """
    names = (group_by,) if group_by else ()
    inner = distinct_users(queryset=queryset, group_by=names)
    if not group_by:
        return {None: inner.count()}
    sql, params = inner.query.sql_with_params()
    connection = connections[queryset.db]
    column = connection.ops.quote_name(group_by)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {column}, COUNT(*) FROM ({sql}) distinct_users GROUP BY {column}", params)
        return dict(cursor.fetchall())


def _window(filters: LogFilters, first: datetime | None, last: datetime | None):
    """(first instant, last instant) of the requested range; the data's span fills what is missing."""
    start = filters.start or first
    if filters.end is None:
        end = last
    else:
        end = filters.end if filters.end_inclusive else filters.end - timedelta(microseconds=1)
    return start, end


def _span(queryset: QuerySet, filters: LogFilters):
    """The range to bucket over; only queries the data's span when the request left it open."""
    if filters.start is not None and filters.end is not None:
        return _window(filters, None, None)
    span = queryset.aggregate(first=Min("timestamp"), last=Max("timestamp"))
    return _window(filters, span["first"], span["last"])


# --- Endpoint figures -----------------------------------------------------------------


def overview(*, filters: LogFilters) -> dict:
    """Headline figures over the filtered rows: 3 queries.

    `avg_cost_per_call` divides by priced calls only (an unpriced call has no cost, not 0);
    `unpriced_calls` counts the rest. `start_date`/`end_date` are the requested bounds, or the
    data's first/last call when the request left them open (null when there are no calls).
    """
    queryset = matching_logs(filters=filters)
    row = queryset.aggregate(
        **_sums(),
        first=Min("timestamp"),
        last=Max("timestamp"),
    )
    percentiles = latency_percentiles(queryset=queryset, count=row["calls"])
    calls, errors, total_cost = row["calls"], row["errors"], _group_cost(row)
    start, end = _window(filters, row["first"], row["last"])
    return {
        "total_calls": calls,
        "success_count": calls - errors,
        "error_count": errors,
        "error_rate": error_rate(errors=errors, calls=calls),
        "prompt_tokens": row["prompt_tokens"] or 0,
        "completion_tokens": row["completion_tokens"] or 0,
        "total_tokens": row["total_tokens"] or 0,
        "avg_latency_ms": _ms(row["avg_latency_ms"]),
        "p50_latency_ms": _ms(percentiles[0.5]),
        "p95_latency_ms": _ms(percentiles[0.95]),
        "p99_latency_ms": _ms(percentiles[0.99]),
        "total_cost": total_cost,
        "avg_cost_per_call": _cost(row["total_cost"] / row["priced"]) if row["priced"] else None,
        "unique_users": _unique_users(queryset)[None],
        "unpriced_calls": calls - row["priced"],
        "start_date": start,
        "end_date": end,
    }


def token_usage(*, filters: LogFilters) -> dict:
    """Token and cost totals per time bucket (group_by, default day), zero-filled over the range."""
    group_by = filters.group_by or "day"
    queryset = matching_logs(filters=filters)
    start, last = _span(queryset, filters)
    if start is None or last is None:
        return {"group_by": group_by, "results": []}
    starts = bucket_starts(start=start, last=last, group_by=group_by)
    vendor = connections[queryset.db].vendor
    rows = (
        queryset.annotate(period=bucket_expression(group_by=group_by, vendor=vendor))
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
    found = {bucket_start(row["period"]): row for row in rows}
    results = []
    for period in starts:
        row = found.get(period, {})
        results.append(
            {
                "period": period,
                "calls": row.get("calls", 0),
                "prompt_tokens": row.get("prompt_tokens") or 0,
                "completion_tokens": row.get("completion_tokens") or 0,
                "total_tokens": row.get("total_tokens") or 0,
                "total_cost": _group_cost(row),
                "unpriced_calls": row.get("calls", 0) - row.get("priced", 0),
            }
        )
    return {"group_by": group_by, "results": results}


def latency(*, filters: LogFilters) -> dict:
    """Latency per model; with group_by also a per-(bucket, model) series of avg and P95.

    Series buckets with no calls carry null latencies (a latency of 0 would be false).
    """
    queryset = matching_logs(filters=filters)
    rows = list(
        queryset.values("model_name")
        .annotate(
            calls=Count("*"),
            avg_latency_ms=Avg("latency_ms"),
            min_latency_ms=Min("latency_ms"),
            max_latency_ms=Max("latency_ms"),
            avg_ttft=Avg("time_to_first_token_ms"),
        )
        .order_by("model_name")
    )
    percentiles = grouped_latency_percentiles(
        queryset=queryset, group_by="model_name", counts={row["model_name"]: row["calls"] for row in rows}
    )
    results = []
    for row in rows:
        found = percentiles.get(row["model_name"], {})
        results.append(
            {
                "model": row["model_name"],
                "calls": row["calls"],
                "avg_latency_ms": _ms(row["avg_latency_ms"]),
                "p50_latency_ms": _ms(found.get(0.5)),
                "p95_latency_ms": _ms(found.get(0.95)),
                "p99_latency_ms": _ms(found.get(0.99)),
                "min_latency_ms": _ms(row["min_latency_ms"]),
                "max_latency_ms": _ms(row["max_latency_ms"]),
                "avg_time_to_first_token_ms": _ms(row["avg_ttft"]),
            }
        )
    body = {"results": results}
    if filters.group_by:
        body["group_by"] = filters.group_by
        body["timeseries"] = _latency_series(queryset, filters, [row["model_name"] for row in rows])
    return body


def _latency_series(queryset: QuerySet, filters: LogFilters, models: list[str]) -> list[dict]:
    group_by = filters.group_by
    start, last = _span(queryset, filters)
    if start is None or last is None:
        return []
    starts = bucket_starts(start=start, last=last, group_by=group_by)
    vendor = connections[queryset.db].vendor
    bucketed = queryset.annotate(period=bucket_expression(group_by=group_by, vendor=vendor))
    rows = list(bucketed.values("period", "model_name").annotate(calls=Count("*"), avg=Avg("latency_ms")))
    averages = {(bucket_start(row["period"]), row["model_name"]): row["avg"] for row in rows}
    p95 = grouped_latency_percentiles(
        queryset=bucketed,
        group_by=("period", "model_name"),
        fractions=(0.95,),
        condition_for=bucket_condition(group_by),
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
    """Error totals, by category and by model, and the latest errors: 3 statements.

    Written as SQL over the filters compiled once (`_filtered_from`): built through the ORM, the three
    statements cost ~2.4 ms more per request, which is a sixth of the whole 24-hour figure.
    """
    queryset = matching_logs(filters=filters)
    source, params = _filtered_from(queryset)
    error = LLMRequestLog.Status.ERROR
    with connections[queryset.db].cursor() as cursor:
        cursor.execute(
            f"SELECT model_name, COUNT(*), COUNT(*) FILTER (WHERE status = %s) {source} GROUP BY model_name",
            [error, *params],
        )
        by_model_rows = sorted(cursor.fetchall(), key=lambda row: (-row[2], row[0]))
        cursor.execute(f"SELECT error_type, COUNT(*) {source} AND status = %s GROUP BY error_type", [*params, error])
        by_type = sorted(cursor.fetchall(), key=lambda row: (-row[1], row[0]))
        cursor.execute(
            f"SELECT request_id, timestamp, model_name, error_type, http_status, latency_ms, user_id, "
            f"SUBSTR(error_message, 1, {PREVIEW_CHARS}) {source} AND status = %s "
            "ORDER BY timestamp DESC, id DESC LIMIT %s",
            [*params, error, recent_count],
        )
        recent = cursor.fetchall()
    calls = sum(row[1] for row in by_model_rows)
    total_errors = sum(row[2] for row in by_model_rows)
    return {
        "total_errors": total_errors,
        "error_rate": error_rate(errors=total_errors, calls=calls),
        "by_type": [
            {
                "error_type": error_type or "unknown",
                "count": count,
                "percentage": percentage(part=count, whole=total_errors),
            }
            for error_type, count in by_type
        ],
        "by_model": [
            {"model": model, "errors": errors_, "calls": calls_, "error_rate": error_rate(errors=errors_, calls=calls_)}
            for model, calls_, errors_ in by_model_rows
            if errors_
        ],
        "recent": [
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
        ],
    }


def model_usage(*, filters: LogFilters) -> dict:
    """Per-model calls, share of calls (%), tokens, cost, latency and error rate: one GROUP BY + P95."""
    queryset = matching_logs(filters=filters)
    rows = list(queryset.values("model_name").annotate(**_sums()).order_by("-calls", "model_name"))
    p95 = grouped_latency_percentiles(
        queryset=queryset,
        group_by="model_name",
        fractions=(0.95,),
        counts={row["model_name"]: row["calls"] for row in rows},
    )
    calls = sum(row["calls"] for row in rows)
    return {
        "results": [
            {
                "model": row["model_name"],
                "calls": row["calls"],
                "share": percentage(part=row["calls"], whole=calls),
                "prompt_tokens": row["prompt_tokens"] or 0,
                "completion_tokens": row["completion_tokens"] or 0,
                "total_tokens": row["total_tokens"] or 0,
                "total_cost": _group_cost(row),
                "unpriced_calls": row["calls"] - row["priced"],
                "avg_latency_ms": _ms(row["avg_latency_ms"]),
                "p95_latency_ms": _ms(p95.get(row["model_name"], {}).get(0.95)),
                "error_rate": error_rate(errors=row["errors"], calls=row["calls"]),
            }
            for row in rows
        ]
    }


def _daily_rows_postgresql(queryset: QuerySet, *, days: list[datetime]) -> dict:
    """{day start: sums, P95 and distinct users of that UTC day}, every one of `days` present.

    One query: each day's aggregate runs over that day's own slice of the time index (CROSS JOIN
    LATERAL), so the P95 and the distinct count sort one day's rows in memory instead of the whole
    window on disk. The days come as an array, whose length the planner knows (generate_series
    reads as 1,000 rows to it, which made a 24-hour query look costly enough to spend 125 ms on JIT).
    """
    in_day = Q(timestamp__gte=RawSQL("days.day", ()), timestamp__lt=RawSQL("days.day + interval '1 day'", ()))
    per_day = (
        queryset.filter(in_day)
        .annotate(one=Value(1))
        .values("one")  # a constant: one row, no GROUP BY
        .annotate(**_sums(), p95=PercentileCont("latency_ms", 0.95), users=unique_users())
    )
    inner, params = per_day.query.sql_with_params()
    sql = (
        f"SELECT days.day, per_day.* FROM unnest(%s::timestamptz[]) AS days(day) "
        f"CROSS JOIN LATERAL ({inner}) AS per_day"
    )
    with connections[queryset.db].cursor() as cursor:
        cursor.execute(sql, (days, *params))
        names = [column.name for column in cursor.description]
        return {bucket_start(row[0]): dict(zip(names, row, strict=True)) for row in cursor.fetchall()}


def daily_stats(*, filters: LogFilters) -> dict:
    """One row per UTC day of the range (zero-filled): calls, errors, tokens, cost, latency, users.

    PostgreSQL: 1 query (`_daily_rows_postgresql`); SQLite: 3 (sums, users, percentiles)."""
    queryset = matching_logs(filters=filters)
    start, last = _span(queryset, filters)
    if start is None or last is None:
        return {"results": []}
    starts = bucket_starts(start=start, last=last, group_by="day")
    if is_postgresql(queryset):
        found = _daily_rows_postgresql(queryset, days=starts)
        users = {day: row["users"] for day, row in found.items()}
        p95 = {day: row["p95"] for day, row in found.items()}
    else:
        bucketed = queryset.annotate(period=bucket_expression(group_by="day", vendor="sqlite"))
        rows = list(bucketed.values("period").annotate(**_sums()))
        found = {bucket_start(row["period"]): row for row in rows}
        users = {bucket_start(period): n for period, n in _unique_users(bucketed, group_by="period").items()}
        p95 = grouped_latency_percentiles(
            queryset=bucketed,
            group_by="period",
            fractions=(0.95,),
            condition_for=bucket_condition("day"),
            counts={row["period"]: row["calls"] for row in rows},
        )
        p95 = {bucket_start(period): values[0.95] for period, values in p95.items()}
    results = []
    for day in starts:
        row = found.get(day, {})
        calls, errors_ = row.get("calls", 0), row.get("errors", 0)
        results.append(
            {
                "date": day.date().isoformat(),
                "calls": calls,
                "errors": errors_,
                "error_rate": error_rate(errors=errors_, calls=calls),
                "total_tokens": row.get("total_tokens") or 0,
                "total_cost": _group_cost(row),
                "unpriced_calls": calls - row.get("priced", 0),
                "avg_latency_ms": _ms(row.get("avg_latency_ms")),
                "p95_latency_ms": _ms(p95.get(day)),
                "unique_users": users.get(day, 0),
            }
        )
    return {"results": results}


def feedback_analytics(*, filters: LogFilters) -> dict:
    """Thumbs up/down totals, satisfaction (% up), per model and per bucket (zero-filled): 3–4 queries."""
    queryset = feedback_queryset(filters=filters).order_by()
    counts = {"total": Count("*"), "up": Count("rating", filter=Q(rating=UserFeedback.Rating.THUMBS_UP))}
    overall = queryset.aggregate(**counts, first=Min("created_at"), last=Max("created_at"))
    by_model = queryset.values("request__model_name").annotate(**counts).order_by("-total", "request__model_name")
    group_by = filters.group_by or "day"
    start, last = _window(filters, overall["first"], overall["last"])
    over_time = []
    if start is not None and last is not None:
        starts = bucket_starts(start=start, last=last, group_by=group_by)
        vendor = connections[queryset.db].vendor
        expression = bucket_expression(group_by=group_by, vendor=vendor, field="created_at")
        rows = queryset.annotate(period=expression).values("period").annotate(**counts)
        found = {bucket_start(row["period"]): row for row in rows}
        for period in starts:
            row = found.get(period, {"total": 0, "up": 0})
            over_time.append(
                {
                    "period": period,
                    "total": row["total"],
                    "thumbs_up": row["up"],
                    "thumbs_down": row["total"] - row["up"],
                    "satisfaction_rate": satisfaction_rate(thumbs_up=row["up"], total=row["total"]),
                }
            )
    return {
        "total": overall["total"],
        "thumbs_up": overall["up"],
        "thumbs_down": overall["total"] - overall["up"],
        "satisfaction_rate": satisfaction_rate(thumbs_up=overall["up"], total=overall["total"]),
        "by_model": [
            {
                "model": row["request__model_name"],
                "total": row["total"],
                "thumbs_up": row["up"],
                "thumbs_down": row["total"] - row["up"],
                "satisfaction_rate": satisfaction_rate(thumbs_up=row["up"], total=row["total"]),
            }
            for row in by_model
        ],
        "group_by": group_by,
        "over_time": over_time,
    }
