"""One exported call, as GET /api/export/json/ writes it (and /api/export/csv/ as columns).

Documentation only: the rows are streamed straight from a database cursor (llm.api.views.export).
"""

from drf_spectacular.utils import extend_schema_serializer
from rest_framework import serializers

from llm.api.serializers.fields import CostField
from llm.api.serializers.logs import DEPRECATED_FIELDS, MODEL_NAME_HELP


@extend_schema_serializer(deprecate_fields=DEPRECATED_FIELDS)
class ExportRowSerializer(serializers.Serializer):
    request_id = serializers.UUIDField()
    timestamp = serializers.DateTimeField(help_text="ISO 8601, UTC.")
    model = serializers.CharField(help_text="The model called.")
    provider = serializers.CharField()
    status = serializers.CharField()
    error_type = serializers.CharField(allow_blank=True)
    http_status = serializers.IntegerField(allow_null=True)
    prompt_tokens = serializers.IntegerField()
    completion_tokens = serializers.IntegerField()
    total_tokens = serializers.IntegerField()
    cached_prompt_tokens = serializers.IntegerField()
    latency_ms = serializers.FloatField()
    time_to_first_token_ms = serializers.FloatField(allow_null=True)
    cost_estimate = CostField(allow_null=True, help_text="USD; null for a model without a price.")
    user_id = serializers.CharField(allow_blank=True)
    session_id = serializers.CharField(allow_blank=True)
    finish_reason = serializers.CharField(allow_blank=True)
    temperature = serializers.FloatField(allow_null=True)
    max_tokens = serializers.IntegerField(allow_null=True)
    source = serializers.CharField()
    provider_request_id = serializers.CharField(allow_blank=True)
    trace_id = serializers.CharField(allow_blank=True)
    span_id = serializers.CharField(allow_blank=True)
    parent_span_id = serializers.CharField(allow_blank=True)
    metadata = serializers.DictField()
    error_message = serializers.CharField(allow_blank=True)
    prompt_text = serializers.CharField(allow_blank=True)
    response_text = serializers.CharField(allow_blank=True)
    model_name = serializers.CharField(help_text=MODEL_NAME_HELP)
