"""Keeping rollups: the triggers that mark changed hours, refresh_rollups (the function and the command), and
check_alerts running it."""

import io
import random
from collections import Counter
from datetime import timedelta
from decimal import Decimal

import numpy as np
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from llm.analytics import rollups
from llm.analytics.filters import LogFilters
from llm.analytics.rollups import HOUR
from llm.calls.storage import bulk_insert, delete_logs
from llm.models import (
    ChangedHour,
    DailyUserPresence,
    HourlyFeedback,
    HourlyRollup,
    HourlyUserPresence,
    LatencyDigest,
    LLMRequestLog,
    RolledUpHour,
    UserFeedback,
)
from llm.tests.conftest import NOW
from llm.tests.test_rollups import START, _call, _histogram, assert_window_matches, make_calls

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("clean_change_marks")]


def changed_hours() -> set:
    return set(ChangedHour.objects.values_list("hour", flat=True))


def rollup_state() -> list[tuple]:
    """The rollup tables' contents, comparable between runs."""
    fields = [f.name for f in HourlyRollup._meta.fields if f.name != "id"]
    return sorted(tuple(str(v) for v in row) for row in HourlyRollup.objects.values_list(*fields))


@pytest.fixture
def calls():
    return make_calls(random.Random(21), 600)


# --- Triggers ---------------------------------------------------------------------------------


def test_it_marks_the_hour_of_each_inserted_call():
    LLMRequestLog.objects.bulk_create(
        [
            _call(random.Random(1), START + timedelta(minutes=5)),
            _call(random.Random(2), START + 2 * HOUR),  # exactly on the hour: that hour, not the one before
            _call(random.Random(3), START + 3 * HOUR - timedelta(microseconds=1)),
        ]
    )

    assert changed_hours() == {START, START + 2 * HOUR}


def test_it_marks_rows_written_by_the_bulk_insert_path():
    bulk_insert(LLMRequestLog, [_call(random.Random(i), START + i * HOUR) for i in range(3)])

    assert changed_hours() == {START, START + HOUR, START + 2 * HOUR}


def test_it_marks_the_old_and_new_hours_of_an_update(calls):
    rollups.refresh_rollups(now=NOW)
    assert not changed_hours()
    moved = LLMRequestLog.objects.filter(timestamp__gte=START + 5 * HOUR, timestamp__lt=START + 6 * HOUR).first()

    LLMRequestLog.objects.filter(pk=moved.pk).update(timestamp=START + 9 * HOUR + timedelta(minutes=1))
    LLMRequestLog.objects.filter(timestamp__gte=START + 12 * HOUR, timestamp__lt=START + 13 * HOUR).update(
        cost_estimate=Decimal("0.5")
    )

    assert changed_hours() == {START + 5 * HOUR, START + 9 * HOUR, START + 12 * HOUR}


def test_it_marks_the_hours_of_deleted_calls(calls):
    rollups.refresh_rollups(now=NOW)

    delete_logs(LLMRequestLog.objects.filter(timestamp__gte=START + 7 * HOUR, timestamp__lt=START + 8 * HOUR))
    first_minutes = (START + 9 * HOUR, START + 9 * HOUR + timedelta(minutes=9))
    LLMRequestLog.objects.filter(timestamp__range=first_minutes).delete()

    assert changed_hours() == {START + 7 * HOUR, START + 9 * HOUR}


def test_it_marks_the_hours_of_hand_written_sql(calls):
    rollups.refresh_rollups(now=NOW)
    table = LLMRequestLog._meta.db_table

    with connection.cursor() as cursor:
        end = connection.ops.adapt_datetimefield_value(START + HOUR)
        cursor.execute(f"UPDATE {table} SET latency_ms = latency_ms + 1 WHERE timestamp < %s", [end])

    assert changed_hours() == {START}


@pytest.mark.skipif(connection.vendor != "postgresql", reason="SQLite has no TRUNCATE")
@pytest.mark.django_db(transaction=True)  # TRUNCATE is refused in a transaction with deferred checks pending
def test_it_marks_every_rolled_up_hour_on_truncate(calls):
    rollups.refresh_rollups(now=NOW)

    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {LLMRequestLog._meta.db_table} CASCADE")

    assert changed_hours() == set(RolledUpHour.objects.values_list("hour", flat=True))
    assert rollups.window_figures(filters=LogFilters()) == {}


def test_it_marks_an_hour_once_per_transaction():
    rows = [_call(random.Random(i), START + timedelta(minutes=i)) for i in range(50)]

    LLMRequestLog.objects.bulk_create(rows[:25])  # the test's transaction holds both writes
    LLMRequestLog.objects.bulk_create(rows[25:])

    assert ChangedHour.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_it_appends_a_mark_per_transaction_on_postgresql_and_keeps_one_on_sqlite():
    for i in range(3):
        LLMRequestLog.objects.bulk_create([_call(random.Random(i), START + timedelta(minutes=i))])

    # PostgreSQL appends (see ChangedHour); SQLite, whose writers take turns, keeps one per hour.
    assert ChangedHour.objects.filter(hour=START).count() == (3 if connection.vendor == "postgresql" else 1)


def test_it_marks_again_after_a_refresh_in_the_same_transaction():
    LLMRequestLog.objects.bulk_create([_call(random.Random(1), START + timedelta(minutes=1))])
    rollups.refresh_rollups(now=NOW)

    LLMRequestLog.objects.bulk_create([_call(random.Random(2), START + timedelta(minutes=2))])

    assert changed_hours() == {START}


# --- refresh_rollups ------------------------------------------------------------------------


def test_it_rolls_up_complete_hours_only(calls):
    current = make_calls(random.Random(4), 5, first=NOW, hours=1)

    result = rollups.refresh_rollups(now=NOW + timedelta(minutes=20))

    assert (result.hours, result.calls, result.changed) == (30, 600, 0)
    assert RolledUpHour.objects.count() == 30
    assert not RolledUpHour.objects.filter(hour=NOW).exists()
    assert changed_hours() == {NOW}  # the current hour's mark waits for the hour to end
    assert sum(HourlyRollup.objects.values_list("calls", flat=True)) == 600
    assert len(current) == 5


def test_it_is_idempotent(calls):
    rollups.refresh_rollups(now=NOW)
    first = rollup_state()

    again = rollups.refresh_rollups(now=NOW)
    rebuilt = rollups.refresh_rollups(now=NOW, rebuild=True)

    assert again.hours == 0
    assert rebuilt.hours == 30 and rebuilt.changed == 30
    assert rollup_state() == first


def test_it_rolls_up_again_only_the_changed_hours(calls):
    rollups.refresh_rollups(now=NOW)
    LLMRequestLog.objects.bulk_create([_call(random.Random(9), START + 4 * HOUR + timedelta(minutes=2))])

    result = rollups.refresh_rollups(now=NOW)

    assert (result.hours, result.changed) == (1, 1)
    assert not changed_hours()
    assert_window_matches(LogFilters(), list(LLMRequestLog.objects.all()))


def test_it_records_empty_hours_as_rolled_up(calls):
    LLMRequestLog.objects.filter(timestamp__gte=START + 3 * HOUR, timestamp__lt=START + 5 * HOUR).delete()
    ChangedHour.objects.all().delete()

    rollups.refresh_rollups(now=NOW)

    assert RolledUpHour.objects.filter(hour=START + 3 * HOUR).exists()
    assert not HourlyRollup.objects.filter(hour=START + 3 * HOUR).exists()
    assert rollups.split_window(filters=LogFilters(start=START, end=NOW, end_inclusive=False)).raw == ()


def test_it_rolls_up_again_from_since(calls):
    rollups.refresh_rollups(now=NOW)

    result = rollups.refresh_rollups(now=NOW, since=START + 20 * HOUR + timedelta(minutes=30))

    assert (result.hours, result.changed) == (10, 10)


def test_it_keeps_daily_presence_equal_to_the_union_of_its_hours():
    rng = random.Random(11)
    day = START.replace(hour=0) + timedelta(days=1)
    make_calls(rng, 300, first=day, hours=24)
    rollups.refresh_rollups(now=NOW)
    LLMRequestLog.objects.bulk_create(
        [_call(rng, day + 5 * HOUR, user_id="late-user", model_name="m-alpha", status="success", error_type="")]
    )
    rollups.refresh_rollups(now=NOW)

    daily = set(DailyUserPresence.objects.filter(day=day.date()).values_list("model_name", "status", "user_id"))
    hourly = set(
        HourlyUserPresence.objects.filter(hour__gte=day, hour__lt=day + timedelta(days=1)).values_list(
            "model_name", "status", "user_id"
        )
    )
    assert ("m-alpha", "success", "late-user") in daily
    assert daily == hourly


def test_it_skips_the_hours_another_run_rolled_up_meanwhile(calls, monkeypatch):
    hours = rollups._hours_to_roll_up(end=rollups.floor_hour(NOW), since=None, rebuild=False, using="default")
    rollups.refresh_rollups(now=NOW)  # the other run, between this run's planning and its work
    monkeypatch.setattr(rollups, "_hours_to_roll_up", lambda **kwargs: hours)

    result = rollups.refresh_rollups(now=NOW)

    assert (result.hours, result.skipped) == (0, 30)
    assert sum(HourlyRollup.objects.values_list("calls", flat=True)) == 600


# --- The command --------------------------------------------------------------------------------


def run(*args) -> str:
    out = io.StringIO()
    call_command("refresh_rollups", *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def test_it_prints_a_line_per_day_and_a_summary(calls, frozen):
    output = run().splitlines()

    assert output[0] == f"  {START.date()}: 18 hour(s) rolled up, " + output[0].split(", ")[1]
    assert output[-1].startswith("Rolled up 30 hour(s) holding 600 call(s) in ")
    assert run() == "Rollups are up to date.\n"


def test_it_says_how_many_changed_hours_it_rolled_up_again(calls, frozen):
    run()
    LLMRequestLog.objects.bulk_create([_call(random.Random(2), START + HOUR)])

    assert run().splitlines()[-1].endswith(", 1 of them changed since their last roll-up.")


def test_it_rolls_up_again_with_all_and_since(calls, frozen):
    run()

    assert "Rolled up 30 hour(s) holding 600 call(s)" in run("--all")
    assert "Rolled up 2 hour(s)" in run("--since", (NOW - 2 * HOUR).strftime("%Y-%m-%dT%H:%M"))
    assert "Rolled up 12 hour(s)" in run("--since", NOW.date().isoformat())


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--since", "yesterday"],
            "--since 'yesterday': enter an ISO 8601 date or datetime, e.g. 2026-01-31 or 2026-01-31T12:00Z",
        ),
        (["--since", "2026-02-30"], "--since '2026-02-30': enter an ISO 8601 date or datetime"),
        (["--since", "2026-03-01", "--all"], "--since and --all cannot be combined: --all starts at the first call"),
        (
            ["--since", "2026-03-03T00:00Z"],
            "--since 2026-03-03T00:00Z is in the future; only complete hours are rolled up",
        ),
    ],
)
def test_it_refuses_bad_arguments_in_one_line(frozen, args, message):
    with pytest.raises(CommandError) as error:
        run(*args)

    assert str(error.value).startswith(message)
    assert "\n" not in str(error.value)


# --- check_alerts ---------------------------------------------------------------------------------


def test_check_alerts_refreshes_the_rollups(calls, frozen):
    call_command("check_alerts", stdout=io.StringIO(), stderr=io.StringIO())

    assert RolledUpHour.objects.count() == 30


def test_check_alerts_dry_run_writes_no_rollups(calls, frozen):
    call_command("check_alerts", "--dry-run", stdout=io.StringIO(), stderr=io.StringIO())

    assert not RolledUpHour.objects.exists()


def test_check_alerts_goes_on_when_the_refresh_fails(calls, frozen, monkeypatch):
    def broken(**kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr("llm.management.commands.check_alerts.refresh_rollups", broken)
    err = io.StringIO()

    call_command("check_alerts", stdout=io.StringIO(), stderr=err)

    assert err.getvalue() == "Could not refresh the rollups: disk full\n"


# --- Feedback ---------------------------------------------------------------------------------


def _feedback(call: LLMRequestLog, created_at, rating: str = "thumbs_up") -> UserFeedback:
    return UserFeedback.objects.create(request=call, rating=rating, created_at=created_at)


def test_it_marks_the_hours_of_feedback_inserted_updated_and_deleted(calls):
    ChangedHour.objects.all().delete()
    feedback = _feedback(calls[0], START + 5 * HOUR + timedelta(minutes=3))
    assert changed_hours() == {START + 5 * HOUR}

    ChangedHour.objects.all().delete()
    UserFeedback.objects.filter(pk=feedback.pk).update(created_at=START + 7 * HOUR)
    assert changed_hours() == {START + 5 * HOUR, START + 7 * HOUR}

    ChangedHour.objects.all().delete()
    UserFeedback.objects.filter(pk=feedback.pk).delete()
    assert changed_hours() == {START + 7 * HOUR}


def test_it_marks_the_hours_of_a_calls_feedback_when_the_call_changes_model(calls):
    call = calls[0]
    _feedback(call, START + 20 * HOUR + timedelta(minutes=1))
    _feedback(call, START + 22 * HOUR, rating="thumbs_down")
    ChangedHour.objects.all().delete()

    LLMRequestLog.objects.filter(pk=call.pk).update(latency_ms=1.5)  # the model stays: feedback counts stand
    assert changed_hours() == {rollups.floor_hour(call.timestamp)}

    ChangedHour.objects.all().delete()
    LLMRequestLog.objects.filter(pk=call.pk).update(model_name="m-renamed")
    assert changed_hours() == {rollups.floor_hour(call.timestamp), START + 20 * HOUR, START + 22 * HOUR}


def test_it_counts_feedback_per_hour_model_and_rating(calls):
    rng = random.Random(5)
    expected = Counter()
    for call in rng.sample(calls, 150):
        created = rollups._utc(call.timestamp) + timedelta(seconds=rng.randrange(0, 4 * 3600))
        rating = rng.choice(["thumbs_up", "thumbs_down"])
        _feedback(call, created, rating)
        if created < NOW:
            expected[(rollups.floor_hour(created), call.model_name, rating)] += 1

    rollups.refresh_rollups(now=NOW)

    stored = {(row.hour, row.model_name, row.rating): row.count for row in HourlyFeedback.objects.all()}
    assert stored == dict(expected)
    assert sum(stored.values()) > 100


def test_it_counts_feedback_again_after_a_change(calls):
    feedback = _feedback(calls[0], START + 3 * HOUR + timedelta(minutes=10))
    rollups.refresh_rollups(now=NOW)
    assert HourlyFeedback.objects.get(hour=START + 3 * HOUR).count == 1

    UserFeedback.objects.filter(pk=feedback.pk).update(created_at=START + 4 * HOUR)
    rollups.refresh_rollups(now=NOW)

    assert not HourlyFeedback.objects.filter(hour=START + 3 * HOUR).exists()
    assert HourlyFeedback.objects.get(hour=START + 4 * HOUR).count == 1


# --- Latency digests --------------------------------------------------------------------------


def test_it_keeps_a_latency_digest_per_period_model_and_status(calls):
    rollups.refresh_rollups(now=NOW)

    rows = [c for c in LLMRequestLog.objects.all() if rollups._utc(c.timestamp) < NOW]
    day = NOW.replace(hour=0) - timedelta(days=1)  # the tests' calls cover this whole day
    for unit, start, length in (("hour", START + 3 * HOUR, HOUR), ("day", day, timedelta(days=1))):
        in_period = [c for c in rows if start <= rollups._utc(c.timestamp) < start + length]
        first = in_period[0]
        for model, status in (
            (first.model_name, first.status),
            (first.model_name, None),
            (None, first.status),
            (None, None),
        ):
            chosen = [c for c in in_period if model in (None, c.model_name) and status in (None, c.status)]
            digest = LatencyDigest.objects.get(unit=unit, start=start, model_name=model, status=status)
            latencies = [c.latency_ms for c in chosen]
            assert digest.calls == len(chosen)
            assert (digest.latency_min_ms, digest.latency_max_ms) == (min(latencies), max(latencies))
            assert {int(b): n for b, n in digest.latency_histogram.items()} == _histogram(latencies)
            exact = float(np.percentile(latencies, 95))
            assert digest.p95_latency_ms == pytest.approx(exact, rel=rollups.RELATIVE_ERROR)
    # Rolled up again after a change: the hour's and the day's digests follow.
    LLMRequestLog.objects.filter(timestamp__gte=day, timestamp__lt=day + HOUR).delete()
    rollups.refresh_rollups(now=NOW)
    assert not LatencyDigest.objects.filter(unit="hour", start=day).exists()
    remaining = sum(
        rollups._utc(c.timestamp) >= day + HOUR and rollups._utc(c.timestamp) < day + timedelta(days=1) for c in rows
    )
    assert LatencyDigest.objects.get(unit="day", start=day, model_name=None, status=None).calls == remaining


def test_it_keeps_a_blank_model_apart_from_all_models():
    """A call stored with a blank model name (by hand: the write path names it "unknown") is a model of its own."""
    LLMRequestLog.objects.bulk_create([_call(random.Random(1), START, model_name=""), _call(random.Random(2), START)])

    rollups.refresh_rollups(now=NOW)

    assert LatencyDigest.objects.get(unit="hour", start=START, model_name="", status=None).calls == 1
    assert LatencyDigest.objects.get(unit="hour", start=START, model_name=None, status=None).calls == 2
    filters = LogFilters(start=START, end=START + HOUR, end_inclusive=False)
    assert rollups.split_window(filters=filters).rollup == ((START, START + HOUR),)
    users = {c.user_id for c in LLMRequestLog.objects.all() if c.user_id}
    assert rollups.unique_users(filters=filters) == {None: len(users)}
