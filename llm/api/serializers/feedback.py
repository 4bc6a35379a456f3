"""Feedback: the POST input, the list output and the satisfaction figures."""

from rest_framework import serializers

from llm.analytics.filters import GROUP_BY_CHOICES
from llm.models import LLMRequestLog, UserFeedback

MAX_COMMENT_CHARS = 5000


class FeedbackCreateSerializer(serializers.Serializer):
    request_id = serializers.UUIDField()
    rating = serializers.ChoiceField(choices=UserFeedback.Rating.choices)
    comment = serializers.CharField(required=False, allow_blank=True, max_length=MAX_COMMENT_CHARS, default="")

    def validate_request_id(self, value):
        log = LLMRequestLog.objects.filter(request_id=value).only("id").first()
        if log is None:
            raise serializers.ValidationError("No call with this request_id.")
        return log

    def validate_comment(self, value):
        if "\x00" in value:
            raise serializers.ValidationError("Must not contain NUL characters.")
        return value

    def create(self, validated_data):
        return UserFeedback.objects.create(
            request=validated_data["request_id"],
            rating=validated_data["rating"],
            comment=validated_data.get("comment", ""),
        )


class FeedbackSerializer(serializers.ModelSerializer):
    request_id = serializers.UUIDField(source="request.request_id", read_only=True)
    model = serializers.CharField(source="request.model_name", read_only=True)

    class Meta:
        model = UserFeedback
        fields = ("id", "request_id", "model", "rating", "comment", "created_at")
        read_only_fields = fields


class SatisfactionSerializer(serializers.Serializer):
    total = serializers.IntegerField()
    thumbs_up = serializers.IntegerField()
    thumbs_down = serializers.IntegerField()
    satisfaction_rate = serializers.FloatField(
        allow_null=True, help_text="Thumbs up as a percentage of all ratings; null without ratings."
    )


class ModelSatisfactionSerializer(SatisfactionSerializer):
    model = serializers.CharField()


class SatisfactionBucketSerializer(SatisfactionSerializer):
    period = serializers.DateTimeField(help_text="UTC start of the bucket.")


class FeedbackAnalyticsSerializer(SatisfactionSerializer):
    """Answer of GET /api/feedback/analytics/ (documents the schema; llm.analytics.metrics builds it)."""

    by_model = ModelSatisfactionSerializer(many=True, help_text="Most rated first.")
    group_by = serializers.ChoiceField(choices=GROUP_BY_CHOICES)
    over_time = SatisfactionBucketSerializer(many=True, help_text="Every bucket of the range, empty ones included.")
