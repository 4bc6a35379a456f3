"""Trace endpoints (/api/traces/...), added to llm.api.urls."""

urlpatterns = []
