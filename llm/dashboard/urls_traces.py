"""Trace pages (/traces/...), added to llm.dashboard.urls."""

from django.urls import path

from llm.dashboard import traces

urlpatterns = [
    path("traces/", traces.traces, name="traces"),
    path("traces/<str:trace_id>/", traces.trace_detail, name="trace-detail"),
]
