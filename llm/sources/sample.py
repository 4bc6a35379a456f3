"""Realistic, deterministic sample calls for demos, tests and benchmarks.

Shapes chosen to look like production traffic: skewed model popularity,
log-normal latency with a long tail, a daily rhythm, 2-5 % errors across the
taxonomy with a few bursts, cached prompt tokens on the models that cache,
and some user feedback.
"""

import math
import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction

from llm.calls.persist import insert_rows
from llm.calls.pricing import PriceBook
from llm.calls.record import CallRecord, build_rows
from llm.calls.storage import bulk_insert, iter_chunks
from llm.models import ErrorType, LLMRequestLog, Source, UserFeedback


@dataclass(frozen=True)
class ModelProfile:
    name: str
    weight: float  # share of traffic
    latency_median_ms: float
    prompt_median: int
    completion_median: int
    caches_prompts: bool
    satisfaction: float  # chance a rating is thumbs up


MODELS = [
    ModelProfile("openai/gpt-oss-20b", 0.34, 650, 420, 260, True, 0.82),
    ModelProfile("llama-3.1-8b-instant", 0.24, 320, 300, 180, False, 0.74),
    ModelProfile("llama-3.3-70b-versatile", 0.18, 1250, 650, 380, False, 0.86),
    ModelProfile("openai/gpt-oss-120b", 0.12, 1600, 900, 520, True, 0.9),
    ModelProfile("qwen/qwen3-32b", 0.07, 1100, 520, 450, False, 0.8),
    ModelProfile("meta-llama/llama-4-scout-17b-16e-instruct", 0.05, 700, 480, 300, False, 0.78),
]

# error type -> (relative frequency, HTTP status or None, message)
ERRORS = {
    ErrorType.RATE_LIMIT: (34, 429, "Rate limit reached for model: tokens per minute (TPM) limit exceeded"),
    ErrorType.SERVER_ERROR: (20, 503, "Service Unavailable: the model is over capacity"),
    ErrorType.TIMEOUT: (14, None, "Request timed out."),
    ErrorType.CONNECTION: (8, None, "Connection error."),
    ErrorType.BAD_REQUEST: (8, 400, "Invalid request: 'messages' must contain at least one message"),
    ErrorType.CONTEXT_LENGTH: (6, 400, "Please reduce the length of the messages or completion."),
    ErrorType.INVALID_RESPONSE: (4, 200, "Response could not be parsed as a chat completion"),
    ErrorType.CANCELLED: (4, None, "Stream abandoned by the client"),
    ErrorType.AUTHENTICATION: (2, 401, "Invalid API Key"),
}
BURST_TYPES = [ErrorType.RATE_LIMIT, ErrorType.SERVER_ERROR, ErrorType.TIMEOUT]

TASKS = [
    "Summarize the following support ticket in two sentences",
    "Classify the sentiment of this product review",
    "Extract the invoice number, date and total from this text",
    "Translate the paragraph below into Spanish",
    "Write a SQL query that answers the question",
    "Answer the customer's question using only the context",
    "Rewrite this email so it sounds friendlier",
    "Generate three title ideas for this blog post",
]
WORDS = (
    "the order arrived late and the package was damaged customer wants a refund for the second time "
    "please check the account settings invoice total shipping address payment failed retry later "
    "our team reviewed the logs and found a timeout in the checkout service after the deploy "
    "latency increased for european users during peak hours while the cache warmed up again "
    "the model should answer politely cite the policy and avoid promising delivery dates"
).split()
# A comment always agrees with its rating: the feedback page lists them side by side.
FEEDBACK_COMMENTS = {
    UserFeedback.Rating.THUMBS_UP: [
        "Exactly what I needed.",
        "Helpful summary.",
        "Fast and accurate.",
        "Correct, if a little long.",
    ],
    UserFeedback.Rating.THUMBS_DOWN: [
        "Wrong invoice number.",
        "Hallucinated a policy that does not exist.",
        "Missed the second question.",
        "Too long to be useful.",
    ],
}
# Traffic by hour of day (UTC): quiet at night, peak in the afternoon.
HOURLY = [0.25 + 0.75 * math.exp(-((h - 15) ** 2) / 18) for h in range(24)]


def _text(rng: random.Random, head: str, size: int) -> str:
    words = [head + ":"]
    length = len(head)
    while length < size:
        word = rng.choice(WORDS)
        words.append(word)
        length += len(word) + 1
    return " ".join(words)[:size]


def _bursts(rng: random.Random, start: datetime, days: int) -> list[tuple[datetime, datetime, str]]:
    """A few windows (30-90 min) where one error type dominates, as real incidents do."""
    bursts = []
    for _ in range(max(1, days // 5)):
        begin = start + timedelta(seconds=rng.uniform(0, days * 86400))
        bursts.append((begin, begin + timedelta(minutes=rng.uniform(30, 90)), rng.choice(BURST_TYPES)))
    return bursts


def _error_type(rng, ts, bursts) -> str | None:
    for begin, end, kind in bursts:
        if begin <= ts <= end:
            return kind if rng.random() < 0.3 else None
    if rng.random() < 0.025:
        kinds = list(ERRORS)
        return rng.choices(kinds, weights=[ERRORS[k][0] for k in kinds])[0]
    return None


def generate_calls(*, count: int, days: int, seed: int, end: datetime, text_chars: int = 400):
    """Yield (CallRecord, UserFeedback | None) pairs, deterministic for a seed and `end`."""
    rng = random.Random(seed)
    start = end - timedelta(days=days)
    bursts = _bursts(rng, start, days)
    users = [f"user_{i:04d}" for i in range(max(5, min(500, count // 20)))]
    user_weights = [1 / (i + 1) ** 0.8 for i in range(len(users))]  # a few heavy users
    weights = [m.weight for m in MODELS]
    day_weights = HOURLY
    # Hours of day count from UTC midnight, so the rhythm peaks at the same clock hour whenever it runs.
    midnight = start.replace(hour=0, minute=0, second=0, microsecond=0)
    for _ in range(count):
        model = rng.choices(MODELS, weights=weights)[0]
        ts = None
        while ts is None or not start <= ts <= end:
            day = rng.randrange(days + 1)
            hour = rng.choices(range(24), weights=day_weights)[0]
            ts = midnight + timedelta(days=day, hours=hour, seconds=rng.uniform(0, 3600))
        yield _one_call(rng, model, ts, bursts, users, user_weights, text_chars)


def _one_call(rng, model, ts, bursts, users, user_weights, text_chars) -> tuple[CallRecord, UserFeedback | None]:
    user = rng.choices(users, weights=user_weights)[0]
    prompt_tokens = max(5, int(rng.lognormvariate(math.log(model.prompt_median), 0.7)))
    completion_tokens = max(1, int(rng.lognormvariate(math.log(model.completion_median), 0.6)))
    latency = rng.lognormvariate(math.log(model.latency_median_ms), 0.45)
    if rng.random() < 0.02:
        latency *= rng.uniform(3, 10)  # the long tail P95/P99 exist for
    cached = 0
    if model.caches_prompts and rng.random() < 0.3:
        cached = int(prompt_tokens * rng.uniform(0.2, 0.8))
    error = _error_type(rng, ts, bursts)
    task = rng.choice(TASKS)
    prompt_size = max(40, int(rng.uniform(0.5, 1.5) * text_chars))
    call = CallRecord(
        model=model.name,
        source=Source.SAMPLE,
        timestamp=ts,
        request_id=uuid.UUID(int=rng.getrandbits(128), version=4),
        user_id=user,
        session_id=f"{user}-s{rng.randrange(20)}",
        temperature=rng.choice([0.0, 0.2, 0.7, 1.0]),
        max_tokens=rng.choice([256, 512, 1024, 2048]),
        metadata={"app": rng.choice(["support-bot", "search", "email-assistant"]), "task": task},
        prompt_text=_text(rng, task, prompt_size),
    )
    if error is None:
        call.prompt_tokens, call.completion_tokens, call.cached_prompt_tokens = prompt_tokens, completion_tokens, cached
        call.finish_reason = "length" if rng.random() < 0.05 else "stop"
        call.time_to_first_token_ms = round(latency * rng.uniform(0.1, 0.35), 2)
        call.response_text = _text(rng, "Answer", max(40, int(rng.uniform(0.5, 1.5) * text_chars)))
    else:
        _, http_status, message = ERRORS[error]
        call.error_type, call.http_status, call.error_message = error, http_status, message
        if error == ErrorType.TIMEOUT:
            latency = rng.uniform(30_000, 60_000)
        elif http_status and 400 <= http_status < 500:
            latency = rng.uniform(40, 250)
    call.latency_ms = round(latency, 2)
    feedback = None
    if error is None and rng.random() < 0.08:
        up = rng.random() < model.satisfaction
        rating = UserFeedback.Rating.THUMBS_UP if up else UserFeedback.Rating.THUMBS_DOWN
        feedback = UserFeedback(
            rating=rating,
            comment=rng.choice(FEEDBACK_COMMENTS[rating]) if rng.random() < 0.3 else "",
            created_at=ts + timedelta(seconds=rng.uniform(5, 600)),
        )
    return call, feedback


@dataclass(frozen=True)
class SampleResult:
    created: int  # calls inserted
    skipped: int  # calls already stored (request ids follow the seed, so a seed used before repeats them)
    feedback: int  # feedback entries inserted


def store_sample_calls(
    *,
    count: int,
    days: int,
    seed: int,
    end: datetime,
    text_chars: int = 400,
    batch_size: int = 5000,
    progress: Callable[[int], None] | None = None,
) -> SampleResult:
    """Generate and store `count` sample calls (and their feedback) in batches, each its own transaction.

    Calls whose request_id is already stored are skipped, with their feedback, and counted.
    `progress` is called with the number of calls handled after each batch.
    """
    prices = PriceBook()  # once for every batch
    created = skipped = feedback = handled = 0
    calls = generate_calls(count=count, days=days, seed=seed, end=end, text_chars=text_chars)
    for batch in iter_chunks(calls, batch_size):
        known = set(
            LLMRequestLog.objects.filter(request_id__in=[call.request_id for call, _ in batch]).values_list(
                "request_id", flat=True
            )
        )
        fresh = [(call, fb) for call, fb in batch if call.request_id not in known]
        rows = build_rows([call for call, _ in fresh], prices=prices)
        with transaction.atomic():
            inserted = insert_rows(rows)
            feedback += _insert_feedback(fresh)
        created += inserted
        skipped += len(batch) - inserted
        handled += len(batch)
        if progress:
            progress(handled)
    return SampleResult(created=created, skipped=skipped, feedback=feedback)


def _insert_feedback(batch) -> int:
    wanted = {call.request_id: fb for call, fb in batch if fb is not None}
    if not wanted:
        return 0
    ids = dict(LLMRequestLog.objects.filter(request_id__in=list(wanted)).values_list("request_id", "pk"))
    for request_id, fb in wanted.items():
        fb.request_id = ids[request_id]
    return bulk_insert(UserFeedback, list(wanted.values()))
