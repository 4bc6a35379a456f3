"""Read-only aggregates over LLMRequestLog: every figure is computed in SQL.

The places where PostgreSQL and SQLite need different SQL live in one function each:
`latency_percentiles` / `grouped_latency_percentiles` (continuous percentiles),
`bucket_expression` (time buckets) and `_daily_rows_postgresql` (daily stats in one LATERAL query,
which SQLite answers with the generic GROUP BY and percentile terms). All are tested on both databases.
"""
import json
import math
import uuid
from collections.abc import Callable, Hashable, Iterable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from django.core.exceptions import EmptyResultSet, FullResultSet
from django.db import connections
from django.db.models import (
    Aggregate, Avg, CharField, Count, DateTimeField, FloatField, Func, Max, Min, Q, QuerySet, Sum, Value,
)
from django.db.models.functions import Substr, Trunc
from django.db.models.expressions import Col, RawSQL

from llm.api.exceptions import InvalidParameter
from llm.analytics.formulas import percentage
from llm.analytics.filters import MAX_BUCKETS, LogFilters, filter_logs
from llm.models import COST_PLACES, LLMRequestLog, UserFeedback

DEFAULT_FRACTIONS = (0.5, 0.95, 0.99)
# SQLite refuses compound SELECTs of more than 500 terms (SQLITE_MAX_COMPOUND_SELECT).
_SQLITE_COMPOUND_LIMIT = 400


class PercentileCont(Aggregate):
    """PostgreSQL's ordered-set aggregate; several of them over the same column share one sort."""

    function = "percentile_cont"
    template = "%(function)s(%(fraction)s) WITHIN GROUP (ORDER BY %(expressions)s)"
    output_field = FloatField()

    def __init__(self, expression, fraction: float, **extra):
        if not 0 <= fraction <= 1:
            raise ValueError("fraction must be within [0, 1]")
        super().__init__(expression, fraction=repr(float(fraction)), **extra)


def _is_postgresql(queryset: QuerySet) -> bool:
    return connections[queryset.db].vendor == "postgresql"


def _interpolate(low: float, high: float | None, position: float) -> float:
    """Linear interpolation between the two closest ranks (percentile_cont, numpy 'linear')."""
    weight = position - math.floor(position)
    if high is None or weight == 0:
        return float(low)
    return float(low) + (float(high) - float(low)) * weight


def _sqlite_ranked_values(queryset: QuerySet, wanted: Sequence[tuple[Hashable, Q, int]], *,
                          use_index: str | None = None) -> dict:
    """For each (tag, filter, offset): the two latencies at ranks offset and offset+1, ascending.

    Each term is `ORDER BY latency_ms LIMIT 2 OFFSET k`: per model SQLite walks the
    (model_name, latency_ms) index instead of sorting; otherwise it sorts only the term's rows
    (a top-k sort, no window functions, which took 4-11 s at 1M rows). All terms go in one
    UNION ALL statement (chunked under SQLite's compound-select limit), so the query count does
    not grow with the number of groups.
    """
    found: dict[Hashable, list[float]] = {tag: [] for tag, _, _ in wanted}
    connection = connections[queryset.db]
    for start in range(0, len(wanted), _SQLITE_COMPOUND_LIMIT):
        parts, params = [], []
        for index, (tag, condition, offset) in enumerate(wanted[start:start + _SQLITE_COMPOUND_LIMIT]):
            inner = queryset.filter(condition).order_by("latency_ms").values_list("latency_ms")
            # The term's own condition first: given two ranges on timestamp (the request's window and
            # this bucket's slice) SQLite searches the index by the first one, and the window would
            # make each of 30 daily terms scan all 30 days (4.5 s instead of 0.3 s at 1M rows).
            where, kept = inner.query.where, len(queryset.query.where.children)
            where.children = where.children[kept:] + where.children[:kept]
            sql, inner_params = inner.query.sql_with_params()
            if use_index:
                table = connection.ops.quote_name(LLMRequestLog._meta.db_table)
                hint = f"FROM {table} INDEXED BY {connection.ops.quote_name(use_index)}"
                sql = sql.replace(f"FROM {table}", hint, 1)
            parts.append(f"SELECT {start + index} AS tag, latency_ms FROM ({sql} LIMIT 2 OFFSET {int(offset)})")
            params.extend(inner_params)
        with connection.cursor() as cursor:
            cursor.execute(" UNION ALL ".join(parts), params)
            rows = cursor.fetchall()
        for position, value in rows:
            found[wanted[position][0]].append(value)
    return {tag: sorted(values) for tag, values in found.items()}


def _group_key(row: dict, names: tuple[str, ...]) -> Hashable:
    return row[names[0]] if len(names) == 1 else tuple(row[name] for name in names)


def grouped_latency_percentiles(
    *,
    queryset: QuerySet,
    group_by: str | tuple[str, ...] | None = None,
    fractions: Iterable[float] = DEFAULT_FRACTIONS,
    condition_for: Callable[[Hashable], Q] | None = None,
    counts: dict[Hashable, int] | None = None,
) -> dict[Hashable, dict[float, float | None]]:
    """Continuous latency percentiles per value of `group_by` (field/annotation name, or a tuple).

    Returns {group value (a tuple for several names): {fraction: latency_ms}}; groups with no
    rows are absent. With `group_by=None` the single key is None. PostgreSQL: one query
    (percentile_cont per group). SQLite: one GROUP BY for the counts, then UNION ALL of
    `LIMIT 2 OFFSET k` terms, each restricted to its group by `condition_for(key)` (default:
    equality on the group names; pass a timestamp range for time buckets so that each term
    reads its own slice of the index instead of the whole window). A caller that already has the
    row count per group passes it as `counts` (keyed like the result) and SQLite skips its count.
    """
    fractions = tuple(float(f) for f in fractions)
    names = (group_by,) if isinstance(group_by, str) else tuple(group_by or ())
    base = queryset.order_by()
    if _is_postgresql(base):
        return _postgresql_percentiles(base, names, fractions)
    return _sqlite_percentiles(base, names, fractions, condition_for, counts)


def _postgresql_percentiles(base: QuerySet, names: tuple[str, ...], fractions: tuple[float, ...]) -> dict:
    aggregates = {f"p{i}": PercentileCont("latency_ms", f) for i, f in enumerate(fractions)}
    if not names:
        row = base.aggregate(**aggregates)
        if row["p0"] is None:
            return {}
        return {None: {f: row[f"p{i}"] for i, f in enumerate(fractions)}}
    rows = base.values(*names).annotate(**aggregates)
    return {_group_key(row, names): {f: row[f"p{i}"] for i, f in enumerate(fractions)} for row in rows}


_MODEL_LATENCY_INDEX = "llm_log_model_latency_idx"


def _columns_in(expression) -> Iterator[str]:
    if isinstance(expression, Col):
        yield expression.target.column
        return
    for child in getattr(expression, "get_source_expressions", list)():
        if child is not None:
            yield from _columns_in(child)


def _filtered_columns(queryset: QuerySet) -> set[str]:
    """The columns the queryset's WHERE clause reads."""
    return set(_columns_in(queryset.query.where))


def _sqlite_percentiles(base: QuerySet, names: tuple[str, ...], fractions: tuple[float, ...],
                        condition_for: Callable[[Hashable], Q] | None, counts: dict | None) -> dict:
    index = None
    if condition_for is None and names == ("model_name",) and _filtered_columns(base) <= {"model_name", "timestamp"}:
        # Per model, walking the (model_name, latency_ms, timestamp) index to rank k reads no
        # table rows and sorts nothing: 1M rows, P50/P95/P99 of 6 models over 30 days 0.28 s vs
        # 5.8 s for the window query below, and no slower for 24 h (0.2 s vs 0.15 s). SQLite's
        # planner prefers the (model_name, timestamp) index and then sorts (51 s), hence the
        # INDEXED BY. Any other filter column would need a table read per index entry.
        condition_for, index = (lambda key: Q(model_name=key)), _MODEL_LATENCY_INDEX
    if condition_for is None:
        return _sqlite_ranked_by_window(base, names, fractions)
    # Time buckets: many small slices of the timestamp index, each sorted on its own, beat one
    # window over the whole range (1M rows, 30 daily P95s: 0.96 s vs 2.3 s).
    if counts is None:
        counts = {_group_key(row, names): row["n"] for row in base.values(*names).annotate(n=Count("*"))}
    counts = {key: n for key, n in counts.items() if n}
    wanted = [((key, f), condition_for(key), math.floor(f * (n - 1))) for key, n in counts.items() for f in fractions]
    ranked = _sqlite_ranked_values(base, wanted, use_index=index) if wanted else {}
    result: dict[Hashable, dict[float, float | None]] = {}
    for key, n in counts.items():
        result[key] = {}
        for f in fractions:
            values = ranked[(key, f)]
            result[key][f] = _interpolate(values[0], values[1] if len(values) > 1 else None, f * (n - 1))
    return result


def _sqlite_ranked_by_window(base: QuerySet, names: tuple[str, ...], fractions: tuple[float, ...]) -> dict:
    """One query: number the rows of each group in latency order and keep only the two ranks
    around each wanted position. One sort per query, where `LIMIT 2 OFFSET k` costs one per
    fraction (1M rows, P50/P95/P99: 0.98 s vs 5.2 s; per model 5.6 s vs 13.6 s)."""
    connection = connections[base.db]
    quote = connection.ops.quote_name
    sql, params = base.values(*names, "latency_ms").query.sql_with_params()
    groups = ", ".join(quote(name) for name in names)
    partition = f"PARTITION BY {groups}" if names else ""
    # CAST truncates the same IEEE double Python floors below, so both pick the same ranks.
    ranks = ", ".join(f"CAST((n - 1) * {f!r} AS INTEGER) + {step}" for f in fractions for step in (1, 2))
    select = f"{groups}, " if names else ""
    query = (
        f"SELECT {select}n, rn, latency_ms FROM (SELECT {select}latency_ms, "
        f"row_number() OVER ({partition} ORDER BY latency_ms) AS rn, count(*) OVER ({partition}) AS n "
        f"FROM ({sql}) AS calls) AS ranked WHERE rn IN ({ranks})"
    )
    by_group: dict[Hashable, tuple[int, dict[int, float]]] = {}
    with connection.cursor() as cursor:
        cursor.execute(query, params)
        for row in cursor.fetchall():
            key = None if not names else (row[0] if len(names) == 1 else tuple(row[:len(names)]))
            n, rank, value = row[len(names):]
            by_group.setdefault(key, (n, {}))[1][rank] = value
    result = {}
    for key, (n, values) in by_group.items():
        result[key] = {}
        for f in fractions:
            position = f * (n - 1)
            rank = math.floor(position) + 1
            result[key][f] = _interpolate(values[rank], values.get(rank + 1), position)
    return result


def latency_percentiles(
    *, queryset: QuerySet, fractions: Iterable[float] = DEFAULT_FRACTIONS, count: int | None = None
) -> dict[float, float | None]:
    """Continuous percentiles (linear interpolation, = PostgreSQL percentile_cont = numpy's
    default `percentile`) of `latency_ms` over the rows of `queryset`, computed in the database.

    Returns {fraction: latency_ms}; every value is None when the queryset has no rows.
    Queries: 1 on PostgreSQL, 2 on SQLite (1 when the caller passes the row `count` it already has).
    """
    fractions = tuple(float(f) for f in fractions)
    counts = None if count is None else {None: count}
    found = grouped_latency_percentiles(queryset=queryset, fractions=fractions, counts=counts).get(None)
    return found if found is not None else {f: None for f in fractions}


# --- Time buckets ------------------------------------------------------------------

def bucket_expression(*, group_by: str, vendor: str, field: str = "timestamp"):
    """SQL expression naming the UTC bucket of `timestamp` for `group_by`.

    PostgreSQL: date_trunc (a datetime). SQLite: Django's Trunc* call a Python function per row
    (DESIGN.md, Scale: 11 s vs 2.4 s at 1M rows), so we cut the stored ISO text instead
    ("YYYY-MM-DD HH:MM:SS", always UTC); weeks use SQLite's own date() modifiers (Monday start).
    `bucket_start` turns either form into an aware datetime.
    """
    if group_by not in _BUCKET_TEXT_LENGTH and group_by != "week":
        raise ValueError(f"unknown group_by {group_by!r}")
    if vendor == "postgresql":
        return Trunc(field, group_by, output_field=DateTimeField(), tzinfo=UTC)
    if group_by == "week":
        return Func(Substr(field, 1, 10), Value("weekday 0"), Value("-6 days"),
                    function="date", output_field=CharField())
    return Substr(field, 1, _BUCKET_TEXT_LENGTH[group_by], output_field=CharField())


_BUCKET_TEXT_LENGTH = {"minute": 16, "hour": 13, "day": 10, "month": 7}
_BUCKET_TEXT_PADDING = {16: "", 13: ":00", 10: " 00:00", 7: "-01 00:00"}


def bucket_start(value) -> datetime:
    """The aware UTC start of a bucket as returned by `bucket_expression` on either database."""
    if isinstance(value, datetime):
        return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    text = str(value)
    return datetime.fromisoformat(text + _BUCKET_TEXT_PADDING[len(text)]).replace(tzinfo=UTC)


def floor_to_bucket(moment: datetime, group_by: str) -> datetime:
    moment = moment.astimezone(UTC)
    if group_by == "minute":
        return moment.replace(second=0, microsecond=0)
    if group_by == "hour":
        return moment.replace(minute=0, second=0, microsecond=0)
    day = moment.replace(hour=0, minute=0, second=0, microsecond=0)
    if group_by == "day":
        return day
    if group_by == "week":
        return day - timedelta(days=day.weekday())
    return day.replace(day=1)


def next_bucket(start: datetime, group_by: str) -> datetime | None:
    """Start of the bucket after `start`; None past the last representable date (year 9999)."""
    try:
        if group_by == "month":
            return start.replace(year=start.year + start.month // 12, month=start.month % 12 + 1)
        step = {"minute": timedelta(minutes=1), "hour": timedelta(hours=1),
                "day": timedelta(days=1), "week": timedelta(weeks=1)}[group_by]
        return start + step
    except (OverflowError, ValueError):
        return None


def bucket_starts(*, start: datetime, last: datetime, group_by: str) -> list[datetime]:
    """Every bucket start from the one holding `start` to the one holding `last` (inclusive).

    Raises InvalidParameter('group_by') past MAX_BUCKETS, before any aggregate runs.
    """
    starts, current = [], floor_to_bucket(start, group_by)
    while current is not None and current <= last:
        if len(starts) >= MAX_BUCKETS:
            raise InvalidParameter(
                "group_by", f"The range holds more than {MAX_BUCKETS} {group_by} buckets; "
                "narrow start_date/end_date or use a coarser group_by.")
        starts.append(current)
        current = next_bucket(current, group_by)
    return starts


# --- Shared pieces ------------------------------------------------------------------

def _logs(filters: LogFilters) -> QuerySet:
    return filter_logs(queryset=LLMRequestLog.objects.order_by(), filters=filters)


def _rate(part: int, whole: int) -> float:
    return percentage(part=part, whole=whole)


def _ms(value: float | None) -> float | None:
    return None if value is None else round(float(value), 3)


def _cost(value) -> Decimal:
    return Decimal(value or 0).quantize(_COST_QUANTUM)


def _group_cost(row: dict) -> Decimal | None:
    """A group's cost: the sum over its priced calls; null when it has calls but none priced.

    An unpriced call has no cost rather than a cost of 0 (DESIGN.md), so a group made only of
    such calls must not read "$0"; an empty (zero-filled) bucket did cost 0.
    """
    if row.get("calls") and not row.get("priced"):
        return None
    return _cost(row.get("total_cost"))


_COST_QUANTUM = Decimal(1).scaleb(-COST_PLACES)
_ERROR = Q(status=LLMRequestLog.Status.ERROR)


def _sums() -> dict:
    """The per-group sums most endpoints share; all read columns of the covering index."""
    return {
        "calls": Count("*"),
        "errors": Count("status", filter=_ERROR),
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
    """{group value (None without group_by): distinct non-blank user_id count}.

    COUNT(DISTINCT ...) sorts every row (1.1 s at 1M rows on PostgreSQL); counting the rows of a
    SELECT DISTINCT subquery lets the database hash instead (0.3 s), hence the separate query.
    """
    names = (group_by,) if group_by else ()
    inner = queryset.exclude(user_id="").order_by().values(*names, "user_id").distinct()
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


def _bucket_condition(group_by: str, *, position: int = 0):
    """For SQLite percentile terms: a bucket key (or a tuple holding one) → its timestamp range."""

    def condition(key) -> Q:
        value = key[position] if isinstance(key, tuple) else key
        start = bucket_start(value)
        extra = Q(**{"model_name": key[1 - position]}) if isinstance(key, tuple) else Q()
        end = next_bucket(start, group_by)
        within = Q(timestamp__gte=start) if end is None else Q(timestamp__gte=start, timestamp__lt=end)
        return within & extra

    return condition


# --- Endpoint figures -----------------------------------------------------------------

def overview(*, filters: LogFilters) -> dict:
    """Headline figures over the filtered rows: 3 queries.

    `avg_cost_per_call` divides by priced calls only (an unpriced call has no cost, not 0);
    `unpriced_calls` counts the rest. `start_date`/`end_date` are the requested bounds, or the
    data's first/last call when the request left them open (null when there are no calls).
    """
    queryset = _logs(filters)
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
        "error_rate": _rate(errors, calls),
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
    queryset = _logs(filters)
    start, last = _span(queryset, filters)
    if start is None or last is None:
        return {"group_by": group_by, "results": []}
    starts = bucket_starts(start=start, last=last, group_by=group_by)
    vendor = connections[queryset.db].vendor
    rows = (
        queryset.annotate(period=bucket_expression(group_by=group_by, vendor=vendor))
        .values("period")
        .annotate(calls=Count("*"), prompt_tokens=Sum("prompt_tokens"),
                  completion_tokens=Sum("completion_tokens"), total_tokens=Sum("total_tokens"),
                  total_cost=Sum("cost_estimate"), priced=Count("cost_estimate"))
    )
    found = {bucket_start(row["period"]): row for row in rows}
    results = []
    for period in starts:
        row = found.get(period, {})
        results.append({
            "period": period,
            "calls": row.get("calls", 0),
            "prompt_tokens": row.get("prompt_tokens") or 0,
            "completion_tokens": row.get("completion_tokens") or 0,
            "total_tokens": row.get("total_tokens") or 0,
            "total_cost": _group_cost(row),
            "unpriced_calls": row.get("calls", 0) - row.get("priced", 0),
        })
    return {"group_by": group_by, "results": results}


def latency(*, filters: LogFilters) -> dict:
    """Latency per model; with group_by also a per-(bucket, model) series of avg and P95.

    Series buckets with no calls carry null latencies (a latency of 0 would be false).
    """
    queryset = _logs(filters)
    rows = list(
        queryset.values("model_name")
        .annotate(calls=Count("*"), avg_latency_ms=Avg("latency_ms"), min_latency_ms=Min("latency_ms"),
                  max_latency_ms=Max("latency_ms"), avg_ttft=Avg("time_to_first_token_ms"))
        .order_by("model_name")
    )
    percentiles = grouped_latency_percentiles(queryset=queryset, group_by="model_name",
                                              counts={row["model_name"]: row["calls"] for row in rows})
    results = []
    for row in rows:
        found = percentiles.get(row["model_name"], {})
        results.append({
            "model": row["model_name"],
            "calls": row["calls"],
            "avg_latency_ms": _ms(row["avg_latency_ms"]),
            "p50_latency_ms": _ms(found.get(0.5)),
            "p95_latency_ms": _ms(found.get(0.95)),
            "p99_latency_ms": _ms(found.get(0.99)),
            "min_latency_ms": _ms(row["min_latency_ms"]),
            "max_latency_ms": _ms(row["max_latency_ms"]),
            "avg_time_to_first_token_ms": _ms(row["avg_ttft"]),
        })
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
        queryset=bucketed, group_by=("period", "model_name"), fractions=(0.95,),
        condition_for=_bucket_condition(group_by),
        counts={(row["period"], row["model_name"]): row["calls"] for row in rows},
    )
    p95 = {(bucket_start(period), model): found[0.95] for (period, model), found in p95.items()}
    return [
        {"period": period, "model": model,
         "avg_latency_ms": _ms(averages.get((period, model))), "p95_latency_ms": _ms(p95.get((period, model)))}
        for period in starts for model in models
    ]


def errors(*, filters: LogFilters, recent_count: int = 10) -> dict:
    """Error totals, by category and by model, and the latest errors: 3 statements.

    Written as SQL over the filters compiled once (`_filtered_from`): built through the ORM, the three
    statements cost ~2.4 ms more per request, which is a sixth of the whole 24-hour figure.
    """
    queryset = _logs(filters)
    source, params = _filtered_from(queryset)
    error = LLMRequestLog.Status.ERROR
    with connections[queryset.db].cursor() as cursor:
        cursor.execute(f"SELECT model_name, COUNT(*), COUNT(*) FILTER (WHERE status = %s) {source} "
                       "GROUP BY model_name", [error, *params])
        by_model_rows = sorted(cursor.fetchall(), key=lambda row: (-row[2], row[0]))
        cursor.execute(f"SELECT error_type, COUNT(*) {source} AND status = %s GROUP BY error_type", [*params, error])
        by_type = sorted(cursor.fetchall(), key=lambda row: (-row[1], row[0]))
        cursor.execute(f"SELECT request_id, timestamp, model_name, error_type, http_status, latency_ms, user_id, "
                       f"SUBSTR(error_message, 1, 200) {source} AND status = %s ORDER BY timestamp DESC, id DESC "
                       "LIMIT %s", [*params, error, recent_count])
        recent = cursor.fetchall()
    calls = sum(row[1] for row in by_model_rows)
    total_errors = sum(row[2] for row in by_model_rows)
    return {
        "total_errors": total_errors,
        "error_rate": _rate(total_errors, calls),
        "by_type": [
            {"error_type": error_type or "unknown", "count": count, "percentage": _rate(count, total_errors)}
            for error_type, count in by_type
        ],
        "by_model": [
            {"model": model, "errors": errors_, "calls": calls_, "error_rate": _rate(errors_, calls_)}
            for model, calls_, errors_ in by_model_rows if errors_
        ],
        "recent": [
            {"request_id": _uuid(request_id), "timestamp": _utc(timestamp), "model": model, "error_type": error_type,
             "http_status": http_status, "latency_ms": _ms(latency_ms), "user_id": user_id,
             "error_message": message}
            for request_id, timestamp, model, error_type, http_status, latency_ms, user_id, message in recent
        ],
    }


def model_usage(*, filters: LogFilters) -> dict:
    """Per-model calls, share of calls (%), tokens, cost, latency and error rate: one GROUP BY + P95."""
    queryset = _logs(filters)
    rows = list(queryset.values("model_name").annotate(**_sums()).order_by("-calls", "model_name"))
    p95 = grouped_latency_percentiles(queryset=queryset, group_by="model_name", fractions=(0.95,),
                                      counts={row["model_name"]: row["calls"] for row in rows})
    calls = sum(row["calls"] for row in rows)
    return {"results": [
        {
            "model": row["model_name"],
            "calls": row["calls"],
            "share": _rate(row["calls"], calls),
            "prompt_tokens": row["prompt_tokens"] or 0,
            "completion_tokens": row["completion_tokens"] or 0,
            "total_tokens": row["total_tokens"] or 0,
            "total_cost": _group_cost(row),
            "unpriced_calls": row["calls"] - row["priced"],
            "avg_latency_ms": _ms(row["avg_latency_ms"]),
            "p95_latency_ms": _ms(p95.get(row["model_name"], {}).get(0.95)),
            "error_rate": _rate(row["errors"], row["calls"]),
        }
        for row in rows
    ]}


def _daily_rows_postgresql(queryset: QuerySet, *, days: list[datetime]) -> dict:
    """{day start: sums, P95 and distinct users of that UTC day}, every one of `days` present.

    One query: each day's aggregate runs over that day's own slice of the time index (CROSS JOIN
    LATERAL), so the P95 and the distinct count sort one day's rows in memory instead of the whole
    window on disk. The days come as an array, whose length the planner knows (generate_series
    reads as 1,000 rows to it, which made a 24-hour query look costly enough to spend 125 ms on JIT).
    """
    in_day = Q(timestamp__gte=RawSQL("days.day", ()), timestamp__lt=RawSQL("days.day + interval '1 day'", ()))
    per_day = (
        queryset.filter(in_day).annotate(one=Value(1)).values("one")  # a constant: one row, no GROUP BY
        .annotate(**_sums(), p95=PercentileCont("latency_ms", 0.95),
                  users=Count("user_id", distinct=True, filter=~Q(user_id="")))
    )
    inner, params = per_day.query.sql_with_params()
    sql = (f"SELECT days.day, per_day.* FROM unnest(%s::timestamptz[]) AS days(day) "
           f"CROSS JOIN LATERAL ({inner}) AS per_day")
    with connections[queryset.db].cursor() as cursor:
        cursor.execute(sql, (days, *params))
        names = [column.name for column in cursor.description]
        return {bucket_start(row[0]): dict(zip(names, row)) for row in cursor.fetchall()}


def daily_stats(*, filters: LogFilters) -> dict:
    """One row per UTC day of the range (zero-filled): calls, errors, tokens, cost, latency, users.

    PostgreSQL: 1 query (`_daily_rows_postgresql`); SQLite: 3 (sums, users, percentiles)."""
    queryset = _logs(filters)
    start, last = _span(queryset, filters)
    if start is None or last is None:
        return {"results": []}
    starts = bucket_starts(start=start, last=last, group_by="day")
    if _is_postgresql(queryset):
        found = _daily_rows_postgresql(queryset, days=starts)
        users = {day: row["users"] for day, row in found.items()}
        p95 = {day: row["p95"] for day, row in found.items()}
    else:
        bucketed = queryset.annotate(period=bucket_expression(group_by="day", vendor="sqlite"))
        rows = list(bucketed.values("period").annotate(**_sums()))
        found = {bucket_start(row["period"]): row for row in rows}
        users = {bucket_start(period): n for period, n in _unique_users(bucketed, group_by="period").items()}
        p95 = grouped_latency_percentiles(queryset=bucketed, group_by="period", fractions=(0.95,),
                                          condition_for=_bucket_condition("day"),
                                          counts={row["period"]: row["calls"] for row in rows})
        p95 = {bucket_start(period): values[0.95] for period, values in p95.items()}
    results = []
    for day in starts:
        row = found.get(day, {})
        calls, errors_ = row.get("calls", 0), row.get("errors", 0)
        results.append({
            "date": day.date().isoformat(),
            "calls": calls,
            "errors": errors_,
            "error_rate": _rate(errors_, calls),
            "total_tokens": row.get("total_tokens") or 0,
            "total_cost": _group_cost(row),
            "unpriced_calls": calls - row.get("priced", 0),
            "avg_latency_ms": _ms(row.get("avg_latency_ms")),
            "p95_latency_ms": _ms(p95.get(day)),
            "unique_users": users.get(day, 0),
        })
    return {"results": results}


# --- Log lists -------------------------------------------------------------------------

PREVIEW_CHARS = 200


def log_list_queryset(*, filters: LogFilters, errors_only: bool = False) -> QuerySet:
    """Rows for the logs list in the requested order, without the large text columns.

    Prompt, response and error message come as 200-character previews cut in SQL
    (`prompt_preview`, `response_preview`, `error_preview`); the texts themselves are deferred.
    """
    queryset = _logs(filters)
    if errors_only:
        queryset = queryset.filter(_ERROR)
    return (
        queryset.defer("prompt_text", "response_text", "error_message", "metadata")
        .annotate(
            prompt_preview=Substr("prompt_text", 1, PREVIEW_CHARS),
            response_preview=Substr("response_text", 1, PREVIEW_CHARS),
            error_preview=Substr("error_message", 1, PREVIEW_CHARS),
        )
        .order_by(*filters.ordering)
    )


# --- Feedback --------------------------------------------------------------------------

def feedback_queryset(*, filters: LogFilters, rating: str | None = None) -> QuerySet:
    """Feedback rows in the window (by when feedback was given), newest first; `model` and
    `user_id` filter on the rated call."""
    condition = Q()
    if filters.start is not None:
        condition &= Q(created_at__gte=filters.start)
    if filters.end is not None:
        condition &= Q(created_at__lte=filters.end) if filters.end_inclusive else Q(created_at__lt=filters.end)
    if filters.model is not None:
        condition &= Q(request__model_name=filters.model)
    if filters.user_id is not None:
        condition &= Q(request__user_id=filters.user_id)
    if rating is not None:
        condition &= Q(rating=rating)
    return UserFeedback.objects.filter(condition).order_by("-created_at", "-id")


def _satisfaction(up: int, total: int) -> float | None:
    # No feedback is not 0 % satisfaction: null.
    return round(up * 100 / total, 2) if total else None


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
            over_time.append({"period": period, "total": row["total"], "thumbs_up": row["up"],
                              "thumbs_down": row["total"] - row["up"],
                              "satisfaction_rate": _satisfaction(row["up"], row["total"])})
    return {
        "total": overall["total"],
        "thumbs_up": overall["up"],
        "thumbs_down": overall["total"] - overall["up"],
        "satisfaction_rate": _satisfaction(overall["up"], overall["total"]),
        "by_model": [
            {"model": row["request__model_name"], "total": row["total"], "thumbs_up": row["up"],
             "thumbs_down": row["total"] - row["up"], "satisfaction_rate": _satisfaction(row["up"], row["total"])}
            for row in by_model
        ],
        "group_by": group_by,
        "over_time": over_time,
    }


# --- Export ----------------------------------------------------------------------------

EXPORT_FIELDS = (
    "request_id", "timestamp", "model_name", "provider", "status", "error_type", "http_status",
    "prompt_tokens", "completion_tokens", "total_tokens", "cached_prompt_tokens", "latency_ms",
    "time_to_first_token_ms", "cost_estimate", "user_id", "session_id", "finish_reason", "temperature",
    "max_tokens", "source", "provider_request_id", "trace_id", "span_id", "parent_span_id", "metadata",
    "error_message", "prompt_text", "response_text",
)
# Columns of free text a client or a model wrote (CSV formula injection applies to these).
EXPORT_TEXT_FIELDS = (
    "model_name", "provider", "user_id", "session_id", "finish_reason", "provider_request_id", "trace_id",
    "span_id", "parent_span_id", "error_message", "prompt_text", "response_text",
)
EXPORT_CHUNK_ROWS = 2000


def _json_text(value) -> str:
    # Django has psycopg hand jsonb over as text; decode-free, unless a driver decoded it anyway.
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _export_fixers(vendor: str) -> list[tuple[int, Callable]]:
    """(column index, function) turning a raw database value into its export text.

    Django's per-row converters (UUID objects, parsed datetimes, decoded JSON, Decimals) cost as
    much as writing the CSV itself, so the export reads raw values and fixes only the columns
    whose raw form differs between the databases.
    """
    index = {name: i for i, name in enumerate(EXPORT_FIELDS)}

    def cost(value):
        # A Decimal (PostgreSQL) or a float/int (SQLite, which stores at most COST_PLACES places,
        # so fixed-point formatting gives back the stored digits).
        return f"{value:.{COST_PLACES}f}"

    if vendor == "postgresql":
        def iso(value):
            return value.astimezone(UTC).isoformat().replace("+00:00", "Z")

        return [(index["request_id"], str), (index["timestamp"], iso), (index["cost_estimate"], cost),
                (index["metadata"], _json_text)]

    def sqlite_iso(value):
        # Django's sqlite3 converter hands back a naive datetime, in UTC.
        return value.isoformat() + "Z"

    def sqlite_uuid(value):
        # Stored as 32 hex digits without dashes.
        return f"{value[:8]}-{value[8:12]}-{value[12:16]}-{value[16:20]}-{value[20:]}"

    return [(index["request_id"], sqlite_uuid), (index["timestamp"], sqlite_iso), (index["cost_estimate"], cost)]


def export_rows(*, filters: LogFilters) -> Iterator[list]:
    """Every matching row as a list of EXPORT_FIELDS values, oldest first, streamed.

    Values are plain: request_id and timestamp (ISO 8601 UTC, "Z") as text, cost as text with
    6 places, metadata as JSON text, numbers as numbers, missing values as None. Reads through
    a server-side cursor on PostgreSQL (chunks on SQLite), so memory stays flat however many
    rows match.
    """
    queryset = _logs(filters).order_by("timestamp", "id").values_list(*EXPORT_FIELDS)
    connection = connections[queryset.db]
    fixers = _export_fixers(connection.vendor)
    sql, params = queryset.query.sql_with_params()
    with connection.chunked_cursor() as cursor:
        cursor.execute(sql, params)
        while rows := cursor.fetchmany(EXPORT_CHUNK_ROWS):
            for raw in rows:
                row = list(raw)
                for position, fix in fixers:
                    if row[position] is not None:
                        row[position] = fix(row[position])
                yield row
