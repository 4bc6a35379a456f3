"""GET /api/export/csv/ and /api/export/json/: every matching row, streamed, texts included."""

import csv
import json

from django.http import StreamingHttpResponse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.renderers import JSONRenderer
from rest_framework.views import APIView

from llm.analytics.export import EXPORT_FIELDS, EXPORT_TEXT_FIELDS, export_rows
from llm.analytics.filters import parse_filters
from llm.api.serializers.errors import READ_ERRORS, error_responses
from llm.api.serializers.export import ExportRowSerializer
from llm.api.views.metrics import LOG_PARAMETERS

# Rows written per chunk sent to the client: few, large writes keep the export near the
# speed of a bare cursor loop.
ROWS_PER_CHUNK = 500
# A spreadsheet runs a cell starting with one of these as a formula (CSV injection, OWASP).
FORMULA_STARTS = frozenset("=+-@\t\r")
TEXT_POSITIONS = [EXPORT_FIELDS.index(name) for name in EXPORT_TEXT_FIELDS]
# The public names of the columns: the table's model_name is `model`. `model_name` follows at the
# end with the same value for one release (deprecated), so existing readers keep their column.
MODEL_POSITION = EXPORT_FIELDS.index("model_name")
EXPORT_COLUMNS = (*("model" if name == "model_name" else name for name in EXPORT_FIELDS), "model_name")


def _csv_chunks(rows):
    buffer = _Buffer()
    writer = csv.writer(buffer)
    writer.writerow(EXPORT_COLUMNS)
    batch = []
    for row in rows:
        for position in TEXT_POSITIONS:
            value = row[position]
            if value and value[0] in FORMULA_STARTS:
                row[position] = "'" + value
        row.append(row[MODEL_POSITION])
        batch.append(row)
        if len(batch) >= ROWS_PER_CHUNK:
            writer.writerows(batch)
            batch = []
            yield buffer.take()
    writer.writerows(batch)
    yield buffer.take()


class _Buffer:
    """csv.writer target that hands back what was written since the last take()."""

    def __init__(self):
        self.parts = []

    def write(self, text):
        self.parts.append(text)

    def take(self) -> str:
        text, self.parts = "".join(self.parts), []
        return text


COST_POSITION = EXPORT_FIELDS.index("cost_estimate")
METADATA_POSITION = EXPORT_FIELDS.index("metadata")


def _json_chunks(rows):
    yield "["
    separator, batch = "", []
    for row in rows:
        if row[COST_POSITION] is not None:
            row[COST_POSITION] = float(row[COST_POSITION])
        if row[METADATA_POSITION] is not None:
            row[METADATA_POSITION] = json.loads(row[METADATA_POSITION])
        row.append(row[MODEL_POSITION])
        batch.append(separator + json.dumps(dict(zip(EXPORT_COLUMNS, row, strict=True)), ensure_ascii=False))
        separator = ","
        if len(batch) >= ROWS_PER_CHUNK:
            yield "\n".join(batch)
            batch = []
    batch.append("]\n")
    yield "\n".join(batch)


def _download(chunks, *, extension: str, content_type: str) -> StreamingHttpResponse:
    response = StreamingHttpResponse(chunks, content_type=content_type)
    stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
    response["Content-Disposition"] = f'attachment; filename="llm-logs-{stamp}.{extension}"'
    return response


class CSVErrorRenderer(JSONRenderer):
    """Lets a client that asks for text/csv reach the view; errors still go out as JSON text."""

    media_type = "text/csv"
    format = "csv"


CSV_DESCRIPTION = (
    "A header row, then every matching call, oldest first. The columns are the fields of ExportRow, in order: "
    + ", ".join(EXPORT_COLUMNS)
    + ". Empty cells are nulls; a text cell that a spreadsheet would run as a "
    "formula starts with an apostrophe."
)


def _errors() -> dict:
    # Also sent, as the same JSON, to a client that accepts only text/csv (CSVErrorRenderer).
    return error_responses(400, *READ_ERRORS, media_type="application/json")


class ExportCSVView(APIView):
    renderer_classes = [JSONRenderer, CSVErrorRenderer]

    @extend_schema(
        parameters=LOG_PARAMETERS,
        responses={
            (200, "text/csv"): OpenApiResponse(OpenApiTypes.STR, description=CSV_DESCRIPTION),
            **_errors(),
        },
    )
    def get(self, request):
        filters = parse_filters(params=request.query_params)
        return _download(
            _csv_chunks(export_rows(filters=filters)), extension="csv", content_type="text/csv; charset=utf-8"
        )


class ExportJSONView(APIView):
    @extend_schema(
        parameters=LOG_PARAMETERS,
        responses={
            200: OpenApiResponse(ExportRowSerializer(many=True), description="Every matching call, oldest first."),
            **_errors(),
        },
    )
    def get(self, request):
        filters = parse_filters(params=request.query_params)
        return _download(_json_chunks(export_rows(filters=filters)), extension="json", content_type="application/json")
