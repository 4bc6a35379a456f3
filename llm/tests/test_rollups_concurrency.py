"""Refreshes that overlap each other or a write never double count and never lose a change."""

import json
import os
import random
import subprocess
import sys
import threading
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection, connections

from llm.analytics import rollups
from llm.analytics.filters import LogFilters
from llm.analytics.rollups import HOUR
from llm.models import ChangedHour, HourlyRollup, LLMRequestLog
from llm.tests.conftest import NOW
from llm.tests.test_rollups import START, _call, assert_window_matches, make_calls

postgresql_only = pytest.mark.skipif(connection.vendor != "postgresql", reason="threads need a server database")


def in_thread(target, *args) -> threading.Thread:
    def run():
        try:
            target(*args)
        finally:
            connections.close_all()  # this thread's connection, or the test database cannot be dropped

    thread = threading.Thread(target=run)
    thread.start()
    return thread


@postgresql_only
@pytest.mark.django_db(transaction=True)
def test_two_refreshes_at_once_count_each_call_once():
    make_calls(random.Random(31), 800)
    results, start = [], threading.Barrier(2)

    def refresh():
        start.wait()
        results.append(rollups.refresh_rollups(now=NOW))

    for thread in [in_thread(refresh), in_thread(refresh)]:
        thread.join(timeout=60)

    assert sum(r.hours for r in results) == 30
    assert sum(r.hours + r.skipped for r in results) == 60
    assert sum(HourlyRollup.objects.values_list("calls", flat=True)) == 800
    assert_window_matches(LogFilters(), list(LLMRequestLog.objects.all()))


@postgresql_only
@pytest.mark.django_db(transaction=True)
def test_a_write_committed_during_a_refresh_keeps_its_hour_stale(monkeypatch):
    make_calls(random.Random(32), 400)
    rolled, write_done = threading.Event(), threading.Event()
    insert_presence = rollups._insert_presence

    def paused(*args):
        # The refresh has grouped its first day's calls; a write now commits before the refresh does.
        insert_presence(*args)
        if not rolled.is_set():
            rolled.set()
            write_done.wait(timeout=30)

    monkeypatch.setattr(rollups, "_insert_presence", paused)
    refresh = in_thread(lambda: rollups.refresh_rollups(now=NOW))
    assert rolled.wait(timeout=30)
    late = _call(random.Random(1), START + 2 * HOUR + timedelta(minutes=1))
    LLMRequestLog.objects.bulk_create([late])
    write_done.set()
    refresh.join(timeout=60)

    assert ChangedHour.objects.filter(hour=START + 2 * HOUR).exists()
    split = rollups.split_window(filters=LogFilters(start=START, end=NOW))
    assert START + 2 * HOUR not in split.rollup_hours
    assert_window_matches(LogFilters(), list(LLMRequestLog.objects.all()))

    assert rollups.refresh_rollups(now=NOW).hours == 1
    assert not ChangedHour.objects.filter(hour__lt=NOW).exists()
    assert sum(HourlyRollup.objects.values_list("calls", flat=True)) == 401


SEED = """
import random
from llm.tests.test_rollups import make_calls
make_calls(random.Random(33), 3000)
"""
CHECK = """
import json
from llm.models import HourlyRollup, LLMRequestLog, RolledUpHour
print(json.dumps([sum(HourlyRollup.objects.values_list("calls", flat=True)), LLMRequestLog.objects.count(),
                  RolledUpHour.objects.count()]))
"""


@pytest.mark.skipif(connection.vendor != "sqlite", reason="the SQLite variant of the test above")
def test_two_refresh_commands_at_once_on_one_sqlite_file(tmp_path):
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}", "DEBUG": "False"}
    base = Path(settings.BASE_DIR)

    def manage(*args, **kwargs):
        return subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=base,
            env=env,
            check=True,
            capture_output=True,
            text=True,
            **kwargs,
        ).stdout

    manage("migrate", "-v", "0")
    manage("shell", "-c", SEED)
    runs = [
        subprocess.Popen(
            [sys.executable, "manage.py", "refresh_rollups"],
            cwd=base,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outputs = [run.communicate(timeout=120) for run in runs]

    assert [run.returncode for run in runs] == [0, 0], outputs
    rolled_up, stored, hours = json.loads(manage("shell", "-c", CHECK).splitlines()[-1])
    assert rolled_up == stored == 3000
    assert hours >= 30  # and every hour since, up to the present one
