"""POST /api/ingest/: batches of calls sent by other applications with an ingest key."""

import gzip
import json
import tracemalloc
import uuid
from datetime import UTC, datetime
from decimal import Decimal

import pytest
import time_machine
from django.db import connection
from django.test import override_settings
from rest_framework.test import APIClient

from llm.models import LLMRequestLog, ModelPrice
from llm.sources.ingest import ingest_key_revoke
from llm.tests.ingestkit import bearer

URL = "/api/ingest/"
pytestmark = pytest.mark.django_db


def post(secret, body, *, raw: bytes | None = None, content_type="application/json", **headers):
    data = raw if raw is not None else json.dumps(body).encode()
    return APIClient().post(URL, data=data, content_type=content_type, **bearer(secret), **headers)


def event(**fields):
    values = {
        "model": "test/model",
        "provider": "groq",
        "prompt_text": "What is 2+2?",
        "response_text": "4",
        "prompt_tokens": 1000,
        "completion_tokens": 500,
        "latency_ms": 321.5,
    }
    values.update(fields)
    return values


@pytest.fixture
def price(db):
    return ModelPrice.objects.create(
        provider="groq",
        model_name="test/model",
        input_per_million=Decimal("1.00"),
        cached_input_per_million=Decimal("0.50"),
        output_per_million=Decimal("2.00"),
        effective_from=datetime(2020, 1, 1, tzinfo=UTC),
    )


def test_it_stores_an_event_with_every_field(ingest_key):
    key, secret = ingest_key
    request_id = str(uuid.uuid4())
    response = post(
        secret,
        {
            "events": [
                event(
                    request_id=request_id,
                    timestamp="2026-01-31T12:00:00Z",
                    cached_prompt_tokens=200,
                    time_to_first_token_ms=80,
                    user_id="u-42",
                    session_id="s-1",
                    finish_reason="stop",
                    temperature=0.2,
                    max_tokens=1024,
                    metadata={"feature": "search"},
                    cost_estimate="0.0123",
                )
            ]
        },
    )

    assert response.status_code == 200, response.content
    assert response.json() == {
        "summary": {"accepted": 1, "duplicates": 0, "rejected": 0},
        "accepted": [{"index": 0, "request_id": request_id}],
        "duplicates": [],
        "rejected": [],
    }
    row = LLMRequestLog.objects.get()
    assert str(row.request_id) == request_id
    assert row.timestamp == datetime(2026, 1, 31, 12, tzinfo=UTC)
    assert (row.model_name, row.provider, row.source) == ("test/model", "groq", "ingest")
    assert (row.prompt_tokens, row.completion_tokens, row.total_tokens, row.cached_prompt_tokens) == (
        1000,
        500,
        1500,
        200,
    )
    assert (row.latency_ms, row.time_to_first_token_ms) == (321.5, 80.0)
    assert (row.user_id, row.session_id, row.finish_reason) == ("u-42", "s-1", "stop")
    assert (row.temperature, row.max_tokens) == (0.2, 1024)
    assert row.metadata == {"feature": "search", "cost_source": "sender"}
    assert row.cost_estimate == Decimal("0.012300")
    assert (row.prompt_text, row.response_text) == ("What is 2+2?", "4")
    assert row.status == "success" and row.error_type == ""
    assert row.ingest_key_id == key.pk


def test_it_prices_events_that_carry_no_cost(ingest_secret, price):
    post(
        ingest_secret,
        {
            "events": [
                event(user_id="priced", cached_prompt_tokens=400),
                event(user_id="unpriced", model="no/such-model"),
            ]
        },
    )

    rows = {row.user_id: row for row in LLMRequestLog.objects.all()}
    # (600 × 1.00 + 400 × 0.50 + 500 × 2.00) / 1e6
    assert rows["priced"].cost_estimate == Decimal("0.001800")
    assert rows["unpriced"].cost_estimate is None
    assert [row.metadata for row in rows.values()] == [{}, {}]  # no cost_source: ours, re-priced by recompute


def test_it_stores_valid_events_and_rejects_invalid_ones_of_the_same_batch(ingest_secret):
    response = post(
        ingest_secret,
        {
            "events": [
                event(user_id="first"),
                event(model="", prompt_tokens=-1),
                "not an object",
                event(user_id="last", request_id="nope", colour="blue"),
                event(user_id="fourth", cached_prompt_tokens=2000),
                event(user_id="fifth", latency_ms="fast", timestamp="yesterday", status="maybe"),
            ]
        },
    )

    assert response.status_code == 200
    body = response.json()
    assert body["summary"] == {"accepted": 1, "duplicates": 0, "rejected": 5}
    assert [item["index"] for item in body["accepted"]] == [0]
    assert body["rejected"] == [
        {
            "index": 1,
            "request_id": None,
            "fields": {"model": "This field is required.", "prompt_tokens": "Must be between 0 and 2147483647."},
        },
        {"index": 2, "request_id": None, "fields": {"non_field_errors": "Each event must be a JSON object."}},
        {"index": 3, "request_id": "nope", "fields": {"request_id": "Must be a UUID.", "colour": "Unknown field."}},
        {"index": 4, "request_id": None, "fields": {"cached_prompt_tokens": "Cannot exceed prompt_tokens."}},
        {
            "index": 5,
            "request_id": None,
            "fields": {
                "latency_ms": "Must be a number of milliseconds.",
                "timestamp": "Must be an ISO 8601 date-time, e.g. 2026-01-31T12:00:00Z.",
                "status": "Must be 'success' or 'error'.",
            },
        },
    ]
    assert list(LLMRequestLog.objects.values_list("user_id", flat=True)) == ["first"]


def test_it_reports_duplicates_and_stores_nothing_twice_when_a_batch_is_resent(ingest_secret):
    ids = [str(uuid.uuid4()) for _ in range(3)]
    batch = {"events": [event(request_id=ids[0]), event(request_id=ids[1]), event(request_id=ids[0])]}

    first = post(ingest_secret, batch).json()
    batch["events"].append(event(request_id=ids[2]))
    second = post(ingest_secret, batch).json()

    assert first["summary"] == {"accepted": 2, "duplicates": 1, "rejected": 0}
    assert first["duplicates"] == [{"index": 2, "request_id": ids[0]}]
    assert second["summary"] == {"accepted": 1, "duplicates": 3, "rejected": 0}
    assert second["accepted"] == [{"index": 3, "request_id": ids[2]}]
    assert [d["index"] for d in second["duplicates"]] == [0, 1, 2]
    assert sorted(str(i) for i in LLMRequestLog.objects.values_list("request_id", flat=True)) == sorted(ids)


def test_it_gives_each_event_without_request_id_a_new_one(ingest_secret):
    body = post(ingest_secret, {"events": [event(), event()]}).json()

    returned = {item["request_id"] for item in body["accepted"]}
    assert returned == {str(i) for i in LLMRequestLog.objects.values_list("request_id", flat=True)}
    assert len(returned) == 2


def test_it_maps_error_types_and_keeps_unknown_raw_values(ingest_secret):
    post(
        ingest_secret,
        {
            "events": [
                event(
                    user_id="known", status="error", error_type="rate_limit", http_status=429, error_message="slow down"
                ),
                event(user_id="odd", status="error", error_type="QuotaExploded"),
                event(user_id="sdk-name", error_type="groq.APITimeoutError"),
                event(user_id="status-only", status="error", http_status=503),
            ]
        },
    )

    rows = {row.user_id: row for row in LLMRequestLog.objects.all()}
    assert (rows["known"].status, rows["known"].error_type, rows["known"].http_status) == ("error", "rate_limit", 429)
    assert rows["known"].error_message == "slow down"
    assert rows["known"].metadata == {}
    assert (rows["odd"].error_type, rows["odd"].metadata) == ("unknown", {"error_type_raw": "QuotaExploded"})
    assert (rows["sdk-name"].status, rows["sdk-name"].error_type) == ("error", "timeout")
    assert rows["status-only"].error_type == "server_error"


def test_it_refuses_an_error_type_on_a_successful_event(ingest_secret):
    body = post(ingest_secret, {"events": [event(status="success", error_type="timeout")]}).json()

    assert body["rejected"][0]["fields"] == {"error_type": "Only for status 'error'."}


def test_it_renders_chat_messages_as_the_prompt(ingest_secret):
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi?"}]
    post(ingest_secret, {"events": [event(prompt_text=None, messages=messages)]})

    assert LLMRequestLog.objects.get().prompt_text == "system: Be brief.\n\nuser: Hi?"


def test_it_refuses_prompt_text_and_messages_together(ingest_secret):
    body = post(ingest_secret, {"events": [event(messages=[{"role": "user", "content": "x"}])]}).json()

    assert body["rejected"][0]["fields"] == {"messages": "Give prompt_text or messages, not both."}


@override_settings(LLM_LOG_MAX_TEXT_CHARS=100)
def test_it_truncates_long_texts_like_in_process_calls(ingest_secret):
    post(ingest_secret, {"events": [event(prompt_text="p" * 150)]})

    assert LLMRequestLog.objects.get().prompt_text == "p" * 100 + "\n…[truncated 50 characters]"


@override_settings(LLM_LOG_CAPTURE_TEXT=False)
def test_it_stores_no_text_when_capture_is_off(ingest_secret):
    post(ingest_secret, {"events": [event()]})

    row = LLMRequestLog.objects.get()
    assert (row.prompt_text, row.response_text, row.prompt_tokens) == ("", "", 1000)


def test_it_strips_nul_characters_that_postgresql_cannot_store(ingest_secret):
    body = post(ingest_secret, {"events": [event(prompt_text="a\x00b"), event(metadata={"k": "v\x00"})]}).json()

    assert LLMRequestLog.objects.get().prompt_text == "ab"
    assert body["rejected"][0]["fields"] == {"metadata": "metadata.k must not contain NUL characters."}


def test_it_rejects_lone_surrogates_per_event_and_stores_the_rest(ingest_secret):
    # json.dumps escapes them as \\ud800, which a JSON parser turns back into a lone surrogate.
    response = post(
        ingest_secret,
        {
            "events": [
                event(prompt_text="a\ud800b"),
                event(status="error", error_message="\ud800"),
                event(metadata={"a": "\ud800"}),
                event(metadata={"nested": [{"\udc00": 1}]}),
                event(prompt_text=None, messages=[{"role": "user", "content": "hi \udfff"}]),
                event(user_id="\ud83d"),
                event(user_id="ok", prompt_text="pair \ud83d\ude00 kept", metadata={"emoji": "\ud83d\ude00"}),
            ]
        },
    )

    assert response.status_code == 200, response.content
    message = "Must not contain lone surrogates (invalid Unicode)."
    assert [(r["index"], r["fields"]) for r in response.json()["rejected"]] == [
        (0, {"prompt_text": message}),
        (1, {"error_message": message}),
        (2, {"metadata": "metadata.a must not contain lone surrogates (invalid Unicode)."}),
        (3, {"metadata": "metadata.nested[0] has a key with a lone surrogate (invalid Unicode)."}),
        (4, {"messages": message}),
        (5, {"user_id": message}),
    ]
    row = LLMRequestLog.objects.get()
    assert (row.user_id, row.prompt_text, row.metadata) == ("ok", "pair \U0001f600 kept", {"emoji": "\U0001f600"})


@pytest.mark.parametrize("cost", ["99999999.9999999", 99999999.9999999, "1e8"])
def test_it_rejects_a_cost_that_rounds_past_the_column_and_stores_the_rest(ingest_secret, cost):
    response = post(ingest_secret, {"events": [event(cost_estimate=cost), event(cost_estimate="99999999.999999")]})

    assert response.status_code == 200, response.content
    assert response.json()["rejected"] == [
        {"index": 0, "request_id": None, "fields": {"cost_estimate": "Must be between 0 and 100000000."}}
    ]
    assert LLMRequestLog.objects.get().cost_estimate == Decimal("99999999.999999")


def test_it_rejects_strings_longer_than_their_column(ingest_secret):
    body = post(ingest_secret, {"events": [event(model="m" * 201, user_id="u" * 256)]}).json()

    assert body["rejected"][0]["fields"] == {"model": "At most 200 characters.", "user_id": "At most 255 characters."}


@time_machine.travel(datetime(2026, 3, 1, 9, 30, tzinfo=UTC), tick=False)
def test_it_timestamps_events_without_one_at_arrival_and_reads_naive_times_as_utc(ingest_secret):
    post(ingest_secret, {"events": [event(user_id="now"), event(user_id="naive", timestamp="2026-02-01T08:00:00")]})

    rows = {row.user_id: row.timestamp for row in LLMRequestLog.objects.all()}
    assert rows == {
        "now": datetime(2026, 3, 1, 9, 30, tzinfo=UTC),
        "naive": datetime(2026, 2, 1, 8, tzinfo=UTC),
    }


@time_machine.travel(datetime(2026, 3, 1, 9, 30, tzinfo=UTC), tick=False)
def test_it_rejects_timestamps_outside_the_window_and_keeps_the_rest_of_the_batch(ingest_secret, alice_client):
    response = post(
        ingest_secret,
        {
            "events": [
                event(user_id="bc", timestamp="0001-01-01T00:00:00+05:00"),  # BC on PostgreSQL once in UTC
                event(user_id="max", timestamp="9999-12-31T23:59:59-05:00"),  # past year 9999 in UTC
                event(user_id="old", timestamp="1999-12-31T23:59:59Z"),
                event(user_id="future", timestamp="2026-03-02T09:30:01Z"),
                event(user_id="first", timestamp="2000-01-01T00:00:00Z"),
                event(user_id="last", timestamp="2026-03-02T10:30:00+01:00"),
            ]
        },
    )

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["summary"] == {"accepted": 2, "duplicates": 0, "rejected": 4}
    message = "Must be between 2000-01-01 and one day from now (UTC)."
    assert [(r["index"], r["fields"]) for r in body["rejected"]] == [(i, {"timestamp": message}) for i in range(4)]
    assert sorted(LLMRequestLog.objects.values_list("user_id", flat=True)) == ["first", "last"]
    assert alice_client.get("/api/logs/").status_code == 200


@pytest.mark.parametrize("size", [1, 100])
def test_it_runs_the_same_queries_for_one_event_or_a_hundred(ingest_secret, django_assert_num_queries, price, size):
    post(ingest_secret, {"events": [event()]})  # the key's last_used_at is written now, not below
    # The key, the known request_ids, the prices, and the insert in its savepoint.
    with django_assert_num_queries(6):
        response = post(ingest_secret, {"events": [event() for _ in range(size)]})
    assert response.json()["summary"]["accepted"] == size


# --- Limits, encodings, content types --------------------------------------------------


@override_settings(INGEST_MAX_EVENTS=3)
def test_it_answers_413_past_the_event_limit(ingest_secret):
    response = post(ingest_secret, {"events": [event() for _ in range(4)]})

    assert response.status_code == 413
    assert response.json() == {"error": "At most 3 events per request; got 4.", "fields": {}}
    assert not LLMRequestLog.objects.exists()


@override_settings(INGEST_MAX_BODY_BYTES=2000)
def test_it_answers_413_past_the_body_limit(ingest_secret):
    response = post(ingest_secret, {"events": [event(prompt_text="x" * 2000)]})

    assert response.status_code == 413
    assert response.json() == {"error": "Request body larger than 2000 bytes.", "fields": {}}


def test_it_accepts_bodies_past_djangos_upload_limit_up_to_its_own(ingest_secret, settings):
    text = "y" * 1_000_000
    body = {"events": [event(prompt_text=text), event(prompt_text=text), event(prompt_text=text)]}
    assert len(json.dumps(body)) > settings.DATA_UPLOAD_MAX_MEMORY_SIZE

    response = post(ingest_secret, body)

    assert response.status_code == 200, response.content
    assert LLMRequestLog.objects.count() == 3


def test_it_answers_413_in_json_for_six_megabytes(ingest_secret):
    response = post(ingest_secret, None, raw=b'{"events": ["' + b"z" * 6_000_000 + b'"]}')

    assert response.status_code == 413
    assert response.json()["error"] == "Request body larger than 5242880 bytes."


def test_it_accepts_a_gzip_body(ingest_secret):
    raw = gzip.compress(json.dumps({"events": [event(user_id="zipped")]}).encode())

    response = post(ingest_secret, None, raw=raw, HTTP_CONTENT_ENCODING="gzip")

    assert response.status_code == 200, response.content
    assert LLMRequestLog.objects.get().user_id == "zipped"


@override_settings(INGEST_MAX_BODY_BYTES=1_000_000)
def test_it_refuses_a_gzip_bomb_without_inflating_it(ingest_secret):
    bomb = gzip.compress(b"[" + b" " * 200_000_000 + b"]", compresslevel=9)
    assert len(bomb) < 300_000

    tracemalloc.start()
    try:
        response = post(ingest_secret, None, raw=bomb, HTTP_CONTENT_ENCODING="gzip")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert response.status_code == 413
    assert response.json()["error"] == "Request body larger than 1000000 bytes."
    # Inflating it all would take 200 MB; the cap plus the compressed body is a few MB.
    assert peak < 20_000_000


def test_it_answers_400_for_a_body_that_is_not_gzip(ingest_secret):
    response = post(ingest_secret, None, raw=b"plain text", HTTP_CONTENT_ENCODING="gzip")

    assert response.status_code == 400
    assert response.json()["error"].startswith("Body is not valid gzip")


def test_it_answers_415_for_an_unknown_content_encoding(ingest_secret):
    response = post(ingest_secret, {"events": [event()]}, HTTP_CONTENT_ENCODING="br")

    assert response.status_code == 415
    assert response.json()["error"] == "Unsupported Content-Encoding 'br'; use gzip or none."


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", "application/x-protobuf"])
def test_it_answers_415_for_other_content_types(ingest_secret, content_type):
    response = post(ingest_secret, None, raw=json.dumps({"events": [event()]}).encode(), content_type=content_type)

    assert response.status_code == 415
    assert response.json() == {"error": "Send the batch as application/json.", "fields": {}}
    assert not LLMRequestLog.objects.exists()


def test_it_accepts_a_charset_on_the_json_content_type(ingest_secret):
    response = post(ingest_secret, {"events": [event()]}, content_type="application/json; charset=utf-8")

    assert response.status_code == 200


@pytest.mark.parametrize("raw", [b'{"events": [', b"\xff\xfe", b'{"events": [{"latency_ms": NaX}]}'])
def test_it_answers_400_for_malformed_json(ingest_secret, raw):
    response = post(ingest_secret, None, raw=raw)

    assert response.status_code == 400
    assert response.json()["error"].startswith("Malformed JSON")


@pytest.mark.parametrize("body", [[], {"event": []}, {"events": {}}, {"events": []}])
def test_it_answers_400_naming_events_for_a_wrong_envelope(ingest_secret, body):
    response = post(ingest_secret, body)

    assert response.status_code == 400
    assert list(response.json()["fields"]) == ["events"]


# --- Who may send ------------------------------------------------------------------------


def test_it_refuses_anonymous_requests():
    response = APIClient().post(URL, data={"events": [event()]}, format="json")

    assert response.status_code == 401
    assert response.json()["error"].startswith("An ingest key is required")
    assert response["WWW-Authenticate"] == 'Bearer realm="ingest"'


def test_it_refuses_a_users_api_token(alice_token):
    response = APIClient().post(
        URL, data={"events": [event()]}, format="json", HTTP_AUTHORIZATION=f"Token {alice_token}"
    )

    assert response.status_code == 401
    assert not LLMRequestLog.objects.exists()


def test_it_refuses_a_logged_in_user_without_a_key(alice):
    client = APIClient()
    assert client.login(username="alice", password="pw-alice-1")

    response = client.post(URL, data={"events": [event()]}, format="json")

    assert response.status_code == 401


def test_it_refuses_an_unknown_key(ingest_secret):
    response = post(ingest_secret[:-2] + "xx", {"events": [event()]})

    assert response.status_code == 401
    assert response.json() == {"error": "Invalid ingest key.", "fields": {}}


def test_it_refuses_a_revoked_key(ingest_key):
    key, secret = ingest_key
    ingest_key_revoke(key=key)

    response = post(secret, {"events": [event()]})

    assert response.status_code == 401
    assert response.json() == {"error": "This ingest key has been revoked.", "fields": {}}
    assert not LLMRequestLog.objects.exists()


def test_it_accepts_the_key_in_an_x_api_key_header(ingest_key):
    key, secret = ingest_key
    response = APIClient().post(
        URL, data=json.dumps({"events": [event()]}), content_type="application/json", HTTP_X_API_KEY=secret
    )

    assert response.status_code == 200
    assert LLMRequestLog.objects.get().ingest_key_id == key.pk


def test_it_refuses_get():
    assert APIClient().get(URL).status_code == 401


def test_it_reads_a_gzip_body_of_several_members(ingest_secret):
    raw = json.dumps({"events": [event(user_id="two-part")]}).encode()
    body = gzip.compress(raw[:20]) + gzip.compress(raw[20:])

    response = post(ingest_secret, None, raw=body, HTTP_CONTENT_ENCODING="gzip")

    assert response.status_code == 200, response.content
    assert LLMRequestLog.objects.get().user_id == "two-part"


def test_it_reads_a_gzip_body_of_a_thousand_members(ingest_secret):
    raw = json.dumps({"events": [event(user_id="many-parts")]}).encode()
    pieces = [raw[i : i + 1] for i in range(len(raw))] + [b""] * (1000 - len(raw))
    assert len(pieces) == 1000
    body = b"".join(gzip.compress(piece) for piece in pieces)

    response = post(ingest_secret, None, raw=body, HTTP_CONTENT_ENCODING="gzip")

    assert response.status_code == 200, response.content
    assert LLMRequestLog.objects.get().user_id == "many-parts"


def test_it_answers_400_for_a_gzip_body_of_200000_members(ingest_secret):
    # 4 MB of empty members: inflating them one by one used to take half a minute.
    body = gzip.compress(json.dumps({"events": [event()]}).encode()) + gzip.compress(b"") * 200_000

    response = post(ingest_secret, None, raw=body, HTTP_CONTENT_ENCODING="gzip")

    assert response.status_code == 400
    assert response.json() == {"error": "Gzip body of more than 1000 members; send one.", "fields": {}}
    assert not LLMRequestLog.objects.exists()


def test_it_answers_400_for_a_truncated_gzip_body(ingest_secret):
    body = gzip.compress(json.dumps({"events": [event()]}).encode())[:-12]

    response = post(ingest_secret, None, raw=body, HTTP_CONTENT_ENCODING="gzip")

    assert response.status_code == 400
    assert response.json()["error"] == "Truncated gzip body."


def test_it_answers_503_when_the_database_refuses_the_batch(ingest_key):
    from django.db import OperationalError

    _, secret = ingest_key

    def refuse_inserts(execute, sql, params, many, context):
        if sql.startswith("INSERT INTO") and "llm_llmrequestlog" in sql:
            raise OperationalError("database is locked")
        return execute(sql, params, many, context)

    with connection.execute_wrapper(refuse_inserts):
        response = post(secret, {"events": [event()]})
    assert response.status_code == 503
    assert response.json() == {"error": "The database is unavailable; retry later.", "fields": {}}
    assert response["Retry-After"] == "5"
    assert LLMRequestLog.objects.count() == 0
    # The sender retries the same batch and it is stored.
    assert post(secret, {"events": [event()]}).status_code == 200
    assert LLMRequestLog.objects.count() == 1


# --- Hostile numbers and shapes -----------------------------------------------------------


def raw_batch(*events: str) -> bytes:
    """A batch written by hand: Python's json.dumps cannot write 1e400 or a 5,000-digit integer."""
    return ('{"events": [' + ", ".join(events) + "]}").encode()


def test_it_rejects_non_finite_numbers_in_metadata_per_event_and_stores_the_rest(ingest_secret):
    huge = "9" * 5000  # past Python's 4,300-digit limit for integers
    response = post(
        ingest_secret,
        None,
        raw=raw_batch(
            '{"model": "m", "metadata": {"x": 1e400}}',
            '{"model": "m", "metadata": {"a": {"b": [1, NaN]}}}',
            '{"model": "m", "metadata": {"neg": -Infinity}}',
            '{"model": "m", "metadata": {"n": -' + huge + "}}",
            '{"model": "m", "metadata": {"odd key!": [Infinity]}}',
            '{"model": "m", "user_id": "kept", "metadata": {"big": 1180591620717411303424, "small": 1e-400, "f": 1.5}}',
        ),
    )

    assert response.status_code == 200, response.content
    assert [(r["index"], r["fields"]) for r in response.json()["rejected"]] == [
        (0, {"metadata": "metadata.x must be a finite number."}),
        (1, {"metadata": "metadata.a.b[1] must be a finite number."}),
        (2, {"metadata": "metadata.neg must be a finite number."}),
        (3, {"metadata": "metadata.n must be a finite number."}),
        (4, {"metadata": 'metadata["odd key!"][0] must be a finite number.'}),
    ]
    row = LLMRequestLog.objects.get()
    assert (row.user_id, row.metadata) == ("kept", {"big": 2**70, "small": 0.0, "f": 1.5})


def test_it_rejects_non_finite_numbers_in_numeric_fields_per_event(ingest_secret):
    response = post(
        ingest_secret,
        None,
        raw=raw_batch(
            '{"model": "m", "latency_ms": 1e400}',
            '{"model": "m", "time_to_first_token_ms": NaN}',
            '{"model": "m", "temperature": -Infinity}',
            '{"model": "m", "cost_estimate": Infinity}',
            '{"model": "m", "prompt_tokens": ' + "9" * 5000 + "}",
            '{"model": "m", "max_tokens": 1e400, "http_status": NaN}',
            '{"model": "m", "user_id": "kept", "latency_ms": 12.5}',
        ),
    )

    assert response.status_code == 200, response.content
    finite = "Must be a finite number."
    assert [(r["index"], r["fields"]) for r in response.json()["rejected"]] == [
        (0, {"latency_ms": finite}),
        (1, {"time_to_first_token_ms": finite}),
        (2, {"temperature": finite}),
        (3, {"cost_estimate": finite}),
        (4, {"prompt_tokens": finite}),
        (5, {"max_tokens": finite, "http_status": finite}),
    ]
    assert list(LLMRequestLog.objects.values_list("user_id", "latency_ms")) == [("kept", 12.5)]


def test_it_rejects_metadata_and_messages_nested_too_deeply(ingest_secret):
    deep = "[" * 500 + "]" * 500  # deep enough to break recursive code further down, not the parser
    response = post(
        ingest_secret,
        None,
        raw=raw_batch(
            '{"model": "m", "metadata": {"deep": ' + deep + "}}",
            '{"model": "m", "messages": [{"role": "user", "content": ' + deep + "}]}",
            '{"model": "m", "user_id": "kept", "metadata": {"shallow": [[[1]]]}}',
        ),
    )

    assert response.status_code == 200, response.content
    assert [(r["index"], r["fields"]) for r in response.json()["rejected"]] == [
        (0, {"metadata": "metadata.deep nests deeper than 100 levels."}),
        (1, {"messages": "Must not nest deeper than 100 levels."}),
    ]
    assert LLMRequestLog.objects.get().metadata == {"shallow": [[[1]]]}


def test_it_answers_400_for_a_body_nested_past_the_parser(ingest_secret):
    response = post(
        ingest_secret, None, raw=b'{"events": [{"metadata": {"x": ' + b"[" * 200_000 + b"]" * 200_000 + b"}}]}"
    )

    assert response.status_code == 400
    assert response.json()["error"].startswith("Malformed JSON")


def test_it_answers_rejected_events_whose_ids_and_names_cannot_be_echoed(ingest_secret):
    response = post(
        ingest_secret,
        None,
        raw=raw_batch(
            '{"model": "m", "request_id": NaN}',
            '{"model": "m", "request_id": "\\ud800"}',
            '{"model": "m", "request_id": ' + "[" * 500 + "]" * 500 + "}",
            '{"model": "m", "\\ud800": 1, "' + "k" * 500 + '": 2}',
            '{"model": "m", "user_id": "kept"}',
        ),
    )

    assert response.status_code == 200, response.content
    rejected = response.json()["rejected"]
    assert [(r["index"], r["request_id"]) for r in rejected] == [(0, None), (1, None), (2, None), (3, None)]
    assert [r["fields"] for r in rejected[:3]] == [{"request_id": "Must be a UUID."}] * 3
    assert rejected[3]["fields"] == {'"\\ud800"': "Unknown field.", '"' + "k" * 40 + '..."': "Unknown field."}
    assert LLMRequestLog.objects.get().user_id == "kept"


def test_it_maps_error_types_of_unicode_or_huge_digits_to_unknown(ingest_secret):
    response = post(
        ingest_secret,
        {
            "events": [
                event(user_id="superscript", status="error", error_type="²"),
                event(user_id="long", status="error", error_type="9" * 200),
            ]
        },
    )

    assert response.status_code == 200, response.content
    rows = {row.user_id: row for row in LLMRequestLog.objects.all()}
    assert (rows["superscript"].error_type, rows["superscript"].metadata) == ("unknown", {"error_type_raw": "²"})
    assert rows["long"].error_type == "unknown"
