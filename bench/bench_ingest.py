"""Ingestion throughput: POST /api/ingest/ and /v1/traces served by gunicorn into PostgreSQL.

    .venv/bin/python bench/bench_ingest.py [--events 50000] [--batch 500] [--clients 2]

Creates a scratch PostgreSQL database (default wt_ingest_bench, dropped at the end), migrates it,
starts gunicorn with 2 workers on it and posts batches of events carrying a 1 KB prompt and a
1 KB response. In the same run the same events are inserted raw (psycopg2 execute_values of
ready tuples, no HTTP, no validation) to give the ratio. Then OTLP protobuf exports of GenAI
spans go through /v1/traces.
"""

import argparse
import json
import os
import random
import socket
import string
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))

START_NS = 1_767_225_600_000_000_000  # 2026-01-01


def text(rng: random.Random, size: int) -> str:
    words = ["".join(rng.choices(string.ascii_lowercase, k=rng.randint(2, 9))) for _ in range(size // 4)]
    return " ".join(words)[:size]


def make_events(count: int, seed: int = 1) -> list[dict]:
    rng = random.Random(seed)
    models = ["llama-3.1-8b-instant", "llama-3.3-70b-versatile", "openai/gpt-oss-20b", "qwen/qwen3-32b"]
    prompts = [text(rng, 1024) for _ in range(50)]
    answers = [text(rng, 1024) for _ in range(50)]
    events = []
    for i in range(count):
        failed = i % 40 == 0
        events.append(
            {
                "request_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                "timestamp": f"2026-01-{1 + i % 28:02d}T{i % 24:02d}:{i % 60:02d}:00Z",
                "model": models[i % len(models)],
                "provider": "groq",
                "prompt_text": prompts[i % 50],
                "response_text": "" if failed else answers[i % 50],
                "prompt_tokens": 250 + i % 100,
                "completion_tokens": 0 if failed else 200 + i % 50,
                "latency_ms": 100.0 + (i * 7) % 900,
                "status": "error" if failed else "success",
                "error_type": "rate_limit" if failed else None,
                "user_id": f"user-{i % 500}",
                "metadata": {"feature": "bench"},
            }
        )
    return events


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def psql(sql: str) -> None:
    subprocess.run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", "postgres", "-qc", sql], check=True)


def setup_database(name: str, env: dict) -> str:
    psql(f"DROP DATABASE IF EXISTS {name}")
    psql(f"CREATE DATABASE {name}")
    subprocess.run([sys.executable, "manage.py", "migrate", "-v", "0"], cwd=BASE_DIR, env=env, check=True)
    out = subprocess.run(
        [sys.executable, "manage.py", "create_ingest_key", "bench"],
        cwd=BASE_DIR,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return out.strip().splitlines()[-1]


def start_gunicorn(env: dict, port: int) -> subprocess.Popen:
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "core.wsgi:application",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "2",
            "--log-level",
            "warning",
            "--timeout",
            "120",
        ],
        cwd=BASE_DIR,
        env=env,
    )
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return server
        except OSError:
            time.sleep(0.1)
    server.kill()
    raise SystemExit("gunicorn did not start")


def post_all(url: str, bodies: list[bytes], headers: dict, clients: int) -> float:
    """Post every body, `clients` at a time; seconds taken. Fails loudly on any non-200."""
    import requests

    queue = list(enumerate(bodies))
    lock = threading.Lock()
    failures = []

    def worker():
        session = requests.Session()
        while True:
            with lock:
                if not queue:
                    return
                _, body = queue.pop()
            response = session.post(url, data=body, headers=headers, timeout=120)
            if response.status_code != 200:
                failures.append(f"{response.status_code} {response.text[:200]}")

    threads = [threading.Thread(target=worker) for _ in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    if failures:
        raise SystemExit(f"{len(failures)} requests failed, first: {failures[0]}")
    return elapsed


def raw_insert(events: list[dict], batch: int) -> float:
    """The same events straight into the table: ready tuples, execute_values, one commit per batch."""
    import django

    django.setup()
    from django.db import connection
    from psycopg2.extras import execute_values

    rows = []
    for e in events:
        rows.append(
            (
                str(uuid.uuid4()),
                e["timestamp"],
                e["model"],
                e["provider"],
                e["status"],
                e["error_type"] or "",
                e["prompt_tokens"],
                e["completion_tokens"],
                e["prompt_tokens"] + e["completion_tokens"],
                0,
                e["latency_ms"],
                e["user_id"],
                "",
                "",
                "",
                "ingest",
                "",
                "",
                "",
                None,
                json.dumps(e["metadata"]),
                "",
                e["prompt_text"],
                e["response_text"],
            )
        )
    sql = (
        "INSERT INTO llm_llmrequestlog (request_id, timestamp, model_name, provider, status, error_type,"
        " prompt_tokens, completion_tokens, total_tokens, cached_prompt_tokens, latency_ms, user_id, session_id,"
        " finish_reason, provider_request_id, source, trace_id, span_id, parent_span_id, cost_estimate, metadata,"
        " error_message, prompt_text, response_text) VALUES %s"
    )
    connection.ensure_connection()
    raw = connection.connection
    started = time.perf_counter()
    with raw.cursor() as cursor:
        for i in range(0, len(rows), batch):
            execute_values(cursor, sql, rows[i : i + batch], page_size=batch)
            raw.commit()
    return time.perf_counter() - started


def otlp_bodies(spans: int, per_request: int) -> list[bytes]:
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
    from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

    rng = random.Random(2)
    prompt = json.dumps([{"role": "user", "parts": [{"type": "text", "content": text(rng, 1024)}]}])
    answer = json.dumps([{"role": "assistant", "parts": [{"type": "text", "content": text(rng, 1024)}]}])

    def kv(key, value):
        wrapped = AnyValue(int_value=value) if isinstance(value, int) else AnyValue(string_value=value)
        return KeyValue(key=key, value=wrapped)

    bodies = []
    for start in range(0, spans, per_request):
        message = ExportTraceServiceRequest()
        scope = message.resource_spans.add().scope_spans.add()
        for i in range(start, min(start + per_request, spans)):
            span = scope.spans.add()
            span.trace_id = rng.getrandbits(128).to_bytes(16, "big")
            span.span_id = rng.getrandbits(64).to_bytes(8, "big")
            span.name = "chat llama-3.1-8b-instant"
            span.start_time_unix_nano = START_NS + i * 1_000_000
            span.end_time_unix_nano = span.start_time_unix_nano + 350_000_000
            span.attributes.extend(
                [
                    kv("gen_ai.operation.name", "chat"),
                    kv("gen_ai.provider.name", "groq"),
                    kv("gen_ai.request.model", "llama-3.1-8b-instant"),
                    kv("gen_ai.usage.input_tokens", 260),
                    kv("gen_ai.usage.output_tokens", 210),
                    kv("gen_ai.input.messages", prompt),
                    kv("gen_ai.output.messages", answer),
                ]
            )
        bodies.append(message.SerializeToString())
    return bodies


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--clients", type=int, default=2, help="concurrent HTTP clients")
    parser.add_argument("--spans", type=int, default=20_000)
    parser.add_argument("--database", default="wt_ingest_bench")
    parser.add_argument("--keep", action="store_true", help="keep the bench database")
    args = parser.parse_args()

    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{args.database}",
        "DEBUG": "False",
        "DJANGO_SECRET_KEY": "bench-only-secret-key-" + "x" * 30,
        "ALLOWED_HOSTS": "127.0.0.1",
        "SECURE_SSL_REDIRECT": "False",
        "LOG_LEVEL": "WARNING",
        "DJANGO_SETTINGS_MODULE": "core.settings",
    }
    os.environ.update({k: env[k] for k in ("DATABASE_URL", "DJANGO_SECRET_KEY", "DJANGO_SETTINGS_MODULE", "DEBUG")})
    secret = setup_database(args.database, env)
    port = free_port()
    server = start_gunicorn(env, port)
    try:
        events = make_events(args.events)
        bodies = [
            json.dumps({"events": events[i : i + args.batch]}).encode() for i in range(0, len(events), args.batch)
        ]
        headers = {"Authorization": f"Bearer {secret}", "Content-Type": "application/json"}
        post_all(f"http://127.0.0.1:{port}/api/ingest/", bodies[:2], headers, 1)  # warm both workers up
        subprocess.run(
            [
                "psql",
                "-h",
                "127.0.0.1",
                "-U",
                "postgres",
                "-d",
                args.database,
                "-qc",
                "TRUNCATE llm_llmrequestlog CASCADE",
            ],
            check=True,
        )
        api_seconds = post_all(f"http://127.0.0.1:{port}/api/ingest/", bodies, headers, args.clients)
        raw_seconds = raw_insert(events, args.batch)

        spans = otlp_bodies(args.spans, args.batch)
        otlp_headers = {"Authorization": f"Bearer {secret}", "Content-Type": "application/x-protobuf"}
        otlp_seconds = post_all(f"http://127.0.0.1:{port}/v1/traces", spans, otlp_headers, args.clients)
    finally:
        server.terminate()
        server.wait(timeout=30)
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT source, count(*) FROM llm_llmrequestlog GROUP BY source ORDER BY source")
        counts = dict(cursor.fetchall())
    connection.close()
    if not args.keep:
        psql(f"DROP DATABASE IF EXISTS {args.database}")

    api_rate, raw_rate, otlp_rate = args.events / api_seconds, args.events / raw_seconds, args.spans / otlp_seconds
    print(f"rows stored: {counts}")
    print(
        f"POST /api/ingest/ : {args.events} events in {api_seconds:.2f} s = {api_rate:,.0f} events/s "
        f"(batches of {args.batch}, 1 KB prompt + 1 KB response, gunicorn 2 workers, {args.clients} clients)"
    )
    print(f"raw bulk insert   : {args.events} events in {raw_seconds:.2f} s = {raw_rate:,.0f} events/s")
    print(f"ratio API / raw   : {api_rate / raw_rate:.2f} (target >= 0.25; target >= 3,000 events/s)")
    print(
        f"POST /v1/traces   : {args.spans} spans in {otlp_seconds:.2f} s = {otlp_rate:,.0f} spans/s "
        f"(protobuf, {args.batch} spans per export)"
    )


if __name__ == "__main__":
    main()
