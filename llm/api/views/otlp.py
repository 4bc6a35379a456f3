"""POST /v1/traces (and /api/otel/v1/traces): OTLP/HTTP trace exports, sent with an ingest key."""

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import exceptions
from rest_framework.views import APIView

from llm.api.authentication import HasIngestKey, IngestKeyAuthentication
from llm.api.serializers.errors import error_responses
from llm.api.serializers.ingest import OtlpExportResponseSerializer
from llm.api.views.ingest import INGEST_ERRORS, media_type, request_body
from llm.sources.otlp import JSON, PROTOBUF, decode_request, encode_response, ingest_spans


class OtlpTracesView(APIView):
    authentication_classes = [IngestKeyAuthentication]
    permission_classes = [HasIngestKey]
    parser_classes = []  # the body is read by request_body (size cap, gzip), see views/ingest.py

    @extend_schema(
        request={PROTOBUF: bytes, JSON: dict},
        responses={
            (200, PROTOBUF): OpenApiResponse(OpenApiTypes.BINARY, description="ExportTraceServiceResponse, protobuf."),
            (200, JSON): OpenApiResponse(OtlpExportResponseSerializer, description="ExportTraceServiceResponse, JSON."),
            **error_responses(*INGEST_ERRORS, media_type="application/json"),
        },
    )
    def post(self, request):
        kind = media_type(request)
        if kind not in (PROTOBUF, JSON):
            raise exceptions.UnsupportedMediaType(request.content_type, f"Send OTLP traces as {PROTOBUF} or {JSON}.")
        export, rejected = decode_request(body=request_body(request), media_type=kind)
        report = ingest_spans(export=export, ingest_key=request.auth, rejected=rejected)
        response = HttpResponse(
            encode_response(rejected=report.rejected, message=report.error_message, media_type=kind),
            content_type=kind,
        )
        # Not part of OTLP (exporters ignore them): what became of the spans, for people debugging a setup.
        response["X-Spans-Stored"] = report.stored
        response["X-Spans-Duplicate"] = report.duplicates
        response["X-Spans-Skipped"] = report.skipped
        response["X-Spans-Rejected"] = report.rejected
        return response
