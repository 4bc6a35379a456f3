"""A Groq-compatible fake HTTP server on 127.0.0.1, so tests drive the real `groq` SDK over real sockets.

Usage (the `fake_groq` fixture in conftest.py starts one and points settings.GROQ_BASE_URL at it)::

    def test_it_logs(fake_groq):
        fake_groq.reply_completion("Hi!", prompt_tokens=12, completion_tokens=3)
        groq_service.complete(prompt="Hello")
        assert fake_groq.requests[0].json["messages"][-1]["content"] == "Hello"

Outside pytest: ``with FakeGroq() as server: Groq(api_key="x", base_url=server.url)``.

API (kept small on purpose; other test modules rely on it):

- ``url``: root URL (``http://127.0.0.1:<port>``); the SDK appends ``/openai/v1/chat/completions``.
- ``requests``: list of :class:`RecordedRequest` (``method``, ``path``, ``headers`` lower-cased dict,
  ``json`` parsed body or None, ``body`` bytes), in arrival order — retries appear as extra entries.
- Scripting: every ``reply_*`` call queues ONE response; each incoming request takes the next one
  (a retried request takes the following one). With the queue empty, a default completion is served.

  - ``reply_completion(content, *, prompt_tokens, completion_tokens, cached_tokens, reasoning_tokens,
    finish_reason, model, groq_id, delay, headers)``: a chat completion. When the request asked for
    ``stream: true`` it is served as SSE instead (content split into word chunks, usage in ``x_groq``).
  - ``reply_stream(chunks, *, error=None, drop_after=None, chunk_delay=0, ...)``: SSE chunks; ``error``
    (a message) sends Groq's in-stream error event after the chunks; ``drop_after=n`` closes the socket
    after n chunks without finishing the chunked body.
  - ``reply_error(status, message, *, type, code, headers, delay)``: an error in Groq's JSON shape
    ``{"error": {"message", "type", "code"}}``; pass ``headers={"retry-after": "3"}`` for Retry-After.
  - ``reply_raw(body, *, status=200, headers, content_type)``: any bytes (e.g. malformed JSON).
  - ``reply_drop()``: read the request, then close the connection without answering.
  - ``delay`` (seconds) holds the response back, e.g. to trigger the client timeout.

Responses use HTTP/1.1 keep-alive (as Groq does), so connection pooling in the client is exercised.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

COMPLETIONS_PATH = "/openai/v1/chat/completions"
DEFAULT_CONTENT = "Hello from the fake Groq."


@dataclass
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    json: object | None


@dataclass
class _Reply:
    kind: str  # completion | stream | error | raw | drop
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    payload: dict = field(default_factory=dict)


def _usage(prompt_tokens, completion_tokens, cached_tokens, reasoning_tokens):
    usage = {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
        "queue_time": 0.012,
        "prompt_time": 0.004,
        "completion_time": 0.021,
        "total_time": 0.025,
    }
    if cached_tokens:
        usage["prompt_tokens_details"] = {"cached_tokens": cached_tokens}
    if reasoning_tokens is not None:
        usage["completion_tokens_details"] = {"reasoning_tokens": reasoning_tokens}
    return usage


class FakeGroq:
    """A scripted Groq chat-completions server; see the module docstring for the API."""

    def __init__(self):
        self.requests: list[RecordedRequest] = []
        self._replies: deque[_Reply] = deque()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.url = ""

    # --- lifecycle ---------------------------------------------------------------
    def start(self) -> FakeGroq:
        handler = type("Handler", (_Handler,), {"fake": self})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, name="fake-groq", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()  # wakes handlers held back by a delay
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeGroq:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # --- scripting -----------------------------------------------------------------
    def reply_completion(
        self,
        content: str = DEFAULT_CONTENT,
        *,
        prompt_tokens: int = 20,
        completion_tokens: int = 8,
        cached_tokens: int = 0,
        reasoning_tokens: int | None = None,
        finish_reason: str = "stop",
        model: str | None = None,
        groq_id: str | None = None,
        delay: float = 0.0,
        headers: dict | None = None,
    ) -> None:
        payload = {
            "content": content,
            "usage": _usage(prompt_tokens, completion_tokens, cached_tokens, reasoning_tokens),
            "finish_reason": finish_reason,
            "model": model,
            "groq_id": groq_id,
        }
        self._queue(_Reply("completion", headers=dict(headers or {}), delay=delay, payload=payload))

    def reply_stream(
        self,
        chunks: list[str] | tuple[str, ...] = ("Hello", " from", " the", " stream."),
        *,
        prompt_tokens: int = 20,
        completion_tokens: int = 4,
        cached_tokens: int = 0,
        reasoning_tokens: int | None = None,
        finish_reason: str = "stop",
        model: str | None = None,
        groq_id: str | None = None,
        error: str | None = None,
        drop_after: int | None = None,
        chunk_delay: float = 0.0,
        top_level_usage: bool = False,
        delay: float = 0.0,
    ) -> None:
        payload = {
            "chunks": list(chunks),
            "usage": _usage(prompt_tokens, completion_tokens, cached_tokens, reasoning_tokens),
            "finish_reason": finish_reason,
            "model": model,
            "groq_id": groq_id,
            "error": error,
            "drop_after": drop_after,
            "chunk_delay": chunk_delay,
            "top_level_usage": top_level_usage,
        }
        self._queue(_Reply("stream", delay=delay, payload=payload))

    def reply_error(
        self,
        status: int,
        message: str = "Something went wrong",
        *,
        type: str = "invalid_request_error",  # noqa: A002 - Groq's own field name
        code: str | None = None,
        headers: dict | None = None,
        delay: float = 0.0,
    ) -> None:
        body = {"error": {"message": message, "type": type}}
        if code is not None:
            body["error"]["code"] = code
        self._queue(_Reply("error", status=status, headers=dict(headers or {}), delay=delay, payload=body))

    def reply_raw(
        self,
        body: bytes | str,
        *,
        status: int = 200,
        headers: dict | None = None,
        content_type: str = "application/json",
        delay: float = 0.0,
    ) -> None:
        raw = body.encode() if isinstance(body, str) else body
        all_headers = {"Content-Type": content_type, **(headers or {})}
        self._queue(_Reply("raw", status=status, headers=all_headers, delay=delay, payload={"body": raw}))

    def reply_drop(self, *, delay: float = 0.0) -> None:
        self._queue(_Reply("drop", delay=delay))

    # --- internals -------------------------------------------------------------------
    def _queue(self, reply: _Reply) -> None:
        with self._lock:
            self._replies.append(reply)

    def _next_reply(self) -> _Reply:
        with self._lock:
            if self._replies:
                return self._replies.popleft()
        return _Reply(
            "completion",
            payload={
                "content": DEFAULT_CONTENT,
                "usage": _usage(20, 8, 0, None),
                "finish_reason": "stop",
                "model": None,
                "groq_id": None,
            },
        )

    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self.requests.append(request)


class _Handler(BaseHTTPRequestHandler):
    fake: FakeGroq
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes; with Nagle on, a keep-alive client waits for the
    # delayed ACK (~40 ms) on every call.
    disable_nagle_algorithm = True

    def log_message(self, format, *args):  # noqa: A002 - silence the per-request stderr line
        pass

    def do_POST(self):  # noqa: N802 - http.server's naming
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            parsed = json.loads(raw) if raw else None
        except ValueError:
            parsed = None
        headers = {k.lower(): v for k, v in self.headers.items()}
        self.fake._record(RecordedRequest("POST", self.path, headers, raw, parsed))
        if self.path != COMPLETIONS_PATH:
            self._send_json(404, {"error": {"message": f"Unknown path {self.path}", "type": "invalid_request_error"}})
            return
        reply = self.fake._next_reply()
        if reply.delay and self.fake._stopping.wait(reply.delay):
            return
        request_json = parsed if isinstance(parsed, dict) else {}
        model = request_json.get("model") or "openai/gpt-oss-20b"
        try:
            if reply.kind == "drop":
                self.close_connection = True
            elif reply.kind == "error":
                self._send_json(reply.status, reply.payload, reply.headers)
            elif reply.kind == "raw":
                self._send_bytes(reply.status, reply.payload["body"], reply.headers)
            elif reply.kind == "stream" or request_json.get("stream"):
                self._send_stream(reply.payload, model, reply.headers)
            else:
                self._send_json(200, _completion_body(reply.payload, model), reply.headers)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client gave up (timeout, abandoned stream)

    def _send_bytes(self, status: int, body: bytes, headers: dict):
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _send_json(self, status: int, body: dict, headers: dict | None = None):
        self._send_bytes(status, json.dumps(body).encode(), {"Content-Type": "application/json", **(headers or {})})

    def _send_stream(self, payload: dict, model: str, headers: dict):
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        chunks = payload.get("chunks")
        if chunks is None:  # a plain completion served to a streaming request
            words = payload["content"].split(" ")
            chunks = [w if i == 0 else " " + w for i, w in enumerate(words)]
        for event in _stream_events(payload, chunks, model):
            if event is _DROP:
                self.wfile.flush()
                self.close_connection = True
                return
            if payload.get("chunk_delay") and self.fake._stopping.wait(payload["chunk_delay"]):
                return
            self._write_chunk(event)
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def _write_chunk(self, data: bytes):
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()


_DROP = object()


def _completion_body(payload: dict, model: str) -> dict:
    groq_id = payload.get("groq_id") or f"req_{uuid.uuid4().hex[:26]}"
    return {
        "id": f"chatcmpl-{uuid.uuid4()}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": payload.get("model") or model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": payload["content"]},
                "logprobs": None,
                "finish_reason": payload["finish_reason"],
            }
        ],
        "usage": payload["usage"],
        "system_fingerprint": "fp_fake",
        "x_groq": {"id": groq_id},
    }


def _sse(data: dict | str) -> bytes:
    text = data if isinstance(data, str) else json.dumps(data)
    return f"data: {text}\n\n".encode()


def _stream_events(payload: dict, chunks: list[str], model: str):
    """Groq's SSE sequence: role chunk (with x_groq.id), content chunks, final chunk with usage, [DONE]."""
    groq_id = payload.get("groq_id") or f"req_{uuid.uuid4().hex[:26]}"
    base = {
        "id": f"chatcmpl-{uuid.uuid4()}",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": payload.get("model") or model,
        "system_fingerprint": "fp_fake",
    }

    def chunk(delta, finish_reason=None, **extra):
        return {
            **base,
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}],
            **extra,
        }

    yield _sse(chunk({"role": "assistant", "content": ""}, x_groq={"id": groq_id}))
    for index, text in enumerate(chunks):
        if payload.get("drop_after") is not None and index >= payload["drop_after"]:
            yield _DROP
            return
        yield _sse(chunk({"content": text}))
    if payload.get("drop_after") is not None:
        yield _DROP
        return
    if payload.get("error"):
        # What Groq sends when it stops a stream early: an error event, then the connection ends.
        error = {"error": {"message": payload["error"], "type": "internal_server_error"}}
        yield f"event: error\ndata: {json.dumps(error)}\n\n".encode()
        return
    final = chunk({}, payload["finish_reason"], x_groq={"id": groq_id, "usage": payload["usage"]})
    if payload.get("top_level_usage"):
        final["usage"] = payload["usage"]
    yield _sse(final)
    yield _sse("[DONE]")
