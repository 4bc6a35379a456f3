"""Input of POST /api/llm/prompt/."""
from rest_framework import serializers

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

    request_id = serializers.UUIDField()
    response = serializers.CharField(allow_null=True)
    model = serializers.CharField()
    prompt_tokens = serializers.IntegerField()
    completion_tokens = serializers.IntegerField()
    total_tokens = serializers.IntegerField()
    cached_prompt_tokens = serializers.IntegerField()
    latency_ms = serializers.FloatField()
    time_to_first_token_ms = serializers.FloatField(allow_null=True)
    cost_estimate = serializers.DecimalField(max_digits=14, decimal_places=6, allow_null=True)
    finish_reason = serializers.CharField()
    status = serializers.CharField()
    provider_request_id = serializers.CharField()


class PromptErrorSerializer(serializers.Serializer):
    error = serializers.CharField()
    error_type = serializers.CharField()
    request_id = serializers.UUIDField()
    fields = serializers.DictField()
