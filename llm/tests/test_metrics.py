"""Percentiles, time buckets and the shared formulas of llm.analytics, checked against numpy and
Python on the same rows (both databases)."""

import random
from datetime import UTC, datetime

import numpy
import pytest
from django.db import connection
from rest_framework.exceptions import ValidationError

from llm.analytics.buckets import bucket_expression, bucket_start, bucket_starts, floor_to_bucket
from llm.analytics.formulas import distinct_users, satisfaction_rate, unique_users
from llm.analytics.percentiles import grouped_latency_percentiles, latency_percentiles
from llm.models import LLMRequestLog

pytestmark = pytest.mark.django_db


def _seed_latencies(make_log, latencies, model="openai/gpt-oss-20b"):
    for value in latencies:
        make_log(latency_ms=value, model_name=model)


@pytest.mark.parametrize("count", [1, 2, 3, 7, 20, 101])
def test_it_matches_numpy_linear_percentiles(make_log, count):
    rng = random.Random(count)
    latencies = [round(rng.uniform(5, 5000), 3) for _ in range(count)]
    _seed_latencies(make_log, latencies)

    found = latency_percentiles(queryset=LLMRequestLog.objects.all(), fractions=(0, 0.5, 0.9, 0.95, 0.99, 1))

    for fraction, value in found.items():
        expected = numpy.percentile(latencies, fraction * 100, method="linear")
        assert value == pytest.approx(expected, abs=0.01), (connection.vendor, fraction)


def test_it_returns_none_for_no_rows(make_log):
    make_log(latency_ms=100, model_name="other")
    found = latency_percentiles(queryset=LLMRequestLog.objects.filter(model_name="absent"))
    assert found == {0.5: None, 0.95: None, 0.99: None}


def test_it_handles_ties_and_respects_the_queryset_filter(make_log):
    _seed_latencies(make_log, [100, 100, 100, 400])
    _seed_latencies(make_log, [9999], model="slow")
    found = latency_percentiles(queryset=LLMRequestLog.objects.exclude(model_name="slow"), fractions=(0.5, 0.95))
    assert found[0.5] == pytest.approx(100)
    assert found[0.95] == pytest.approx(numpy.percentile([100, 100, 100, 400], 95))


def test_it_computes_percentiles_per_group_in_constant_queries(make_log, django_assert_max_num_queries):
    groups = {"a": [10, 20, 30, 40, 50], "b": [1000, 3000], "c": [7]}
    for model, values in groups.items():
        _seed_latencies(make_log, values, model=model)

    with django_assert_max_num_queries(2):
        found = grouped_latency_percentiles(queryset=LLMRequestLog.objects.all(), group_by="model_name")

    assert set(found) == set(groups)
    for model, values in groups.items():
        for fraction in (0.5, 0.95, 0.99):
            assert found[model][fraction] == pytest.approx(numpy.percentile(values, fraction * 100), abs=0.01)


@pytest.mark.parametrize(
    ("group_by", "expected"),
    [
        ("minute", datetime(2024, 2, 29, 23, 59, tzinfo=UTC)),
        ("hour", datetime(2024, 2, 29, 23, tzinfo=UTC)),
        ("day", datetime(2024, 2, 29, tzinfo=UTC)),
        ("week", datetime(2024, 2, 26, tzinfo=UTC)),  # the Monday before Thursday the 29th
        ("month", datetime(2024, 2, 1, tzinfo=UTC)),
    ],
)
def test_it_buckets_in_the_database_the_same_way_as_in_python(make_log, group_by, expected):
    moment = datetime(2024, 2, 29, 23, 59, 59, 999999, tzinfo=UTC)
    make_log(timestamp=moment)
    expression = bucket_expression(group_by=group_by, vendor=connection.vendor)
    value = LLMRequestLog.objects.annotate(period=expression).values_list("period", flat=True).get()
    assert bucket_start(value) == expected == floor_to_bucket(moment, group_by)


def test_it_lists_every_bucket_and_refuses_too_many():
    starts = bucket_starts(
        start=datetime(2024, 1, 31, 5, tzinfo=UTC), last=datetime(2024, 4, 1, tzinfo=UTC), group_by="month"
    )
    assert starts == [datetime(2024, m, 1, tzinfo=UTC) for m in (1, 2, 3, 4)]
    with pytest.raises(ValidationError) as caught:
        bucket_starts(
            start=datetime(2024, 1, 1, tzinfo=UTC), last=datetime(2024, 3, 24, 8, tzinfo=UTC), group_by="hour"
        )
    assert list(caught.value.detail) == ["group_by"]
    assert (
        len(
            bucket_starts(
                start=datetime(2024, 1, 1, tzinfo=UTC), last=datetime(2024, 3, 24, 7, 59, tzinfo=UTC), group_by="hour"
            )
        )
        == 2000
    )


def test_it_computes_percentiles_per_time_bucket_on_both_databases(make_log):
    day_one = [100.0, 200.0, 300.0, 400.0]
    day_two = [5.0, 50.0]
    for value in day_one:
        make_log(timestamp=datetime(2024, 5, 1, 10, tzinfo=UTC), latency_ms=value)
    for value in day_two:
        make_log(timestamp=datetime(2024, 5, 2, 23, 59, tzinfo=UTC), latency_ms=value)
    bucketed = LLMRequestLog.objects.annotate(period=bucket_expression(group_by="day", vendor=connection.vendor))
    found = grouped_latency_percentiles(queryset=bucketed, group_by="period", fractions=(0.95,))
    by_day = {bucket_start(key).day: values[0.95] for key, values in found.items()}
    assert by_day[1] == pytest.approx(numpy.percentile(day_one, 95))
    assert by_day[2] == pytest.approx(numpy.percentile(day_two, 95))


def test_it_counts_unique_users_the_same_way_as_an_aggregate_and_as_distinct_rows(make_log):
    for user_id in ("ana", "ana", "bob", "", ""):
        make_log(user_id=user_id)
    calls = LLMRequestLog.objects.all()
    assert calls.aggregate(users=unique_users())["users"] == 2
    assert distinct_users(queryset=calls).count() == 2


def test_it_gives_no_satisfaction_rate_without_feedback():
    assert satisfaction_rate(thumbs_up=0, total=0) is None
    assert satisfaction_rate(thumbs_up=0, total=3) == 0.0
    assert satisfaction_rate(thumbs_up=2, total=3) == 66.67
