"""Calls sent by other applications: ingest keys, request bodies, batch events → LLMRequestLog rows.

Everything an external sender can get wrong is answered here with a precise message: a bad
event is rejected alone (the rest of its batch is stored), a bad body as a whole. A valid event
becomes a CallRecord, and the builder (llm/calls/record.py) applies the same storage rules as to
every other call: text capture, error category, cost from ModelPrice when the sender gives none.
"""

import hashlib
import hmac
import json
import math
import re
import secrets
import uuid
import zlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.utils import timezone
from rest_framework import exceptions, status

from llm.calls.capture import render_messages
from llm.calls.errors import classify_reported
from llm.calls.persist import insert_rows
from llm.calls.record import (
    MAX_INT,
    TIMESTAMP_WINDOW,
    CallRecord,
    InvalidCall,
    build_rows,
    has_lone_surrogate,
    timestamp_window,
)
from llm.models import COST_PLACES, IngestKey, LLMRequestLog, Source

KEY_PREFIX = "llmo_"
# "llmo_" + 7 random characters: shown in lists so people can tell keys apart, and the
# lookup column (unique), so verifying a key is one indexed query and one hash.
VISIBLE_PREFIX_LENGTH = 12
# last_used_at is informative; writing it on every batch would add a write per request.
LAST_USED_PRECISION = timedelta(minutes=1)

# --- Keys -------------------------------------------------------------------------------


def _hash_secret(secret: str) -> str:
    # A fast hash is enough: the secret carries 256 random bits, so there is nothing to
    # brute-force, and a slow KDF would cost every ingest request tens of milliseconds.
    return hashlib.sha256(secret.encode()).hexdigest()


def ingest_key_create(*, name: str, created_by: AbstractBaseUser | None = None) -> tuple[IngestKey, str]:
    """Create a key; returns it and its full secret, which is not stored and cannot be shown again."""
    while True:
        secret = KEY_PREFIX + secrets.token_urlsafe(32)
        prefix = secret[:VISIBLE_PREFIX_LENGTH]
        if not IngestKey.objects.filter(prefix=prefix).exists():  # 7 random chars: a clash is rare
            break
    key = IngestKey.objects.create(name=name, prefix=prefix, key_hash=_hash_secret(secret), created_by=created_by)
    return key, secret


def ingest_key_find(*, secret: str) -> IngestKey | None:
    """The key whose secret this is (revoked or not), or None when no key matches. Constant-time compare."""
    if not secret.startswith(KEY_PREFIX) or len(secret) > 200:
        return None
    key = IngestKey.objects.filter(prefix=secret[:VISIBLE_PREFIX_LENGTH]).first()
    expected = key.key_hash if key else _hash_secret("")
    matches = hmac.compare_digest(_hash_secret(secret), expected)
    return key if key and matches else None


def ingest_key_touch(*, key: IngestKey) -> None:
    """Record that the key was just used, at most one write per key per minute."""
    now = timezone.now()
    if key.last_used_at is None or now - key.last_used_at >= LAST_USED_PRECISION:
        IngestKey.objects.filter(pk=key.pk).update(last_used_at=now)
        key.last_used_at = now


def ingest_key_revoke(*, key: IngestKey) -> None:
    """Revoke the key; requests with it are refused from now on. Revoking twice keeps the first date."""
    IngestKey.objects.filter(pk=key.pk, revoked_at=None).update(revoked_at=timezone.now())
    key.refresh_from_db(fields=["revoked_at"])


# --- Request bodies ---------------------------------------------------------------------


class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "Request body too large."
    default_code = "payload_too_large"


_READ_CHUNK = 64 * 1024
_GZIP_CHUNK = 16 * 1024
# Real senders write one member; a body of thousands of empty ones only costs time.
MAX_GZIP_MEMBERS = 1000


def read_body(*, stream, content_length: str | None, content_encoding: str | None, max_bytes: int) -> bytes:
    """The request body, gunzipped when Content-Encoding says so, never more than max_bytes.

    Reads the stream itself (not HttpRequest.body), so Django's DATA_UPLOAD_MAX_MEMORY_SIZE
    does not apply and max_bytes is the only limit. Raises PayloadTooLarge (413) past it,
    UnsupportedMediaType (415) for an unknown encoding, ParseError (400) for broken gzip or
    gzip of more than MAX_GZIP_MEMBERS members. Inflating takes time linear in the body.
    """
    encoding = (content_encoding or "identity").strip().lower()
    if encoding not in ("identity", "gzip", "x-gzip"):
        raise exceptions.UnsupportedMediaType(encoding, f"Unsupported Content-Encoding {encoding!r}; use gzip or none.")
    too_large = PayloadTooLarge(f"Request body larger than {max_bytes} bytes.")
    try:
        declared = int(content_length or 0)
    except ValueError:
        declared = 0
    if declared > max_bytes:
        raise too_large
    raw = bytearray()
    while chunk := stream.read(min(_READ_CHUNK, max_bytes + 1 - len(raw))):
        raw += chunk
        if len(raw) > max_bytes:
            raise too_large
    if encoding == "identity":
        return bytes(raw)
    return _gunzip(bytes(raw), max_bytes=max_bytes, too_large=too_large)


def _gunzip(data: bytes, *, max_bytes: int, too_large: Exception) -> bytes:
    # max_length bounds each step's output, so a gzip bomb (a few KB inflating to GBs)
    # is refused after inflating max_bytes + 1, not after filling the memory.
    out = bytearray()
    view, position, members = memoryview(data), 0, 0
    try:
        while position < len(data):  # gzip allows several members back to back
            members += 1
            if members > MAX_GZIP_MEMBERS:
                raise exceptions.ParseError(f"Gzip body of more than {MAX_GZIP_MEMBERS} members; send one.")
            inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
            while not inflater.eof:
                if position >= len(data):
                    raise exceptions.ParseError("Truncated gzip body.")
                # Fed a slice at a time: at the end of a member zlib copies what is left of its
                # input into unused_data, so feeding the whole rest would copy it once per member.
                chunk = view[position : position + _GZIP_CHUNK]
                out += inflater.decompress(chunk, max_bytes + 1 - len(out))
                if len(out) > max_bytes:
                    raise too_large
                # Under the output cap zlib takes the whole slice, so what it did not use
                # belongs to the next member.
                position += len(chunk) - len(inflater.unused_data)
    except zlib.error as exc:
        raise exceptions.ParseError(f"Body is not valid gzip: {exc}") from None
    return bytes(out)


def _int_or_infinity(literal: str) -> int | float:
    try:
        return int(literal)
    except ValueError:  # more digits than Python converts (4,300)
        return -math.inf if literal.startswith("-") else math.inf


def parse_json(body: bytes) -> Any:
    """The body as Python reads JSON; ParseError (400) when it is not JSON.

    NaN, Infinity, 1e400 (read as infinity) and integers past Python's 4,300 digits (read as
    infinity too) are let through: they are refused per event or span by the fields that hold
    them, so one such number does not cost the rest of the batch.
    """
    try:
        try:
            return json.loads(body)
        except ValueError as exc:
            if isinstance(exc, json.JSONDecodeError | UnicodeDecodeError):
                raise
            # Only an over-long integer fails this way. The hook is not used from the start
            # because a Python call per integer adds nearly half to the time of a parse.
            return json.loads(body, parse_int=_int_or_infinity)
    except (ValueError, RecursionError) as exc:
        raise exceptions.ParseError(f"Malformed JSON: {exc}") from None


# Deeper JSON values would break recursive code downstream (repr, json.dumps, the database
# driver) before they reach a database; protobuf refuses deeper messages as well.
MAX_JSON_DEPTH = 100


def json_too_deep(value: Any, *, limit: int = MAX_JSON_DEPTH) -> bool:
    """True when lists and objects in `value` nest deeper than `limit`. Walks without recursing."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            if depth > limit:
                return True
            stack.extend((child, depth + 1) for child in (item.values() if isinstance(item, dict) else item))
    return False


def batch_events(*, payload: Any, max_events: int) -> list:
    """The events list of a batch body {"events": [...]}: 400 naming `events` when absent, 413 past max_events."""
    if not isinstance(payload, dict) or not isinstance(payload.get("events"), list):
        raise exceptions.ValidationError({"events": ['Send a JSON object {"events": [...]}.']})
    events = payload["events"]
    if not events:
        raise exceptions.ValidationError({"events": ["Send at least one event."]})
    if len(events) > max_events:
        raise PayloadTooLarge(f"At most {max_events} events per request; got {len(events)}.")
    return events


# --- Events -----------------------------------------------------------------------------


class _Invalid(Exception):
    pass


# JSON parsers pair \ud83d\ude00 escapes into one character, so a surrogate left in a str is a
# lone one: UTF-8 cannot encode it, and the database driver would fail the whole batch on it.
_SURROGATE_MESSAGE = "Must not contain lone surrogates (invalid Unicode)."


def _clean(text: str) -> str:
    if has_lone_surrogate(text):
        raise _Invalid(_SURROGATE_MESSAGE)
    # PostgreSQL text cannot hold NUL characters; they carry no meaning in LLM text.
    return text.replace("\x00", "") if "\x00" in text else text


def _string(value, *, max_length: int | None = None) -> str:
    if not isinstance(value, str):
        raise _Invalid("Must be a string.")
    if max_length is not None and len(value) > max_length:
        raise _Invalid(f"At most {max_length} characters.")
    return _clean(value)


def _count(value, *, maximum: int = MAX_INT) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _Invalid("Must be an integer.")
    if not 0 <= value <= maximum:
        raise _Invalid(f"Must be between 0 and {maximum}.")
    return value


def _milliseconds(value) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _Invalid("Must be a number of milliseconds.")
    if not 0 <= value < 1e12:
        raise _Invalid("Must be zero or more.")
    return float(value)


def _uuid(value) -> uuid.UUID:
    try:
        return uuid.UUID(value) if isinstance(value, str) else _raise("")
    except (ValueError, _Invalid):
        raise _Invalid("Must be a UUID.") from None


def _raise(message: str):
    raise _Invalid(message)


def _timestamp(value) -> datetime:
    try:
        moment = datetime.fromisoformat(value) if isinstance(value, str) else _raise("")
    except (ValueError, _Invalid):
        raise _Invalid("Must be an ISO 8601 date-time, e.g. 2026-01-31T12:00:00Z.") from None
    earliest, latest = timestamp_window(now=timezone.now())
    try:
        # In UTC now, so a time at the edge of year 1 or 9999 fails here and not in the database.
        moment = moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
    except (OverflowError, ValueError):
        raise _Invalid(f"Must be {TIMESTAMP_WINDOW}.") from None
    if not earliest <= moment <= latest:
        raise _Invalid(f"Must be {TIMESTAMP_WINDOW}.")
    return moment


def _cost(value) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise _Invalid("Must be a number of US dollars.")
    try:
        cost = Decimal(str(value))
    except InvalidOperation:
        raise _Invalid("Must be a number of US dollars.") from None
    if not cost.is_finite() or not 0 <= cost < 10**8:
        raise _Invalid("Must be between 0 and 100000000.")
    cost = cost.quantize(Decimal(1).scaleb(-COST_PLACES))
    if cost >= 10**8:  # 99999999.9999999 rounds up past numeric(14, 6)
        raise _Invalid("Must be between 0 and 100000000.")
    return cost


def _temperature(value) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 10:
        raise _Invalid("Must be a number between 0 and 10.")
    return float(value)


def _messages(value) -> str:
    if not isinstance(value, list) or not all(isinstance(m, dict) for m in value):
        raise _Invalid('Must be a list of {"role": ..., "content": ...} objects.')
    if json_too_deep(value):
        raise _Invalid(f"Must not nest deeper than {MAX_JSON_DEPTH} levels.")
    return _clean(render_messages(value))


def _metadata(value) -> dict:
    if not isinstance(value, dict):
        raise _Invalid("Must be a JSON object.")
    problem = _metadata_problem(value)
    if problem:
        raise _Invalid(problem)
    return value


_PLAIN_KEY = re.compile(r"[A-Za-z0-9_-]{1,40}")


def _cut(name: str) -> str:
    return name if len(name) <= 40 else name[:40] + "..."


def _json_path(trail) -> str:
    parts = []
    while trail:
        key, trail = trail
        if isinstance(key, int):
            parts.append(f"[{key}]")
        elif _PLAIN_KEY.fullmatch(key):
            parts.append(f".{key}")
        else:  # ASCII-escaped and cut: the path is echoed in the response
            parts.append(f"[{json.dumps(_cut(key))}]")
    return "metadata" + "".join(reversed(parts))


def _metadata_problem(metadata: dict) -> str | None:
    """What makes metadata unstorable, naming where ('metadata.a.b[1] must be ...'); None when storable.

    PostgreSQL jsonb refuses NaN, infinities and NUL characters, no column holds a lone
    surrogate, and deep nesting breaks recursive code on the way. Walks without recursing.
    """
    stack = [(metadata, None, 1)]  # (value, trail of keys back to the root, depth)
    while stack:
        value, trail, depth = stack.pop()
        if isinstance(value, dict | list):
            if depth > MAX_JSON_DEPTH:
                while trail[1]:  # named by its outermost key: the full path would be 100 steps long
                    trail = trail[1]
                return f"{_json_path(trail)} nests deeper than {MAX_JSON_DEPTH} levels."
            if isinstance(value, dict):
                for key in value:
                    if "\x00" in key:
                        return f"{_json_path(trail)} has a key with a NUL character."
                    if has_lone_surrogate(key):
                        return f"{_json_path(trail)} has a key with a lone surrogate (invalid Unicode)."
            items = value.items() if isinstance(value, dict) else enumerate(value)
            # Reversed onto the stack, so the first problem in document order is the one reported.
            stack.extend(reversed([(child, (key, trail), depth + 1) for key, child in items]))
        elif isinstance(value, float) and not math.isfinite(value):
            return f"{_json_path(trail)} must be a finite number."
        elif isinstance(value, str) and "\x00" in value:
            return f"{_json_path(trail)} must not contain NUL characters."
        elif isinstance(value, str) and has_lone_surrogate(value):
            return f"{_json_path(trail)} must not contain lone surrogates (invalid Unicode)."
    return None


def _status(value) -> str:
    if value not in LLMRequestLog.Status.values:
        raise _Invalid("Must be 'success' or 'error'.")
    return value


def _http_status(value) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 100 <= value <= 599:
        raise _Invalid("Must be an HTTP status code (100-599).")
    return value


# Every field an event may carry, with its parser; anything else is refused, not ignored.
_EVENT_FIELDS = {
    "request_id": _uuid,
    "timestamp": _timestamp,
    "model": lambda v: _string(v, max_length=200),
    "provider": lambda v: _string(v, max_length=50),
    "prompt_text": _string,
    "messages": _messages,
    "response_text": _string,
    "prompt_tokens": _count,
    "completion_tokens": _count,
    "cached_prompt_tokens": _count,
    "latency_ms": _milliseconds,
    "time_to_first_token_ms": _milliseconds,
    "status": _status,
    "error_type": lambda v: _string(v, max_length=200),
    "error_message": _string,
    "http_status": _http_status,
    "user_id": lambda v: _string(v, max_length=255),
    "session_id": lambda v: _string(v, max_length=255),
    "finish_reason": lambda v: _string(v, max_length=32),
    "temperature": _temperature,
    "max_tokens": _count,
    "metadata": _metadata,
    "cost_estimate": _cost,
}

_NUMBER_FIELDS = frozenset(
    {
        "prompt_tokens",
        "completion_tokens",
        "cached_prompt_tokens",
        "latency_ms",
        "time_to_first_token_ms",
        "http_status",
        "temperature",
        "max_tokens",
        "cost_estimate",
    }
)


def _field_name(name: str) -> str:
    # Echoed in the answer: an odd name (a lone surrogate, a megabyte) is escaped and cut.
    return name if _PLAIN_KEY.fullmatch(name) else json.dumps(_cut(name))


def validate_event(event: Any) -> tuple[dict, dict[str, str]]:
    """Parsed values of one event and its field errors ({} when valid); nulls count as absent."""
    if not isinstance(event, dict):
        return {}, {"non_field_errors": "Each event must be a JSON object."}
    values, errors = {}, {}
    for name, raw in event.items():
        parse = _EVENT_FIELDS.get(name)
        if parse is None:
            errors[_field_name(name)] = "Unknown field."
        elif name in _NUMBER_FIELDS and isinstance(raw, float) and not math.isfinite(raw):  # NaN, 1e400
            errors[name] = "Must be a finite number."
        elif raw is not None:
            try:
                values[name] = parse(raw)
            except _Invalid as exc:
                errors[name] = str(exc)
    if not values.get("model") and "model" not in errors:
        errors["model"] = "This field is required."
    if "prompt_text" in values and "messages" in values:
        errors["messages"] = "Give prompt_text or messages, not both."
    if values.get("cached_prompt_tokens", 0) > values.get("prompt_tokens", 0) and "prompt_tokens" not in errors:
        errors["cached_prompt_tokens"] = "Cannot exceed prompt_tokens."
    if values.get("prompt_tokens", 0) + values.get("completion_tokens", 0) > MAX_INT:
        errors["completion_tokens"] = "prompt_tokens + completion_tokens is too large."
    if values.get("status") == "success" and values.get("error_type"):
        errors["error_type"] = "Only for status 'error'."
    return values, errors


def event_record(values: dict, *, ingest_key: IngestKey | None, now: datetime) -> CallRecord:
    """The call a validated event describes, for the builder."""
    metadata = dict(values.get("metadata") or {})
    error_type = ""
    raw_type = values.get("error_type")
    if raw_type:
        error_type, kept = classify_reported(raw_type)
        if kept:
            metadata["error_type_raw"] = kept
    return CallRecord(
        model=values["model"],
        source=Source.INGEST,
        timestamp=values.get("timestamp") or now,
        request_id=values.get("request_id"),
        provider=values.get("provider") or "groq",
        failed=values.get("status") == "error" or bool(raw_type),
        error_type=error_type,
        http_status=values.get("http_status"),
        error_message=values.get("error_message", ""),
        prompt_tokens=values.get("prompt_tokens", 0),
        completion_tokens=values.get("completion_tokens", 0),
        cached_prompt_tokens=values.get("cached_prompt_tokens", 0),
        latency_ms=values.get("latency_ms", 0.0),
        time_to_first_token_ms=values.get("time_to_first_token_ms"),
        sender_cost=values.get("cost_estimate"),
        user_id=values.get("user_id", ""),
        session_id=values.get("session_id", ""),
        finish_reason=values.get("finish_reason", ""),
        temperature=values.get("temperature"),
        max_tokens=values.get("max_tokens"),
        ingest_key=ingest_key,
        metadata=metadata,
        prompt_text=values.get("prompt_text") or values.get("messages") or "",
        response_text=values.get("response_text", ""),
    )


@dataclass
class BatchReport:
    accepted: list[dict] = field(default_factory=list)
    duplicates: list[dict] = field(default_factory=list)
    rejected: list[dict] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {
            "summary": {
                "accepted": len(self.accepted),
                "duplicates": len(self.duplicates),
                "rejected": len(self.rejected),
            },
            "accepted": self.accepted,
            "duplicates": self.duplicates,
            "rejected": self.rejected,
        }


def ingest_events(*, events: list, ingest_key: IngestKey | None) -> BatchReport:
    """Validate and store a batch; each event is accepted, a duplicate or rejected (with field errors).

    A duplicate is an event whose request_id is already stored, or appeared earlier in the batch:
    re-sending a batch stores nothing twice. Costs a query for the known request_ids, one for
    prices (only when some event has no cost) and the bulk insert.
    """
    report, records, seen = BatchReport(), [], set()
    now = timezone.now()
    for index, event in enumerate(events):
        values, errors = validate_event(event)
        if errors:
            report.rejected.append({"index": index, "request_id": _echoable_id(event), "fields": errors})
            continue
        record = event_record(values, ingest_key=ingest_key, now=now)
        record.request_id = record.request_id or uuid.uuid4()
        if record.request_id in seen:
            report.duplicates.append({"index": index, "request_id": str(record.request_id)})
            continue
        seen.add(record.request_id)
        records.append((index, record))
    given = [record.request_id for _, record in records]
    known = set(LLMRequestLog.objects.filter(request_id__in=given).values_list("request_id", flat=True))
    fresh = [(index, record) for index, record in records if record.request_id not in known]
    report.duplicates.extend(
        {"index": index, "request_id": str(record.request_id)}
        for index, record in records
        if record.request_id in known
    )
    rows = []
    for (index, record), built in zip(fresh, build_rows([r for _, r in fresh], now=now), strict=True):
        if isinstance(built, InvalidCall):
            report.rejected.append(
                {"index": index, "request_id": str(record.request_id), "fields": {built.field: built.message}}
            )
        else:
            report.accepted.append({"index": index, "request_id": str(record.request_id)})
            rows.append(built)
    for items in (report.accepted, report.duplicates, report.rejected):
        items.sort(key=lambda item: item["index"])
    insert_rows(rows)
    return report


def _echoable_id(event) -> str | None:
    """The request_id of a rejected event as the sender wrote it, when it can be echoed at all:
    a number, a list or invalid Unicode would break the answer."""
    raw_id = event.get("request_id") if isinstance(event, dict) else None
    if not isinstance(raw_id, str) or len(raw_id) > 100 or has_lone_surrogate(raw_id):
        return None
    return raw_id
