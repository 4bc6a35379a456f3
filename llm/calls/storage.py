"""Fast writes and deletes of log rows in bulk, on SQLite and PostgreSQL alike.

Django's bulk_create caps SQLite at a few dozen rows per statement and its
delete() loads every row (texts included) to cascade; at a million calls both
matter, so bulk paths go through here.
"""

from collections.abc import Iterable, Sequence

from django.db import connections, router, transaction

from llm.models import LLMRequestLog, UserFeedback

_PG_PAGE = 1000


def _columns(model):
    return [f for f in model._meta.concrete_fields if not f.primary_key]


def bulk_insert(model, objs: Sequence, *, ignore_conflicts: bool = False, using: str | None = None) -> int:
    """Insert unsaved model instances in as few statements as the database allows.

    Returns how many rows were inserted; with ignore_conflicts, rows that would
    break a unique constraint (a request_id or span already stored) are skipped
    and not counted. Instances do not get their primary keys set.
    """
    if not objs:
        return 0
    using = using or router.db_for_write(model)
    connection = connections[using]
    fields = _columns(model)
    table = connection.ops.quote_name(model._meta.db_table)
    names = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    conflict = " ON CONFLICT DO NOTHING" if ignore_conflicts else ""
    rows = [tuple(f.get_db_prep_save(f.pre_save(obj, add=True), connection) for f in fields) for obj in objs]
    with transaction.atomic(using=using), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            return _pg_insert_pages(cursor, f"INSERT INTO {table} ({names}) VALUES ", f"{conflict} RETURNING 1", rows)
        placeholders = ", ".join(["%s"] * len(fields))
        sql = f"INSERT INTO {table} ({names}) VALUES ({placeholders}){conflict}"
        # One prepared statement reused for every row: SQLite's fastest path.
        cursor.executemany(sql, rows)
        return cursor.rowcount


def _pg_insert_pages(cursor, head: str, tail: str, rows: list[tuple]) -> int:
    """Multi-row INSERTs of _PG_PAGE rows, as psycopg2's execute_values builds them.

    The values are bound by psycopg2 (mogrify) and the statement then goes through
    Django's cursor, so execute wrappers, query logging and query counts see it.
    """
    raw = cursor.cursor
    template = "(" + ", ".join(["%s"] * len(rows[0])) + ")"
    inserted = 0
    for start in range(0, len(rows), _PG_PAGE):
        values = b", ".join(raw.mogrify(template, row) for row in rows[start : start + _PG_PAGE])
        # No params: Django passes the SQL through untouched, so a "%" inside values is safe
        # (Django sets client_encoding to UTF8, hence the plain decode).
        cursor.execute(head + values.decode() + tail)
        inserted += len(cursor.fetchall())
    return inserted


def delete_logs(queryset, *, chunk_size: int = 5000) -> int:
    """Delete the calls of `queryset` and their feedback in chunks; returns calls deleted.

    Never loads the rows themselves (only primary keys), so it is safe on tables
    with millions of text-heavy rows, and each chunk is its own short transaction.
    """
    deleted = 0
    ids_query = queryset.order_by().values_list("pk", flat=True)
    while True:
        ids = list(ids_query[:chunk_size])
        if not ids:
            return deleted
        with transaction.atomic(using=queryset.db):
            UserFeedback.objects.using(queryset.db).filter(request_id__in=ids).delete()
            # _raw_delete: one DELETE ... WHERE id IN (...), no collector, no row loading;
            # the only dependent rows (feedback) were removed just above.
            deleted += LLMRequestLog.objects.using(queryset.db).filter(pk__in=ids)._raw_delete(queryset.db)


def iter_chunks(items: Iterable, size: int):
    batch = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch
