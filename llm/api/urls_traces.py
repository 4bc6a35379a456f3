"""Trace endpoints (/api/traces/...), added to llm.api.urls."""

from django.urls import path

from llm.api.views import traces

urlpatterns = [
    path("traces/", traces.TraceListView.as_view(), name="traces"),
    path("traces/<str:trace_id>/", traces.TraceDetailView.as_view(), name="trace-detail"),
]
