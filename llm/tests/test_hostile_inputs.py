"""Hostile values in every field of POST /api/ingest/ and every attribute POST /v1/traces reads.

Each request mixes one hostile item per field with a valid one. Whatever the value, the answer is a
200 that accounts for every item (stored, or refused with a reason naming it), and the valid item
is stored: no value may cost the rest of its request, or answer 5xx.
"""

import base64
import json

import pytest
from google.protobuf import json_format
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from rest_framework.test import APIClient

from llm.models import LLMRequestLog
from llm.tests.ingestkit import bearer

pytestmark = pytest.mark.django_db

DEEP = 500  # parses, but would break recursive code downstream
# Raw JSON literals: json.dumps cannot write most of them.
JSON_VALUES = {
    "nan": "NaN",
    "infinity": "-Infinity",
    "1e400": "1e400",
    "5000 digits": "9" * 5000,
    "2**70": str(2**70),
    "nul": '"a\\u0000b"',
    "lone surrogate": '"\\ud800"',
    "superscript two": '"\\u00b2"',
    "deep list": "[" * DEEP + "]" * DEEP,
    "deep object": '{"a": ' * DEEP + "1" + "}" * DEEP,
    "object of nan": '{"x": [NaN, {"\\u0000": 1}]}',
    "list of objects": '[{"role": ' + "[" * DEEP + "]" * DEEP + ', "content": {"x": NaN}}]',
    "true": "true",
    "negative": "-1",
    "long string": '"' + "x" * 100_000 + '"',
}
EVENT_FIELDS = [
    "request_id",
    "timestamp",
    "model",
    "provider",
    "prompt_text",
    "messages",
    "response_text",
    "prompt_tokens",
    "completion_tokens",
    "cached_prompt_tokens",
    "latency_ms",
    "time_to_first_token_ms",
    "status",
    "error_type",
    "error_message",
    "http_status",
    "user_id",
    "session_id",
    "finish_reason",
    "temperature",
    "max_tokens",
    "metadata",
    "cost_estimate",
    "\\ud800",
]


@pytest.mark.parametrize("literal", JSON_VALUES.values(), ids=JSON_VALUES.keys())
def test_it_answers_each_hostile_event_alone_and_stores_the_valid_one(ingest_secret, literal):
    hostile = [f'{{"model": "m", "status": "error", "{name}": {literal}}}' for name in EVENT_FIELDS]
    valid = '{"model": "m", "user_id": "valid", "metadata": {"k": 1}}'
    raw = ('{"events": [' + ", ".join([*hostile, valid]) + "]}").encode()

    response = APIClient().post("/api/ingest/", data=raw, content_type="application/json", **bearer(ingest_secret))

    assert response.status_code == 200, response.content[:500]
    body = response.json()
    answered = sorted(item["index"] for part in ("accepted", "rejected") for item in body[part])
    assert answered == list(range(len(EVENT_FIELDS) + 1))
    assert all(item["fields"] for item in body["rejected"])
    assert len(EVENT_FIELDS) not in [item["index"] for item in body["rejected"]]
    assert LLMRequestLog.objects.filter(user_id="valid").count() == 1
    assert LLMRequestLog.objects.count() == body["summary"]["accepted"]


TRACE = "5b8efff798038103d269b633813fc60c"
START = 1_767_225_600_000_000_000  # 2026-01-01T00:00:00Z in nanoseconds
READ_ATTRIBUTES = [
    "gen_ai.operation.name",
    "gen_ai.provider.name",
    "gen_ai.system",
    "gen_ai.request.model",
    "gen_ai.response.model",
    "llm.model_name",
    "llm.provider",
    "llm.system",
    "gen_ai.usage.input_tokens",
    "gen_ai.usage.output_tokens",
    "gen_ai.usage.prompt_tokens",
    "gen_ai.usage.completion_tokens",
    "llm.token_count.prompt",
    "llm.token_count.completion",
    "gen_ai.usage.cache_read.input_tokens",
    "gen_ai.usage.cache_read_input_tokens",
    "llm.token_count.prompt_details.cache_read",
    "gen_ai.request.temperature",
    "gen_ai.request.max_tokens",
    "llm.invocation_parameters",
    "gen_ai.response.finish_reasons",
    "gen_ai.completion.0.finish_reason",
    "llm.finish_reason",
    "gen_ai.response.id",
    "gen_ai.conversation.id",
    "session.id",
    "user.id",
    "enduser.id",
    "gen_ai.input.messages",
    "gen_ai.output.messages",
    "gen_ai.system_instructions",
    "gen_ai.prompt.0.content",
    "gen_ai.prompt.0.role",
    "gen_ai.completion.0.content",
    "llm.input_messages.0.message.content",
    "llm.output_messages.0.message.contents.0.message_content.text",
    "input.value",
    "output.value",
    "error.type",
    "http.response.status_code",
    "http.status_code",
    "gen_ai.prompt." + "1" * 5000 + ".content",
]
ANY_VALUES = {
    "nul": {"stringValue": "a\x00b"},
    "nan": {"doubleValue": "NaN"},
    "infinity": {"doubleValue": "Infinity"},
    "minus infinity": {"doubleValue": "-Infinity"},
    "largest int64": {"intValue": str(2**63 - 1)},
    "negative": {"intValue": "-1"},
    "5000 digits": {"stringValue": "9" * 5000},
    "superscript two": {"stringValue": "\u00b2"},
    "deep json": {"stringValue": "[" * 200_000 + "]" * 200_000},
    "deep json objects": {"stringValue": '{"a": ' * DEEP + "1" + "}" * DEEP},
    "deep messages": {"stringValue": json.dumps([{"role": "user", "parts": "[" * DEEP + "]" * DEEP}])},
    "nested array": {
        "arrayValue": {"values": [{"kvlistValue": {"values": [{"key": "\x00", "value": {"doubleValue": "NaN"}}]}}]}
    },
    "bytes": {"bytesValue": base64.b64encode(b"\x00\xff").decode()},
    "bool": {"boolValue": True},
}


def otlp_span(span_id: int, name: str, attributes: list[dict]) -> dict:
    return {
        "traceId": base64.b64encode(bytes.fromhex(TRACE)).decode(),
        "spanId": base64.b64encode(span_id.to_bytes(8, "big")).decode(),
        "name": name,
        "startTimeUnixNano": str(START),
        "endTimeUnixNano": str(START + 10**9),
        "attributes": attributes,
    }


def hostile_export(value: dict) -> ExportTraceServiceRequest:
    llm = [{"key": "gen_ai.operation.name", "value": {"stringValue": "chat"}}]
    spans = [
        otlp_span(index + 1, key[:60], [*llm, {"key": key, "value": value}])
        for index, key in enumerate(READ_ATTRIBUTES)
    ]
    spans.append(otlp_span(0xFFFF, "valid", [*llm, {"key": "user.id", "value": {"stringValue": "valid"}}]))
    resources = [
        {
            "resource": {"attributes": [{"key": "service.name", "value": value}]},
            "scopeSpans": [
                {"scope": {"name": "hostile service"}, "spans": [otlp_span(0xFFFE, "in hostile service", llm)]}
            ],
        },
        {"scopeSpans": [{"scope": {"name": "s"}, "spans": spans}]},
    ]
    message = ExportTraceServiceRequest()
    json_format.ParseDict({"resourceSpans": resources}, message)
    return message


@pytest.mark.parametrize("encoding", ["json", "protobuf"])
@pytest.mark.parametrize("value", ANY_VALUES.values(), ids=ANY_VALUES.keys())
def test_it_answers_each_hostile_span_alone_and_stores_the_valid_one(ingest_secret, settings, value, encoding):
    settings.INGEST_MAX_BODY_BYTES = 50_000_000  # the 200,000-deep value once per attribute
    message = hostile_export(value)
    if encoding == "json":
        # The protobuf JSON mapping writes ids in base64 where OTLP/JSON wants hex.
        payload = json_format.MessageToDict(message)
        for resource_spans in payload["resourceSpans"]:
            for scope_spans in resource_spans["scopeSpans"]:
                for item in scope_spans["spans"]:
                    for key in ("traceId", "spanId"):
                        item[key] = base64.b64decode(item[key]).hex()
        data, content_type = json.dumps(payload), "application/json"
    else:
        data, content_type = message.SerializeToString(), "application/x-protobuf"

    response = APIClient().post("/v1/traces", data=data, content_type=content_type, **bearer(ingest_secret))

    assert response.status_code == 200, response.content[:500]
    stored, rejected = int(response["X-Spans-Stored"]), int(response["X-Spans-Rejected"])
    assert stored + rejected == len(READ_ATTRIBUTES) + 2
    if encoding == "json":
        reported = int(response.json().get("partialSuccess", {}).get("rejectedSpans", 0))
    else:
        reported = ExportTraceServiceResponse.FromString(response.content).partial_success.rejected_spans
    assert reported == rejected
    assert LLMRequestLog.objects.filter(user_id="valid").count() == 1
    assert LLMRequestLog.objects.count() == stored
