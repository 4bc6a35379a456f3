"""The rows behind the logs and feedback lists: filtered, ordered, and without the large texts."""

from django.db.models import Q, QuerySet
from django.db.models.functions import Substr

from llm.analytics.filters import LogFilters, matching_logs
from llm.analytics.formulas import FAILED
from llm.models import UserFeedback

# How much of a prompt, response or error message a list shows; the error breakdown's latest
# errors are cut to the same length.
PREVIEW_CHARS = 200


def log_list_queryset(*, filters: LogFilters, errors_only: bool = False) -> QuerySet:
    """Rows for the logs list in the requested order, without the large text columns.

    Prompt, response and error message come as PREVIEW_CHARS-character previews cut in SQL
    (`prompt_preview`, `response_preview`, `error_preview`); the texts themselves are deferred.
    """
    queryset = matching_logs(filters=filters)
    if errors_only:
        queryset = queryset.filter(FAILED)
    return (
        queryset.defer("prompt_text", "response_text", "error_message", "metadata")
        .annotate(
            prompt_preview=Substr("prompt_text", 1, PREVIEW_CHARS),
            response_preview=Substr("response_text", 1, PREVIEW_CHARS),
            error_preview=Substr("error_message", 1, PREVIEW_CHARS),
        )
        .order_by(*filters.ordering)
    )


def feedback_queryset(*, filters: LogFilters, rating: str | None = None) -> QuerySet:
    """Feedback rows in the window (by when feedback was given), newest first; `model` and
    `user_id` filter on the rated call."""
    condition = Q()
    if filters.start is not None:
        condition &= Q(created_at__gte=filters.start)
    if filters.end is not None:
        condition &= Q(created_at__lte=filters.end) if filters.end_inclusive else Q(created_at__lt=filters.end)
    if filters.model is not None:
        condition &= Q(request__model_name=filters.model)
    if filters.user_id is not None:
        condition &= Q(request__user_id=filters.user_id)
    if rating is not None:
        condition &= Q(rating=rating)
    return UserFeedback.objects.filter(condition).order_by("-created_at", "-id")
