"""One call, whatever its source, becomes one row here, with every invariant applied once.

Sources (groq_service, the prompt endpoint, /api/ingest/, OTLP spans, sample data) only translate
what they received into a CallRecord; build_rows turns records into unsaved LLMRequestLog rows:

- error category: a failed call without a category gets the one of its HTTP status (calls.errors);
- texts: NUL characters dropped (PostgreSQL text cannot hold them), lone surrogates replaced,
  configured secrets redacted, then the capture policy (LLM_LOG_CAPTURE_TEXT, size cap) applied;
  error messages capped at MAX_ERROR_MESSAGE_CHARS; short labels cut to their column;
- timestamp: aware, inside the accepted window;
- tokens: total = prompt + completion, cached never above prompt;
- cost: the sender's when it gave one (marked so recompute_costs keeps it), none when the usage is
  unknown (zero tokens would price as a made-up $0), else the ModelPrice in effect at the call's time.
"""

from __future__ import annotations

import logging
import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING

from core.logscrub import scrub_configured_secrets
from llm.calls.capture import captured_text
from llm.calls.errors import classify_status
from llm.calls.pricing import COST_SOURCE_KEY, COST_SOURCE_SENDER, PriceBook
from llm.models import LLMRequestLog

if TYPE_CHECKING:
    from llm.models import IngestKey

logger = logging.getLogger(__name__)

MAX_INT = 2**31 - 1  # PostgreSQL integer columns
MAX_ERROR_MESSAGE_CHARS = 10_000
# Calls outside this window are mistakes (a zeroed clock, a year-1 placeholder); year 1 in a
# positive offset is stored as a BC date on PostgreSQL, which no later read can turn back into
# a datetime, so they are refused before they are stored.
EARLIEST_TIMESTAMP = datetime(2000, 1, 1, tzinfo=UTC)
MAX_FUTURE = timedelta(days=1)
TIMESTAMP_WINDOW = "between 2000-01-01 and one day from now (UTC)"
USAGE_UNKNOWN_KEY = "usage_unknown"

_SURROGATE = re.compile("[\ud800-\udfff]")
# Plain strings: an enum member lookup per row shows in the profile of a 1,000-event batch.
_SUCCESS, _ERROR = str(LLMRequestLog.Status.SUCCESS), str(LLMRequestLog.Status.ERROR)
# Column lengths of the short text fields (CharField max_length).
_LABEL_LENGTHS = {
    name: LLMRequestLog._meta.get_field(name).max_length
    for name in ("model_name", "provider", "user_id", "session_id", "finish_reason", "provider_request_id")
}


class InvalidCall(ValueError):
    """A record that cannot be stored; `field` names the offending value."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass
class CallRecord:
    """One LLM call as its source saw it, before any of the storage rules is applied."""

    model: str
    source: str
    timestamp: datetime
    request_id: uuid.UUID | None = None  # made up when the source has none
    provider: str = "groq"
    failed: bool = False  # also implied by an error_type
    error_type: str = ""  # a taxonomy value; '' lets the HTTP status decide
    http_status: int | None = None
    error_message: str = ""
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_prompt_tokens: int = 0
    usage_known: bool = True  # False: tokens were spent but nobody knows how many
    latency_ms: float = 0.0
    time_to_first_token_ms: float | None = None
    sender_cost: Decimal | None = None  # a cost the sender gave, kept as it is
    user_id: str = ""
    session_id: str = ""
    finish_reason: str = ""
    temperature: float | None = None
    max_tokens: int | None = None
    provider_request_id: str = ""
    trace_id: str = ""
    span_id: str = ""
    parent_span_id: str = ""
    ingest_key: IngestKey | None = None
    metadata: dict = field(default_factory=dict)
    prompt_text: str = ""
    response_text: str = ""


def timestamp_window(*, now: datetime) -> tuple[datetime, datetime]:
    """(earliest, latest) call time accepted when the time is `now`."""
    return EARLIEST_TIMESTAMP, now + MAX_FUTURE


def clean_text(text: str) -> str:
    """`text` without NUL characters and with lone surrogates replaced, so every database takes it."""
    if "\x00" in text:
        text = text.replace("\x00", "")
    return _SURROGATE.sub("\ufffd", text) if _SURROGATE.search(text) else text


def has_lone_surrogate(text: str) -> bool:
    return _SURROGATE.search(text) is not None


def _stored_text(text: str) -> str:
    return captured_text(scrub_configured_secrets(clean_text(text))) if text else ""


def _label(name: str, value: str) -> str:
    return clean_text(value)[: _LABEL_LENGTHS[name]] if value else ""


def _checked_timestamp(moment: datetime, *, now: datetime) -> datetime:
    if moment.tzinfo is None:
        raise InvalidCall("timestamp", "Must carry a time zone.")
    earliest, latest = timestamp_window(now=now)
    if not earliest <= moment <= latest:
        raise InvalidCall("timestamp", f"Must be {TIMESTAMP_WINDOW}.")
    return moment


def _checked_tokens(record: CallRecord) -> tuple[int, int, int]:
    prompt, completion = record.prompt_tokens, record.completion_tokens
    for name, value in (("prompt_tokens", prompt), ("completion_tokens", completion)):
        if not 0 <= value <= MAX_INT:
            raise InvalidCall(name, f"Must be between 0 and {MAX_INT}.")
    if prompt + completion > MAX_INT:
        raise InvalidCall("completion_tokens", f"prompt_tokens + completion_tokens must be at most {MAX_INT}.")
    return prompt, completion, min(max(record.cached_prompt_tokens, 0), prompt)


def _row(record: CallRecord, *, now: datetime) -> LLMRequestLog:
    prompt, completion, cached = _checked_tokens(record)
    failed = record.failed or bool(record.error_type)
    metadata = dict(record.metadata)
    if record.sender_cost is not None:
        # The sender knows its own price (another provider, a negotiated rate): recompute_costs keeps it.
        metadata[COST_SOURCE_KEY] = COST_SOURCE_SENDER
    if not record.usage_known:
        metadata[USAGE_UNKNOWN_KEY] = True
    message = clean_text(scrub_configured_secrets(record.error_message))[:MAX_ERROR_MESSAGE_CHARS]
    return LLMRequestLog(
        request_id=record.request_id or uuid.uuid4(),
        timestamp=_checked_timestamp(record.timestamp, now=now),
        model_name=_label("model_name", record.model) or "unknown",
        provider=_label("provider", record.provider) or "unknown",
        status=_ERROR if failed else _SUCCESS,
        error_type=(record.error_type or classify_status(record.http_status, message=message)) if failed else "",
        http_status=record.http_status,
        prompt_tokens=prompt,
        completion_tokens=completion,
        total_tokens=prompt + completion,
        cached_prompt_tokens=cached,
        latency_ms=max(record.latency_ms, 0.0),
        time_to_first_token_ms=record.time_to_first_token_ms,
        cost_estimate=record.sender_cost,
        user_id=_label("user_id", record.user_id),
        session_id=_label("session_id", record.session_id),
        finish_reason=_label("finish_reason", record.finish_reason),
        temperature=record.temperature,
        max_tokens=record.max_tokens,
        source=record.source,
        provider_request_id=_label("provider_request_id", record.provider_request_id),
        trace_id=record.trace_id,
        span_id=record.span_id,
        parent_span_id=record.parent_span_id,
        ingest_key=record.ingest_key,
        metadata=metadata,
        error_message=message,
        prompt_text=_stored_text(record.prompt_text),
        response_text=_stored_text(record.response_text),
    )


def build_row(record: CallRecord, *, now: datetime | None = None) -> LLMRequestLog:
    """The unsaved, priced row of one record; raises InvalidCall when it cannot be stored."""
    (row,) = build_rows([record], now=now)
    if isinstance(row, InvalidCall):
        raise row
    return row


def build_rows(
    records: list[CallRecord], *, now: datetime | None = None, prices: PriceBook | None = None
) -> list[LLMRequestLog | InvalidCall]:
    """For each record, in order, its unsaved row, or the InvalidCall saying why it cannot be stored:
    one bad record never costs the others. All rows are priced together (one query, or none with
    `prices`, a PriceBook shared across batches).
    """
    now = now or datetime.now(UTC)
    built: list[LLMRequestLog | InvalidCall] = []
    for record in records:
        try:
            built.append(_row(record, now=now))
        except InvalidCall as invalid:
            built.append(invalid)
    price_rows([row for row in built if isinstance(row, LLMRequestLog)], prices=prices)
    return built


def price_rows(rows: list[LLMRequestLog], *, prices: PriceBook | None = None) -> None:
    """Set the cost of rows that have none and may have one (known usage), from the prices of their time.

    Never raises: when the prices cannot be read (the database is down) the costs stay empty, and
    the spool's replay, which calls this again, fills them in.
    """
    pending = [row for row in rows if row.cost_estimate is None and not row.metadata.get(USAGE_UNKNOWN_KEY)]
    if not pending:
        return
    try:
        book = prices or PriceBook.for_rows(pending)
    except Exception:  # noqa: BLE001 - the call matters more than its price; the spool prices it later
        logger.warning("Price lookup failed; the cost is left for later", exc_info=True)
        return
    for row in pending:
        row.cost_estimate = book.cost(
            provider=row.provider,
            model_name=row.model_name,
            at=row.timestamp,
            prompt_tokens=row.prompt_tokens,
            completion_tokens=row.completion_tokens,
            cached_prompt_tokens=row.cached_prompt_tokens,
        )
