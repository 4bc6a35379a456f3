"""OpenTelemetry traces (OTLP/HTTP) → LLMRequestLog rows and Span rows.

Understands three ways LLM calls are described on spans: the GenAI semantic conventions
(current names and the deprecated ones still emitted by many instrumentations) and
OpenInference. Each LLM span becomes a call row; every span of a trace holding an LLM call
(agent, tool, retrieval, HTTP, custom) becomes a Span row, and traces without one are counted
and skipped. A span is stored once per (trace_id, span_id), so a retried export is harmless.
"""

import base64
import json
import math
import re
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime

from django.db.models import Count, Q
from django.utils import timezone
from google.protobuf import json_format
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status
from rest_framework import exceptions

from core.logscrub import scrub_configured_secrets
from llm.calls.capture import render_messages
from llm.calls.errors import classify_reported
from llm.calls.persist import insert_rows
from llm.calls.record import (
    MAX_INT,
    TIMESTAMP_WINDOW,
    CallRecord,
    InvalidCall,
    build_rows,
    clean_text,
    has_lone_surrogate,
    timestamp_window,
)
from llm.calls.storage import bulk_insert
from llm.models import IngestKey, LLMRequestLog, Source
from llm.models import Span as SpanRow  # `Span` is the OTLP protobuf message here
from llm.sources.ingest import MAX_JSON_DEPTH, json_too_deep, parse_json

PROTOBUF = "application/x-protobuf"
JSON = "application/json"
# request_id of a span row: derived from its ids, so the same span always gets the same one.
_SPAN_NAMESPACE = uuid.UUID("6f1d3c1e-0b7a-4d53-9a55-4c1c0c7e6a11")
_MAX_REPORTED_ERRORS = 5
# Span, service, scope and operation names as kept in metadata, and a span's name quoted in an error.
_LABEL_CHARS = 200
_QUOTED_CHARS = 100
# protobuf's JSON parser counts a span as three levels below the export.
_SPAN_DEPTH = 100 - 3


class _Rejected(Exception):
    pass


# --- Wire formats -------------------------------------------------------------------------


def decode_request(*, body: bytes, media_type: str) -> tuple[ExportTraceServiceRequest, list[str]]:
    """Decode an OTLP/HTTP trace export (protobuf, or OTLP/JSON with hex ids); ParseError (400) when undecodable.

    Also returns the errors of OTLP/JSON spans dropped while decoding (one each): a span holding a lone
    surrogate, which protobuf strings cannot hold, or a value the OTLP/JSON mapping refuses (an intValue
    of 5,000 digits), is refused alone instead of failing the whole export.
    """
    message = ExportTraceServiceRequest()
    if media_type == PROTOBUF:
        try:
            message.ParseFromString(body)
        except DecodeError as exc:
            raise exceptions.ParseError(f"Body is not an OTLP protobuf trace export: {exc}") from None
        return message, []
    payload = parse_json(body)
    if not isinstance(payload, dict):
        raise exceptions.ParseError("OTLP/JSON body must be an object with resourceSpans.")
    _hex_ids_to_base64(payload)
    dropped = _drop_spans(payload, _unicode_problem)
    try:
        json_format.ParseDict(payload, message, ignore_unknown_fields=True)
    except (json_format.ParseError, ValueError, TypeError):
        # A span the mapping refuses (an intValue of 5,000 digits, a double of 1e400) is dropped
        # alone; parsing each span is paid only then. What still fails is the export's own shape.
        dropped += _drop_spans(payload, _mapping_problem)
        message = ExportTraceServiceRequest()
        try:
            json_format.ParseDict(payload, message, ignore_unknown_fields=True)
        except (json_format.ParseError, ValueError, TypeError) as exc:
            raise exceptions.ParseError(f"Body is not an OTLP/JSON trace export: {_cut(str(exc), 500)}") from None
    return message, dropped


_ID_KEYS = ("traceId", "spanId", "parentSpanId", "trace_id", "span_id", "parent_span_id")


def _hex_ids_to_base64(payload: dict) -> None:
    # OTLP/JSON writes ids as hex where the protobuf JSON mapping expects base64.
    def convert(obj: dict):
        for key in _ID_KEYS:
            value = obj.get(key)
            if isinstance(value, str) and value:
                try:
                    obj[key] = base64.b64encode(bytes.fromhex(value)).decode()
                except ValueError:
                    raise exceptions.ParseError(f"{key} must be hex, got {value[:40]!r}.") from None

    for resource_spans in _items(payload, "resourceSpans", "resource_spans"):
        for scope_spans in _items(resource_spans, "scopeSpans", "scope_spans"):
            for span in _items(scope_spans, "spans"):
                convert(span)
                for link in _items(span, "links"):
                    convert(link)


def _drop_spans(payload: dict, problem) -> list[str]:
    """Remove from the OTLP/JSON payload the spans for which problem(span) names one; an error for each."""
    errors = []
    for resource_spans in _items(payload, "resourceSpans", "resource_spans"):
        for scope_spans in _items(resource_spans, "scopeSpans", "scope_spans"):
            spans, kept = _items(scope_spans, "spans"), []
            for span in spans:
                reason = problem(span)
                if reason:
                    errors.append(f"span {_quoted(span.get('name'))}: {reason}")
                else:
                    kept.append(span)
            if len(kept) < len(spans):
                scope_spans["spans"] = kept
    return errors


def _unicode_problem(span: dict) -> str | None:
    # A lone surrogate cannot become a protobuf string.
    try:
        dumped = json.dumps(span, ensure_ascii=False)
    except RecursionError:  # protobuf would refuse this depth too
        return f"nests deeper than {MAX_JSON_DEPTH} levels"
    return "holds a lone surrogate (invalid Unicode)" if has_lone_surrogate(dumped) else None


def _mapping_problem(span: dict) -> str | None:
    try:
        json_format.ParseDict(span, Span(), ignore_unknown_fields=True, max_recursion_depth=_SPAN_DEPTH)
    except (json_format.ParseError, ValueError, TypeError) as exc:
        return _cut(str(exc), 200)
    return None


def _cut(text: str, length: int) -> str:
    return text if len(text) <= length else text[:length] + "..."


def _quoted(name) -> str:
    """A span's name as errors quote it: cut, and escaped by repr so that any name can be echoed."""
    return repr(_cut(name, _QUOTED_CHARS)) if isinstance(name, str) else "(unnamed)"


def _items(obj, *keys) -> list:
    if not isinstance(obj, dict):
        return []
    for key in keys:
        if isinstance(obj.get(key), list):
            return [item for item in obj[key] if isinstance(item, dict)]
    return []


def encode_response(*, rejected: int, message: str, media_type: str) -> bytes:
    """ExportTraceServiceResponse in the request's encoding; partial_success only when spans were rejected."""
    response = ExportTraceServiceResponse()
    if rejected:
        response.partial_success.rejected_spans = rejected
        response.partial_success.error_message = message
    if media_type == PROTOBUF:
        return response.SerializeToString()
    return json_format.MessageToJson(response, indent=None).encode()


# --- Spans → rows ---------------------------------------------------------------------


def attribute_value(value):
    """A Python value for an OTLP AnyValue (arrays → lists, kvlists → dicts, bytes → hex).

    Recursing is safe: protobuf's parsers refuse messages nested past 100 levels.
    """
    kind = value.WhichOneof("value")
    if kind is None:
        return None
    if kind == "array_value":
        return [attribute_value(item) for item in value.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: attribute_value(kv.value) for kv in value.kvlist_value.values}
    if kind == "bytes_value":
        return value.bytes_value.hex()
    return getattr(value, kind)


def attributes(key_values) -> dict:
    return {kv.key: attribute_value(kv.value) for kv in key_values}


_AGENT_OPERATIONS = ("create_agent", "invoke_agent", "execute_tool")


def is_llm_span(attrs: dict) -> bool:
    """An LLM call: a GenAI operation, an older GenAI span (system/provider + model) or an OpenInference LLM span.

    The GenAI operations of agents and tools are steps around calls, kept as plain spans.
    """
    if attrs.get("gen_ai.operation.name") in _AGENT_OPERATIONS:
        return False
    if "gen_ai.operation.name" in attrs or attrs.get("openinference.span.kind") == "LLM":
        return True
    has_system = "gen_ai.system" in attrs or "gen_ai.provider.name" in attrs
    return has_system and bool(_first(attrs, "gen_ai.request.model", "gen_ai.response.model"))


def _first_named(attrs: dict, *names) -> tuple[str, object]:
    """(name, value) of the first attribute present and not empty; (names[0], None) when none is."""
    for name in names:
        value = attrs.get(name)
        if value not in (None, "", []):
            return name, value
    return names[0], None


def _first(attrs: dict, *names):
    return _first_named(attrs, *names)[1]


def _short(value, length: int | None) -> str:
    # PostgreSQL text and jsonb cannot hold NUL characters; they carry no meaning in names or LLM text.
    return "" if value is None else str(value).replace("\x00", "")[:length]


def _text(attrs: dict, *names, length: int | None = _LABEL_CHARS) -> str:
    """The first of the named attributes present, as text (NUL removed, cut to length); '' when none.

    Raises _Rejected for a NaN or infinite double: no sender means one as a name or a text.
    """
    name, value = _first_named(attrs, *names)
    if isinstance(value, float) and not math.isfinite(value):
        raise _Rejected(f"{name} must be a string, got {value}")
    return _short(value, length)


def _tokens(attrs: dict, *names) -> int:
    name, value = _first_named(attrs, *names)
    if value is None:
        return 0
    shown = _cut(repr(value), 40)
    # ASCII digits only: str.isdigit() also passes '²', which int() refuses, and int() of
    # thousands of digits fails (or takes long) before any range check.
    if isinstance(value, str) and value.isascii() and value.isdigit():
        if len(value) > len(str(MAX_INT)):
            raise _Rejected(f"{name} must be at most {MAX_INT}, got {shown}")
        value = int(value)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise _Rejected(f"{name} must be a non-negative integer, got {shown}")
    if value > MAX_INT:
        raise _Rejected(f"{name} must be at most {MAX_INT}, got {shown}")
    return value


def _optional_number(value, *, low: float, high: float) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        return None
    return value


def _whole(value) -> int | None:
    number = _optional_number(value, low=0, high=MAX_INT)
    return None if number is None else int(number)


_NOT_JSON = object()


def _json_attribute(text: str, *, name: str):
    """The value of an attribute holding JSON text, or _NOT_JSON when the text is not JSON.

    Raises _Rejected when it nests past MAX_JSON_DEPTH: the parser itself gives up (RecursionError)
    a little deeper, and rendering a deep value (str, json.dumps) recurses as well.
    """
    try:
        value = json.loads(text)
        if not json_too_deep(value):
            return value
    except ValueError:
        return _NOT_JSON
    except RecursionError:
        pass
    raise _Rejected(f"{name} nests deeper than {MAX_JSON_DEPTH} levels")


def _invocation_parameters(attrs: dict) -> dict:
    # OpenInference puts temperature and max_tokens in one JSON string.
    raw = attrs.get("llm.invocation_parameters")
    params = _json_attribute(raw, name="llm.invocation_parameters") if isinstance(raw, str) else {}
    return params if isinstance(params, dict) else {}


def span_record(span, attrs: dict, *, resource: dict, scope_name: str, ingest_key: IngestKey | None) -> CallRecord:
    """The call one LLM span describes, for the builder; raises _Rejected when it cannot be stored."""
    trace_id, span_id = span.trace_id.hex(), span.span_id.hex()
    if len(trace_id) != 32 or len(span_id) != 16 or not int(trace_id, 16) or not int(span_id, 16):
        raise _Rejected("trace_id must be 16 bytes and span_id 8 bytes, not zero")
    if not span.start_time_unix_nano:
        raise _Rejected("no start time")
    _check_times(span)
    prompt = _tokens(attrs, "gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens", "llm.token_count.prompt")
    completion = _tokens(
        attrs, "gen_ai.usage.output_tokens", "gen_ai.usage.completion_tokens", "llm.token_count.completion"
    )
    cached = _tokens(
        attrs,
        "gen_ai.usage.cache_read.input_tokens",
        "gen_ai.usage.cache_read_input_tokens",
        "llm.token_count.prompt_details.cache_read",
    )
    if prompt + completion > MAX_INT:
        raise _Rejected("token counts too large")
    params = _invocation_parameters(attrs)
    request_model = _text(attrs, "gen_ai.request.model", "llm.model_name", length=200)  # model_name's column
    response_model = _text(attrs, "gen_ai.response.model", length=200)
    provider = _text(attrs, "gen_ai.provider.name", "gen_ai.system", "llm.provider", "llm.system", length=50)
    parent = span.parent_span_id.hex()
    finish = _first(attrs, "gen_ai.response.finish_reasons", "gen_ai.completion.0.finish_reason", "llm.finish_reason")
    # Text only, so nothing a sender puts in these attributes (NaN, NUL) can fail the jsonb column.
    metadata = {
        "span_name": _short(span.name, _LABEL_CHARS),
        "operation": _text(attrs, "gen_ai.operation.name"),
        "service": _text(resource, "service.name"),
        "scope": _short(scope_name, _LABEL_CHARS),
        "response_model": response_model if response_model != request_model else "",
    }
    return CallRecord(
        request_id=uuid.uuid5(_SPAN_NAMESPACE, trace_id + span_id),
        timestamp=datetime.fromtimestamp(span.start_time_unix_nano / 1e9, tz=UTC),
        # The requested model is the one priced and grouped by; a dated response model
        # ("...-2024-08-06") would match no price.
        model=request_model or response_model or "unknown",
        provider=(provider or "unknown").lower(),
        prompt_tokens=prompt,
        completion_tokens=completion,
        cached_prompt_tokens=cached,
        latency_ms=max(span.end_time_unix_nano - span.start_time_unix_nano, 0) / 1e6,
        user_id=_text(attrs, "user.id", "enduser.id", length=255),
        session_id=_text(attrs, "session.id", "gen_ai.conversation.id", length=255),
        finish_reason=_short(finish[0] if isinstance(finish, list) else finish, 32),
        temperature=_optional_number(
            _first({**params, **attrs}, "gen_ai.request.temperature", "temperature"), low=0, high=10
        ),
        max_tokens=_whole(
            _first({**params, **attrs}, "gen_ai.request.max_tokens", "max_tokens", "max_completion_tokens")
        ),
        provider_request_id=_text(attrs, "gen_ai.response.id", length=255),
        source=Source.OTLP,
        trace_id=trace_id,
        span_id=span_id,
        parent_span_id=parent if len(parent) == 16 and int(parent, 16) else "",
        ingest_key=ingest_key,
        metadata={k: v for k, v in metadata.items() if v},
        prompt_text=_input_text(attrs),
        response_text=_output_text(attrs),
        **_error_fields(span, attrs),
    )


def _nanoseconds(moment: datetime) -> int:
    return int(moment.timestamp()) * 10**9


def _check_times(span) -> None:
    # Compared as integers: a fixed64 up to year 2554 never has to become a datetime to be refused.
    earliest, latest = (_nanoseconds(moment) for moment in timestamp_window(now=timezone.now()))
    if not earliest <= span.start_time_unix_nano <= latest:
        raise _Rejected(f"start time must be {TIMESTAMP_WINDOW}")
    if span.end_time_unix_nano and not earliest <= span.end_time_unix_nano <= latest:
        raise _Rejected(f"end time must be {TIMESTAMP_WINDOW}")
    if span.end_time_unix_nano and span.end_time_unix_nano < span.start_time_unix_nano:
        raise _Rejected("end time is before start time")
    if span.end_time_unix_nano - span.start_time_unix_nano > MAX_SPAN_NANOS:
        raise _Rejected("lasts more than 24 hours (end time - start time)")


def _error_fields(span, attrs: dict) -> dict:
    """The CallRecord fields that say whether and how the span's call failed."""
    http_status = _optional_number(_first(attrs, "http.response.status_code", "http.status_code"), low=100, high=599)
    http_status = int(http_status) if http_status is not None else None
    raw_type = attrs.get("error.type")
    if span.status.code != Status.STATUS_CODE_ERROR and not raw_type:
        return {"http_status": http_status}
    error_type, kept = classify_reported(str(raw_type)) if raw_type else ("", "")
    message = span.status.message or _exception_message(span)
    if kept:
        message = f"[{kept}] {message}".strip()
    return {"failed": True, "error_type": error_type, "http_status": http_status, "error_message": message}


def _exception_message(span) -> str:
    for event in span.events:
        if event.name == "exception":
            values = attributes(event.attributes)
            return str(values.get("exception.message") or values.get("exception.type") or "")
    return ""


# --- Texts ------------------------------------------------------------------------------

# ASCII digits, and few: an index is turned into an int to order the messages.
_DEPRECATED_PROMPT = re.compile(r"^gen_ai\.(prompt|completion)\.([0-9]+)\.(role|content)$")
_OPENINFERENCE_MESSAGE = re.compile(
    r"^llm\.(input|output)_messages\.([0-9]+)\.message\.(role|content|contents\.[0-9]+\.message_content\.text)$"
)
_MAX_MESSAGE_INDEX = 999_999


def _input_text(attrs: dict) -> str:
    """The prompt as text, NUL characters left in; _Rejected for JSON nested too deeply or a NaN text."""
    if "gen_ai.input.messages" in attrs:
        text = _semconv_messages(attrs["gen_ai.input.messages"], name="gen_ai.input.messages")
        system = attrs.get("gen_ai.system_instructions")
        return f"system: {_semconv_parts(system, name='gen_ai.system_instructions')}\n\n{text}" if system else text
    return _indexed_messages(attrs, "prompt", "input") or _text(attrs, "input.value", length=None)


def _output_text(attrs: dict) -> str:
    if "gen_ai.output.messages" in attrs:
        return _semconv_messages(attrs["gen_ai.output.messages"], name="gen_ai.output.messages")
    return _indexed_messages(attrs, "completion", "output") or _text(attrs, "output.value", length=None)


def _semconv_messages(value, *, name: str) -> str:
    """gen_ai.input/output.messages: [{"role", "parts": [{"type": "text", "content": ...}]}] as JSON or structured."""
    if isinstance(value, str):
        parsed = _json_attribute(value, name=name)
        if parsed is _NOT_JSON:
            return value
        value = parsed
    if not isinstance(value, list):
        return ""
    messages = [
        {"role": m.get("role", "user"), "content": _semconv_parts(m.get("parts", m.get("content", "")), name=name)}
        for m in value
        if isinstance(m, dict)
    ]
    return render_messages(messages)


def _semconv_parts(parts, *, name: str) -> str:
    if isinstance(parts, str):
        parsed = _json_attribute(parts, name=name)
        if parsed is _NOT_JSON:
            return parts
        parts = parsed
    if not isinstance(parts, list):
        return str(parts)
    texts = []
    for part in parts:
        if not isinstance(part, dict):
            texts.append(str(part))
        elif part.get("type") == "tool_call":
            texts.append(f"[tool call {part.get('name', '')}({json.dumps(part.get('arguments'))})]")
        elif part.get("type") == "tool_call_response":
            texts.append(str(part.get("response", "")))
        elif "content" in part:
            texts.append(str(part["content"]))
    return "\n".join(texts)


def _indexed_messages(attrs: dict, deprecated_side: str, openinference_side: str) -> str:
    """Deprecated gen_ai.prompt.N.* / gen_ai.completion.N.* and OpenInference llm.*_messages.N.message.*."""
    found: dict[int, dict] = {}
    for key, value in attrs.items():
        if not key.startswith(("gen_ai.prompt.", "gen_ai.completion.", "llm.input_messages.", "llm.output_messages.")):
            continue
        match = _DEPRECATED_PROMPT.match(key) or _OPENINFERENCE_MESSAGE.match(key)
        if not match or match.group(1) not in (deprecated_side, openinference_side):
            continue
        if len(match.group(2)) > len(str(_MAX_MESSAGE_INDEX)):
            raise _Rejected(f"{_cut(key, 60)}: message index above {_MAX_MESSAGE_INDEX}")
        message = found.setdefault(int(match.group(2)), {"role": "user", "content": ""})
        if match.group(3) == "role":
            message["role"] = str(value)
        else:
            message["content"] = "\n".join(filter(None, [message["content"], str(value)]))
    return render_messages([found[i] for i in sorted(found)]) if found else ""


# --- Spans around the calls ---------------------------------------------------------------

# The most spans kept per trace: a runaway loop must not grow one trace without bound (a trace's
# page reads all of its spans).
MAX_SPANS_PER_TRACE = 10_000
# A span lasting longer than this is a clock or instrumentation mistake, not an agent run.
MAX_SPAN_NANOS = 24 * 3600 * 10**9
# A string attribute of a stored span is cut here; the texts of LLM calls live on their call row.
MAX_ATTRIBUTE_CHARS = 4_000
# Attributes holding an LLM call's prompt or response: kept on the call row only, where the capture
# policy and secret redaction apply; never copied into a span's attributes.
_TEXT_ATTRIBUTES = re.compile(
    r"^(gen_ai\.(input|output)\.messages|gen_ai\.system_instructions|gen_ai\.(prompt|completion)\..*"
    r"|llm\.(input|output)_messages\..*|input\.value|output\.value)$"
)
_KINDS = {
    Span.SPAN_KIND_INTERNAL: "internal",
    Span.SPAN_KIND_SERVER: "server",
    Span.SPAN_KIND_CLIENT: "client",
    Span.SPAN_KIND_PRODUCER: "producer",
    Span.SPAN_KIND_CONSUMER: "consumer",
}
_STATUSES = {Status.STATUS_CODE_OK: "ok", Status.STATUS_CODE_ERROR: "error"}


def _span_ids(span) -> tuple[str, str, str]:
    """(trace_id, span_id, parent_span_id) in hex; a parent that is not 8 non-zero bytes is ''."""
    trace_id, span_id, parent = span.trace_id.hex(), span.span_id.hex(), span.parent_span_id.hex()
    if len(trace_id) != 32 or len(span_id) != 16 or not int(trace_id, 16) or not int(span_id, 16):
        raise _Rejected("trace_id must be 16 bytes and span_id 8 bytes, not zero")
    return trace_id, span_id, parent if len(parent) == 16 and int(parent, 16) else ""


def _stored_value(value):
    """An attribute value as the JSON column keeps it: text cleaned and capped, no NaN (jsonb refuses it)."""
    if isinstance(value, str):
        text = scrub_configured_secrets(clean_text(value))
        return text if len(text) <= MAX_ATTRIBUTE_CHARS else text[:MAX_ATTRIBUTE_CHARS] + "…"
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, list):
        return [_stored_value(item) for item in value]
    if isinstance(value, dict):
        return {clean_text(key)[:_LABEL_CHARS]: _stored_value(item) for key, item in value.items()}
    return value


def _stored_attributes(attrs: dict) -> dict:
    return {
        clean_text(key)[:_LABEL_CHARS]: _stored_value(value)
        for key, value in attrs.items()
        if not _TEXT_ATTRIBUTES.match(key)
    }


def span_row(span, attrs: dict, *, resource: dict, call: LLMRequestLog | None) -> SpanRow:
    """The Span row of a validated span (ids and times already checked); `call` is its built call row."""
    trace_id, span_id, parent = _span_ids(span)
    end = span.end_time_unix_nano or span.start_time_unix_nano
    status = _STATUSES.get(span.status.code, "unset")
    if call is not None and call.status == LLMRequestLog.Status.ERROR:
        status = "error"  # error.type alone marks a call failed; the span says the same
    return SpanRow(
        trace_id=trace_id,
        span_id=span_id,
        parent_span_id=parent,
        name=clean_text(span.name)[:_LABEL_CHARS],
        kind=_KINDS.get(span.kind, "unspecified"),
        start=datetime.fromtimestamp(span.start_time_unix_nano / 1e9, tz=UTC),
        end=datetime.fromtimestamp(end / 1e9, tz=UTC),
        status_code=status,
        status_message=clean_text(span.status.message)[:10_000],
        service_name=clean_text(_short(resource.get("service.name"), _LABEL_CHARS)),
        call_id=call.request_id if call is not None else None,
        attributes=_stored_attributes(attrs),
    )


# --- Storing ----------------------------------------------------------------------------


@dataclass
class SpanReport:
    stored: int = 0
    duplicates: int = 0
    skipped: int = 0
    rejected: int = 0
    errors: list[str] = field(default_factory=list)

    @property
    def error_message(self) -> str:
        return "; ".join(self.errors[:_MAX_REPORTED_ERRORS])

    def reject(self, name, reason) -> None:
        self.rejected += 1
        self.errors.append(f"span {_quoted(name)}: {reason}")


@dataclass
class _Incoming:
    """One span of the export on its way to storage."""

    span: object
    attrs: dict
    resource: dict
    trace_id: str
    key: tuple[str, str]
    call: LLMRequestLog | None = None


def ingest_spans(
    *, export: ExportTraceServiceRequest, ingest_key: IngestKey | None, rejected: list[str] = ()
) -> SpanReport:
    """Store the spans of every trace holding an LLM call; counts stored, duplicate, skipped and rejected spans.

    An LLM span becomes a call row and a Span linked to it. Any other span is kept when its trace has an
    LLM span in this export or a call or span already stored (parents often end, and are exported, after
    their children), and skipped otherwise. A span repeating an earlier span of the export with other
    content, lasting past 24 h or ending before it starts, or past MAX_SPANS_PER_TRACE, is refused.
    `rejected`: errors of spans refused before this call (by decode_request), counted and reported first.
    """
    report = SpanReport(rejected=len(rejected), errors=list(rejected))
    incoming = _read_spans(export, ingest_key, report)
    llm_traces = {item.trace_id for item in incoming if item.call is not None}
    stored_counts = _stored_span_counts({item.trace_id for item in incoming})
    kept_traces = (
        llm_traces
        | set(stored_counts)
        | _traces_with_calls({item.trace_id for item in incoming} - llm_traces - set(stored_counts))
    )
    kept = []
    for item in incoming:
        if item.trace_id in kept_traces:
            kept.append(item)
        else:
            report.skipped += 1
    kept = _within_trace_cap(kept, stored_counts, report)
    calls = [item.call for item in kept if item.call is not None]
    insert_rows(calls)
    rows = [span_row(item.span, item.attrs, resource=item.resource, call=item.call) for item in kept]
    report.stored = bulk_insert(SpanRow, rows, ignore_conflicts=True)
    report.duplicates += len(rows) - report.stored
    return report


def _read_spans(export, ingest_key, report: SpanReport) -> list[_Incoming]:
    """Every span of the export with its ids and times checked and, for LLM spans, its call row built."""
    incoming, records, seen = [], [], {}
    for resource_spans in export.resource_spans:
        resource = attributes(resource_spans.resource.attributes)
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                attrs = attributes(span.attributes)
                try:
                    trace_id, span_id, _ = _span_ids(span)
                    if not span.start_time_unix_nano:
                        raise _Rejected("no start time")
                    _check_times(span)
                    content = span.SerializeToString(deterministic=True)
                    if (trace_id, span_id) in seen:
                        if seen[trace_id, span_id] == content:
                            report.duplicates += 1
                            continue
                        raise _Rejected(
                            f"span_id {span_id} appears twice in trace {trace_id} with different content; "
                            "the first one is kept"
                        )
                    seen[trace_id, span_id] = content
                    item = _Incoming(span, attrs, resource, trace_id, (trace_id, span_id))
                    if is_llm_span(attrs):
                        scope = scope_spans.scope.name
                        records.append(
                            (item, span_record(span, attrs, resource=resource, scope_name=scope, ingest_key=ingest_key))
                        )
                except _Rejected as exc:
                    report.reject(span.name, exc)
                    continue
                incoming.append(item)
    refused = set()
    for (item, _), built in zip(records, build_rows([record for _, record in records]), strict=True):
        if isinstance(built, InvalidCall):
            report.reject(item.span.name, built)
            refused.add(id(item))
        else:
            item.call = built
    return [item for item in incoming if id(item) not in refused]


def _stored_span_counts(trace_ids: set[str]) -> dict[str, int]:
    """{trace_id: spans stored} for the given traces that have any (one GROUP BY on the unique index)."""
    if not trace_ids:
        return {}
    rows = SpanRow.objects.filter(trace_id__in=trace_ids).order_by().values_list("trace_id").annotate(n=Count("*"))
    return dict(rows)


def _traces_with_calls(trace_ids: set[str]) -> set[str]:
    """The given traces that have a call stored with its span id (calls sent before spans were kept)."""
    if not trace_ids:
        return set()
    # `~Q(span_id="")` repeats the condition of the partial unique index (trace_id, span_id), so
    # PostgreSQL answers from it instead of scanning the calls.
    calls = LLMRequestLog.objects.filter(~Q(span_id=""), trace_id__in=trace_ids).order_by()
    return set(calls.values_list("trace_id", flat=True).distinct())


def _within_trace_cap(kept: list[_Incoming], stored_counts: dict[str, int], report: SpanReport) -> list[_Incoming]:
    """`kept` without the spans that would take their trace past MAX_SPANS_PER_TRACE (refused, one error a trace)."""
    batch_counts = Counter(item.trace_id for item in kept)
    full = {t for t, n in batch_counts.items() if stored_counts.get(t, 0) + n > MAX_SPANS_PER_TRACE}
    if not full:
        return kept
    # Spans already stored are duplicates, not additions: read their ids (only for traces at the cap).
    stored = set(SpanRow.objects.filter(trace_id__in=full).values_list("trace_id", "span_id"))
    room = {t: MAX_SPANS_PER_TRACE - stored_counts.get(t, 0) for t in full}
    refused: Counter = Counter()
    result = []
    for item in kept:
        if item.trace_id not in full or item.key in stored:
            result.append(item)
        elif room[item.trace_id] > 0:
            room[item.trace_id] -= 1
            result.append(item)
        else:
            refused[item.trace_id] += 1
    for trace_id, count in refused.items():
        report.rejected += count
        report.errors.append(
            f"trace {trace_id}: {count} span(s) refused, a trace keeps at most {MAX_SPANS_PER_TRACE:,} spans"
        )
    return result
