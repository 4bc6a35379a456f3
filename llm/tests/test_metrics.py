"""The aggregates of llm/metrics.py, checked against numpy/Decimal on the same rows (both databases)."""
import random

import numpy
import pytest
from django.db import connection

from llm.metrics import grouped_latency_percentiles, latency_percentiles
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
