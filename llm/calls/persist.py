"""Writing a built row: to the database when it takes it, else to the spool; never raising.

The row never joins the caller's transaction: the call happened (and was paid for) whether or not
the caller's work commits (see _save_beside_callers_transaction).
"""

import logging

from django.conf import settings
from django.db import connections, router, transaction
from django.db.utils import ConnectionDoesNotExist

from llm.calls import spool
from llm.calls.storage import bulk_insert
from llm.models import LLMRequestLog

logger = logging.getLogger(__name__)


def save_row(row: LLMRequestLog) -> bool:
    """Insert the row; when the database refuses, spool it. True when it reached the database. Never raises.

    The row never joins the caller's transaction: the call happened (and was paid for) whether or not
    the caller's work commits. See _save_beside_callers_transaction.
    """
    using = router.db_for_write(LLMRequestLog)
    connection = connections[using]
    if _in_callers_transaction(connection):
        return _save_beside_callers_transaction(row, using)
    try:
        _insert(row, using)
    except Exception as exc:  # noqa: BLE001 - the caller's answer matters more than our row
        _spool(row, exc)
        _drop_dead_connection(connection)
        return False
    spool.flush_if_pending(using=using)
    return True


def _in_callers_transaction(connection) -> bool:
    """Inside an atomic block the caller opened. The block Django's TestCase wraps each test in does not
    count (Django's own rule for atomic(durable=True)): it stands for autocommit and is rolled back by design."""
    blocks = connection.atomic_blocks
    return connection.in_atomic_block and bool(blocks) and not getattr(blocks[-1], "_from_testcase", False)


def _save_beside_callers_transaction(row: LLMRequestLog, using: str) -> bool:
    """Write the row so that a rollback of the caller's transaction cannot take it away.

    PostgreSQL: through a second connection of this thread (log_alias), which commits on its own at once;
    the spool is flushed through it too. SQLite allows one writer, and with transaction_mode IMMEDIATE
    (core/settings.py) the caller's open transaction is that writer: a second connection could only
    wait out the busy timeout and fail. So on SQLite the row goes straight to the spool (one fsynced
    line), written by the next call made outside a transaction, by flush_spool or by check_alerts.
    """
    if connections[using].vendor == "sqlite":
        try:
            spool.append(row=row, reason="inside the caller's transaction (SQLite has one writer)")
        except Exception:  # noqa: BLE001 - last resort: the application log keeps the record
            logger.critical("Could not spool LLM call %s; record: %r", row.request_id, spool.record_of(row))
        return False
    alias = log_alias(using)
    try:
        _insert(row, alias)
    except Exception as exc:  # noqa: BLE001 - the caller's answer matters more than our row
        _spool(row, exc)
        connections[alias].close()  # reconnects on the next call; a dead connection must not stay
        return False
    spool.flush_if_pending(using=alias)
    return True


def log_alias(using: str) -> str:
    """The alias of this thread's second connection to the database `using`, added to `connections` at
    runtime (not in settings.DATABASES, so no test database, router or request cycle knows it).

    Kept open for reuse (a connect costs more than the insert); close_log_connections closes it.
    """
    alias = f"{using}__llm_log"
    try:
        connections[alias]
    except ConnectionDoesNotExist:
        source = connections[using]
        connections[alias] = type(source)(dict(source.settings_dict), alias)
    return alias


def close_log_connections() -> None:
    """Close this thread's second connections (log_alias); the next call inside a transaction reopens one."""
    for using in connections:
        try:
            connections[f"{using}__llm_log"].close()
        except ConnectionDoesNotExist:
            continue


def _insert(row: LLMRequestLog, using: str) -> None:
    connection = connections[using]
    # In a transaction (a test's), atomic() is a savepoint, so a refused insert cannot poison it.
    nested = connection.in_atomic_block
    with transaction.atomic(using=using):
        if connection.vendor == "postgresql" and not nested and not settings.LLM_LOG_SYNC_COMMIT:
            # The commit would otherwise wait for a WAL flush (~6 ms on a plain disk, most of our
            # overhead). Only this transaction is affected; see LLM_LOG_SYNC_COMMIT.
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL synchronous_commit TO OFF")
        row.save(force_insert=True, using=using)


def _spool(row: LLMRequestLog, exc: Exception) -> None:
    logger.error("Could not save LLM call %s (%s: %s); spooling it", row.request_id, type(exc).__name__, exc)
    try:
        spool.append(row=row, reason=f"{type(exc).__name__}: {exc}")
    except Exception:  # noqa: BLE001 - last resort: the application log keeps the record
        logger.critical("Could not spool LLM call %s either; record: %r", row.request_id, spool.record_of(row))


def _drop_dead_connection(connection) -> None:
    """Outside a request nothing else drops a broken connection: a worker process would spool forever."""
    if connection.in_atomic_block:
        return
    try:
        connection.close_if_unusable_or_obsolete()
    except Exception:  # noqa: BLE001
        logger.warning("Could not close the broken database connection", exc_info=True)


def insert_rows(rows: list[LLMRequestLog]) -> int:
    """Insert a batch of built rows, skipping request_ids already stored; returns how many were inserted.

    Raises when the database refuses the batch: a batch comes from a sender that still holds it and
    retries (ingest answers 503), so nothing is spooled.
    """
    # ignore_conflicts: a concurrent request with the same ids must not fail this batch.
    return bulk_insert(LLMRequestLog, rows, ignore_conflicts=True)
