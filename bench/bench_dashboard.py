"""Overview page speed: time from navigation to all overview charts drawn, in headless Chromium.

    BENCH_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/mydb .venv/bin/python bench/bench_dashboard.py
    BENCH_POSTGRES_URL=... .venv/bin/python bench/bench_dashboard.py --rows 100000 --ranges 24h --runs 5
    make bench BENCH_ARGS="dashboard --ranges 24h,7d"      # with DATABASE_URL=postgres://...

Seeds the database with sample calls up to --rows (generate_sample_data, 30 days; existing sample rows are
kept when there are already enough), serves the project with gunicorn (DEBUG=False, 2 workers × 4 threads,
as in production), and opens the overview in Debian's /usr/bin/chromium through Playwright, logged in by a
session cookie. For each time range: one warm-up load, then the median of --runs loads of the time from
navigation start to the page's `overview:drawn` mark (every card, chart and the error table have their
answer), and the number of API requests one load makes. Targets (issue 6): under 2 s; no more than one
request per chart (6 charts).
"""

import argparse
import os
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path
from urllib.request import urlopen

BASE_DIR = Path(__file__).resolve().parent.parent
SERVER_ENV = {
    "DEBUG": "False",
    "DJANGO_SECRET_KEY": "bench-secret-key-not-for-production-0123456789",
    "SECURE_SSL_REDIRECT": "False",
    "SESSION_COOKIE_SECURE": "False",
    "CSRF_COOKIE_SECURE": "False",
    "SECURE_HSTS_SECONDS": "0",
    "LOG_LEVEL": "WARNING",
}


def setup_django(database_url: str) -> None:
    os.environ.update(SERVER_ENV)
    os.environ["DATABASE_URL"] = database_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "core.settings")
    sys.path.insert(0, str(BASE_DIR))
    import django

    django.setup()


def seed(rows: int) -> int:
    from django.core.management import call_command

    from llm.models import LLMRequestLog

    call_command("migrate", verbosity=0)
    have = LLMRequestLog.objects.count()
    if have < rows:
        print(f"seeding {rows:,} sample calls (found {have:,}); this takes a few minutes", flush=True)
        started = time.perf_counter()
        call_command("generate_sample_data", "--count", str(rows), "--days", "30", "--seed", "1", "--clear")
        print(f"seeded in {time.perf_counter() - started:.0f} s", flush=True)
    return LLMRequestLog.objects.count()


def session_cookie() -> str:
    from django.contrib.auth import get_user_model

    from llm.tests.browser import session_for

    user, _ = get_user_model().objects.get_or_create(username="bench-dashboard")
    return session_for(user)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(database_url: str, port: int) -> subprocess.Popen:
    env = {**os.environ, **SERVER_ENV, "DATABASE_URL": database_url}
    gunicorn = BASE_DIR / ".venv" / "bin" / "gunicorn"
    server = subprocess.Popen(
        [
            str(gunicorn),
            "core.wsgi:application",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "2",
            "--threads",
            "4",
            "--log-level",
            "warning",
        ],
        cwd=BASE_DIR,
        env=env,
    )
    for _ in range(100):
        try:
            urlopen(f"http://127.0.0.1:{port}/login/", timeout=1).read()
            return server
        except OSError:
            time.sleep(0.2)
    server.terminate()
    raise SystemExit("gunicorn did not start")


def measure(browser, base: str, cookie: str, path: str) -> tuple[float, int, list]:
    # wait_for_function evaluates its predicate with eval(), which the pages' Content-Security-Policy forbids.
    context = browser.new_context(viewport={"width": 1440, "height": 900}, base_url=base, bypass_csp=True)
    context.add_cookies([{"name": "sessionid", "value": cookie, "url": base}])
    page = context.new_page()
    api_requests = []
    page.on("request", lambda r: "/api/" in r.url and api_requests.append(r.url))
    page.goto(path)
    page.wait_for_function("performance.getEntriesByName('overview:drawn').length > 0", timeout=120_000)
    drawn_ms = page.evaluate("performance.getEntriesByName('overview:drawn')[0].startTime")
    # Resource timing per API call, to see which answer the page waited for.
    timings = page.evaluate(
        "performance.getEntriesByType('resource').filter(e => e.name.includes('/api/'))"
        ".map(e => [new URL(e.name).pathname"
        " + (new URL(e.name).searchParams.get('status') ? ' (errors)' : ''), e.duration])"
    )
    errors = page.evaluate(
        "[...document.querySelectorAll('.state-error')].filter(n => !n.hidden).map(n => n.textContent)"
    )
    points = page.evaluate("[...document.querySelectorAll('canvas')].map(c => Number(c.dataset.points || 0))")
    context.close()
    if errors:
        raise SystemExit(f"the overview showed errors: {errors}")
    if len(points) != 6 or not all(points):
        raise SystemExit(f"not every chart was drawn with data: {points}")
    return drawn_ms, len(api_requests), timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--ranges", default="24h,7d,30d", help="comma-separated: 1h, 24h, 7d, 30d")
    args = parser.parse_args()
    database_url = os.environ.get("BENCH_POSTGRES_URL") or os.environ.get("DATABASE_URL", "")
    if not database_url.startswith("postgres"):
        raise SystemExit("bench_dashboard: set BENCH_POSTGRES_URL (or DATABASE_URL) to a PostgreSQL database")
    setup_django(database_url)
    from django.db import connection

    # The browser the browser tests use, launched the same way.
    from llm.tests.browser import chromium_missing, launch_chromium

    if reason := chromium_missing():
        raise SystemExit(f"bench_dashboard: {reason}")

    total = seed(args.rows)
    cookie = session_cookie()
    connection.close()
    port = free_port()
    server = start_server(database_url, port)
    from playwright.sync_api import sync_playwright

    try:
        with sync_playwright() as playwright:
            browser = launch_chromium(playwright)
            print(
                f"overview on {connection.vendor}, {total:,} calls; navigation → all charts drawn, "
                f"median of {args.runs} after 1 warm-up"
            )
            for key in args.ranges.split(","):
                path = "/" if key == "24h" else f"/?range={key}"
                measure(browser, f"http://127.0.0.1:{port}", cookie, path)
                runs = [measure(browser, f"http://127.0.0.1:{port}", cookie, path) for _ in range(args.runs)]
                times = sorted(ms for ms, _, _ in runs)
                requests = {n for _, n, _ in runs}
                print(
                    f"  last {key:>3}: median {statistics.median(times) / 1000:.2f} s "
                    f"(min {times[0] / 1000:.2f}, max {times[-1] / 1000:.2f}); API requests per load: "
                    f"{'/'.join(map(str, sorted(requests)))} for 6 charts + 7 cards + latest errors",
                    flush=True,
                )
                per_call = {}
                for _, _, timings in runs:
                    for name, duration in timings:
                        per_call.setdefault(name, []).append(duration)
                print(
                    "        "
                    + ", ".join(
                        f"{name.removeprefix('/api/metrics/')} {statistics.median(d):.0f} ms"
                        for name, d in sorted(per_call.items())
                    ),
                    flush=True,
                )
            browser.close()
    finally:
        server.terminate()
        server.wait(timeout=10)


if __name__ == "__main__":
    main()
