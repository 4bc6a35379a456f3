"""Sessions and users benchmark (issue 14): the first page of /api/sessions/, /api/users/ ordered by cost,
and a user detail, through the Django test client against an existing database. Read-only: it never
migrates, seeds or writes to the database (the API's login uses force_authenticate on an unsaved user).

    .venv/bin/python bench/bench_people.py [--database-url postgres://postgres@127.0.0.1:5432/rollups_1m]
                                           [--repeat 5]

Windows are taken relative to the newest stored call, so a database seeded days ago is measured over
the same 24 h / 7 d / 30 d of its data. Prints the median and best of --repeat runs after one warm-up.
"""

import argparse
import os
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/rollups_1m"


def _args(argv):
    parser = argparse.ArgumentParser(prog="bench_people")
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument("--repeat", type=int, default=5)
    return parser.parse_args(argv)


def _setup(url: str) -> None:
    os.environ.update(
        {
            "DATABASE_URL": url,
            "DJANGO_SETTINGS_MODULE": "core.settings",
            "DJANGO_SECRET_KEY": "bench-only-secret",
            "DEBUG": "False",
            "LOG_LEVEL": "ERROR",
            "SECURE_SSL_REDIRECT": "False",
            "ALLOWED_HOSTS": "testserver",
        }
    )
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def _time(client, url: str, repeat: int) -> tuple[float, float, int]:
    """(median ms, best ms, result count) of GET url after one warm-up."""
    response = client.get(url)
    assert response.status_code == 200, (url, response.status_code, response.content[:300])
    body = response.json()
    size = len(body.get("results", body.get("daily", [])))
    runs = []
    for _ in range(repeat):
        start = time.perf_counter()
        assert client.get(url).status_code == 200
        runs.append((time.perf_counter() - start) * 1000)
    return statistics.median(runs), min(runs), size


def main(argv) -> int:
    args = _args(argv)
    _setup(args.database_url)
    from django.contrib.auth.models import User
    from django.db import connection
    from django.db.models import Count, Max
    from rest_framework.test import APIClient

    from llm.models import LLMRequestLog

    newest = LLMRequestLog.objects.aggregate(last=Max("timestamp"))["last"]
    if newest is None:
        print("The database holds no calls.")
        return 1
    heavy = (
        LLMRequestLog.objects.exclude(user_id="")
        .filter(timestamp__gte=newest - timedelta(days=1))
        .values("user_id")
        .annotate(n=Count("*"))
        .order_by("-n")
        .first()["user_id"]
    )
    client = APIClient()
    client.force_authenticate(User(username="bench", is_active=True))
    end = (newest + timedelta(seconds=1)).strftime("%Y-%m-%dT%H:%M:%SZ")

    def window(days: int) -> str:
        start = (newest - timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ")
        return f"start_date={start}&end_date={end}"

    print(f"{connection.vendor} {connection.settings_dict['NAME']}: {LLMRequestLog.objects.count():,} calls")
    print(f"{'request':72} {'median ms':>10} {'best ms':>8} {'rows':>5}")
    cases = []
    for days in (1, 7, 30):
        cases.append(f"/api/sessions/?{window(days)}")
    cases.append("/api/sessions/")
    for days in (1, 7, 30):
        cases.append(f"/api/users/?{window(days)}")
    for days in (1, 30):
        cases.append(f"/api/users/?{window(days)}&ordering=-cost")
    cases.append("/api/users/?ordering=-cost")
    for days in (1, 30):
        cases.append(f"/api/users/{heavy}/?{window(days)}")
    for url in cases:
        median, best, size = _time(client, url, args.repeat)
        label = url.replace(window(1), "24h").replace(window(7), "7d").replace(window(30), "30d")
        print(f"{label:72} {median:10.1f} {best:8.1f} {size:5d}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
