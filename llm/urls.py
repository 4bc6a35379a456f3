"""URLs of the REST API, mounted at /api/ by core/urls.py. Paths are the public contract."""
from django.urls import path

from llm.views.ingest import IngestView
from llm.views.otlp import OtlpTracesView
from llm.views.prompt import PromptView

app_name = "api"

urlpatterns = [
    path("ingest/", IngestView.as_view(), name="ingest"),
    path("otel/v1/traces", OtlpTracesView.as_view(), name="otlp-traces"),
    path("llm/prompt/", PromptView.as_view(), name="llm-prompt"),
]
