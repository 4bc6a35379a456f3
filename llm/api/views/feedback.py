"""POST/GET /api/feedback/ and GET /api/feedback/analytics/."""

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from llm.analytics import listings, metrics
from llm.analytics.filters import parse_choice, parse_filters
from llm.api.pagination import CappedCountPagination
from llm.api.serializers.errors import READ_ERRORS, WRITE_ERRORS, error_responses
from llm.api.serializers.feedback import (
    FeedbackAnalyticsSerializer,
    FeedbackCreateSerializer,
    FeedbackSerializer,
)
from llm.api.serializers.pages import capped_page
from llm.api.views.logs import PAGE_PARAMETERS
from llm.api.views.metrics import FILTER_PARAMETERS, GROUP_BY_PARAMETER, query_parameter
from llm.models import UserFeedback

FEEDBACK_FILTERS = [p for p in FILTER_PARAMETERS if p.name != "status"]
RATING_PARAMETER = query_parameter("rating", enum=UserFeedback.Rating.values)


class FeedbackView(APIView):
    # The page envelope is not a list to drf-spectacular, which would name the operation ..._retrieve.
    @extend_schema(
        operation_id="api_feedback_list",
        parameters=FEEDBACK_FILTERS + [RATING_PARAMETER] + PAGE_PARAMETERS,
        responses={
            200: capped_page(FeedbackSerializer, name="PaginatedFeedbackList"),
            **error_responses(400, *READ_ERRORS),
        },
    )
    def get(self, request):
        filters = parse_filters(params=request.query_params)
        rating = parse_choice(params=request.query_params, name="rating", choices=UserFeedback.Rating.values)
        queryset = listings.feedback_queryset(filters=filters, rating=rating)
        paginator = CappedCountPagination()
        rows = paginator.paginate(
            queryset=queryset.select_related("request").only(
                "id",
                "rating",
                "comment",
                "created_at",
                "request__request_id",
                "request__model_name",
            ),
            count_queryset=queryset,
            request=request,
        )
        return paginator.response(FeedbackSerializer(rows, many=True).data)

    @extend_schema(
        request=FeedbackCreateSerializer, responses={201: FeedbackSerializer, **error_responses(*WRITE_ERRORS)}
    )
    def post(self, request):
        serializer = FeedbackCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        feedback = serializer.save()
        return Response(FeedbackSerializer(feedback).data, status=status.HTTP_201_CREATED)


class FeedbackAnalyticsView(APIView):
    @extend_schema(
        parameters=FEEDBACK_FILTERS + [GROUP_BY_PARAMETER],
        responses={
            200: FeedbackAnalyticsSerializer,
            **error_responses(400, *READ_ERRORS),
        },
    )
    def get(self, request):
        return Response(metrics.feedback_analytics(filters=parse_filters(params=request.query_params)))
