"""Output shapes of /api/logs/: list rows (a text preview only) and the full detail."""

from drf_spectacular.utils import extend_schema_serializer
from rest_framework import serializers

from llm.api.serializers.fields import CostField
from llm.models import ErrorType, LLMRequestLog, UserFeedback

SUMMARY_FIELDS = (
    "request_id",
    "timestamp",
    "model",
    "model_name",
    "provider",
    "status",
    "error_type",
    "http_status",
    "prompt_tokens",
    "completion_tokens",
    "total_tokens",
    "cached_prompt_tokens",
    "latency_ms",
    "time_to_first_token_ms",
    "cost_estimate",
    "user_id",
    "session_id",
    "trace_id",
    "finish_reason",
    "source",
)
# Rows called the model `model_name` before it was `model` everywhere; the old name stays one release.
DEPRECATED_FIELDS = ["model_name"]
MODEL_NAME_HELP = "Deprecated: the same value as `model`, kept for one release."


class CallFields(serializers.ModelSerializer):
    """The fields both call shapes declare themselves (DRF's read-only model fields lose blank and null)."""

    model = serializers.CharField(source="model_name", read_only=True, help_text="The model called.")
    model_name = serializers.CharField(read_only=True, help_text=MODEL_NAME_HELP)
    error_type = serializers.ChoiceField(
        choices=ErrorType.choices, allow_blank=True, read_only=True, help_text="Empty for a call that worked."
    )
    cost_estimate = CostField(read_only=True, allow_null=True, help_text="USD; null for a model without a price.")


@extend_schema_serializer(deprecate_fields=DEPRECATED_FIELDS)
class LogListSerializer(CallFields):
    """One row of the logs list: the call without its texts, which come as 200-character previews."""

    # Annotated in SQL by llm.analytics.listings.log_list_queryset: the full texts are never loaded.
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


@extend_schema_serializer(deprecate_fields=DEPRECATED_FIELDS)
class LogDetailSerializer(CallFields):
    """One call, whole: texts, metadata and the feedback given on it."""

    feedback = FeedbackInlineSerializer(many=True, read_only=True)

    class Meta:
        model = LLMRequestLog
        fields = (
            *SUMMARY_FIELDS,
            "temperature",
            "max_tokens",
            "provider_request_id",
            "span_id",
            "parent_span_id",
            "metadata",
            "error_message",
            "prompt_text",
            "response_text",
            "feedback",
        )
        read_only_fields = fields
