"""manage.py recompute_costs: re-prices stored calls from ModelPrice and reports the difference."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command

from llm.models import LLMRequestLog, ModelPrice
from llm.sources.ingest import ingest_events

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
MODEL = "acme/new-model"


def run(*args, capsys):
    call_command("recompute_costs", *args)
    return capsys.readouterr().out.strip().splitlines()


@pytest.fixture
def calls(make_log):
    """Three calls of a model that had no price when they were made, and one of another model."""
    return [
        make_log(model_name=MODEL, timestamp=T0, prompt_tokens=1_000_000, completion_tokens=0, cost_estimate=None),
        make_log(
            model_name=MODEL,
            timestamp=T0 + timedelta(days=2),
            prompt_tokens=0,
            completion_tokens=1_000_000,
            cost_estimate=None,
        ),
        make_log(
            model_name=MODEL,
            timestamp=T0 + timedelta(days=2),
            prompt_tokens=1_000_000,
            completion_tokens=0,
            cached_prompt_tokens=1_000_000,
            cost_estimate=None,
        ),
        make_log(model_name="other/model", timestamp=T0, cost_estimate=None),
    ]


@pytest.fixture
def new_price():
    return ModelPrice.objects.create(
        model_name=MODEL,
        input_per_million=Decimal("1"),
        cached_input_per_million=Decimal("0.5"),
        output_per_million=Decimal("2"),
        effective_from=T0 - timedelta(days=30),
    )


def costs(calls):
    return [LLMRequestLog.objects.get(pk=c.pk).cost_estimate for c in calls]


def test_it_prices_calls_after_a_price_is_added(calls, new_price, capsys):
    out = run("--model", MODEL, capsys=capsys)

    assert costs(calls) == [Decimal("1.000000"), Decimal("2.000000"), Decimal("0.500000"), None]
    assert out == [
        "Examined 3 calls; 3 costs changed; 0 unpriced.",
        "Cost of the changed calls: $0.000000 before, $3.500000 after (+$3.500000).",
    ]


def test_it_uses_the_price_in_effect_at_each_call_and_reports_a_correction(calls, new_price, capsys):
    run(capsys=capsys)
    ModelPrice.objects.create(
        model_name=MODEL,
        input_per_million=Decimal("3"),
        output_per_million=Decimal("2"),
        effective_from=T0 + timedelta(days=1),
    )

    out = run(capsys=capsys)

    assert costs(calls) == [Decimal("1.000000"), Decimal("2.000000"), Decimal("3.000000"), None]
    assert out == [
        "Examined 4 calls; 1 costs changed; 1 unpriced.",
        "Cost of the changed calls: $0.500000 before, $3.000000 after (+$2.500000).",
    ]


def test_it_only_touches_calls_since_a_date(calls, new_price, capsys):
    run("--since", "2026-03-02", capsys=capsys)

    assert costs(calls) == [None, Decimal("2.000000"), Decimal("0.500000"), None]


def test_it_writes_nothing_in_a_dry_run(calls, new_price, capsys):
    out = run("--dry-run", capsys=capsys)

    assert costs(calls) == [None, None, None, None]
    assert out[0] == "Examined 4 calls; 3 costs would change; 1 unpriced."
    assert out[-1] == "Dry run: nothing written."


def test_it_keeps_the_null_cost_of_a_call_whose_usage_is_unknown(make_log, new_price, capsys):
    cancelled = make_log(
        model_name=MODEL,
        timestamp=T0,
        status="error",
        error_type="cancelled",
        prompt_tokens=0,
        completion_tokens=0,
        cost_estimate=None,
        metadata={"usage_unknown": True},
    )

    out = run(capsys=capsys)

    assert LLMRequestLog.objects.get(pk=cancelled.pk).cost_estimate is None
    assert out[0] == "Examined 0 calls; 0 costs changed; 0 unpriced."


def test_it_is_idempotent_and_prints_no_zero_sums_when_nothing_changed(calls, new_price, capsys):
    run(capsys=capsys)
    out = run(capsys=capsys)

    assert out == ["Examined 4 calls; 0 costs changed; 1 unpriced."]


def test_it_shows_a_cost_of_a_fraction_of_a_cent_to_the_millionth(make_log, capsys):
    ModelPrice.objects.create(
        model_name=MODEL,
        input_per_million=Decimal("0.123"),
        output_per_million=Decimal("0"),
        effective_from=T0 - timedelta(days=30),
    )
    make_log(model_name=MODEL, timestamp=T0, prompt_tokens=1000, completion_tokens=0, cost_estimate=None)

    out = run(capsys=capsys)

    assert out[1] == "Cost of the changed calls: $0.000000 before, $0.000123 after (+$0.000123)."


def test_it_signs_a_cost_that_went_down(calls, new_price, capsys):
    run(capsys=capsys)
    new_price.input_per_million = Decimal("0.5")
    new_price.save()

    out = run("--model", MODEL, capsys=capsys)

    assert out[1] == "Cost of the changed calls: $1.000000 before, $0.500000 after (-$0.500000)."


def test_it_groups_thousands_in_large_costs(make_log, new_price, capsys):
    make_log(model_name=MODEL, timestamp=T0, prompt_tokens=1_234_567_891, completion_tokens=0, cost_estimate=None)

    out = run(capsys=capsys)

    assert out[1] == "Cost of the changed calls: $0.000000 before, $1,234.567891 after (+$1,234.567891)."


def test_it_rejects_a_bad_date():
    with pytest.raises(CommandError, match="--since must be an ISO 8601 date or datetime"):
        call_command("recompute_costs", "--since", "last tuesday")


@pytest.fixture
def sender_priced():
    """Calls sent with their own cost: one of a model we have no price for, one of MODEL."""
    events = [
        {
            "model": "gpt-4o",
            "provider": "openai",
            "prompt_tokens": 10,
            "cost_estimate": 0.5,
            "timestamp": "2026-03-01T12:00:00Z",
        },
        {
            "model": MODEL,
            "provider": "groq",
            "prompt_tokens": 1_000_000,
            "cost_estimate": "0.25",
            "timestamp": "2026-03-01T12:00:00Z",
        },
    ]
    report = ingest_events(events=events, ingest_key=None)
    assert len(report.accepted) == 2
    return list(LLMRequestLog.objects.order_by("model_name"))


def test_it_keeps_the_cost_a_sender_gave(sender_priced, new_price, capsys):
    out = run(capsys=capsys)

    assert costs(sender_priced) == [Decimal("0.250000"), Decimal("0.500000")]
    assert out == [
        "Examined 0 calls; 0 costs changed; 0 unpriced.",
        "Kept the cost their sender gave on 2 calls (--include-sender-costs re-prices them).",
    ]


def test_it_reprices_sender_costs_when_asked(sender_priced, new_price, capsys):
    out = run("--include-sender-costs", capsys=capsys)

    assert costs(sender_priced) == [Decimal("1.000000"), None]
    assert out == [
        "Examined 2 calls; 2 costs changed; 1 unpriced.",
        "Cost of the changed calls: $0.750000 before, $1.000000 after (+$0.250000).",
    ]


@pytest.mark.parametrize("since", ["9999-12-31T23:59:59-05:00", "0001-01-01T00:00:00+05:00"])
def test_it_rejects_a_date_that_leaves_the_calendar_in_utc(since):
    with pytest.raises(CommandError, match=r"^--since is outside years 1-9999 once converted to UTC, got '"):
        call_command("recompute_costs", "--since", since)
