"""Builders of OTLP/JSON trace exports shared by the span, trace API and trace page tests."""

import json

from rest_framework.test import APIClient

from llm.tests.ingestkit import bearer

MS = 1_000_000  # nanoseconds


def value(item):
    if isinstance(item, bool):
        return {"boolValue": item}
    if isinstance(item, int):
        return {"intValue": str(item)}  # OTLP/JSON writes int64 as strings
    if isinstance(item, float):
        return {"doubleValue": item}
    return {"stringValue": item}


def llm_attributes(model="test/model", *, prompt="What is 2+2?", answer="4", tokens=(100, 20), **extra):
    attrs = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "groq",
        "gen_ai.request.model": model,
        "gen_ai.usage.input_tokens": tokens[0],
        "gen_ai.usage.output_tokens": tokens[1],
        "gen_ai.input.messages": json.dumps([{"role": "user", "parts": [{"type": "text", "content": prompt}]}]),
        "gen_ai.output.messages": json.dumps([{"role": "assistant", "parts": [{"type": "text", "content": answer}]}]),
    }
    return {**attrs, **extra}


def span(trace_id, span_id, *, start_ns, duration_ms=100, parent="", name="step", kind=1, attributes=None, status=None):
    return {
        "traceId": trace_id,
        "spanId": span_id,
        "parentSpanId": parent,
        "name": name,
        "kind": kind,
        "startTimeUnixNano": str(start_ns),
        "endTimeUnixNano": str(start_ns + int(duration_ms * MS)),
        "attributes": [{"key": k, "value": value(v)} for k, v in (attributes or {}).items()],
        "status": status or {},
    }


def export(*spans, service="agent-api"):
    return {
        "resourceSpans": [
            {
                "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": service}}]},
                "scopeSpans": [{"scope": {"name": "tests"}, "spans": list(spans)}],
            }
        ]
    }


def post(secret, *spans, **options):
    body = json.dumps(export(*spans, **options))
    return APIClient().post("/v1/traces", data=body, content_type="application/json", **bearer(secret))


def agent_run(trace_id, start_ns, *, user="u-1", session="s-1", model="test/model", failing_tool=False):
    """An agent run: agent → (retrieve → HTTP GET), LLM call, tool; 1,500 ms in all.

    Span ids are the trace id's first 12 hex characters and a 4-character suffix (a1, a2, ...).
    """
    ids = {
        name: f"{trace_id[:12]}{suffix}"
        for name, suffix in (
            ("agent", "00a1"),
            ("retrieve", "00a2"),
            ("http", "00a3"),
            ("llm", "00a4"),
            ("tool", "00a5"),
        )
    }
    who = {"user.id": user, "session.id": session}
    return [
        span(
            trace_id,
            ids["agent"],
            start_ns=start_ns,
            duration_ms=1500,
            name="answer_question",
            attributes={"agent.name": "helper"},
        ),
        span(
            trace_id,
            ids["retrieve"],
            start_ns=start_ns + 10 * MS,
            duration_ms=200,
            parent=ids["agent"],
            name="retrieve",
            attributes={"db.system": "pgvector", "retrieval.documents": 3},
        ),
        span(
            trace_id,
            ids["http"],
            start_ns=start_ns + 20 * MS,
            duration_ms=150,
            parent=ids["retrieve"],
            name="GET /search",
            kind=3,
            attributes={"http.request.method": "GET", "http.response.status_code": 200},
        ),
        span(
            trace_id,
            ids["llm"],
            start_ns=start_ns + 300 * MS,
            duration_ms=900,
            parent=ids["agent"],
            name=f"chat {model}",
            kind=3,
            attributes=llm_attributes(model, **who),
        ),
        span(
            trace_id,
            ids["tool"],
            start_ns=start_ns + 1250 * MS,
            duration_ms=200,
            parent=ids["agent"],
            name="tool calculator",
            attributes={"gen_ai.tool.name": "calculator"},
            status={"code": 2, "message": "division by zero"} if failing_tool else None,
        ),
    ]
