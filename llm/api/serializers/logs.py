"""Output shapes of /api/logs/: list rows (a text preview only) and the full detail."""
from rest_framework import serializers

from llm.models import COST_PLACES, LLMRequestLog, UserFeedback

SUMMARY_FIELDS = (
    "request_id", "timestamp", "model_name", "provider", "status", "error_type", "http_status",
    "prompt_tokens", "completion_tokens", "total_tokens", "cached_prompt_tokens", "latency_ms",
    "time_to_first_token_ms", "cost_estimate", "user_id", "session_id", "finish_reason", "source",
)


class CostField(serializers.DecimalField):
    """USD with 6 places, rendered as a JSON number (not DRF's default string)."""

    def __init__(self, **kwargs):
        super().__init__(max_digits=14, decimal_places=COST_PLACES, coerce_to_string=False, **kwargs)


class LogListSerializer(serializers.ModelSerializer):
    cost_estimate = CostField(read_only=True)
    # Annotated in SQL by llm.analytics.metrics.log_list_queryset: the full texts are never loaded.
    prompt_preview = serializers.CharField(read_only=True)
    response_preview = serializers.CharField(read_only=True)
    error_message = serializers.CharField(source="error_preview", read_only=True)

    class Meta:
        model = LLMRequestLog
        fields = (*SUMMARY_FIELDS, "error_message", "prompt_preview", "response_preview")
        read_only_fields = fields


class FeedbackInlineSerializer(serializers.ModelSerializer):
    class Meta:
        model = UserFeedback
        fields = ("id", "rating", "comment", "created_at")
        read_only_fields = fields


class LogDetailSerializer(serializers.ModelSerializer):
    cost_estimate = CostField(read_only=True)
    feedback = FeedbackInlineSerializer(many=True, read_only=True)

    class Meta:
        model = LLMRequestLog
        fields = (
            *SUMMARY_FIELDS, "temperature", "max_tokens", "provider_request_id", "trace_id", "span_id",
            "parent_span_id", "metadata", "error_message", "prompt_text", "response_text", "feedback",
        )
        read_only_fields = fields
