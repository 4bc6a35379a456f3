"""Data model: one row per LLM call, plus feedback, prices, alerting and ingest keys."""

import uuid
from decimal import Decimal

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.utils import timezone

from llm.calls.errors import ErrorType

COST_PLACES = 6


class Source(models.TextChoices):
    SDK = "sdk", "In-process service"
    API = "api", "Prompt endpoint"
    INGEST = "ingest", "Batch ingest"
    OTLP = "otlp", "OpenTelemetry"
    SAMPLE = "sample", "Sample data"


class LLMRequestLog(models.Model):
    class Status(models.TextChoices):
        SUCCESS = "success", "Success"
        ERROR = "error", "Error"

    # Narrow, aggregated columns first and the large text columns last: scans
    # that stop before the text were 14-30 % faster at 1M rows (docs/ARCHITECTURE.md, "Measured costs").
    request_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    timestamp = models.DateTimeField(default=timezone.now)
    model_name = models.CharField(max_length=200)
    provider = models.CharField(max_length=50, default="groq")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.SUCCESS)
    error_type = models.CharField(max_length=32, choices=ErrorType.choices, blank=True)
    http_status = models.PositiveSmallIntegerField(null=True, blank=True)
    prompt_tokens = models.PositiveIntegerField(default=0)
    completion_tokens = models.PositiveIntegerField(default=0)
    total_tokens = models.PositiveIntegerField(default=0)
    # Part of prompt_tokens served from the provider's prompt cache (cheaper).
    cached_prompt_tokens = models.PositiveIntegerField(default=0)
    latency_ms = models.FloatField(default=0)
    time_to_first_token_ms = models.FloatField(null=True, blank=True)
    # Null means "unpriced" (no ModelPrice for the model at that time), never 0.
    cost_estimate = models.DecimalField(max_digits=14, decimal_places=COST_PLACES, null=True, blank=True)
    user_id = models.CharField(max_length=255, blank=True)
    session_id = models.CharField(max_length=255, blank=True)
    finish_reason = models.CharField(max_length=32, blank=True)
    temperature = models.FloatField(null=True, blank=True)
    max_tokens = models.PositiveIntegerField(null=True, blank=True)
    source = models.CharField(max_length=16, choices=Source.choices, default=Source.SDK)
    # The provider's own id for the call (Groq: x_groq.id / response id).
    provider_request_id = models.CharField(max_length=255, blank=True)
    # OpenTelemetry identity of an ingested span (hex), for idempotency and the trace view.
    trace_id = models.CharField(max_length=32, blank=True)
    span_id = models.CharField(max_length=16, blank=True)
    parent_span_id = models.CharField(max_length=16, blank=True)
    ingest_key = models.ForeignKey("IngestKey", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    metadata = models.JSONField(default=dict, blank=True)
    error_message = models.TextField(blank=True)
    prompt_text = models.TextField(blank=True)
    response_text = models.TextField(blank=True)

    class Meta:
        verbose_name = "LLM request log"
        ordering = ["-timestamp", "-id"]
        indexes = [
            # Time windows; the logs list in its default order (timestamp, id). With the id tie-breaker
            # in the key, a deep page finds its rows' ids by an index-only scan (llm/pagination.py).
            models.Index(fields=["timestamp", "id"], name="llm_log_ts_id_idx"),
            # Logs filtered by model, newest first; per-model charts over a window.
            models.Index(fields=["model_name", "timestamp"], name="llm_log_model_ts_idx"),
            # Error list and error-rate charts: status='error' in a window.
            models.Index(fields=["status", "timestamp"], name="llm_log_status_ts_idx"),
            # "Calls of this user" in the logs list and per-user drill-downs.
            models.Index(fields=["user_id", "timestamp"], name="llm_log_user_ts_idx"),
            # Covering index of the metrics aggregates over a time window (llm/metrics.py): every
            # column they read is in it, so they scan ~100 bytes a row instead of rows that are
            # mostly prompt/response text (PostgreSQL: index-only scan). Key columns rather than
            # INCLUDE, because SQLite ignores INCLUDE and needs the columns in the key.
            models.Index(
                fields=[
                    "timestamp",
                    "model_name",
                    "status",
                    "latency_ms",
                    "prompt_tokens",
                    "completion_tokens",
                    "total_tokens",
                    "cost_estimate",
                    "user_id",
                    "time_to_first_token_ms",
                ],
                name="llm_log_metrics_cover_idx",
            ),
            # Per-model latency percentiles: rows of one model already in latency order
            # (SQLite walks it with LIMIT 2 OFFSET k; PostgreSQL feeds percentile_cont from it).
            models.Index(fields=["model_name", "latency_ms", "timestamp"], name="llm_log_model_latency_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(prompt_tokens__gte=0) & Q(completion_tokens__gte=0) & Q(cached_prompt_tokens__gte=0),
                name="llm_log_tokens_non_negative",
            ),
            models.CheckConstraint(
                condition=Q(total_tokens=F("prompt_tokens") + F("completion_tokens")),
                name="llm_log_total_is_sum",
            ),
            models.CheckConstraint(condition=Q(latency_ms__gte=0), name="llm_log_latency_non_negative"),
            models.CheckConstraint(
                condition=Q(cached_prompt_tokens__lte=F("prompt_tokens")),
                name="llm_log_cached_within_prompt",
            ),
            # One row per ingested span, so re-sent traces are stored once.
            models.UniqueConstraint(
                fields=["trace_id", "span_id"],
                condition=~Q(span_id=""),
                name="llm_log_unique_span",
            ),
        ]

    def __str__(self):
        return f"{self.model_name} {self.status} {self.request_id}"

    @property
    def is_error(self) -> bool:
        return self.status == self.Status.ERROR


class UserFeedback(models.Model):
    class Rating(models.TextChoices):
        THUMBS_UP = "thumbs_up", "Thumbs up"
        THUMBS_DOWN = "thumbs_down", "Thumbs down"

    request = models.ForeignKey(LLMRequestLog, on_delete=models.CASCADE, related_name="feedback")
    rating = models.CharField(max_length=12, choices=Rating.choices)
    comment = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            # Feedback analytics over a date range, and the latest comments.
            models.Index(fields=["created_at"], name="llm_feedback_created_idx"),
        ]

    def __str__(self):
        return f"{self.get_rating_display()} on {self.request_id}"


class ModelPrice(models.Model):
    """USD per million tokens for a model from a date on; history is never rewritten."""

    provider = models.CharField(max_length=50, default="groq")
    model_name = models.CharField(max_length=200)
    input_per_million = models.DecimalField(max_digits=12, decimal_places=6, validators=[MinValueValidator(0)])
    # Null: cached prompt tokens cost the same as other input tokens.
    cached_input_per_million = models.DecimalField(
        max_digits=12, decimal_places=6, null=True, blank=True, validators=[MinValueValidator(0)]
    )
    output_per_million = models.DecimalField(max_digits=12, decimal_places=6, validators=[MinValueValidator(0)])
    effective_from = models.DateTimeField()
    source_note = models.CharField(max_length=255, blank=True)

    class Meta:
        ordering = ["provider", "model_name", "-effective_from"]
        constraints = [
            models.UniqueConstraint(fields=["provider", "model_name", "effective_from"], name="llm_price_unique_from"),
        ]

    def __str__(self):
        return f"{self.provider}/{self.model_name} from {self.effective_from:%Y-%m-%d}"

    def cost_of(self, *, prompt_tokens: int, completion_tokens: int, cached_prompt_tokens: int = 0) -> Decimal:
        """USD cost of one call at this price, rounded to 6 places."""
        cached = min(cached_prompt_tokens, prompt_tokens)
        cached_rate = self.input_per_million if self.cached_input_per_million is None else self.cached_input_per_million
        micro = (
            (prompt_tokens - cached) * self.input_per_million
            + cached * cached_rate
            + completion_tokens * self.output_per_million
        )
        return (micro / Decimal(1_000_000)).quantize(Decimal(1).scaleb(-COST_PLACES))


class AlertRule(models.Model):
    class MetricType(models.TextChoices):
        ERROR_RATE = "error_rate", "Error rate (%)"
        LATENCY = "latency", "P95 latency (ms)"
        TOKEN_SPIKE = "token_spike", "Token spike (× previous window)"

    class Comparison(models.TextChoices):
        GT = "gt", ">"
        GTE = "gte", "≥"
        LT = "lt", "<"
        LTE = "lte", "≤"

    class State(models.TextChoices):
        OK = "ok", "OK"
        FIRING = "firing", "Firing"

    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    metric_type = models.CharField(max_length=20, choices=MetricType.choices)
    threshold = models.FloatField(validators=[MinValueValidator(0)])
    comparison = models.CharField(max_length=3, choices=Comparison.choices, default=Comparison.GT)
    time_window_minutes = models.PositiveIntegerField(
        default=60, validators=[MinValueValidator(1), MaxValueValidator(30 * 24 * 60)]
    )
    # Blank: the rule looks at all models.
    model_name = models.CharField(max_length=200, blank=True)
    min_requests = models.PositiveIntegerField(default=10)
    cooldown_minutes = models.PositiveIntegerField(default=60)
    is_active = models.BooleanField(default=True)
    notify_email = models.BooleanField(default=True)
    # Comma-separated; blank means settings.ALERT_EMAIL_RECIPIENTS.
    email_recipients = models.TextField(blank=True)
    webhook_url = models.URLField(max_length=500, blank=True)
    state = models.CharField(max_length=10, choices=State.choices, default=State.OK)
    last_evaluated_at = models.DateTimeField(null=True, blank=True)
    last_value = models.FloatField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "id"]

    def __str__(self):
        return self.name


class AlertLog(models.Model):
    alert_rule = models.ForeignKey(AlertRule, on_delete=models.CASCADE, related_name="logs")
    message = models.TextField()
    metric_value = models.FloatField()
    threshold = models.FloatField(null=True, blank=True)
    model_name = models.CharField(max_length=200, blank=True)
    window_start = models.DateTimeField(null=True, blank=True)
    window_end = models.DateTimeField(null=True, blank=True)
    # A reminder repeats an alert that kept firing past the rule's cooldown.
    is_reminder = models.BooleanField(default=False)
    triggered_at = models.DateTimeField(default=timezone.now)
    resolved_at = models.DateTimeField(null=True, blank=True)
    acknowledged = models.BooleanField(default=False)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    notified_at = models.DateTimeField(null=True, blank=True)
    notification_error = models.TextField(blank=True)

    class Meta:
        ordering = ["-triggered_at", "-id"]
        indexes = [
            # Alerts page and the "alerts firing" banner: newest first, open ones.
            models.Index(fields=["triggered_at"], name="llm_alertlog_triggered_idx"),
        ]

    def __str__(self):
        return f"{self.alert_rule} at {self.triggered_at:%Y-%m-%d %H:%M}"


class IngestKey(models.Model):
    """A key external applications use to send calls; only a hash of the secret is kept."""

    name = models.CharField(max_length=200)
    prefix = models.CharField(max_length=16, unique=True)
    key_hash = models.CharField(max_length=128)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self):
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


# --- Rollups ------------------------------------------------------------------------------
# Figures per UTC hour kept by `manage.py refresh_rollups` (llm/analytics/rollups.py), so long windows
# cost O(hours) instead of O(calls). Exactness does not depend on them being up to date: database
# triggers (migration 0006) record every hour whose calls change in ChangedHour, and readers take an
# hour from these tables only when it is a RolledUpHour with no ChangedHour mark.


class RollupFigures(models.Model):
    """The figures of one group of calls (model, status, error type, source), summed over an hour or a day.

    Histograms map a bucket number (llm/analytics/rollups.py: latency_bucket) to a count, sparse,
    and merge by adding counts; a percentile read from them is within 1 % of the exact one.
    """

    model_name = models.CharField(max_length=200)
    status = models.CharField(max_length=10)
    error_type = models.CharField(max_length=32, blank=True)
    source = models.CharField(max_length=16)
    calls = models.BigIntegerField()
    prompt_tokens = models.BigIntegerField()
    completion_tokens = models.BigIntegerField()
    total_tokens = models.BigIntegerField()
    cached_prompt_tokens = models.BigIntegerField()
    # Millionths of a dollar (COST_PLACES = 6), summed over the priced calls: integer sums are exact on
    # both databases, where SQLite would sum the cost column as floating point.
    cost_micros = models.BigIntegerField()
    priced_calls = models.BigIntegerField()
    unpriced_calls = models.BigIntegerField()
    # Latencies summed as integer microseconds (each value capped at MAX_SUMMED_MS, see llm/analytics/rollups.py):
    # integer sums are exact in any order, so an average never depends on which rows came from rollups.
    latency_sum_us = models.BigIntegerField()
    latency_min_ms = models.FloatField()
    latency_max_ms = models.FloatField()
    latency_histogram = models.JSONField(default=dict)
    # Calls that have a time to first token (streamed ones); the others are not in these three.
    ttft_calls = models.BigIntegerField()
    ttft_sum_us = models.BigIntegerField()
    ttft_histogram = models.JSONField(default=dict)

    class Meta:
        abstract = True


class HourlyRollup(RollupFigures):
    """The calls of one UTC hour with one (model, status, error type, source), summed."""

    hour = models.DateTimeField()

    class Meta:
        db_table = "llm_hourly_rollup"
        constraints = [
            # Also the index of every rollup read: a range of hours, then the few groups of each hour.
            models.UniqueConstraint(
                fields=["hour", "model_name", "status", "error_type", "source"], name="llm_rollup_unique_group"
            ),
        ]

    def __str__(self):
        return f"{self.hour:%Y-%m-%d %H}:00 {self.model_name} {self.status} ({self.calls} calls)"


class DailyRollup(RollupFigures):
    """HourlyRollup folded into UTC days: a 30-day window reads 30 rows per group instead of 720.

    A day's rows are rewritten with its hours', so they are used only while all 24 hours are fresh.
    """

    day = models.DateField()

    class Meta:
        db_table = "llm_daily_rollup"
        constraints = [
            # Also the index of the reads of whole days.
            models.UniqueConstraint(
                fields=["day", "model_name", "status", "error_type", "source"], name="llm_daily_rollup_unique_group"
            ),
        ]

    def __str__(self):
        return f"{self.day:%Y-%m-%d} {self.model_name} {self.status} ({self.calls} calls)"


class HourlyUserPresence(models.Model):
    """A user (non-blank user_id) made calls of this model with this status in this UTC hour.

    Distinct users over any set of hours is the number of distinct user_id of their rows: exact.
    """

    hour = models.DateTimeField()
    # NULL: all models / all statuses (rows written alongside the specific ones, for unfiltered reads).
    model_name = models.CharField(max_length=200, null=True)  # noqa: DJ001 (NULL is "all", not "no value")
    status = models.CharField(max_length=10, null=True)  # noqa: DJ001
    user_id = models.CharField(max_length=255)

    class Meta:
        db_table = "llm_hourly_user"
        constraints = [
            # Also serves the unique-user reads over a range of hours.
            models.UniqueConstraint(fields=["hour", "model_name", "status", "user_id"], name="llm_hourly_user_unique"),
        ]

    def __str__(self):
        return f"{self.user_id} at {self.hour:%Y-%m-%d %H}:00 ({self.model_name}, {self.status})"


class DailyUserPresence(models.Model):
    """HourlyUserPresence folded into UTC days (24× fewer rows for long windows).

    A day's rows are rewritten with its hours', so they are used only while all 24 hours are fresh.
    """

    day = models.DateField()
    # NULL: all models / all statuses (rows written alongside the specific ones, for unfiltered reads).
    model_name = models.CharField(max_length=200, null=True)  # noqa: DJ001 (NULL is "all", not "no value")
    status = models.CharField(max_length=10, null=True)  # noqa: DJ001
    user_id = models.CharField(max_length=255)

    class Meta:
        db_table = "llm_daily_user"
        constraints = [
            models.UniqueConstraint(fields=["day", "model_name", "status", "user_id"], name="llm_daily_user_unique"),
        ]

    def __str__(self):
        return f"{self.user_id} on {self.day:%Y-%m-%d} ({self.model_name}, {self.status})"


class HourlyFeedback(models.Model):
    """Feedback given in one UTC hour (by `created_at`) on calls of one model, with one rating, counted.

    Freshness is the calls' own: the feedback table's triggers (migration 0008) mark the hours of
    feedback written, and a call's change of model marks the hours of its feedback.
    """

    hour = models.DateTimeField()
    model_name = models.CharField(max_length=200)
    rating = models.CharField(max_length=12)
    count = models.BigIntegerField()

    class Meta:
        db_table = "llm_hourly_feedback"
        constraints = [
            models.UniqueConstraint(fields=["hour", "model_name", "rating"], name="llm_hourly_feedback_unique"),
        ]

    def __str__(self):
        return f"{self.count} {self.rating} on {self.model_name} at {self.hour:%Y-%m-%d %H}:00"


class LatencyDigest(models.Model):
    """The latency histogram of one UTC hour or day, per model and status, merged over error types and
    sources, with NULL standing for all models / all statuses (no model name can collide with it), and the P95
    read from it.

    Written with the rollups of its hour or day (llm/analytics/rollups.py), so it is fresh exactly when they
    are. Chart points read their P95 here instead of merging histograms, and exact percentiles find the
    bucket of a rank from these few rows.
    """

    class Unit(models.TextChoices):
        HOUR = "hour"
        DAY = "day"

    unit = models.CharField(max_length=4, choices=Unit.choices)
    start = models.DateTimeField()
    model_name = models.CharField(max_length=200, null=True, blank=True)  # noqa: DJ001 (NULL is "all")
    status = models.CharField(max_length=10, null=True, blank=True)  # noqa: DJ001
    calls = models.BigIntegerField()
    latency_sum_us = models.BigIntegerField()
    latency_min_ms = models.FloatField()
    latency_max_ms = models.FloatField()
    latency_histogram = models.JSONField(default=dict)
    p95_latency_ms = models.FloatField()

    class Meta:
        db_table = "llm_latency_digest"
        constraints = [
            models.UniqueConstraint(fields=["unit", "start", "model_name", "status"], name="llm_latency_digest_unique"),
        ]

    def __str__(self):
        return f"{self.unit} {self.start:%Y-%m-%d %H}:00 {self.model_name or 'all models'} ({self.calls} calls)"


class RolledUpHour(models.Model):
    """A UTC hour the rollup tables hold (with or without calls), and when it was last rolled up."""

    hour = models.DateTimeField(primary_key=True)
    rolled_up_at = models.DateTimeField()

    class Meta:
        db_table = "llm_rolled_up_hour"

    def __str__(self):
        return f"{self.hour:%Y-%m-%d %H}:00"


class ChangedHour(models.Model):
    """A mark left by the database triggers on LLMRequestLog: calls of this UTC hour were inserted,
    updated or deleted. The hour is read from raw rows until a refresh removes the marks it saw.

    Marks are appended, never merged: a refresh deletes exactly the marks its snapshot can see, so
    the mark of a write that commits during the refresh survives it (llm/analytics/rollups.py).
    """

    id = models.BigAutoField(primary_key=True)
    hour = models.DateTimeField()

    class Meta:
        db_table = "llm_changed_hour"
        indexes = [
            # "Is this hour changed?" for each rolled-up hour of a window, and the refresh's work list.
            models.Index(fields=["hour"], name="llm_changed_hour_idx"),
        ]

    def __str__(self):
        return f"{self.hour:%Y-%m-%d %H}:00 changed"


class Span(models.Model):
    """One span of a stored trace: an LLM call (linked to its row) or the agent, tool, retrieval, HTTP or
    custom step around it. Only traces holding at least one LLM call are kept (llm/sources/otlp.py)."""

    class Kind(models.TextChoices):
        UNSPECIFIED = "unspecified", "Unspecified"
        INTERNAL = "internal", "Internal"
        SERVER = "server", "Server"
        CLIENT = "client", "Client"
        PRODUCER = "producer", "Producer"
        CONSUMER = "consumer", "Consumer"

    class StatusCode(models.TextChoices):
        UNSET = "unset", "Unset"
        OK = "ok", "OK"
        ERROR = "error", "Error"

    id = models.BigAutoField(primary_key=True)
    trace_id = models.CharField(max_length=32)
    span_id = models.CharField(max_length=16)
    parent_span_id = models.CharField(max_length=16, blank=True)
    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=12, choices=Kind.choices, default=Kind.UNSPECIFIED)
    start = models.DateTimeField()
    end = models.DateTimeField()
    status_code = models.CharField(max_length=8, choices=StatusCode.choices, default=StatusCode.UNSET)
    status_message = models.TextField(blank=True)
    service_name = models.CharField(max_length=200, blank=True)
    # The call this span describes; null for the spans that are not LLM calls. No database constraint:
    # calls are deleted in raw chunks (llm/calls/storage.py delete_logs) that know nothing of spans, and
    # a span whose call is gone reads as a span without a call (the join is a LEFT JOIN).
    # Keyed by request_id, which ingest derives from the span's ids: spans are written with their call's
    # key without reading the call's primary key back.
    call = models.ForeignKey(
        LLMRequestLog,
        to_field="request_id",
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
    )
    attributes = models.JSONField(default=dict, blank=True)

    class Meta:
        db_table = "llm_span"
        constraints = [
            # Idempotent re-sends (INSERT ... ON CONFLICT DO NOTHING); its index also serves every
            # read by trace: the detail's spans, the list's per-trace figures, "is this trace kept?".
            models.UniqueConstraint(fields=["trace_id", "span_id"], name="llm_span_unique"),
        ]

    def __str__(self):
        return f"{self.name} {self.trace_id}/{self.span_id}"
