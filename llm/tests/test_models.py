"""Constraints, prices and the per-row rules that live on the models."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.db import IntegrityError, transaction

from llm.calls.pricing import PriceBook
from llm.calls.storage import bulk_insert
from llm.models import LLMRequestLog, ModelPrice

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "fields",
    [
        {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 16},
        {"latency_ms": -1.0},
        {"prompt_tokens": 10, "completion_tokens": 0, "total_tokens": 10, "cached_prompt_tokens": 11},
    ],
)
def test_it_rejects_rows_that_break_a_constraint(make_log, fields):
    with pytest.raises(IntegrityError), transaction.atomic():
        make_log(**fields)
    assert LLMRequestLog.objects.count() == 0


def test_it_rejects_negative_tokens_at_the_database(make_log):
    log = make_log()
    with pytest.raises(IntegrityError), transaction.atomic():
        LLMRequestLog.objects.filter(pk=log.pk).update(prompt_tokens=-5, total_tokens=45)


def test_it_keeps_request_ids_unique(make_log):
    log = make_log()
    with pytest.raises(IntegrityError), transaction.atomic():
        make_log(request_id=log.request_id)


def test_it_reports_errors_on_the_row(make_log):
    assert make_log(status="error", error_type="rate_limit").is_error is True
    assert make_log().is_error is False


def test_it_seeds_groq_prices():
    price = ModelPrice.objects.get(model_name="openai/gpt-oss-120b")
    assert (price.input_per_million, price.cached_input_per_million, price.output_per_million) == (
        Decimal("0.150000"),
        Decimal("0.075000"),
        Decimal("0.600000"),
    )
    assert set(ModelPrice.objects.values_list("model_name", flat=True)) >= {
        "openai/gpt-oss-20b",
        "llama-3.3-70b-versatile",
        "llama-3.1-8b-instant",
        "qwen/qwen3-32b",
    }


def cost_for_call(*, provider: str, model_name: str, **call):
    """The cost of one call as the write path prices it: from the prices of that model alone."""
    return PriceBook.for_models([(provider, model_name)]).cost(provider=provider, model_name=model_name, **call)


def test_it_prices_a_call_with_cached_tokens():
    # gpt-oss-120b: (1000 - 400) * 0.15 + 400 * 0.075 + 500 * 0.60 = 90 + 30 + 300 = 420 per million
    cost = cost_for_call(
        provider="groq",
        model_name="openai/gpt-oss-120b",
        at=datetime(2026, 6, 1, tzinfo=UTC),
        prompt_tokens=1000,
        completion_tokens=500,
        cached_prompt_tokens=400,
    )
    assert cost == Decimal("0.000420")


def test_it_prices_cached_tokens_as_input_when_no_cached_price():
    cost = cost_for_call(
        provider="groq",
        model_name="llama-3.3-70b-versatile",
        at=datetime(2026, 6, 1, tzinfo=UTC),
        prompt_tokens=1_000_000,
        completion_tokens=1_000_000,
        cached_prompt_tokens=500_000,
    )
    assert cost == Decimal("1.380000")


def test_it_returns_no_cost_for_an_unpriced_model():
    assert (
        cost_for_call(
            provider="groq",
            model_name="no-such-model",
            at=datetime(2026, 6, 1, tzinfo=UTC),
            prompt_tokens=10,
            completion_tokens=10,
        )
        is None
    )


def test_it_uses_the_price_in_effect_at_the_call_time():
    new_from = datetime(2026, 9, 1, tzinfo=UTC)
    ModelPrice.objects.create(
        model_name="llama-3.1-8b-instant",
        input_per_million=Decimal("1"),
        output_per_million=Decimal("2"),
        effective_from=new_from,
    )
    book = PriceBook()
    kwargs = {
        "provider": "groq",
        "model_name": "llama-3.1-8b-instant",
        "prompt_tokens": 1_000_000,
        "completion_tokens": 1_000_000,
    }
    assert book.cost(at=new_from - timedelta(seconds=1), **kwargs) == Decimal("0.130000")
    assert book.cost(at=new_from, **kwargs) == Decimal("3.000000")
    assert cost_for_call(at=new_from + timedelta(days=1), **kwargs) == Decimal("3.000000")
    assert book.cost(at=datetime(2019, 1, 1, tzinfo=UTC), **kwargs) is None


def test_it_bulk_inserts_and_skips_duplicates():
    rows = [
        LLMRequestLog(model_name="m", prompt_tokens=1, completion_tokens=1, total_tokens=2, latency_ms=float(i))
        for i in range(150)
    ]
    assert bulk_insert(LLMRequestLog, rows) == 150
    again = bulk_insert(LLMRequestLog, rows[:100] + [LLMRequestLog(model_name="m2")], ignore_conflicts=True)
    assert again == 1
    assert LLMRequestLog.objects.count() == 151
    assert sorted(LLMRequestLog.objects.filter(model_name="m").values_list("latency_ms", flat=True)) == [
        float(i) for i in range(150)
    ]


def test_it_has_no_missing_migrations():
    call_command("makemigrations", "--check", "--dry-run", verbosity=0)
