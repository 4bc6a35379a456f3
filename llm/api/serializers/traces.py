"""Output shapes of /api/traces/: a trace's row in the list, and a trace with its spans."""

from rest_framework import serializers

from llm.api.serializers.fields import CostField
from llm.models import ErrorType, Span


class TraceListSerializer(serializers.Serializer):
    """One trace: its root span's name, when it ran, and the figures of its calls and spans."""

    trace_id = serializers.CharField(help_text="32 hex characters.")
    name = serializers.CharField(help_text="The root span's name (the first call's model without spans).")
    start = serializers.DateTimeField(help_text="When its first span or call started.")
    duration_ms = serializers.FloatField(help_text="From the first start to the last end.")
    span_count = serializers.IntegerField()
    llm_calls = serializers.IntegerField()
    total_tokens = serializers.IntegerField()
    cost = CostField(allow_null=True, help_text="USD over its priced calls; null when none is priced.")
    error_count = serializers.IntegerField(help_text="Failed spans and calls.")
    user_id = serializers.CharField(allow_blank=True)
    session_id = serializers.CharField(allow_blank=True)


class SpanCallSerializer(serializers.Serializer):
    """The call an LLM span describes; its prompt and response are at /api/logs/<request_id>/."""

    request_id = serializers.UUIDField()
    model = serializers.CharField(source="model_name")
    provider = serializers.CharField()
    status = serializers.CharField()
    error_type = serializers.ChoiceField(choices=ErrorType.choices, allow_blank=True)
    prompt_tokens = serializers.IntegerField()
    completion_tokens = serializers.IntegerField()
    total_tokens = serializers.IntegerField()
    cost_estimate = CostField(allow_null=True, help_text="USD; null for a model without a price.")
    latency_ms = serializers.FloatField()
    time_to_first_token_ms = serializers.FloatField(allow_null=True)


class SpanSerializer(serializers.Serializer):
    """One span, in tree order: `depth` for the indentation, `offset_ms` from the trace's start."""

    span_id = serializers.CharField()
    parent_span_id = serializers.CharField(allow_blank=True)
    name = serializers.CharField(allow_blank=True)
    kind = serializers.ChoiceField(choices=Span.Kind.choices)
    start = serializers.DateTimeField()
    duration_ms = serializers.FloatField()
    offset_ms = serializers.FloatField()
    status = serializers.ChoiceField(choices=Span.StatusCode.choices)
    status_message = serializers.CharField(allow_blank=True)
    service_name = serializers.CharField(allow_blank=True)
    attributes = serializers.DictField(help_text="The span's OpenTelemetry attributes (LLM texts are on the call).")
    orphan = serializers.BooleanField(help_text="Its parent was never stored (or its parent links form a cycle).")
    depth = serializers.IntegerField()
    call = SpanCallSerializer(allow_null=True, help_text="The call of an LLM span; null for other spans.")


class TraceDetailSerializer(TraceListSerializer):
    spans = SpanSerializer(many=True)
