"""Alert rules (input and output) and triggered alerts (output only)."""

import unicodedata

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import URLValidator, validate_email
from rest_framework import serializers

from llm.models import AlertLog, AlertRule

MAX_COOLDOWN_MINUTES = 30 * 24 * 60
_http_url = URLValidator(schemes=["http", "https"])


class AlertRuleSerializer(serializers.ModelSerializer):
    # A plain CharField: DRF's URLField would also accept ftp:// addresses.
    webhook_url = serializers.CharField(max_length=500, required=False, allow_blank=True)
    cooldown_minutes = serializers.IntegerField(min_value=0, max_value=MAX_COOLDOWN_MINUTES, required=False)

    class Meta:
        model = AlertRule
        fields = [
            "id",
            "name",
            "description",
            "metric_type",
            "comparison",
            "threshold",
            "time_window_minutes",
            "model_name",
            "min_requests",
            "cooldown_minutes",
            "is_active",
            "notify_email",
            "email_recipients",
            "webhook_url",
            "state",
            "last_value",
            "last_evaluated_at",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["id", "state", "last_value", "last_evaluated_at", "created_at", "updated_at"]

    def validate_name(self, value):
        if any(unicodedata.category(char) == "Cc" for char in value):
            raise serializers.ValidationError("Must be one line, without control characters.")
        return value.strip()

    def validate_webhook_url(self, value):
        value = value.strip()
        if value:
            try:
                _http_url(value)
            except DjangoValidationError:
                raise serializers.ValidationError("Must be an http:// or https:// URL.") from None
        return value

    def validate_email_recipients(self, value):
        addresses = [address.strip() for address in value.replace(";", ",").split(",") if address.strip()]
        for address in addresses:
            try:
                validate_email(address)
            except DjangoValidationError:
                raise serializers.ValidationError(f"{address!r} is not an email address.") from None
        return ", ".join(addresses)

    def validate(self, attrs):
        metric_type = attrs.get("metric_type", getattr(self.instance, "metric_type", None))
        threshold = attrs.get("threshold", getattr(self.instance, "threshold", None))
        if metric_type == AlertRule.MetricType.ERROR_RATE and threshold is not None and threshold > 100:
            raise serializers.ValidationError({"threshold": "An error rate threshold is a percentage: 0 to 100."})
        return attrs


class AlertLogSerializer(serializers.ModelSerializer):
    rule_name = serializers.CharField(source="alert_rule.name", read_only=True)
    metric_type = serializers.CharField(source="alert_rule.metric_type", read_only=True)
    acknowledged_by = serializers.CharField(
        source="acknowledged_by.username",
        read_only=True,
        default=None,
        allow_null=True,
        help_text="Username; null until acknowledged (or once that user is deleted).",
    )

    class Meta:
        model = AlertLog
        fields = [
            "id",
            "alert_rule",
            "rule_name",
            "metric_type",
            "message",
            "metric_value",
            "threshold",
            "model_name",
            "window_start",
            "window_end",
            "is_reminder",
            "triggered_at",
            "resolved_at",
            "acknowledged",
            "acknowledged_at",
            "acknowledged_by",
            "notified_at",
            "notification_error",
        ]
        read_only_fields = fields


class AlertTestResultSerializer(serializers.Serializer):
    """Answer of POST /api/alerts/rules/<id>/test/ (documents the schema; built by the view)."""

    delivered = serializers.BooleanField()
    notification_error = serializers.CharField(allow_blank=True)
    email_recipients = serializers.ListField(child=serializers.CharField())
    webhook_url = serializers.CharField(allow_blank=True)


class BacktestFireSerializer(serializers.Serializer):
    window_start = serializers.DateTimeField()
    window_end = serializers.DateTimeField()
    value = serializers.FloatField()


class AlertPreviewSerializer(serializers.Serializer):
    """Answer of GET /api/alerts/rules/<id>/preview/: llm.alerts.backtest_rule's dict."""

    rule = serializers.IntegerField()
    days = serializers.IntegerField()
    window_minutes = serializers.IntegerField()
    windows = serializers.IntegerField()
    evaluated = serializers.IntegerField()
    breached = serializers.IntegerField()
    would_fire = serializers.IntegerField()
    reminders = serializers.IntegerField()
    max_value = serializers.FloatField(allow_null=True)
    fires = BacktestFireSerializer(many=True)
