"""POST /api/llm/prompt/: the input, the JSON answer, its error bodies and the events of a stream."""

from drf_spectacular.utils import PolymorphicProxySerializer, extend_schema_field, extend_schema_serializer
from rest_framework import serializers

from llm.api.serializers.errors import ErrorSerializer

MAX_COMPLETION_TOKENS = 65_536
ROLES = ("system", "user", "assistant")


class ChatMessageSerializer(serializers.Serializer):
    role = serializers.ChoiceField(choices=ROLES)
    content = serializers.CharField(trim_whitespace=False, max_length=1_000_000)


class PromptInputSerializer(serializers.Serializer):
    prompt = serializers.CharField(required=False, allow_blank=True, trim_whitespace=False, max_length=1_000_000)
    messages = ChatMessageSerializer(many=True, required=False)
    model = serializers.CharField(required=False, allow_blank=True, max_length=200)
    user_id = serializers.CharField(required=False, allow_blank=True, max_length=255)
    session_id = serializers.CharField(required=False, allow_blank=True, max_length=255)
    system_prompt = serializers.CharField(required=False, allow_blank=True, trim_whitespace=False, max_length=100_000)
    max_tokens = serializers.IntegerField(required=False, default=1024, min_value=1, max_value=MAX_COMPLETION_TOKENS)
    temperature = serializers.FloatField(required=False, default=0.7, min_value=0, max_value=2)
    stream = serializers.BooleanField(required=False, default=False)

    def validate(self, attrs):
        prompt = attrs.get("prompt", "")
        messages = attrs.get("messages")
        if prompt and messages:
            raise serializers.ValidationError({"prompt": ["Send either prompt or messages, not both."]})
        if messages is not None and not messages:
            raise serializers.ValidationError({"messages": ["Must contain at least one message."]})
        if not messages and not prompt.strip():
            raise serializers.ValidationError({"prompt": ["This field may not be blank."]})
        if messages and messages[-1]["role"] == "assistant":
            raise serializers.ValidationError({"messages": ["The last message must not be from the assistant."]})
        return attrs


class PromptResultSerializer(serializers.Serializer):
    """Shape of the JSON answer (documentation only; the view returns groq_service's dict)."""

    request_id = serializers.UUIDField(help_text="The logged call: GET /api/logs/<request_id>/.")
    response = serializers.CharField(allow_null=True, allow_blank=True)
    model = serializers.CharField()
    prompt_tokens = serializers.IntegerField()
    completion_tokens = serializers.IntegerField()
    total_tokens = serializers.IntegerField()
    cached_prompt_tokens = serializers.IntegerField()
    latency_ms = serializers.FloatField()
    time_to_first_token_ms = serializers.FloatField(allow_null=True)
    cost_estimate = serializers.DecimalField(
        max_digits=14, decimal_places=6, allow_null=True, help_text="USD as a 6-place string; null when unpriced."
    )
    finish_reason = serializers.CharField(allow_blank=True)
    status = serializers.CharField()
    provider_request_id = serializers.CharField(allow_blank=True)


class PromptErrorSerializer(ErrorSerializer):
    """A provider failure: the call is logged as an error under request_id."""

    error_type = serializers.CharField(help_text="Error taxonomy value (rate_limit, timeout, configuration...).")
    request_id = serializers.UUIDField(help_text="The logged call: GET /api/logs/<request_id>/.")


def _event_type(name: str) -> serializers.CharField:
    # A one-value enum written inline: a ChoiceField would make one named enum per event type.
    @extend_schema_field({"type": "string", "enum": [name]})
    class EventType(serializers.CharField):
        pass

    return EventType(help_text=f'Always "{name}".')


class PromptChunkEventSerializer(serializers.Serializer):
    type = _event_type("chunk")
    text = serializers.CharField(allow_blank=True, help_text="The next piece of the answer.")


class PromptDoneEventSerializer(PromptResultSerializer):
    """The last event of a stream that worked: the call's result, as the JSON answer has it."""

    type = _event_type("done")


@extend_schema_serializer(deprecate_fields=["message"])
class PromptErrorEventSerializer(PromptErrorSerializer):
    """The last event of a stream that failed: the error body of a JSON answer, plus `type`."""

    type = _event_type("error")
    message = serializers.CharField(help_text="Deprecated: the same value as `error`, kept for one release.")


PROMPT_STREAM_EVENT = PolymorphicProxySerializer(
    component_name="PromptStreamEvent",
    serializers={
        "chunk": PromptChunkEventSerializer,
        "done": PromptDoneEventSerializer,
        "error": PromptErrorEventSerializer,
    },
    resource_type_field_name="type",
)
