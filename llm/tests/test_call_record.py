"""The builder (llm/calls/record.py): every storage rule, applied once to a CallRecord from any source."""

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from llm.calls.record import MAX_ERROR_MESSAGE_CHARS, CallRecord, InvalidCall, build_row, build_rows
from llm.models import LLMRequestLog, ModelPrice, Source

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def price():
    return ModelPrice.objects.create(
        provider="groq",
        model_name="test/model",
        input_per_million=Decimal(1),
        cached_input_per_million=Decimal("0.5"),
        output_per_million=Decimal(2),
        effective_from=datetime(2020, 1, 1, tzinfo=UTC),
    )


def record(**fields) -> CallRecord:
    return CallRecord(
        **{"model": "test/model", "source": Source.INGEST, "timestamp": NOW - timedelta(hours=1), **fields}
    )


def test_it_derives_tokens_status_and_a_request_id():
    row = build_row(record(prompt_tokens=100, completion_tokens=50, cached_prompt_tokens=400), now=NOW)
    assert (row.prompt_tokens, row.completion_tokens, row.total_tokens) == (100, 50, 150)
    assert row.cached_prompt_tokens == 100  # never more than the prompt
    assert row.status == LLMRequestLog.Status.SUCCESS and row.error_type == ""
    assert isinstance(row.request_id, uuid.UUID)


def test_it_classifies_a_failure_by_its_status_unless_the_source_named_the_category():
    assert build_row(record(failed=True, http_status=504), now=NOW).error_type == "timeout"
    assert build_row(record(failed=True), now=NOW).error_type == "unknown"
    named = build_row(record(error_type="rate_limit", http_status=500), now=NOW)
    assert (named.status, named.error_type) == ("error", "rate_limit")


def test_it_cleans_caps_and_scrubs_texts(settings):
    settings.LLM_LOG_MAX_TEXT_CHARS = 100
    key = settings.GROQ_API_KEY
    row = build_row(
        record(
            prompt_text=f"a\x00b \ud800 uses {key}",
            response_text="y" * 150,
            error_message="e\x00" * 20_000,
            user_id="u\x00" + "x" * 300,
            finish_reason="stop\x00",
        ),
        now=NOW,
    )
    assert row.prompt_text == "ab \ufffd uses [redacted]"
    assert row.response_text.startswith("y" * 100) and row.response_text.endswith("[truncated 50 characters]")
    assert row.error_message == "e" * MAX_ERROR_MESSAGE_CHARS
    assert row.user_id == "u" + "x" * 254 and row.finish_reason == "stop"


def test_it_stores_no_text_when_capture_is_off(settings):
    settings.LLM_LOG_CAPTURE_TEXT = False
    row = build_row(record(prompt_text="private", response_text="answer", error_message="kept"), now=NOW)
    assert (row.prompt_text, row.response_text, row.error_message) == ("", "", "kept")


def test_it_prices_from_the_table_keeps_a_senders_cost_and_never_invents_one(price):
    priced, sent, unknown, unpriced = build_rows(
        [
            record(prompt_tokens=1_000_000, completion_tokens=1_000_000, cached_prompt_tokens=500_000),
            record(prompt_tokens=10, sender_cost=Decimal("0.5")),
            record(prompt_tokens=0, usage_known=False),
            record(model="no/price", prompt_tokens=10),
        ],
        now=NOW,
    )
    assert priced.cost_estimate == Decimal("2.750000")  # 0.5M × $1 + 0.5M × $0.5 + 1M × $2
    assert sent.cost_estimate == Decimal("0.5") and sent.metadata["cost_source"] == "sender"
    assert unknown.cost_estimate is None and unknown.metadata["usage_unknown"] is True
    assert unpriced.cost_estimate is None


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"timestamp": datetime(1999, 12, 31, tzinfo=UTC)}, "timestamp"),
        ({"timestamp": NOW + timedelta(days=2)}, "timestamp"),
        ({"timestamp": datetime(2026, 1, 1)}, "timestamp"),  # naive
        ({"prompt_tokens": -1}, "prompt_tokens"),
        ({"prompt_tokens": 2**31 - 1, "completion_tokens": 1}, "completion_tokens"),
    ],
)
def test_it_refuses_a_record_alone_naming_the_field(fields, field):
    good, bad = build_rows([record(), record(**fields)], now=NOW)
    assert isinstance(good, LLMRequestLog)
    assert isinstance(bad, InvalidCall) and bad.field == field
    with pytest.raises(InvalidCall):
        build_row(record(**fields), now=NOW)


def test_it_prices_a_batch_in_one_query(price, django_assert_num_queries):
    with django_assert_num_queries(1):
        rows = build_rows([record(prompt_tokens=n) for n in range(1, 200)], now=NOW)
    assert all(row.cost_estimate is not None for row in rows)
