"""The sessions and end-user pages. Like every page they carry no figures of their own: their scripts
(static/js/sessions.js, session_detail.js, users.js, user_detail.js) read /api/sessions/ and /api/users/."""

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse

from llm.analytics.people import valid_id
from llm.dashboard.pages import _page
from llm.models import LLMRequestLog

# (key in /api/users/<user_id>/, label): the user page's cards, in order.
USER_CARDS = [
    ("calls", "Calls"),
    ("total_tokens", "Tokens"),
    ("cost", "Cost"),
    ("errors", "Errors"),
    ("error_rate", "Error rate"),
    ("p95_latency_ms", "P95 latency"),
    ("feedback", "Feedback ↑ / ↓"),
]


@login_required
def sessions(request: HttpRequest) -> HttpResponse:
    return _page(request, "sessions.html", page="sessions")


@login_required
def session_detail(request: HttpRequest, session_id: str) -> HttpResponse:
    # A 404 page for an unknown session beats an empty page whose script then reports one.
    if not valid_id(session_id) or not LLMRequestLog.objects.filter(session_id=session_id).exists():
        raise Http404("No calls with this session id")
    return _page(request, "session_detail.html", page="sessions", session_id=session_id)


@login_required
def users(request: HttpRequest) -> HttpResponse:
    return _page(request, "users.html", page="users")


@login_required
def user_detail(request: HttpRequest, user_id: str) -> HttpResponse:
    if not valid_id(user_id) or not LLMRequestLog.objects.filter(user_id=user_id).exists():
        raise Http404("No calls with this user id")
    return _page(request, "user_detail.html", page="users", end_user=user_id, cards=USER_CARDS)
