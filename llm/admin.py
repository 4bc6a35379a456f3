from django.contrib import admin, messages
from django.core.paginator import Paginator
from django.utils.functional import cached_property

from llm.models import AlertLog, AlertRule, IngestKey, LLMRequestLog, ModelPrice, UserFeedback
from llm.sources.ingest import ingest_key_create, ingest_key_revoke


class CappedCount(int):
    """A count that stopped at the cap: it computes as the cap and prints as "10,000+" in the admin."""

    def __str__(self):
        return f"{int(self):,}+"


class CappedCountPaginator(Paginator):
    """Counts at most CAP rows, so the change list never runs COUNT(*) over millions of calls.

    Past the cap the admin shows "10,000+ request logs" and its page links stop there;
    the dashboard's logs page (keyset-friendly, filterable) is the tool for deep browsing.
    """

    CAP = 10_000

    @cached_property
    def count(self):
        # One row past the cap tells "exactly 10,000" from "more".
        found = self.object_list[: self.CAP + 1].count()
        return CappedCount(self.CAP) if found > self.CAP else found


@admin.register(LLMRequestLog)
class LLMRequestLogAdmin(admin.ModelAdmin):
    list_display = (
        "timestamp",
        "model_name",
        "status",
        "error_type",
        "total_tokens",
        "latency_ms",
        "cost_estimate",
        "user_id",
        "source",
    )
    list_filter = ("status", "model_name", "error_type", "source", ("timestamp", admin.DateFieldListFilter))
    search_fields = ("=request_id", "=user_id", "prompt_text")
    date_hierarchy = None  # Its per-year/month COUNT queries scan the whole table.
    paginator = CappedCountPaginator
    show_full_result_count = False
    list_per_page = 50
    readonly_fields = [f.name for f in LLMRequestLog._meta.fields]

    def get_queryset(self, request):
        # The list never shows the texts; do not read them.
        qs = super().get_queryset(request)
        if request.resolver_match and request.resolver_match.url_name.endswith("changelist"):
            qs = qs.defer("prompt_text", "response_text", "error_message", "metadata")
        return qs

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(UserFeedback)
class UserFeedbackAdmin(admin.ModelAdmin):
    list_display = ("created_at", "rating", "request", "comment")
    list_filter = ("rating", ("created_at", admin.DateFieldListFilter))
    search_fields = ("=request__request_id", "comment")
    raw_id_fields = ("request",)
    list_select_related = ("request",)
    paginator = CappedCountPaginator
    show_full_result_count = False


@admin.register(ModelPrice)
class ModelPriceAdmin(admin.ModelAdmin):
    list_display = (
        "provider",
        "model_name",
        "input_per_million",
        "cached_input_per_million",
        "output_per_million",
        "effective_from",
        "source_note",
    )
    list_filter = ("provider",)
    search_fields = ("model_name",)


@admin.register(AlertRule)
class AlertRuleAdmin(admin.ModelAdmin):
    list_display = (
        "name",
        "metric_type",
        "comparison",
        "threshold",
        "time_window_minutes",
        "model_name",
        "is_active",
        "state",
        "last_value",
        "last_evaluated_at",
    )
    list_filter = ("metric_type", "is_active", "state")
    search_fields = ("name",)
    readonly_fields = ("state", "last_value", "last_evaluated_at", "created_at", "updated_at")


@admin.register(AlertLog)
class AlertLogAdmin(admin.ModelAdmin):
    list_display = (
        "triggered_at",
        "alert_rule",
        "metric_value",
        "threshold",
        "model_name",
        "acknowledged",
        "resolved_at",
        "notification_error",
    )
    list_filter = ("acknowledged", "alert_rule", ("triggered_at", admin.DateFieldListFilter))
    list_select_related = ("alert_rule",)
    raw_id_fields = ("alert_rule", "acknowledged_by")


@admin.register(IngestKey)
class IngestKeyAdmin(admin.ModelAdmin):
    list_display = ("name", "prefix", "created_by", "created_at", "last_used_at", "revoked_at")
    search_fields = ("name", "prefix")
    readonly_fields = ("prefix", "created_by", "created_at", "last_used_at", "revoked_at")
    actions = ["revoke"]

    def get_fields(self, request, obj=None):
        # Adding asks only for a name: the secret is generated, never typed in.
        if obj is None:
            return ["name"]
        return ["name", "prefix", "created_by", "created_at", "last_used_at", "revoked_at"]

    def save_model(self, request, obj, form, change):
        if change:
            return super().save_model(request, obj, form, change)
        key, secret = ingest_key_create(name=obj.name, created_by=request.user)
        obj.pk, obj.prefix, obj.key_hash, obj.created_at = key.pk, key.prefix, key.key_hash, key.created_at
        # Shown once: only its hash is stored.
        messages.warning(request, f"Copy this key now, it will not be shown again: {secret}")

    @admin.action(description="Revoke selected keys")
    def revoke(self, request, queryset):
        for key in queryset:
            ingest_key_revoke(key=key)
        self.message_user(request, f"Revoked {queryset.count()} key(s).")
