"""GET /api/metrics/...: values against Python/numpy on the same rows, buckets, auth, bad input, query pins."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import numpy
import pytest
import time_machine

from llm.analytics.rollups import refresh_rollups

pytestmark = pytest.mark.django_db

NOW = datetime(2024, 3, 15, 12, 0, tzinfo=UTC)
ENDPOINTS = [
    "/api/metrics/overview/",
    "/api/metrics/token-usage/",
    "/api/metrics/latency/",
    "/api/metrics/errors/",
    "/api/metrics/model-usage/",
    "/api/metrics/daily-stats/",
]
# Queries per endpoint (PostgreSQL, SQLite); never a function of the number of models or buckets.
# Queries per request with no rollups (all raw) and with fresh rollups (whole days from them), the
# same whatever the window's length. 1 splits the window; the rollup and raw parts take 1 each for
# sums and 1 each for histograms; exact percentiles 1 more; unique users 1; an open window 1 for its span.
QUERY_PINS = {
    "/api/metrics/overview/": (6, 9),
    "/api/metrics/token-usage/?start_date=2024-03-10&end_date=2024-03-15&group_by=hour": (2, 3),
    "/api/metrics/latency/?start_date=2024-03-10&end_date=2024-03-15&group_by=day": (6, 11),
    "/api/metrics/errors/": (3, 4),
    "/api/metrics/model-usage/": (4, 7),
    "/api/metrics/daily-stats/?start_date=2024-03-10&end_date=2024-03-15": (5, 8),
}


@pytest.fixture
def calls(make_log):
    """Three models over three days, errors, an unpriced call and users; returns the rows."""
    rows = []
    spec = [
        # (day offset, hour, model, latency, status, error_type, cost, user)
        (0, 1, "m-a", 120.5, "success", "", "0.001000", "u1"),
        (0, 1, "m-a", 340.0, "success", "", "0.002500", "u2"),
        (0, 3, "m-b", 1000.0, "error", "timeout", None, "u1"),
        (1, 5, "m-a", 80.25, "success", "", "0.000333", ""),
        (1, 5, "m-b", 2200.0, "success", "", "0.010001", "u3"),
        (3, 23, "m-c", 55.0, "error", "rate_limit", "0.000000", "u1"),
        (3, 23, "m-a", 610.0, "error", "rate_limit", "0.000777", "u2"),
    ]
    base = datetime(2024, 3, 11, tzinfo=UTC)
    for i, (day, hour, model, latency, status, error_type, cost, user) in enumerate(spec):
        rows.append(
            make_log(
                timestamp=base + timedelta(days=day, hours=hour, minutes=i),
                model_name=model,
                latency_ms=latency,
                status=status,
                error_type=error_type,
                cost_estimate=None if cost is None else Decimal(cost),
                user_id=user,
                prompt_tokens=100 + i,
                completion_tokens=10 * i,
                time_to_first_token_ms=latency / 4,
                error_message=f"boom {i}" if status == "error" else "",
            )
        )
    return rows


def _p(values, fraction):
    return float(numpy.percentile(values, fraction * 100, method="linear"))


@pytest.mark.parametrize("url", ENDPOINTS)
def test_it_requires_authentication(api_client, url):
    response = api_client.get(url)
    assert response.status_code == 401
    assert response.json() == {"error": "Authentication credentials were not provided.", "fields": {}}


@pytest.mark.parametrize("url", ENDPOINTS)
def test_it_rejects_a_wrong_token_and_an_inactive_user(api_client, alice, alice_token, url):
    api_client.credentials(HTTP_AUTHORIZATION="Token " + "0" * 40)
    assert api_client.get(url).status_code == 401
    alice.is_active = False
    alice.save()
    api_client.credentials(HTTP_AUTHORIZATION=f"Token {alice_token}")
    response = api_client.get(url)
    assert response.status_code == 401
    assert response.json()["error"] == "User inactive or deleted."


def test_it_answers_with_a_token(api_client, alice_token, calls):
    api_client.credentials(HTTP_AUTHORIZATION=f"Token {alice_token}")
    assert api_client.get("/api/metrics/overview/").json()["total_calls"] == 7


def test_it_computes_the_overview(alice_client, calls):
    body = alice_client.get("/api/metrics/overview/").json()
    latencies = [c.latency_ms for c in calls]
    priced = [c.cost_estimate for c in calls if c.cost_estimate is not None]
    assert {
        k: body[k]
        for k in ("total_calls", "success_count", "error_count", "error_rate", "unique_users", "unpriced_calls")
    } == {
        "total_calls": 7,
        "success_count": 4,
        "error_count": 3,
        "error_rate": 42.86,
        "unique_users": 3,
        "unpriced_calls": 1,
    }
    assert body["prompt_tokens"] == sum(c.prompt_tokens for c in calls) == 721
    assert body["completion_tokens"] == 210
    assert body["total_tokens"] == 931
    assert Decimal(str(body["total_cost"])) == sum(priced) == Decimal("0.014611")
    assert Decimal(str(body["avg_cost_per_call"])) == (sum(priced) / len(priced)).quantize(Decimal("0.000001"))
    assert body["avg_latency_ms"] == pytest.approx(sum(latencies) / 7, abs=0.001)
    for key, fraction in (("p50_latency_ms", 0.5), ("p95_latency_ms", 0.95), ("p99_latency_ms", 0.99)):
        assert body[key] == pytest.approx(_p(latencies, fraction), abs=0.01)
    assert body["start_date"] == "2024-03-11T01:00:00Z"
    assert body["end_date"] == "2024-03-14T23:06:00Z"


def test_it_filters_the_overview_and_reports_the_requested_window(alice_client, calls):
    body = alice_client.get("/api/metrics/overview/?model=m-a&start_date=2024-03-11&end_date=2024-03-12").json()
    assert body["total_calls"] == 3
    assert body["p95_latency_ms"] == pytest.approx(_p([120.5, 340.0, 80.25], 0.95), abs=0.01)
    assert (body["start_date"], body["end_date"]) == ("2024-03-11T00:00:00Z", "2024-03-12T23:59:59.999999Z")


def test_it_returns_nulls_not_zeros_without_calls(alice_client):
    body = alice_client.get("/api/metrics/overview/").json()
    assert body["total_calls"] == 0 and body["error_rate"] == 0
    assert body["p95_latency_ms"] is None and body["avg_latency_ms"] is None and body["avg_cost_per_call"] is None
    assert body["total_cost"] == 0 and body["start_date"] is None


def test_it_zero_fills_token_usage_buckets(alice_client, calls):
    body = alice_client.get("/api/metrics/token-usage/?start_date=2024-03-10&end_date=2024-03-15").json()
    assert body["group_by"] == "day"
    assert [r["period"] for r in body["results"]] == [f"2024-03-{d}T00:00:00Z" for d in range(10, 16)]
    by_day = {r["period"][:10]: r for r in body["results"]}
    assert by_day["2024-03-10"] == {
        "period": "2024-03-10T00:00:00Z",
        "calls": 0,
        "prompt_tokens": 0,
        "completion_tokens": 0,
        "total_tokens": 0,
        "total_cost": 0,
        "unpriced_calls": 0,
    }
    assert by_day["2024-03-11"]["calls"] == 3
    assert by_day["2024-03-11"]["prompt_tokens"] == 100 + 101 + 102
    assert by_day["2024-03-11"]["total_cost"] == 0.0035
    assert by_day["2024-03-11"]["unpriced_calls"] == 1
    assert by_day["2024-03-14"]["total_tokens"] == (105 + 50) + (106 + 60)


@pytest.mark.parametrize(
    ("group_by", "count", "first"),
    [
        ("hour", 95, "2024-03-11T01:00:00Z"),
        ("month", 1, "2024-03-01T00:00:00Z"),
        ("week", 1, "2024-03-11T00:00:00Z"),
        ("minute", 4206, None),
    ],
)
def test_it_buckets_the_data_span_by_group_by(alice_client, calls, group_by, count, first):
    response = alice_client.get(f"/api/metrics/token-usage/?group_by={group_by}")
    if count > 2000:
        assert response.status_code == 400
        assert list(response.json()["fields"]) == ["group_by"]
        return
    results = response.json()["results"]
    assert (len(results), results[0]["period"]) == (count, first)
    assert sum(r["calls"] for r in results) == 7


def test_it_reports_latency_per_model_and_per_bucket(alice_client, calls):
    body = alice_client.get("/api/metrics/latency/?group_by=day&start_date=2024-03-11&end_date=2024-03-12").json()
    by_model = {r["model"]: r for r in body["results"]}
    assert set(by_model) == {"m-a", "m-b"}
    a = [120.5, 340.0, 80.25]
    assert by_model["m-a"]["calls"] == 3
    assert by_model["m-a"]["p95_latency_ms"] == pytest.approx(_p(a, 0.95), abs=0.01)
    assert by_model["m-a"]["p50_latency_ms"] == pytest.approx(120.5)
    assert (by_model["m-a"]["min_latency_ms"], by_model["m-a"]["max_latency_ms"]) == (80.25, 340.0)
    assert by_model["m-a"]["avg_time_to_first_token_ms"] == pytest.approx(sum(a) / 3 / 4, abs=0.001)
    series = {(r["period"][:10], r["model"]): r for r in body["timeseries"]}
    assert len(series) == 4
    # Chart points read their P95 from the latency histogram, within the bound each point states.
    point = series[("2024-03-11", "m-a")]
    assert (point["percentile_method"], point["percentile_max_relative_error"]) == ("histogram", 0.009901)
    assert point["p95_latency_ms"] == pytest.approx(_p([120.5, 340.0], 0.95), rel=0.009901)
    assert point["p95_latency_ms"] != pytest.approx(_p([120.5, 340.0], 0.95), abs=0.01)  # not the exact value
    assert series[("2024-03-12", "m-b")]["avg_latency_ms"] == 2200.0
    assert series[("2024-03-12", "m-a")]["avg_latency_ms"] == 80.25
    empty = alice_client.get("/api/metrics/latency/?group_by=day&start_date=2024-03-13&end_date=2024-03-13&model=m-a")
    assert empty.json() == {"results": [], "group_by": "day", "timeseries": []}


def test_it_breaks_errors_down(alice_client, calls):
    body = alice_client.get("/api/metrics/errors/").json()
    assert (body["total_errors"], body["error_rate"]) == (3, 42.86)
    assert body["by_type"] == [
        {"error_type": "rate_limit", "count": 2, "percentage": 66.67},
        {"error_type": "timeout", "count": 1, "percentage": 33.33},
    ]
    assert body["by_model"] == [
        {"model": "m-a", "errors": 1, "calls": 4, "error_rate": 25.0},
        {"model": "m-b", "errors": 1, "calls": 2, "error_rate": 50.0},
        {"model": "m-c", "errors": 1, "calls": 1, "error_rate": 100.0},
    ]
    assert [r["error_message"] for r in body["recent"]] == ["boom 6", "boom 5", "boom 2"]
    assert body["recent"][0]["request_id"] == str(calls[6].request_id)
    assert body["recent"][0]["timestamp"] == "2024-03-14T23:06:00Z"


def test_it_applies_the_filters_to_every_error_figure(alice_client, calls, make_log):
    late = make_log(
        timestamp=datetime(2024, 3, 15, 8, 30, 1, 250000, tzinfo=UTC),
        model_name="m-a",
        status="error",
        error_type="server_error",
        http_status=503,
        latency_ms=1234.5678,
        user_id="u9",
        error_message="100% down " + "x" * 300,
        prompt_text="needle in here",
    )
    body = alice_client.get("/api/metrics/errors/?model=m-a&start_date=2024-03-12").json()
    assert (body["total_errors"], body["error_rate"]) == (2, 66.67)
    assert body["by_model"] == [{"model": "m-a", "errors": 2, "calls": 3, "error_rate": 66.67}]
    assert [(r["error_type"], r["count"]) for r in body["by_type"]] == [("rate_limit", 1), ("server_error", 1)]
    assert body["recent"][0] == {
        "request_id": str(late.request_id),
        "timestamp": "2024-03-15T08:30:01.250000Z",
        "model": "m-a",
        "error_type": "server_error",
        "http_status": 503,
        "latency_ms": 1234.568,
        "user_id": "u9",
        "error_message": "100% down " + "x" * 190,
    }
    searched = alice_client.get("/api/metrics/errors/?search=NEEDLE").json()
    assert (searched["total_errors"], [r["request_id"] for r in searched["recent"]]) == (1, [str(late.request_id)])
    assert alice_client.get("/api/metrics/errors/?status=success").json() == {
        "total_errors": 0,
        "error_rate": 0,
        "by_type": [],
        "by_model": [],
        "recent": [],
    }


def test_it_reports_model_usage(alice_client, calls):
    results = alice_client.get("/api/metrics/model-usage/").json()["results"]
    assert [r["model"] for r in results] == ["m-a", "m-b", "m-c"]
    a = results[0]
    assert (a["calls"], a["share"], a["error_rate"]) == (4, 57.14, 25.0)
    assert Decimal(str(a["total_cost"])) == Decimal("0.004610")
    assert a["p95_latency_ms"] == pytest.approx(_p([120.5, 340.0, 80.25, 610.0], 0.95), abs=0.01)
    assert results[1]["total_cost"] == 0.010001  # the unpriced m-b call adds nothing
    assert (a["unpriced_calls"], results[1]["unpriced_calls"]) == (0, 1)
    assert a["total_tokens"] == sum(c.total_tokens for c in calls if c.model_name == "m-a")


def test_it_reports_daily_stats_with_empty_days(alice_client, calls):
    results = alice_client.get("/api/metrics/daily-stats/?start_date=2024-03-11&end_date=2024-03-14").json()["results"]
    assert [r["date"] for r in results] == ["2024-03-11", "2024-03-12", "2024-03-13", "2024-03-14"]
    first, _, empty, last = results
    assert (first["calls"], first["errors"], first["error_rate"], first["unique_users"]) == (3, 1, 33.33, 2)
    # A day's P95 is read from its latency histogram, within the bound each row states.
    assert first["p95_latency_ms"] == pytest.approx(_p([120.5, 340.0, 1000.0], 0.95), rel=0.009901)
    assert empty == {
        "date": "2024-03-13",
        "calls": 0,
        "errors": 0,
        "error_rate": 0,
        "total_tokens": 0,
        "total_cost": 0,
        "unpriced_calls": 0,
        "avg_latency_ms": None,
        "p95_latency_ms": None,
        "percentile_method": "histogram",
        "percentile_max_relative_error": 0.009901,
        "unique_users": 0,
    }
    assert (last["calls"], last["errors"], last["total_cost"]) == (2, 2, 0.000777)


def test_it_applies_the_filters_to_every_daily_figure(alice_client, calls):
    query = "?start_date=2024-03-11&end_date=2024-03-14&model=m-a"
    days = alice_client.get("/api/metrics/daily-stats/" + query).json()["results"]
    assert [(d["date"], d["calls"], d["errors"], d["unique_users"]) for d in days] == [
        ("2024-03-11", 2, 0, 2),
        ("2024-03-12", 1, 0, 0),
        ("2024-03-13", 0, 0, 0),
        ("2024-03-14", 1, 1, 1),
    ]
    assert days[0]["p95_latency_ms"] == pytest.approx(_p([120.5, 340.0], 0.95), rel=0.009901)
    assert (days[1]["p95_latency_ms"], days[2]["p95_latency_ms"]) == (80.25, None)
    errors_only = alice_client.get("/api/metrics/daily-stats/" + query + "&status=error").json()["results"]
    assert [d["calls"] for d in errors_only] == [0, 0, 0, 1]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("start_date=2024-99-01", "start_date"),
        ("start_date=2024-03-02&end_date=2024-03-01", "start_date"),
        ("group_by=fortnight", "group_by"),
        ("status=failed", "status"),
        ("group_by=minute&start_date=2024-01-01&end_date=2024-01-31", "group_by"),
    ],
)
def test_it_rejects_bad_parameters_with_one_shape(alice_client, query, field):
    url = "/api/metrics/token-usage/" if "group_by" in query else "/api/metrics/overview/"
    response = alice_client.get(f"{url}?{query}")
    assert response.status_code == 400
    body = response.json()
    assert list(body["fields"]) == [field]
    assert body["error"] == f"Invalid input: {field}"


@pytest.mark.usefixtures("clean_change_marks")
@pytest.mark.parametrize("rolled_up", [False, True], ids=["raw", "rollups"])
@pytest.mark.parametrize("url", list(QUERY_PINS))
def test_it_runs_a_constant_number_of_queries(alice_client, alice, make_log, django_assert_num_queries, url, rolled_up):
    for day in range(5):
        for model in ("m1", "m2", "m3", "m4"):
            make_log(timestamp=datetime(2024, 3, 10 + day, 6, tzinfo=UTC), model_name=model, status="error")
    if rolled_up:
        refresh_rollups(now=datetime(2024, 3, 16, tzinfo=UTC))
    alice_client.get("/api/metrics/overview/")  # authenticate once outside the pin
    with django_assert_num_queries(QUERY_PINS[url][rolled_up]):
        assert alice_client.get(url).status_code == 200


@pytest.mark.parametrize("group_by", ["minute", "hour", "day", "week", "month"])
def test_it_stops_buckets_at_the_end_of_the_calendar(alice_client, make_log, group_by):
    make_log(timestamp=datetime(9999, 12, 31, 23, 59, 30, tzinfo=UTC), latency_ms=42)
    query = f"group_by={group_by}&start_date=9999-12-31T23:58:00Z&end_date=9999-12-31T23:59:59.999999Z"
    results = alice_client.get(f"/api/metrics/token-usage/?{query}").json()["results"]
    assert sum(r["calls"] for r in results) == 1
    series = alice_client.get(f"/api/metrics/latency/?{query}").json()["timeseries"]
    assert [r["p95_latency_ms"] for r in series if r["p95_latency_ms"] is not None] == [42]


@time_machine.travel(NOW, tick=False)
def test_it_buckets_minutes_and_accepts_a_datetime_window(alice_client, make_log):
    make_log(timestamp=NOW - timedelta(minutes=2, seconds=30), total_tokens=150)
    make_log(timestamp=NOW - timedelta(seconds=10))
    start = (NOW - timedelta(minutes=3)).isoformat()
    response = alice_client.get(
        "/api/metrics/token-usage/", {"group_by": "minute", "start_date": start, "end_date": NOW.isoformat()}
    )
    assert [(r["period"][11:16], r["calls"]) for r in response.json()["results"]] == [
        ("11:57", 1),
        ("11:58", 0),
        ("11:59", 1),
        ("12:00", 0),
    ]


def test_it_reports_no_cost_for_groups_made_only_of_unpriced_calls(alice_client, make_log):
    when = datetime(2024, 5, 2, 10, tzinfo=UTC)
    make_log(timestamp=when, model_name="unpriced-x", cost_estimate=None)
    make_log(timestamp=when, model_name="unpriced-x", cost_estimate=None)
    query = "?start_date=2024-05-01&end_date=2024-05-03"
    usage = alice_client.get("/api/metrics/model-usage/" + query).json()["results"]
    assert [(r["model"], r["calls"], r["total_cost"], r["unpriced_calls"]) for r in usage] == [
        ("unpriced-x", 2, None, 2)
    ]
    days = alice_client.get("/api/metrics/daily-stats/" + query).json()["results"]
    assert [(d["date"], d["total_cost"], d["unpriced_calls"]) for d in days] == [
        ("2024-05-01", 0, 0),
        ("2024-05-02", None, 2),
        ("2024-05-03", 0, 0),
    ]
    buckets = alice_client.get("/api/metrics/token-usage/" + query).json()["results"]
    assert [b["total_cost"] for b in buckets] == [0, None, 0]
    overview = alice_client.get("/api/metrics/overview/" + query).json()
    assert (overview["total_cost"], overview["avg_cost_per_call"], overview["unpriced_calls"]) == (None, None, 2)


def test_it_ends_the_buckets_at_an_inclusive_end_one_microsecond_before_midnight(alice_client, make_log):
    # The dashboard sends its window [start, end) as end_date = end - 1 µs (static/js/lib/range.js,
    # rangeParams): the last bucket is the one holding that instant, and a call at `end` is outside.
    make_log(timestamp=datetime(2024, 6, 14, 23, 59, 59, 999999, tzinfo=UTC))
    make_log(timestamp=datetime(2024, 6, 15, tzinfo=UTC))
    query = "start_date=2024-06-10T00:00:00Z&end_date=2024-06-14T23:59:59.999999Z"
    results = alice_client.get(f"/api/metrics/token-usage/?{query}&group_by=day").json()["results"]
    assert [(r["period"][:10], r["calls"]) for r in results] == [
        ("2024-06-10", 0),
        ("2024-06-11", 0),
        ("2024-06-12", 0),
        ("2024-06-13", 0),
        ("2024-06-14", 1),
    ]
    hours = alice_client.get(f"/api/metrics/latency/?{query}&group_by=hour").json()["timeseries"]
    assert (len(hours), hours[-1]["period"]) == (5 * 24, "2024-06-14T23:00:00Z")
    overview = alice_client.get(f"/api/metrics/overview/?{query}").json()
    assert (overview["total_calls"], overview["end_date"]) == (1, "2024-06-14T23:59:59.999999Z")


@pytest.mark.usefixtures("clean_change_marks")
@pytest.mark.parametrize("rolled_up", [False, True], ids=["raw", "rollups"])
def test_it_buckets_in_utc_across_a_daylight_saving_change(alice_client, make_log, settings, rolled_up):
    """Europe moved its clocks forward at 01:00 UTC on 2026-03-29: UTC buckets have 24 hours every day."""
    settings.TIME_ZONE = "Europe/Berlin"
    for hour in range(48):
        make_log(
            timestamp=datetime(2026, 3, 28, tzinfo=UTC) + timedelta(hours=hour, minutes=30),
            prompt_tokens=hour,
            completion_tokens=0,
        )
    if rolled_up:
        refresh_rollups(now=datetime(2026, 3, 30, tzinfo=UTC))
    window = "start_date=2026-03-28&end_date=2026-03-29"

    hours = alice_client.get(f"/api/metrics/token-usage/?{window}&group_by=hour").json()["results"]
    days = alice_client.get(f"/api/metrics/token-usage/?{window}&group_by=day").json()["results"]
    daily = alice_client.get(f"/api/metrics/daily-stats/?{window}").json()["results"]

    assert len(hours) == 48 and all(row["calls"] == 1 for row in hours)
    assert [row["period"] for row in hours[24:27]] == [
        "2026-03-29T00:00:00Z",
        "2026-03-29T01:00:00Z",
        "2026-03-29T02:00:00Z",
    ]
    assert [(row["period"], row["calls"], row["total_tokens"]) for row in days] == [
        ("2026-03-28T00:00:00Z", 24, sum(range(24))),
        ("2026-03-29T00:00:00Z", 24, sum(range(24, 48))),
    ]
    assert [(row["date"], row["calls"]) for row in daily] == [("2026-03-28", 24), ("2026-03-29", 24)]


def test_it_reports_output_speed_per_model_from_successful_calls(alice_client, calls):
    results = {r["model"]: r for r in alice_client.get("/api/metrics/latency/").json()["results"]}

    for model in ("m-a", "m-b"):
        succeeded = [c for c in calls if c.model_name == model and c.status == "success"]
        tokens = sum(c.completion_tokens for c in succeeded)
        seconds = sum(c.latency_ms for c in succeeded) / 1000
        assert results[model]["output_tokens_per_second"] == pytest.approx(round(tokens / seconds, 2))
        assert results[model]["time_per_output_token_ms"] == pytest.approx(seconds * 1000 / tokens, abs=0.001)
    # m-c only failed: no output to time.
    assert (results["m-c"]["output_tokens_per_second"], results["m-c"]["time_per_output_token_ms"]) == (None, None)
