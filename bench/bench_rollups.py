"""Rollups: backfill rate, refresh after a burst, sizes, reads; and what the change-marking triggers cost
the write paths.

    BENCH_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/rollups_bench .venv/bin/python bench/bench_rollups.py refresh
    .venv/bin/python bench/bench_rollups.py refresh --database-url sqlite:////path/to/1m.sqlite3
    .venv/bin/python bench/bench_rollups.py ingest [--events 20000] [--rounds 3] [--sqlite]

`refresh` works on an existing database of calls (seed it with `manage.py generate_sample_data --count
1000000 --days 30 --seed 1`): it rolls everything up again (`--all`: the backfill rate), prints the sizes
of the calls table, its indexes and the rollup tables (PostgreSQL), adds a burst of `--burst` calls with
1 KB texts in the last two complete hours through the bulk write path, times the refresh that follows,
deletes the burst (and refreshes again), and times reads of 24 h / 7 d / 30 d windows with the rollups
fresh and with none (all rows). It leaves the database as it found it, rolled up.

`ingest` creates a scratch database (PostgreSQL, or a SQLite file with --sqlite), serves it with gunicorn
as bench_ingest.py does and posts the same kind of batches, alternating rounds with the triggers enabled
and disabled so both see the same machine; then it times single-row writes (save_row, one commit each, as
groq_service makes them) the same way. Two timestamp shapes: calls of the last ten minutes (live
traffic), and bench_ingest.py's calls spread over 28 days (the worst case: a mark per call).
"""

import argparse
import os
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))
sys.path.insert(0, str(BASE_DIR / "bench"))

TRIGGERS = ("llm_log_mark_insert", "llm_log_mark_update", "llm_log_mark_delete", "llm_log_mark_truncate")
BURST_SESSION = "bench-rollups-burst"
TABLES = (
    "llm_llmrequestlog",
    "llm_hourly_rollup",
    "llm_daily_rollup",
    "llm_hourly_user",
    "llm_daily_user",
    "llm_rolled_up_hour",
    "llm_changed_hour",
)


def django_setup(url: str) -> None:
    os.environ.update(
        {
            "DATABASE_URL": url,
            "DEBUG": "False",
            "DJANGO_SECRET_KEY": "bench-only-secret-key-" + "x" * 30,
            "DJANGO_SETTINGS_MODULE": "core.settings",
            "LOG_LEVEL": "WARNING",
        }
    )
    import django

    django.setup()


def timed(function, *args, **kwargs):
    started = time.perf_counter()
    result = function(*args, **kwargs)
    return result, time.perf_counter() - started


# --- refresh ----------------------------------------------------------------------------------


def burst_rows(count: int, end: datetime):
    from llm.models import LLMRequestLog

    text = ("lorem ipsum dolor sit amet " * 40)[:1024]
    models = ["llama-3.1-8b-instant", "llama-3.3-70b-versatile", "openai/gpt-oss-20b", "qwen/qwen3-32b"]
    rows = []
    for i in range(count):
        prompt, completion = 250 + i % 100, 200 + i % 50
        rows.append(
            LLMRequestLog(
                timestamp=end - timedelta(seconds=7200 * (i + 0.5) / count),
                model_name=models[i % 4],
                status="error" if i % 40 == 0 else "success",
                error_type="rate_limit" if i % 40 == 0 else "",
                prompt_tokens=prompt,
                completion_tokens=completion,
                total_tokens=prompt + completion,
                latency_ms=100.0 + (i * 7) % 900,
                time_to_first_token_ms=None if i % 3 else 40.0 + i % 60,
                user_id=f"burst-user-{i % 500}",
                session_id=BURST_SESSION,
                source="ingest",
                prompt_text=text,
                response_text=text,
            )
        )
    return rows


def sizes() -> list[tuple[str, int, int]]:
    from django.db import connection

    found = []
    with connection.cursor() as cursor:
        for table in TABLES:
            cursor.execute(
                "SELECT pg_table_size(%s), pg_indexes_size(%s), (SELECT count(*) FROM " + table + ")", [table, table]
            )
            found.append((table, *cursor.fetchone()))
    return found


def read_timings(runs: int) -> list[str]:
    from django.db.models import Max

    from llm.analytics import rollups
    from llm.analytics.filters import LogFilters
    from llm.models import LLMRequestLog

    last = LLMRequestLog.objects.aggregate(last=Max("timestamp"))["last"]
    lines = []
    for label, days in (("24h", 1), ("7d", 7), ("30d", 30)):
        # Mid-minute bounds, as a dashboard sends them: both edge hours are partial.
        filters = LogFilters(start=last - timedelta(days=days, seconds=-17), end=last)
        for state in ("fresh", "no rollups"):
            split = None if state == "fresh" else rollups.WindowSplit(rollup=(), raw=(rollups._bounds(filters),))
            reads = {
                "figures/model": lambda f=filters, s=split: rollups.window_figures(
                    filters=f, group_by=("model_name",), split=s
                ),
                "p50/95/99 by model": lambda f=filters, s=split: rollups.exact_latency_percentiles(
                    filters=f, by_model=True, split=s
                ),
                "p50/95/99": lambda f=filters, s=split: rollups.exact_latency_percentiles(filters=f, split=s),
                "unique users": lambda f=filters, s=split: rollups.unique_users(filters=f, split=s),
            }
            times = {name: [] for name in reads}
            for _ in range(runs):
                for name, read in reads.items():
                    times[name].append(timed(read)[1] * 1000)
            medians = ", ".join(f"{name} {statistics.median(values):.0f} ms" for name, values in times.items())
            lines.append(f"  {label:>3} {state:<10}: {medians}")
    return lines


def tidy(*, compact_rollups: bool) -> None:
    """Fresh planner statistics; on PostgreSQL, rollup tables compacted (a rebuild leaves the rows it
    replaced behind as dead space until a VACUUM)."""
    from django.db import connection

    with connection.cursor() as cursor:
        if connection.vendor != "postgresql":
            cursor.execute("ANALYZE")
            return
        cursor.execute("VACUUM ANALYZE llm_llmrequestlog")
        for table in TABLES[1:] if compact_rollups else ():
            cursor.execute(f"VACUUM FULL ANALYZE {table}")


def run_refresh(args) -> None:
    django_setup(args.database_url)
    from django.db import connection

    from llm.analytics import rollups
    from llm.analytics.rollups import floor_hour
    from llm.calls.storage import bulk_insert, delete_logs
    from llm.models import LLMRequestLog

    calls = LLMRequestLog.objects.count()
    print(f"{calls:,} calls in {connection.vendor} {connection.settings_dict['NAME']}")
    if not args.skip_backfill:
        tidy(compact_rollups=False)
        result, seconds = timed(rollups.refresh_rollups, rebuild=True)
        print(
            f"backfill (--all): {result.hours} hours, {result.calls:,} calls in {seconds:.1f} s "
            f"= {result.calls / seconds:,.0f} calls/s"
        )
    rollups.refresh_rollups()  # whatever arrived meanwhile
    tidy(compact_rollups=True)
    if connection.vendor == "postgresql":
        print("sizes (table, indexes, rows):")
        for table, table_bytes, index_bytes, count in sizes():
            print(
                f"  {table:<20} table {table_bytes / 2**20:8.1f} MB  indexes {index_bytes / 2**20:7.1f} MB  "
                f"{count:>10,} rows"
            )
    end = floor_hour(datetime.now(UTC))
    rows = burst_rows(args.burst, end)
    _, insert_seconds = timed(bulk_insert, LLMRequestLog, rows)
    result, seconds = timed(rollups.refresh_rollups)
    print(
        f"burst: {args.burst:,} calls inserted into the last 2 complete hours in {insert_seconds:.1f} s; "
        f"refresh_rollups then rolled up {result.hours} hours ({result.calls:,} calls) in {seconds:.2f} s"
    )
    delete_logs(LLMRequestLog.objects.filter(session_id=BURST_SESSION))
    rollups.refresh_rollups()
    tidy(compact_rollups=False)
    print(f"reads (median of {args.runs}; windows end at the last call, start mid-minute):")
    print("\n".join(read_timings(args.runs)))


# --- ingest -------------------------------------------------------------------------------------


def set_triggers(enabled: bool) -> None:
    """Switch the change-marking triggers on or off (SQLite has no DISABLE TRIGGER: drop and create them)."""
    import importlib

    from django.db import connection

    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            for name in TRIGGERS:
                cursor.execute(f"ALTER TABLE llm_llmrequestlog {'ENABLE' if enabled else 'DISABLE'} TRIGGER {name}")
            return
        triggers = importlib.import_module("llm.migrations.0006_rollups")
        for sql in triggers.SQLITE_BACKWARD + (triggers.SQLITE_FORWARD if enabled else []):
            cursor.execute(sql)


def empty_tables() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("TRUNCATE llm_llmrequestlog CASCADE")
            cursor.execute("TRUNCATE llm_changed_hour")
            cursor.execute("VACUUM ANALYZE")
        else:
            for table in ("llm_userfeedback", "llm_llmrequestlog", "llm_changed_hour"):
                cursor.execute(f"DELETE FROM {table}")


def stored_calls() -> int:
    from llm.models import LLMRequestLog

    return LLMRequestLog.objects.count()


def live_events(events: list[dict]) -> list[dict]:
    """The events with timestamps of the last ten minutes, as live traffic sends them (one or two hours)."""
    now = datetime.now(UTC)
    return [{**e, "timestamp": (now - timedelta(seconds=i % 600)).isoformat()} for i, e in enumerate(events)]


def save_rows_rate(count: int) -> float:
    from llm.calls.persist import save_row
    from llm.models import LLMRequestLog

    now = datetime.now(UTC)
    text = ("lorem ipsum dolor sit amet " * 40)[:1024]
    rows = [
        LLMRequestLog(
            timestamp=now,
            model_name="llama-3.1-8b-instant",
            prompt_tokens=250,
            completion_tokens=200,
            total_tokens=450,
            latency_ms=300.0 + i,
            user_id=f"u{i % 50}",
            prompt_text=text,
            response_text=text,
        )
        for i in range(count)
    ]
    started = time.perf_counter()
    for row in rows:
        if not save_row(row):
            raise SystemExit("save_row spooled a row: the database refused it")
    return count / (time.perf_counter() - started)


def setup_sqlite(path: Path, env: dict) -> str:
    """A migrated SQLite file with an ingest key; returns the key's secret."""
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    subprocess.run([sys.executable, "manage.py", "migrate", "-v", "0"], cwd=BASE_DIR, env=env, check=True)
    out = subprocess.run(
        [sys.executable, "manage.py", "create_ingest_key", "bench"],
        cwd=BASE_DIR,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return out.strip().splitlines()[-1]


def run_ingest(args) -> None:
    import json
    import tempfile

    import bench_ingest

    sqlite_file = Path(tempfile.gettempdir()) / "rollups_ingest_bench.sqlite3"
    url = f"sqlite:///{sqlite_file}" if args.sqlite else f"postgres://postgres@127.0.0.1:5432/{args.database}"
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "DEBUG": "False",
        "DJANGO_SECRET_KEY": "bench-only-secret-key-" + "x" * 30,
        "ALLOWED_HOSTS": "127.0.0.1",
        "SECURE_SSL_REDIRECT": "False",
        "LOG_LEVEL": "WARNING",
        "DJANGO_SETTINGS_MODULE": "core.settings",
    }
    secret = setup_sqlite(sqlite_file, env) if args.sqlite else bench_ingest.setup_database(args.database, env)
    django_setup(env["DATABASE_URL"])
    port = bench_ingest.free_port()
    server = bench_ingest.start_gunicorn(env, port)
    url = f"http://127.0.0.1:{port}/api/ingest/"
    headers = {"Authorization": f"Bearer {secret}", "Content-Type": "application/json"}
    rates: dict[tuple[str, bool], list[float]] = {}
    try:
        for shape in ("current hour", "28 days"):
            for round_number in range(args.rounds):
                for enabled in (True, False) if round_number % 2 == 0 else (False, True):
                    events = bench_ingest.make_events(args.events, seed=100 + round_number * 2 + enabled)
                    if shape == "current hour":
                        events = live_events(events)
                    bodies = [
                        json.dumps({"events": events[i : i + args.batch]}).encode()
                        for i in range(0, len(events), args.batch)
                    ]
                    empty_tables()
                    set_triggers(enabled)
                    seconds = bench_ingest.post_all(url, bodies, headers, args.clients)
                    if stored_calls() != args.events:  # a refused event would flatter the rate
                        raise SystemExit(f"only {stored_calls()} of {args.events} events stored")
                    rates.setdefault((shape, enabled), []).append(args.events / seconds)
        for round_number in range(args.rounds):
            for enabled in (True, False) if round_number % 2 == 0 else (False, True):
                empty_tables()
                set_triggers(enabled)
                rates.setdefault(("save_row", enabled), []).append(save_rows_rate(args.single_rows))
    finally:
        server.terminate()
        server.wait(timeout=30)
        set_triggers(True)
        from django.db import connections

        connections.close_all()
        if not args.keep and not args.sqlite:
            bench_ingest.psql(f"DROP DATABASE IF EXISTS {args.database}")
    engine = "SQLite" if args.sqlite else "PostgreSQL"
    print(
        f"{engine}: POST /api/ingest/ (batches of {args.batch}, {args.events:,} events a round, "
        f"{args.clients} clients, gunicorn 2 workers) and save_row ({args.single_rows:,} single-row commits "
        f"a round); median of {args.rounds} alternating rounds:"
    )
    for shape in ("current hour", "28 days", "save_row"):
        on, off = statistics.median(rates[(shape, True)]), statistics.median(rates[(shape, False)])
        # Each round's pair ran back to back: the median of their ratios shrugs off the machine's swings.
        paired = statistics.median(a / b for a, b in zip(rates[(shape, True)], rates[(shape, False)], strict=True))
        label = shape if shape == "save_row" else f"ingest, {shape}"
        print(
            f"  {label:<22} triggers off {off:8,.0f}/s   on {on:8,.0f}/s   cost {100 * (1 - on / off):+5.1f} %, "
            f"paired {100 * (1 - paired):+5.1f} %  "
            f"(rounds off {', '.join(f'{r:,.0f}' for r in rates[(shape, False)])}; "
            f"on {', '.join(f'{r:,.0f}' for r in rates[(shape, True)])})"
        )


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    refresh = commands.add_parser("refresh", help="backfill, burst refresh, sizes and reads on an existing database")
    refresh.add_argument(
        "--database-url",
        default=os.environ.get("BENCH_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/rollups_bench"),
    )
    refresh.add_argument("--burst", type=int, default=100_000)
    refresh.add_argument("--runs", type=int, default=5, help="runs per read timing")
    refresh.add_argument("--skip-backfill", action="store_true")
    ingest = commands.add_parser("ingest", help="trigger cost on the ingest and single-row write paths")
    ingest.add_argument("--events", type=int, default=20_000)
    ingest.add_argument("--batch", type=int, default=500)
    ingest.add_argument("--clients", type=int, default=2)
    ingest.add_argument("--rounds", type=int, default=3)
    ingest.add_argument("--single-rows", type=int, default=2000)
    ingest.add_argument("--database", default="rollups_ingest_bench", help="scratch PostgreSQL database")
    ingest.add_argument("--sqlite", action="store_true", help="a scratch SQLite file instead of PostgreSQL")
    ingest.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    if args.command == "refresh":
        run_refresh(args)
    else:
        run_ingest(args)


if __name__ == "__main__":
    main()
