"""generate_sample_data: counts, determinism, --clear, realistic distributions, prices, progress and the
hour marks its writes leave (COPY on PostgreSQL, executemany on SQLite)."""

import re
from collections import Counter
from datetime import UTC, datetime, timedelta
from io import StringIO
from unittest import mock

import pytest
import time_machine
from django.core.management import CommandError, call_command

from llm.calls.pricing import PriceBook
from llm.models import ChangedHour, ErrorType, LLMRequestLog, UserFeedback
from llm.sources import sample
from llm.sources.sample import store_sample_calls

pytestmark = pytest.mark.django_db

FROZEN = "2026-11-20T12:00:00Z"


def generate(*args):
    out = StringIO()
    call_command("generate_sample_data", *args, stdout=out)
    return out.getvalue()


@time_machine.travel(FROZEN, tick=False)
def test_it_creates_the_requested_number_of_calls_within_the_window():
    output = generate("--count", "300", "--days", "3", "--seed", "1")
    assert LLMRequestLog.objects.filter(source="sample").count() == 300
    assert "Created 300 sample calls" in output
    stamps = LLMRequestLog.objects.values_list("timestamp", flat=True)
    assert min(stamps).isoformat() >= "2026-11-17T12:00:00+00:00"
    assert max(stamps).isoformat() <= "2026-11-20T12:00:00+00:00"


@time_machine.travel(FROZEN, tick=False)
def test_it_is_deterministic_with_a_seed():
    fields = ("request_id", "timestamp", "model_name", "latency_ms", "total_tokens", "cost_estimate", "status")
    generate("--count", "200", "--seed", "7")
    first = list(LLMRequestLog.objects.order_by("request_id").values_list(*fields))
    generate("--count", "200", "--seed", "7", "--clear")
    second = list(LLMRequestLog.objects.order_by("request_id").values_list(*fields))
    assert first == second
    generate("--count", "200", "--seed", "8", "--clear")
    assert list(LLMRequestLog.objects.order_by("request_id").values_list(*fields)) != first


def test_it_clears_only_sample_rows(make_log):
    real = make_log(source="sdk")
    generate("--count", "400", "--seed", "3")
    assert UserFeedback.objects.filter(request__source="sample").exists()
    output = generate("--count", "0", "--clear")
    assert "Removed 400 sample calls." in output
    assert list(LLMRequestLog.objects.values_list("pk", flat=True)) == [real.pk]
    assert not UserFeedback.objects.filter(request__source="sample").exists()


def test_it_does_nothing_with_if_empty_when_calls_exist(make_log):
    make_log()
    output = generate("--count", "50", "--if-empty")
    assert LLMRequestLog.objects.count() == 1
    assert "already stored" in output


@pytest.mark.parametrize("now", ["2026-11-20T03:17:00Z", "2026-11-20T15:45:00Z"])
def test_it_produces_realistic_distributions(now):
    with time_machine.travel(now, tick=False):
        check_realistic_distributions()


def check_realistic_distributions():
    generate("--count", "5000", "--days", "10", "--seed", "11")
    rows = LLMRequestLog.objects.all()
    errors = rows.filter(status="error")
    error_rate = errors.count() / 5000
    assert 0.015 <= error_rate <= 0.08
    error_types = Counter(errors.values_list("error_type", flat=True))
    assert set(error_types) <= set(ErrorType.values)
    assert len(error_types) >= 4
    assert error_types.most_common(1)[0][0] in {"rate_limit", "server_error", "timeout"}
    # Skewed popularity: the most used model has several times the calls of the least used.
    by_model = Counter(rows.values_list("model_name", flat=True))
    assert len(by_model) >= 5
    assert by_model.most_common()[0][1] > 4 * by_model.most_common()[-1][1]
    # Long latency tail: P99 far above the median.
    latencies = sorted(rows.filter(status="success").values_list("latency_ms", flat=True))
    median, p99 = latencies[len(latencies) // 2], latencies[int(len(latencies) * 0.99)]
    assert p99 > 3 * median
    # Every successful call of a priced model has a cost; errors carry no tokens.
    assert not rows.filter(status="success", cost_estimate__isnull=True).exists()
    assert not errors.exclude(total_tokens=0).exists()
    assert rows.filter(cached_prompt_tokens__gt=0).exists()
    feedback_share = UserFeedback.objects.count() / 5000
    assert 0.03 <= feedback_share <= 0.12
    # Daily rhythm: afternoon hours busier than the small hours.
    hours = Counter(ts.hour for ts in rows.values_list("timestamp", flat=True))
    assert sum(hours[h] for h in (13, 14, 15, 16)) > 2 * sum(hours[h] for h in (1, 2, 3, 4))


@pytest.mark.parametrize(
    "args, message",
    [
        (["--count", "-1"], "--count must be between 0 and 10000000"),
        (["--count", "10000001"], "--count must be between 0 and 10000000"),
        (["--count", "99999999999999999999"], "--count must be between 0 and 10000000"),
        (["--days", "0"], "--days must be between 1 and 3650"),
        (["--text-chars", "5"], "--text-chars must be between 40 and 100000"),
    ],
)
def test_it_rejects_bad_arguments(args, message):
    with pytest.raises(CommandError, match=message):
        generate(*args)
    assert LLMRequestLog.objects.count() == 0


def test_it_writes_comments_that_agree_with_their_rating():
    generate("--count", "4000", "--days", "5", "--seed", "5")
    comments = {
        rating: set(UserFeedback.objects.filter(rating=rating).exclude(comment="").values_list("comment", flat=True))
        for rating in ("thumbs_up", "thumbs_down")
    }

    assert comments["thumbs_up"] and comments["thumbs_down"]
    assert comments["thumbs_up"] <= {
        "Exactly what I needed.",
        "Helpful summary.",
        "Fast and accurate.",
        "Correct, if a little long.",
    }
    assert comments["thumbs_down"] <= {
        "Wrong invoice number.",
        "Hallucinated a policy that does not exist.",
        "Missed the second question.",
        "Too long to be useful.",
    }


def test_it_skips_the_calls_of_a_seed_already_used_and_says_so():
    first = generate("--count", "300", "--seed", "21")
    feedback = UserFeedback.objects.count()

    again = generate("--count", "300", "--seed", "21")  # once ended in an IntegrityError traceback

    assert "Created 300 sample calls" in first
    assert "Skipped 300 sample calls already stored (the same --seed was used before)" in again
    assert "Created 0 sample calls and 0 feedback entries" in again
    assert LLMRequestLog.objects.count() == 300
    assert UserFeedback.objects.count() == feedback


def test_it_stores_sample_calls_through_the_same_rules_as_every_call(settings):
    settings.LLM_LOG_CAPTURE_TEXT = False  # the text-capture policy applies to sample data too
    generate("--count", "200", "--seed", "4")
    rows = LLMRequestLog.objects.all()
    assert rows.count() == 200
    assert not rows.exclude(prompt_text="").exists() and not rows.exclude(response_text="").exists()
    for row in rows.filter(status="error"):
        assert row.error_type and row.total_tokens == 0
    for row in rows.filter(status="success")[:50]:
        assert row.total_tokens == row.prompt_tokens + row.completion_tokens
        assert row.cached_prompt_tokens <= row.prompt_tokens


@time_machine.travel(FROZEN, tick=False)
def test_it_prints_progress_with_done_total_and_rate():
    output = generate("--count", "1200", "--seed", "2")

    lines = [line for line in output.splitlines() if line.endswith("calls/s")]
    assert lines, output
    assert re.fullmatch(r"  1,200/1,200 calls  [\d,]+ calls/s", lines[-1])


@time_machine.travel(FROZEN, tick=False)
def test_it_prices_every_call_with_the_pricing_code():
    generate("--count", "600", "--seed", "6")
    prices = PriceBook()
    rows = LLMRequestLog.objects.values_list(
        "provider",
        "model_name",
        "timestamp",
        "prompt_tokens",
        "completion_tokens",
        "cached_prompt_tokens",
        "cost_estimate",
    )

    expected = [
        prices.cost(
            provider=provider,
            model_name=model,
            at=at,
            prompt_tokens=prompt,
            completion_tokens=completion,
            cached_prompt_tokens=cached,
        )
        for provider, model, at, prompt, completion, cached, _ in rows
    ]

    assert len(rows) == 600
    assert [row[-1] for row in rows] == expected
    assert sum(cost for cost in expected if cost) > 0


@time_machine.travel(FROZEN, tick=False)
def test_it_stores_one_feedback_entry_at_most_per_successful_call_and_counts_them():
    output = generate("--count", "3000", "--seed", "9")

    entries = UserFeedback.objects.all()
    assert f"Created 3000 sample calls and {entries.count()} feedback entries" in output
    assert 0.03 * 3000 <= entries.count() <= 0.12 * 3000
    assert not entries.exclude(request__status="success").exists()
    assert entries.values("request").distinct().count() == entries.count()
    for entry in entries.select_related("request")[:100]:
        assert entry.request.timestamp < entry.created_at <= entry.request.timestamp + timedelta(minutes=10)


@time_machine.travel(FROZEN, tick=False)
def test_it_adds_only_the_calls_a_larger_run_of_a_seed_has_not_stored():
    generate("--count", "300", "--seed", "21", "--days", "3")
    first = set(LLMRequestLog.objects.values_list("request_id", flat=True))
    feedback = set(UserFeedback.objects.values_list("pk", flat=True))

    # Request ids follow the seed alone, so other --days still find the first 300 calls.
    output = generate("--count", "700", "--seed", "21", "--days", "5")

    assert "Skipped 300 sample calls already stored" in output
    assert "Created 400 sample calls" in output
    assert LLMRequestLog.objects.count() == 700
    assert first <= set(LLMRequestLog.objects.values_list("request_id", flat=True))
    assert set(UserFeedback.objects.filter(request__request_id__in=first).values_list("pk", flat=True)) == feedback
    assert UserFeedback.objects.values("request").distinct().count() == UserFeedback.objects.count()


def test_it_writes_the_same_calls_whatever_the_batch_size():
    end = datetime(2026, 11, 20, 12, tzinfo=UTC)
    fields = ("request_id", "timestamp", "latency_ms", "cost_estimate", "prompt_text", "response_text", "metadata")

    store_sample_calls(count=250, days=2, seed=31, end=end, batch_size=7)
    small = list(LLMRequestLog.objects.order_by("request_id").values_list(*fields))
    LLMRequestLog.objects.all().delete()
    store_sample_calls(count=250, days=2, seed=31, end=end, batch_size=1000)

    assert list(LLMRequestLog.objects.order_by("request_id").values_list(*fields)) == small


@time_machine.travel(FROZEN, tick=False)
def test_it_marks_the_hours_of_the_calls_for_the_rollups():
    generate("--count", "2000", "--days", "3", "--seed", "12")

    hours = {
        ts.replace(minute=0, second=0, microsecond=0)
        for ts in LLMRequestLog.objects.values_list("timestamp", flat=True)
    }
    marks = list(ChangedHour.objects.values_list("hour", flat=True))
    assert hours and set(marks) == hours
    # Written in time order, as production writes calls.
    stamps = list(LLMRequestLog.objects.order_by("pk").values_list("timestamp", flat=True))
    assert stamps == sorted(stamps)
    # Each batch is written in time order, so a batch marks each of its hours once, not once a call.
    assert len(marks) < 2 * len(hours)


@time_machine.travel(FROZEN, tick=False)
def test_it_stores_long_texts_in_small_batches_and_texts_cut_by_the_capture_policy(settings):
    settings.LLM_LOG_MAX_TEXT_CHARS = 5000
    sizes = []
    original = sample._store_batch

    def spy(writer, batch, **kwargs):
        sizes.append(batch.size)
        return original(writer, batch, **kwargs)

    with mock.patch.object(sample, "_store_batch", spy):
        store_sample_calls(count=120, days=1, seed=3, end=datetime(2026, 11, 20, tzinfo=UTC), text_chars=40_000)

    rows = LLMRequestLog.objects.all()
    assert rows.count() == 120
    # Memory stays flat: at most BATCH_TEXT_CHARS characters of text a batch.
    assert sum(sizes) == 120 and max(sizes) * 2 * 40_000 <= sample.BATCH_TEXT_CHARS
    for text in rows.values_list("prompt_text", flat=True):
        head, marker = text.split("\n", 1)  # the marker starts on a new line: COPY must escape it
        assert len(head) == 5000 and marker.startswith("…[truncated ")


def test_it_reports_a_failure_while_generating_and_writes_nothing_more():
    with mock.patch.object(sample._Sampler, "_call", side_effect=ValueError("broken sampler")):
        with pytest.raises(RuntimeError, match="broken sampler"):
            store_sample_calls(count=50, days=1, seed=1, end=datetime(2026, 11, 20, tzinfo=UTC))
    assert LLMRequestLog.objects.count() == 0
