"""The CSV/JSON export's rows: every matching call, streamed, in plain values."""

import json
from collections.abc import Callable, Iterator
from datetime import UTC

from django.db import connections

from llm.analytics.filters import LogFilters, matching_logs
from llm.models import COST_PLACES

EXPORT_FIELDS = (
    "request_id",
    "timestamp",
    "model_name",
    "provider",
    "status",
    "error_type",
    "http_status",
    "prompt_tokens",
    "completion_tokens",
    "total_tokens",
    "cached_prompt_tokens",
    "latency_ms",
    "time_to_first_token_ms",
    "cost_estimate",
    "user_id",
    "session_id",
    "finish_reason",
    "temperature",
    "max_tokens",
    "source",
    "provider_request_id",
    "trace_id",
    "span_id",
    "parent_span_id",
    "metadata",
    "error_message",
    "prompt_text",
    "response_text",
)
# Columns of free text a client or a model wrote (CSV formula injection applies to these).
EXPORT_TEXT_FIELDS = (
    "model_name",
    "provider",
    "user_id",
    "session_id",
    "finish_reason",
    "provider_request_id",
    "trace_id",
    "span_id",
    "parent_span_id",
    "error_message",
    "prompt_text",
    "response_text",
)
EXPORT_CHUNK_ROWS = 2000


def _json_text(value) -> str:
    # Django has psycopg hand jsonb over as text; decode-free, unless a driver decoded it anyway.
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _export_fixers(vendor: str) -> list[tuple[int, Callable]]:
    """(column index, function) turning a raw database value into its export text.

    Django's per-row converters (UUID objects, parsed datetimes, decoded JSON, Decimals) cost as
    much as writing the CSV itself, so the export reads raw values and fixes only the columns
    whose raw form differs between the databases.
    """
    index = {name: i for i, name in enumerate(EXPORT_FIELDS)}

    def cost(value):
        # A Decimal (PostgreSQL) or a float/int (SQLite, which stores at most COST_PLACES places,
        # so fixed-point formatting gives back the stored digits).
        return f"{value:.{COST_PLACES}f}"

    if vendor == "postgresql":

        def iso(value):
            return value.astimezone(UTC).isoformat().replace("+00:00", "Z")

        return [
            (index["request_id"], str),
            (index["timestamp"], iso),
            (index["cost_estimate"], cost),
            (index["metadata"], _json_text),
        ]

    def sqlite_iso(value):
        # Django's sqlite3 converter hands back a naive datetime, in UTC.
        return value.isoformat() + "Z"

    def sqlite_uuid(value):
        # Stored as 32 hex digits without dashes.
        return f"{value[:8]}-{value[8:12]}-{value[12:16]}-{value[16:20]}-{value[20:]}"

    return [(index["request_id"], sqlite_uuid), (index["timestamp"], sqlite_iso), (index["cost_estimate"], cost)]


def export_rows(*, filters: LogFilters) -> Iterator[list]:
    """Every matching row as a list of EXPORT_FIELDS values, oldest first, streamed.

    Values are plain: request_id and timestamp (ISO 8601 UTC, "Z") as text, cost as text with
    6 places, metadata as JSON text, numbers as numbers, missing values as None. Reads through
    a server-side cursor on PostgreSQL (chunks on SQLite), so memory stays flat however many
    rows match.
    """
    queryset = matching_logs(filters=filters).order_by("timestamp", "id").values_list(*EXPORT_FIELDS)
    connection = connections[queryset.db]
    fixers = _export_fixers(connection.vendor)
    sql, params = queryset.query.sql_with_params()
    with connection.chunked_cursor() as cursor:
        cursor.execute(sql, params)
        while rows := cursor.fetchmany(EXPORT_CHUNK_ROWS):
            for raw in rows:
                row = list(raw)
                for position, fix in fixers:
                    if row[position] is not None:
                        row[position] = fix(row[position])
                yield row
