"""The one parser of the shared query parameters (llm/analytics/filters.py)."""

from datetime import UTC, datetime, timedelta

import pytest
from rest_framework.exceptions import ValidationError

from llm.analytics.filters import filter_logs, parse_filters, parse_positive_int
from llm.models import LLMRequestLog


def _field_error(params) -> dict:
    with pytest.raises(ValidationError) as caught:
        parse_filters(params=params)
    return {name: str(messages[0]) for name, messages in caught.value.detail.items()}


def test_it_reads_dates_as_utc_and_a_date_only_end_as_the_whole_day():
    filters = parse_filters(params={"start_date": "2024-01-01", "end_date": "2024-01-31"})
    assert filters.start == datetime(2024, 1, 1, tzinfo=UTC)
    assert (filters.end, filters.end_inclusive) == (datetime(2024, 2, 1, tzinfo=UTC), False)


def test_it_converts_offsets_to_utc_and_keeps_a_datetime_end_inclusive():
    filters = parse_filters(params={"start_date": "2024-01-01T10:00:00+02:00", "end_date": "2024-01-01T12:00:00Z"})
    assert filters.start == datetime(2024, 1, 1, 8, tzinfo=UTC)
    assert (filters.end, filters.end_inclusive) == (datetime(2024, 1, 1, 12, tzinfo=UTC), True)
    naive = parse_filters(params={"start_date": "2024-01-01T10:00:00"})
    assert naive.start == datetime(2024, 1, 1, 10, tzinfo=UTC)
    # "+02:00" sent unencoded in a URL arrives as " 02:00".
    assert parse_filters(params={"start_date": "2024-01-01T10:00:00 02:00"}).start == datetime(
        2024, 1, 1, 8, tzinfo=UTC
    )
    assert parse_filters(params={"start_date": "2024-01-01 10:00"}).start == datetime(2024, 1, 1, 10, tzinfo=UTC)


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"start_date": "yesterday"}, "start_date"),
        ({"end_date": "2024-13-01"}, "end_date"),
        ({"start_date": "2024-02-01", "end_date": "2024-01-01"}, "start_date"),
        ({"group_by": "year"}, "group_by"),
        ({"status": "ok"}, "status"),
        ({"ordering": "prompt_text"}, "ordering"),
        ({"error_type": "nope"}, "error_type"),
        ({"min_latency_ms": "-5"}, "min_latency_ms"),
        ({"min_latency_ms": "nan"}, "min_latency_ms"),
        ({"model": "x" * 201}, "model"),
        ({"search": "a\x00b"}, "search"),
        ({"end_date": "9999-12-31"}, "end_date"),
    ],
)
def test_it_names_the_parameter_it_rejects(params, field):
    assert list(_field_error(params)) == [field]


def test_it_allow_lists_ordering_with_a_stable_tie_breaker():
    assert parse_filters(params={"ordering": "-latency_ms"}).ordering == ("-latency_ms", "-id")
    assert parse_filters(params={"ordering": "cost_estimate"}).ordering == ("cost_estimate", "id")
    assert parse_filters(params={}).ordering == ("-timestamp", "-id")


@pytest.mark.django_db
def test_it_filters_rows_on_every_parameter(make_log):
    day = datetime(2024, 3, 10, 12, tzinfo=UTC)
    keep = make_log(
        timestamp=day,
        model_name="m1",
        user_id="u1",
        session_id="s1",
        status="error",
        error_type="timeout",
        latency_ms=900,
        prompt_text="The secret WORD inside",
    )
    make_log(
        timestamp=day,
        model_name="m2",
        user_id="u1",
        session_id="s1",
        status="error",
        error_type="timeout",
        latency_ms=900,
        prompt_text="word",
    )
    make_log(
        timestamp=day + timedelta(days=1),
        model_name="m1",
        user_id="u1",
        session_id="s1",
        status="error",
        error_type="timeout",
        latency_ms=900,
        prompt_text="word",
    )
    make_log(
        timestamp=day,
        model_name="m1",
        user_id="u1",
        session_id="s1",
        status="error",
        error_type="timeout",
        latency_ms=10,
        prompt_text="word",
    )
    make_log(
        timestamp=day,
        model_name="m1",
        user_id="u2",
        session_id="s1",
        status="error",
        error_type="timeout",
        latency_ms=900,
        prompt_text="word",
    )
    params = {
        "start_date": "2024-03-10",
        "end_date": "2024-03-10",
        "model": "m1",
        "status": "error",
        "user_id": "u1",
        "session_id": "s1",
        "error_type": "timeout",
        "min_latency_ms": "500",
        "search": "word",
    }
    found = filter_logs(queryset=LLMRequestLog.objects.all(), filters=parse_filters(params=params))
    assert list(found) == [keep]


@pytest.mark.django_db
def test_it_includes_the_exact_end_instant_and_excludes_the_next_day(make_log):
    edge = make_log(timestamp=datetime(2024, 3, 10, 23, 59, 59, 999999, tzinfo=UTC))
    make_log(timestamp=datetime(2024, 3, 11, tzinfo=UTC))
    by_day = filter_logs(queryset=LLMRequestLog.objects.all(), filters=parse_filters(params={"end_date": "2024-03-10"}))
    exact = parse_filters(params={"end_date": "2024-03-10T23:59:59.999999Z"})
    assert list(by_day) == [edge]
    assert list(filter_logs(queryset=LLMRequestLog.objects.all(), filters=exact)) == [edge]


@pytest.mark.parametrize(
    ("raw", "maximum", "message"),
    [
        ("0", 500, "Must be a whole number from 1 to 500."),
        ("501", 500, "Must be a whole number from 1 to 500."),
        ("ten", 500, "Must be a whole number from 1 to 500."),
        ("-3", None, "Must be a whole number of 1 or more."),
        ("2.5", None, "Must be a whole number of 1 or more."),
    ],
)
def test_it_refuses_a_whole_number_out_of_range_naming_the_parameter(raw, maximum, message):
    with pytest.raises(ValidationError) as caught:
        parse_positive_int(params={"page_size": raw}, name="page_size", maximum=maximum)
    assert {name: str(messages[0]) for name, messages in caught.value.detail.items()} == {"page_size": message}


def test_it_reads_a_whole_number_or_its_default():
    assert parse_positive_int(params={"page": "3"}, name="page", default=1, maximum=10) == 3
    assert parse_positive_int(params={"page": ""}, name="page", default=1) == 1
    assert parse_positive_int(params={}, name="rule") is None
