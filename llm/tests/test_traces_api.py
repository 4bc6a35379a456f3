"""GET /api/traces/ and /api/traces/<trace_id>/: one row per trace, and a trace's spans as a tree."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from llm.models import LLMRequestLog, ModelPrice
from llm.sources import otlp
from llm.tests.tracekit import MS, agent_run, llm_attributes, post, span

pytestmark = pytest.mark.django_db

T1 = "a1" * 16
T2 = "b2" * 16
T3 = "c3" * 16  # made of calls only, as /api/ingest/ stores them
BASE = datetime(2026, 3, 2, 11, 0, tzinfo=UTC)  # an hour before the `frozen` clock
BASE_NS = int(BASE.timestamp()) * 10**9


@pytest.fixture
def price(db):
    return ModelPrice.objects.create(
        provider="groq",
        model_name="test/model",
        input_per_million=Decimal(1),
        cached_input_per_million=Decimal("0.5"),
        output_per_million=Decimal(2),
        effective_from=datetime(2020, 1, 1, tzinfo=UTC),
    )


@pytest.fixture
def traces(frozen, ingest_secret, price, make_log):
    """T1: a 1.5 s agent run of u-1; T2: a failing run of u-2 ten minutes later; T3: two calls of u-3."""
    assert post(ingest_secret, *agent_run(T1, BASE_NS)).status_code == 200
    post(ingest_secret, *agent_run(T2, BASE_NS + 600_000 * MS, user="u-2", session="s-2", failing_tool=True))
    for i, model in enumerate(["other/model", "test/model"]):
        make_log(
            trace_id=T3,
            span_id=f"{i + 1:016x}",
            parent_span_id="",
            timestamp=BASE + timedelta(minutes=20, seconds=i),
            latency_ms=250.0,
            model_name=model,
            user_id="u-3",
            session_id="s-3",
            cost_estimate=None,
            status="error" if i else "success",
            error_type="timeout" if i else "",
        )


def listed(client, query=""):
    response = client.get(f"/api/traces/{query}")
    assert response.status_code == 200, response.content
    return response.json()


def test_it_lists_one_row_per_trace_with_its_figures(alice_client, traces):
    page = listed(alice_client)

    assert (page["count"], page["count_is_exact"], page["next"], page["previous"]) == (3, True, None, None)
    assert [row["trace_id"] for row in page["results"]] == [T3, T2, T1]  # newest first
    assert page["results"][2] == {
        "trace_id": T1,
        "name": "answer_question",
        "start": "2026-03-02T11:00:00Z",
        "duration_ms": 1500.0,
        "span_count": 5,
        "llm_calls": 1,
        "total_tokens": 120,
        "cost": 0.00014,  # 100 × $1 + 20 × $2 per million
        "error_count": 0,
        "user_id": "u-1",
        "session_id": "s-1",
    }
    assert (page["results"][1]["error_count"], page["results"][1]["user_id"]) == (1, "u-2")
    calls_only = page["results"][0]
    assert (calls_only["span_count"], calls_only["llm_calls"], calls_only["error_count"]) == (2, 2, 1)
    assert (calls_only["name"], calls_only["duration_ms"], calls_only["cost"]) == ("other/model", 1250.0, None)


@pytest.mark.parametrize(
    "query, expected",
    [
        ("?user_id=u-2", [T2]),
        ("?session_id=s-1", [T1]),
        ("?model=other/model", [T3]),  # traces holding such a call
        ("?status=error", [T3, T2]),  # a failed call or a failed span
        ("?status=success", [T1]),
        ("?min_duration_ms=1400", [T2, T1]),
        ("?ordering=duration_ms", [T3, T1, T2]),
        ("?ordering=-duration_ms", [T2, T1, T3]),
        ("?ordering=start", [T1, T2, T3]),
        ("?start_date=2026-03-02T11:05:00Z", [T3, T2]),
        ("?end_date=2026-03-02T11:05:00Z", [T1]),
        ("?user_id=nobody", []),
    ],
)
def test_it_filters_and_orders_traces(alice_client, traces, query, expected):
    assert [row["trace_id"] for row in listed(alice_client, query)["results"]] == expected


def test_it_counts_every_call_of_a_trace_matched_by_one_of_them(alice_client, traces):
    (row,) = listed(alice_client, "?model=other/model")["results"]
    assert row["llm_calls"] == 2


def test_it_pages_the_list(alice_client, traces):
    first = listed(alice_client, "?page_size=2")
    second = listed(alice_client, "?page_size=2&page=2")

    assert [r["trace_id"] for r in first["results"] + second["results"]] == [T3, T2, T1]
    assert first["next"] == "http://testserver/api/traces/?page=2&page_size=2"
    assert (second["next"], second["previous"]) == (None, "http://testserver/api/traces/?page_size=2")


@pytest.mark.parametrize(
    "query, field",
    [
        ("?ordering=timestamp", "ordering"),
        ("?ordering=--start", "ordering"),
        ("?min_duration_ms=-1", "min_duration_ms"),
        ("?min_duration_ms=nan", "min_duration_ms"),
        ("?status=maybe", "status"),
        ("?start_date=yesterday", "start_date"),
        ("?page=0", "page"),
    ],
)
def test_it_answers_400_naming_the_bad_parameter(alice_client, traces, query, field):
    response = alice_client.get(f"/api/traces/{query}")
    assert response.status_code == 400
    assert list(response.json()["fields"]) == [field]


def test_it_refuses_anonymous_requests(api_client, traces):
    for url in ("/api/traces/", f"/api/traces/{T1}/"):
        response = api_client.get(url)
        assert response.status_code == 401
        assert "error" in response.json()


def test_it_accepts_a_token(api_client, alice_token, traces):
    response = api_client.get("/api/traces/", HTTP_AUTHORIZATION=f"Token {alice_token}")
    assert response.json()["count"] == 3


def test_it_runs_a_fixed_number_of_queries_for_a_page_of_traces(alice_client, traces, django_assert_num_queries):
    # The page, the spans' figures, their root names, and the names of the traces made of calls only.
    with django_assert_num_queries(4):
        listed(alice_client)
    # The page, its count (it may not be the last), the spans' figures and their root names.
    with django_assert_num_queries(4):
        listed(alice_client, "?page_size=1&ordering=start")


# --- One trace ---------------------------------------------------------------------------


def test_it_answers_a_trace_with_its_spans_in_tree_order(alice_client, traces):
    trace = alice_client.get(f"/api/traces/{T1}/").json()

    assert {k: v for k, v in trace.items() if k != "spans"} == listed(alice_client, "?user_id=u-1")["results"][0]
    assert [(s["name"], s["depth"], s["offset_ms"], s["duration_ms"]) for s in trace["spans"]] == [
        ("answer_question", 0, 0.0, 1500.0),
        ("retrieve", 1, 10.0, 200.0),
        ("GET /search", 2, 20.0, 150.0),
        ("chat test/model", 1, 300.0, 900.0),
        ("tool calculator", 1, 1250.0, 200.0),
    ]
    agent, retrieve, http, llm, tool = trace["spans"]
    assert (agent["parent_span_id"], retrieve["parent_span_id"]) == ("", agent["span_id"])
    assert (agent["kind"], http["kind"], agent["status"], agent["orphan"], agent["call"]) == (
        "internal",
        "client",
        "unset",
        False,
        None,
    )
    assert http["attributes"] == {"http.request.method": "GET", "http.response.status_code": 200}
    assert (http["service_name"], http["start"]) == ("agent-api", "2026-03-02T11:00:00.020000Z")
    call = LLMRequestLog.objects.get(trace_id=T1)
    assert llm["call"] == {
        "request_id": str(call.request_id),
        "model": "test/model",
        "provider": "groq",
        "status": "success",
        "error_type": "",
        "prompt_tokens": 100,
        "completion_tokens": 20,
        "total_tokens": 120,
        "cost_estimate": 0.00014,
        "latency_ms": 900.0,
        "time_to_first_token_ms": None,
    }
    # The texts stay on the call (capture policy, redaction); the page reads them from /api/logs/<id>/.
    assert "gen_ai.input.messages" not in llm["attributes"] and llm["attributes"]["user.id"] == "u-1"
    assert tool["status"] == "unset"


def test_it_marks_failed_spans(alice_client, traces):
    spans = alice_client.get(f"/api/traces/{T2}/").json()["spans"]
    tool = next(s for s in spans if s["name"] == "tool calculator")
    assert (tool["status"], tool["status_message"]) == ("error", "division by zero")


def test_it_draws_a_trace_of_calls_alone_from_its_calls(alice_client, traces):
    trace = alice_client.get(f"/api/traces/{T3}/").json()

    assert (trace["span_count"], trace["llm_calls"], trace["duration_ms"], trace["error_count"]) == (2, 2, 1250.0, 1)
    assert [(s["span_id"], s["name"], s["offset_ms"], s["status"], s["kind"]) for s in trace["spans"]] == [
        ("0000000000000001", "other/model", 0.0, "unset", "client"),
        ("0000000000000002", "test/model", 1000.0, "error", "client"),
    ]
    assert trace["spans"][1]["call"]["error_type"] == "timeout"


@pytest.mark.parametrize("trace_id", ["f" * 32, "nothex", "a" * 200])
def test_it_answers_404_json_for_an_unknown_trace(alice_client, traces, trace_id):
    response = alice_client.get(f"/api/traces/{trace_id}/")
    assert response.status_code == 404
    assert response.json() == {"error": "No trace with this trace_id.", "fields": {}}


def test_it_shows_spans_whose_parent_never_arrived_as_orphan_roots(alice_client, frozen, ingest_secret):
    trace_id = "d4" * 16
    post(
        ingest_secret,
        span(trace_id, "00000000000000e1", start_ns=BASE_NS, parent="00000000000000ff", attributes=llm_attributes()),
        span(trace_id, "00000000000000e2", start_ns=BASE_NS + MS, parent="00000000000000e1", name="child"),
    )
    spans = alice_client.get(f"/api/traces/{trace_id}/").json()["spans"]
    assert [(s["span_id"], s["depth"], s["orphan"]) for s in spans] == [
        ("00000000000000e1", 0, True),
        ("00000000000000e2", 1, False),
    ]


def test_it_shows_every_span_of_a_cycle_once(alice_client, frozen, ingest_secret):
    trace_id = "e5" * 16
    ids = [f"{i:016x}" for i in range(1, 5)]
    post(
        ingest_secret,
        span(trace_id, ids[0], start_ns=BASE_NS, attributes=llm_attributes()),  # a root
        span(trace_id, ids[1], start_ns=BASE_NS + MS, parent=ids[2], name="b"),  # b ↔ c
        span(trace_id, ids[2], start_ns=BASE_NS + 2 * MS, parent=ids[1], name="c"),
        span(trace_id, ids[3], start_ns=BASE_NS + 3 * MS, parent=ids[3], name="self"),  # its own parent
    )
    spans = alice_client.get(f"/api/traces/{trace_id}/").json()["spans"]
    assert [(s["span_id"], s["depth"], s["orphan"]) for s in spans] == [
        (ids[0], 0, False),
        (ids[1], 0, True),
        (ids[2], 1, False),
        (ids[3], 0, True),
    ]
    assert listed(alice_client)["results"][0]["span_count"] == 4


def test_it_answers_a_trace_of_1000_spans_with_all_of_them(
    alice_client, frozen, ingest_secret, django_assert_num_queries
):
    trace_id = "f6" * 16
    root = span(trace_id, f"{1:016x}", start_ns=BASE_NS, duration_ms=5000, name="agent")
    children = [
        span(
            trace_id,
            f"{i + 2:016x}",
            start_ns=BASE_NS + i * 4 * MS,
            duration_ms=3,
            parent=f"{1:016x}",
            name=f"step {i}",
            attributes=llm_attributes() if i % 10 == 0 else {"step": i},
        )
        for i in range(999)
    ]
    response = post(ingest_secret, root, *children)
    assert response["X-Spans-Stored"] == "1000", response.content

    # The spans with their calls, and the calls without a span.
    with django_assert_num_queries(2):
        trace = alice_client.get(f"/api/traces/{trace_id}/").json()
    assert (trace["span_count"], len(trace["spans"]), trace["llm_calls"]) == (1000, 1000, 100)
    assert [s["name"] for s in trace["spans"][:3]] == ["agent", "step 0", "step 1"]
    assert trace["spans"][-1]["offset_ms"] == 998 * 4.0
    assert {s["depth"] for s in trace["spans"][1:]} == {1}


def test_it_keeps_a_trace_past_the_cap_readable(alice_client, frozen, ingest_secret, monkeypatch):
    monkeypatch.setattr(otlp, "MAX_SPANS_PER_TRACE", 3)
    trace_id = "a7" * 16
    spans = [span(trace_id, f"{i + 1:016x}", start_ns=BASE_NS + i * MS, attributes=llm_attributes()) for i in range(5)]
    post(ingest_secret, *spans)
    trace = alice_client.get(f"/api/traces/{trace_id}/").json()
    assert [s["span_id"] for s in trace["spans"]] == [f"{i + 1:016x}" for i in range(3)]
