"""Trace pages (/traces/...), added to llm.dashboard.urls."""

urlpatterns = []
