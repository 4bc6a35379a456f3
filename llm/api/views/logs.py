"""GET /api/logs/, /api/logs/errors/ and /api/logs/<request_id>/."""

import uuid

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework.exceptions import NotFound
from rest_framework.response import Response
from rest_framework.views import APIView

from llm.analytics.filters import filter_logs, parse_filters
from llm.analytics.listings import log_list_queryset
from llm.api.pagination import CappedCountPagination
from llm.api.serializers.errors import READ_ERRORS, error_responses
from llm.api.serializers.logs import LogDetailSerializer, LogListSerializer
from llm.api.serializers.pages import capped_page
from llm.api.views.metrics import LOG_PARAMETERS
from llm.models import LLMRequestLog

PAGE_PARAMETERS = [
    OpenApiParameter("page", OpenApiTypes.INT, OpenApiParameter.QUERY),
    OpenApiParameter("page_size", OpenApiTypes.INT, OpenApiParameter.QUERY, description="1 to 500, default 50."),
]


class LogListView(APIView):
    errors_only = False

    # The page envelope is not a list to drf-spectacular, which would name the operation ..._retrieve.
    @extend_schema(
        operation_id="api_logs_list",
        parameters=LOG_PARAMETERS + PAGE_PARAMETERS,
        responses={
            200: capped_page(LogListSerializer, name="PaginatedLogList"),
            **error_responses(400, *READ_ERRORS),
        },
    )
    def get(self, request):
        filters = parse_filters(params=request.query_params)
        queryset = log_list_queryset(filters=filters, errors_only=self.errors_only)
        count_queryset = filter_logs(queryset=LLMRequestLog.objects.all(), filters=filters)
        if self.errors_only:
            count_queryset = count_queryset.filter(status=LLMRequestLog.Status.ERROR)
        paginator = CappedCountPagination()
        rows = paginator.paginate(queryset=queryset, count_queryset=count_queryset, request=request)
        return paginator.response(LogListSerializer(rows, many=True).data)


@extend_schema_view(get=extend_schema(operation_id="api_logs_errors_list"))
class ErrorLogListView(LogListView):
    errors_only = True


class LogDetailView(APIView):
    @extend_schema(responses={200: LogDetailSerializer, **error_responses(404, *READ_ERRORS)})
    def get(self, request, request_id: str):
        try:
            parsed = uuid.UUID(request_id)
        except ValueError:
            raise NotFound("No call with this request_id.") from None
        log = LLMRequestLog.objects.filter(request_id=parsed).prefetch_related("feedback").first()
        if log is None:
            raise NotFound("No call with this request_id.")
        return Response(LogDetailSerializer(log).data)
