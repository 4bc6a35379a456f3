"""Metrics endpoints over 1 h / 24 h / 7 d / 30 d windows read through fresh rollups, against hand-written
SQL that reads the same rollup rows; the exact percentiles alone; the sizes of the calls and rollup tables.

    .venv/bin/python bench/bench_windows.py [--database-url URL] [--windows 1h,24h,7d,30d] [--repeat 5]
                                            [--seed-rows N] [--no-rollups] [--skip-endpoints] [--skip-sizes]
    make bench BENCH_ARGS="windows --database-url postgres://postgres@127.0.0.1:5432/rollups_10m --no-rollups"

The database is DATABASE_URL or --database-url (default the `rollups_1m` PostgreSQL database); it is
only seeded with --seed-rows N, up to N calls (migrate, then `generate_sample_data --days 30 --seed 1
--text-chars 200`). Every run first rolls up what is due (`refresh_rollups`, timed) and ANALYZEs.

Each window ends at the last call's timestamp, so both of its edges fall inside an hour. For every endpoint
and window: the median of the API through the Django test client (logged in as a staff user) and of the SQL
reference, run alternately (bench_api.py's `_paired_medians`). The reference is one hand-written statement
per figure over the same split the endpoints use:

  - the fresh hours of the window (llm_rolled_up_hour without llm_changed_hour marks, one query);
  - whole fresh UTC days: llm_daily_rollup / llm_daily_user rows;
  - the other fresh hours: llm_hourly_rollup / llm_hourly_user rows (all fresh hours for hour buckets,
    and for feedback, which has only llm_hourly_feedback);
  - the rest (the partial edge hours, hours not rolled up or changed since): the raw rows, grouped in
    the same statement (UNION ALL of the three parts, summed by the outer query);
  - exact percentiles: the latency histogram per model (the jsonb/json buckets of those rollup rows plus
    raw rows' buckets), then in one statement, per percentile and model, that bucket's latencies in
    the window through the (model_name, latency_ms, timestamp) index, `ORDER BY latency_ms LIMIT k`;
  - histograms are read only where the response shows a percentile read from them (latency series,
    daily-stats), and only the latency one.

Every endpoint also pays a fixed cost the reference does not (session, user, DRF, the response's JSON):
the "request floor" line measures it, so ratios over 2 on windows whose SQL takes a few ms mostly show that.

With --no-rollups the rollup tables are emptied (TRUNCATE / DELETE), the same endpoints are measured
again (every figure from raw rows; at 10 M calls a 30-day window takes seconds), and `refresh_rollups`
then rolls everything up again (timed: a backfill), leaving the database as it was.
Targets: API median <= 100 ms for every endpoint and window, API/SQL <= 2; exact percentiles by model <= 50 ms.
"""

import argparse
import math
import os
import re
import statistics
import sys
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_api import ENV, _client, _get, _paired_medians  # noqa: E402

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/rollups_1m"
ROLLUP_TABLES = (
    "llm_hourly_rollup",
    "llm_daily_rollup",
    "llm_hourly_user",
    "llm_daily_user",
    "llm_hourly_feedback",
    "llm_rolled_up_hour",
)
CALLS = "llm_llmrequestlog"
HOUR = timedelta(hours=1)
API_TARGET_MS, RATIO_TARGET, PERCENTILES_TARGET_MS = 100.0, 2.0, 50.0


def _args(argv):
    parser = argparse.ArgumentParser(prog="bench windows", description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL", DEFAULT_URL))
    parser.add_argument("--windows", default="1h,24h,7d,30d", help="comma-separated spans ending at the last call")
    parser.add_argument("--repeat", type=int, default=5, help="at least this many alternating API/SQL runs")
    parser.add_argument("--seed-rows", type=int, default=0, help="seed up to this many calls (default: never seed)")
    parser.add_argument("--no-rollups", action="store_true", help="also measure with the rollup tables emptied")
    parser.add_argument("--skip-endpoints", action="store_true", help="only the refresh, percentiles and sizes")
    parser.add_argument("--skip-sizes", action="store_true")
    args = parser.parse_args(argv)
    args.spans = {label: _span(label) for label in args.windows.split(",")}
    return args


def _span(label: str) -> timedelta:
    match = re.fullmatch(r"(\d+)([hd])", label.strip())
    if not match:
        raise SystemExit(f"bench windows: --windows takes spans like 1h or 30d, not {label!r}")
    return timedelta(hours=int(match[1]) * (24 if match[2] == "d" else 1))


def _django(url: str):
    os.environ.update({**ENV, "DATABASE_URL": url, "DJANGO_SETTINGS_MODULE": "core.settings"})
    import django

    django.setup()
    from django.db import connection

    return connection


def _timed(function, *args, **kwargs):
    started = time.perf_counter()
    result = function(*args, **kwargs)
    return result, time.perf_counter() - started


# --- The split and the SQL reference ------------------------------------------------------------


@dataclass
class Plan:
    """Where a window's figures come from, as the endpoints split it (llm.analytics.rollups.split_window)."""

    vendor: str
    days: list[date]  # whole fresh UTC days: daily rows
    hours: list[tuple[datetime, datetime]]  # runs of the other fresh hours: hourly rows
    all_hours: list[tuple[datetime, datetime]]  # runs of every fresh hour (hour buckets, feedback)
    raw: list[tuple[datetime, datetime]]  # the rest, half-open: raw rows
    start: datetime
    end: datetime  # exclusive

    def adapt(self, moment: datetime):
        from django.db import connection

        return connection.ops.adapt_datetimefield_value(moment)

    def in_ranges(self, column: str, ranges) -> tuple[str, list]:
        sql = " OR ".join(f"({column} >= %s AND {column} < %s)" for _ in ranges)
        return f"({sql})", [self.adapt(moment) for run in ranges for moment in run]

    def in_days(self) -> tuple[str, list]:
        from django.db import connection

        return f"day IN ({', '.join(['%s'] * len(self.days))})", [
            connection.ops.adapt_datefield_value(day) for day in self.days
        ]

    def day_of(self, column: str) -> str:
        if self.vendor == "postgresql":
            return f"CAST(({column} AT TIME ZONE 'UTC') AS date)"
        return f"substr({column}, 1, 10)"

    def hour_of(self, column: str) -> str:
        if self.vendor == "postgresql":
            return f"(date_trunc('hour', {column} AT TIME ZONE 'UTC') AT TIME ZONE 'UTC')"
        return f"(substr({column}, 1, 13) || ':00:00')"


def _runs(hours: list[datetime]) -> list[tuple[datetime, datetime]]:
    runs: list[list[datetime]] = []
    for hour in hours:
        if runs and runs[-1][1] == hour:
            runs[-1][1] = hour + HOUR
        else:
            runs.append([hour, hour + HOUR])
    return [(a, b) for a, b in runs]


def _plan(cursor, vendor: str, start: datetime, end: datetime) -> Plan:
    """The window's fresh hours (one query), cut into whole days, other hours and raw ranges."""
    end = end + timedelta(microseconds=1)  # the API's end_date is inclusive
    first = start.replace(minute=0, second=0, microsecond=0)
    first += HOUR if first < start else timedelta(0)
    plan = Plan(vendor, [], [], [], [], start, end)
    cursor.execute(
        "SELECT hour FROM llm_rolled_up_hour r WHERE hour >= %s AND hour < %s "
        "AND NOT EXISTS (SELECT 1 FROM llm_changed_hour c WHERE c.hour = r.hour) ORDER BY hour",
        [plan.adapt(first), plan.adapt(end.replace(minute=0, second=0, microsecond=0))],
    )
    hours = [_aware(row[0]) for row in cursor.fetchall()]
    present = set(hours)
    plan.days = sorted({h.date() for h in hours if h.hour == 0 and all(h + HOUR * i in present for i in range(24))})
    plan.hours = _runs([h for h in hours if h.date() not in set(plan.days)])
    plan.all_hours = _runs(hours)
    cursor_at = start
    for a, b in plan.all_hours:
        if cursor_at < a:
            plan.raw.append((cursor_at, a))
        cursor_at = b
    if cursor_at < end:
        plan.raw.append((cursor_at, end))
    return plan


def _aware(value) -> datetime:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)


# Per figure: (rollup-row expression, raw-row aggregate), summed over the parts by the outer query.
# {sum} is the unit suffix of the rollups' latency sums (`ms`, or `us` from migration 0009 on), {scale}
# what turns a raw latency into that unit.
FIGURES = {
    "calls": ("calls", "COUNT(*)"),
    "errors": ("CASE WHEN status = 'error' THEN calls ELSE 0 END", "SUM(CASE WHEN status = 'error' THEN 1 ELSE 0 END)"),
    "prompt_tokens": ("prompt_tokens", "SUM(prompt_tokens)"),
    "completion_tokens": ("completion_tokens", "SUM(completion_tokens)"),
    "total_tokens": ("total_tokens", "SUM(total_tokens)"),
    "cost_micros": ("cost_micros", "SUM(round(cost_estimate * 1000000))"),
    "priced_calls": ("priced_calls", "COUNT(cost_estimate)"),
    "latency_sum": ("latency_sum_{sum}", "SUM(round(latency_ms{scale}))"),
    "ttft_calls": ("ttft_calls", "COUNT(time_to_first_token_ms)"),
    "ttft_sum": ("ttft_sum_{sum}", "SUM(round(time_to_first_token_ms{scale}))"),
}
SUM_UNIT = {"sum": "ms", "scale": ""}


def _sum_unit(connection) -> None:
    with connection.cursor() as cursor:
        columns = {c.name for c in connection.introspection.get_table_description(cursor, "llm_hourly_rollup")}
    if "latency_sum_us" in columns:
        SUM_UNIT.update(sum="us", scale=" * 1000")


TOKENS = ("calls", "prompt_tokens", "completion_tokens", "total_tokens", "cost_micros", "priced_calls")
PER_MODEL = (*TOKENS, "errors", "latency_sum")
LATENCY = ("calls", "latency_sum", "ttft_calls", "ttft_sum")
DAILY = ("calls", "errors", "total_tokens", "cost_micros", "priced_calls", "latency_sum")


def _keys(plan: Plan, keys: tuple[str, ...], source: str) -> list[str]:
    """The group keys' expressions on a part: `source` is daily, hourly or raw."""
    column = {"daily": "day", "hourly": "hour", "raw": '"timestamp"'}[source]
    found = []
    for key in keys:
        if key == "day":
            found.append(column if source == "daily" else plan.day_of(column))
        elif key == "hour":
            found.append("hour" if source == "hourly" else plan.hour_of(column))
        else:
            found.append(key)
    return [f"{expr} AS k{i}" for i, expr in enumerate(found)]


def _parts(plan: Plan, daily: str, hourly: str, raw: str, *, raw_where: str = "", by_hour=False):
    """(FROM-and-WHERE of each non-empty part, params): whole days, other hours, raw ranges."""
    parts = []
    hours = plan.all_hours if by_hour else plan.hours
    if plan.days and not by_hour and daily:
        where, params = plan.in_days()
        parts.append(("daily", f"FROM {daily} WHERE {where}", params))
    if hours:
        where, params = plan.in_ranges("hour", hours)
        parts.append(("hourly", f"FROM {hourly} WHERE {where}", params))
    if plan.raw:
        where, params = plan.in_ranges('"timestamp"', plan.raw)
        parts.append(("raw", f"FROM {raw} WHERE {where}{raw_where}", params))
    return parts


def _fetch(cursor, sql: str, params: list) -> list[tuple]:
    cursor.execute(sql, params)
    return cursor.fetchall()


def ref_sums(cursor, plan: Plan, keys: tuple[str, ...], figures: tuple[str, ...], *, by_hour=False):
    """Sums of `figures` per `keys` over the rollup rows and the raw rows of the window, one statement."""
    members, params = [], []
    for source, from_where, part_params in _parts(
        plan, "llm_daily_rollup", "llm_hourly_rollup", CALLS, by_hour=by_hour
    ):
        key_sql = _keys(plan, keys, source)
        if source == "raw":
            values = [f"{FIGURES[f][1].format(**SUM_UNIT)} AS {f}" for f in figures]
            grouped = f" GROUP BY {', '.join(e.rsplit(' AS ', 1)[0] for e in key_sql)}" if keys else ""
        else:
            values, grouped = [f"{FIGURES[f][0].format(**SUM_UNIT)} AS {f}" for f in figures], ""
        members.append(f"SELECT {', '.join([*key_sql, *values])} {from_where}{grouped}")
        params += part_params
    if not members:
        return []
    outer_keys = [f"k{i}" for i in range(len(keys))]
    sums = [f"SUM({f})" for f in figures]
    grouped = f" GROUP BY {', '.join(outer_keys)}" if keys else ""
    return _fetch(
        cursor, f"SELECT {', '.join([*outer_keys, *sums])} FROM ({' UNION ALL '.join(members)}) AS p{grouped}", params
    )


def ref_histograms(cursor, plan: Plan, keys: tuple[str, ...], *, by_hour=False) -> dict:
    """{key tuple: {bucket: count}} of latency, from the rollup rows' histograms and the raw rows."""
    from llm.analytics.rollups import GAMMA, ZERO_BUCKET

    if plan.vendor == "postgresql":
        pairs, bucket = "CROSS JOIN LATERAL jsonb_each_text(latency_histogram) AS h", "CAST(h.key AS INTEGER)"
        count = "CAST(h.value AS BIGINT)"
    else:
        pairs, bucket, count = ", json_each(latency_histogram) AS h", "CAST(h.key AS INTEGER)", "h.value"
    raw_bucket = (
        f"CASE WHEN latency_ms > 0 THEN CAST(ceil(ln(latency_ms) / {math.log(GAMMA)!r}) AS INTEGER) "
        f"ELSE {ZERO_BUCKET} END"
    )
    members, params = [], []
    for source, from_where, part_params in _parts(
        plan,
        "llm_daily_rollup",
        "llm_hourly_rollup",
        CALLS,
        raw_where=" AND latency_ms IS NOT NULL",
        by_hour=by_hour,
    ):
        key_sql = _keys(plan, keys, source)
        if source == "raw":
            exprs = [e.rsplit(" AS ", 1)[0] for e in key_sql]
            members.append(
                f"SELECT {', '.join([*key_sql, f'{raw_bucket} AS b', 'COUNT(*) AS n'])} {from_where} "
                f"GROUP BY {', '.join([*exprs, raw_bucket])}"
            )
        else:
            table, where = from_where.removeprefix("FROM ").split(" WHERE ", 1)
            members.append(
                f"SELECT {', '.join([*key_sql, f'{bucket} AS b', f'{count} AS n'])} FROM {table} {pairs} WHERE {where}"
            )
        params += part_params
    if not members:
        return {}
    outer = [f"k{i}" for i in range(len(keys))]
    rows = _fetch(
        cursor,
        f"SELECT {', '.join([*outer, 'b', 'SUM(n)'])} FROM ({' UNION ALL '.join(members)}) AS p "
        f"GROUP BY {', '.join([*outer, 'b'])}",
        params,
    )
    found: dict = {}
    for *key, b, n in rows:
        found.setdefault(tuple(key), {})[int(b)] = int(n)
    return found


def ref_users(cursor, plan: Plan, *, by_day=False) -> list[tuple]:
    """Distinct non-blank users (per day) over daily and hourly presence and the raw rows, one statement."""
    keys = ("day",) if by_day else ()
    members, params = [], []
    for source, from_where, part_params in _parts(
        plan, "llm_daily_user", "llm_hourly_user", CALLS, raw_where=" AND user_id <> ''"
    ):
        members.append(f"SELECT {', '.join([*_keys(plan, keys, source), 'user_id'])} {from_where}")
        params += part_params
    if not members:
        return []
    key = "k0, " if by_day else ""
    return _fetch(
        cursor,
        f"SELECT {key}COUNT(*) FROM (SELECT DISTINCT {key}user_id FROM ({' UNION ALL '.join(members)}) AS p) AS u"
        + (" GROUP BY k0" if by_day else ""),
        params,
    )


def ref_percentiles(cursor, plan: Plan, fractions: tuple[float, ...], *, by_model: bool) -> dict:
    """Exact latency percentiles (numpy's linear interpolation): the histogram per model says which bucket
    holds each rank; one statement reads, per percentile and model, that bucket's window latencies through the
    (model_name, latency_ms, timestamp) index, at most as many as can matter."""
    from llm.analytics.rollups import GAMMA, ZERO_BUCKET

    histograms = {key[0]: h for key, h in ref_histograms(cursor, plan, ("model_name",)).items()}
    groups = {m: [m] for m in histograms} if by_model else {None: sorted(histograms)}
    hint = " INDEXED BY llm_log_model_latency_idx" if plan.vendor == "sqlite" else ""
    terms, statements, params = [], [], []
    for key, models in groups.items():
        merged: dict[int, int] = {}
        for m in models:
            for b, n in histograms[m].items():
                merged[b] = merged.get(b, 0) + n
        total = sum(merged.values())
        for fraction in fractions if total else ():
            position = fraction * (total - 1)
            below, rank = 0, math.floor(position)
            for bucket in sorted(merged):
                if rank < below + merged[bucket]:
                    break
                below += merged[bucket]
            offset = rank - below
            members = []
            for m in models:
                if max(histograms[m]) < bucket:
                    continue
                members.append(
                    f"SELECT latency_ms FROM (SELECT latency_ms FROM {CALLS}{hint} WHERE model_name = %s "
                    f'AND "timestamp" >= %s AND "timestamp" < %s AND latency_ms > %s '
                    f"ORDER BY latency_ms LIMIT {min(offset + 2, histograms[m].get(bucket, 0) + 1)}) AS m{len(params)}"
                )
                floor = -1.0 if bucket == ZERO_BUCKET else GAMMA ** (bucket - 1)
                params += [m, plan.adapt(plan.start), plan.adapt(plan.end), floor]
            tag = len(terms)
            terms.append((key, fraction, position))
            statements.append(
                f"SELECT {tag} AS tag, latency_ms FROM (SELECT latency_ms FROM ({' UNION ALL '.join(members)}) "
                f"AS u ORDER BY latency_ms LIMIT 2 OFFSET {offset}) AS t{tag}"
            )
    values: dict[int, list[float]] = {}
    if statements:
        for tag, value in _fetch(cursor, " UNION ALL ".join(statements), params):
            values.setdefault(tag, []).append(value)
    result = {key: {f: None for f in fractions} for key in groups}
    for tag, (key, fraction, position) in enumerate(terms):
        low, *high = sorted(values.get(tag, [None]))
        weight = position - math.floor(position)
        result[key][fraction] = low if not high or low is None else low + (high[0] - low) * weight
    return result


def ref_recent_errors(cursor, plan: Plan):
    return _fetch(
        cursor,
        f'SELECT request_id, "timestamp", model_name, error_type, http_status, latency_ms, user_id, '
        f'substr(error_message, 1, 200) FROM {CALLS} WHERE "timestamp" >= %s AND "timestamp" < %s '
        f"AND status = 'error' ORDER BY \"timestamp\" DESC, id DESC LIMIT 10",
        [plan.adapt(plan.start), plan.adapt(plan.end)],
    )


def ref_feedback(cursor, plan: Plan):
    """Feedback per (day, model of the rated call, rating): llm_hourly_feedback for every fresh hour, the
    feedback rows joined to their calls for the rest (by created_at)."""
    members, params = [], []
    if plan.all_hours:
        where, part_params = plan.in_ranges("hour", plan.all_hours)
        members.append(
            f'SELECT {plan.day_of("hour")} AS k0, model_name AS k1, rating AS k2, "count" AS n '
            f"FROM llm_hourly_feedback WHERE {where}"
        )
        params += part_params
    if plan.raw:
        where, part_params = plan.in_ranges("f.created_at", plan.raw)
        members.append(
            f"SELECT {plan.day_of('f.created_at')} AS k0, c.model_name AS k1, f.rating AS k2, COUNT(*) AS n "
            f"FROM llm_userfeedback f JOIN {CALLS} c ON c.id = f.request_id WHERE {where} GROUP BY 1, 2, 3"
        )
        params += part_params
    if not members:
        return []
    return _fetch(
        cursor, f"SELECT k0, k1, k2, SUM(n) FROM ({' UNION ALL '.join(members)}) AS p GROUP BY k0, k1, k2", params
    )


def _overview(cursor, plan):
    return (
        ref_sums(cursor, plan, (), tuple(FIGURES)),
        ref_percentiles(cursor, plan, (0.5, 0.95, 0.99), by_model=False)[None],
        ref_users(cursor, plan),
    )


# endpoint label -> (path, query, reference(cursor, plan))
ENDPOINTS = {
    "overview": ("/api/metrics/overview/", "", _overview),
    "token-usage (day)": ("/api/metrics/token-usage/", "group_by=day", lambda c, p: ref_sums(c, p, ("day",), TOKENS)),
    "token-usage (hour)": (
        "/api/metrics/token-usage/",
        "group_by=hour",
        lambda c, p: ref_sums(c, p, ("hour",), TOKENS, by_hour=True),
    ),
    "latency (hour)": (
        "/api/metrics/latency/",
        "group_by=hour",
        lambda c, p: (
            ref_sums(c, p, ("model_name",), LATENCY),
            ref_percentiles(c, p, (0.5, 0.95, 0.99), by_model=True),
            ref_sums(c, p, ("hour", "model_name"), ("calls", "latency_sum"), by_hour=True),
            ref_histograms(c, p, ("hour", "model_name"), by_hour=True),
        ),
    ),
    "errors": (
        "/api/metrics/errors/",
        "",
        lambda c, p: (ref_sums(c, p, ("model_name", "error_type"), ("calls", "errors")), ref_recent_errors(c, p)),
    ),
    "model-usage": (
        "/api/metrics/model-usage/",
        "",
        lambda c, p: (ref_sums(c, p, ("model_name",), PER_MODEL), ref_percentiles(c, p, (0.95,), by_model=True)),
    ),
    "daily-stats": (
        "/api/metrics/daily-stats/",
        "",
        lambda c, p: (ref_sums(c, p, ("day",), DAILY), ref_histograms(c, p, ("day",)), ref_users(c, p, by_day=True)),
    ),
    "feedback analytics": ("/api/feedback/analytics/", "", ref_feedback),
}


# --- Measuring ------------------------------------------------------------------------------------


def _reference(connection, start: datetime, end: datetime, reference):
    def run():
        with connection.cursor() as cursor:
            return reference(cursor, _plan(cursor, connection.vendor, start, end))

    return run


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def _check_overview(connection, client, start: datetime, end: datetime, label: str) -> None:
    """One line if the reference's calls, percentiles or users differ from the API's (its timing would mislead)."""
    body = client.get(f"/api/metrics/overview/?start_date={_iso(start)}&end_date={_iso(end)}").json()
    sums, percentiles, users = _reference(connection, start, end, _overview)()
    found = {
        "total_calls": sums[0][0] if sums else 0,
        "p50_latency_ms": percentiles[0.5],
        "p95_latency_ms": percentiles[0.95],
        "p99_latency_ms": percentiles[0.99],
        "unique_users": users[0][0] if users else 0,
    }
    wrong = [
        f"{name} api {body[name]} sql {value}"
        for name, value in found.items()
        if (body[name] is None) != (value is None)
        or (value is not None and abs(float(body[name]) - float(value)) > 0.001)
    ]
    if wrong:
        print(f"  check overview {label}: the SQL reference differs: {'; '.join(wrong)}", flush=True)


def _request_floor(client, last: datetime) -> float:
    """Median ms of a request that finds nothing (errors, an empty second after the last call): the session,
    the user, DRF and two empty index probes, which every endpoint pays and the SQL reference does not."""
    after = last + timedelta(days=1)
    call = _get(client, f"/api/metrics/errors/?start_date={_iso(after)}&end_date={_iso(after + timedelta(seconds=1))}")
    call()
    return statistics.median(_timed(call)[1] * 1000 for _ in range(25))


def bench_endpoints(args, connection, client, last: datetime, *, targets: bool) -> None:
    print(f"request floor (errors over an empty second): {_request_floor(client, last):.1f} ms", flush=True)
    print(f"{'endpoint':<22}{'window':>7}{'api ms':>10}{'sql ms':>10}{'ratio':>8}", flush=True)
    for label, span in args.spans.items():
        _check_overview(connection, client, last - span, last, label)
    for name, (path, query, reference) in ENDPOINTS.items():
        for label, span in args.spans.items():
            start = last - span
            url = f"{path}?start_date={_iso(start)}&end_date={_iso(last)}" + (f"&{query}" if query else "")
            api, sql = _paired_medians(_get(client, url), _reference(connection, start, last, reference), args.repeat)
            over = []
            if targets and api > API_TARGET_MS:
                over.append(f"over {API_TARGET_MS:.0f} ms")
            if targets and api / sql > RATIO_TARGET:
                over.append(f"ratio over {RATIO_TARGET:g}")
            note = f"  ({', '.join(over)})" if over else ""
            print(f"{name:<22}{label:>7}{api:>10.1f}{sql:>10.1f}{api / sql:>8.2f}{note}", flush=True)


def bench_percentiles(args, connection, last: datetime, *, targets: bool) -> None:
    from llm.analytics.filters import LogFilters
    from llm.analytics.rollups import exact_latency_percentiles

    print("\nexact_latency_percentiles(by_model=True), P50/P95/P99, against the same reads in SQL", flush=True)
    print(f"{'percentiles':<22}{'window':>7}{'ms':>10}{'sql ms':>10}{'ratio':>8}", flush=True)
    for label, span in args.spans.items():
        start = last - span
        filters = LogFilters(start=start, end=last)
        ours, sql = _paired_medians(
            lambda f=filters: exact_latency_percentiles(filters=f, by_model=True),
            _reference(connection, start, last, lambda c, p: ref_percentiles(c, p, (0.5, 0.95, 0.99), by_model=True)),
            args.repeat,
        )
        note = f"  (over {PERCENTILES_TARGET_MS:.0f} ms)" if targets and ours > PERCENTILES_TARGET_MS else ""
        print(f"{'':<22}{label:>7}{ours:>10.1f}{sql:>10.1f}{ours / sql:>8.2f}{note}", flush=True)


def print_sizes(connection) -> None:
    """Bytes of the calls table, each of its indexes and each rollup table, and their rows."""
    with connection.cursor() as cursor:
        counts = {table: _fetch(cursor, f"SELECT COUNT(*) FROM {table}", [])[0][0] for table in (CALLS, *ROLLUP_TABLES)}
        if connection.vendor == "postgresql":
            sizes, title = _postgresql_sizes(cursor), "sizes (MB)"
        else:
            sizes, title = _sqlite_sizes(cursor), "sizes (MB, SQLite dbstat)"
    if sizes is None:
        print("\nsizes: skipped (this SQLite has no dbstat virtual table); rows:")
        print("\n".join(f"{table:<44}{count:>13,}" for table, count in counts.items()))
        return
    print(f"\n{title:<44}{'total':>9}{'table':>9}{'indexes':>9}{'rows':>13}")
    for table in (CALLS, *ROLLUP_TABLES):
        total, heap, index_bytes, indexes = sizes[table]
        print(f"{table:<44}{total / 2**20:>9.1f}{heap / 2**20:>9.1f}{index_bytes / 2**20:>9.1f}{counts[table]:>13,}")
        for index, size in indexes if table == CALLS else ():
            print(f"  {index:<42}{'':>18}{size / 2**20:>9.1f}")


def _postgresql_sizes(cursor) -> dict[str, tuple[int, int, int, list]]:
    """{table: (pg_total_relation_size, pg_relation_size, pg_indexes_size, [(index, bytes)])}; the total
    also counts TOAST (long texts), so it can exceed table + indexes."""
    found = {}
    for table in (CALLS, *ROLLUP_TABLES):
        ((total, heap, index_bytes),) = _fetch(
            cursor, "SELECT pg_total_relation_size(%s), pg_relation_size(%s), pg_indexes_size(%s)", [table] * 3
        )
        indexes = _fetch(
            cursor,
            "SELECT indexrelid::regclass::text, pg_relation_size(indexrelid) FROM pg_index "
            "WHERE indrelid = %s::regclass ORDER BY 2 DESC",
            [table],
        )
        found[table] = (total, heap, index_bytes, indexes)
    return found


def _sqlite_sizes(cursor) -> dict[str, tuple[int, int, int, list]] | None:
    """The same from dbstat (it visits every page of the file: seconds on a multi-GB file); None without it."""
    from django.db import OperationalError

    try:
        size = dict(_fetch(cursor, "SELECT name, SUM(pgsize) FROM dbstat GROUP BY name", []))
    except OperationalError:
        return None
    owners = _fetch(cursor, "SELECT name, tbl_name FROM sqlite_master WHERE type = 'index'", [])
    found = {}
    for table in (CALLS, *ROLLUP_TABLES):
        indexes = sorted(((i, size.get(i, 0)) for i, t in owners if t == table), key=lambda pair: -pair[1])
        index_bytes = sum(b for _, b in indexes)
        found[table] = (size.get(table, 0) + index_bytes, size.get(table, 0), index_bytes, indexes)
    return found


# --- Setting up ------------------------------------------------------------------------------------


def _seed(connection, wanted: int) -> bool:
    from django.core.management import call_command

    from llm.models import LLMRequestLog

    call_command("migrate", verbosity=0, interactive=False)
    have = LLMRequestLog.objects.count()
    if have >= wanted:
        return False
    print(f"seeding {wanted - have:,} calls ...", flush=True)
    _, seconds = _timed(
        call_command, "generate_sample_data", count=wanted - have, days=30, seed=1, text_chars=200, verbosity=0
    )
    print(f"seeded in {seconds:.0f} s", flush=True)
    return True


def _refresh(connection, label: str) -> None:
    from llm.analytics.rollups import refresh_rollups

    result, seconds = _timed(refresh_rollups)
    started = time.perf_counter()
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(f"ANALYZE {CALLS}, llm_userfeedback, llm_changed_hour, {', '.join(ROLLUP_TABLES)}")
        else:
            cursor.execute("ANALYZE")
    print(
        f"{label}: {result.hours:,} hours, {result.calls:,} calls in {seconds:.2f} s"
        f"{f' ({result.changed} changed since their roll-up)' if result.changed else ''}; "
        f"ANALYZE {time.perf_counter() - started:.1f} s",
        flush=True,
    )


def _empty_rollups(connection) -> None:
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(f"TRUNCATE {', '.join(ROLLUP_TABLES)}")
            cursor.execute(f"ANALYZE {', '.join(ROLLUP_TABLES)}")
        else:
            for table in ROLLUP_TABLES:
                cursor.execute(f"DELETE FROM {table}")


def main(argv) -> int:
    args = _args(argv)
    connection = _django(args.database_url)
    from django.db.models import Max

    from llm.models import LLMRequestLog, UserFeedback

    if args.seed_rows:
        _seed(connection, args.seed_rows)
    _sum_unit(connection)
    _refresh(connection, "refresh_rollups")
    calls, last = LLMRequestLog.objects.count(), LLMRequestLog.objects.aggregate(last=Max("timestamp"))["last"]
    if last is None:
        raise SystemExit("bench windows: no calls stored; seed some with --seed-rows N")
    print(
        f"\n## {connection.vendor} {connection.settings_dict['NAME']}: {calls:,} calls, "
        f"{UserFeedback.objects.count():,} feedback, windows end at the last call {_iso(last)}; "
        f"median ms of at least {args.repeat} alternating API/SQL runs",
        flush=True,
    )
    if not args.skip_sizes:
        print_sizes(connection)
    client = _client()
    print("\n# rollups fresh", flush=True)
    if not args.skip_endpoints:
        bench_endpoints(args, connection, client, last, targets=True)
    bench_percentiles(args, connection, last, targets=True)
    if args.no_rollups:
        _empty_rollups(connection)
        print(f"\n# no rollups (--no-rollups: {', '.join(ROLLUP_TABLES)} emptied; every figure from raw rows)")
        if not args.skip_endpoints:
            bench_endpoints(args, connection, client, last, targets=False)
        bench_percentiles(args, connection, last, targets=False)
        print()
        _refresh(connection, "rolled up again (refresh_rollups after --no-rollups)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
