"""Output shapes of /api/sessions/ and /api/users/ (rows built by llm.analytics.people)."""

from rest_framework import serializers

from llm.api.serializers.fields import CostField
from llm.api.serializers.logs import FeedbackInlineSerializer
from llm.models import ErrorType, LLMRequestLog

COST_HELP = "USD over the priced calls; null when every call was of an unpriced model."


class GroupFiguresSerializer(serializers.Serializer):
    """What a session and a user row share."""

    first_seen = serializers.DateTimeField(help_text="The first call in the window.")
    last_seen = serializers.DateTimeField(help_text="The latest call in the window.")
    calls = serializers.IntegerField()
    total_tokens = serializers.IntegerField()
    cost = CostField(allow_null=True, help_text=COST_HELP)
    errors = serializers.IntegerField(help_text="Failed calls.")
    feedback_up = serializers.IntegerField(help_text="Thumbs up given on these calls.")
    feedback_down = serializers.IntegerField(help_text="Thumbs down given on these calls.")


class SessionSerializer(GroupFiguresSerializer):
    """One session: the calls sharing a non-blank session_id, within the window."""

    session_id = serializers.CharField()
    user_id = serializers.CharField(help_text="The session's most recent non-blank user id; empty if none.")
    traces = serializers.IntegerField(help_text="Distinct non-blank trace ids among the calls.")


class SessionCallSerializer(serializers.ModelSerializer):
    """One turn of a session: the call with its texts and the feedback given on it."""

    model = serializers.CharField(source="model_name", read_only=True, help_text="The model called.")
    error_type = serializers.ChoiceField(
        choices=ErrorType.choices, allow_blank=True, read_only=True, help_text="Empty for a call that worked."
    )
    cost_estimate = CostField(read_only=True, allow_null=True, help_text="USD; null for a model without a price.")
    feedback = FeedbackInlineSerializer(many=True, read_only=True)

    class Meta:
        model = LLMRequestLog
        fields = (
            "request_id",
            "timestamp",
            "model",
            "status",
            "error_type",
            "prompt_tokens",
            "completion_tokens",
            "total_tokens",
            "latency_ms",
            "time_to_first_token_ms",
            "cost_estimate",
            "user_id",
            "trace_id",
            "error_message",
            "prompt_text",
            "response_text",
            "feedback",
        )
        read_only_fields = fields


class SessionDetailSerializer(SessionSerializer):
    turns = SessionCallSerializer(many=True, help_text="The session's calls in time order (the first 1,000).")
    calls_truncated = serializers.BooleanField(help_text="True when the session has more calls than `turns` lists.")


class UserSerializer(GroupFiguresSerializer):
    """One end user (non-blank user_id) over the window."""

    user_id = serializers.CharField()
    error_rate = serializers.FloatField(help_text="errors / calls × 100, 2 decimals.")
    p95_latency_ms = serializers.FloatField(
        allow_null=True, help_text="Exact continuous P95 (linear interpolation, as numpy and percentile_cont)."
    )


class UserDaySerializer(serializers.Serializer):
    date = serializers.DateField(help_text="A UTC day.")
    calls = serializers.IntegerField()
    total_tokens = serializers.IntegerField()
    cost = CostField(allow_null=True, help_text=COST_HELP)


class UserSessionSerializer(serializers.Serializer):
    session_id = serializers.CharField()
    first_seen = serializers.DateTimeField()
    last_seen = serializers.DateTimeField()
    calls = serializers.IntegerField()
    total_tokens = serializers.IntegerField()
    cost = CostField(allow_null=True, help_text=COST_HELP)
    errors = serializers.IntegerField()


class UserDetailSerializer(UserSerializer):
    daily = UserDaySerializer(many=True, help_text="Every UTC day of the window, empty days included.")
    recent_sessions = UserSessionSerializer(many=True, help_text="The user's latest 20 sessions, newest first.")
