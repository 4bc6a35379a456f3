"""Logging overhead of groq_service.complete: median wall time vs a bare SDK call to the same fake server.

    .venv/bin/python bench/bench_service.py                       # SQLite (temporary file) and PostgreSQL
    .venv/bin/python bench/bench_service.py --database sqlite --calls 200
    .venv/bin/python bench/bench_service.py --in-transaction     # each call inside the caller's atomic()
    BENCH_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/mydb .venv/bin/python bench/bench_service.py

Both clients talk to the loopback FakeGroq (llm/tests/fakegroq.py) with keep-alive, so the difference is
our own work per call: building the row, the price lookup (one query) and the insert (one commit).
Calls alternate bare / service so drift (CPU frequency, other load) hits both sides alike.
Each database runs in its own process (Django settings are per process). The rows written are deleted.
"""

import argparse
import contextlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
DEFAULT_PG = "postgres://postgres@127.0.0.1:5432/wt_services"


def child(calls: int, warmup: int, in_transaction: bool) -> None:
    sys.path.insert(0, str(BASE_DIR))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "core.settings")
    import django

    django.setup()
    import groq
    from django.core.management import call_command
    from django.db import connection, transaction

    from llm.calls import spool
    from llm.models import LLMRequestLog
    from llm.sources.groq import groq_service
    from llm.tests.fakegroq import FakeGroq

    call_command("migrate", verbosity=0)
    with FakeGroq() as server:
        from django.conf import settings

        settings.GROQ_BASE_URL = server.url
        # Inside a transaction SQLite spools every row (its one writer is the caller): not in our logs/.
        settings.LLM_SPOOL_PATH = Path(tempfile.mkdtemp()) / "unsaved_calls.jsonl"
        caller = transaction.atomic if in_transaction else contextlib.nullcontext
        bare = groq.Groq(
            api_key=settings.GROQ_API_KEY,
            base_url=server.url,
            timeout=settings.GROQ_TIMEOUT,
            max_retries=settings.GROQ_MAX_RETRIES,
        )
        messages = [{"role": "user", "content": "Explain machine learning in simple terms. " * 10}]
        bare_ms, service_ms, ids = [], [], []
        for index in range(warmup + calls):
            t0 = time.perf_counter()
            bare.chat.completions.create(
                model=settings.GROQ_DEFAULT_MODEL, messages=messages, max_tokens=1024, temperature=0.7
            )
            t1 = time.perf_counter()
            with caller():
                result = groq_service.complete(messages=messages, user_id="bench")
            t2 = time.perf_counter()
            ids.append(result["request_id"])
            if index >= warmup:
                bare_ms.append((t1 - t0) * 1000)
                service_ms.append((t2 - t1) * 1000)
        spool.flush()
        stored = LLMRequestLog.objects.filter(request_id__in=ids[-100:]).count()
        LLMRequestLog.objects.filter(user_id="bench", request_id__in=ids).delete()
    bare_median, service_median = statistics.median(bare_ms), statistics.median(service_ms)
    p95 = lambda xs: statistics.quantiles(xs, n=20)[-1]  # noqa: E731
    print(
        f"{connection.vendor:<10} {'in-transaction ' if in_transaction else ''}calls={calls:<5} "
        f"bare SDK median {bare_median:6.3f} ms (p95 {p95(bare_ms):6.3f})  "
        f"groq_service median {service_median:6.3f} ms (p95 {p95(service_ms):6.3f})  "
        f"overhead {service_median - bare_median:+6.3f} ms/call  ratio {service_median / bare_median:5.2f}x  "
        f"(last 100 rows stored: {stored})",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--warmup", type=int, default=50)
    parser.add_argument("--in-transaction", action="store_true", help="each call inside the caller's atomic()")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.calls, args.warmup, args.in_transaction)
        return
    env = {
        **os.environ,
        "DEBUG": "False",
        "DJANGO_SECRET_KEY": "bench-secret-key-not-for-production",
        "GROQ_API_KEY": "gsk_bench_fake_key",
        "LOG_LEVEL": "WARNING",
        "LLM_LOG_CAPTURE_TEXT": "True",
    }
    with tempfile.TemporaryDirectory() as tmp:
        targets = {
            "sqlite": f"sqlite:///{tmp}/bench.sqlite3",
            "postgres": os.environ.get("BENCH_POSTGRES_URL", DEFAULT_PG),
        }
        chosen = ["sqlite", "postgres"] if args.database == "both" else [args.database]
        for name in chosen:
            command = [sys.executable, __file__, "--child", "--calls", str(args.calls), "--warmup", str(args.warmup)]
            command += ["--in-transaction"] if args.in_transaction else []
            subprocess.run(command, env={**env, "DATABASE_URL": targets[name]}, cwd=BASE_DIR, check=True)


if __name__ == "__main__":
    main()
