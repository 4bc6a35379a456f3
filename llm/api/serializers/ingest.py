"""Shapes of POST /api/ingest/ and of the OTLP answer, for the OpenAPI schema.

Validation itself is llm.sources.ingest.validate_event: it runs per event on batches of up to
1,000, where a field-by-field DRF serializer would cost more than storing the rows.
"""

from rest_framework import serializers


class IngestEventSerializer(serializers.Serializer):
    request_id = serializers.UUIDField(
        required=False, help_text="Idempotency key: an id already stored is a duplicate."
    )
    timestamp = serializers.DateTimeField(required=False, help_text="ISO 8601; naive means UTC; default now.")
    model = serializers.CharField(max_length=200)
    provider = serializers.CharField(max_length=50, required=False, help_text="Default 'groq'.")
    prompt_text = serializers.CharField(required=False)
    messages = serializers.ListField(child=serializers.DictField(), required=False, help_text="Instead of prompt_text.")
    response_text = serializers.CharField(required=False)
    prompt_tokens = serializers.IntegerField(min_value=0, required=False)
    completion_tokens = serializers.IntegerField(min_value=0, required=False)
    cached_prompt_tokens = serializers.IntegerField(min_value=0, required=False)
    latency_ms = serializers.FloatField(min_value=0, required=False)
    time_to_first_token_ms = serializers.FloatField(min_value=0, required=False)
    status = serializers.ChoiceField(choices=["success", "error"], required=False)
    error_type = serializers.CharField(
        required=False, help_text="Taxonomy value; anything else is stored as 'unknown'."
    )
    error_message = serializers.CharField(required=False)
    http_status = serializers.IntegerField(min_value=100, max_value=599, required=False)
    user_id = serializers.CharField(max_length=255, required=False)
    session_id = serializers.CharField(max_length=255, required=False)
    finish_reason = serializers.CharField(max_length=32, required=False)
    temperature = serializers.FloatField(min_value=0, max_value=10, required=False)
    max_tokens = serializers.IntegerField(min_value=0, required=False)
    metadata = serializers.DictField(
        required=False, help_text="Any JSON object up to 100 levels deep; numbers finite, no NUL characters."
    )
    cost_estimate = serializers.DecimalField(
        max_digits=14, decimal_places=6, min_value=0, required=False, help_text="USD; default from model prices."
    )


class IngestBatchSerializer(serializers.Serializer):
    events = IngestEventSerializer(many=True)


class IngestItemSerializer(serializers.Serializer):
    index = serializers.IntegerField()
    request_id = serializers.CharField(allow_null=True)


class IngestRejectedSerializer(IngestItemSerializer):
    fields = serializers.DictField(child=serializers.CharField(), help_text="Field name → problem.")


class IngestSummarySerializer(serializers.Serializer):
    accepted = serializers.IntegerField()
    duplicates = serializers.IntegerField()
    rejected = serializers.IntegerField()


class IngestResultSerializer(serializers.Serializer):
    summary = IngestSummarySerializer()
    accepted = IngestItemSerializer(many=True)
    duplicates = IngestItemSerializer(many=True)
    rejected = IngestRejectedSerializer(many=True)


class OtlpPartialSuccessSerializer(serializers.Serializer):
    rejectedSpans = serializers.CharField(help_text="How many spans were refused (an int64: a string in OTLP/JSON).")
    errorMessage = serializers.CharField(help_text="Why, for the first refused spans.")


class OtlpExportResponseSerializer(serializers.Serializer):
    """ExportTraceServiceResponse in OTLP/JSON; `{}` when every span was taken."""

    partialSuccess = OtlpPartialSuccessSerializer(required=False, help_text="Only when spans were refused.")
