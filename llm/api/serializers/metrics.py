"""Output shapes of /api/metrics/...: what the llm.analytics.metrics functions return.

These document the schema only: the figures are plain dicts rendered as they are (a serializer
pass over thousands of time buckets would cost more than the SQL). The schema test checks
real answers against these shapes, field by field.
"""

from rest_framework import serializers

from llm.analytics.filters import GROUP_BY_CHOICES
from llm.api.serializers.fields import CostField

RATE_HELP = "Percentage, 0 to 100."


def _latency(help_text: str = "Milliseconds; null when there are no calls.") -> serializers.FloatField:
    return serializers.FloatField(allow_null=True, help_text=help_text)


def _group_cost() -> CostField:
    return CostField(allow_null=True, help_text="USD over the priced calls; null when every call is unpriced.")


class OverviewSerializer(serializers.Serializer):
    total_calls = serializers.IntegerField()
    success_count = serializers.IntegerField()
    error_count = serializers.IntegerField()
    error_rate = serializers.FloatField(help_text=RATE_HELP)
    prompt_tokens = serializers.IntegerField()
    completion_tokens = serializers.IntegerField()
    total_tokens = serializers.IntegerField()
    avg_latency_ms = _latency()
    p50_latency_ms = _latency()
    p95_latency_ms = _latency()
    p99_latency_ms = _latency()
    total_cost = _group_cost()
    avg_cost_per_call = CostField(allow_null=True, help_text="USD per priced call; null when none is priced.")
    unique_users = serializers.IntegerField(help_text="Distinct non-blank user_id values.")
    unpriced_calls = serializers.IntegerField(help_text="Calls of models without a price (not in the costs).")
    start_date = serializers.DateTimeField(
        allow_null=True, help_text="The requested start, else the first call's time; null without calls."
    )
    end_date = serializers.DateTimeField(
        allow_null=True, help_text="The requested end (inclusive), else the last call's time; null without calls."
    )


class TokenBucketSerializer(serializers.Serializer):
    period = serializers.DateTimeField(help_text="UTC start of the bucket.")
    calls = serializers.IntegerField()
    prompt_tokens = serializers.IntegerField()
    completion_tokens = serializers.IntegerField()
    total_tokens = serializers.IntegerField()
    total_cost = _group_cost()
    unpriced_calls = serializers.IntegerField()


class TokenUsageSerializer(serializers.Serializer):
    group_by = serializers.ChoiceField(choices=GROUP_BY_CHOICES)
    results = TokenBucketSerializer(many=True, help_text="Every bucket of the range, empty ones included.")


class ModelLatencySerializer(serializers.Serializer):
    model = serializers.CharField()
    calls = serializers.IntegerField()
    avg_latency_ms = _latency()
    p50_latency_ms = _latency()
    p95_latency_ms = _latency()
    p99_latency_ms = _latency()
    min_latency_ms = _latency()
    max_latency_ms = _latency()
    avg_time_to_first_token_ms = _latency("Milliseconds; null when no call of the model was streamed.")
    time_per_output_token_ms = _latency(
        "Total latency of the model's successful calls over their output tokens, in milliseconds per token; "
        "null without output tokens."
    )
    output_tokens_per_second = serializers.FloatField(
        allow_null=True, help_text="Output tokens of the successful calls per second of their latency; null without."
    )


def _percentile_method() -> serializers.ChoiceField:
    return serializers.ChoiceField(
        choices=["histogram"],
        required=False,
        help_text="'histogram': this point's P95 is read from the merged latency histogram, within "
        "percentile_max_relative_error of the exact value. Absent: the P95 is exact (minute buckets).",
    )


def _percentile_error() -> serializers.FloatField:
    return serializers.FloatField(
        required=False, help_text="With percentile_method: the largest relative error of the P95 (0.0099 = 0.99 %)."
    )


class LatencyPointSerializer(serializers.Serializer):
    period = serializers.DateTimeField(help_text="UTC start of the bucket.")
    model = serializers.CharField()
    avg_latency_ms = _latency("Milliseconds; null when the model has no call in the bucket.")
    p95_latency_ms = _latency("Milliseconds; null when the model has no call in the bucket.")
    percentile_method = _percentile_method()
    percentile_max_relative_error = _percentile_error()


class LatencySerializer(serializers.Serializer):
    results = ModelLatencySerializer(many=True)
    group_by = serializers.ChoiceField(choices=GROUP_BY_CHOICES, required=False, help_text="Only with group_by.")
    timeseries = LatencyPointSerializer(
        many=True, required=False, help_text="Only with group_by: every (bucket, model) pair of the range."
    )


class ErrorTypeCountSerializer(serializers.Serializer):
    error_type = serializers.CharField(help_text="Error taxonomy value; 'unknown' when none was recorded.")
    count = serializers.IntegerField()
    percentage = serializers.FloatField(help_text="Share of all errors, 0 to 100.")


class ModelErrorsSerializer(serializers.Serializer):
    model = serializers.CharField()
    errors = serializers.IntegerField()
    calls = serializers.IntegerField()
    error_rate = serializers.FloatField(help_text=RATE_HELP)


class RecentErrorSerializer(serializers.Serializer):
    request_id = serializers.UUIDField()
    timestamp = serializers.DateTimeField()
    model = serializers.CharField()
    error_type = serializers.CharField()
    http_status = serializers.IntegerField(allow_null=True)
    latency_ms = serializers.FloatField()
    user_id = serializers.CharField(allow_blank=True)
    error_message = serializers.CharField(allow_blank=True, help_text="The first 200 characters.")


class ErrorsSerializer(serializers.Serializer):
    total_errors = serializers.IntegerField()
    error_rate = serializers.FloatField(help_text=RATE_HELP)
    by_type = ErrorTypeCountSerializer(many=True, help_text="Most frequent first.")
    by_model = ModelErrorsSerializer(many=True, help_text="Models with errors, most errors first.")
    recent = RecentErrorSerializer(many=True, help_text="The latest errors, newest first.")


class ModelUsageRowSerializer(serializers.Serializer):
    model = serializers.CharField()
    calls = serializers.IntegerField()
    share = serializers.FloatField(help_text="Share of all calls, 0 to 100.")
    prompt_tokens = serializers.IntegerField()
    completion_tokens = serializers.IntegerField()
    total_tokens = serializers.IntegerField()
    total_cost = _group_cost()
    unpriced_calls = serializers.IntegerField()
    avg_latency_ms = _latency()
    p95_latency_ms = _latency()
    error_rate = serializers.FloatField(help_text=RATE_HELP)


class ModelUsageSerializer(serializers.Serializer):
    results = ModelUsageRowSerializer(many=True, help_text="Most calls first.")


class DayStatsSerializer(serializers.Serializer):
    date = serializers.DateField(help_text="The UTC day.")
    calls = serializers.IntegerField()
    errors = serializers.IntegerField()
    error_rate = serializers.FloatField(help_text=RATE_HELP)
    total_tokens = serializers.IntegerField()
    total_cost = _group_cost()
    unpriced_calls = serializers.IntegerField()
    avg_latency_ms = _latency()
    p95_latency_ms = _latency()
    percentile_method = _percentile_method()
    percentile_max_relative_error = _percentile_error()
    unique_users = serializers.IntegerField()


class DailyStatsSerializer(serializers.Serializer):
    results = DayStatsSerializer(many=True, help_text="Every UTC day of the range, empty ones included.")
