"""Alert rules (CRUD, test notification, backtest preview) and triggered alerts (list, acknowledge)."""

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import generics
from rest_framework.exceptions import NotFound
from rest_framework.response import Response
from rest_framework.views import APIView

from llm import alerts
from llm.analytics.filters import parse_positive_int
from llm.api.exceptions import InvalidParameter
from llm.api.pagination import CappedPageNumberPagination
from llm.api.serializers.alerts import (
    AlertLogSerializer,
    AlertPreviewSerializer,
    AlertRuleSerializer,
    AlertTestResultSerializer,
)
from llm.api.serializers.errors import READ_ERRORS, WRITE_ERRORS, error_responses
from llm.models import AlertLog, AlertRule

MAX_PREVIEW_DAYS = 30


def _bool_param(request, name: str) -> bool | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return None
    choices = {"true": True, "1": True, "false": False, "0": False}
    if raw.lower() not in choices:
        raise InvalidParameter(name, "Must be true or false.")
    return choices[raw.lower()]


@extend_schema_view(
    get=extend_schema(responses={200: AlertRuleSerializer(many=True), **error_responses(400, *READ_ERRORS)}),
    post=extend_schema(responses={201: AlertRuleSerializer, **error_responses(*WRITE_ERRORS)}),
)
class AlertRuleListView(generics.ListCreateAPIView):
    serializer_class = AlertRuleSerializer
    pagination_class = CappedPageNumberPagination
    queryset = AlertRule.objects.order_by("name", "id")


@extend_schema_view(
    get=extend_schema(responses={200: AlertRuleSerializer, **error_responses(404, *READ_ERRORS)}),
    put=extend_schema(responses={200: AlertRuleSerializer, **error_responses(404, *WRITE_ERRORS)}),
    patch=extend_schema(responses={200: AlertRuleSerializer, **error_responses(404, *WRITE_ERRORS)}),
    delete=extend_schema(responses={204: None, **error_responses(401, 403, 404, 503)}),
)
class AlertRuleDetailView(generics.RetrieveUpdateDestroyAPIView):
    serializer_class = AlertRuleSerializer
    queryset = AlertRule.objects.all()


class AlertRuleTestView(APIView):
    """Send a test notification through the rule's email and webhook; no alert is recorded."""

    @extend_schema(request=None, responses={200: AlertTestResultSerializer, **error_responses(401, 403, 404, 503)})
    def post(self, request, pk: int):
        rule = get_object_or_404(AlertRule, pk=pk)
        delivery = alerts.send_test_notification(rule=rule)
        return Response(
            {
                "delivered": delivery.delivered,
                "notification_error": delivery.error,
                "email_recipients": alerts.recipients_for(rule) if rule.notify_email else [],
                "webhook_url": rule.webhook_url,
            }
        )


class AlertRulePreviewView(APIView):
    """How often the rule, as saved, would have fired over the past `days` days (1–30, default 7)."""

    @extend_schema(
        parameters=[OpenApiParameter("days", int, description="Days to look back, 1 to 30 (default 7).")],
        responses={200: AlertPreviewSerializer, **error_responses(400, 404, *READ_ERRORS)},
    )
    def get(self, request, pk: int):
        rule = get_object_or_404(AlertRule, pk=pk)
        days = parse_positive_int(params=request.query_params, name="days", default=7, maximum=MAX_PREVIEW_DAYS)
        return Response(alerts.backtest_rule(rule=rule, days=days))


@extend_schema(
    parameters=[
        OpenApiParameter("acknowledged", bool, description="true: acknowledged alerts only; false: the others."),
        OpenApiParameter("resolved", bool, description="false: alerts still open (their rule is firing)."),
        OpenApiParameter("rule", int, description="Only the alerts of this rule."),
    ],
    responses={200: AlertLogSerializer(many=True), **error_responses(400, *READ_ERRORS)},
)
class AlertLogListView(generics.ListAPIView):
    """Triggered alerts, newest first; `acknowledged`, `resolved` (true|false) and `rule=<id>` filter them."""

    serializer_class = AlertLogSerializer
    pagination_class = CappedPageNumberPagination

    def get_queryset(self):
        logs = AlertLog.objects.select_related("alert_rule", "acknowledged_by").order_by("-triggered_at", "-id")
        acknowledged = _bool_param(self.request, "acknowledged")
        if acknowledged is not None:
            logs = logs.filter(acknowledged=acknowledged)
        resolved = _bool_param(self.request, "resolved")
        if resolved is not None:
            logs = logs.filter(resolved_at__isnull=not resolved)
        rule = parse_positive_int(params=self.request.query_params, name="rule")
        if rule is not None:
            logs = logs.filter(alert_rule_id=rule)
        return logs


class AlertAcknowledgeView(APIView):
    """Acknowledge an alert; again is harmless and keeps the first who and when."""

    @extend_schema(request=None, responses={200: AlertLogSerializer, **error_responses(401, 403, 404, 503)})
    def post(self, request, pk: int):
        try:
            alert = alerts.acknowledge_alert(alert_id=pk, user=request.user)
        except AlertLog.DoesNotExist:
            raise NotFound("No alert has this id.") from None
        return Response(AlertLogSerializer(alert).data)
