"""POST /api/ingest/: a batch of calls made by another application, sent with an ingest key."""

from django.conf import settings
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions
from rest_framework.response import Response
from rest_framework.views import APIView

from llm.api.authentication import HasIngestKey, IngestKeyAuthentication
from llm.api.serializers.errors import error_responses
from llm.api.serializers.ingest import IngestBatchSerializer, IngestResultSerializer
from llm.sources.ingest import batch_events, ingest_events, parse_json, read_body

# Key auth (no session, so no CSRF 403), body limits, and the database.
INGEST_ERRORS = (400, 401, 413, 415, 503)


def request_body(request) -> bytes:
    """The raw body of a DRF request, size-capped and gunzipped (see llm.sources.ingest.read_body)."""
    http = request._request
    return read_body(
        stream=http,
        content_length=http.META.get("CONTENT_LENGTH"),
        content_encoding=http.META.get("HTTP_CONTENT_ENCODING"),
        max_bytes=settings.INGEST_MAX_BODY_BYTES,
    )


def media_type(request) -> str:
    return request.content_type.split(";", 1)[0].strip().lower()


class IngestView(APIView):
    authentication_classes = [IngestKeyAuthentication]
    permission_classes = [HasIngestKey]
    # The body is read by read_body, never by DRF parsers (which would go through
    # HttpRequest.body and Django's 2.5 MB DATA_UPLOAD_MAX_MEMORY_SIZE).
    parser_classes = []

    @extend_schema(
        request={"application/json": IngestBatchSerializer},
        responses={200: IngestResultSerializer, **error_responses(*INGEST_ERRORS)},
        operation_id="ingest_batch",
    )
    def post(self, request):
        if media_type(request) != "application/json":
            raise exceptions.UnsupportedMediaType(request.content_type, "Send the batch as application/json.")
        events = batch_events(payload=parse_json(request_body(request)), max_events=settings.INGEST_MAX_EVENTS)
        report = ingest_events(events=events, ingest_key=request.auth)
        return Response(report.as_dict())
