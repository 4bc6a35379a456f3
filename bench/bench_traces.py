"""Traces benchmark (issue 14): GET /api/traces/<id>/ of a 1,000-span trace and the first page of
GET /api/traces/ (the page's default 7-day window, newest first and slowest first).

    bench/run.py traces [--databases postgresql,sqlite] [--pg-url URL] [--sqlite-path PATH]
                        [--traces 5000] [--repeat 15]

Each database runs in its own child process. A database holding fewer than --traces traces is seeded
through the OTLP ingest path (llm.sources.otlp.ingest_spans): agent runs of 1-50 spans over the last
7 days, one span in five an LLM call, plus one trace of 1,000 spans (100 of them LLM calls). Targets:
the detail <= 100 ms, the list's first page <= 150 ms.
"""

import argparse
import os
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_PG = "postgres://postgres@127.0.0.1:5432/spanshelper_bench"
DEFAULT_SQLITE = "/tmp/traces-bench/bench.sqlite3"
ENV = {
    "DJANGO_SECRET_KEY": "bench-only-secret",
    "DEBUG": "False",
    "SECURE_SSL_REDIRECT": "False",
    "SESSION_COOKIE_SECURE": "False",
    "CSRF_COOKIE_SECURE": "False",
    "SECURE_HSTS_SECONDS": "0",
    "LOG_LEVEL": "ERROR",
    "LLM_LOG_CAPTURE_TEXT": "True",
}
BIG_TRACE = "b1" * 16


def _args(argv):
    parser = argparse.ArgumentParser(prog="bench traces")
    parser.add_argument("--databases", default="postgresql,sqlite")
    parser.add_argument("--pg-url", default=DEFAULT_PG)
    parser.add_argument("--sqlite-path", default=DEFAULT_SQLITE)
    parser.add_argument("--traces", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv) -> int:
    args = _args(argv)
    if args.child:
        return _child(args)
    status = 0
    for vendor in args.databases.split(","):
        url = args.pg_url if vendor == "postgresql" else f"sqlite:///{args.sqlite_path}"
        if vendor == "sqlite":
            Path(args.sqlite_path).parent.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, **ENV, "DATABASE_URL": url}
        child = [sys.executable, __file__, *argv, "--child", "--databases", vendor]
        status |= subprocess.call(child, env=env, cwd=ROOT)
    return status


def _span(trace_id: str, span_id: str, parent: str, start_ns: int, duration_ms: float, llm: bool, rng):
    from llm.tests.tracekit import llm_attributes, span

    attributes = (
        llm_attributes(
            "llama-3.1-8b-instant", prompt="q " * 400, answer="a " * 400, **{"user.id": f"u-{rng.randrange(500)}"}
        )
        if llm
        else {"tool.name": "search", "http.request.method": "GET"}
    )
    return span(
        trace_id,
        span_id,
        start_ns=start_ns,
        duration_ms=duration_ms,
        parent=parent,
        name="chat llama-3.1-8b-instant" if llm else "step",
        attributes=attributes,
    )


def _trace(trace_id: str, start_ns: int, size: int, rng) -> list[dict]:
    """An agent run: a root and `size - 1` children in sequence, one in five an LLM call."""
    root = f"{1:016x}"
    spans = [_span(trace_id, root, "", start_ns, size * 20 + 5, False, rng)]
    for i in range(1, size):
        spans.append(_span(trace_id, f"{i + 1:016x}", root, start_ns + i * 20_000_000, 18, i % 5 == 1, rng))
    return spans


def _seed(count: int) -> None:
    from django.utils import timezone
    from google.protobuf import json_format
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    from llm.models import Span
    from llm.sources.otlp import _hex_ids_to_base64, ingest_spans
    from llm.tests.tracekit import export

    if Span.objects.filter(trace_id=BIG_TRACE).exists():
        return  # seeded by an earlier run
    rng = random.Random(1)
    now_ns = int(timezone.now().timestamp()) * 10**9
    week_ns = 7 * 24 * 3600 * 10**9
    batches = [_trace(BIG_TRACE, now_ns - 3600 * 10**9, 1000, rng)]
    batch: list[dict] = []
    for n in range(count):
        batch += _trace(f"{n + 1:032x}", now_ns - rng.randrange(week_ns), rng.randint(1, 50), rng)
        if len(batch) > 2000:
            batches.append(batch)
            batch = []
    batches.append(batch)
    began, spans = time.perf_counter(), 0
    for spans_of_batch in batches:
        payload = export(*spans_of_batch)
        _hex_ids_to_base64(payload)
        message = json_format.ParseDict(payload, ExportTraceServiceRequest())
        report = ingest_spans(export=message, ingest_key=None)
        spans += report.stored
    elapsed = time.perf_counter() - began
    print(f"  seeded {spans:,} spans in {elapsed:.1f} s ({spans / elapsed:,.0f} spans/s)", flush=True)


def _timed(client, url: str, repeat: int) -> tuple[float, int]:
    client.get(url)  # warm the caches and the connection
    times = []
    for _ in range(repeat):
        began = time.perf_counter()
        response = client.get(url)
        times.append((time.perf_counter() - began) * 1000)
        assert response.status_code == 200, response.content[:300]
    return statistics.median(times), len(response.content)


def _child(args) -> int:
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "core.settings")
    import django

    django.setup()
    from datetime import timedelta

    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client
    from django.utils import timezone

    from llm.models import LLMRequestLog, Span

    call_command("migrate", verbosity=0)
    print(f"{connection.vendor}:", flush=True)
    _seed(args.traces)
    user, _ = get_user_model().objects.get_or_create(username="bench-traces")
    client = Client(HTTP_HOST="localhost")
    client.force_login(user)
    week = (timezone.now() - timedelta(days=7)).strftime("%Y-%m-%dT%H:%M:%SZ")
    print(
        f"  {Span.objects.count():,} spans, {LLMRequestLog.objects.exclude(trace_id='').count():,} calls in "
        f"{Span.objects.values('trace_id').distinct().count():,} traces; median of {args.repeat} runs:"
    )
    cases = [
        ("detail, 1,000 spans", f"/api/traces/{BIG_TRACE}/"),
        ("list, first page (7 days, newest first)", f"/api/traces/?start_date={week}"),
        ("list, first page (7 days, slowest first)", f"/api/traces/?start_date={week}&ordering=-duration_ms"),
        ("list, first page (no window)", "/api/traces/"),
        ("list, first page (one user, 7 days)", f"/api/traces/?start_date={week}&user_id=u-7"),
    ]
    for label, url in cases:
        median, size = _timed(client, url, args.repeat)
        print(f"  {label:<45} {median:8.1f} ms  ({size / 1024:,.0f} KB)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
