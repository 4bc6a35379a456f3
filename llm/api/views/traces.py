"""GET /api/traces/ and /api/traces/<trace_id>/."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework.exceptions import NotFound
from rest_framework.response import Response
from rest_framework.views import APIView

from llm.analytics.filters import parse_filters
from llm.analytics.traces import (
    TRACE_ORDERING,
    complete_trace_rows,
    parse_min_duration,
    parse_trace_ordering,
    trace_detail,
    trace_list_queryset,
)
from llm.api.pagination import CappedCountPagination
from llm.api.serializers.errors import READ_ERRORS, error_responses
from llm.api.serializers.pages import capped_page
from llm.api.serializers.traces import TraceDetailSerializer, TraceListSerializer
from llm.api.views.logs import PAGE_PARAMETERS
from llm.api.views.metrics import FILTER_PARAMETERS, query_parameter

TRACE_PARAMETERS = [
    *FILTER_PARAMETERS,
    query_parameter("session_id", description="Exact session id."),
    query_parameter("min_duration_ms", OpenApiTypes.NUMBER),
    query_parameter("ordering", enum=[p + f for f in TRACE_ORDERING for p in ("", "-")]),
]
# Read by the trace functions, not by the shared parser (whose ordering fields are the logs list's).
_OWN_PARAMETERS = ("ordering", "min_duration_ms")


class TracePagination(CappedCountPagination):
    @staticmethod
    def _rows(queryset, offset: int, limit: int) -> list:
        # Grouped rows have no primary key to page by: always one query with OFFSET.
        return list(queryset[offset : offset + limit])


class TraceListView(APIView):
    @extend_schema(
        operation_id="api_traces_list",
        parameters=TRACE_PARAMETERS + PAGE_PARAMETERS,
        responses={
            200: capped_page(TraceListSerializer, name="PaginatedTraceList"),
            **error_responses(400, *READ_ERRORS),
        },
    )
    def get(self, request):
        params = request.query_params
        filters = parse_filters(params={k: v for k, v in params.items() if k not in _OWN_PARAMETERS})
        queryset = trace_list_queryset(
            filters=filters,
            ordering=parse_trace_ordering(params=params),
            min_duration_ms=parse_min_duration(params=params),
        )
        paginator = TracePagination()
        rows = paginator.paginate(queryset=queryset, count_queryset=queryset, request=request)
        return paginator.response(TraceListSerializer(complete_trace_rows(rows), many=True).data)


class TraceDetailView(APIView):
    @extend_schema(responses={200: TraceDetailSerializer, **error_responses(404, *READ_ERRORS)})
    def get(self, request, trace_id: str):
        trace = trace_detail(trace_id=trace_id.lower())
        if trace is None:
            raise NotFound("No trace with this trace_id.")
        return Response(TraceDetailSerializer(trace).data)
