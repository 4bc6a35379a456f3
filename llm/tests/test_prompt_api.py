"""POST /api/llm/prompt/: validation, the logged call, status mapping of provider errors, SSE streaming."""

import json
from decimal import Decimal

import pytest
from django.core.signals import request_finished
from django.db import close_old_connections
from rest_framework.test import APIClient, APIRequestFactory, force_authenticate

from llm.api.views.prompt import PromptView
from llm.models import LLMRequestLog

pytestmark = pytest.mark.django_db

URL = "/api/llm/prompt/"


def sse_events(response) -> list[dict]:
    body = b"".join(response.streaming_content).decode()
    assert body.endswith("\n\n")
    events = body.strip("\n").split("\n\n")
    assert all(e.startswith("data: ") for e in events)
    return [json.loads(e[len("data: ") :]) for e in events]


def test_it_rejects_an_anonymous_caller(api_client, fake_groq):
    response = api_client.post(URL, {"prompt": "Hi"}, format="json")

    assert response.status_code == 401
    assert fake_groq.requests == [] and LLMRequestLog.objects.count() == 0


def test_it_rejects_an_unknown_token(fake_groq, alice_token):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token " + "0" * 40)

    response = client.post(URL, {"prompt": "Hi"}, format="json")

    assert response.status_code == 401
    assert response.json()["error"] == "Invalid token."
    assert fake_groq.requests == []


def test_it_answers_with_the_result_and_logs_an_api_call(alice_client, fake_groq):
    fake_groq.reply_completion("Hello Alice", prompt_tokens=1_000_000, completion_tokens=1_000_000, groq_id="req_x")

    response = alice_client.post(
        URL,
        {"prompt": "Hi", "model": "openai/gpt-oss-20b", "max_tokens": 50, "temperature": 0, "session_id": "s1"},
        format="json",
    )

    assert response.status_code == 200
    body = response.json()
    row = LLMRequestLog.objects.get()
    assert body["request_id"] == str(row.request_id)
    assert body["response"] == "Hello Alice" and body["status"] == "success"
    assert body["total_tokens"] == 2_000_000 and body["cost_estimate"] == "0.375000"
    assert body["model"] == "openai/gpt-oss-20b" and body["provider_request_id"] == "req_x"
    assert (row.source, row.user_id, row.session_id, row.max_tokens, row.temperature) == ("api", "alice", "s1", 50, 0)
    assert row.cost_estimate == Decimal("0.375000")
    assert fake_groq.requests[0].json["max_tokens"] == 50


def test_it_works_with_a_token_and_a_chat(alice_token, fake_groq):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {alice_token}")
    chat = [
        {"role": "user", "content": "2+2?"},
        {"role": "assistant", "content": "4"},
        {"role": "user", "content": "x3?"},
    ]

    body = {"messages": chat, "user_id": "end-user-7", "system_prompt": "Be terse."}
    response = client.post(URL, body, format="json")

    assert response.status_code == 200
    assert fake_groq.requests[0].json["messages"] == [{"role": "system", "content": "Be terse."}, *chat]
    assert LLMRequestLog.objects.get().user_id == "end-user-7"


@pytest.mark.parametrize(
    "payload, field",
    [
        ({"prompt": ""}, "prompt"),
        ({"prompt": "   "}, "prompt"),
        ({}, "prompt"),
        ({"prompt": "Hi", "max_tokens": 0}, "max_tokens"),
        ({"prompt": "Hi", "max_tokens": 10_000_000}, "max_tokens"),
        ({"prompt": "Hi", "max_tokens": "many"}, "max_tokens"),
        ({"prompt": "Hi", "temperature": 2.5}, "temperature"),
        ({"prompt": "Hi", "temperature": -0.1}, "temperature"),
        ({"prompt": "Hi", "stream": "perhaps"}, "stream"),
        ({"messages": []}, "messages"),
        ({"messages": [{"role": "robot", "content": "x"}]}, "messages"),
        ({"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]}, "messages"),
        ({"prompt": "Hi", "messages": [{"role": "user", "content": "a"}]}, "prompt"),
        ({"prompt": "Hi", "model": "m" * 201}, "model"),
    ],
)
def test_it_rejects_bad_input_naming_the_field(alice_client, fake_groq, payload, field):
    response = alice_client.post(URL, payload, format="json")

    assert response.status_code == 400
    assert list(response.json()["fields"]) == [field]
    assert response.json()["error"] == f"Invalid input: {field}"
    assert fake_groq.requests == [] and LLMRequestLog.objects.count() == 0


def test_it_maps_a_rate_limit_to_429_with_retry_after(alice_client, fake_groq, settings):
    settings.GROQ_MAX_RETRIES = 0
    fake_groq.reply_error(429, "Rate limit reached for model", code="rate_limit_exceeded", headers={"retry-after": "7"})

    response = alice_client.post(URL, {"prompt": "Hi"}, format="json")

    row = LLMRequestLog.objects.get()
    assert response.status_code == 429
    assert response["Retry-After"] == "7"
    assert response.json() == {
        "error": "Rate limit reached for model",
        "error_type": "rate_limit",
        "request_id": str(row.request_id),
        "fields": {},
    }
    assert (row.source, row.error_type) == ("api", "rate_limit")


def test_it_maps_a_rate_limit_without_retry_after_to_429_alone(alice_client, fake_groq, settings):
    settings.GROQ_MAX_RETRIES = 0
    fake_groq.reply_error(429, "Rate limit reached", code="rate_limit_exceeded")

    response = alice_client.post(URL, {"prompt": "Hi"}, format="json")

    assert response.status_code == 429 and "Retry-After" not in response


def test_it_maps_a_timeout_to_504(alice_client, fake_groq, settings):
    settings.GROQ_TIMEOUT = 0.2
    settings.GROQ_MAX_RETRIES = 0
    fake_groq.reply_completion(delay=3)

    response = alice_client.post(URL, {"prompt": "Hi"}, format="json")

    assert response.status_code == 504
    assert response.json()["error_type"] == "timeout"


def test_it_maps_a_missing_key_to_503(alice_client, fake_groq, settings):
    settings.GROQ_API_KEY = ""

    response = alice_client.post(URL, {"prompt": "Hi"}, format="json")

    assert response.status_code == 503
    assert response.json()["error"].startswith("GROQ_API_KEY is not set: create a key at console.groq.com")
    assert response.json()["error_type"] == "configuration"
    assert LLMRequestLog.objects.get().error_type == "configuration"


@pytest.mark.parametrize(
    "status, error_type",
    [(401, "authentication"), (404, "bad_request"), (400, "context_length"), (503, "server_error")],
)
def test_it_maps_other_upstream_failures_to_502(alice_client, fake_groq, settings, status, error_type):
    settings.GROQ_MAX_RETRIES = 0
    code = "context_length_exceeded" if error_type == "context_length" else "whatever"
    fake_groq.reply_error(status, "Upstream said no", code=code)

    response = alice_client.post(URL, {"prompt": "Hi"}, format="json")

    assert response.status_code == 502
    assert response.json()["error_type"] == error_type
    assert response.json()["request_id"] == str(LLMRequestLog.objects.get().request_id)


def test_it_streams_server_sent_events(alice_client, fake_groq):
    fake_groq.reply_stream(["Hel", "lo"], prompt_tokens=3, completion_tokens=2)

    response = alice_client.post(URL, {"prompt": "Hi", "stream": True}, format="json")

    assert response.status_code == 200
    assert response["Content-Type"] == "text/event-stream"
    assert response["Cache-Control"] == "no-store"
    events = sse_events(response)
    row = LLMRequestLog.objects.get()
    assert events[:2] == [{"type": "chunk", "text": "Hel"}, {"type": "chunk", "text": "lo"}]
    done = events[2]
    assert done["type"] == "done" and len(events) == 3
    assert done["request_id"] == str(row.request_id) and done["response"] == "Hello"
    assert done["total_tokens"] == 5 and done["cost_estimate"] == "0.000001"
    assert done["time_to_first_token_ms"] == row.time_to_first_token_ms
    assert (row.source, row.status, row.response_text) == ("api", "success", "Hello")


def test_it_streams_an_error_event(alice_client, fake_groq):
    fake_groq.reply_stream(["par", "tial"], error="Model overloaded")

    response = alice_client.post(URL, {"prompt": "Hi", "stream": True}, format="json")

    events = sse_events(response)
    row = LLMRequestLog.objects.get()
    # The error body of a JSON answer, plus `type`; `message` is the deprecated name of `error`.
    assert events == [
        {"type": "chunk", "text": "par"},
        {"type": "chunk", "text": "tial"},
        {
            "type": "error",
            "error": "Model overloaded",
            "error_type": "server_error",
            "request_id": str(row.request_id),
            "fields": {},
            "message": "Model overloaded",
        },
    ]
    assert (row.status, row.response_text) == ("error", "partial")


def test_it_logs_a_stream_the_client_abandons(alice, fake_groq):
    fake_groq.reply_stream(["a", "b", "c", "d"], chunk_delay=0.01)
    # Straight to the view, as a WSGI server would run it (the test client wraps streamed content).
    request = APIRequestFactory().post(URL, {"prompt": "Hi", "stream": True}, format="json")
    force_authenticate(request, user=alice)
    response = PromptView.as_view()(request)

    first = next(iter(response.streaming_content))
    # What the WSGI server does when the browser goes away; the test keeps its database connection.
    request_finished.disconnect(close_old_connections)
    try:
        response.close()
    finally:
        request_finished.connect(close_old_connections)

    assert json.loads(first.decode()[len("data: ") :]) == {"type": "chunk", "text": "a"}
    row = LLMRequestLog.objects.get()
    assert (row.error_type, row.response_text, row.source) == ("cancelled", "a", "api")


def test_it_streams_to_a_client_that_accepts_only_event_streams(alice_client, fake_groq):
    fake_groq.reply_stream(["Hel", "lo"])
    response = alice_client.post(
        "/api/llm/prompt/", {"prompt": "Hi", "stream": True}, format="json", HTTP_ACCEPT="text/event-stream"
    )
    assert response.status_code == 200
    assert response["Content-Type"] == "text/event-stream"
    events = [json.loads(line[6:]) for line in b"".join(response.streaming_content).decode().split("\n\n") if line]
    assert [e["text"] for e in events if e["type"] == "chunk"] == ["Hel", "lo"]
    assert events[-1]["type"] == "done"


def test_it_answers_bad_input_as_json_to_an_event_stream_client(alice_client):
    response = alice_client.post(
        "/api/llm/prompt/", {"prompt": "", "stream": True}, format="json", HTTP_ACCEPT="text/event-stream"
    )
    assert response.status_code == 400
    assert json.loads(response.content)["fields"]["prompt"]
