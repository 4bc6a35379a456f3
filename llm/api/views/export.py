"""GET /api/export/csv/ and /api/export/json/: every matching row, streamed, texts included."""
import csv
import json

from django.http import StreamingHttpResponse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework.renderers import JSONRenderer
from rest_framework.views import APIView

from llm.analytics.filters import parse_filters
from llm.analytics.export import EXPORT_FIELDS, EXPORT_TEXT_FIELDS, export_rows
from llm.api.views.metrics import LOG_PARAMETERS

# Rows written per chunk sent to the client: few, large writes keep the export near the
# speed of a bare cursor loop.
ROWS_PER_CHUNK = 500
# A spreadsheet runs a cell starting with one of these as a formula (CSV injection, OWASP).
FORMULA_STARTS = frozenset("=+-@\t\r")
TEXT_POSITIONS = [EXPORT_FIELDS.index(name) for name in EXPORT_TEXT_FIELDS]


def _csv_chunks(rows):
    buffer = _Buffer()
    writer = csv.writer(buffer)
    writer.writerow(EXPORT_FIELDS)
    batch = []
    for row in rows:
        for position in TEXT_POSITIONS:
            value = row[position]
            if value and value[0] in FORMULA_STARTS:
                row[position] = "'" + value
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
        batch.append(separator + json.dumps(dict(zip(EXPORT_FIELDS, row, strict=True)), ensure_ascii=False))
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


class ExportCSVView(APIView):
    renderer_classes = [JSONRenderer, CSVErrorRenderer]

    @extend_schema(parameters=LOG_PARAMETERS,
                   responses={(200, "text/csv"): OpenApiTypes.STR, (400, "application/json"): OpenApiTypes.OBJECT})
    def get(self, request):
        filters = parse_filters(params=request.query_params)
        return _download(_csv_chunks(export_rows(filters=filters)), extension="csv",
                         content_type="text/csv; charset=utf-8")


class ExportJSONView(APIView):
    @extend_schema(parameters=LOG_PARAMETERS, responses={200: OpenApiTypes.OBJECT, 400: OpenApiTypes.OBJECT})
    def get(self, request):
        filters = parse_filters(params=request.query_params)
        return _download(_json_chunks(export_rows(filters=filters)), extension="json",
                         content_type="application/json")
