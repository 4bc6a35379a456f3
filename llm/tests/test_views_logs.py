"""GET /api/logs/, /api/logs/errors/ and /api/logs/<request_id>/."""

import re
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from llm.api.pagination import COUNT_CAP, DEFERRED_FROM
from llm.models import LLMRequestLog, UserFeedback

pytestmark = pytest.mark.django_db

BASE = datetime(2024, 3, 11, tzinfo=UTC)


@pytest.fixture
def logs(make_log):
    rows = []
    for i in range(7):
        rows.append(
            make_log(
                timestamp=BASE + timedelta(minutes=i),
                model_name="m-a" if i % 2 else "m-b",
                latency_ms=100 + (i * 37) % 200,
                status="error" if i in (2, 5) else "success",
                error_type="timeout" if i in (2, 5) else "",
                user_id=f"u{i % 3}",
                session_id="s-1" if i < 3 else "s-2",
                prompt_text=f"prompt {i} " + "p" * 500,
                response_text=f"response {i} " + "r" * 500,
            )
        )
    return rows


@pytest.mark.parametrize("url", ["/api/logs/", "/api/logs/errors/", f"/api/logs/{uuid.uuid4()}/"])
def test_it_requires_authentication(api_client, url):
    response = api_client.get(url)
    assert response.status_code == 401
    assert response.json()["fields"] == {}


@pytest.mark.parametrize("url", ["/api/logs/", "/api/logs/errors/"])
def test_it_rejects_a_wrong_token(api_client, url):
    api_client.credentials(HTTP_AUTHORIZATION="Token not-a-real-token")
    assert api_client.get(url).json() == {"error": "Invalid token.", "fields": {}}


def test_it_lists_newest_first_with_previews_only(alice_client, logs):
    body = alice_client.get("/api/logs/").json()
    assert (body["count"], body["count_is_exact"], body["next"], body["previous"]) == (7, True, None, None)
    assert [r["request_id"] for r in body["results"]] == [str(r.request_id) for r in reversed(logs)]
    first = body["results"][0]
    assert first["prompt_preview"] == ("prompt 6 " + "p" * 500)[:200]
    assert len(first["response_preview"]) == 200
    assert "prompt_text" not in first and "response_text" not in first
    assert first["timestamp"] == "2024-03-11T00:06:00Z"
    assert first["cost_estimate"] == 0.000023
    assert first["trace_id"] == ""  # the logs page links a call's trace when it has one


def test_it_never_selects_the_full_texts(alice_client, logs):
    with CaptureQueriesContext(connection) as queries:
        alice_client.get("/api/logs/?page_size=2")
    page_sql = next(q["sql"] for q in queries.captured_queries if "LIMIT" in q["sql"] and "SUBSTR" in q["sql"].upper())
    select = page_sql.split(" FROM ")[0]
    assert "prompt_text" in select  # inside the preview
    outside_previews = re.sub(r"SUBSTR(ING)?\([^)]*\)", "", select, flags=re.IGNORECASE)
    for column in ("prompt_text", "response_text", "error_message", "metadata"):
        assert column not in outside_previews


def test_it_paginates_with_links(alice_client, logs):
    page = alice_client.get("/api/logs/?page_size=3&page=2").json()
    assert page["count"] == 7
    assert [r["request_id"] for r in page["results"]] == [str(r.request_id) for r in reversed(logs[1:4])]
    assert page["next"] == "http://testserver/api/logs/?page=3&page_size=3"
    assert page["previous"] == "http://testserver/api/logs/?page_size=3"
    last = alice_client.get(page["next"]).json()
    assert (len(last["results"]), last["next"]) == (1, None)


def test_it_filters_and_orders(alice_client, logs):
    body = alice_client.get("/api/logs/?model=m-a&ordering=-latency_ms").json()
    expected = sorted((r for r in logs if r.model_name == "m-a"), key=lambda r: (-r.latency_ms, -r.id))
    assert [r["request_id"] for r in body["results"]] == [str(r.request_id) for r in expected]
    search = alice_client.get("/api/logs/?search=RESPONSE 4").json()
    assert [r["request_id"] for r in search["results"]] == [str(logs[4].request_id)]
    sessions = alice_client.get("/api/logs/?session_id=s-1&user_id=u1&min_latency_ms=100").json()
    assert [r["request_id"] for r in sessions["results"]] == [str(logs[1].request_id)]
    dates = alice_client.get("/api/logs/?start_date=2024-03-11T00:02:00Z&end_date=2024-03-11T00:03:00Z").json()
    assert dates["count"] == 2


def test_it_lists_only_errors(alice_client, logs):
    body = alice_client.get("/api/logs/errors/").json()
    assert [r["request_id"] for r in body["results"]] == [str(logs[5].request_id), str(logs[2].request_id)]
    assert body["count"] == 2 and {r["status"] for r in body["results"]} == {"error"}
    assert alice_client.get("/api/logs/errors/?status=success").json()["results"] == []


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("page=0", "page"),
        ("page=abc", "page"),
        ("page=5", "page"),
        ("page_size=501", "page_size"),
        ("ordering=prompt_text", "ordering"),
        ("status=ok", "status"),
        ("start_date=nope", "start_date"),
    ],
)
def test_it_rejects_bad_parameters(alice_client, logs, query, field):
    response = alice_client.get(f"/api/logs/?{query}")
    assert response.status_code == 400
    assert list(response.json()["fields"]) == [field]


@pytest.mark.parametrize("url", ["/api/logs/", "/api/logs/errors/"])
@pytest.mark.parametrize("ordering", ["--timestamp", "-+timestamp", "---latency_ms", "- timestamp"])
def test_it_rejects_an_ordering_with_more_than_one_sign(alice_client, logs, url, ordering):
    response = alice_client.get(url, {"ordering": ordering})
    assert response.status_code == 400
    assert "ordering" in response.json()["fields"]


def test_it_pins_the_list_to_two_queries(alice_client, logs, django_assert_num_queries):
    alice_client.get("/api/logs/")
    with django_assert_num_queries(2):  # the page (+1 row) and a capped COUNT
        assert len(alice_client.get("/api/logs/?page_size=2").json()["results"]) == 2
    with django_assert_num_queries(1):  # a last page needs no COUNT
        assert alice_client.get("/api/logs/?page_size=5&page=2").json()["count"] == 7


def test_it_caps_the_count(alice_client, logs, monkeypatch):
    monkeypatch.setattr("llm.api.pagination.COUNT_CAP", 4)
    body = alice_client.get("/api/logs/?page_size=2").json()
    assert (body["count"], body["count_is_exact"]) == (4, False)
    deeper = alice_client.get("/api/logs/?page_size=2&page=3").json()
    assert (deeper["count"], deeper["count_is_exact"], len(deeper["results"])) == (7, False, 2)
    assert COUNT_CAP == 10_000


@pytest.mark.parametrize("ordering", ["", "latency_ms", "-cost_estimate"])
def test_it_reads_deep_pages_by_their_keys_first(alice_client, ordering):
    # Three calls per second and seven latencies: the id tie-breaker decides much of the order.
    LLMRequestLog.objects.bulk_create(
        [
            LLMRequestLog(
                request_id=uuid.uuid4(),
                timestamp=BASE + timedelta(seconds=i // 3),
                model_name="m",
                prompt_tokens=1,
                completion_tokens=1,
                total_tokens=2,
                latency_ms=i % 7,
                cost_estimate=Decimal(i % 5) / 1000,
                prompt_text=f"prompt {i}",
                response_text="r",
            )
            for i in range(DEFERRED_FROM + 30)
        ]
    )
    key = {
        "": lambda r: (r.timestamp, r.id),
        "latency_ms": lambda r: (r.latency_ms, r.id),
        "-cost_estimate": lambda r: (r.cost_estimate, r.id),
    }[ordering]
    expected = sorted(LLMRequestLog.objects.all(), key=key, reverse=ordering != "latency_ms")
    with CaptureQueriesContext(connection) as queries:
        body = alice_client.get(f"/api/logs/?page_size=500&page=3&ordering={ordering}").json()
    assert [r["request_id"] for r in body["results"]] == [str(r.request_id) for r in expected[1000:]]
    assert [r["prompt_preview"] for r in body["results"]] == [r.prompt_text for r in expected[1000:]]
    assert (body["count"], body["next"]) == (DEFERRED_FROM + 30, None)
    # The keys, then only those rows' previews: never the previews of the 1,000 rows skipped.
    sqls = [q["sql"] for q in queries if "llm_llmrequestlog" in q["sql"]]
    assert len(sqls) == 2
    assert "OFFSET 1000" in sqls[0] and "SUBSTR" not in sqls[0].upper()
    assert "SUBSTR" in sqls[1].upper() and "OFFSET" not in sqls[1]


def test_it_shows_one_call_in_full_with_its_feedback(alice_client, logs):
    log = logs[2]
    log.metadata = {"app": "chat", "tags": ["a"]}
    log.error_message = "Request timed out after 60 s"
    log.save()
    UserFeedback.objects.create(request=log, rating="thumbs_down", comment="slow")
    body = alice_client.get(f"/api/logs/{log.request_id}/").json()
    assert body["prompt_text"] == log.prompt_text and body["response_text"] == log.response_text
    assert body["metadata"] == {"app": "chat", "tags": ["a"]}
    assert body["error_message"] == "Request timed out after 60 s"
    assert [(f["rating"], f["comment"]) for f in body["feedback"]] == [("thumbs_down", "slow")]


def test_it_names_the_model_model_and_keeps_model_name_as_an_alias(alice_client, logs):
    by_id = {str(log.request_id): log.model_name for log in logs}
    rows = alice_client.get("/api/logs/").json()["results"] + alice_client.get("/api/logs/errors/").json()["results"]
    rows.append(alice_client.get(f"/api/logs/{logs[3].request_id}/").json())
    assert len(rows) == 7 + 2 + 1
    assert [(r["model"], r["model_name"]) for r in rows] == [(by_id[r["request_id"]],) * 2 for r in rows]
    assert {r["model"] for r in rows} == {"m-a", "m-b"}


@pytest.mark.parametrize("request_id", [str(uuid.uuid4()), "not-a-uuid", "123"])
def test_it_answers_404_for_an_unknown_or_malformed_id(alice_client, logs, request_id):
    response = alice_client.get(f"/api/logs/{request_id}/")
    assert response.status_code == 404
    assert response.json() == {"error": "No call with this request_id.", "fields": {}}
