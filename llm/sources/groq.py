"""The Groq boundary: every call made through `groq_service` becomes one LLMRequestLog row.

    from llm.sources.groq import groq_service, LLMServiceError
    result = groq_service.complete(prompt="Hi", user_id="u1")        # dict, see GroqService.complete
    for text in (stream := groq_service.stream(prompt="Hi")): ...    # then stream.result
    result = await groq_service.acomplete(prompt="Hi")               # AsyncGroq; `astream` likewise

Success, error (any kind) and abandoned streams are all logged; a failure reaches the caller as one
exception type, LLMServiceError, after its row is written. Writing the row never breaks the call: if
the database refuses it, the record goes to the spool (llm/spool.py) and is written later.
One SDK client per process (per event loop for the async one) is reused, so connections are pooled;
it is rebuilt only when the GROQ_* settings change. The API key is read when a call is made, never at
import, and is scrubbed from anything stored.
"""

from __future__ import annotations

import contextvars
import logging
import threading
import time
import uuid
import weakref
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import datetime

import groq
import httpx
from asgiref.sync import sync_to_async
from django.conf import settings
from django.utils import timezone

from core.logscrub import scrub_configured_secrets
from llm.calls.capture import render_messages
from llm.calls.errors import RETRYABLE, ErrorType, classify_status
from llm.calls.persist import save_row
from llm.calls.record import CallRecord, build_row
from llm.models import LLMRequestLog, Source

logger = logging.getLogger("llm.sources.groq")

PROVIDER = "groq"
MISSING_KEY_MESSAGE = (
    "GROQ_API_KEY is not set: create a key at console.groq.com, add GROQ_API_KEY=gsk_... to the project's "
    ".env file or the server's environment, and restart the server"
)


class LLMServiceError(Exception):
    """The one exception callers of groq_service see; its call is already logged under `request_id`."""

    def __init__(
        self,
        message: str,
        *,
        error_type: str,
        request_id: str,
        http_status: int | None = None,
        retryable: bool = False,
        retry_after: float | None = None,
        provider_code: str = "",
    ):
        super().__init__(message)
        self.message = message
        self.error_type = error_type
        self.request_id = request_id
        self.http_status = http_status
        self.retryable = retryable
        # Seconds Groq asked us to wait (Retry-After), when it said so.
        self.retry_after = retry_after
        self.provider_code = provider_code


class _ConfigurationError(Exception):
    pass


class _InvalidResponse(Exception):
    pass


class _StreamStopped(Exception):
    """Groq ended a stream early and said why in `x_groq.error`."""


# The SDK numbers its attempts in the x-stainless-retry-count header; an httpx hook reads it into the
# holder of the call in progress (a context variable: per thread, per asyncio task).
_attempts: contextvars.ContextVar[dict | None] = contextvars.ContextVar("groq_attempts", default=None)


def _count_attempt(request: httpx.Request) -> None:
    holder = _attempts.get()
    if holder is not None:
        holder["retries"] = int(request.headers.get("x-stainless-retry-count") or 0)


async def _acount_attempt(request: httpx.Request) -> None:
    _count_attempt(request)


@dataclass
class _Call:
    """A call in progress: what was asked, when, and what we learnt on the way."""

    model: str
    messages: list[dict]
    user_id: str
    session_id: str
    max_tokens: int
    temperature: float
    source: str
    app_metadata: dict
    request_id: uuid.UUID = field(default_factory=uuid.uuid4)
    started_at: datetime = field(default_factory=timezone.now)
    t0: float = field(default_factory=time.perf_counter)
    attempts: dict = field(default_factory=dict)

    def request_kwargs(self, *, stream: bool = False) -> dict:
        kwargs = {
            "model": self.model,
            "messages": self.messages,
            "max_tokens": self.max_tokens,
            "temperature": self.temperature,
        }
        if stream:
            kwargs["stream"] = True
        return kwargs

    def elapsed_ms(self) -> float:
        return round((time.perf_counter() - self.t0) * 1000, 2)


@dataclass
class _Outcome:
    """What the provider returned (or, for a failed stream, what had arrived)."""

    text: str = ""
    finish_reason: str = ""
    usage: object | None = None  # groq CompletionUsage
    provider_request_id: str = ""
    returned_model: str = ""
    ttft_ms: float | None = None

    def add_chunk(self, chunk, call: _Call) -> str:
        """Fold one stream chunk in; returns its text. Raises _StreamStopped on Groq's in-stream error."""
        x_groq = getattr(chunk, "x_groq", None)
        if x_groq is not None:
            self.provider_request_id = x_groq.id or self.provider_request_id
            self.usage = x_groq.usage or self.usage
            if x_groq.error:
                raise _StreamStopped(x_groq.error)
        if getattr(chunk, "usage", None) is not None:
            self.usage = chunk.usage
        self.returned_model = chunk.model or self.returned_model
        text = ""
        if chunk.choices:
            choice = chunk.choices[0]
            text = choice.delta.content or ""
            self.finish_reason = choice.finish_reason or self.finish_reason
        if text:
            if self.ttft_ms is None:
                self.ttft_ms = call.elapsed_ms()
            self.text += text
        return text


def _outcome_of_completion(response) -> _Outcome:
    try:
        choice = response.choices[0]
        return _Outcome(
            text=choice.message.content or "",
            finish_reason=choice.finish_reason or "",
            usage=response.usage,
            provider_request_id=(response.x_groq.id if response.x_groq else "") or response.id or "",
            returned_model=response.model or "",
        )
    except (AttributeError, IndexError, TypeError, KeyError) as exc:
        raise _InvalidResponse(f"Unexpected completion shape: {exc}") from exc


# --- error taxonomy -----------------------------------------------------------------------------


@dataclass
class _Failure:
    error_type: str
    message: str
    http_status: int | None = None
    provider_code: str = ""
    retry_after: float | None = None


def _provider_error(body) -> tuple[str, str]:
    """(message, code) from Groq's {"error": {"message", "type", "code"}} body, when it has that shape."""
    error = body.get("error", body) if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return "", ""
    return str(error.get("message") or ""), str(error.get("code") or error.get("type") or "")


def _retry_after(response: httpx.Response) -> float | None:
    headers = response.headers
    for name, scale in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        try:
            return float(headers[name]) / scale
        except (KeyError, ValueError):
            continue
    return None


def _stream_error_type(code: str, message: str) -> str:
    """Errors Groq sends inside a stream carry no status; their code or type says what happened."""
    text = f"{code} {message}".lower()
    if "rate_limit" in text or "rate limit" in text:
        return ErrorType.RATE_LIMIT
    if "context_length" in text or "context length" in text:
        return ErrorType.CONTEXT_LENGTH
    if "invalid_request" in text:
        return ErrorType.BAD_REQUEST
    return ErrorType.SERVER_ERROR


def classify(exc: BaseException) -> _Failure:
    """Map any exception raised while calling Groq to the error taxonomy (llm/calls/errors.py)."""
    if isinstance(exc, _ConfigurationError):
        return _Failure(ErrorType.CONFIGURATION, str(exc))
    if isinstance(exc, groq.APITimeoutError | httpx.TimeoutException):
        return _Failure(ErrorType.TIMEOUT, f"Timed out after {settings.GROQ_TIMEOUT:g} s")
    if isinstance(exc, groq.APIConnectionError | httpx.TransportError):
        cause = exc.__cause__ or exc
        return _Failure(
            ErrorType.CONNECTION, f"{exc} ({type(cause).__name__}: {cause})" if cause is not exc else str(exc)
        )
    if isinstance(exc, groq.APIStatusError):
        message, code = _provider_error(exc.body)
        message = message or str(exc)
        return _Failure(
            classify_status(exc.status_code, code=code, message=message),
            message,
            http_status=exc.status_code,
            provider_code=code,
            retry_after=_retry_after(exc.response),
        )
    if isinstance(exc, groq.APIResponseValidationError | _InvalidResponse | ValueError):
        return _Failure(ErrorType.INVALID_RESPONSE, f"Invalid response from Groq: {exc}")
    if isinstance(exc, _StreamStopped):
        return _Failure(_stream_error_type("", str(exc)), str(exc))
    if isinstance(exc, groq.APIError):  # an error event inside a stream
        message, code = _provider_error(exc.body)
        message = message or str(exc)
        return _Failure(_stream_error_type(code, message), message, provider_code=code)
    return _Failure(ErrorType.UNKNOWN, f"{type(exc).__name__}: {exc}")


# --- the row ----------------------------------------------------------------------------------------


def _usage_fields(usage) -> tuple[dict, dict]:
    """(token counts, metadata timings) from an SDK usage object; zeros and {} when usage is None."""
    if usage is None:
        return {"prompt_tokens": 0, "completion_tokens": 0, "cached_prompt_tokens": 0}, {}
    details = getattr(usage, "prompt_tokens_details", None)
    counts = {
        "prompt_tokens": usage.prompt_tokens or 0,
        "completion_tokens": usage.completion_tokens or 0,
        "cached_prompt_tokens": getattr(details, "cached_tokens", 0) or 0,
    }
    meta = {
        name: getattr(usage, name)
        for name in ("queue_time", "prompt_time", "completion_time", "total_time")
        if getattr(usage, name, None) is not None
    }
    reasoning = getattr(getattr(usage, "completion_tokens_details", None), "reasoning_tokens", None)
    if reasoning is not None:
        meta["reasoning_tokens"] = reasoning
    return counts, meta


def _call_record(call: _Call, outcome: _Outcome | None, failure: _Failure | None, *, usage_known: bool) -> CallRecord:
    """What this call was, in the shape every source hands to the builder."""
    outcome = outcome or _Outcome()
    counts, meta = _usage_fields(outcome.usage)
    meta["retries"] = call.attempts.get("retries", 0)
    if call.app_metadata:
        meta["app"] = call.app_metadata
    if outcome.returned_model and outcome.returned_model != call.model:
        meta["returned_model"] = outcome.returned_model
    if failure is not None and failure.provider_code:
        meta["error_code"] = failure.provider_code
    return CallRecord(
        model=call.model,
        source=call.source,
        timestamp=call.started_at,
        request_id=call.request_id,
        provider=PROVIDER,
        failed=failure is not None,
        error_type=failure.error_type if failure else "",
        http_status=failure.http_status if failure else 200,
        error_message=failure.message if failure else "",
        usage_known=usage_known,
        latency_ms=call.elapsed_ms(),
        time_to_first_token_ms=outcome.ttft_ms,
        user_id=call.user_id,
        session_id=call.session_id,
        finish_reason=outcome.finish_reason,
        temperature=call.temperature,
        max_tokens=call.max_tokens,
        provider_request_id=outcome.provider_request_id,
        metadata=meta,
        prompt_text=render_messages(call.messages),
        response_text=outcome.text,
        **counts,
    )


def _log(call: _Call, outcome: _Outcome | None, failure: _Failure | None, *, usage_known: bool) -> LLMRequestLog:
    row = build_row(_call_record(call, outcome, failure, usage_known=usage_known))
    save_row(row)
    return row


def _result(row: LLMRequestLog) -> dict:
    return {
        "request_id": str(row.request_id),
        "response": row.response_text if settings.LLM_LOG_CAPTURE_TEXT else None,
        "model": row.model_name,
        "prompt_tokens": row.prompt_tokens,
        "completion_tokens": row.completion_tokens,
        "total_tokens": row.total_tokens,
        "cached_prompt_tokens": row.cached_prompt_tokens,
        "latency_ms": row.latency_ms,
        "time_to_first_token_ms": row.time_to_first_token_ms,
        "cost_estimate": row.cost_estimate,
        "finish_reason": row.finish_reason,
        "status": row.status,
        "provider_request_id": row.provider_request_id,
    }


def _record_success(call: _Call, outcome: _Outcome) -> dict:
    row = _log(call, outcome, None, usage_known=outcome.usage is not None)
    result = _result(row)
    result["response"] = outcome.text  # the caller gets the whole answer, whatever we stored
    return result


def _record_failure(call: _Call, exc: BaseException, partial: _Outcome | None = None) -> LLMServiceError:
    failure = classify(exc)
    # A stream that broke after tokens flowed consumed tokens we cannot count.
    usage_known = partial is None or (partial.usage is not None) or not partial.text
    _log(call, partial, failure, usage_known=usage_known)
    return LLMServiceError(
        scrub_configured_secrets(failure.message),
        error_type=failure.error_type,
        request_id=str(call.request_id),
        http_status=failure.http_status,
        retryable=failure.error_type in RETRYABLE,
        retry_after=failure.retry_after,
        provider_code=failure.provider_code,
    )


def _record_cancel(call: _Call, partial: _Outcome) -> None:
    failure = _Failure(ErrorType.CANCELLED, "Stream abandoned by the caller")
    _log(call, partial, failure, usage_known=partial.usage is not None)


# --- the service ----------------------------------------------------------------------------------


class LLMStream:
    """Text chunks of a streamed call, as they arrive; `result` holds the complete() dict once it ended.

    Closing it early (or dropping it) logs the call as cancelled with the text received so far.
    """

    def __init__(self, chunks: Iterator[str]):
        self._chunks = chunks
        self.result: dict | None = None

    def __iter__(self) -> LLMStream:
        return self

    def __next__(self) -> str:
        try:
            return next(self._chunks)
        except StopIteration as stop:
            self.result = stop.value
            raise

    def close(self) -> None:
        self._chunks.close()

    def __enter__(self) -> LLMStream:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class AsyncLLMStream:
    """The async twin of LLMStream: `async for text in stream`, then `stream.result`; `aclose()` cancels."""

    def __init__(self, chunks, holder: dict):
        self._chunks = chunks
        self._holder = holder

    @property
    def result(self) -> dict | None:
        return self._holder.get("result")

    def __aiter__(self) -> AsyncLLMStream:
        return self

    async def __anext__(self) -> str:
        return await self._chunks.__anext__()

    async def aclose(self) -> None:
        await self._chunks.aclose()


class GroqService:
    """Calls Groq through the official SDK and logs each call; use the module's `groq_service`."""

    def __init__(self):
        self._lock = threading.Lock()
        self._client: groq.Groq | None = None
        self._client_config: tuple | None = None
        # httpx async connections belong to the event loop that opened them.
        self._async_clients: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

    # --- clients ----------------------------------------------------------------------------
    @staticmethod
    def _config() -> tuple:
        if not settings.GROQ_API_KEY:
            raise _ConfigurationError(MISSING_KEY_MESSAGE)
        return (settings.GROQ_API_KEY, settings.GROQ_BASE_URL, settings.GROQ_TIMEOUT, settings.GROQ_MAX_RETRIES)

    @property
    def client(self) -> groq.Groq:
        """The shared SDK client (created on first use). Raises when GROQ_API_KEY is not set."""
        config = self._config()
        if self._client is None or self._client_config != config:
            with self._lock:
                if self._client is None or self._client_config != config:
                    api_key, base_url, timeout, retries = config
                    self._client = groq.Groq(
                        api_key=api_key,
                        base_url=base_url,
                        timeout=timeout,
                        max_retries=retries,
                        http_client=groq.DefaultHttpxClient(event_hooks={"request": [_count_attempt]}),
                    )
                    self._client_config = config
        return self._client

    def async_client(self) -> groq.AsyncGroq:
        """The AsyncGroq client of the running event loop (created on first use there)."""
        import asyncio

        config = self._config()
        loop = asyncio.get_running_loop()
        entry = self._async_clients.get(loop)
        if entry is None or entry[0] != config:
            api_key, base_url, timeout, retries = config
            client = groq.AsyncGroq(
                api_key=api_key,
                base_url=base_url,
                timeout=timeout,
                max_retries=retries,
                http_client=groq.DefaultAsyncHttpxClient(event_hooks={"request": [_acount_attempt]}),
            )
            entry = (config, client)
            self._async_clients[loop] = entry
        return entry[1]

    def reset(self) -> None:
        """Forget the cached clients (tests, or after changing settings at run time)."""
        with self._lock:
            if self._client is not None:
                self._client.close()
            self._client = None
            self._client_config = None
            self._async_clients = weakref.WeakKeyDictionary()

    # --- calls ------------------------------------------------------------------------------------
    @staticmethod
    def _start(
        prompt: str | None,
        *,
        model: str | None,
        user_id: str | None,
        session_id: str | None,
        system_prompt: str | None,
        messages: list[dict] | None,
        max_tokens: int,
        temperature: float,
        metadata: dict | None,
        source: str,
    ) -> _Call:
        if messages:
            chat = [dict(m) for m in messages]
            if system_prompt and not any(m.get("role") == "system" for m in chat):
                chat.insert(0, {"role": "system", "content": system_prompt})
        elif prompt:
            chat = ([{"role": "system", "content": system_prompt}] if system_prompt else []) + [
                {"role": "user", "content": prompt}
            ]
        else:
            raise ValueError("Either prompt or messages is required")
        return _Call(
            model=model or settings.GROQ_DEFAULT_MODEL,
            messages=chat,
            user_id=user_id or "",
            session_id=session_id or "",
            max_tokens=max_tokens,
            temperature=temperature,
            source=source,
            app_metadata=dict(metadata or {}),
        )

    def complete(
        self,
        prompt: str | None = None,
        *,
        model: str | None = None,
        user_id: str | None = None,
        session_id: str | None = None,
        system_prompt: str | None = None,
        messages: list[dict] | None = None,
        max_tokens: int = 1024,
        temperature: float = 0.7,
        metadata: dict | None = None,
        source: str = Source.SDK,
    ) -> dict:
        """One chat completion, logged. Returns a dict: request_id, response, model, prompt_tokens,
        completion_tokens, total_tokens, cached_prompt_tokens, latency_ms, time_to_first_token_ms (None),
        cost_estimate (Decimal, None when the model has no price), finish_reason, status, provider_request_id.

        `messages` (OpenAI-style chat list) replaces `prompt` for multi-turn calls. Raises LLMServiceError
        (after logging the failed call) on any failure; ValueError when neither prompt nor messages is given.
        """
        call = self._start(
            prompt,
            model=model,
            user_id=user_id,
            session_id=session_id,
            system_prompt=system_prompt,
            messages=messages,
            max_tokens=max_tokens,
            temperature=temperature,
            metadata=metadata,
            source=source,
        )
        try:
            client = self.client
            token = _attempts.set(call.attempts)
            try:
                response = client.chat.completions.create(**call.request_kwargs())
            finally:
                _attempts.reset(token)
            outcome = _outcome_of_completion(response)
        except Exception as exc:  # noqa: BLE001 - every failure is logged, then raised as one type
            raise _record_failure(call, exc) from exc
        return _record_success(call, outcome)

    def stream(self, prompt: str | None = None, **kwargs) -> LLMStream:
        """Like complete() (same arguments) but yields text chunks as they arrive; see LLMStream.

        The call starts on the first iteration; one row is written when the stream ends, fails or is
        abandoned. Failures are raised from the iteration as LLMServiceError.
        """
        return LLMStream(self._stream_chunks(self._start(prompt, **self._defaults(kwargs))))

    @staticmethod
    def _defaults(kwargs: dict) -> dict:
        values = {
            "model": None,
            "user_id": None,
            "session_id": None,
            "system_prompt": None,
            "messages": None,
            "max_tokens": 1024,
            "temperature": 0.7,
            "metadata": None,
            "source": Source.SDK,
        }
        unknown = set(kwargs) - set(values)
        if unknown:
            raise TypeError(f"Unexpected arguments: {', '.join(sorted(unknown))}")
        return {**values, **kwargs}

    def _stream_chunks(self, call: _Call):
        partial = _Outcome()
        try:
            client = self.client
            token = _attempts.set(call.attempts)
            try:
                sdk_stream = client.chat.completions.create(**call.request_kwargs(stream=True))
            finally:
                _attempts.reset(token)
            with sdk_stream:
                for chunk in sdk_stream:
                    text = partial.add_chunk(chunk, call)
                    if text:
                        yield text
        except GeneratorExit:
            _record_cancel(call, partial)
            raise
        except Exception as exc:  # noqa: BLE001
            raise _record_failure(call, exc, partial) from exc
        return _record_success(call, partial)

    # --- async ------------------------------------------------------------------------------------
    async def acomplete(self, prompt: str | None = None, **kwargs) -> dict:
        """complete() for async code, on AsyncGroq; the row is written in a worker thread."""
        call = self._start(prompt, **self._defaults(kwargs))
        try:
            client = self.async_client()
            token = _attempts.set(call.attempts)
            try:
                response = await client.chat.completions.create(**call.request_kwargs())
            finally:
                _attempts.reset(token)
            outcome = _outcome_of_completion(response)
        except Exception as exc:  # noqa: BLE001
            raise await sync_to_async(_record_failure)(call, exc) from exc
        return await sync_to_async(_record_success)(call, outcome)

    def astream(self, prompt: str | None = None, **kwargs) -> AsyncLLMStream:
        """stream() for async code: `async for text in groq_service.astream(...)`."""
        holder: dict = {}
        call = self._start(prompt, **self._defaults(kwargs))
        return AsyncLLMStream(self._astream_chunks(call, holder), holder)

    async def _astream_chunks(self, call: _Call, holder: dict) -> AsyncIterator[str]:
        partial = _Outcome()
        try:
            client = self.async_client()
            token = _attempts.set(call.attempts)
            try:
                sdk_stream = await client.chat.completions.create(**call.request_kwargs(stream=True))
            finally:
                _attempts.reset(token)
            async with sdk_stream:
                async for chunk in sdk_stream:
                    text = partial.add_chunk(chunk, call)
                    if text:
                        yield text
        except GeneratorExit:
            await sync_to_async(_record_cancel)(call, partial)
            raise
        except Exception as exc:  # noqa: BLE001
            raise await sync_to_async(_record_failure)(call, exc, partial) from exc
        holder["result"] = await sync_to_async(_record_success)(call, partial)


groq_service = GroqService()
