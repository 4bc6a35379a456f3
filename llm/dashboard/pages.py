"""The dashboard's server-rendered pages.

The pages carry no figures of their own: each page's script (static/js/<page>.js) calls the
REST API, so what a page shows is exactly what the API returns. The views only add what must be
known before the first request: the banners (firing alerts, unsaved calls, alert checks not
running), the priced models for pickers, and whether Groq is configured.
"""

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.db.models import Count, Max
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from llm.calls import spool
from llm.models import AlertRule, LLMRequestLog, ModelPrice

logger = logging.getLogger(__name__)

API_ROOT = "/api/"

# (key in /api/metrics/overview/, label): the overview's cards, in order.
OVERVIEW_CARDS = [
    ("total_calls", "Calls"),
    ("error_rate", "Error rate"),
    ("avg_latency_ms", "Avg latency"),
    ("p95_latency_ms", "P95 latency"),
    ("total_tokens", "Tokens"),
    ("total_cost", "Cost"),
    ("unique_users", "Unique users"),
]
OVERVIEW_CHARTS = [
    ("calls", "Calls and errors over time"),
    ("tokens", "Tokens over time"),
    ("cost", "Cost over time"),
    ("latency", "Latency by model"),
    ("models", "Model usage share"),
    ("errors", "Errors by type"),
]
FEEDBACK_CARDS = [
    ("total", "Ratings"),
    ("satisfaction_rate", "Satisfaction"),
    ("thumbs_up", "Thumbs up"),
    ("thumbs_down", "Thumbs down"),
]
ANALYTICS_CHARTS = [
    ("calls", "Calls over time"),
    ("tokens", "Tokens over time"),
    ("cost", "Cost over time"),
    ("latency", "P95 latency over time, by model"),
]


# check_alerts suggests cron every 15 minutes: this long without a check means at least two runs missed.
ALERT_CHECKS_DUE = timedelta(minutes=30)


def _alert_checks_idle(*, now: datetime) -> dict | None:
    """Whether nothing has checked the active rules lately: one aggregate query.

    Returns None while checks run (or when no rule is active, as there is nothing to check), else
    {"last": the latest check of any active rule, None if none was ever checked}.
    """
    row = AlertRule.objects.filter(is_active=True).aggregate(rules=Count("id"), last=Max("last_evaluated_at"))
    if not row["rules"] or (row["last"] is not None and now - row["last"] < ALERT_CHECKS_DUE):
        return None
    return {"last": row["last"]}


def _spool_pending() -> int:
    """Calls waiting in the unsaved-calls spool; 0 when the spool file cannot be read."""
    try:
        return spool.pending_count()
    except OSError:  # an unreadable spool must not take the dashboard down; the banner is advisory
        logger.exception("Could not count the unsaved-calls spool")
        return 0


def _priced_models() -> list[str]:
    return sorted(set(ModelPrice.objects.values_list("model_name", flat=True)))


def _page(request: HttpRequest, template: str, *, page: str, **context) -> HttpResponse:
    context.update(
        page=page,
        api_root=API_ROOT,
        firing_alerts=list(AlertRule.objects.filter(state=AlertRule.State.FIRING).values_list("name", flat=True)[:5]),
        spool_pending=_spool_pending(),
        models=_priced_models(),
    )
    return render(request, template, context)


@login_required
def overview(request: HttpRequest) -> HttpResponse:
    return _page(request, "index.html", page="overview", cards=OVERVIEW_CARDS, charts=OVERVIEW_CHARTS)


@login_required
def analytics(request: HttpRequest) -> HttpResponse:
    return _page(request, "analytics.html", page="analytics", charts=ANALYTICS_CHARTS)


@login_required
def logs(request: HttpRequest) -> HttpResponse:
    return _page(request, "logs.html", page="logs", error_types=LLMRequestLog._meta.get_field("error_type").choices)


@login_required
def log_detail(request: HttpRequest, request_id) -> HttpResponse:
    # A 404 page for an unknown call beats an empty page whose script then reports one.
    if not LLMRequestLog.objects.filter(request_id=request_id).exists():
        raise Http404("No call with this request id")
    return _page(request, "log_detail.html", page="logs", request_id=str(request_id))


@login_required
def feedback(request: HttpRequest) -> HttpResponse:
    return _page(request, "feedback.html", page="feedback", cards=FEEDBACK_CARDS)


@login_required
def alerts(request: HttpRequest) -> HttpResponse:
    return _page(
        request,
        "alerts.html",
        page="alerts",
        metric_types=AlertRule.MetricType.choices,
        comparisons=AlertRule.Comparison.choices,
        alert_checks_idle=_alert_checks_idle(now=timezone.now()),
    )


@login_required
def playground(request: HttpRequest) -> HttpResponse:
    return _page(
        request,
        "playground.html",
        page="playground",
        groq_configured=bool(settings.GROQ_API_KEY),
        default_model=settings.GROQ_DEFAULT_MODEL,
    )


class LoginView(auth_views.LoginView):
    template_name = "login.html"
    redirect_authenticated_user = True


class LogoutView(auth_views.LogoutView):
    """POST only (Django's default): a link or prefetch cannot log the user out."""
