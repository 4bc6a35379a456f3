"""groq_service against the fake Groq server: every call (success, error, stream) becomes one row."""

import logging
import socket
import subprocess
import sys
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from asgiref.sync import async_to_sync
from django.utils import timezone

from llm.models import LLMRequestLog, ModelPrice
from llm.sources.groq import MISSING_KEY_MESSAGE, LLMServiceError, groq_service

pytestmark = pytest.mark.django_db

MODEL = "test/model-a"


@pytest.fixture
def price():
    return ModelPrice.objects.create(
        model_name=MODEL,
        input_per_million=Decimal("0.10"),
        cached_input_per_million=Decimal("0.05"),
        output_per_million=Decimal("0.50"),
        effective_from=timezone.now() - timedelta(days=1),
    )


def only_row():
    rows = list(LLMRequestLog.objects.all())
    assert len(rows) == 1
    return rows[0]


def test_it_returns_the_answer_and_logs_one_row(fake_groq, price):
    fake_groq.reply_completion(
        "Machine learning is...",
        prompt_tokens=1200,
        completion_tokens=300,
        cached_tokens=1000,
        reasoning_tokens=40,
        groq_id="req_abc123",
    )

    result = groq_service.complete(
        prompt="Explain ML",
        model=MODEL,
        user_id="user_123",
        session_id="s-1",
        max_tokens=256,
        temperature=0.2,
        metadata={"feature": "faq"},
    )

    row = only_row()
    assert result["response"] == "Machine learning is..."
    assert result["request_id"] == str(row.request_id)
    assert (result["prompt_tokens"], result["completion_tokens"], result["total_tokens"]) == (1200, 300, 1500)
    # (200 * 0.10 + 1000 * 0.05 + 300 * 0.50) / 1e6
    assert result["cost_estimate"] == Decimal("0.000220") == row.cost_estimate
    assert result["status"] == "success" and result["finish_reason"] == "stop"
    assert row.model_name == MODEL and row.user_id == "user_123" and row.session_id == "s-1"
    assert row.status == "success" and row.error_type == "" and row.http_status == 200
    assert (row.prompt_tokens, row.completion_tokens, row.cached_prompt_tokens) == (1200, 300, 1000)
    assert row.provider_request_id == "req_abc123"
    assert row.source == "sdk" and row.max_tokens == 256 and row.temperature == 0.2
    assert row.prompt_text == "user: Explain ML"
    assert row.response_text == "Machine learning is..."
    assert row.latency_ms > 0 and row.time_to_first_token_ms is None
    assert row.metadata == {
        "queue_time": 0.012,
        "prompt_time": 0.004,
        "completion_time": 0.021,
        "total_time": 0.025,
        "reasoning_tokens": 40,
        "retries": 0,
        "app": {"feature": "faq"},
    }
    sent = fake_groq.requests[0]
    assert sent.path == "/openai/v1/chat/completions"
    assert sent.json == {
        "model": MODEL,
        "messages": [{"role": "user", "content": "Explain ML"}],
        "max_tokens": 256,
        "temperature": 0.2,
    }


def test_it_uses_the_default_model_and_a_system_prompt(fake_groq, settings):
    settings.GROQ_DEFAULT_MODEL = "openai/gpt-oss-120b"
    groq_service.complete(prompt="Hi", system_prompt="Be brief.")

    assert fake_groq.requests[0].json["model"] == "openai/gpt-oss-120b"
    assert fake_groq.requests[0].json["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hi"},
    ]
    assert only_row().prompt_text == "system: Be brief.\n\nuser: Hi"


def test_it_sends_a_multi_turn_chat_and_logs_it_readably(fake_groq):
    chat = [
        {"role": "user", "content": "What is 2+2?"},
        {"role": "assistant", "content": "4"},
        {"role": "user", "content": "And times 3?"},
    ]
    groq_service.complete(messages=chat)

    assert fake_groq.requests[0].json["messages"] == chat
    assert only_row().prompt_text == "user: What is 2+2?\n\nassistant: 4\n\nuser: And times 3?"


def test_it_logs_an_unpriced_model_with_a_null_cost(fake_groq):
    result = groq_service.complete(prompt="Hi", model="nobody/priced-this")

    assert result["cost_estimate"] is None
    assert only_row().cost_estimate is None


def test_it_prices_a_call_at_the_price_in_effect_at_its_time(fake_groq, price):
    ModelPrice.objects.create(
        model_name=MODEL,
        input_per_million=Decimal("9"),
        output_per_million=Decimal("9"),
        effective_from=timezone.now() + timedelta(days=1),
    )
    fake_groq.reply_completion(prompt_tokens=1000, completion_tokens=1000)

    groq_service.complete(prompt="Hi", model=MODEL)

    assert only_row().cost_estimate == Decimal("0.000600")


def test_it_reuses_one_client_across_calls(fake_groq):
    first = groq_service.client
    groq_service.complete(prompt="one")
    groq_service.complete(prompt="two")

    assert groq_service.client is first
    # Keep-alive: both calls went over one pooled connection.
    assert fake_groq.requests[0].headers.get("connection", "keep-alive") == "keep-alive"
    assert LLMRequestLog.objects.count() == 2


@pytest.mark.parametrize(
    "status, code, message, error_type",
    [
        (400, "invalid_request_error", "'messages' must contain the word 'json'", "bad_request"),
        (401, "invalid_api_key", "Invalid API Key", "authentication"),
        (403, "permission_denied", "Organization restricted", "permission"),
        (404, "model_not_found", "The model `nope` does not exist", "bad_request"),
        (413, "request_too_large", "Request Entity Too Large", "context_length"),
        (422, "unprocessable", "Unprocessable Entity", "bad_request"),
        (400, "context_length_exceeded", "Please reduce the length of the messages", "context_length"),
    ],
)
def test_it_logs_and_raises_each_client_error_category(fake_groq, status, code, message, error_type):
    fake_groq.reply_error(status, message, code=code)

    with pytest.raises(LLMServiceError) as caught:
        groq_service.complete(prompt="Hi", model="nope")

    row = only_row()
    error = caught.value
    assert (error.error_type, error.http_status, error.retryable) == (error_type, status, False)
    assert error.request_id == str(row.request_id)
    assert error.message == message
    assert row.status == "error" and row.error_type == error_type and row.http_status == status
    assert row.error_message == message
    assert row.metadata["error_code"] == code
    assert row.total_tokens == 0 and row.response_text == ""
    assert len(fake_groq.requests) == 1  # client errors are not retried


def test_it_retries_a_rate_limit_and_records_the_retry(fake_groq):
    fake_groq.reply_error(429, "Rate limit reached", code="rate_limit_exceeded", headers={"retry-after-ms": "5"})
    fake_groq.reply_completion("Got there")

    result = groq_service.complete(prompt="Hi")

    assert result["response"] == "Got there"
    assert len(fake_groq.requests) == 2
    assert fake_groq.requests[1].headers["x-stainless-retry-count"] == "1"
    assert only_row().metadata["retries"] == 1


def test_it_gives_up_on_a_rate_limit_after_the_retries(fake_groq, settings):
    settings.GROQ_MAX_RETRIES = 1
    for _ in range(2):
        fake_groq.reply_error(429, "Rate limit reached", code="rate_limit_exceeded", headers={"retry-after": "0.01"})

    with pytest.raises(LLMServiceError) as caught:
        groq_service.complete(prompt="Hi")

    error = caught.value
    assert (error.error_type, error.http_status, error.retryable, error.retry_after) == ("rate_limit", 429, True, 0.01)
    row = only_row()
    assert row.error_type == "rate_limit" and row.metadata["retries"] == 1
    assert len(fake_groq.requests) == 2


@pytest.mark.parametrize("status", [500, 503])
def test_it_logs_a_server_error_after_the_retries(fake_groq, status):
    for _ in range(3):
        fake_groq.reply_error(
            status, "Service Unavailable", type="internal_server_error", headers={"retry-after-ms": "1"}
        )

    with pytest.raises(LLMServiceError) as caught:
        groq_service.complete(prompt="Hi")

    assert (caught.value.error_type, caught.value.http_status, caught.value.retryable) == ("server_error", status, True)
    row = only_row()
    assert (row.error_type, row.http_status, row.metadata["retries"]) == ("server_error", status, 2)
    assert len(fake_groq.requests) == 3


def test_it_logs_a_timeout_with_the_time_spent(fake_groq, settings):
    settings.GROQ_TIMEOUT = 0.2
    settings.GROQ_MAX_RETRIES = 0
    fake_groq.reply_completion(delay=3)

    with pytest.raises(LLMServiceError) as caught:
        groq_service.complete(prompt="Hi")

    assert caught.value.error_type == "timeout" and caught.value.retryable
    row = only_row()
    assert row.error_type == "timeout" and row.http_status is None
    assert 200 <= row.latency_ms < 3000


def test_it_logs_a_refused_connection(settings, db):
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    settings.GROQ_BASE_URL = f"http://127.0.0.1:{port}"
    settings.GROQ_MAX_RETRIES = 0
    groq_service.reset()

    with pytest.raises(LLMServiceError) as caught:
        groq_service.complete(prompt="Hi")

    assert caught.value.error_type == "connection"
    row = only_row()
    assert row.error_type == "connection" and "ConnectError" in row.error_message


def test_it_logs_a_dropped_connection(fake_groq, settings):
    settings.GROQ_MAX_RETRIES = 0
    fake_groq.reply_drop()

    with pytest.raises(LLMServiceError) as caught:
        groq_service.complete(prompt="Hi")

    assert caught.value.error_type == "connection"
    assert only_row().error_type == "connection"


def test_it_logs_malformed_json_as_an_invalid_response(fake_groq):
    fake_groq.reply_raw('{"id": "x", "choices": [')

    with pytest.raises(LLMServiceError) as caught:
        groq_service.complete(prompt="Hi")

    assert caught.value.error_type == "invalid_response"
    row = only_row()
    assert row.error_type == "invalid_response" and row.error_message.startswith("Invalid response from Groq")


def test_it_logs_a_completion_without_choices_as_an_invalid_response(fake_groq):
    fake_groq.reply_raw('{"id": "x", "object": "chat.completion", "created": 1, "model": "m", "choices": []}')

    with pytest.raises(LLMServiceError) as caught:
        groq_service.complete(prompt="Hi")

    assert caught.value.error_type == "invalid_response"


def test_it_logs_a_missing_api_key_as_a_configuration_error(fake_groq, settings):
    settings.GROQ_API_KEY = ""

    with pytest.raises(LLMServiceError) as caught:
        groq_service.complete(prompt="Hi")

    assert (caught.value.error_type, caught.value.retryable) == ("configuration", False)
    row = only_row()
    assert row.error_type == "configuration" and row.error_message == MISSING_KEY_MESSAGE
    assert fake_groq.requests == []


def test_it_imports_without_an_api_key():
    code = (
        "import django; django.setup(); from llm.sources.groq import groq_service; print(type(groq_service).__name__)"
    )
    env = {"PATH": "/usr/bin:/bin", "DJANGO_SETTINGS_MODULE": "core.settings", "DEBUG": "True", "GROQ_API_KEY": ""}
    base = Path(__file__).resolve().parents[2]
    result = subprocess.run([sys.executable, "-c", code], cwd=base, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "GroqService"


def test_it_requires_a_prompt_or_messages(fake_groq):
    with pytest.raises(ValueError, match="prompt or messages"):
        groq_service.complete(prompt="")
    assert fake_groq.requests == []


def test_it_truncates_long_texts_with_a_marker(fake_groq, settings):
    settings.LLM_LOG_MAX_TEXT_CHARS = 100
    fake_groq.reply_completion("r" * 150)

    result = groq_service.complete(prompt="p" * 300)

    row = only_row()
    assert row.prompt_text == "user: " + "p" * 94 + "\n…[truncated 206 characters]"
    assert row.response_text == "r" * 100 + "\n…[truncated 50 characters]"
    assert result["response"] == "r" * 150  # the caller still gets all of it


def test_it_stores_no_text_when_capture_is_off(fake_groq, settings):
    settings.LLM_LOG_CAPTURE_TEXT = False
    fake_groq.reply_completion("secret answer")

    result = groq_service.complete(prompt="secret question")

    row = only_row()
    assert (row.prompt_text, row.response_text) == ("", "")
    assert result["response"] == "secret answer"


# --- streaming ---------------------------------------------------------------------------------


def test_it_streams_chunks_and_logs_the_whole_call(fake_groq, price):
    fake_groq.reply_stream(
        ["Hel", "lo", "!"], prompt_tokens=30, completion_tokens=3, cached_tokens=10, groq_id="req_s1"
    )

    stream = groq_service.stream(prompt="Hi", model=MODEL, user_id="u-9")
    chunks = list(stream)

    assert chunks == ["Hel", "lo", "!"]
    row = only_row()
    assert stream.result["request_id"] == str(row.request_id)
    assert stream.result["response"] == "Hello!" == row.response_text
    assert (row.prompt_tokens, row.completion_tokens, row.cached_prompt_tokens) == (30, 3, 10)
    assert row.cost_estimate == Decimal("0.000004")  # (20*0.10 + 10*0.05 + 3*0.50)/1e6 = 0.0000040
    assert row.status == "success" and row.finish_reason == "stop" and row.provider_request_id == "req_s1"
    assert 0 < row.time_to_first_token_ms <= row.latency_ms
    assert row.metadata["total_time"] == 0.025 and "usage_unknown" not in row.metadata
    assert fake_groq.requests[0].json["stream"] is True


def test_it_prefers_the_top_level_usage_of_a_stream(fake_groq):
    fake_groq.reply_stream(["a"], prompt_tokens=7, completion_tokens=1, top_level_usage=True)

    list(groq_service.stream(prompt="Hi"))

    assert (only_row().prompt_tokens, only_row().completion_tokens) == (7, 1)


def test_it_logs_an_error_sent_inside_a_stream(fake_groq):
    fake_groq.reply_stream(["Once", " upon"], error="Service overloaded, stream stopped")

    received = []
    with pytest.raises(LLMServiceError) as caught:
        for text in groq_service.stream(prompt="Tell a story"):
            received.append(text)

    assert received == ["Once", " upon"]
    assert caught.value.error_type == "server_error"
    row = only_row()
    assert row.status == "error" and row.error_type == "server_error"
    assert row.error_message == "Service overloaded, stream stopped"
    assert row.response_text == "Once upon"
    assert row.cost_estimate is None and row.metadata["usage_unknown"] is True


def test_it_logs_a_stream_whose_connection_drops(fake_groq):
    fake_groq.reply_stream(["a", "b", "c"], drop_after=2)

    with pytest.raises(LLMServiceError) as caught:
        list(groq_service.stream(prompt="Hi"))

    assert caught.value.error_type == "connection"
    row = only_row()
    assert row.error_type == "connection" and row.response_text == "ab"


def test_it_logs_an_abandoned_stream_as_cancelled(fake_groq, price):
    fake_groq.reply_stream(["one", " two", " three", " four"], chunk_delay=0.01)

    stream = groq_service.stream(prompt="Count", model=MODEL)
    assert next(stream) == "one"
    assert next(stream) == " two"
    stream.close()

    row = only_row()
    assert row.status == "error" and row.error_type == "cancelled"
    assert row.response_text == "one two"
    assert row.total_tokens == 0 and row.cost_estimate is None  # unknown, not zero
    assert row.metadata["usage_unknown"] is True
    assert 0 < row.time_to_first_token_ms <= row.latency_ms
    assert stream.result is None


def test_it_logs_a_stream_error_before_the_first_chunk(fake_groq):
    fake_groq.reply_error(401, "Invalid API Key", code="invalid_api_key")

    with pytest.raises(LLMServiceError) as caught:
        list(groq_service.stream(prompt="Hi"))

    assert caught.value.error_type == "authentication"
    row = only_row()
    assert row.error_type == "authentication" and row.http_status == 401
    # Nothing was generated: the seeded price of the default model makes it cost exactly 0.
    assert row.cost_estimate == Decimal("0") and "usage_unknown" not in row.metadata


# --- async -------------------------------------------------------------------------------------------


def test_it_completes_asynchronously(fake_groq):
    fake_groq.reply_completion("async hi", prompt_tokens=5, completion_tokens=2)

    result = async_to_sync(groq_service.acomplete)(prompt="Hi", user_id="a-1")

    row = only_row()
    assert result["response"] == "async hi" and result["request_id"] == str(row.request_id)
    assert (row.user_id, row.total_tokens, row.source) == ("a-1", 7, "sdk")


def test_it_logs_an_async_failure(fake_groq):
    fake_groq.reply_error(404, "The model `x` does not exist", code="model_not_found")

    with pytest.raises(LLMServiceError) as caught:
        async_to_sync(groq_service.acomplete)(prompt="Hi", model="x")

    assert caught.value.error_type == "bad_request"
    assert only_row().error_type == "bad_request"


def test_it_streams_asynchronously(fake_groq):
    fake_groq.reply_stream(["a", "b"], prompt_tokens=3, completion_tokens=2)

    async def consume():
        stream = groq_service.astream(prompt="Hi")
        return [text async for text in stream], stream.result

    chunks, result = async_to_sync(consume)()

    assert chunks == ["a", "b"]
    row = only_row()
    assert result["response"] == "ab" == row.response_text and row.total_tokens == 5


def test_it_logs_an_abandoned_async_stream(fake_groq):
    fake_groq.reply_stream(["a", "b", "c"], chunk_delay=0.01)

    async def consume():
        stream = groq_service.astream(prompt="Hi")
        first = await stream.__anext__()
        await stream.aclose()
        return first

    assert async_to_sync(consume)() == "a"
    row = only_row()
    assert row.error_type == "cancelled" and row.response_text == "a"


# --- privacy ---------------------------------------------------------------------------------------


def test_it_never_stores_or_logs_the_api_key(fake_groq, settings, caplog, _isolated_spool):
    from django.db import OperationalError, connection

    key = settings.GROQ_API_KEY
    caplog.set_level(logging.DEBUG)
    settings.GROQ_MAX_RETRIES = 0
    fake_groq.reply_completion("fine")
    fake_groq.reply_error(401, f"Invalid API Key {key}", code="invalid_api_key")
    fake_groq.reply_stream(["a", "b"])
    groq_service.complete(prompt="one")
    with pytest.raises(LLMServiceError) as caught:
        groq_service.complete(prompt=f"my key is {key}")
    list(groq_service.stream(prompt="three"))

    def refuse(execute, sql, params, many, context):
        raise OperationalError(f"refused for {params!r}")

    with connection.execute_wrapper(refuse):
        groq_service.complete(prompt=f"spooled {key}")

    assert fake_groq.requests[0].headers["authorization"] == f"Bearer {key}"  # it was used...
    stored = [str(values) for values in LLMRequestLog.objects.values()]  # ...and never kept
    assert len(stored) == 3
    assert not [text for text in stored if key in text]
    assert "Invalid API Key [redacted]" in caught.value.message
    assert key not in _isolated_spool.read_text() and "[redacted]" in _isolated_spool.read_text()
    ours = [r for r in caplog.records if r.name.startswith("llm")]
    assert ours and not [r for r in ours if key in r.getMessage()]
    # The SDK's own DEBUG lines echo the prompt we sent (which held the key), but never the credential.
    assert f"Bearer {key}" not in caplog.text


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("sync_commit, relaxed", [(False, True), (True, False)])
def test_it_relaxes_the_commit_of_a_log_row_on_postgresql_only_when_allowed(fake_groq, settings, sync_commit, relaxed):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    if connection.vendor != "postgresql":
        pytest.skip("synchronous_commit is a PostgreSQL setting")
    settings.LLM_LOG_SYNC_COMMIT = sync_commit

    with CaptureQueriesContext(connection) as queries:
        groq_service.complete(prompt="Hi")

    statements = [q["sql"] for q in queries.captured_queries]
    assert ("SET LOCAL synchronous_commit TO OFF" in statements) is relaxed
    assert LLMRequestLog.objects.count() == 1
