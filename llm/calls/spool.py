"""Calls whose row could not be written: one JSON line each at settings.LLM_SPOOL_PATH, written later.

The caller of groq_service always gets its answer; when the database refuses the row (down, locked,
disk full) the record lands here instead, and `flush()` (the `flush_spool` command, the next successful
write, `check_alerts`) moves it into the database exactly once: inserts skip request_ids already stored.

Concurrency: appends and the hand-over to a flush hold one file lock (`<spool>.lock`), so no line is
written into a file a flush has already read. A flush works on `<spool>.flushing`, under a second lock
that makes a concurrent flush return at once; a flush that crashed leaves that file behind and the next
flush finishes it (re-inserting is harmless, inserts ignore request_ids already stored).

A flush may stop after `limit` records (the automatic one does, so one caller never pays for a whole
outage): `<spool>.flushing.offset` then holds the byte offset of the first record not yet written, and
the next flush resumes there. The offset is written after the insert and removed before the file it
points into, so a crash can only make a flush re-read records, never skip one.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.utils import timezone

from llm.calls.record import price_rows
from llm.calls.storage import bulk_insert
from llm.models import LLMRequestLog

try:
    import fcntl
except ImportError:  # pragma: no cover - not on Linux; single-process use only
    fcntl = None

logger = logging.getLogger("llm.calls.spool")

_FIELDS = [f for f in LLMRequestLog._meta.concrete_fields if not f.primary_key]
_last_auto_flush = 0.0
# Records one automatic flush writes at most (a few tens of ms); flush_spool and check_alerts write all.
AUTO_FLUSH_LIMIT = 200


@dataclass(frozen=True)
class FlushResult:
    written: int  # rows inserted now
    duplicates: int  # records whose request_id was already stored (nothing written)
    remaining: int  # records still in the spool (could not be written, or another flush was running)
    busy: bool = False  # another flush held the spool: it is writing `remaining` now, nothing failed


def _path() -> Path:
    return Path(settings.LLM_SPOOL_PATH)


def _sibling(suffix: str) -> Path:
    path = _path()
    return path.with_name(path.name + suffix)


@contextlib.contextmanager
def _locked(suffix: str, *, blocking: bool = True):
    """Hold an exclusive lock on `<spool><suffix>`; yields False when non-blocking and already held."""
    lock_path = _sibling(suffix)
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "a") as handle:
        if fcntl is None:
            yield True
            return
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def record_of(row: LLMRequestLog, *, reason: str = "") -> dict:
    """The JSON-ready spool record of an unsaved row."""
    fields = {f.attname: f.value_from_object(row) for f in _FIELDS}
    return {"spooled_at": timezone.now().isoformat(), "reason": reason, "fields": fields}


def row_of(record: dict) -> LLMRequestLog:
    """The unsaved row a spool record describes; raises (KeyError, ValidationError, ...) when malformed."""
    values = record["fields"]
    return LLMRequestLog(**{f.attname: f.to_python(values[f.attname]) for f in _FIELDS if f.attname in values})


def append(*, row: LLMRequestLog, reason: str = "") -> None:
    """Append one unsaved row to the spool; raises OSError when the file cannot be written."""
    line = json.dumps(record_of(row, reason=reason), cls=DjangoJSONEncoder, ensure_ascii=False) + "\n"
    with _locked(".lock"):
        with open(_path(), "a", encoding="utf-8") as spool:
            spool.write(line)
            spool.flush()
            os.fsync(spool.fileno())


def _count_lines_from(path: Path, offset: int) -> int:
    try:
        with open(path, "rb") as handle:
            handle.seek(offset)
            return sum(1 for line in handle if line.strip())
    except FileNotFoundError:
        return 0


def _read_offset() -> int:
    """Where the unwritten records of `.flushing` start; 0 (re-read everything) when unknown."""
    try:
        return max(int(_sibling(".flushing.offset").read_text().strip() or 0), 0)
    except (FileNotFoundError, ValueError):
        return 0


def _write_offset(offset: int) -> None:
    target = _sibling(".flushing.offset")
    temporary = _sibling(".flushing.offset.tmp")
    temporary.write_text(str(offset))
    os.replace(temporary, target)


def _drop_offset() -> None:
    _sibling(".flushing.offset").unlink(missing_ok=True)


def pending_count() -> int:
    """How many calls wait in the spool (0 when there is no spool file). Cheap: no database access."""
    return _count_lines_from(_path(), 0) + _count_lines_from(_sibling(".flushing"), _read_offset())


def _take_spool(flushing: Path) -> None:
    """Move the spool's lines into the `.flushing` file, so new appends start a fresh spool."""
    with _locked(".lock"):
        spool = _path()
        if not spool.exists():
            return
        if not flushing.exists():
            _drop_offset()  # an offset left by a crash would skip records of the new file
            os.replace(spool, flushing)
            return
        with open(flushing, "ab") as target, open(spool, "rb") as source:
            target.write(source.read())
        spool.unlink()


def _give_back(lines: list[str]) -> None:
    if not lines:
        return
    with _locked(".lock"), open(_path(), "a", encoding="utf-8") as spool:
        spool.writelines(line if line.endswith("\n") else line + "\n" for line in lines)


def flush(*, limit: int | None = None, using: str | None = None) -> FlushResult:
    """Write spooled calls to the database once; keep in the spool the ones that still fail.

    At most `limit` records when given (the rest stay for the next flush); through the connection
    alias `using` when given. Safe to run twice at once (the second returns busy=True, written=0
    and the pending count as remaining).
    """
    with _locked(".flush.lock", blocking=False) as acquired:
        if not acquired:
            return FlushResult(written=0, duplicates=0, remaining=pending_count(), busy=True)
        flushing = _sibling(".flushing")
        _take_spool(flushing)
        if not flushing.exists():
            return FlushResult(written=0, duplicates=0, remaining=0)
        lines, end, finished = _read_batch(flushing, _read_offset(), limit)
        written, duplicates, failed = _write_lines(lines, using=using)
        _give_back(failed)
        if finished:
            _drop_offset()
            flushing.unlink()
        else:
            _write_offset(end)
    if written or duplicates:
        logger.info("Spool flushed: %d written, %d already stored, %d failed", written, duplicates, len(failed))
    return FlushResult(written=written, duplicates=duplicates, remaining=pending_count())


def _read_batch(path: Path, offset: int, limit: int | None) -> tuple[list[str], int, bool]:
    """(up to `limit` records from byte `offset`, the offset after them, whether the file is done)."""
    lines: list[str] = []
    with open(path, "rb") as handle:
        handle.seek(offset)
        while limit is None or len(lines) < limit:
            raw = handle.readline()
            if not raw:
                return lines, handle.tell(), True
            if raw.strip():
                # A damaged byte must not stop the flush; the line is kept (as text) if it cannot be read.
                lines.append(raw.decode("utf-8", errors="replace"))
        end = handle.tell()
        finished = not any(line.strip() for line in iter(handle.readline, b""))
        return lines, end, finished


def _parse(lines: list[str]) -> tuple[list[tuple[str, LLMRequestLog]], list[str]]:
    parsed, bad = [], []
    for line in lines:
        try:
            parsed.append((line, row_of(json.loads(line))))
        except Exception:  # noqa: BLE001 - a damaged line is kept, never dropped
            logger.warning("Spool line cannot be read and stays in the spool: %.200s", line)
            bad.append(line)
    return parsed, bad


def _write_lines(lines: list[str], *, using: str | None = None) -> tuple[int, int, list[str]]:
    """(inserted, already stored, lines that could not be written, in their original order)."""
    inserted, duplicates, failed = _insert_lines(lines, using=using)
    failed_ids = {id(line) for line in failed}
    return inserted, duplicates, [line for line in lines if id(line) in failed_ids]


def _insert_lines(lines: list[str], *, using: str | None = None) -> tuple[int, int, list[str]]:
    parsed, failed = _parse(lines)
    if not parsed:
        return 0, 0, failed
    rows = [row for _, row in parsed]
    try:
        # Rows spooled while the database was down could not look their price up; do it now.
        price_rows(rows)
        inserted = bulk_insert(LLMRequestLog, rows, ignore_conflicts=True, using=using)
        return inserted, len(rows) - inserted, failed
    except Exception:  # noqa: BLE001 - find which records fail, one at a time
        logger.warning("Spool batch insert failed; retrying record by record", exc_info=True)
    inserted = attempted = 0
    for line, row in parsed:
        try:
            inserted += bulk_insert(LLMRequestLog, [row], ignore_conflicts=True, using=using)
            attempted += 1
        except Exception as exc:  # noqa: BLE001 - the record stays in the spool
            logger.warning("Spooled call %s still cannot be written: %s", row.request_id, exc)
            failed.append(line)
    return inserted, attempted - inserted, failed


def flush_if_pending(*, using: str | None = None, min_interval: float = 30.0) -> FlushResult | None:
    """After a successful write through `using`: flush when a spool exists, at most once per
    `min_interval` seconds and at most AUTO_FLUSH_LIMIT records, so the caller waits little.

    `using` must not be a connection inside the caller's transaction (a rollback would take the
    flushed records with it, after they left the spool). Returns None when nothing was attempted.
    Never raises: the caller's call already succeeded.
    """
    global _last_auto_flush
    if not _path().exists() and not _sibling(".flushing").exists():
        return None
    now = time.monotonic()
    if now - _last_auto_flush < min_interval:
        return None
    _last_auto_flush = now
    try:
        return flush(limit=AUTO_FLUSH_LIMIT, using=using)
    except Exception:  # noqa: BLE001
        logger.exception("Automatic spool flush failed; run `manage.py flush_spool`")
        return None
