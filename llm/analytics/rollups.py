"""Hourly rollups under an exactness contract: whole UTC hours from tables, everything else from raw rows.

Tables (llm/models.py): HourlyRollup holds, per UTC hour × model × status × error type × source, the
call count, token and cost sums, priced/unpriced counts, latency and time-to-first-token sums and
histograms; DailyRollup the same per UTC day, folded from the day's hours; HourlyUserPresence /
DailyUserPresence say which users called which model with which status in an hour / a day;
RolledUpHour lists the hours the tables hold. A day's rows serve a read only when all its 24 hours
are fresh, so a 30-day window reads about 30 rows per group, whatever the traffic.

Freshness: triggers on the calls table (migrations 0006 and 0007) leave a ChangedHour mark for every
hour an insert, update or delete touches. An hour is *fresh* when it is a RolledUpHour without marks. A read
(`split_window`) takes the fresh whole hours of its window from the rollups and reads everything else
(the partial hours at its edges, hours changed since their roll-up, hours never rolled up) from the
raw rows, so a stale, half-built or absent rollup changes the speed of a figure, never its value.

Writing (`refresh_rollups`): per UTC day of work, one transaction deletes and re-inserts the day's
hours from one GROUP BY over their calls, folds the day again, and deletes the marks it has seen. On PostgreSQL the
transaction is REPEATABLE READ, so the GROUP BY and the mark deletion see the same snapshot: a write
that commits meanwhile is not in the sums and its mark (appended, never merged into an older one) is
not deleted, so its hour stays stale. Runs take turns on an advisory lock; on SQLite the write
transaction itself is the lock. Rerunning or overlapping runs cannot double count: an hour's rows are
replaced, never added to.

Histograms: bucket b holds the values in (GAMMA**(b-1), GAMMA**b], GAMMA = 1.02 (35 buckets per
doubling), plus ZERO_BUCKET for 0. Reading a bucket as 2·GAMMA**b / (GAMMA + 1) is off by at most
(GAMMA - 1) / (GAMMA + 1) = 1/101 ≈ 0.99 % of any value in it; a percentile interpolated between two such
readings is off by at most the same fraction of the exact percentile (`histogram_percentile`). Exact
percentiles (`exact_latency_percentiles`) use the histogram only to find the bucket that holds the
wanted rank, then read that bucket's rows through the (model_name, latency_ms, timestamp) index.
"""

import math
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass, field, fields
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from django.core.exceptions import EmptyResultSet, FullResultSet
from django.db import connections, router, transaction
from django.db.models import Count, Exists, Max, Min, OuterRef, Q, QuerySet, Sum
from django.db.models.expressions import RawSQL
from django.utils import timezone

from llm.analytics.buckets import bucket_expression, bucket_start
from llm.analytics.filters import LogFilters, filter_logs
from llm.analytics.listings import feedback_queryset
from llm.models import (
    COST_PLACES,
    ChangedHour,
    DailyRollup,
    DailyUserPresence,
    HourlyFeedback,
    HourlyRollup,
    HourlyUserPresence,
    LatencyDigest,
    LLMRequestLog,
    RolledUpHour,
    UserFeedback,
)

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
GAMMA = 1.02
RELATIVE_ERROR = (GAMMA - 1) / (GAMMA + 1)  # 1/101: the bound of every histogram reading
_LN_GAMMA = math.log(GAMMA)
# Below the bucket of the smallest positive double (about -37,600), so bucket order is value order.
ZERO_BUCKET = -40000
DEFAULT_FRACTIONS = (0.5, 0.95, 0.99)
# A latency digest's or presence row's model_name / status when it covers all models / all statuses (NULL).
ALL = None
_MICROS = 10**COST_PLACES
# Averages sum latencies as integer microseconds (exact in any order, so a figure never depends on which
# rows came from rollups), each counted as at most this: 11.6 days, beyond any real call, and low enough
# that 9 million of them still fit in a 64-bit sum.
MAX_SUMMED_MS = 1e9
_COST_QUANTUM = Decimal(1).scaleb(-COST_PLACES)
# Taken by every refresh transaction on PostgreSQL (an arbitrary constant: "llmroll" in ASCII).
_PG_LOCK_KEY = 0x6C6C6D726F6C6C
_CALLS = LLMRequestLog._meta.db_table
_TIMESTAMP = '"timestamp"'
_MODEL_LATENCY_INDEX = "llm_log_model_latency_idx"
# LogFilters fields rollups can answer; any other filter set sends the whole window to the raw rows.
_ROLLUP_FILTERS = {"start", "end", "end_inclusive", "model", "status", "error_type", "group_by", "ordering"}
# What figures can be grouped by: a rollup column, or a UTC time unit ("hour" or "day", not both).
GROUPS = ("model_name", "status", "error_type", "source", "hour", "day")
# LogFilters fields the rollup rows can be filtered on, and their columns.
_FILTERED_COLUMNS = (("model", "model_name"), ("status", "status"), ("error_type", "error_type"))
# The summed columns of HourlyRollup and DailyRollup.
_SUMMED_COLUMNS = (
    "calls",
    "prompt_tokens",
    "completion_tokens",
    "total_tokens",
    "cached_prompt_tokens",
    "cost_micros",
    "priced_calls",
    "unpriced_calls",
    "latency_sum_us",
    "ttft_calls",
    "ttft_sum_us",
)


# --- Buckets and per-vendor SQL --------------------------------------------------------------


def latency_bucket(value: float) -> int:
    """The histogram bucket of a value (ms): what the database computes in `_bucket_sql`."""
    return math.ceil(math.log(value) / _LN_GAMMA) if value > 0 else ZERO_BUCKET


def bucket_value(bucket: int) -> float:
    """The value a bucket is read as: within RELATIVE_ERROR of every value in it."""
    return 0.0 if bucket == ZERO_BUCKET else 2 * GAMMA**bucket / (GAMMA + 1)


def bucket_floor(bucket: int) -> float:
    """A value at or below every value of the bucket (a little below its exclusive lower edge)."""
    return -math.inf if bucket == ZERO_BUCKET else GAMMA ** (bucket - 1) * (1 - 1e-9)


def _bucket_sql(column: str) -> str:
    # ln and ceil are built into PostgreSQL and into SQLite from 3.35 on.
    return f"(CASE WHEN {column} > 0 THEN CAST(ceil(ln({column}) / {_LN_GAMMA!r}) AS INTEGER) ELSE {ZERO_BUCKET} END)"


def _hour_sql(vendor: str, column: str) -> str:
    """The UTC hour of a timestamp column, as the rollup tables store it (also in migration 0006)."""
    if vendor == "postgresql":
        return f"(date_trunc('hour', {column} AT TIME ZONE 'UTC') AT TIME ZONE 'UTC')"
    # Django stores SQLite datetimes as 'YYYY-MM-DD HH:MM:SS[.ffffff]' in UTC.
    return f"(substr({column}, 1, 13) || ':00:00')"


def _day_sql(vendor: str, column: str) -> str:
    """The UTC date of a timestamp column: a date on PostgreSQL, 'YYYY-MM-DD' text on SQLite (as a DateField)."""
    if vendor == "postgresql":
        return f"CAST(({column} AT TIME ZONE 'UTC') AS date)"
    return f"substr({column}, 1, 10)"


def _raw_column(vendor: str, name: str) -> str:
    """The SQL over raw rows for a group name: the UTC hour or day of the timestamp, or the column itself."""
    if name == "hour":
        return _hour_sql(vendor, _TIMESTAMP)
    if name == "day":
        return _day_sql(vendor, _TIMESTAMP)
    return name


def _cost_micros_sql(vendor: str, column: str) -> str:
    if vendor == "postgresql":
        return f"CAST({column} * {_MICROS} AS BIGINT)"
    # SQLite keeps the 6-place decimal as a double; rounding its millionths gives the exact integer back.
    return f"CAST(round({column} * {_MICROS}) AS INTEGER)"


def _micros_sql(column: str) -> str:
    """A latency column (ms) as integer microseconds, capped at MAX_SUMMED_MS (NULL stays NULL): what averages sum."""
    capped = f"CASE WHEN {column} > {MAX_SUMMED_MS!r} THEN {MAX_SUMMED_MS!r} ELSE {column} END"
    return f"CAST(round({capped} * 1000) AS BIGINT)"


def _json_object_agg(vendor: str, key: str, value: str) -> str:
    if vendor == "postgresql":
        return f"jsonb_object_agg({key}, {value})"
    return f"json_group_object(CAST({key} AS TEXT), {value})"


def _json_pairs(vendor: str, column: str) -> str:
    """A FROM item of (key, value) for the histogram column of llm_hourly_rollup, and the value's SUM."""
    if vendor == "postgresql":
        return f"CROSS JOIN LATERAL jsonb_each_text({column}) AS h (key, value)"
    return f", json_each({column}) AS h"


def _utc(value) -> datetime:
    # PostgreSQL hands back aware datetimes; SQLite text or naive datetimes, in UTC.
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)


def floor_hour(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def _ceil_hour(moment: datetime) -> datetime:
    start = floor_hour(moment)
    return start if start == moment else start + HOUR


def _where(queryset: QuerySet) -> tuple[str, list]:
    """The compiled WHERE clause of a queryset on one table, for hand-written statements on that table."""
    query = queryset.query
    try:
        sql, params = query.get_compiler(queryset.db).compile(query.where)
    except FullResultSet:
        return "1 = 1", []
    except EmptyResultSet:
        return "1 = 0", []
    return sql, list(params)


def _runs(hours: Iterable[datetime]) -> list[tuple[datetime, datetime]]:
    """Consecutive hours coalesced into half-open ranges, in order."""
    runs: list[list[datetime]] = []
    for hour in sorted(hours):
        if runs and runs[-1][1] == hour:
            runs[-1][1] = hour + HOUR
        else:
            runs.append([hour, hour + HOUR])
    return [(start, end) for start, end in runs]


def _in_ranges(name: str, ranges: Iterable[tuple[datetime | None, datetime | None]]) -> Q:
    """Rows whose `name` lies in one of the half-open ranges (None: unbounded); no range: no row."""
    condition = Q(pk__in=[])
    for start, end in ranges:
        if start is None and end is None:
            return Q()  # (Q() would vanish from an OR, not make it match everything)
        part = Q()
        if start is not None:
            part &= Q(**{f"{name}__gte": start})
        if end is not None:
            part &= Q(**{f"{name}__lt": end})
        condition |= part
    return condition


# --- Refreshing -------------------------------------------------------------------------------


@dataclass
class RefreshResult:
    hours: int = 0  # hours rolled up by this run
    calls: int = 0  # calls in those hours
    changed: int = 0  # of those hours, how many had been rolled up before and had changed since
    skipped: int = 0  # hours an overlapping run had rolled up first


def refresh_rollups(
    *,
    now: datetime | None = None,
    since: datetime | None = None,
    rebuild: bool = False,
    progress: Callable[[str], None] | None = None,
    using: str | None = None,
) -> RefreshResult:
    """Roll up every complete UTC hour (one that ended by `now`) that needs it; returns what was done.

    By default an hour needs it when it was never rolled up (from the first call's hour on) or has
    changed since. `since` rolls up again every complete hour from its hour on, `rebuild` every hour
    from the first call's (or first rolled-up) hour. Idempotent; overlapping runs take turns and skip
    the hours the other has just done. `progress` receives one line per day of work.
    """
    with _WHOLE_DAYS_LOCK:
        _WHOLE_DAYS_CACHE.clear()  # (other processes see the rewritten days' new row ids)
    using = using or router.db_for_write(LLMRequestLog)
    end = floor_hour(now or timezone.now())
    forced = rebuild or since is not None
    hours = _hours_to_roll_up(end=end, since=since, rebuild=rebuild, using=using)
    result = RefreshResult()
    by_day: dict[date, list[datetime]] = {}
    for hour in hours:
        by_day.setdefault(hour.date(), []).append(hour)
    for day, day_hours in by_day.items():
        done = _roll_up_day(day=day, hours=day_hours, forced=forced, using=using)
        result.hours += done.hours
        result.calls += done.calls
        result.changed += done.changed
        result.skipped += done.skipped
        if progress is not None:
            progress(
                f"{day.isoformat()}: {done.hours} hour(s) rolled up, {done.calls} call(s)"
                + (f", {done.skipped} already done by another run" if done.skipped else "")
            )
    return result


def _hours_to_roll_up(*, end: datetime, since: datetime | None, rebuild: bool, using: str) -> list[datetime]:
    """The complete hours (before `end`) a run has to roll up, in order."""
    changed = {
        _utc(h) for h in ChangedHour.objects.using(using).filter(hour__lt=end).values_list("hour", flat=True).distinct()
    }
    first_call = LLMRequestLog.objects.using(using).aggregate(first=Min("timestamp"))["first"]
    if since is not None:
        start = floor_hour(since)
    elif rebuild:
        first_rolled = RolledUpHour.objects.using(using).aggregate(first=Min("hour"))["first"]
        candidates = [floor_hour(m) for m in (first_call, first_rolled) if m is not None]
        start = min(candidates, default=end)
    else:
        start = floor_hour(first_call) if first_call is not None else end
    wanted = {start + HOUR * i for i in range(max(0, int((end - start) / HOUR)))}
    if since is None and not rebuild:
        rolled = RolledUpHour.objects.using(using).filter(hour__gte=start, hour__lt=end)
        if rolled.count() == len(wanted):  # the common case: only new hours or changed ones
            wanted = set()
        else:
            wanted -= {_utc(h) for h in rolled.values_list("hour", flat=True)}
        wanted |= changed
    return sorted(wanted)


def _roll_up_day(*, day: date, hours: list[datetime], forced: bool, using: str) -> RefreshResult:
    connection = connections[using]
    with _refresh_lock(connection):
        nested = connection.in_atomic_block
        with transaction.atomic(using=using):
            if connection.vendor == "postgresql":
                with connection.cursor() as cursor:
                    if not nested:
                        # One snapshot for the GROUP BY and the mark deletion: see the module docstring.
                        cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
                    # The day's calls are grouped in memory rather than in temporary files; and the
                    # planner, blind to the size of a WITH query, would join the groups to their
                    # histograms by a nested loop re-reading one side per group (0.26 s a day at 1M calls).
                    # The costs that refusal adds would then trigger JIT compilation (0.4 s a statement).
                    cursor.execute("SET LOCAL work_mem = '64MB'")
                    cursor.execute("SET LOCAL enable_nestloop = off")
                    cursor.execute("SET LOCAL jit = off")
            todo = hours if forced else _still_to_do(hours, using)
            result = RefreshResult(skipped=len(hours) - len(todo))
            if not todo:
                return result
            result.changed = RolledUpHour.objects.using(using).filter(hour__in=todo).count()
            runs = _runs(todo)
            HourlyRollup.objects.using(using).filter(_in_ranges("hour", runs)).delete()
            HourlyUserPresence.objects.using(using).filter(_in_ranges("hour", runs)).delete()
            HourlyFeedback.objects.using(using).filter(_in_ranges("hour", runs)).delete()
            result.calls = _insert_rollups(connection, runs)
            _insert_feedback(connection, runs)
            _insert_daily_rollups(connection, day)
            _insert_digests(connection, day, todo)
            _insert_presence(connection, runs, day)
            # Only the marks this transaction's snapshot sees: a later write's mark outlives it.
            ChangedHour.objects.using(using).filter(hour__in=todo).delete()
            if connection.vendor == "postgresql":
                # The insert trigger marks an hour once per transaction (migration 0007); should this
                # transaction go on writing calls, their hours must be marked again.
                with connection.cursor() as cursor:
                    cursor.execute("SELECT set_config('llm.marked_hour', '', true)")
            stamp = timezone.now()
            RolledUpHour.objects.using(using).bulk_create(
                [RolledUpHour(hour=hour, rolled_up_at=stamp) for hour in todo],
                update_conflicts=True,
                unique_fields=["hour"],
                update_fields=["rolled_up_at"],
            )
            result.hours = len(todo)
            return result


class _refresh_lock:
    """PostgreSQL: one refresh transaction at a time (a session advisory lock, taken before the
    transaction starts so that its snapshot is taken after the previous run has committed). SQLite:
    nothing, as the write transaction (BEGIN IMMEDIATE, see core/settings.py) is the lock."""

    def __init__(self, connection):
        self.connection = connection
        self.postgresql = connection.vendor == "postgresql"

    def __enter__(self):
        if self.postgresql:
            with self.connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_lock(%s)", [_PG_LOCK_KEY])

    def __exit__(self, *exc):
        if self.postgresql and self.connection.connection is not None:
            with self.connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s)", [_PG_LOCK_KEY])
        return False


def _still_to_do(hours: list[datetime], using: str) -> list[datetime]:
    """The hours that still need rolling up once the lock is held (an overlapping run may have done them)."""
    rolled = {
        _utc(h)
        for h in RolledUpHour.objects.using(using)
        .filter(hour__in=hours)
        .exclude(Exists(ChangedHour.objects.filter(hour=OuterRef("hour"))))
        .values_list("hour", flat=True)
    }
    return [hour for hour in hours if hour not in rolled]


def _time_ranges_sql(connection, runs: list[tuple[datetime, datetime]], column: str) -> tuple[str, list]:
    adapt = connection.ops.adapt_datetimefield_value
    sql = " OR ".join(f"({column} >= %s AND {column} < %s)" for _ in runs)
    return f"({sql})", [adapt(moment) for run in runs for moment in run]


def _insert_rollups(connection, runs: list[tuple[datetime, datetime]]) -> int:
    """One statement: the runs' calls grouped by hour and group keys, with both histograms. Returns calls."""
    vendor = connection.vendor
    ranges, params = _time_ranges_sql(connection, runs, _TIMESTAMP)
    keys = "hour, model_name, status, error_type, source"
    same = " AND ".join(f"s.{key} = {{t}}.{key}" for key in keys.split(", "))

    def histogram(column: str) -> str:
        return (
            f"SELECT {keys}, {_json_object_agg(vendor, 'bucket', 'n')} AS histogram FROM ("
            f"SELECT {keys}, {_bucket_sql(column)} AS bucket, COUNT(*) AS n FROM calls "
            f"WHERE {column} IS NOT NULL GROUP BY {keys}, {_bucket_sql(column)}) AS buckets GROUP BY {keys}"
        )

    sql = f"""
        WITH calls AS MATERIALIZED (
            SELECT {_hour_sql(vendor, _TIMESTAMP)} AS hour, model_name, status, error_type, source,
                   prompt_tokens, completion_tokens, total_tokens, cached_prompt_tokens,
                   {_cost_micros_sql(vendor, "cost_estimate")} AS cost_micros, latency_ms,
                   time_to_first_token_ms AS ttft
            FROM {_CALLS} WHERE {ranges}
        ),
        sums AS (
            SELECT {keys}, COUNT(*) AS calls, SUM(prompt_tokens) AS prompt_tokens,
                   SUM(completion_tokens) AS completion_tokens, SUM(total_tokens) AS total_tokens,
                   SUM(cached_prompt_tokens) AS cached_prompt_tokens, COALESCE(SUM(cost_micros), 0) AS cost_micros,
                   COUNT(cost_micros) AS priced_calls, COUNT(*) - COUNT(cost_micros) AS unpriced_calls,
                   SUM({_micros_sql("latency_ms")}) AS latency_sum_us, MIN(latency_ms) AS latency_min_ms,
                   MAX(latency_ms) AS latency_max_ms, COUNT(ttft) AS ttft_calls,
                   COALESCE(SUM({_micros_sql("ttft")}), 0) AS ttft_sum_us
            FROM calls GROUP BY {keys}
        ),
        latency AS ({histogram("latency_ms")}),
        ttft AS ({histogram("ttft")})
        INSERT INTO {HourlyRollup._meta.db_table} ({keys}, calls, prompt_tokens, completion_tokens, total_tokens,
            cached_prompt_tokens, cost_micros, priced_calls, unpriced_calls, latency_sum_us, latency_min_ms,
            latency_max_ms, latency_histogram, ttft_calls, ttft_sum_us, ttft_histogram)
        SELECT s.hour, s.model_name, s.status, s.error_type, s.source, s.calls, s.prompt_tokens,
               s.completion_tokens, s.total_tokens, s.cached_prompt_tokens, s.cost_micros, s.priced_calls,
               s.unpriced_calls, s.latency_sum_us, s.latency_min_ms, s.latency_max_ms, l.histogram, s.ttft_calls,
               s.ttft_sum_us, COALESCE(t.histogram, '{{}}')
        FROM sums s JOIN latency l ON {same.format(t="l")} LEFT JOIN ttft t ON {same.format(t="t")}
        RETURNING calls
    """
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return sum(row[0] for row in cursor.fetchall())


def _insert_daily_rollups(connection, day: date) -> None:
    """The day's rows again, from its hourly rows (histograms summed bucket by bucket)."""
    vendor = connection.vendor
    DailyRollup.objects.using(connection.alias).filter(day=day).delete()
    keys = "model_name, status, error_type, source"
    same = " AND ".join(f"s.{key} = {{t}}.{key}" for key in keys.split(", "))
    value = "CAST(h.value AS BIGINT)" if vendor == "postgresql" else "h.value"

    def histogram(kind: str) -> str:
        return (
            f"SELECT {keys}, {_json_object_agg(vendor, 'key', 'n')} AS histogram FROM ("
            f"SELECT {keys}, h.key AS key, SUM({value}) AS n FROM day_rows "
            f"{_json_pairs(vendor, f'day_rows.{kind}_histogram')} GROUP BY {keys}, h.key) AS buckets GROUP BY {keys}"
        )

    sums = ", ".join(f"SUM({name}) AS {name}" for name in _SUMMED_COLUMNS)
    sql = f"""
        WITH day_rows AS MATERIALIZED (SELECT * FROM {HourlyRollup._meta.db_table} WHERE hour >= %s AND hour < %s),
        sums AS (
            SELECT {keys}, {sums}, MIN(latency_min_ms) AS latency_min_ms, MAX(latency_max_ms) AS latency_max_ms
            FROM day_rows GROUP BY {keys}
        ),
        latency AS ({histogram("latency")}),
        ttft AS ({histogram("ttft")})
        INSERT INTO {DailyRollup._meta.db_table} (day, {keys}, {", ".join(_SUMMED_COLUMNS)}, latency_min_ms,
            latency_max_ms, latency_histogram, ttft_histogram)
        SELECT %s, {", ".join(f"s.{key}" for key in keys.split(", "))}, {", ".join(f"s.{n}" for n in _SUMMED_COLUMNS)},
               s.latency_min_ms, s.latency_max_ms, l.histogram, COALESCE(t.histogram, '{{}}')
        FROM sums s JOIN latency l ON {same.format(t="l")} LEFT JOIN ttft t ON {same.format(t="t")}
    """
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    adapt = connection.ops.adapt_datetimefield_value
    with connection.cursor() as cursor:
        cursor.execute(sql, [adapt(start), adapt(start + DAY), connection.ops.adapt_datefield_value(day)])


def _insert_presence(connection, runs: list[tuple[datetime, datetime]], day: date) -> None:
    """The runs' users per hour, then the whole day's users again from its hours."""
    vendor = connection.vendor
    ranges, params = _time_ranges_sql(connection, runs, _TIMESTAMP)
    hourly, daily = HourlyUserPresence._meta.db_table, DailyUserPresence._meta.db_table
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    adapt = connection.ops.adapt_datetimefield_value
    with connection.cursor() as cursor:
        # A blank user_id is nobody in particular (llm/analytics/formulas.py), so it is never a user here.
        cursor.execute(
            f"INSERT INTO {hourly} (hour, model_name, status, user_id) "
            f"SELECT DISTINCT {_hour_sql(vendor, _TIMESTAMP)}, model_name, status, user_id "
            f"FROM {_CALLS} WHERE {ranges} AND user_id <> ''",
            params,
        )
        # The same users again with NULL (ALL) for the model, the status or both: what an unfiltered or
        # single-filter read counts, in a fraction of the rows.
        in_runs, run_params = _time_ranges_sql(connection, runs, "hour")
        specific = f"FROM {hourly} WHERE {in_runs} AND model_name IS NOT NULL AND status IS NOT NULL"
        cursor.execute(
            f"INSERT INTO {hourly} (hour, model_name, status, user_id) "
            f"SELECT DISTINCT hour, model_name, NULL, user_id {specific} UNION ALL "
            f"SELECT DISTINCT hour, NULL, status, user_id {specific} UNION ALL "
            f"SELECT DISTINCT hour, NULL, NULL, user_id {specific}",
            run_params * 3,
        )
        cursor.execute(f"DELETE FROM {daily} WHERE day = %s", [connection.ops.adapt_datefield_value(day)])
        cursor.execute(
            f"INSERT INTO {daily} (day, model_name, status, user_id) "
            f"SELECT DISTINCT %s, model_name, status, user_id FROM {hourly} WHERE hour >= %s AND hour < %s",
            [connection.ops.adapt_datefield_value(day), adapt(start), adapt(start + DAY)],
        )


class _Digest:
    """A latency histogram being merged, with its call count, min and max."""

    __slots__ = ("calls", "latency_sum_us", "low", "high", "histogram")

    def __init__(self):
        self.calls, self.latency_sum_us, self.low, self.high, self.histogram = 0, 0, math.inf, -math.inf, {}

    def add(self, calls: int, latency_sum_us: int, low: float, high: float, histogram: dict) -> None:
        self.calls += calls
        self.latency_sum_us += latency_sum_us
        self.low, self.high = min(self.low, low), max(self.high, high)
        merged = self.histogram
        for bucket, count in histogram.items():
            merged[bucket] = merged.get(bucket, 0) + count

    def row(self, unit: str, start: datetime, model: str, status: str) -> LatencyDigest:
        figures = Figures(latency_min_ms=self.low, latency_max_ms=self.high, latency_histogram=self.histogram)
        return LatencyDigest(
            unit=unit,
            start=start,
            model_name=model,
            status=status,
            calls=self.calls,
            latency_sum_us=self.latency_sum_us,
            latency_min_ms=self.low,
            latency_max_ms=self.high,
            latency_histogram=self.histogram,
            p95_latency_ms=figures.latency_percentile(0.95),
        )


def _insert_digests(connection, day: date, hours: list[datetime]) -> None:
    """The latency digests of the rolled-up hours and of their day, merged in Python from the day's hourly rows:
    per model and status, per model, per status and overall (ALL standing for all models / statuses)."""
    using = connection.alias
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    todo = set(hours)
    rows = HourlyRollup.objects.using(using).filter(hour__gte=start, hour__lt=start + DAY)
    per_group: dict[tuple, _Digest] = {}
    columns = ("hour", "model_name", "status", "calls", "latency_sum_us", "latency_min_ms", "latency_max_ms")
    for hour, model, status, calls, latency_sum, low, high, histogram in rows.values_list(
        *columns, "latency_histogram"
    ).iterator(chunk_size=2000):
        histogram = {int(bucket): int(count) for bucket, count in histogram.items()}
        hour = _utc(hour)
        periods = [(LatencyDigest.Unit.DAY, start)] + ([(LatencyDigest.Unit.HOUR, hour)] if hour in todo else [])
        for unit, period in periods:
            for key in ((model, status), (model, ALL), (ALL, status), (ALL, ALL)):
                per_group.setdefault((unit, period, *key), _Digest()).add(calls, latency_sum, low, high, histogram)
    digests = LatencyDigest.objects.using(using)
    digests.filter(
        Q(unit=LatencyDigest.Unit.DAY, start=start) | Q(unit=LatencyDigest.Unit.HOUR, start__in=hours)
    ).delete()
    digests.bulk_create([digest.row(*key) for key, digest in per_group.items()], batch_size=500)


def _insert_feedback(connection, runs: list[tuple[datetime, datetime]]) -> None:
    """The runs' feedback counted per hour given, model of the rated call, and rating."""
    ranges, params = _time_ranges_sql(connection, runs, "f.created_at")
    feedback = connection.ops.quote_name(UserFeedback._meta.db_table)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # Each feedback row finds its call by primary key: with the refresh's nested loops off, PostgreSQL
            # hashed the whole calls table instead (0.9 s a day at 1M calls).
            cursor.execute("SET LOCAL enable_nestloop = on")
        cursor.execute(
            f"INSERT INTO {HourlyFeedback._meta.db_table} (hour, model_name, rating, count) "
            f"SELECT {_hour_sql(connection.vendor, 'f.created_at')}, c.model_name, f.rating, COUNT(*) "
            f"FROM {feedback} f JOIN {_CALLS} c ON c.id = f.request_id WHERE {ranges} GROUP BY 1, 2, 3",
            params,
        )
        if connection.vendor == "postgresql":
            cursor.execute("SET LOCAL enable_nestloop = off")


# --- Reading ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class WindowSplit:
    """A window cut in two: whole fresh hours read from the rollups, the rest read from raw rows.

    Both are tuples of half-open [start, end) ranges in UTC, in order, with no overlap; together
    they cover the window exactly. A None bound in `raw` is open (a window without start or end).
    """

    rollup: tuple[tuple[datetime, datetime], ...]
    raw: tuple[tuple[datetime | None, datetime | None], ...]

    @property
    def rollup_hours(self) -> list[datetime]:
        return [start + HOUR * i for start, end in self.rollup for i in range(int((end - start) / HOUR))]


def rollups_can_serve(filters: LogFilters) -> bool:
    """Whether the rollups hold what `filters` select: only time, model, status and error type filters."""
    return all(f.name in _ROLLUP_FILTERS or getattr(filters, f.name) == f.default for f in fields(filters))


def _bounds(filters: LogFilters) -> tuple[datetime | None, datetime | None]:
    """The window as a half-open range; an inclusive end is the microsecond after it (the stored precision)."""
    end = filters.end
    if end is not None and filters.end_inclusive:
        if end == datetime.max.replace(tzinfo=UTC):
            return filters.start, None  # nothing is stored after the last representable instant
        end += timedelta(microseconds=1)
    return filters.start, end


def split_window(*, filters: LogFilters, using: str | None = None) -> WindowSplit:
    """Cut the window of `filters` into fresh whole hours (rollups) and the rest (raw rows). One query.

    A window that filters on what rollups do not hold (user, session, search, minimum latency) is all
    raw. Fresh: rolled up, and no insert, update or delete of its calls since (no ChangedHour mark).
    """
    start, end = _bounds(filters)
    if not rollups_can_serve(filters):
        return WindowSplit(rollup=(), raw=((start, end),))
    hours = RolledUpHour.objects.using(using or router.db_for_read(RolledUpHour))
    if start is not None:
        if start > datetime.max.replace(tzinfo=UTC) - HOUR:
            return WindowSplit(rollup=(), raw=((start, end),))  # no whole hour left before the end of time
        hours = hours.filter(hour__gte=_ceil_hour(start))
    if end is not None:
        hours = hours.filter(hour__lt=floor_hour(end))
    fresh = hours.exclude(Exists(ChangedHour.objects.filter(hour=OuterRef("hour")))).order_by("hour")
    return _split(start, end, [_utc(hour) for hour in fresh.values_list("hour", flat=True)])


def keep_rollup_hours(split: WindowSplit, *, filters: LogFilters, keep: Callable[[datetime], bool]) -> WindowSplit:
    """The split with only the rollup hours `keep` accepts; the others join the raw part. For reads that cut
    the window at instants inside hours (an alert backtest's windows): an hour holding a cut is read raw."""
    start, end = _bounds(filters)
    return _split(start, end, [hour for hour in split.rollup_hours if keep(hour)])


def _split(start: datetime | None, end: datetime | None, hours: list[datetime]) -> WindowSplit:
    """The split of [start, end) whose rollup part is `hours` (whole hours inside it) and raw part the rest."""
    rollup = tuple(_runs(hours))
    raw, cursor = [], start
    for run_start, run_end in rollup:
        if cursor is None or cursor < run_start:
            raw.append((cursor, run_start))
        cursor = run_end
    if cursor is None or end is None or cursor < end:
        raw.append((cursor, end))
    return WindowSplit(rollup=rollup, raw=tuple(raw))


@dataclass
class Figures:
    """Sums over a set of calls; `add` merges two sets. Cost is over priced calls only (null cost: unpriced)."""

    calls: int = 0
    errors: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    cached_prompt_tokens: int = 0
    cost_micros: int = 0
    priced_calls: int = 0
    unpriced_calls: int = 0
    latency_sum_us: int = 0
    latency_min_ms: float | None = None
    latency_max_ms: float | None = None
    ttft_calls: int = 0
    ttft_sum_us: int = 0
    latency_histogram: dict[int, int] = field(default_factory=dict)
    ttft_histogram: dict[int, int] = field(default_factory=dict)

    _SUMMED = (
        "calls",
        "errors",
        "prompt_tokens",
        "completion_tokens",
        "total_tokens",
        "cached_prompt_tokens",
        "cost_micros",
        "priced_calls",
        "unpriced_calls",
        "latency_sum_us",
        "ttft_calls",
        "ttft_sum_us",
    )

    @property
    def cost(self) -> Decimal:
        """USD to 6 places, exact (a sum of integer millionths)."""
        return (Decimal(self.cost_micros) / _MICROS).quantize(_COST_QUANTUM)

    @property
    def avg_latency_ms(self) -> float | None:
        return self.latency_sum_us / self.calls / 1000 if self.calls else None

    @property
    def avg_ttft_ms(self) -> float | None:
        return self.ttft_sum_us / self.ttft_calls / 1000 if self.ttft_calls else None

    def latency_percentile(self, fraction: float) -> float | None:
        """The latency percentile read from the histogram (`histogram_percentile`), kept within the
        calls' min and max latency: as close or closer to the exact value, and exact for a single value."""
        value = histogram_percentile(histogram=self.latency_histogram, fraction=fraction)
        if value is None or self.latency_min_ms is None or self.latency_max_ms is None:
            return value
        return min(max(value, self.latency_min_ms), self.latency_max_ms)

    def add(self, other: "Figures") -> "Figures":
        """These figures plus `other`'s, as a new Figures."""
        merged = Figures(**{name: getattr(self, name) + getattr(other, name) for name in self._SUMMED})
        merged.latency_min_ms = _pick(min, self.latency_min_ms, other.latency_min_ms)
        merged.latency_max_ms = _pick(max, self.latency_max_ms, other.latency_max_ms)
        merged.latency_histogram = _merge_histograms(self.latency_histogram, other.latency_histogram)
        merged.ttft_histogram = _merge_histograms(self.ttft_histogram, other.ttft_histogram)
        return merged


def _pick(choose, a, b):
    return b if a is None else a if b is None else choose(a, b)


def _merge_histograms(*histograms: dict[int, int]) -> dict[int, int]:
    merged: dict[int, int] = {}
    for histogram in histograms:
        for bucket, count in histogram.items():
            merged[bucket] = merged.get(bucket, 0) + count
    return merged


def _check_groups(group_by: tuple[str, ...]) -> None:
    unknown = set(group_by) - set(GROUPS)
    if unknown:
        raise ValueError(f"cannot group rollups by {', '.join(sorted(unknown))}")
    if {"hour", "day"} <= set(group_by):
        raise ValueError("group rollups by hour or by day, not both")


def _day(value) -> date:
    # PostgreSQL hands back a date; SQLite 'YYYY-MM-DD' text.
    if isinstance(value, datetime):
        return value.date()
    return value if isinstance(value, date) else date.fromisoformat(value)


def _group_key(values: tuple, group_by: tuple[str, ...]) -> Hashable:
    convert = {"hour": _utc, "day": _day}
    values = tuple(convert.get(name, _identity)(v) for name, v in zip(group_by, values, strict=True))
    if not group_by:
        return None
    return values[0] if len(group_by) == 1 else values


def _identity(value):
    return value


def _whole_days(hours: Iterable[datetime]) -> tuple[list[date], list[datetime]]:
    """(the UTC days all 24 hours of which are in `hours`, the other hours), both in order."""
    present = set(hours)
    days = sorted({h.date() for h in present if h.hour == 0 and all(h + HOUR * i in present for i in range(24))})
    whole = set(days)
    return days, sorted(h for h in present if h.date() not in whole)


def _with_day(hourly: QuerySet, columns: Iterable[str]) -> QuerySet:
    """An hourly table's rows with a `day` (the UTC date of their hour) when `columns` name it."""
    if "day" not in columns:
        return hourly
    table = connections[hourly.db].ops.quote_name(hourly.model._meta.db_table)
    return hourly.annotate(day=RawSQL(_day_sql(connections[hourly.db].vendor, f'{table}."hour"'), ()))


def _rollup_source(
    filters: LogFilters, split: WindowSplit, columns: list[str], *, by_hour: bool, using: str
) -> tuple[str, list] | None:
    """SELECT of `columns` over the rollup rows of the split's fresh hours: DailyRollup rows for whole
    days, HourlyRollup rows for the other hours (all hourly when grouping by hour). None: no such row."""
    days, hours = ([], split.rollup_hours) if by_hour else _whole_days(split.rollup_hours)
    wanted = {
        column: getattr(filters, name) for name, column in _FILTERED_COLUMNS if getattr(filters, name) is not None
    }
    parts = []
    if days:
        parts.append(DailyRollup.objects.using(using).filter(day__in=days, **wanted).values_list(*columns))
    if hours:
        in_hours = _in_ranges("hour", _runs(hours))
        hourly = _with_day(HourlyRollup.objects.using(using), columns)
        parts.append(hourly.filter(in_hours, **wanted).values_list(*columns))
    if not parts:
        return None
    rows = parts[0].union(*parts[1:], all=True) if len(parts) > 1 else parts[0]
    try:
        sql, params = rows.query.sql_with_params()
    except EmptyResultSet:
        return None
    return sql, list(params)


def rollup_figures(
    *,
    filters: LogFilters,
    split: WindowSplit,
    group_by: tuple[str, ...] = (),
    histograms: bool | tuple[str, ...] = True,
    using: str | None = None,
) -> dict[Hashable, Figures]:
    """The figures of the split's fresh hours, from the rollups, per value of `group_by` (names of GROUPS;
    a tuple key for several, None for none); groups without calls are absent. Two queries (one without
    histograms), whatever the window's length: whole days are read from daily rows."""
    _check_groups(group_by)
    using = using or router.db_for_read(HourlyRollup)
    columns = list(dict.fromkeys([*group_by, "status", *_SUMMED_COLUMNS, "latency_min_ms", "latency_max_ms"]))
    source = _rollup_source(filters, split, columns, by_hour="hour" in group_by, using=using)
    if source is None:
        return {}
    sql, params = source
    select = "".join(f"r.{name}, " for name in group_by)
    sums = [f"SUM(r.{name})" for name in _SUMMED_COLUMNS]
    sums.insert(1, "SUM(CASE WHEN r.status = %s THEN r.calls ELSE 0 END)")  # errors, in Figures._SUMMED order
    grouped = f"GROUP BY {', '.join(f'r.{name}' for name in group_by)}" if group_by else ""
    result: dict[Hashable, Figures] = {}
    with connections[using].cursor() as cursor:
        cursor.execute(
            f"SELECT {select}{', '.join(sums)}, MIN(r.latency_min_ms), MAX(r.latency_max_ms) "
            f"FROM ({sql}) AS r {grouped}",
            [LLMRequestLog.Status.ERROR, *params],
        )
        for row in cursor.fetchall():
            width = len(group_by)
            if row[width]:  # (no GROUP BY over no rows gives one row of nulls)
                result[_group_key(row[:width], group_by)] = _figures(row[width : width + 12], row[-2], row[-1])
    if _kinds(histograms) and result:
        for (key, kind), histogram in _rollup_histograms(filters, split, group_by, _kinds(histograms), using).items():
            setattr(result[key], f"{kind}_histogram", histogram)
    return result


def _kinds(histograms: bool | tuple[str, ...]) -> tuple[str, ...]:
    """The histograms asked for: True for both ("latency", "ttft"), False for none, or a tuple of kinds."""
    if histograms is True:
        return ("latency", "ttft")
    return tuple(histograms or ())


def _figures(sums, latency_min_ms, latency_max_ms) -> Figures:
    """Figures from sums in Figures._SUMMED order (PostgreSQL sums bigints as numeric: back to int)."""
    values = {name: int(v or 0) for name, v in zip(Figures._SUMMED, sums, strict=True)}
    return Figures(**values, latency_min_ms=latency_min_ms, latency_max_ms=latency_max_ms)


def _rollup_histograms(
    filters: LogFilters, split: WindowSplit, group_by: tuple[str, ...], kinds: tuple[str, ...], using: str
) -> dict:
    """{(group key, kind): merged histogram} of the split's fresh hours, summed in the database; one statement."""
    columns = list(dict.fromkeys([*group_by, *(f"{kind}_histogram" for kind in kinds)]))
    source = _rollup_source(filters, split, columns, by_hour="hour" in group_by, using=using)
    if source is None:
        return {}
    sql, params = source
    vendor = connections[using].vendor
    select = "".join(f"r.{name}, " for name in group_by)
    value = "CAST(h.value AS BIGINT)" if vendor == "postgresql" else "h.value"
    parts = [
        f"SELECT {select}'{kind}', h.key, SUM({value}) FROM ({sql}) AS r {_json_pairs(vendor, f'r.{kind}_histogram')} "
        f"GROUP BY {select}h.key"
        for kind in kinds
    ]
    found: dict = {}
    with connections[using].cursor() as cursor:
        cursor.execute(" UNION ALL ".join(parts), params * len(kinds))
        for row in cursor.fetchall():
            key = _group_key(row[: len(group_by)], group_by)
            kind, bucket, count = row[len(group_by) :]
            found.setdefault((key, kind), {})[int(bucket)] = int(count)
    return found


def raw_queryset(*, filters: LogFilters, split: WindowSplit, using: str | None = None) -> QuerySet:
    """The calls of the split's raw part (edge and stale hours) that `filters` select."""
    kept = {f.name: getattr(filters, f.name) for f in fields(filters) if f.name not in ("start", "end")}
    untimed = LogFilters(**kept)
    calls = LLMRequestLog.objects.using(using or router.db_for_read(LLMRequestLog)).order_by()
    return filter_logs(queryset=calls, filters=untimed).filter(_in_ranges("timestamp", split.raw))


def raw_figures(
    *,
    filters: LogFilters,
    split: WindowSplit,
    group_by: tuple[str, ...] = (),
    histograms: bool | tuple[str, ...] = True,
    using: str | None = None,
) -> dict[Hashable, Figures]:
    """The same figures as `rollup_figures`, computed from the raw rows of the split's raw part.

    Sums and histograms are those of the refresh (integer cost millionths, the same buckets), so
    rollup and raw parts add up to the figures of the whole window. Two queries (one without
    histograms); none when nothing is raw.
    """
    _check_groups(group_by)
    if not split.raw:
        return {}
    calls = raw_queryset(filters=filters, split=split, using=using)
    connection = connections[calls.db]
    where, params = _where(calls)
    columns = [_raw_column(connection.vendor, name) for name in group_by]
    select = "".join(f"{column}, " for column in columns)
    grouped = f"GROUP BY {', '.join(columns)}" if columns else ""
    cost = _cost_micros_sql(connection.vendor, "cost_estimate")
    sql = (
        f"SELECT {select}COUNT(*), SUM(CASE WHEN status = %s THEN 1 ELSE 0 END), SUM(prompt_tokens), "
        f"SUM(completion_tokens), SUM(total_tokens), SUM(cached_prompt_tokens), SUM({cost}), COUNT(cost_estimate), "
        f"COUNT(*) - COUNT(cost_estimate), SUM({_micros_sql('latency_ms')}), COUNT(time_to_first_token_ms), "
        f"SUM({_micros_sql('time_to_first_token_ms')}), MIN(latency_ms), MAX(latency_ms) "
        f"FROM {_CALLS} WHERE {where} {grouped}"
    )
    result: dict[Hashable, Figures] = {}
    with connection.cursor() as cursor:
        cursor.execute(sql, [LLMRequestLog.Status.ERROR, *params])
        for row in cursor.fetchall():
            if not row[len(group_by)]:
                continue  # no GROUP BY and no rows: one row of nulls
            figures = _figures(row[len(group_by) : len(group_by) + 12], row[-2], row[-1])
            result[_group_key(row[: len(group_by)], group_by)] = figures
    if _kinds(histograms) and result:
        for (key, kind), histogram in _raw_histograms(calls, group_by, _kinds(histograms)).items():
            setattr(result[key], f"{kind}_histogram", histogram)
    return result


def _raw_histograms(calls: QuerySet, group_by: tuple[str, ...], kinds: tuple[str, ...]) -> dict:
    """{(group key, kind): histogram} of raw rows, one statement."""
    connection = connections[calls.db]
    where, params = _where(calls)
    columns = [_raw_column(connection.vendor, name) for name in group_by]
    select = "".join(f"{column}, " for column in columns)
    parts = []
    for kind in kinds:
        column = "latency_ms" if kind == "latency" else "time_to_first_token_ms"
        bucket = _bucket_sql(column)
        parts.append(
            f"SELECT {select}'{kind}', {bucket}, COUNT(*) FROM {_CALLS} WHERE {where} AND {column} IS NOT NULL "
            f"GROUP BY {select}{bucket}"
        )
    found: dict = {}
    with connection.cursor() as cursor:
        cursor.execute(" UNION ALL ".join(parts), params * len(kinds))
        for row in cursor.fetchall():
            kind, bucket, count = row[len(group_by) :]
            found.setdefault((_group_key(row[: len(group_by)], group_by), kind), {})[int(bucket)] = int(count)
    return found


def window_figures(
    *,
    filters: LogFilters,
    group_by: tuple[str, ...] = (),
    histograms: bool | tuple[str, ...] = True,
    split: WindowSplit | None = None,
    using: str | None = None,
) -> dict[Hashable, Figures]:
    """The figures of the whole window: rollups for its fresh hours plus raw rows for the rest.

    Equal to the same sums over all the window's raw rows, whatever the state of the rollups.
    Up to 5 queries (1 to split the window, 2 for the rollups, 2 for the raw part).
    """
    split = split or split_window(filters=filters, using=using)
    merged = rollup_figures(filters=filters, split=split, group_by=group_by, histograms=histograms, using=using)
    for key, figures in raw_figures(
        filters=filters, split=split, group_by=group_by, histograms=histograms, using=using
    ).items():
        merged[key] = merged[key].add(figures) if key in merged else figures
    return merged


def unique_users(
    *,
    filters: LogFilters,
    split: WindowSplit | None = None,
    by_model: bool = False,
    by_day: bool = False,
    using: str | None = None,
) -> dict[Hashable, int]:
    """Distinct non-blank user_id over the window: {None: n}, or {model_name: n} with `by_model`, or
    {UTC date: n} with `by_day` (groups without users are absent).

    One query: the users of whole fresh days (daily presence), of the other fresh hours (hourly
    presence) and of the raw part (raw rows), united by the database. An error_type filter reads
    all raw (presence has no error type). Exact whatever the state of the rollups.
    """
    if by_model and by_day:
        raise ValueError("count unique users by model or by day, not both")
    using = using or router.db_for_read(LLMRequestLog)
    vendor = connections[using].vendor
    if filters.error_type is not None:
        split = WindowSplit(rollup=(), raw=(_bounds(filters),))
    elif split is None:
        split = split_window(filters=filters, using=using)
    group = "model_name" if by_model else "day" if by_day else None
    names = (group, "user_id") if group else ("user_id",)
    days, other_hours = _whole_days(split.rollup_hours)
    parts = []
    if split.raw:
        raw = raw_queryset(filters=filters, split=split, using=using).exclude(user_id="")
        if by_day:
            raw = raw.annotate(day=RawSQL(_day_sql(vendor, _TIMESTAMP), ()))
        parts.append(raw.values_list(*names))
    if days:
        daily = DailyUserPresence.objects.using(using).filter(day__in=days)
        parts.append(_presence(daily, filters, by_model=by_model).values_list(*names))
    if other_hours:
        in_hours = _in_ranges("hour", _runs(other_hours))
        hourly = _with_day(HourlyUserPresence.objects.using(using), names).filter(in_hours)
        parts.append(_presence(hourly, filters, by_model=by_model).values_list(*names))
    nobody = {None: 0} if group is None else {}
    if not parts:
        return nobody
    union = parts[0].union(*parts[1:], all=True) if len(parts) > 1 else parts[0]
    try:
        sql, params = union.query.sql_with_params()
    except EmptyResultSet:
        return nobody
    columns = ", ".join(names)
    # DISTINCT over the parts is the deduplication: a user found in several parts counts once.
    with connections[using].cursor() as cursor:
        cursor.execute(
            f"SELECT {group + ', ' if group else ''}COUNT(*) FROM (SELECT DISTINCT {columns} FROM ({sql}) AS parts) "
            f"AS users {'GROUP BY ' + group if group else ''}",
            params,
        )
        rows = cursor.fetchall()
    if group is None:
        return {None: rows[0][0]}
    convert = _day if by_day else _identity
    return {convert(key): count for key, count in rows}


def _presence(rows: QuerySet, filters: LogFilters, *, by_model: bool) -> QuerySet:
    """Presence rows for the filters' model and status: the ALL (NULL) rows where a filter is absent, the
    per-model rows when counting by model."""
    rows = rows.filter(status=filters.status if filters.status is not None else ALL)
    if filters.model is not None:
        return rows.filter(model_name=filters.model)
    return rows.exclude(model_name=ALL) if by_model else rows.filter(model_name=ALL)


def feedback_counts(
    *, filters: LogFilters, unit: str | None = None, split: WindowSplit | None = None, using: str | None = None
) -> dict[tuple, int]:
    """Feedback given in the window (by `created_at`): {(bucket, model of the rated call, rating): count}.

    `unit` ("minute", "hour" or "day"; None: no time) names the bucket, a UTC datetime (None without a unit).
    Fresh hours are read from HourlyFeedback, the rest from the feedback rows (minutes: all of them);
    filters on the call's model or user apply as in `feedback_queryset`. Two queries.
    """
    using = using or router.db_for_read(UserFeedback)
    if unit == "minute":
        split = WindowSplit(rollup=(), raw=(_bounds(filters),))
    elif split is None:
        split = split_window(filters=filters, using=using)
    vendor = connections[using].vendor
    found: dict[tuple, int] = {}

    def add(bucket, model: str, rating: str, count: int) -> None:
        if bucket is not None:
            bucket = bucket_start(bucket) if unit != "day" else datetime.combine(_day(bucket), datetime.min.time(), UTC)
        found[(bucket, model, rating)] = found.get((bucket, model, rating), 0) + int(count)

    names = (unit,) if unit else ()
    if split.rollup:
        hourly = _with_day(HourlyFeedback.objects.using(using), names)
        if filters.model is not None:
            hourly = hourly.filter(model_name=filters.model)
        rows = (
            hourly.filter(_in_ranges("hour", split.rollup))
            .values(*names, "model_name", "rating")
            .annotate(n=Sum("count"))
            .order_by()
        )
        for row in rows:
            add(row[unit] if unit else None, row["model_name"], row["rating"], row["n"])
    if split.raw:
        kept = {f.name: getattr(filters, f.name) for f in fields(filters) if f.name not in ("start", "end")}
        feedback = feedback_queryset(filters=LogFilters(**kept)).using(using)
        feedback = feedback.filter(_in_ranges("created_at", split.raw))
        if unit:
            feedback = feedback.annotate(bucket=bucket_expression(group_by=unit, vendor=vendor, field="created_at"))
        rows = feedback.values(*(("bucket",) if unit else ()), "request__model_name", "rating").annotate(n=Count("*"))
        for row in rows.order_by():
            add(row["bucket"] if unit else None, row["request__model_name"], row["rating"], row["n"])
    return found


# --- Percentiles -------------------------------------------------------------------------------


def histogram_percentile(*, histogram: dict[int, int], fraction: float) -> float | None:
    """The continuous percentile (numpy's linear interpolation) read from a histogram: within
    RELATIVE_ERROR of the exact value, as each of the two ranks it interpolates between is. None when empty."""
    total = sum(histogram.values())
    if not total:
        return None
    position = fraction * (total - 1)
    rank = math.floor(position)
    weight = position - rank
    low = bucket_value(_bucket_of_rank(histogram, rank)[0])
    if weight == 0:
        return low
    high = bucket_value(_bucket_of_rank(histogram, rank + 1)[0])
    return low + (high - low) * weight


def _bucket_of_rank(histogram: dict[int, int], rank: int) -> tuple[int, int]:
    """(bucket holding the value of 0-based `rank` in value order, ranks below that bucket)."""
    below = 0
    for bucket in sorted(histogram):
        if rank < below + histogram[bucket]:
            return bucket, below
        below += histogram[bucket]
    raise ValueError("rank beyond the histogram")


def exact_latency_percentiles(
    *,
    filters: LogFilters,
    fractions: Iterable[float] = DEFAULT_FRACTIONS,
    by_model: bool = False,
    split: WindowSplit | None = None,
    using: str | None = None,
) -> dict[Hashable, dict[float, float | None]]:
    """Continuous latency percentiles over the window, exactly numpy's default `percentile` of the raw
    latencies: {None: {fraction: ms}} or, with `by_model`, {model_name: {fraction: ms}} (models without
    calls are absent; no calls at all: {None: {fraction: None}}).

    The latency histogram of the window (rollups for fresh hours, raw rows for the rest) says which
    bucket holds each wanted rank and how many values lie below it; one statement then reads, per
    percentile, only that bucket's latencies of the window through the (model_name, latency_ms,
    timestamp) index, one model at a time. 3-4 queries whatever the window's length.
    """
    fractions = tuple(float(f) for f in fractions)
    using = using or router.db_for_read(LLMRequestLog)
    split = split or split_window(filters=filters, using=using)
    histograms = _latency_histograms_by_model(filters, split, using)
    groups = {model: [model] for model in histograms} if by_model else {None: sorted(histograms)}
    terms, result = [], {}
    for key, models in groups.items():
        merged = _merge_histograms(*(histograms[m] for m in models))
        total = sum(merged.values())
        result[key] = {f: None for f in fractions}
        for fraction in fractions:
            if total:
                terms.append(_rank_term(key, models, histograms, merged, fraction, total))
    if terms:
        found = _read_ranks(filters, terms, using)
        for term in terms:
            result[term.key][term.fraction] = _value_at(term, found.get(term.tag, []), filters, using)
    return result


def _latency_histograms_by_model(filters: LogFilters, split: WindowSplit, using: str) -> dict[str, dict[int, int]]:
    """{model_name: latency histogram of the window}: latency digests (or, under an error type filter, the
    rollup rows) for the fresh hours plus raw rows. Two queries."""
    found: dict[str, dict[int, int]] = {}
    parts = []
    if split.rollup and filters.error_type is None:
        days, hours = _whole_days(split.rollup_hours)
        parts.append(_whole_days_histograms(filters, days, using))
        if hours:
            digests = _digests(filters, days=[], hours=hours, by_model=True, using=using)
            pairs = digests.values_list("model_name", "latency_histogram")
            hourly: dict = {}
            for model, bucket, count in _summed_histograms(pairs, "model_name", "latency_histogram"):
                hourly.setdefault((model, "latency"), {})[int(bucket)] = int(count)
            parts.append(hourly)
    elif split.rollup:
        parts.append(_rollup_histograms(filters, split, ("model_name",), ("latency",), using))
    if split.raw:
        parts.append(
            _raw_histograms(raw_queryset(filters=filters, split=split, using=using), ("model_name",), ("latency",))
        )
    for part in parts:
        for (model, _), histogram in part.items():
            found[model] = _merge_histograms(found.get(model, {}), histogram)
    return found


# Whole days' merged histograms per model, by (database, days, model filter, status filter, how many digest rows,
# the newest row id): a refresh rewrites a day's digests with new (larger) ids, so a changed day changes the key.
# Past days repeat from request to request (a dashboard's window slides by minutes), so most reads hit.
_WHOLE_DAYS_CACHE: OrderedDict[tuple, dict] = OrderedDict()
_WHOLE_DAYS_CACHE_SIZE = 64
_WHOLE_DAYS_LOCK = threading.Lock()


def _whole_days_histograms(filters: LogFilters, days: list[date], using: str) -> dict:
    """{(model_name, "latency"): histogram} of the latency digests of whole `days`, merged; cached in the process
    until one of those days is rolled up again. One small query when cached, two when not."""
    if not days:
        return {}
    digests = _digests(filters, days=days, hours=[], by_model=True, using=using)
    version = digests.aggregate(rows=Count("id"), newest=Max("id"))
    key = (using, tuple(days), filters.model, filters.status, version["rows"], version["newest"])
    with _WHOLE_DAYS_LOCK:
        if key in _WHOLE_DAYS_CACHE:
            _WHOLE_DAYS_CACHE.move_to_end(key)
            return _WHOLE_DAYS_CACHE[key]
    merged: dict = {}
    pairs = digests.values_list("model_name", "latency_histogram")
    for model, bucket, count in _summed_histograms(pairs, "model_name", "latency_histogram"):
        merged.setdefault((model, "latency"), {})[int(bucket)] = int(count)
    with _WHOLE_DAYS_LOCK:
        _WHOLE_DAYS_CACHE[key] = merged
        while len(_WHOLE_DAYS_CACHE) > _WHOLE_DAYS_CACHE_SIZE:
            _WHOLE_DAYS_CACHE.popitem(last=False)
    return merged


def _summed_histograms(rows: QuerySet, key: str | tuple[str, ...], histogram: str) -> list[tuple]:
    """(*key values, bucket, count) for a values_list queryset of the column(s) `key` and `histogram`, the
    histograms summed by the database: thousands of (bucket, count) pairs never reach Python one by one."""
    try:
        sql, params = rows.query.sql_with_params()
    except EmptyResultSet:
        return []
    vendor = connections[rows.db].vendor
    value = "CAST(h.value AS BIGINT)" if vendor == "postgresql" else "h.value"
    keys = ", ".join(f"r.{name}" for name in ((key,) if isinstance(key, str) else key))
    with connections[rows.db].cursor() as cursor:
        cursor.execute(
            f"SELECT {keys}, h.key, SUM({value}) FROM ({sql}) AS r "
            f"{_json_pairs(vendor, f'r.{histogram}')} GROUP BY {keys}, h.key",
            params,
        )
        return cursor.fetchall()


def _digests(filters: LogFilters, *, days: list[date], hours: list[datetime], by_model: bool, using: str) -> QuerySet:
    """The latency digests of whole `days` and of `hours`, for the filters' status and model: one row per period,
    or per period and model with `by_model`. (Digests hold no error type: not for an error type filter.)"""
    periods = Q(pk__in=[])
    if days:
        periods |= Q(unit=LatencyDigest.Unit.DAY, start__in=[_day_start(day) for day in days])
    if hours:
        periods |= Q(unit=LatencyDigest.Unit.HOUR) & _in_ranges("start", _runs(hours))
    digests = LatencyDigest.objects.using(using).filter(periods, status=filters.status or ALL).order_by()
    if filters.model is not None:
        return digests.filter(model_name=filters.model)
    return digests.exclude(model_name=ALL) if by_model else digests.filter(model_name=ALL)


def _day_start(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


@dataclass(frozen=True)
class PeriodLatency:
    """The latency of the calls of one hour or day: their count, average and P95 (read from the histogram)."""

    calls: int
    avg_latency_ms: float | None
    p95_latency_ms: float | None


def bucket_latency(
    *,
    filters: LogFilters,
    unit: str,
    by_model: bool = False,
    split: WindowSplit | None = None,
    using: str | None = None,
) -> dict[Hashable, PeriodLatency]:
    """The latency of each UTC hour or day (`unit`) of the window that has calls: {period start: PeriodLatency},
    or {(period start, model): PeriodLatency}. The P95 is read from histograms (within RELATIVE_ERROR, see
    `Figures.latency_percentile`); counts and averages are exact.

    A period the rollups hold whole and fresh is one precomputed digest row; the others (the window's
    edges, stale hours, an error type filter) merge their figures from rollups and raw rows.
    """
    using = using or router.db_for_read(LatencyDigest)
    split = split or split_window(filters=filters, using=using)
    fresh = split.rollup_hours
    days, hours, covered = [], [], set()
    if filters.error_type is None and unit == "hour":
        hours, covered = fresh, set(fresh)
    elif filters.error_type is None:
        days = _whole_days(fresh)[0]
        covered = {hour for hour in fresh if hour.date() in set(days)}
    found: dict[Hashable, PeriodLatency] = {}
    if days or hours:
        digests = _digests(filters, days=days, hours=hours, by_model=by_model, using=using)
        columns = ("start", "model_name", "calls", "latency_sum_us", "p95_latency_ms")
        for start, model, calls, latency_sum, p95 in digests.values_list(*columns):
            key = (_utc(start), model) if by_model else _utc(start)
            found[key] = PeriodLatency(calls=calls, avg_latency_ms=latency_sum / calls / 1000, p95_latency_ms=p95)
    rest = WindowSplit(rollup=tuple(_runs(set(fresh) - covered)), raw=split.raw)
    group = (unit, "model_name") if by_model else (unit,)
    if rest.rollup and filters.error_type is None:
        # The other fresh hours (those of days the window holds in part) from their hour digests, per period.
        merged = _hour_digest_figures(filters, rest.rollup_hours, unit=unit, by_model=by_model, using=using)
        rest = WindowSplit(rollup=(), raw=rest.raw)
    else:
        merged = {}
    if rest.rollup or rest.raw:
        parts = window_figures(filters=filters, split=rest, group_by=group, histograms=("latency",), using=using)
        for key, figures in parts.items():
            merged[key] = merged[key].add(figures) if key in merged else figures
    for key, figures in merged.items():
        period = key[0] if by_model else key
        period = _day_start(period) if unit == "day" else period
        found[(period, key[1]) if by_model else period] = PeriodLatency(
            calls=figures.calls,
            avg_latency_ms=figures.avg_latency_ms,
            p95_latency_ms=figures.latency_percentile(0.95),
        )
    return found


def _hour_digest_figures(
    filters: LogFilters, hours: list[datetime], *, unit: str, by_model: bool, using: str
) -> dict[Hashable, Figures]:
    """Latency figures (count, sum, min, max, histogram) of `hours` from their digests, per hour or day (`unit`)
    and model, keyed as window_figures keys them. Two queries."""
    digests = _digests(filters, days=[], hours=hours, by_model=by_model, using=using)
    if unit == "day":
        table = connections[using].ops.quote_name(LatencyDigest._meta.db_table)
        digests = digests.annotate(day=RawSQL(_day_sql(connections[using].vendor, f'{table}."start"'), ()))
    period = "start" if unit == "hour" else "day"
    names = (period, "model_name") if by_model else (period,)
    found: dict[Hashable, Figures] = {}

    def key_of(values: tuple) -> Hashable:
        return _group_key(values, (unit, "model_name") if by_model else (unit,))

    sums = digests.values(*names).annotate(
        n=Sum("calls"), total=Sum("latency_sum_us"), low=Min("latency_min_ms"), high=Max("latency_max_ms")
    )
    for row in sums:
        found[key_of(tuple(row[name] for name in names))] = Figures(
            calls=int(row["n"]), latency_sum_us=int(row["total"]), latency_min_ms=row["low"], latency_max_ms=row["high"]
        )
    for *values, bucket, count in _summed_histograms(
        digests.values_list(*names, "latency_histogram"), names, "latency_histogram"
    ):
        found[key_of(tuple(values))].latency_histogram[int(bucket)] = int(count)
    return found


@dataclass
class _Term:
    tag: int
    key: Hashable
    fraction: float
    position: float  # fraction × (n - 1): the 0-based rank to interpolate at
    bucket: int
    offset: int  # ranks below the bucket's first value, subtracted from the rank
    limits: dict[str, int]  # per model: how many of its values from the bucket on can matter


def _rank_term(key, models, histograms, merged, fraction, total) -> _Term:
    position = fraction * (total - 1)
    bucket, below = _bucket_of_rank(merged, math.floor(position))
    offset = math.floor(position) - below
    # A model's values in the bucket, plus one: the next value after the bucket may be that model's.
    limits = {
        m: min(offset + 2, histograms[m].get(bucket, 0) + 1) for m in models if any(b >= bucket for b in histograms[m])
    }
    return _Term(tag=0, key=key, fraction=fraction, position=position, bucket=bucket, offset=offset, limits=limits)


def _read_ranks(filters: LogFilters, terms: list[_Term], using: str) -> dict[int, list[float]]:
    """One statement: for each term, the two latencies at its rank and the next, ascending."""
    connection = connections[using]
    calls = filter_logs(queryset=LLMRequestLog.objects.using(using).order_by(), filters=filters)
    where, where_params = _where(calls)
    table = connection.ops.quote_name(_CALLS)
    # SQLite would rather walk the (model_name, timestamp) index and sort (see llm/analytics/percentiles.py).
    hint = f" INDEXED BY {_MODEL_LATENCY_INDEX}" if connection.vendor == "sqlite" else ""
    parts, params = [], []
    for tag, term in enumerate(terms):
        term.tag = tag
        members = []
        for i, (model, limit) in enumerate(sorted(term.limits.items())):
            members.append(
                f"SELECT latency_ms FROM (SELECT latency_ms FROM {table}{hint} WHERE model_name = %s AND {where} "
                f"AND latency_ms >= %s AND {_bucket_sql('latency_ms')} >= %s ORDER BY latency_ms LIMIT {int(limit)}) "
                f"AS m{i}"
            )
            floor = bucket_floor(term.bucket)
            params.extend([model, *where_params, floor if math.isfinite(floor) else -1.0, term.bucket])
        parts.append(
            f"SELECT {tag} AS tag, latency_ms FROM (SELECT latency_ms FROM ({' UNION ALL '.join(members)}) AS u{tag} "
            f"ORDER BY latency_ms LIMIT 2 OFFSET {int(term.offset)}) AS t{tag}"
        )
    found: dict[int, list[float]] = {}
    with connection.cursor() as cursor:
        cursor.execute(" UNION ALL ".join(parts), params)
        for tag, value in cursor.fetchall():
            found.setdefault(tag, []).append(value)
    return {tag: sorted(values) for tag, values in found.items()}


def _value_at(term: _Term, values: list[float], filters: LogFilters, using: str) -> float | None:
    if not values or (term.position % 1 and len(values) < 2):
        # The rows changed between the histogram and this read (a concurrent write or delete):
        # rank the window's rows directly rather than return a neighbour's value.
        values = _ranked_directly(term, filters, using)
        if not values:
            return None
    weight = term.position - math.floor(term.position)
    if weight == 0 or len(values) < 2:
        return float(values[0])
    return float(values[0]) + (float(values[1]) - float(values[0])) * weight


def _ranked_directly(term: _Term, filters: LogFilters, using: str) -> list[float]:
    """The two latencies around the term's rank, by sorting the window's rows (the slow, sure way)."""
    calls = filter_logs(queryset=LLMRequestLog.objects.using(using).order_by(), filters=filters)
    if term.key is not None:
        calls = calls.filter(model_name=term.key)
    total = calls.count()
    if not total:
        return []
    term.position = term.fraction * (total - 1)
    rank = math.floor(term.position)
    return list(calls.order_by("latency_ms").values_list("latency_ms", flat=True)[rank : rank + 2])
