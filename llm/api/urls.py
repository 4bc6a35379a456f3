"""URLs of the REST API, mounted at /api/ by core/urls.py. Paths are the public contract."""

from django.urls import path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from llm.api import urls_people, urls_traces
from llm.api.views import alerts as alert_views
from llm.api.views import export, feedback, logs, metrics
from llm.api.views.ingest import IngestView
from llm.api.views.otlp import OtlpTracesView
from llm.api.views.prompt import PromptView

app_name = "api"

urlpatterns = [
    path("alerts/rules/", alert_views.AlertRuleListView.as_view(), name="alert-rules"),
    path("alerts/rules/<int:pk>/", alert_views.AlertRuleDetailView.as_view(), name="alert-rule"),
    path("alerts/rules/<int:pk>/test/", alert_views.AlertRuleTestView.as_view(), name="alert-rule-test"),
    path("alerts/rules/<int:pk>/preview/", alert_views.AlertRulePreviewView.as_view(), name="alert-rule-preview"),
    path("alerts/logs/", alert_views.AlertLogListView.as_view(), name="alert-logs"),
    path("alerts/logs/<int:pk>/acknowledge/", alert_views.AlertAcknowledgeView.as_view(), name="alert-acknowledge"),
    path("metrics/overview/", metrics.OverviewView.as_view(), name="metrics-overview"),
    path("metrics/token-usage/", metrics.TokenUsageView.as_view(), name="metrics-token-usage"),
    path("metrics/latency/", metrics.LatencyView.as_view(), name="metrics-latency"),
    path("metrics/errors/", metrics.ErrorsView.as_view(), name="metrics-errors"),
    path("metrics/model-usage/", metrics.ModelUsageView.as_view(), name="metrics-model-usage"),
    path("metrics/daily-stats/", metrics.DailyStatsView.as_view(), name="metrics-daily-stats"),
    path("logs/", logs.LogListView.as_view(), name="logs"),
    path("logs/errors/", logs.ErrorLogListView.as_view(), name="logs-errors"),
    path("logs/<str:request_id>/", logs.LogDetailView.as_view(), name="log-detail"),
    path("feedback/", feedback.FeedbackView.as_view(), name="feedback"),
    path("feedback/analytics/", feedback.FeedbackAnalyticsView.as_view(), name="feedback-analytics"),
    path("export/csv/", export.ExportCSVView.as_view(), name="export-csv"),
    path("export/json/", export.ExportJSONView.as_view(), name="export-json"),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    # The split view serves its start-up script as a file: the pages' CSP allows no inline script.
    path("docs/", SpectacularSwaggerSplitView.as_view(url_name="api:schema"), name="docs"),
    path("ingest/", IngestView.as_view(), name="ingest"),
    path("otel/v1/traces", OtlpTracesView.as_view(), name="otlp-traces"),
    path("llm/prompt/", PromptView.as_view(), name="llm-prompt"),
]
urlpatterns += urls_traces.urlpatterns + urls_people.urlpatterns
