"""Realistic, deterministic sample calls for demos, tests and benchmarks, written fast enough for 10M rows.

Shapes chosen to look like production traffic: skewed model popularity,
log-normal latency with a long tail, a daily rhythm, 2-5 % errors across the
taxonomy with a few bursts, cached prompt tokens on the models that cache,
and some user feedback.

Rows are built as plain tuples (no CallRecord, no model instances: those cost ~100 us a call, more than
everything else together) and written in batches: COPY on PostgreSQL, one reused INSERT on SQLite. The
storage rules of llm/calls/record.py that can matter for generated calls are applied here: prices from
PriceBook, the text-capture policy (captured_text) and configured secrets scrubbed from the vocabulary the
texts are cut from. The others (NUL characters, label lengths, timestamp window, token bounds) hold by
construction.
"""

import io
import json
import math
import multiprocessing
import random
import re
import traceback
import uuid
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import accumulate
from queue import Empty
from typing import TypeVar

from django.db import IntegrityError, connections, router, transaction

from core.logscrub import scrub_configured_secrets
from llm.calls.capture import captured_text
from llm.calls.pricing import PriceBook
from llm.calls.record import MAX_ERROR_MESSAGE_CHARS
from llm.calls.storage import iter_chunks
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


T = TypeVar("T")
PROVIDER = "groq"
MAX_BURST = timedelta(minutes=90)
# Columns of a generated call, in the order of its tuple; ingest_key stays NULL.
CALL_COLUMNS = (
    "request_id",
    "timestamp",
    "model_name",
    "provider",
    "status",
    "error_type",
    "http_status",
    "prompt_tokens",
    "completion_tokens",
    "total_tokens",
    "cached_prompt_tokens",
    "latency_ms",
    "time_to_first_token_ms",
    "cost_estimate",
    "user_id",
    "session_id",
    "finish_reason",
    "temperature",
    "max_tokens",
    "source",
    "provider_request_id",
    "trace_id",
    "span_id",
    "parent_span_id",
    "metadata",
    "error_message",
    "prompt_text",
    "response_text",
)
# A generated feedback entry carries its call's request_id until the call's primary key is known.
FEEDBACK_COLUMNS = ("request_id", "rating", "comment", "created_at")
# Characters of text held in one batch (prompt and response); keeps memory flat with --text-chars 100000.
BATCH_TEXT_CHARS = 10_000_000
_SUCCESS, _ERROR = str(LLMRequestLog.Status.SUCCESS), str(LLMRequestLog.Status.ERROR)
_SOURCE = str(Source.SAMPLE)
_THUMBS_UP, _THUMBS_DOWN = str(UserFeedback.Rating.THUMBS_UP), str(UserFeedback.Rating.THUMBS_DOWN)
_APPS = ["support-bot", "search", "email-assistant"]


def _bursts(rng: random.Random, start: datetime, days: int) -> list[tuple[datetime, datetime, str]]:
    """A few windows (30-90 min) where one error type dominates, as real incidents do; sorted by start."""
    bursts = []
    for _ in range(max(1, days // 5)):
        begin = start + timedelta(seconds=rng.uniform(0, days * 86400))
        bursts.append((begin, begin + timedelta(minutes=rng.uniform(30, 90)), str(rng.choice(BURST_TYPES))))
    return sorted(bursts)


def _word_stream(rng: random.Random, *, longest: int) -> tuple[str, list[int], int]:
    """Random words to cut texts from: (text, offsets where words start, how many of them leave `longest`
    characters after them). One draw per text instead of one per word, which took 80 % of the time.

    Configured secrets are scrubbed here, once, rather than from each text: a text is a task or "Answer",
    then ": ", then a piece of this stream.
    """
    words = rng.choices(WORDS, k=(4 * longest + 65_536) // 5)
    stream = scrub_configured_secrets(" ".join(words))
    starts = [0] + [match.end() for match in re.finditer(" ", stream)]
    return stream, starts, bisect_right(starts, len(stream) - longest)


def _ascending_times(rng: random.Random, *, count: int, start: datetime, end: datetime) -> Iterator[datetime]:
    """`count` independent call times in [start, end], drawn from the daily rhythm (HOURLY), in ascending
    order without holding them: uniforms come out sorted (Bentley and Saxe, 1980: the largest of k is
    V ** (1/k)) and go through the rhythm's distribution function, a slot of it per hour.

    In time order, as production writes them: the time-led indexes then grow at one end, and PostgreSQL's
    insert trigger (migration 0007) marks each hour once per batch, not once per call. In random order
    COPY had slowed to about 4,000 calls/s at 2.7M calls, the server busy with evicted index pages.
    """
    # Hours of day count from UTC midnight, so the rhythm peaks at the same clock hour whenever it runs.
    hour = start.replace(hour=0, minute=0, second=0, microsecond=0)
    slots = []  # (start, seconds, weight) of each hour slot, cut to [start, end]
    while hour < end:
        low, high = max(hour, start), min(hour + timedelta(hours=1), end)
        if high > low:
            seconds = (high - low).total_seconds()
            slots.append((low, seconds, HOURLY[hour.hour] * seconds))
        hour += timedelta(hours=1)
    bounds = list(accumulate(weight for _, _, weight in slots))
    slot, largest = 0, 1.0
    for k in range(count, 0, -1):
        largest *= rng.random() ** (1 / k)  # the largest of k uniforms below the previous one
        target = (1.0 - largest) * bounds[-1]
        while slot < len(slots) - 1 and bounds[slot] <= target:
            slot += 1
        low, seconds, weight = slots[slot]
        into = target - (bounds[slot] - weight)
        yield low + timedelta(seconds=min(seconds, max(0.0, into / weight * seconds)))


class _Sampler:
    """The random source of one run: each call drawn from it, in order, so a seed gives the same calls
    whatever the batch size. Request ids come from a stream of their own, so the n-th call of a seed has
    the same request_id whatever --days, --text-chars or the time of the run (that is what lets a second
    run of a seed skip the calls already stored).
    """

    def __init__(self, *, count: int, days: int, seed: int, end: datetime, text_chars: int, prices: PriceBook):
        self.rng = rng = random.Random(seed)
        self.ids = random.Random(f"sample-request-ids-{seed}")
        self.prices = prices
        self.start, self.end = end - timedelta(days=days), end
        self.times = _ascending_times(rng, count=count, start=self.start, end=end)
        self.model_weights = list(accumulate(m.weight for m in MODELS))
        self.users = [f"user_{i:04d}" for i in range(max(5, min(500, count // 20)))]
        self.user_weights = list(accumulate(1 / (i + 1) ** 0.8 for i in range(len(self.users))))  # heavy users
        self.bursts = _bursts(rng, self.start, days)
        self.burst_begins = [begin for begin, _, _ in self.bursts]
        self.error_kinds = [str(kind) for kind in ERRORS]
        self.error_weights = list(accumulate(ERRORS[kind][0] for kind in ERRORS))
        self.errors = {
            str(kind): (status, scrub_configured_secrets(message)[:MAX_ERROR_MESSAGE_CHARS])
            for kind, (_, status, message) in ERRORS.items()
        }
        self.heads = {head: scrub_configured_secrets(head) for head in [*TASKS, "Answer"]}
        self.metadata = {(app, task): json.dumps({"app": app, "task": task}) for app in _APPS for task in TASKS}
        self.text_chars = text_chars
        self.stream, self.word_starts, self.usable_starts = _word_stream(rng, longest=self._longest())

    def batch(self, size: int) -> tuple[list[tuple], list[tuple]]:
        """The next `size` calls (tuples in CALL_COLUMNS order, by time) and their feedback (FEEDBACK_COLUMNS)."""
        calls, feedback = [], []
        for _ in range(size):
            call, entry = self._call()
            calls.append(call)
            if entry is not None:
                feedback.append(entry)
        return calls, feedback

    def _call(self) -> tuple[tuple, tuple | None]:
        rng = self.rng
        model = rng.choices(MODELS, cum_weights=self.model_weights)[0]
        ts = next(self.times)
        user = rng.choices(self.users, cum_weights=self.user_weights)[0]
        prompt_tokens = max(5, int(rng.lognormvariate(math.log(model.prompt_median), 0.7)))
        completion_tokens = max(1, int(rng.lognormvariate(math.log(model.completion_median), 0.6)))
        latency = rng.lognormvariate(math.log(model.latency_median_ms), 0.45)
        if rng.random() < 0.02:
            latency *= rng.uniform(3, 10)  # the long tail P95/P99 exist for
        cached = 0
        if model.caches_prompts and rng.random() < 0.3:
            cached = int(prompt_tokens * rng.uniform(0.2, 0.8))
        error = self._error(ts)
        task = rng.choice(TASKS)
        prompt = self._text(task)
        finish, first_token, response, feedback = "", None, "", None
        if error is None:
            status, http_status, message = _SUCCESS, None, ""
            finish = "length" if rng.random() < 0.05 else "stop"
            first_token = round(latency * rng.uniform(0.1, 0.35), 2)
            response = self._text("Answer")
            feedback = self._feedback(model, ts)
        else:
            status, (http_status, message) = _ERROR, self.errors[error]
            prompt_tokens = completion_tokens = cached = 0  # a failed call reports no usage
            latency = self._error_latency(error, http_status, latency)
        request_id = uuid.UUID(int=self.ids.getrandbits(128), version=4)
        call = (
            request_id,
            ts,
            model.name,
            PROVIDER,
            status,
            error or "",
            http_status,
            prompt_tokens,
            completion_tokens,
            prompt_tokens + completion_tokens,
            cached,
            round(latency, 2),
            first_token,
            self._cost(model, ts, prompt_tokens, completion_tokens, cached),
            user,
            f"{user}-s{rng.randrange(20)}",
            finish,
            rng.choice([0.0, 0.2, 0.7, 1.0]),
            rng.choice([256, 512, 1024, 2048]),
            _SOURCE,
            "",
            "",
            "",
            "",
            self.metadata[rng.choice(_APPS), task],
            message,
            captured_text(prompt),
            captured_text(response),
        )
        return call, None if feedback is None else (request_id, *feedback)

    def _error(self, ts: datetime) -> str | None:
        rng = self.rng
        # Only bursts that began at most MAX_BURST before `ts` can hold it.
        first, last = bisect_left(self.burst_begins, ts - MAX_BURST), bisect_right(self.burst_begins, ts)
        for _, end, kind in self.bursts[first:last]:
            if ts <= end:
                return kind if rng.random() < 0.3 else None
        if rng.random() < 0.025:
            return rng.choices(self.error_kinds, cum_weights=self.error_weights)[0]
        return None

    def _error_latency(self, error: str, http_status: int | None, latency: float) -> float:
        if error == ErrorType.TIMEOUT:
            return self.rng.uniform(30_000, 60_000)
        if http_status and 400 <= http_status < 500:
            return self.rng.uniform(40, 250)
        return latency

    def _longest(self) -> int:
        return max(40, int(1.5 * self.text_chars))

    def _text(self, head: str) -> str:
        size = max(40, int(self.rng.uniform(0.5, 1.5) * self.text_chars))
        start = self.word_starts[self.rng.randrange(self.usable_starts)]
        return (self.heads[head] + ": " + self.stream[start : start + size])[:size]

    def _cost(self, model: ModelProfile, ts: datetime, prompt: int, completion: int, cached: int):
        # Failed calls too: their zero tokens price as 0 where the model has a price, as for any call.
        return self.prices.cost(
            provider=PROVIDER,
            model_name=model.name,
            at=ts,
            prompt_tokens=prompt,
            completion_tokens=completion,
            cached_prompt_tokens=cached,
        )

    def _feedback(self, model: ModelProfile, ts: datetime) -> tuple[str, str, datetime] | None:
        rng = self.rng
        if rng.random() >= 0.08:
            return None
        rating = _THUMBS_UP if rng.random() < model.satisfaction else _THUMBS_DOWN
        comment = rng.choice(FEEDBACK_COMMENTS[rating]) if rng.random() < 0.3 else ""
        return rating, comment, ts + timedelta(seconds=rng.uniform(5, 600))


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
    batch_size: int = 10_000,
    progress: Callable[[int], None] | None = None,
) -> SampleResult:
    """Generate and store `count` sample calls (and their feedback) in batches, each its own transaction.

    Calls whose request_id is already stored (the same seed used before, or another run of it going on)
    are skipped, with their feedback, and counted. Batches hold at most BATCH_TEXT_CHARS characters of
    text, so memory stays flat whatever --text-chars. `progress` is called with the number of calls
    handled after each batch.
    """
    writer = _writer()
    sampler = _Sampler(count=count, days=days, seed=seed, end=end, text_chars=text_chars, prices=PriceBook())
    size = max(1, min(batch_size, BATCH_TEXT_CHARS // (2 * text_chars)))
    sizes = [min(size, count - done) for done in range(0, count, size)]
    created = feedback = handled = 0
    expect_known = False
    for batch in _made_apart(writer.encode(*sampler.batch(n)) for n in sizes):
        inserted, added = _store_batch(writer, batch, expect_known=expect_known)
        # After a batch with stored calls the next one most likely has some too: skip the failing COPY.
        expect_known = inserted < batch.size
        created += inserted
        feedback += added
        handled += batch.size
        if progress:
            progress(handled)
    return SampleResult(created=created, skipped=count - created, feedback=feedback)


@dataclass(frozen=True)
class _Batch:
    size: int  # calls in the batch
    calls: object  # the calls as the writer takes them (no UUID objects: they cost more to send than text)
    feedback: list[tuple]  # FEEDBACK_COLUMNS, the request_id standing for the call


def _made_apart(items: Iterator[T], *, depth: int = 2) -> Iterator[T]:
    """The items of `items`, made by a forked child process up to `depth` items ahead.

    Making a batch is pure Python (prices were loaded before) and costs about as much CPU as the database
    spends storing it; on two cores, making the next batch while this one is written doubled the rate on
    PostgreSQL (9,400 -> 18,900 calls/s for 300,000 calls). Where fork is missing, they are made here.
    """
    if "fork" not in multiprocessing.get_all_start_methods():
        yield from items
        return
    context = multiprocessing.get_context("fork")
    queue = context.Queue(maxsize=depth)  # bounded: memory stays flat
    child = context.Process(target=_make, args=(items, queue), name="sample-calls", daemon=True)
    child.start()
    try:
        while True:
            try:
                kind, item = queue.get(timeout=1)
            except Empty:
                if not child.is_alive():
                    raise RuntimeError("The process generating sample calls ended unexpectedly.") from None
                continue
            if kind == "done":
                return
            if kind == "error":
                raise RuntimeError(f"Generating sample calls failed:\n{item}")
            yield item
    finally:
        if child.is_alive():  # the consumer stopped early or raised
            child.terminate()
        child.join()


def _make(items: Iterator, queue) -> None:
    # In the child: it inherited the database connections and must never use them (no queries here).
    try:
        for item in items:
            queue.put(("item", item))
        queue.put(("done", None))
    except BaseException:  # noqa: BLE001 - reported to the parent, which raises
        queue.put(("error", traceback.format_exc()))


def _store_batch(writer, batch: _Batch, *, expect_known: bool) -> tuple[int, int]:
    """Store one batch in one transaction; returns (calls inserted, feedback entries inserted)."""
    with transaction.atomic(using=writer.alias):
        inserted = None  # None: every call of the batch
        if not expect_known:
            try:
                with transaction.atomic(using=writer.alias):
                    writer.add_calls(batch)
            except IntegrityError:
                expect_known = True  # some request ids are stored already
        if expect_known:
            inserted = writer.add_new_calls(batch)
        entries = batch.feedback
        if inserted is not None:
            entries = [entry for entry in entries if entry[0] in inserted]
        pks = _stored_pks(writer.alias, [entry[0] for entry in entries])
        writer.add_feedback([(pks[entry[0]], *entry[1:]) for entry in entries])
    return batch.size if inserted is None else len(inserted), len(entries)


def _stored_pks(alias: str, request_ids: list[uuid.UUID | str]) -> dict[uuid.UUID, int]:
    """request_id -> primary key of those stored, in chunks that stay under SQLite's variable limit."""
    pks = {}
    calls = LLMRequestLog.objects.using(alias)
    for chunk in iter_chunks(request_ids, 5000):
        pks.update(calls.filter(request_id__in=chunk).values_list("request_id", "pk"))
    return pks


def _writer():
    alias = router.db_for_write(LLMRequestLog)
    connection = connections[alias]
    return _PostgresCopy(connection) if connection.vendor == "postgresql" else _SqliteInsert(connection)


def _names(connection, model, columns) -> tuple[str, str]:
    quote = connection.ops.quote_name
    return quote(model._meta.db_table), ", ".join(quote(column) for column in columns)


class _PostgresCopy:
    """COPY ... FROM STDIN: one stream per batch, no per-value binding. The insert trigger of migrations
    0006/0007 fires for COPY as for INSERT, so the hours of the new calls are marked changed."""

    STAGING = "llm_sample_staging"

    def __init__(self, connection):
        self.connection, self.alias = connection, connection.alias

    def encode(self, calls: list[tuple], feedback: list[tuple]) -> _Batch:
        return _Batch(size=len(calls), calls=_copy_text(calls), feedback=feedback)

    def add_calls(self, batch: _Batch) -> None:
        """Raises IntegrityError when a request_id is already stored; nothing of the batch is then written."""
        self._copy(LLMRequestLog._meta.db_table, CALL_COLUMNS, batch.calls)

    def add_new_calls(self, batch: _Batch) -> set[uuid.UUID]:
        """Insert the calls whose request_id is not stored; returns their request ids. Through a staging
        table, so that ON CONFLICT DO NOTHING can skip them (COPY cannot)."""
        table, names = _names(self.connection, LLMRequestLog, CALL_COLUMNS)
        with self.connection.cursor() as cursor:
            cursor.execute(
                f"CREATE TEMPORARY TABLE IF NOT EXISTS {self.STAGING} ON COMMIT DELETE ROWS AS "
                f"SELECT {names} FROM {table} WITH NO DATA"
            )
            cursor.execute(f"TRUNCATE {self.STAGING}")
            self._copy(self.STAGING, CALL_COLUMNS, batch.calls)
            cursor.execute(
                f"INSERT INTO {table} ({names}) SELECT {names} FROM {self.STAGING} "
                f'ORDER BY "timestamp" ON CONFLICT DO NOTHING RETURNING request_id'
            )
            return {row[0] for row in cursor.fetchall()}

    def add_feedback(self, entries: list[tuple]) -> None:
        if entries:
            self._copy(UserFeedback._meta.db_table, FEEDBACK_COLUMNS, _copy_text(entries))

    def _copy(self, table: str, columns, text: str) -> None:
        quote = self.connection.ops.quote_name
        sql = f"COPY {quote(table)} ({', '.join(map(quote, columns))}) FROM STDIN"
        with self.connection.cursor() as cursor, self.connection.wrap_database_errors:
            # All in one read: psycopg2 reads the file in chunks of `size`.
            cursor.copy_expert(sql, io.StringIO(text), size=len(text) + 1)


# COPY's text format: \N is NULL; backslash, tab, newline and carriage return are escaped (a text cut by
# the capture policy ends with a marker on a new line).
_COPY_SPECIAL = re.compile(r"[\\\t\n\r]")
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _copy_text(rows: list[tuple]) -> str:
    return "".join(["\t".join(map(_copy_value, row)) + "\n" for row in rows])


def _copy_value(value) -> str:
    if value is None:
        return "\\N"
    if isinstance(value, str):
        return value.translate(_COPY_ESCAPES) if _COPY_SPECIAL.search(value) else value
    return str(value)


class _SqliteInsert:
    """One INSERT statement reused for every row (executemany): SQLite's fastest path. Values are turned
    into what Django stores: UUIDs as hex, times as naive UTC text."""

    def __init__(self, connection):
        self.connection, self.alias = connection, connection.alias
        self.stored_time = connection.ops.adapt_datetimefield_value

    def encode(self, calls: list[tuple], feedback: list[tuple]) -> _Batch:
        time = self.stored_time
        rows = [(call[0].hex, time(call[1]), *call[2:]) for call in calls]
        return _Batch(size=len(calls), calls=rows, feedback=feedback)

    def add_calls(self, batch: _Batch) -> None:
        """Raises IntegrityError when a request_id is already stored (the caller's savepoint undoes the rest)."""
        self._insert(LLMRequestLog, CALL_COLUMNS, batch.calls)

    def add_new_calls(self, batch: _Batch) -> set[uuid.UUID]:
        """Insert the calls whose request_id is not stored; returns their request ids. SQLite has one
        writer and this transaction is it (transaction_mode IMMEDIATE), so none can slip in between."""
        known = {request_id.hex for request_id in _stored_pks(self.alias, [row[0] for row in batch.calls])}
        fresh = [row for row in batch.calls if row[0] not in known]
        self._insert(LLMRequestLog, CALL_COLUMNS, fresh)
        return {uuid.UUID(row[0]) for row in fresh}

    def add_feedback(self, entries: list[tuple]) -> None:
        time = self.stored_time
        self._insert(UserFeedback, FEEDBACK_COLUMNS, [(*entry[:3], time(entry[3])) for entry in entries])

    def _insert(self, model, columns, rows: list[tuple]) -> None:
        if not rows:
            return
        table, names = _names(self.connection, model, columns)
        placeholders = ", ".join(["%s"] * len(columns))
        with self.connection.cursor() as cursor:
            cursor.executemany(f"INSERT INTO {table} ({names}) VALUES ({placeholders})", rows)
