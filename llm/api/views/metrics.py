"""GET /api/metrics/...: parse the shared filters, call one llm.analytics.metrics function, return its figures."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from llm.analytics import metrics
from llm.analytics.filters import GROUP_BY_CHOICES, ORDERING_FIELDS, parse_filters
from llm.api.serializers import metrics as shapes
from llm.api.serializers.errors import READ_ERRORS, error_responses
from llm.models import ErrorType, LLMRequestLog


def query_parameter(name, kind=OpenApiTypes.STR, description="", enum=None):
    return OpenApiParameter(name, kind, OpenApiParameter.QUERY, description=description, enum=enum)


FILTER_PARAMETERS = [
    query_parameter("start_date", description="ISO 8601 date or datetime (naive = UTC); inclusive."),
    query_parameter(
        "end_date", description="ISO 8601 date (whole day) or datetime (inclusive); not before start_date."
    ),
    query_parameter("model", description="Exact model name."),
    query_parameter("status", enum=LLMRequestLog.Status.values),
    query_parameter("user_id", description="Exact user id."),
]
GROUP_BY_PARAMETER = query_parameter(
    "group_by", enum=list(GROUP_BY_CHOICES), description="Time bucket (UTC); at most 2,000 buckets in the range."
)
LOG_PARAMETERS = [
    *FILTER_PARAMETERS,
    query_parameter("session_id"),
    query_parameter("error_type", enum=ErrorType.values),
    query_parameter("search", description="Substring of the prompt or the response (case-insensitive)."),
    query_parameter("min_latency_ms", OpenApiTypes.NUMBER),
    query_parameter("ordering", enum=[p + f for f in ORDERING_FIELDS for p in ("", "-")]),
]


class _MetricsView(APIView):
    """One metrics endpoint: `figure` is the llm.analytics.metrics function that answers it."""

    figure = None

    def get(self, request):
        filters = parse_filters(params=request.query_params)
        return Response(type(self).figure(filters=filters))


def _metrics_view(name: str, figure, shape, summary: str, group_by: bool):
    parameters = FILTER_PARAMETERS + ([GROUP_BY_PARAMETER] if group_by else [])

    # A function per view: extend_schema annotates the function object itself.
    @extend_schema(
        summary=summary,
        parameters=parameters,
        responses={200: shape, **error_responses(400, *READ_ERRORS)},
        operation_id=name,
    )
    def get(self, request):
        return _MetricsView.get(self, request)

    return type(name, (_MetricsView,), {"figure": staticmethod(figure), "get": get})


OverviewView = _metrics_view("metrics_overview", metrics.overview, shapes.OverviewSerializer, "Headline figures", False)
TokenUsageView = _metrics_view(
    "metrics_token_usage", metrics.token_usage, shapes.TokenUsageSerializer, "Tokens and cost per time bucket", True
)
LatencyView = _metrics_view(
    "metrics_latency", metrics.latency, shapes.LatencySerializer, "Latency per model (and per bucket)", True
)
ErrorsView = _metrics_view("metrics_errors", metrics.errors, shapes.ErrorsSerializer, "Error breakdown", False)
ModelUsageView = _metrics_view(
    "metrics_model_usage", metrics.model_usage, shapes.ModelUsageSerializer, "Usage per model", False
)
DailyStatsView = _metrics_view(
    "metrics_daily_stats", metrics.daily_stats, shapes.DailyStatsSerializer, "One row per UTC day", False
)
