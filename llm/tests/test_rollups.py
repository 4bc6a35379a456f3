"""Rollups: every figure read through them equals an independent recomputation from the rows the test made
(Decimal sums, numpy percentiles, Python sets), with the rollups absent, half-built, fresh and stale."""

import random
from datetime import datetime, timedelta
from decimal import Decimal

import numpy as np
import pytest

from llm.analytics import rollups
from llm.analytics.filters import LogFilters
from llm.analytics.rollups import HOUR, RELATIVE_ERROR, Figures
from llm.models import ChangedHour, DailyRollup, HourlyRollup, LLMRequestLog, RolledUpHour
from llm.tests.conftest import NOW

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("clean_change_marks")]

START = NOW - 30 * HOUR  # the first hour of the test's calls
MODELS = ["m-alpha", "m-beta", "org/m-gamma-7b", "m-delta", "m-epsilon"]
ERROR_TYPES = ["rate_limit", "timeout", "server_error"]
SOURCES = ["sdk", "api", "ingest", "otlp"]
USERS = [""] + [f"user-{i}" for i in range(40)]
# Repeated latencies (ties), 0 (its own bucket) and 1.0 (an exact bucket edge).
COMMON_LATENCIES = [0.0, 1.0, 250.0, 250.5, 999.999]


def _call(rng: random.Random, timestamp: datetime, **overrides) -> LLMRequestLog:
    failed = rng.random() < 0.15
    prompt, completion = rng.randrange(0, 3000), 0 if failed else rng.randrange(0, 1500)
    if rng.random() < 0.1:
        latency = rng.choice(COMMON_LATENCIES)
    else:
        latency = round(rng.lognormvariate(6.3, 0.9), 3)
    values = {
        "timestamp": timestamp,
        "model_name": rng.choice(MODELS),
        "status": "error" if failed else "success",
        "error_type": rng.choice(ERROR_TYPES) if failed else "",
        "source": rng.choice(SOURCES),
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "cached_prompt_tokens": rng.randrange(0, prompt + 1),
        "latency_ms": latency,
        # Streamed calls only; some with a first token at 0 ms.
        "time_to_first_token_ms": None if rng.random() < 0.3 else round(latency * rng.random(), 3),
        # Unpriced calls have no cost, not 0.
        "cost_estimate": None if rng.random() < 0.2 else Decimal(rng.randrange(0, 5_000_000)).scaleb(-6),
        "user_id": rng.choice(USERS),
    }
    values.update(overrides)
    return LLMRequestLog(**values)


def _moment(rng: random.Random, hour: datetime) -> datetime:
    """A time in the hour; often exactly on its first or last microsecond."""
    pick = rng.random()
    if pick < 0.1:
        return hour
    if pick < 0.15:
        return hour + HOUR - timedelta(microseconds=1)
    return hour + timedelta(microseconds=rng.randrange(3600 * 10**6))


def make_calls(rng: random.Random, count: int, *, first: datetime = START, hours: int = 30) -> list[LLMRequestLog]:
    rows = [_call(rng, _moment(rng, first + HOUR * rng.randrange(hours))) for _ in range(count)]
    LLMRequestLog.objects.bulk_create(rows)
    return rows


def _stored() -> list[LLMRequestLog]:
    """Fresh Python copies of the rows, for the expected figures (the test mirrors every change it makes)."""
    return list(LLMRequestLog.objects.all())


def _selected(calls, filters: LogFilters):
    start, end = filters.start, filters.end
    for call in calls:
        if start is not None and call.timestamp < start:
            continue
        if end is not None and (call.timestamp > end if filters.end_inclusive else call.timestamp >= end):
            continue
        if any(
            value is not None and getattr(call, column) != value
            for value, column in (
                (filters.model, "model_name"),
                (filters.status, "status"),
                (filters.error_type, "error_type"),
            )
        ):
            continue
        yield call


def _histogram(values) -> dict[int, int]:
    found: dict[int, int] = {}
    for value in values:
        bucket = rollups.latency_bucket(value)
        found[bucket] = found.get(bucket, 0) + 1
    return found


def _percentile(values, fraction):
    return None if not values else float(np.percentile(np.array(values, dtype=float), fraction * 100))


def assert_window_matches(filters: LogFilters, calls: list[LLMRequestLog]) -> None:
    """Every reader figure of the window equals the recomputation from `calls`."""
    chosen = list(_selected(calls, filters))
    figures = rollups.window_figures(filters=filters).get(None, Figures())
    priced = [c.cost_estimate for c in chosen if c.cost_estimate is not None]
    latencies = [c.latency_ms for c in chosen]
    ttfts = [c.time_to_first_token_ms for c in chosen if c.time_to_first_token_ms is not None]
    assert figures.calls == len(chosen)
    assert figures.errors == sum(c.status == "error" for c in chosen)
    for name in ("prompt_tokens", "completion_tokens", "total_tokens", "cached_prompt_tokens"):
        assert getattr(figures, name) == sum(getattr(c, name) for c in chosen), name
    assert figures.cost == sum(priced, Decimal("0")).quantize(Decimal("0.000001"))
    assert (figures.priced_calls, figures.unpriced_calls) == (len(priced), len(chosen) - len(priced))
    # Averages sum integer microseconds: exact in any order.
    assert figures.latency_sum_us == sum(round(value * 1000) for value in latencies)
    assert figures.latency_min_ms == min(latencies, default=None)
    assert figures.latency_max_ms == max(latencies, default=None)
    assert figures.ttft_calls == len(ttfts)
    assert figures.ttft_sum_us == sum(round(value * 1000) for value in ttfts)
    assert figures.latency_histogram == _histogram(latencies)
    assert figures.ttft_histogram == _histogram(ttfts)

    exact = rollups.exact_latency_percentiles(filters=filters, fractions=(0, 0.5, 0.95, 0.99, 1))[None]
    for fraction, value in exact.items():
        expected = _percentile(latencies, fraction)
        assert value == (None if expected is None else pytest.approx(expected, rel=1e-12, abs=1e-9)), fraction
        estimate = rollups.histogram_percentile(histogram=figures.latency_histogram, fraction=fraction)
        if expected is not None:
            assert abs(estimate - expected) <= RELATIVE_ERROR * expected + 1e-9, fraction
    per_model = rollups.exact_latency_percentiles(filters=filters, by_model=True)
    assert set(per_model) == {c.model_name for c in chosen}
    for model, values in per_model.items():
        model_latencies = [c.latency_ms for c in chosen if c.model_name == model]
        for fraction, value in values.items():
            assert value == pytest.approx(_percentile(model_latencies, fraction), rel=1e-12, abs=1e-9)

    users = {c.user_id for c in chosen if c.user_id}
    assert rollups.unique_users(filters=filters) == {None: len(users)}
    by_model = {m: len({c.user_id for c in chosen if c.user_id and c.model_name == m}) for m in MODELS}
    assert rollups.unique_users(filters=filters, by_model=True) == {m: n for m, n in by_model.items() if n}


def windows() -> list[LogFilters]:
    """Windows that start and end mid-hour, on hour edges (inclusive and exclusive), inside one hour,
    open on either side, and with the filters rollups hold."""
    mid = START + 2 * HOUR + timedelta(minutes=17, seconds=3)
    return [
        LogFilters(start=mid, end=START + 20 * HOUR + timedelta(minutes=43)),
        LogFilters(start=START + 3 * HOUR, end=START + 9 * HOUR, end_inclusive=False),
        LogFilters(start=START + 3 * HOUR, end=START + 9 * HOUR),
        LogFilters(start=START + 5 * HOUR + timedelta(minutes=10), end=START + 5 * HOUR + timedelta(minutes=50)),
        LogFilters(end=START + 11 * HOUR + timedelta(minutes=1)),
        LogFilters(start=mid),
        LogFilters(),
        LogFilters(start=mid, model="org/m-gamma-7b"),
        LogFilters(start=START + HOUR, end=START + 29 * HOUR, status="error"),
        LogFilters(end=START + 25 * HOUR, error_type="timeout"),
        LogFilters(start=mid, model="m-beta", status="success", end=NOW),
    ]


@pytest.fixture
def calls():
    rng = random.Random(13)
    make_calls(rng, 1500)
    return _stored()


def test_it_matches_the_rows_with_no_rollups(calls):
    assert not RolledUpHour.objects.exists()
    for filters in windows():
        assert_window_matches(filters, calls)


def test_it_matches_the_rows_with_fresh_rollups(calls):
    result = rollups.refresh_rollups(now=NOW)

    assert (result.hours, result.calls) == (30, 1500)
    for filters in windows():
        assert_window_matches(filters, calls)


def test_it_matches_the_rows_with_half_built_rollups(calls):
    rollups.refresh_rollups(now=START + 12 * HOUR)  # an interrupted backfill: the first 12 hours only
    RolledUpHour.objects.filter(hour=START + 4 * HOUR).delete()

    assert RolledUpHour.objects.count() == 11
    for filters in windows():
        assert_window_matches(filters, calls)


def test_it_matches_the_rows_with_stale_rollups(calls):
    rollups.refresh_rollups(now=NOW)
    rng = random.Random(7)
    # Late rows (a spool replay, a late ingest) into rolled-up hours, one of them exactly on an hour edge.
    make_calls(rng, 40, first=START + 6 * HOUR, hours=3)
    LLMRequestLog.objects.bulk_create([_call(rng, START + 14 * HOUR)])
    # Costs recomputed, calls deleted, a call moved to another hour.
    recomputed = LLMRequestLog.objects.filter(model_name="m-alpha", timestamp__lt=START + 4 * HOUR)
    recomputed.update(cost_estimate=Decimal("1.5"))
    LLMRequestLog.objects.filter(timestamp__gte=START + 20 * HOUR, timestamp__lt=START + 21 * HOUR).delete()
    moved = LLMRequestLog.objects.filter(timestamp__gte=START + 25 * HOUR).earliest("timestamp")
    LLMRequestLog.objects.filter(pk=moved.pk).update(timestamp=START + 2 * HOUR + timedelta(minutes=30))

    changed = set(ChangedHour.objects.values_list("hour", flat=True))
    assert {START + h * HOUR for h in (0, 1, 2, 3, 6, 7, 8, 14, 20)} | {
        moved.timestamp.replace(minute=0, second=0, microsecond=0)
    } <= changed
    for filters in windows():
        assert_window_matches(filters, _stored())


def test_it_serves_fresh_whole_hours_from_rollups_and_the_rest_from_rows(calls):
    rollups.refresh_rollups(now=NOW)
    LLMRequestLog.objects.bulk_create([_call(random.Random(1), START + 7 * HOUR + timedelta(minutes=5))])
    start, end = START + 2 * HOUR + timedelta(minutes=17), START + 9 * HOUR + timedelta(minutes=43)

    split = rollups.split_window(filters=LogFilters(start=start, end=end))

    assert split.rollup == ((START + 3 * HOUR, START + 7 * HOUR), (START + 8 * HOUR, START + 9 * HOUR))
    assert split.raw == (
        (start, START + 3 * HOUR),
        (START + 7 * HOUR, START + 8 * HOUR),
        (START + 9 * HOUR, end + timedelta(microseconds=1)),
    )


def test_it_reads_a_window_inside_one_hour_from_rows(calls):
    rollups.refresh_rollups(now=NOW)
    filters = LogFilters(start=START + 5 * HOUR + timedelta(minutes=1), end=START + 5 * HOUR + timedelta(minutes=59))

    split = rollups.split_window(filters=filters)

    assert split.rollup == ()
    assert_window_matches(filters, calls)


def test_it_reads_all_rows_for_filters_rollups_do_not_hold(calls):
    rollups.refresh_rollups(now=NOW)
    filters = LogFilters(start=START, end=NOW, user_id="user-3")

    split = rollups.split_window(filters=filters)

    assert split.rollup == () and split.raw == ((START, NOW + timedelta(microseconds=1)),)
    expected = [c for c in calls if c.user_id == "user-3"]
    assert rollups.window_figures(filters=filters)[None].calls == len(expected)


def test_it_groups_figures_by_hour_and_model(calls):
    rollups.refresh_rollups(now=START + 20 * HOUR)
    filters = LogFilters(start=START + 10 * HOUR + timedelta(minutes=30), end=START + 24 * HOUR)

    grouped = rollups.window_figures(filters=filters, group_by=("hour", "model_name"))

    expected: dict = {}
    for call in _selected(calls, filters):
        key = (call.timestamp.replace(minute=0, second=0, microsecond=0), call.model_name)
        expected[key] = expected.get(key, 0) + 1
    assert {key: f.calls for key, f in grouped.items()} == expected


def test_it_keeps_histogram_percentiles_within_one_percent():
    rng = random.Random(5)
    for _ in range(200):
        values = [rng.lognormvariate(rng.uniform(0, 9), rng.uniform(0.1, 2.5)) for _ in range(rng.randrange(1, 400))]
        histogram = _histogram(values)
        for fraction in (0, 0.01, 0.25, 0.5, 0.9, 0.95, 0.99, 0.999, 1):
            exact = _percentile(values, fraction)
            estimate = rollups.histogram_percentile(histogram=histogram, fraction=fraction)
            assert abs(estimate - exact) <= RELATIVE_ERROR * exact * (1 + 1e-12)
    assert RELATIVE_ERROR < 0.01


def test_it_reads_every_value_of_a_bucket_as_within_the_bound():
    for bucket in range(-700, 700, 7):
        low, high = rollups.GAMMA ** (bucket - 1), rollups.GAMMA**bucket
        for value in (low * (1 + 1e-12), (low + high) / 2, high * (1 - 1e-12)):
            assert rollups.latency_bucket(value) == bucket
            assert abs(rollups.bucket_value(bucket) - value) <= RELATIVE_ERROR * value * (1 + 1e-12)
    assert rollups.latency_bucket(0.0) == rollups.ZERO_BUCKET and rollups.bucket_value(rollups.ZERO_BUCKET) == 0


def test_it_gives_exact_percentiles_for_values_on_bucket_edges():
    edges = [rollups.GAMMA**k for k in range(300, 340)] + [0.0, 1.0, 1.0, 2.0]
    rng = random.Random(3)
    rows = [
        _call(rng, START + timedelta(minutes=i), latency_ms=value, model_name="m-alpha")
        for i, value in enumerate(edges * 3)
    ]
    LLMRequestLog.objects.bulk_create(rows)
    rollups.refresh_rollups(now=NOW)
    fractions = [i / 20 for i in range(21)]

    found = rollups.exact_latency_percentiles(filters=LogFilters(), fractions=fractions)[None]

    for fraction in fractions:
        assert found[fraction] == pytest.approx(_percentile(edges * 3, fraction), rel=1e-12, abs=1e-12)


def test_it_says_none_for_a_window_without_calls(calls):
    rollups.refresh_rollups(now=NOW)
    filters = LogFilters(start=NOW + HOUR, end=NOW + 3 * HOUR)

    assert rollups.window_figures(filters=filters) == {}
    assert rollups.exact_latency_percentiles(filters=filters) == {None: {0.5: None, 0.95: None, 0.99: None}}
    assert rollups.exact_latency_percentiles(filters=filters, by_model=True) == {}
    assert rollups.unique_users(filters=filters) == {None: 0}


def test_it_reads_a_long_window_in_a_fixed_number_of_queries(calls, django_assert_num_queries):
    rollups.refresh_rollups(now=NOW)
    filters = LogFilters(start=START + timedelta(minutes=30), end=NOW)

    with django_assert_num_queries(5):  # split, rollup sums and histograms, raw sums and histograms
        rollups.window_figures(filters=filters, group_by=("model_name",))
    with django_assert_num_queries(4):  # split, two histogram reads, one read of the wanted ranks
        rollups.exact_latency_percentiles(filters=filters, by_model=True)
    with django_assert_num_queries(2):
        rollups.unique_users(filters=filters)


@pytest.fixture
def days_of_calls():
    first = (NOW - timedelta(days=3)).replace(hour=0)
    make_calls(random.Random(17), 2000, first=first, hours=84)
    return first, _stored()


def test_it_matches_the_rows_over_whole_days_fresh_and_changed(days_of_calls):
    first, calls = days_of_calls
    rollups.refresh_rollups(now=NOW)
    day = timedelta(days=1)
    long_windows = [
        LogFilters(start=first + 5 * HOUR + timedelta(minutes=13), end=NOW - HOUR - timedelta(minutes=20)),
        LogFilters(start=first, end=first + 2 * day, end_inclusive=False),
        LogFilters(start=first + timedelta(minutes=30), model="m-delta", status="success"),
    ]
    assert rollups._whole_days(rollups.split_window(filters=long_windows[0]).rollup_hours)[0] == [
        (first + day).date(),
        (first + 2 * day).date(),
    ]
    for filters in long_windows:
        assert_window_matches(filters, calls)

    LLMRequestLog.objects.filter(timestamp__gte=first + day + 5 * HOUR, timestamp__lt=first + day + 6 * HOUR).update(
        cost_estimate=Decimal("2.000001")
    )
    for filters in long_windows:  # that day from its other hours and the changed hour from rows
        assert_window_matches(filters, _stored())
    rollups.refresh_rollups(now=NOW)
    for filters in long_windows:
        assert_window_matches(filters, _stored())


def test_it_keeps_each_day_equal_to_the_sum_of_its_hours(days_of_calls):
    first, _ = days_of_calls
    rollups.refresh_rollups(now=NOW)
    LLMRequestLog.objects.bulk_create([_call(random.Random(2), first + 30 * HOUR)])
    rollups.refresh_rollups(now=NOW)

    for day in DailyRollup.objects.all():
        start = datetime(day.day.year, day.day.month, day.day.day, tzinfo=NOW.tzinfo)
        hours = HourlyRollup.objects.filter(
            hour__gte=start,
            hour__lt=start + timedelta(days=1),
            model_name=day.model_name,
            status=day.status,
            error_type=day.error_type,
            source=day.source,
        )
        assert day.calls == sum(h.calls for h in hours)
        assert day.cost_micros == sum(h.cost_micros for h in hours)
        assert {int(k): v for k, v in day.latency_histogram.items()} == rollups._merge_histograms(
            *({int(k): v for k, v in h.latency_histogram.items()} for h in hours)
        )
        assert {int(k): v for k, v in day.ttft_histogram.items()} == rollups._merge_histograms(
            *({int(k): v for k, v in h.ttft_histogram.items()} for h in hours)
        )


def test_it_ranks_rows_directly_when_they_changed_after_the_histogram_was_read(calls, monkeypatch):
    rollups.refresh_rollups(now=NOW)
    filters = LogFilters(start=START + timedelta(minutes=30), end=NOW)
    # As if a concurrent delete took the wanted bucket's rows away between the two reads.
    monkeypatch.setattr(rollups, "_read_ranks", lambda *args: {})

    found = rollups.exact_latency_percentiles(filters=filters, by_model=True)

    for model, values in found.items():
        latencies = [c.latency_ms for c in _selected(calls, filters) if c.model_name == model]
        for fraction, value in values.items():
            assert value == pytest.approx(_percentile(latencies, fraction), rel=1e-12, abs=1e-9)


def test_it_reads_a_day_rolled_up_again_by_another_process_after_caching_it(days_of_calls):
    """Whole days' merged histograms are cached in the process; a day rolled up again elsewhere (new digest
    rows, no cache clear here) is read afresh."""
    first, _ = days_of_calls
    rollups.refresh_rollups(now=NOW)
    window = LogFilters(start=first + timedelta(days=1), end=first + timedelta(days=3), end_inclusive=False)
    assert_window_matches(window, _stored())  # fills the cache with both whole days

    # Slower calls late into the first whole day, rolled up as another process would: no in-process clear.
    late = [_call(random.Random(i), first + timedelta(days=1, hours=3), latency_ms=90_000.0 + i) for i in range(300)]
    LLMRequestLog.objects.bulk_create(late)
    day = (first + timedelta(days=1)).date()
    rollups._roll_up_day(day=day, hours=[first + timedelta(days=1, hours=3)], forced=True, using="default")

    assert rollups._whole_days(rollups.split_window(filters=window).rollup_hours)[0] == [day, day + timedelta(days=1)]
    assert_window_matches(window, _stored())
