"""API and metrics benchmark (issue 4): each endpoint through the Django test client vs one
hand-written SQL for the same figure, the logs list, and the CSV export's rate and peak memory.

    bench/run.py api [--databases postgresql,sqlite] [--pg-url URL] [--sqlite-path PATH]
                     [--rows N] [--repeat 3] [--export-rows 100000,1000000] [--skip-export] [--skip-metrics]

Each database runs in its own child process (Django settings are per process). A database that
holds fewer than --rows calls is seeded first with
`generate_sample_data --count N --days 30 --text-chars 1000 --seed 1` (prompts and responses ~1 KB).
"""

import argparse
import csv
import os
import statistics
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_PG = "postgres://postgres@127.0.0.1:5432/wt_metrics_bench"
DEFAULT_SQLITE = "/tmp/metrics-bench/bench.sqlite3"
ENV = {
    "DJANGO_SECRET_KEY": "bench-only-secret",
    "DEBUG": "False",
    "SECURE_SSL_REDIRECT": "False",
    "SESSION_COOKIE_SECURE": "False",
    "CSRF_COOKIE_SECURE": "False",
    "SECURE_HSTS_SECONDS": "0",
    "LOG_LEVEL": "ERROR",
    "GROQ_API_KEY": "gsk_bench_fake",
}


def _args(argv):
    parser = argparse.ArgumentParser(prog="bench api")
    parser.add_argument("--databases", default="postgresql,sqlite")
    parser.add_argument("--pg-url", default=DEFAULT_PG)
    parser.add_argument("--sqlite-path", default=DEFAULT_SQLITE)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--export-rows", default="100000,1000000")
    parser.add_argument("--skip-export", action="store_true")
    parser.add_argument("--skip-metrics", action="store_true", help="only the export (and the logs list)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv) -> int:
    args = _args(argv)
    if args.child:
        return _child(args)
    status = 0
    for vendor in args.databases.split(","):
        url = args.pg_url if vendor == "postgresql" else f"sqlite:///{args.sqlite_path}"
        env = {**os.environ, **ENV, "DATABASE_URL": url}
        child = [sys.executable, __file__, *argv, "--child", "--databases", vendor]
        status = max(status, subprocess.call(child, env=env, cwd=ROOT))
    return status


# --- Child: one database ------------------------------------------------------------------


def _setup(args):
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "core.settings")
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", verbosity=0, interactive=False)
    from llm.models import LLMRequestLog

    have = LLMRequestLog.objects.count()
    if have < args.rows:
        print(f"seeding {args.rows - have} rows into {connection.vendor} ...", flush=True)
        started = time.perf_counter()
        call_command("generate_sample_data", count=args.rows - have, days=30, text_chars=1000, seed=1, verbosity=0)
        print(f"seeded in {time.perf_counter() - started:.0f} s", flush=True)
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE llm_llmrequestlog" if connection.vendor == "postgresql" else "ANALYZE")
    return connection


def _paired_medians(api, sql, repeat: int) -> tuple[float, float]:
    """Median ms of `api` and of `sql`, run alternately so both see the same machine load.

    After one warm-up of each (caches, plans, connection), at least `repeat` pairs; pairs that take
    under a second run more often (up to 25) so that a few milliseconds of noise cannot swing the
    ratio of the short windows.
    """
    api(), sql()
    api_ms, sql_ms = [], []
    while len(api_ms) < repeat or (len(api_ms) < 25 and sum(api_ms) + sum(sql_ms) < 1000):
        for fn, times in ((api, api_ms), (sql, sql_ms)):
            started = time.perf_counter()
            fn()
            times.append((time.perf_counter() - started) * 1000)
    return statistics.median(api_ms), statistics.median(sql_ms)


def _client():
    from django.contrib.auth import get_user_model
    from django.test import Client

    user, _ = get_user_model().objects.get_or_create(username="bench", defaults={"is_staff": True})
    client = Client(SERVER_NAME="localhost")
    client.force_login(user)
    return client


def _get(client, url):
    def call():
        response = client.get(url)
        if response.status_code != 200:
            raise SystemExit(f"{url} answered {response.status_code}: {response.content[:300]!r}")
        return response

    return call


def _sql(connection, statements, params):
    def run():
        with connection.cursor() as cursor:
            for sql in statements:
                if callable(sql):
                    sql(cursor, params)
                    continue
                cursor.execute(sql, params)
                cursor.fetchall()

    return run


def _sqlite_percentiles(group: str | None, fractions: tuple[int, ...], range_of=None):
    """SQLite has no percentile function. The reference is the fastest exact method we found:
    for the whole window, one row_number() window query keeping the ranks around each percentile;
    per model, `LIMIT 2 OFFSET k` terms walking the (model_name, latency_ms, timestamp) index; per
    day, the row count per day then one UNION ALL of `ORDER BY latency_ms
    LIMIT 2 OFFSET k` terms, each over that day's slice of the timestamp index."""

    def window(cursor, params):
        partition = f"PARTITION BY {group}" if group else ""
        ranks = ", ".join(f"CAST((n - 1) * {f / 100!r} AS INTEGER) + {d}" for f in fractions for d in (1, 2))
        cursor.execute(
            f"SELECT * FROM (SELECT latency_ms, row_number() OVER ({partition} ORDER BY latency_ms) AS rn, "
            f"count(*) OVER ({partition}) AS n FROM {T} WHERE {W}) WHERE rn IN ({ranks})",
            params,
        )
        cursor.fetchall()

    def model_walk(cursor, params):
        # Per model the (model_name, latency_ms, timestamp) index is already in latency order.
        cursor.execute(f"SELECT model_name, count(*) FROM {T} WHERE {W} GROUP BY 1", params)
        terms, values = [], dict(params)
        for i, (model, n) in enumerate(cursor.fetchall()):
            values[f"m{i}"] = model
            for fraction in fractions:
                terms.append(
                    f"SELECT * FROM (SELECT {i}, latency_ms FROM {T} INDEXED BY llm_log_model_latency_idx "
                    f"WHERE model_name = %(m{i})s AND {W} ORDER BY latency_ms LIMIT 2 "
                    f"OFFSET {(n - 1) * fraction // 100})"
                )
        if terms:
            cursor.execute(" UNION ALL ".join(terms), values)
            cursor.fetchall()

    def slices(cursor, params):
        cursor.execute(f"SELECT {group}, count(*) FROM {T} WHERE {W} GROUP BY 1", params)
        terms, values = [], dict(params)
        for i, (key, n) in enumerate(cursor.fetchall()):
            values[f"s{i}"], values[f"e{i}"] = range_of(key)
            for fraction in fractions:
                terms.append(
                    f"SELECT * FROM (SELECT {i}, latency_ms FROM {T} WHERE timestamp >= %(s{i})s "
                    f"AND timestamp < %(e{i})s AND {W} ORDER BY latency_ms LIMIT 2 "
                    f"OFFSET {(n - 1) * fraction // 100})"
                )
        if terms:
            cursor.execute(" UNION ALL ".join(terms), values)
            cursor.fetchall()

    if range_of is not None:
        return slices
    return model_walk if group == "model_name" else window


def _postgresql_days_lateral(p95: str):
    """Each UTC day's figures over that day's slice of the index (CROSS JOIN LATERAL), the days
    passed as an array: faster than GROUP BY day (which sorts the whole window on disk for the
    P95 and the distinct users), and an array's length is known to the planner, so no JIT."""

    def run(cursor, params):
        day = params["start"].replace(hour=0, minute=0, second=0, microsecond=0)
        days = []
        while day <= params["end"]:
            days.append(day)
            day += timedelta(days=1)
        cursor.execute(
            f"SELECT days.day, d.* FROM unnest(%(days)s::timestamptz[]) AS days(day) CROSS JOIN LATERAL ("
            f"SELECT count(*), count(*) FILTER (WHERE status='error'), sum(total_tokens), sum(cost_estimate), "
            f"count(cost_estimate), avg(latency_ms), {p95}, count(DISTINCT user_id) FILTER (WHERE user_id <> '') "
            f"FROM {T} WHERE {W} AND timestamp >= days.day AND timestamp < days.day + interval '1 day') d",
            {**params, "days": days},
        )
        cursor.fetchall()

    return run


def _sqlite_day_range(day: str) -> tuple[str, str]:
    from datetime import date

    start = date.fromisoformat(day)
    return f"{start} 00:00:00", f"{start + timedelta(days=1)} 00:00:00"


def _child(args) -> int:
    connection = _setup(args)
    from llm.models import LLMRequestLog

    vendor = connection.vendor
    total = LLMRequestLog.objects.count()
    last = LLMRequestLog.objects.order_by("-timestamp").values_list("timestamp", flat=True).first()
    print(
        f"\n## {vendor}: {total:,} rows, at least {args.repeat} alternating API/SQL runs each (median ms)", flush=True
    )
    client = _client()

    windows = {"24h": timedelta(hours=24), "7d": timedelta(days=7), "30d": timedelta(days=30)}
    print(f"{'endpoint':<34}{'window':>7}{'api ms':>10}{'sql ms':>10}{'ratio':>8}", flush=True)
    for name, (path, statements) in _reference_sql(vendor).items():
        if args.skip_metrics:
            break
        for label, span in windows.items():
            start, end = last - span, last
            query = (
                f"start_date={start.isoformat().replace('+00:00', 'Z')}"
                f"&end_date={end.isoformat().replace('+00:00', 'Z')}"
            )
            api, sql = _paired_medians(
                _get(client, f"{path}?{query}"),
                _sql(connection, statements, _params(vendor, start, end, statements)),
                args.repeat,
            )
            print(f"{name:<34}{label:>7}{api:>10.1f}{sql:>10.1f}{api / sql:>8.2f}", flush=True)
    _bench_logs(args, connection, client, vendor)
    if not args.skip_export:
        _bench_export(args, connection, client, vendor, last)
    return 0


def _params(vendor, start, end, statements):
    if vendor == "sqlite":
        start, end = (moment.strftime("%Y-%m-%d %H:%M:%S.%f") for moment in (start, end))
    # Every statement takes the window as its only named parameters.
    return {"start": start, "end": end}


T = "llm_llmrequestlog"
W = "timestamp >= %(start)s AND timestamp <= %(end)s"


def _reference_sql(vendor) -> dict[str, tuple[str, list[str]]]:
    """The same figures each endpoint returns, as the fastest hand-written SQL we know for each.
    SQLite has no percentile function: there the reference is the counts plus one UNION ALL of
    `LIMIT 2 OFFSET k` terms."""
    # Distinct users from a DISTINCT subquery: the database hashes instead of sorting every row for
    # COUNT(DISTINCT ...) (PostgreSQL, 30 days: ~0.5 s against ~1.1 s), as llm.analytics.metrics does too.
    day = "date_trunc('day', timestamp AT TIME ZONE 'UTC')" if vendor == "postgresql" else "substr(timestamp, 1, 10)"
    users = f"SELECT count(*) FROM (SELECT DISTINCT user_id FROM {T} WHERE {W} AND user_id <> '') u"
    users_per_day = (
        f"SELECT d, count(*) FROM (SELECT DISTINCT {day} AS d, user_id FROM {T} "
        f"WHERE {W} AND user_id <> '') u GROUP BY d"
    )
    if vendor == "postgresql":
        pct = (
            "percentile_cont(0.5) WITHIN GROUP (ORDER BY latency_ms), "
            "percentile_cont(0.95) WITHIN GROUP (ORDER BY latency_ms), "
            "percentile_cont(0.99) WITHIN GROUP (ORDER BY latency_ms)"
        )
        p95 = "percentile_cont(0.95) WITHIN GROUP (ORDER BY latency_ms)"
        return {
            "overview": (
                "/api/metrics/overview/",
                [
                    f"SELECT count(*), count(*) FILTER (WHERE status='error'), sum(prompt_tokens), "
                    f"sum(completion_tokens), sum(total_tokens), avg(latency_ms), sum(cost_estimate), "
                    f"count(cost_estimate), min(timestamp), max(timestamp) FROM {T} WHERE {W}",
                    users,
                    f"SELECT {pct} FROM {T} WHERE {W}",
                ],
            ),
            "token-usage (day)": (
                "/api/metrics/token-usage/",
                [
                    f"SELECT {day}, count(*), sum(prompt_tokens), sum(completion_tokens), sum(total_tokens), "
                    f"sum(cost_estimate) FROM {T} WHERE {W} GROUP BY 1"
                ],
            ),
            "latency (per model)": (
                "/api/metrics/latency/",
                [
                    f"SELECT model_name, count(*), avg(latency_ms), min(latency_ms), max(latency_ms), "
                    f"avg(time_to_first_token_ms) FROM {T} WHERE {W} GROUP BY 1",
                    f"SELECT model_name, {pct} FROM {T} WHERE {W} GROUP BY 1",
                ],
            ),
            "errors": (
                "/api/metrics/errors/",
                [
                    f"SELECT model_name, count(*), count(*) FILTER (WHERE status='error') "
                    f"FROM {T} WHERE {W} GROUP BY 1",
                    f"SELECT error_type, count(*) FROM {T} WHERE {W} AND status='error' GROUP BY 1",
                    f"SELECT request_id, timestamp, model_name, error_type, http_status, latency_ms, user_id, "
                    f"substr(error_message, 1, 200) FROM {T} WHERE {W} AND status='error' "
                    f"ORDER BY timestamp DESC, id DESC LIMIT 10",
                ],
            ),
            "model-usage": (
                "/api/metrics/model-usage/",
                [
                    f"SELECT model_name, count(*), count(*) FILTER (WHERE status='error'), sum(prompt_tokens), "
                    f"sum(completion_tokens), sum(total_tokens), sum(cost_estimate), avg(latency_ms) "
                    f"FROM {T} WHERE {W} GROUP BY 1",
                    f"SELECT model_name, {p95} FROM {T} WHERE {W} GROUP BY 1",
                ],
            ),
            "daily-stats": ("/api/metrics/daily-stats/", [_postgresql_days_lateral(p95)]),
        }
    errors = "sum(status = 'error')"
    return {
        "overview": (
            "/api/metrics/overview/",
            [
                f"SELECT count(*), {errors}, sum(prompt_tokens), sum(completion_tokens), sum(total_tokens), "
                f"avg(latency_ms), sum(cost_estimate), count(cost_estimate), min(timestamp), max(timestamp) "
                f"FROM {T} WHERE {W}",
                users,
                _sqlite_percentiles(None, (50, 95, 99)),
            ],
        ),
        "token-usage (day)": (
            "/api/metrics/token-usage/",
            [
                f"SELECT {day}, count(*), sum(prompt_tokens), sum(completion_tokens), sum(total_tokens), "
                f"sum(cost_estimate) FROM {T} WHERE {W} GROUP BY 1"
            ],
        ),
        "latency (per model)": (
            "/api/metrics/latency/",
            [
                f"SELECT model_name, count(*), avg(latency_ms), min(latency_ms), max(latency_ms), "
                f"avg(time_to_first_token_ms) FROM {T} WHERE {W} GROUP BY 1",
                _sqlite_percentiles("model_name", (50, 95, 99)),
            ],
        ),
        "errors": (
            "/api/metrics/errors/",
            [
                f"SELECT model_name, count(*), {errors} FROM {T} WHERE {W} GROUP BY 1",
                f"SELECT error_type, count(*) FROM {T} WHERE {W} AND status='error' GROUP BY 1",
                f"SELECT request_id, timestamp, model_name, error_type, http_status, latency_ms, user_id, "
                f"substr(error_message, 1, 200) FROM {T} WHERE {W} AND status='error' "
                f"ORDER BY timestamp DESC, id DESC LIMIT 10",
            ],
        ),
        "model-usage": (
            "/api/metrics/model-usage/",
            [
                f"SELECT model_name, count(*), {errors}, sum(prompt_tokens), sum(completion_tokens), "
                f"sum(total_tokens), sum(cost_estimate), avg(latency_ms) FROM {T} WHERE {W} GROUP BY 1",
                _sqlite_percentiles("model_name", (95,)),
            ],
        ),
        "daily-stats": (
            "/api/metrics/daily-stats/",
            [
                f"SELECT {day}, count(*), {errors}, sum(total_tokens), sum(cost_estimate), avg(latency_ms) "
                f"FROM {T} WHERE {W} GROUP BY 1",
                users_per_day,
                _sqlite_percentiles(day, (95,), range_of=_sqlite_day_range),
            ],
        ),
    }


# --- Logs list ------------------------------------------------------------------------------


def _bench_logs(args, connection, client, vendor):
    narrow = (
        "request_id, timestamp, model_name, status, error_type, prompt_tokens, completion_tokens, "
        "total_tokens, latency_ms, cost_estimate, user_id, substr(prompt_text, 1, 200), "
        "substr(response_text, 1, 200)"
    )
    model = "llama-3.1-8b-instant"
    from llm.models import LLMRequestLog

    page = max(2, min(2000, LLMRequestLog.objects.count() // 100))
    offset = (page - 1) * 50
    cases = [
        ("logs first page", "/api/logs/", f"SELECT {narrow} FROM {T} ORDER BY timestamp DESC, id DESC LIMIT 51"),
        (
            "logs first page, model",
            f"/api/logs/?model={model}",
            f"SELECT {narrow} FROM {T} WHERE model_name = '{model}' ORDER BY timestamp DESC, id DESC LIMIT 51",
        ),
        # The reference pages as the API does: the keys first, then only their rows' previews.
        (
            f"logs page {page} (offset {offset:,})",
            f"/api/logs/?page={page}",
            f"SELECT {narrow} FROM {T} WHERE id IN (SELECT id FROM {T} ORDER BY timestamp DESC, id DESC "
            f"LIMIT 51 OFFSET {offset}) ORDER BY timestamp DESC, id DESC",
        ),
    ]
    print(f"\n{'logs':<34}{'':>7}{'api ms':>10}{'sql ms':>10}{'ratio':>8}", flush=True)
    for name, url, sql in cases:
        api, ref = _paired_medians(_get(client, url), _sql(connection, [sql], None), args.repeat)
        print(f"{name:<34}{'':>7}{api:>10.1f}{ref:>10.1f}{api / ref:>8.2f}", flush=True)


# --- Export ---------------------------------------------------------------------------------


class _PeakRSS:
    """Samples this process's resident memory every 20 ms while a block runs."""

    def __enter__(self):
        self.peak, self.running = self._rss(), True
        self.base = self.peak
        self.thread = threading.Thread(target=self._watch, daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.running = False
        self.thread.join()

    @staticmethod
    def _rss() -> int:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

    def _watch(self):
        while self.running:
            self.peak = max(self.peak, self._rss())
            time.sleep(0.02)


class _Null:
    def write(self, text):
        return len(text)


def _bare_export(connection, start, vendor, fields):
    """The reference: one server-side cursor and csv.writer, nothing else."""
    writer = csv.writer(_Null())
    sql = f"SELECT {', '.join(fields)} FROM {T} WHERE timestamp >= %s ORDER BY timestamp, id"
    param = start if vendor == "postgresql" else start.strftime("%Y-%m-%d %H:%M:%S.%f")
    connection.ensure_connection()
    raw = connection.connection
    if vendor == "postgresql":
        with raw.cursor(name="bench_export", withhold=True) as cursor:
            cursor.itersize = 2000
            cursor.execute(sql, [param])
            rows = 0
            for row in cursor:
                writer.writerow(row)
                rows += 1
        raw.rollback()
        return rows
    cursor = raw.cursor()
    cursor.execute(sql.replace("%s", "?"), [param])
    rows = 0
    for row in cursor:
        writer.writerow(row)
        rows += 1
    return rows


def _bench_export(args, connection, client, vendor, last):
    from llm.analytics.export import EXPORT_FIELDS
    from llm.models import LLMRequestLog

    print(
        f"\n{'export csv':<22}{'rows':>10}{'api rows/s':>12}{'bare rows/s':>13}{'ratio':>7}{'peak RSS +MB':>14}",
        flush=True,
    )
    for wanted in (int(n) for n in args.export_rows.split(",")):
        start = (
            LLMRequestLog.objects.order_by("-timestamp")
            .values_list("timestamp", flat=True)[wanted - 1 : wanted]
            .first()
        )
        if start is None:
            continue
        url = f"/api/export/csv/?start_date={start.isoformat().replace('+00:00', 'Z')}"
        # Read the rows once first, so neither side pays for a cold cache.
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT sum(length(prompt_text) + length(response_text)) FROM {T} WHERE timestamp >= %s", [start]
            )
        # Bare loop, API, bare loop again: the reference is the mean of the two bare runs, so a drift
        # in the machine's speed during a minute-long export weighs on both sides.
        bare_seconds = []
        started = time.perf_counter()
        rows = _bare_export(connection, start, vendor, EXPORT_FIELDS)
        bare_seconds.append(time.perf_counter() - started)
        with _PeakRSS() as memory:
            started = time.perf_counter()
            response = client.get(url)
            size = 0
            for chunk in response.streaming_content:
                size += len(chunk)
            api_seconds = time.perf_counter() - started
        started = time.perf_counter()
        _bare_export(connection, start, vendor, EXPORT_FIELDS)
        bare_seconds.append(time.perf_counter() - started)
        api_rate, bare_rate = rows / api_seconds, rows / statistics.mean(bare_seconds)
        growth = (memory.peak - memory.base) / 2**20
        print(
            f"{'':<22}{rows:>10,}{api_rate:>12,.0f}{bare_rate:>13,.0f}{api_rate / bare_rate:>7.2f}"
            f"{growth:>14.1f}   ({size / 2**20:,.0f} MB of CSV)",
            flush=True,
        )


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
