"""GET /api/sessions/, /api/sessions/<session_id>/, /api/users/ and /api/users/<user_id>/.

Figures are checked against an independent computation over the rows the test made (Decimal sums,
numpy's percentile), on whichever database the suite runs on.
"""

from collections import defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import numpy
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from llm.models import LLMRequestLog, UserFeedback
from llm.tests.test_schema import Conformance

pytestmark = pytest.mark.django_db

BASE = datetime(2024, 3, 11, 9, 30, tzinfo=UTC)
WINDOW = "start_date=2024-03-01&end_date=2024-03-31"


@pytest.fixture
def calls(make_log):
    """Three users over four sessions and three days, with errors, unpriced calls, traces and feedback."""
    rows = []
    plan = [
        # (minutes after BASE, user, session, model, latency, cost, status, trace)
        (0, "ann", "s-a", "m-a", 120.0, Decimal("0.000100"), "success", "t1"),
        (5, "ann", "s-a", "m-a", 340.0, Decimal("0.000200"), "error", "t1"),
        (9, "ann", "s-a", "m-b", 90.0, None, "success", "t2"),
        (60 * 24, "ann", "s-b", "m-a", 800.0, Decimal("0.001000"), "success", ""),
        (60 * 24 + 3, "bob", "s-b", "m-a", 410.0, Decimal("0.000300"), "success", ""),
        (60 * 48, "bob", "s-c", "m-b", 75.0, None, "success", ""),
        (60 * 48 + 1, "bob", "s-c", "m-b", 60.0, None, "error", ""),
        (60 * 49, "cy", "", "m-a", 999.0, Decimal("0.004000"), "success", ""),
        (60 * 50, "", "s-d", "m-a", 10.0, Decimal("0.000001"), "success", "t3"),
    ]
    for minutes, user, session, model, latency, cost, status, trace in plan:
        rows.append(
            make_log(
                timestamp=BASE + timedelta(minutes=minutes),
                user_id=user,
                session_id=session,
                model_name=model,
                latency_ms=latency,
                cost_estimate=cost,
                status=status,
                error_type="timeout" if status == "error" else "",
                trace_id=trace,
                prompt_tokens=int(latency) % 97,
                completion_tokens=7,
                prompt_text=f"question at {minutes}",
                response_text=f"answer at {minutes}",
            )
        )
    UserFeedback.objects.create(request=rows[0], rating="thumbs_up", comment="good")
    UserFeedback.objects.create(request=rows[1], rating="thumbs_down", comment="wrong")
    UserFeedback.objects.create(request=rows[4], rating="thumbs_down")
    return rows


def expected_groups(rows, key: str) -> dict:
    """Each group's figures computed in Python from the rows."""
    groups = defaultdict(list)
    for row in rows:
        if getattr(row, key):
            groups[getattr(row, key)].append(row)
    found = {}
    for name, members in groups.items():
        priced = [r.cost_estimate for r in members if r.cost_estimate is not None]
        errors = sum(r.status == "error" for r in members)
        feedback = [f.rating for r in members for f in UserFeedback.objects.filter(request=r)]
        found[name] = {
            "calls": len(members),
            "total_tokens": sum(r.total_tokens for r in members),
            "cost": sum(priced, Decimal(0)) if priced else None,
            "errors": errors,
            "error_rate": round(errors * 100 / len(members), 2),
            "p95": float(numpy.percentile([r.latency_ms for r in members], 95)),
            "first_seen": min(r.timestamp for r in members),
            "last_seen": max(r.timestamp for r in members),
            "traces": len({r.trace_id for r in members if r.trace_id}),
            "up": feedback.count("thumbs_up"),
            "down": feedback.count("thumbs_down"),
            "users": [r.user_id for r in sorted(members, key=lambda r: r.timestamp) if r.user_id],
        }
    return found


def cost(value) -> Decimal | None:
    return None if value is None else Decimal(str(value))


def instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


URLS = ["/api/sessions/", "/api/sessions/s-a/", "/api/users/", "/api/users/ann/"]


@pytest.mark.parametrize("url", URLS)
def test_it_requires_authentication(api_client, calls, url):
    response = api_client.get(url)
    assert response.status_code == 401
    assert response.json()["fields"] == {}


@pytest.mark.parametrize("url", URLS)
def test_it_rejects_a_wrong_token(api_client, url):
    api_client.credentials(HTTP_AUTHORIZATION="Token not-a-real-token")
    assert api_client.get(url).json() == {"error": "Invalid token.", "fields": {}}


def test_it_lists_sessions_with_their_figures(alice_client, calls):
    body = alice_client.get(f"/api/sessions/?{WINDOW}").json()
    expected = expected_groups(calls, "session_id")
    assert (body["count"], body["count_is_exact"], body["next"], body["previous"]) == (4, True, None, None)
    # Newest last call first.
    assert [r["session_id"] for r in body["results"]] == ["s-d", "s-c", "s-b", "s-a"]
    for row in body["results"]:
        want = expected[row["session_id"]]
        assert row["calls"] == want["calls"]
        assert row["total_tokens"] == want["total_tokens"]
        assert cost(row["cost"]) == want["cost"]
        assert row["errors"] == want["errors"]
        assert row["traces"] == want["traces"]
        assert (row["feedback_up"], row["feedback_down"]) == (want["up"], want["down"])
        assert instant(row["first_seen"]) == want["first_seen"]
        assert instant(row["last_seen"]) == want["last_seen"]
        assert row["user_id"] == (want["users"][-1] if want["users"] else "")
    by_id = {r["session_id"]: r for r in body["results"]}
    assert by_id["s-b"]["user_id"] == "bob"  # the most recent user of a shared session
    assert by_id["s-c"]["cost"] is None  # every call unpriced: no made-up $0
    assert by_id["s-d"]["user_id"] == ""


def test_it_orders_sessions_by_calls_and_cost(alice_client, calls):
    body = alice_client.get(f"/api/sessions/?{WINDOW}&ordering=-calls").json()
    assert [r["session_id"] for r in body["results"]] == ["s-a", "s-c", "s-b", "s-d"]
    body = alice_client.get(f"/api/sessions/?{WINDOW}&ordering=calls").json()
    assert [r["session_id"] for r in body["results"]] == ["s-d", "s-b", "s-c", "s-a"]
    body = alice_client.get(f"/api/sessions/?{WINDOW}&ordering=-cost").json()
    # The unpriced session sorts as the smallest, whichever the direction.
    assert [r["session_id"] for r in body["results"]] == ["s-b", "s-a", "s-d", "s-c"]
    body = alice_client.get(f"/api/sessions/?{WINDOW}&ordering=cost").json()
    assert [r["session_id"] for r in body["results"]] == ["s-c", "s-d", "s-a", "s-b"]


def test_it_filters_sessions_by_user_model_and_window(alice_client, calls):
    body = alice_client.get(f"/api/sessions/?{WINDOW}&user_id=bob").json()
    assert [r["session_id"] for r in body["results"]] == ["s-c", "s-b"]
    assert body["results"][1]["calls"] == 1  # only bob's call of the shared session
    body = alice_client.get(f"/api/sessions/?{WINDOW}&model=m-b").json()
    assert [(r["session_id"], r["calls"]) for r in body["results"]] == [("s-c", 2), ("s-a", 1)]
    body = alice_client.get("/api/sessions/?start_date=2024-03-12&end_date=2024-03-12").json()
    assert [r["session_id"] for r in body["results"]] == ["s-b"]


def test_it_pages_sessions(alice_client, calls):
    body = alice_client.get(f"/api/sessions/?{WINDOW}&page_size=3").json()
    assert (body["count"], len(body["results"])) == (4, 3)
    assert "page=2" in body["next"]
    second = alice_client.get(f"/api/sessions/?{WINDOW}&page_size=3&page=2").json()
    assert [r["session_id"] for r in second["results"]] == ["s-a"]
    assert (second["count"], second["next"]) == (4, None)
    assert second["previous"] is not None
    response = alice_client.get(f"/api/sessions/?{WINDOW}&page_size=3&page=3")
    assert response.status_code == 400
    assert response.json()["fields"] == {"page": "Page out of range."}


def test_it_answers_an_empty_page_when_nothing_matches(alice_client, calls):
    body = alice_client.get("/api/sessions/?start_date=2020-01-01&end_date=2020-01-02").json()
    assert (body["count"], body["results"]) == (0, [])
    body = alice_client.get("/api/users/?model=absent").json()
    assert (body["count"], body["results"]) == (0, [])


@pytest.mark.parametrize(
    "query, field",
    [
        ("ordering=timestamp", "ordering"),
        ("ordering=--cost", "ordering"),
        ("ordering=errors", "ordering"),  # a users ordering, not a sessions one
        ("start_date=soon", "start_date"),
        ("page_size=0", "page_size"),
        ("page=x", "page"),
        ("model=" + "m" * 201, "model"),
    ],
)
def test_it_refuses_bad_session_parameters(alice_client, query, field):
    response = alice_client.get(f"/api/sessions/?{query}")
    assert response.status_code == 400
    body = response.json()
    assert list(body["fields"]) == [field] and body["error"] == f"Invalid input: {field}"


@pytest.mark.parametrize(
    "query, field", [("ordering=traces", "ordering"), ("ordering=-timestamp", "ordering"), ("end_date=x", "end_date")]
)
def test_it_refuses_bad_user_parameters(alice_client, query, field):
    response = alice_client.get(f"/api/users/?{query}")
    assert response.status_code == 400
    assert list(response.json()["fields"]) == [field]


def test_it_pins_the_query_count_of_the_lists(alice_client, calls, django_assert_max_num_queries):
    # Page, the session's users, feedback; users: page, P95 (2 on SQLite), feedback. Plus the session's auth.
    with django_assert_max_num_queries(5):
        assert alice_client.get(f"/api/sessions/?{WINDOW}").status_code == 200
    with django_assert_max_num_queries(5):
        assert alice_client.get(f"/api/users/?{WINDOW}").status_code == 200


def test_it_shows_a_session_as_its_turns_in_order(alice_client, calls):
    body = alice_client.get("/api/sessions/s-a/").json()
    want = expected_groups(calls, "session_id")["s-a"]
    assert (body["session_id"], body["user_id"], body["calls"], body["errors"]) == ("s-a", "ann", 3, 1)
    assert cost(body["cost"]) == want["cost"] and body["traces"] == 2
    assert (body["feedback_up"], body["feedback_down"]) == (1, 1)
    assert body["calls_truncated"] is False
    turns = body["turns"]
    assert [t["prompt_text"] for t in turns] == ["question at 0", "question at 5", "question at 9"]
    assert [t["response_text"] for t in turns][0] == "answer at 0"
    assert turns[0]["feedback"][0]["rating"] == "thumbs_up" and turns[0]["feedback"][0]["comment"] == "good"
    assert turns[1]["error_type"] == "timeout" and turns[1]["status"] == "error"
    assert turns[2]["cost_estimate"] is None and turns[2]["model"] == "m-b"
    assert turns[0]["request_id"] == str(calls[0].request_id) and turns[0]["trace_id"] == "t1"


def test_it_answers_404_for_an_unknown_session_or_user(alice_client, calls):
    for url in ("/api/sessions/nope/", "/api/users/nobody/", "/api/sessions/s-a/?start_date=2030-01-01"):
        response = alice_client.get(url)
        assert response.status_code == 404, url
        assert response.json()["fields"] == {}
    # A NUL or an overlong id matches nothing (PostgreSQL refuses NUL in a literal: never a 500).
    assert alice_client.get("/api/sessions/a%00b/").status_code == 404
    assert alice_client.get("/api/users/" + "u" * 300 + "/").status_code == 404


def test_it_finds_a_session_whose_id_holds_a_slash(alice_client, make_log):
    make_log(session_id="team/42", prompt_text="with a slash")
    body = alice_client.get("/api/sessions/team%2F42/").json()
    assert body["turns"][0]["prompt_text"] == "with a slash"


def test_it_caps_a_long_session_at_a_thousand_calls(alice_client):
    start = datetime(2024, 5, 1, tzinfo=UTC)
    LLMRequestLog.objects.bulk_create(
        LLMRequestLog(
            timestamp=start + timedelta(seconds=i),
            model_name="m",
            session_id="long",
            prompt_text=f"turn {i}",
            latency_ms=1.0,
        )
        for i in range(1005)
    )
    body = alice_client.get("/api/sessions/long/").json()
    assert (body["calls"], len(body["turns"]), body["calls_truncated"]) == (1005, 1000, True)
    assert body["turns"][0]["prompt_text"] == "turn 0" and body["turns"][-1]["prompt_text"] == "turn 999"


def test_it_lists_users_with_their_figures(alice_client, calls):
    body = alice_client.get(f"/api/users/?{WINDOW}").json()
    expected = expected_groups(calls, "user_id")
    assert body["count"] == 3 and body["count_is_exact"] is True
    assert [r["user_id"] for r in body["results"]] == ["cy", "bob", "ann"]
    for row in body["results"]:
        want = expected[row["user_id"]]
        assert row["calls"] == want["calls"]
        assert row["total_tokens"] == want["total_tokens"]
        assert cost(row["cost"]) == want["cost"]
        assert row["errors"] == want["errors"]
        assert row["error_rate"] == want["error_rate"]
        assert row["p95_latency_ms"] == pytest.approx(want["p95"], abs=1e-3)
        assert (row["feedback_up"], row["feedback_down"]) == (want["up"], want["down"])
        assert instant(row["first_seen"]) == want["first_seen"]
        assert instant(row["last_seen"]) == want["last_seen"]


@pytest.mark.parametrize(
    "ordering, users",
    [
        ("-cost", ["cy", "ann", "bob"]),
        ("cost", ["bob", "ann", "cy"]),
        ("-calls", ["ann", "bob", "cy"]),
        ("-errors", ["bob", "ann", "cy"]),  # ties broken by user id, in the same direction
        ("last_seen", ["ann", "bob", "cy"]),
    ],
)
def test_it_orders_users(alice_client, calls, ordering, users):
    body = alice_client.get(f"/api/users/?{WINDOW}&ordering={ordering}").json()
    assert [r["user_id"] for r in body["results"]] == users


def test_it_pages_users_with_the_p95_of_each_page(alice_client, calls):
    expected = expected_groups(calls, "user_id")
    first = alice_client.get(f"/api/users/?{WINDOW}&ordering=-calls&page_size=2").json()
    second = alice_client.get(f"/api/users/?{WINDOW}&ordering=-calls&page_size=2&page=2").json()
    assert [r["user_id"] for r in first["results"]] == ["ann", "bob"] and first["count"] == 3
    assert [r["user_id"] for r in second["results"]] == ["cy"] and second["next"] is None
    assert second["results"][0]["p95_latency_ms"] == pytest.approx(expected["cy"]["p95"])


def test_it_shows_a_user_with_daily_figures_and_recent_sessions(alice_client, calls):
    body = alice_client.get("/api/users/ann/?start_date=2024-03-10&end_date=2024-03-13").json()
    want = expected_groups(calls, "user_id")["ann"]
    assert (body["user_id"], body["calls"], body["errors"]) == ("ann", 4, 1)
    assert cost(body["cost"]) == want["cost"]
    assert body["p95_latency_ms"] == pytest.approx(want["p95"], abs=1e-3)
    assert (body["feedback_up"], body["feedback_down"]) == (1, 1)
    # Every UTC day of the window, zero-filled.
    assert [d["date"] for d in body["daily"]] == ["2024-03-10", "2024-03-11", "2024-03-12", "2024-03-13"]
    assert [d["calls"] for d in body["daily"]] == [0, 3, 1, 0]
    assert cost(body["daily"][1]["cost"]) == Decimal("0.000300")
    assert cost(body["daily"][0]["cost"]) == Decimal(0)
    day = [r for r in calls if r.user_id == "ann" and r.timestamp.date() == BASE.date()]
    assert body["daily"][1]["total_tokens"] == sum(r.total_tokens for r in day)
    assert [s["session_id"] for s in body["recent_sessions"]] == ["s-b", "s-a"]
    assert body["recent_sessions"][1]["calls"] == 3
    assert body["recent_sessions"][0]["calls"] == 1  # ann's calls only


def test_it_says_null_for_a_day_of_unpriced_calls_only(alice_client, calls):
    body = alice_client.get("/api/users/bob/?start_date=2024-03-12&end_date=2024-03-13").json()
    assert [(d["date"], d["calls"], d["cost"]) for d in body["daily"]] == [
        ("2024-03-12", 1, 0.0003),
        ("2024-03-13", 2, None),
    ]


def test_it_keeps_the_last_twenty_sessions_of_a_user(alice_client, make_log):
    for i in range(25):
        make_log(user_id="busy", session_id=f"s{i:02d}", timestamp=BASE + timedelta(minutes=i))
    body = alice_client.get("/api/users/busy/").json()
    assert [s["session_id"] for s in body["recent_sessions"]] == [f"s{i:02d}" for i in range(24, 4, -1)]


def test_it_refuses_a_daily_series_past_two_thousand_days(alice_client, calls):
    response = alice_client.get("/api/users/ann/?start_date=2000-01-01&end_date=2024-03-31")
    assert response.status_code == 400
    assert list(response.json()["fields"]) == ["start_date"]


def test_it_ignores_a_user_id_parameter_on_the_user_detail(alice_client, calls):
    assert alice_client.get("/api/users/ann/?user_id=bob").json()["user_id"] == "ann"


def test_it_gives_the_same_p95_as_numpy_for_many_users(alice_client, make_log):
    latencies = {f"u{i}": [float((i * 37 + j * 11) % 501) + j / 7 for j in range(3 + i)] for i in range(12)}
    for user, values in latencies.items():
        for j, value in enumerate(values):
            make_log(user_id=user, latency_ms=value, timestamp=BASE + timedelta(seconds=j))
    body = alice_client.get("/api/users/?page_size=500").json()
    for row in body["results"]:
        assert row["p95_latency_ms"] == pytest.approx(numpy.percentile(latencies[row["user_id"]], 95), abs=1e-3)


# --- The schema declares what these endpoints answer (test_schema.py's checker) ---------------

SCHEMA_CASES = [
    ("/api/sessions/", 200, "/api/sessions/"),
    ("/api/sessions/", 400, "/api/sessions/?ordering=nope"),
    ("/api/sessions/{session_id}/", 200, "/api/sessions/s-a/"),
    ("/api/sessions/{session_id}/", 200, "/api/sessions/s-c/"),
    ("/api/sessions/{session_id}/", 404, "/api/sessions/nope/"),
    ("/api/users/", 200, "/api/users/"),
    ("/api/users/", 400, "/api/users/?page=0"),
    ("/api/users/{user_id}/", 200, "/api/users/ann/"),
    ("/api/users/{user_id}/", 200, "/api/users/bob/"),
    ("/api/users/{user_id}/", 404, "/api/users/nobody/"),
]


@pytest.fixture(scope="module")
def openapi_schema() -> dict:
    import json

    from drf_spectacular.generators import SchemaGenerator
    from drf_spectacular.renderers import OpenApiJsonRenderer

    return json.loads(OpenApiJsonRenderer().render(SchemaGenerator().get_schema(request=None, public=True)))


@pytest.mark.parametrize("template, status, url", SCHEMA_CASES, ids=[f"{t} {s}" for t, s, _ in SCHEMA_CASES])
def test_it_answers_as_the_schema_declares(openapi_schema, alice_client, calls, template, status, url):
    Conformance(openapi_schema).check("get", template, status, alice_client.get(url))


def test_it_reads_a_page_in_a_bounded_number_of_queries_whatever_its_size(alice_client, make_log):
    for i in range(30):
        make_log(user_id=f"u{i}", session_id=f"s{i}", timestamp=BASE + timedelta(minutes=i))
    for url in ("/api/sessions/?page_size=500", "/api/users/?page_size=500"):
        with CaptureQueriesContext(connection) as queries:
            assert len(alice_client.get(url).json()["results"]) == 30
        assert len(queries) <= 5, url
