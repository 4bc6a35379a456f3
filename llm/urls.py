"""URLs of the REST API, mounted at /api/ by core/urls.py. Paths are the public contract."""
from django.urls import path

from llm.views import alerts as alert_views
from llm.views.ingest import IngestView
from llm.views.otlp import OtlpTracesView
from llm.views.prompt import PromptView

app_name = "api"

urlpatterns = [
    path("alerts/rules/", alert_views.AlertRuleListView.as_view(), name="alert-rules"),
    path("alerts/rules/<int:pk>/", alert_views.AlertRuleDetailView.as_view(), name="alert-rule"),
    path("alerts/rules/<int:pk>/test/", alert_views.AlertRuleTestView.as_view(), name="alert-rule-test"),
    path("alerts/rules/<int:pk>/preview/", alert_views.AlertRulePreviewView.as_view(), name="alert-rule-preview"),
    path("alerts/logs/", alert_views.AlertLogListView.as_view(), name="alert-logs"),
    path("alerts/logs/<int:pk>/acknowledge/", alert_views.AlertAcknowledgeView.as_view(), name="alert-acknowledge"),
    path("ingest/", IngestView.as_view(), name="ingest"),
    path("otel/v1/traces", OtlpTracesView.as_view(), name="otlp-traces"),
    path("llm/prompt/", PromptView.as_view(), name="llm-prompt"),
]
