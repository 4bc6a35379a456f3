"""The traces pages. Like every page they carry no figures of their own: their scripts
(static/js/traces.js, static/js/trace_detail.js) read /api/traces/ and /api/traces/<trace_id>/."""

import re

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse

from llm.dashboard.pages import _page
from llm.models import LLMRequestLog, Span

_TRACE_ID = re.compile(r"^[0-9a-f]{32}$")


@login_required
def traces(request: HttpRequest) -> HttpResponse:
    return _page(request, "traces.html", page="traces")


@login_required
def trace_detail(request: HttpRequest, trace_id: str) -> HttpResponse:
    # A 404 page for an unknown trace beats an empty waterfall whose script then reports one.
    trace_id = trace_id.lower()
    known = _TRACE_ID.match(trace_id) and (
        Span.objects.filter(trace_id=trace_id).exists() or LLMRequestLog.objects.filter(trace_id=trace_id).exists()
    )
    if not known:
        raise Http404("No trace with this trace id")
    return _page(request, "trace_detail.html", page="traces", trace_id=trace_id)
