"""Nothing lost: a row the database refuses is spooled, and flush() writes it exactly once."""

import contextlib
import json
import logging
import threading
import uuid
from decimal import Decimal

import pytest
from django.db import OperationalError, connection, transaction
from django.utils import timezone

from llm.calls import spool
from llm.models import LLMRequestLog
from llm.sources.groq import LLMServiceError, groq_service

pytestmark = pytest.mark.django_db

LOG_TABLE = LLMRequestLog._meta.db_table


@contextlib.contextmanager
def database_refuses(*, everything: bool = False):
    """The database layer raises on inserts into the log table (or on every statement), as a locked or
    unreachable database does. Injected with Django's execute_wrapper: our code is not patched."""

    def refuse(execute, sql, params, many, context):
        if everything or (sql.lstrip().upper().startswith("INSERT") and LOG_TABLE in sql):
            raise OperationalError("database is locked")
        return execute(sql, params, many, context)

    with connection.execute_wrapper(refuse):
        yield


def spooled_records(path):
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def waiting_request_ids(path):
    """request_ids still in the spool, whether in the spool file or in the file a flush works on."""
    files = [path, path.with_name(path.name + ".flushing")]
    return [r["fields"]["request_id"] for f in files if f.exists() for r in spooled_records(f)]


def stored_request_ids():
    return [str(r) for r in LLMRequestLog.objects.values_list("request_id", flat=True)]


def test_it_answers_and_spools_when_the_database_refuses_the_row(fake_groq, _isolated_spool, caplog):
    fake_groq.reply_completion("still answered", prompt_tokens=11, completion_tokens=4)

    with database_refuses(), caplog.at_level(logging.ERROR, logger="llm.sources.groq"):
        result = groq_service.complete(prompt="Hi", user_id="u-1")

    assert result["response"] == "still answered"
    assert LLMRequestLog.objects.count() == 0
    assert spool.pending_count() == 1
    (record,) = spooled_records(_isolated_spool)
    assert record["fields"]["request_id"] == result["request_id"]
    assert record["fields"]["prompt_tokens"] == 11 and record["fields"]["user_id"] == "u-1"
    assert record["reason"] == "OperationalError: database is locked"
    assert f"Could not save LLM call {result['request_id']}" in caplog.text


def test_it_writes_spooled_calls_exactly_once_with_all_their_fields(fake_groq, settings):
    settings.GROQ_MAX_RETRIES = 0
    fake_groq.reply_completion("first", prompt_tokens=11, completion_tokens=4, cached_tokens=3, groq_id="req_1")
    fake_groq.reply_error(429, "Rate limit reached", code="rate_limit_exceeded")
    with database_refuses():
        first = groq_service.complete(prompt="Hi", metadata={"k": "v"})
        with pytest.raises(LLMServiceError) as caught:
            groq_service.complete(prompt="Again")
    assert spool.pending_count() == 2

    result = spool.flush()

    assert (result.written, result.duplicates, result.remaining) == (2, 0, 0)
    assert spool.pending_count() == 0
    saved = LLMRequestLog.objects.get(request_id=first["request_id"])
    assert (saved.prompt_tokens, saved.completion_tokens, saved.cached_prompt_tokens) == (11, 4, 3)
    assert saved.provider_request_id == "req_1" and saved.response_text == "first"
    assert saved.metadata["app"] == {"k": "v"} and saved.source == "sdk"
    assert saved.cost_estimate == first["cost_estimate"] is not None
    error_row = LLMRequestLog.objects.get(request_id=caught.value.request_id)
    assert (error_row.status, error_row.error_type, error_row.http_status) == ("error", "rate_limit", 429)

    again = spool.flush()
    assert (again.written, again.duplicates, again.remaining) == (0, 0, 0)
    assert LLMRequestLog.objects.count() == 2


def test_it_skips_a_spooled_call_that_is_already_stored(fake_groq, _isolated_spool):
    with database_refuses():
        result = groq_service.complete(prompt="Hi")
    line = _isolated_spool.read_text()
    spool.flush()
    # As if a flush crashed after inserting but before clearing its file.
    _isolated_spool.write_text(line)

    again = spool.flush()

    assert (again.written, again.duplicates, again.remaining) == (0, 1, 0)
    assert LLMRequestLog.objects.filter(request_id=result["request_id"]).count() == 1


def test_it_prices_calls_spooled_while_the_database_was_down(fake_groq):
    fake_groq.reply_completion(prompt_tokens=1_000_000, completion_tokens=0)
    with database_refuses(everything=True):
        result = groq_service.complete(prompt="Hi", model="openai/gpt-oss-20b")
    assert result["cost_estimate"] is None  # the price could not be read either

    spool.flush()

    row = LLMRequestLog.objects.get(request_id=result["request_id"])
    assert row.cost_estimate == Decimal("0.075000")  # the seeded input price per million


def test_it_keeps_a_record_that_still_cannot_be_written(fake_groq, _isolated_spool):
    with database_refuses():
        good = groq_service.complete(prompt="Hi")
    bad = json.loads(_isolated_spool.read_text())
    bad["fields"]["request_id"] = str(uuid.uuid4())
    bad["fields"]["total_tokens"] = 999_999  # breaks total = prompt + completion
    with open(_isolated_spool, "a") as handle:
        handle.write(json.dumps(bad) + "\n")
        handle.write("{not json at all\n")

    result = spool.flush()

    assert (result.written, result.duplicates, result.remaining) == (1, 0, 2)
    assert LLMRequestLog.objects.filter(request_id=good["request_id"]).exists()
    kept = _isolated_spool.read_text().splitlines()
    assert len(kept) == 2 and json.loads(kept[0])["fields"]["total_tokens"] == 999_999
    assert kept[1] == "{not json at all"


def test_it_lets_only_one_flush_run_at_a_time(fake_groq):
    with database_refuses():
        groq_service.complete(prompt="Hi")
    with spool._locked(".flush.lock"):
        result = {}
        # flock is per open file: another thread opening the lock file competes like another process.
        worker = threading.Thread(target=lambda: result.setdefault("r", spool.flush()))
        worker.start()
        worker.join(10)

    assert (result["r"].written, result["r"].remaining) == (0, 1)
    assert LLMRequestLog.objects.count() == 0


def test_it_flushes_the_spool_after_the_next_successful_write(fake_groq, monkeypatch):
    monkeypatch.setattr(spool, "_last_auto_flush", 0.0)
    with database_refuses():
        spooled = groq_service.complete(prompt="lost?")

    later = groq_service.complete(prompt="back")

    stored = set(LLMRequestLog.objects.values_list("request_id", flat=True))
    assert {uuid.UUID(spooled["request_id"]), uuid.UUID(later["request_id"])} == stored
    assert spool.pending_count() == 0


@pytest.mark.django_db(transaction=True)
def test_it_keeps_every_call_when_the_callers_transaction_rolls_back(fake_groq, monkeypatch, _isolated_spool):
    monkeypatch.setattr(spool, "_last_auto_flush", 0.0)
    with database_refuses():
        spooled = [groq_service.complete(prompt=f"spooled {n}")["request_id"] for n in range(2)]
    assert spool.pending_count() == 2

    with contextlib.suppress(RuntimeError), transaction.atomic():
        own = groq_service.complete(prompt="inside the caller's transaction")["request_id"]
        raise RuntimeError("the caller fails after the call was made (and paid for)")

    # Each call exactly once: in the database, or still waiting in the spool.
    assert sorted(stored_request_ids() + waiting_request_ids(_isolated_spool)) == sorted(spooled + [own])
    if connection.vendor == "postgresql":  # written beside the caller's transaction, spool flushed there too
        assert sorted(stored_request_ids()) == sorted(spooled + [own])
    else:  # SQLite's one writer is the caller: everything waits in the spool
        assert sorted(waiting_request_ids(_isolated_spool)) == sorted(spooled + [own])
    spool.flush()
    assert sorted(stored_request_ids()) == sorted(spooled + [own])
    assert spool.pending_count() == 0


@pytest.mark.django_db(transaction=True)
def test_it_stores_a_call_once_when_the_callers_transaction_commits(fake_groq, _isolated_spool):
    with transaction.atomic():
        own = groq_service.complete(prompt="inside")["request_id"]
    later = groq_service.complete(prompt="outside")["request_id"]  # flushes what SQLite had to spool

    assert sorted(stored_request_ids()) == sorted([own, later])
    assert spool.pending_count() == 0


@pytest.mark.django_db(transaction=True)
def test_it_spools_a_call_the_second_connection_cannot_write(fake_groq, _isolated_spool):
    if connection.vendor != "postgresql":
        pytest.skip("SQLite never opens the second connection")
    from django.db import connections

    from llm.calls.persist import log_alias

    def refuse(execute, sql, params, many, context):
        raise OperationalError("server closed the connection unexpectedly")

    with transaction.atomic():
        side = connections[log_alias("default")]
        with side.execute_wrapper(refuse):
            own = groq_service.complete(prompt="inside")["request_id"]

    assert waiting_request_ids(_isolated_spool) == [own] and stored_request_ids() == []
    assert side.connection is None  # closed, reopened by the next call


def test_it_writes_a_bounded_batch_of_spooled_calls_per_automatic_flush(fake_groq, monkeypatch):
    monkeypatch.setattr(spool, "AUTO_FLUSH_LIMIT", 2)
    monkeypatch.setattr(spool, "_last_auto_flush", 0.0)
    with database_refuses():
        spooled = [groq_service.complete(prompt=f"outage {n}")["request_id"] for n in range(5)]

    groq_service.complete(prompt="back")
    assert (LLMRequestLog.objects.count(), spool.pending_count()) == (1 + 2, 3)
    with database_refuses():  # a new outage while a flush is half done
        spooled.append(groq_service.complete(prompt="again down")["request_id"])
    monkeypatch.setattr(spool, "_last_auto_flush", 0.0)
    groq_service.complete(prompt="back again")
    assert (LLMRequestLog.objects.count(), spool.pending_count()) == (2 + 4, 2)

    result = spool.flush()  # flush_spool and check_alerts: everything at once

    assert (result.written, result.duplicates, result.remaining) == (2, 0, 0)
    assert set(spooled) <= set(stored_request_ids()) and LLMRequestLog.objects.count() == 8


def test_it_counts_nothing_pending_without_a_spool_file():
    assert spool.pending_count() == 0
    assert spool.flush() == spool.FlushResult(written=0, duplicates=0, remaining=0)


def test_it_round_trips_a_row_through_a_record():
    row = LLMRequestLog(
        request_id=uuid.uuid4(),
        timestamp=timezone.now(),
        model_name="m",
        prompt_tokens=3,
        completion_tokens=2,
        total_tokens=5,
        cost_estimate=Decimal("0.000123"),
        metadata={"a": [1]},
        prompt_text="é",
        latency_ms=1.5,
    )
    copy = spool.row_of(json.loads(json.dumps(spool.record_of(row), default=str)))

    for field in ("request_id", "timestamp", "model_name", "total_tokens", "cost_estimate", "metadata", "prompt_text"):
        assert getattr(copy, field) == getattr(row, field)


@pytest.mark.django_db(transaction=True)
def test_it_survives_a_killed_postgresql_connection(fake_groq, monkeypatch):
    if connection.vendor != "postgresql":
        pytest.skip("terminates a PostgreSQL backend")
    import psycopg2

    groq_service.complete(prompt="before")
    backend_pid = connection.connection.get_backend_pid()
    params = connection.get_connection_params()
    admin = psycopg2.connect(**{k: v for k, v in params.items() if k in ("host", "port", "user", "dbname", "password")})
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(%s)", [backend_pid])
    admin.close()

    during = groq_service.complete(prompt="while the connection is dead")
    assert during["response"] and spool.pending_count() == 1
    monkeypatch.setattr(spool, "_last_auto_flush", 0.0)
    groq_service.complete(prompt="after")  # reconnects, saves, and flushes the spool

    assert spool.pending_count() == 0
    assert LLMRequestLog.objects.filter(request_id=during["request_id"]).exists()
    assert LLMRequestLog.objects.count() == 3
