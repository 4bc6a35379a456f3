"""POST /v1/traces and /api/otel/v1/traces: OTLP/HTTP trace exports mapped to call rows."""

import base64
import copy
import gzip
import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest
import time_machine
from django.test import override_settings
from google.protobuf import json_format
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from rest_framework.test import APIClient

from llm.models import LLMRequestLog, ModelPrice, Span
from llm.sources.ingest import ingest_key_revoke
from llm.tests.ingestkit import bearer

pytestmark = pytest.mark.django_db

TRACE = "5b8efff798038103d269b633813fc60c"
START = 1_767_225_600_000_000_000  # 2026-01-01T00:00:00Z in nanoseconds


def attr(key, value):
    if isinstance(value, bool):
        wrapped = {"boolValue": value}
    elif isinstance(value, int):
        wrapped = {"intValue": str(value)}  # OTLP/JSON writes int64 as strings
    elif isinstance(value, float):
        wrapped = {"doubleValue": value}
    elif isinstance(value, list):
        wrapped = {"arrayValue": {"values": [attr("", v)["value"] for v in value]}}
    else:
        wrapped = {"stringValue": value}
    return {"key": key, "value": wrapped}


def span(span_id, attributes, *, name="chat test/model", parent="", duration_ms=1250, status=None, events=()):
    return {
        "traceId": TRACE,
        "spanId": span_id,
        "parentSpanId": parent,
        "name": name,
        "kind": 3,  # SPAN_KIND_CLIENT, an integer enum
        "startTimeUnixNano": str(START),
        "endTimeUnixNano": str(START + duration_ms * 1_000_000),
        "attributes": [attr(k, v) for k, v in attributes.items()],
        "status": status or {},
        "events": list(events),
    }


def export(*spans):
    return {
        "resourceSpans": [
            {
                "resource": {"attributes": [attr("service.name", "checkout")]},
                "scopeSpans": [{"scope": {"name": "my.instrumentation"}, "spans": list(spans)}],
            }
        ]
    }


def post_json(secret, body, url="/v1/traces", **headers):
    return APIClient().post(url, data=json.dumps(body), content_type="application/json", **bearer(secret), **headers)


CURRENT = {
    "gen_ai.operation.name": "chat",
    "gen_ai.provider.name": "groq",
    "gen_ai.request.model": "test/model",
    "gen_ai.response.model": "test/model-0125",
    "gen_ai.usage.input_tokens": 1000,
    "gen_ai.usage.output_tokens": 500,
    "gen_ai.usage.cache_read.input_tokens": 400,
    "gen_ai.request.temperature": 0.0,
    "gen_ai.request.max_tokens": 256,
    "gen_ai.response.finish_reasons": ["stop"],
    "gen_ai.response.id": "chatcmpl-123",
    "gen_ai.conversation.id": "conv-9",
    "user.id": "u-7",
    "gen_ai.input.messages": json.dumps([{"role": "user", "parts": [{"type": "text", "content": "Hi?"}]}]),
    "gen_ai.output.messages": json.dumps(
        [{"role": "assistant", "parts": [{"type": "text", "content": "Hello!"}], "finish_reason": "stop"}]
    ),
}


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


def test_it_maps_a_span_of_the_current_genai_conventions(ingest_key, price):
    key, secret = ingest_key
    response = post_json(secret, export(span("00f067aa0ba902b7", CURRENT, parent="1111111111111111")))

    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "application/json"
    assert response.json() == {}  # no partial_success when every span is accepted
    assert response["X-Spans-Stored"] == "1"
    row = LLMRequestLog.objects.get()
    assert (row.trace_id, row.span_id, row.parent_span_id) == (TRACE, "00f067aa0ba902b7", "1111111111111111")
    assert (row.model_name, row.provider, row.source, row.ingest_key_id) == ("test/model", "groq", "otlp", key.pk)
    assert (row.prompt_tokens, row.completion_tokens, row.cached_prompt_tokens, row.total_tokens) == (
        1000,
        500,
        400,
        1500,
    )
    assert row.latency_ms == 1250.0
    assert row.timestamp == datetime(2026, 1, 1, tzinfo=UTC)
    assert (row.temperature, row.max_tokens, row.finish_reason) == (0.0, 256, "stop")
    assert (row.provider_request_id, row.session_id, row.user_id) == ("chatcmpl-123", "conv-9", "u-7")
    assert (row.prompt_text, row.response_text) == ("user: Hi?", "assistant: Hello!")
    assert row.status == "success"
    # (600 × 1 + 400 × 0.5 + 500 × 2) / 1e6
    assert row.cost_estimate == Decimal("0.001800")
    assert row.metadata == {
        "span_name": "chat test/model",
        "operation": "chat",
        "service": "checkout",
        "scope": "my.instrumentation",
        "response_model": "test/model-0125",
    }


def test_it_maps_the_deprecated_genai_names(ingest_secret):
    attributes = {
        "gen_ai.system": "Groq",
        "gen_ai.request.model": "llama-3.1-8b-instant",
        "gen_ai.usage.prompt_tokens": 12,
        "gen_ai.usage.completion_tokens": 3,
        "gen_ai.prompt.0.role": "system",
        "gen_ai.prompt.0.content": "Be brief.",
        "gen_ai.prompt.1.role": "user",
        "gen_ai.prompt.1.content": "Hi?",
        "gen_ai.completion.0.role": "assistant",
        "gen_ai.completion.0.content": "Hello.",
        "gen_ai.completion.0.finish_reason": "length",
        "session.id": "s-1",
    }
    post_json(ingest_secret, export(span("00000000000000a1", attributes)))

    row = LLMRequestLog.objects.get()
    assert (row.model_name, row.provider, row.prompt_tokens, row.completion_tokens) == (
        "llama-3.1-8b-instant",
        "groq",
        12,
        3,
    )
    assert row.prompt_text == "system: Be brief.\n\nuser: Hi?"
    assert (row.response_text, row.finish_reason, row.session_id) == ("assistant: Hello.", "length", "s-1")


def test_it_maps_openinference_spans(ingest_secret):
    with_messages = {
        "openinference.span.kind": "LLM",
        "llm.model_name": "qwen/qwen3-32b",
        "llm.provider": "groq",
        "llm.token_count.prompt": 20,
        "llm.token_count.completion": 7,
        "llm.token_count.prompt_details.cache_read": 5,
        "llm.invocation_parameters": json.dumps({"temperature": 0.7, "max_tokens": 64}),
        "llm.input_messages.0.message.role": "user",
        "llm.input_messages.0.message.content": "Name a colour.",
        "llm.output_messages.0.message.role": "assistant",
        "llm.output_messages.0.message.content": "Blue.",
        "input.value": '{"messages": "raw request"}',
    }
    with_values = {
        "openinference.span.kind": "LLM",
        "llm.model_name": "m2",
        "input.value": "question",
        "output.value": "answer",
    }
    post_json(ingest_secret, export(span("00000000000000b1", with_messages), span("00000000000000b2", with_values)))

    rows = {row.model_name: row for row in LLMRequestLog.objects.all()}
    qwen = rows["qwen/qwen3-32b"]
    assert (qwen.provider, qwen.prompt_tokens, qwen.completion_tokens, qwen.cached_prompt_tokens) == ("groq", 20, 7, 5)
    assert (qwen.temperature, qwen.max_tokens) == (0.7, 64)
    assert (qwen.prompt_text, qwen.response_text) == ("user: Name a colour.", "assistant: Blue.")
    assert (rows["m2"].prompt_text, rows["m2"].response_text, rows["m2"].provider) == ("question", "answer", "unknown")


def test_it_keeps_the_other_spans_of_a_trace_with_a_call_and_skips_traces_without_one(ingest_secret):
    other_trace = {"traceId": "0f" * 16}
    spans = [
        span("00000000000000c1", {"http.request.method": "GET"}, name="GET /checkout"),
        span("00000000000000c2", {"openinference.span.kind": "CHAIN", "input.value": "x"}),
        span("00000000000000c3", {"gen_ai.system": "groq"}),  # an old-style span without a model
        span("00000000000000c4", {"gen_ai.system": "groq", "gen_ai.request.model": "m"}),
        {**span("00000000000000c5", {"http.request.method": "GET"}), **other_trace},
        {**span("00000000000000c6", {"gen_ai.system": "groq"}), **other_trace},
    ]
    response = post_json(ingest_secret, export(*spans))

    assert (response["X-Spans-Stored"], response["X-Spans-Skipped"], response["X-Spans-Rejected"]) == ("4", "2", "0")
    assert list(LLMRequestLog.objects.values_list("span_id", flat=True)) == ["00000000000000c4"]
    assert sorted(Span.objects.values_list("span_id", "call_id")) == [
        ("00000000000000c1", None),
        ("00000000000000c2", None),
        ("00000000000000c3", None),
        ("00000000000000c4", LLMRequestLog.objects.get().request_id),
    ]


def test_it_records_failed_spans_as_errors(ingest_secret):
    rate_limited = {**CURRENT, "error.type": "groq.RateLimitError", "http.response.status_code": 429}
    exception = {"name": "exception", "timeUnixNano": str(START), "attributes": [attr("exception.message", "boom")]}
    post_json(
        ingest_secret,
        export(
            span("00000000000000d1", rate_limited, status={"code": 2, "message": "Rate limit reached"}),
            span("00000000000000d2", CURRENT, status={"code": 2}, events=[exception]),
            span("00000000000000d3", {**CURRENT, "error.type": "timeout"}),
        ),
    )

    rows = {row.span_id: row for row in LLMRequestLog.objects.all()}
    assert (rows["00000000000000d1"].status, rows["00000000000000d1"].error_type) == ("error", "rate_limit")
    assert rows["00000000000000d1"].http_status == 429
    assert rows["00000000000000d1"].error_message == "[groq.RateLimitError] Rate limit reached"
    assert (rows["00000000000000d2"].error_type, rows["00000000000000d2"].error_message) == ("unknown", "boom")
    assert (rows["00000000000000d3"].status, rows["00000000000000d3"].error_type) == ("error", "timeout")


def test_it_stores_a_span_once_when_an_export_is_retried(ingest_secret):
    body = export(span("00000000000000e1", CURRENT))

    post_json(ingest_secret, body)
    response = post_json(ingest_secret, body)

    assert (response["X-Spans-Stored"], response["X-Spans-Duplicate"]) == ("0", "1")
    assert response.json() == {}
    assert LLMRequestLog.objects.count() == 1


def test_it_reports_rejected_spans_as_partial_success_and_keeps_the_rest(ingest_secret):
    body = export(
        span("00000000000000f1", {**CURRENT, "gen_ai.usage.input_tokens": "lots"}, name="bad tokens"),
        span("0000000000000000", CURRENT, name="zero id"),
        span("00000000000000f3", CURRENT),
    )
    response = post_json(ingest_secret, body)

    assert response.status_code == 200
    assert response.json() == {
        "partialSuccess": {
            "rejectedSpans": "2",
            "errorMessage": "span 'bad tokens': gen_ai.usage.input_tokens must be a non-negative integer, got 'lots'; "
            "span 'zero id': trace_id must be 16 bytes and span_id 8 bytes, not zero",
        }
    }
    assert list(LLMRequestLog.objects.values_list("span_id", flat=True)) == ["00000000000000f3"]


@time_machine.travel(datetime(2026, 1, 1, tzinfo=UTC), tick=False)
def test_it_rejects_spans_with_times_outside_the_window_and_keeps_the_rest(ingest_secret):
    def timed(span_id, start, end):
        return {**span(span_id, CURRENT), "startTimeUnixNano": str(start), "endTimeUnixNano": str(end)}

    far = 2**64 - 1  # the largest fixed64: year 2554
    body = export(
        timed("00000000000000f1", 1, 2),  # 1970
        timed("00000000000000f2", far - 1, far),
        timed("00000000000000f3", START, far),
        timed("00000000000000f4", START, START + 10**9),
    )
    response = post_json(ingest_secret, body)

    assert response.status_code == 200, response.content
    assert response.json()["partialSuccess"]["rejectedSpans"] == "3"
    message = response.json()["partialSuccess"]["errorMessage"]
    assert message.count("time must be between 2000-01-01 and one day from now (UTC)") == 3
    assert list(LLMRequestLog.objects.values_list("span_id", "latency_ms")) == [("00000000000000f4", 1000.0)]


def test_it_rejects_spans_carrying_lone_surrogates_and_keeps_the_rest(ingest_secret):
    body = export(
        span("00000000000000f1", {**CURRENT, "user.id": "u\ud800"}, name="bad user"),
        span("00000000000000f2", {**CURRENT, "gen_ai.output.messages": "\udc00"}, name="bad output"),
        span("00000000000000f3", CURRENT, name="bad status", status={"code": 2, "message": "boom \ud800"}),
        span("00000000000000f4", CURRENT, name="bad name \ud800"),
        span("00000000000000f5", {**CURRENT, "user.id": "pair \ud83d\ude00"}),
    )
    response = post_json(ingest_secret, body)

    assert response.status_code == 200, response.content
    partial = response.json()["partialSuccess"]
    assert partial["rejectedSpans"] == "4"
    assert partial["errorMessage"].count("lone surrogate") == 4
    assert list(LLMRequestLog.objects.values_list("span_id", "user_id")) == [("00000000000000f5", "pair \U0001f600")]


def test_it_answers_in_protobuf_to_protobuf_also_gzipped_and_under_api(ingest_secret):
    from google.protobuf import json_format

    body = export(
        span("0000000000000101", CURRENT),
        span("0000000000000102", {**CURRENT, "gen_ai.usage.output_tokens": -3}),
    )
    message = ExportTraceServiceRequest()
    json_format.ParseDict(
        json.loads(
            json.dumps(body)
            .replace(TRACE, "W47/95gDgQPSabYzgT/GDA==")
            .replace('"0000000000000101"', '"AAAAAAAAAQE="')
            .replace('"0000000000000102"', '"AAAAAAAAAQI="')
        ),
        message,
    )
    response = APIClient().post(
        "/api/otel/v1/traces",
        data=gzip.compress(message.SerializeToString()),
        content_type="application/x-protobuf",
        HTTP_CONTENT_ENCODING="gzip",
        **bearer(ingest_secret),
    )

    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "application/x-protobuf"
    answer = ExportTraceServiceResponse.FromString(response.content)
    assert answer.partial_success.rejected_spans == 1
    row = LLMRequestLog.objects.get()
    assert (row.trace_id, row.span_id, row.prompt_tokens) == (TRACE, "0000000000000101", 1000)


@override_settings(INGEST_MAX_BODY_BYTES=4096)
def test_it_answers_413_when_the_inflated_body_passes_the_cap(ingest_secret):
    body = export(*[span(f"{i:016x}", CURRENT) for i in range(1, 30)])
    raw = gzip.compress(json.dumps(body).encode())
    assert len(raw) < 4096

    response = APIClient().post(
        "/v1/traces", data=raw, content_type="application/json", HTTP_CONTENT_ENCODING="gzip", **bearer(ingest_secret)
    )

    assert response.status_code == 413
    assert response.json() == {"error": "Request body larger than 4096 bytes.", "fields": {}}


def test_it_answers_415_for_other_content_types(ingest_secret):
    response = APIClient().post("/v1/traces", data=b"x", content_type="text/plain", **bearer(ingest_secret))

    assert response.status_code == 415
    assert response.json()["error"] == "Send OTLP traces as application/x-protobuf or application/json."


@pytest.mark.parametrize(
    "content_type, raw, message",
    [
        ("application/x-protobuf", b"\xff\xff\xff\xff", "Body is not an OTLP protobuf trace export"),
        ("application/json", b"{not json", "Malformed JSON"),
        ("application/json", b"[1, 2]", "OTLP/JSON body must be an object"),
        ("application/json", json.dumps(export({**span("zz", {}), "spanId": "zz"})).encode(), "spanId must be hex"),
        ("application/json", b'{"resourceSpans": 7}', "Body is not an OTLP/JSON trace export"),
    ],
)
def test_it_answers_400_for_undecodable_bodies(ingest_secret, content_type, raw, message):
    response = APIClient().post("/v1/traces", data=raw, content_type=content_type, **bearer(ingest_secret))

    assert response.status_code == 400
    assert response.json()["error"].startswith(message)


@pytest.mark.parametrize("url", ["/v1/traces", "/api/otel/v1/traces"])
def test_it_refuses_requests_without_a_valid_key(ingest_key, alice_token, url):
    key, secret = ingest_key
    body = json.dumps(export(span("0000000000000201", CURRENT)))
    anonymous = APIClient().post(url, data=body, content_type="application/json")
    user_token = APIClient().post(
        url, data=body, content_type="application/json", HTTP_AUTHORIZATION=f"Token {alice_token}"
    )
    ingest_key_revoke(key=key)
    revoked = APIClient().post(url, data=body, content_type="application/json", **bearer(secret))

    assert [anonymous.status_code, user_token.status_code, revoked.status_code] == [401, 401, 401]
    assert revoked.json()["error"] == "This ingest key has been revoked."
    assert not LLMRequestLog.objects.exists()


@pytest.mark.parametrize("size", [1, 50])
def test_it_runs_the_same_queries_for_one_span_or_fifty(ingest_secret, django_assert_num_queries, price, size):
    post_json(ingest_secret, export(span("00000000000003ff", CURRENT)))  # writes the key's last_used_at
    body = export(*[span(f"{i + 0x400:016x}", CURRENT) for i in range(size)])
    # The key, the prices, the spans already stored in these traces, and the calls' and the spans'
    # inserts, each in its savepoint.
    with django_assert_num_queries(9):
        response = post_json(ingest_secret, body)
    assert response["X-Spans-Stored"] == str(size)


# --- Hostile spans --------------------------------------------------------------------------


def to_protobuf(body: dict) -> bytes:
    """An OTLP/JSON export (hex ids) as the protobuf bytes an SDK would send."""
    body = copy.deepcopy(body)
    for resource_spans in body["resourceSpans"]:
        for scope_spans in resource_spans["scopeSpans"]:
            for item in scope_spans["spans"]:
                for key in ("traceId", "spanId", "parentSpanId"):
                    item[key] = base64.b64encode(bytes.fromhex(item[key])).decode()
    message = ExportTraceServiceRequest()
    json_format.ParseDict(body, message)
    return message.SerializeToString()


def post_as(encoding, secret, body):
    if encoding == "json":
        return post_json(secret, body)
    return APIClient().post(
        "/v1/traces", data=to_protobuf(body), content_type="application/x-protobuf", **bearer(secret)
    )


def partial_success(response) -> tuple[int, str]:
    """(rejected spans, error message) of an answer in either encoding."""
    if response["Content-Type"] == "application/x-protobuf":
        partial = ExportTraceServiceResponse.FromString(response.content).partial_success
        return partial.rejected_spans, partial.error_message
    partial = response.json().get("partialSuccess", {})
    return int(partial.get("rejectedSpans", 0)), partial.get("errorMessage", "")


def resource(service_name, *spans, scope_name="my.instrumentation"):
    return {
        "resource": {"attributes": [{"key": "service.name", "value": service_name}]},
        "scopeSpans": [{"scope": {"name": scope_name}, "spans": list(spans)}],
    }


def double(text):
    return {"doubleValue": text}  # OTLP/JSON writes NaN and the infinities as strings


def deep(levels):
    return "[" * levels + "]" * levels


ENCODINGS = ["json", "protobuf"]


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_it_strips_nul_characters_from_names_labels_and_texts(ingest_secret, encoding):
    nul = {
        **CURRENT,
        "gen_ai.operation.name": "ch\x00at",
        "gen_ai.response.model": "test/model-\x000125",
        "gen_ai.system_instructions": "Be\x00 brief.",
    }
    body = {
        "resourceSpans": [
            resource(
                {"stringValue": "check\x00out"},
                span("0000000000000301", nul, name="chat\x00 test/model"),
                span("0000000000000302", CURRENT),
                scope_name="my.\x00instrumentation",
            )
        ]
    }

    response = post_as(encoding, ingest_secret, body)

    assert response.status_code == 200, response.content
    assert partial_success(response) == (0, "")
    rows = {row.span_id: row for row in LLMRequestLog.objects.all()}
    assert rows["0000000000000301"].metadata == {
        "span_name": "chat test/model",
        "operation": "chat",
        "service": "checkout",
        "scope": "my.instrumentation",
        "response_model": "test/model-0125",
    }
    assert rows["0000000000000301"].prompt_text == "system: Be brief.\n\nuser: Hi?"
    assert rows["0000000000000302"].metadata["service"] == "checkout"


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_it_rejects_spans_with_nan_or_infinite_text_attributes_and_keeps_the_rest(ingest_secret, encoding):
    def with_double(key, text):
        return [attr(k, v) for k, v in CURRENT.items() if k != key] + [{"key": key, "value": double(text)}]

    body = {
        "resourceSpans": [
            resource(
                {"stringValue": "checkout"},
                {
                    **span("0000000000000401", {}, name="nan operation"),
                    "attributes": with_double("gen_ai.operation.name", "NaN"),
                },
                {
                    **span("0000000000000402", {}, name="infinite model"),
                    "attributes": with_double("gen_ai.response.model", "Infinity"),
                },
                {
                    **span("0000000000000403", {}, name="infinite user"),
                    "attributes": [*with_double("user.id", "-Infinity")],
                },
                span("0000000000000404", CURRENT, name="kept"),
            ),
            resource(double("NaN"), span("0000000000000405", CURRENT, name="nan service")),
        ]
    }

    response = post_as(encoding, ingest_secret, body)

    assert response.status_code == 200, response.content
    assert partial_success(response) == (
        4,
        "; ".join(
            [
                "span 'nan operation': gen_ai.operation.name must be a string, got nan",
                "span 'infinite model': gen_ai.response.model must be a string, got inf",
                "span 'infinite user': user.id must be a string, got -inf",
                "span 'nan service': service.name must be a string, got nan",
            ]
        ),
    )
    assert list(LLMRequestLog.objects.values_list("span_id", flat=True)) == ["0000000000000404"]


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_it_rejects_token_counts_that_are_not_plain_integers(ingest_secret, encoding):
    body = export(
        span("0000000000000501", {**CURRENT, "gen_ai.usage.input_tokens": "9" * 5000}, name="huge"),
        span("0000000000000502", {**CURRENT, "gen_ai.usage.input_tokens": "²"}, name="superscript"),
        span("0000000000000503", {**CURRENT, "gen_ai.usage.output_tokens": "\u0661\u0662"}, name="arabic"),
        span("0000000000000504", {**CURRENT, "gen_ai.usage.input_tokens": "12"}, name="digits"),
    )

    response = post_as(encoding, ingest_secret, body)

    assert response.status_code == 200, response.content
    assert partial_success(response) == (
        3,
        "; ".join(
            [
                "span 'huge': gen_ai.usage.input_tokens must be at most 2147483647, got '" + "9" * 39 + "...",
                "span 'superscript': gen_ai.usage.input_tokens must be a non-negative integer, got '²'",
                "span 'arabic': gen_ai.usage.output_tokens must be a non-negative integer, got '١٢'",
            ]
        ),
    )
    assert list(LLMRequestLog.objects.values_list("span_id", "prompt_tokens")) == [("0000000000000504", 12)]


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_it_rejects_a_message_index_of_thousands_of_digits(ingest_secret, encoding):
    deprecated = {"gen_ai.system": "groq", "gen_ai.request.model": "m"}
    body = export(
        span("0000000000000601", {**deprecated, "gen_ai.prompt." + "7" * 5000 + ".content": "hi"}, name="long index"),
        span("0000000000000602", {**deprecated, "gen_ai.prompt.3.content": "hi"}),
    )

    response = post_as(encoding, ingest_secret, body)

    assert response.status_code == 200, response.content
    assert partial_success(response) == (
        1,
        "span 'long index': gen_ai.prompt." + "7" * 46 + "...: message index above 999999",
    )
    assert list(LLMRequestLog.objects.values_list("span_id", "prompt_text")) == [("0000000000000602", "user: hi")]


@pytest.mark.parametrize("encoding", ENCODINGS)
@pytest.mark.parametrize("levels", [200_000, 500])
def test_it_rejects_json_attributes_nested_too_deeply_and_keeps_the_rest(ingest_secret, encoding, levels):
    nested_part = json.dumps([{"role": "user", "parts": deep(levels)}])
    body = export(
        span("0000000000000701", {**CURRENT, "llm.invocation_parameters": deep(levels)}, name="params"),
        span("0000000000000702", {**CURRENT, "gen_ai.input.messages": deep(levels)}, name="messages"),
        span("0000000000000703", {**CURRENT, "gen_ai.input.messages": nested_part}, name="parts"),
        span("0000000000000704", {**CURRENT, "gen_ai.system_instructions": deep(levels)}, name="system"),
        span("0000000000000705", {**CURRENT, "llm.invocation_parameters": '{"temperature": NaN, "max_tokens": 1e400}'}),
    )

    response = post_as(encoding, ingest_secret, body)

    assert response.status_code == 200, response.content
    assert partial_success(response) == (
        4,
        "; ".join(
            [
                "span 'params': llm.invocation_parameters nests deeper than 100 levels",
                "span 'messages': gen_ai.input.messages nests deeper than 100 levels",
                "span 'parts': gen_ai.input.messages nests deeper than 100 levels",
                "span 'system': gen_ai.system_instructions nests deeper than 100 levels",
            ]
        ),
    )
    row = LLMRequestLog.objects.get()
    assert (row.span_id, row.temperature, row.max_tokens) == ("0000000000000705", 0.0, 256)


def test_it_drops_spans_that_the_otlp_json_mapping_refuses_and_keeps_the_rest(ingest_secret):
    def with_value(span_id, name, value):
        return {
            **span(span_id, CURRENT, name=name),
            "attributes": [
                *[attr(k, v) for k, v in CURRENT.items()],
                {"key": "extra", "value": value},
            ],
        }

    body = export(
        with_value("0000000000000801", "huge int", {"intValue": "9" * 5000}),
        with_value("0000000000000802", "bad double", double("lots")),
        span("0000000000000803", CURRENT, name="kept"),
    )
    raw = json.dumps(body).replace('"doubleValue": "lots"', '"doubleValue": 1e400').encode()

    response = APIClient().post("/v1/traces", data=raw, content_type="application/json", **bearer(ingest_secret))

    assert response.status_code == 200, response.content
    rejected, message = partial_success(response)
    assert rejected == 2
    assert message.startswith("span 'huge int': Failed to parse attributes field")
    assert "; span 'bad double': Failed to parse attributes field" in message
    assert len(message) < 1000
    assert list(LLMRequestLog.objects.values_list("span_id", flat=True)) == ["0000000000000803"]


def test_it_answers_400_for_a_gzip_body_of_200000_members(ingest_secret):
    raw = gzip.compress(json.dumps(export(span("0000000000000901", CURRENT))).encode()) + gzip.compress(b"") * 200_000

    response = APIClient().post(
        "/v1/traces", data=raw, content_type="application/json", HTTP_CONTENT_ENCODING="gzip", **bearer(ingest_secret)
    )

    assert response.status_code == 400
    assert response.json() == {"error": "Gzip body of more than 1000 members; send one.", "fields": {}}
    assert not LLMRequestLog.objects.exists()
