from django.contrib import admin
from django.urls import include, path

from llm.api.views.otlp import OtlpTracesView

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/", include("llm.api.urls")),
    # The standard OTLP/HTTP path, so exporters need only the host in their endpoint.
    path("v1/traces", OtlpTracesView.as_view(), name="otlp-traces"),
    path("", include("llm.dashboard.urls")),
]
