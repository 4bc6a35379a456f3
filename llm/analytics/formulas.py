"""The metric formulas every figure uses, defined once: the API, the pages, the alerts and their
backtests all call these, so an alert and the dashboard can never disagree on a number.

The first half are SQL building blocks (which rows count as failed, who counts as a user), the
second plain arithmetic on the counts the database returns.
"""

from django.db.models import Count, Q, QuerySet

from llm.models import LLMRequestLog

FAILED = Q(status=LLMRequestLog.Status.ERROR)
# A call stored without a user id ("") is nobody in particular, so it adds no user.
HAS_USER = ~Q(user_id="")


def error_count() -> Count:
    """The number of failed calls among the aggregated rows, as an aggregate expression."""
    return Count("status", filter=FAILED)


def unique_users() -> Count:
    """Distinct non-blank user_id among the aggregated rows, as an aggregate expression.

    For an aggregate that sorts its rows anyway (one day's slice); over a whole window, count the
    rows of `distinct_users` instead, which the database can hash rather than sort.
    """
    return Count("user_id", distinct=True, filter=HAS_USER)


def distinct_users(*, queryset: QuerySet, group_by: tuple[str, ...] = ()) -> QuerySet:
    """One row per distinct non-blank user_id (per value of `group_by`) of `queryset`: what
    `unique_users` counts, as a subquery to count the rows of."""
    return queryset.filter(HAS_USER).order_by().values(*group_by, "user_id").distinct()


def error_rate(*, errors: int, calls: int) -> float:
    """errors / calls × 100, to 2 decimals; 0.0 when there were no calls."""
    return percentage(part=errors, whole=calls)


def percentage(*, part: int, whole: int) -> float:
    """part / whole × 100, to 2 decimals; 0.0 when there is nothing to divide."""
    return round(part * 100 / whole, 2) if whole else 0.0


def satisfaction_rate(*, thumbs_up: int, total: int) -> float | None:
    """Share of feedback that is a thumbs up (%), to 2 decimals; None without feedback, which is
    not 0 % satisfaction."""
    return percentage(part=thumbs_up, whole=total) if total else None


def token_spike_ratio(*, tokens: int, baseline: int | None) -> float | None:
    """Tokens in a window over tokens in the window of the same length before it, to 2 decimals.

    None without a baseline: any traffic after a silent window would be an "infinite" spike, which
    is noise, not news.
    """
    return round(tokens / baseline, 2) if baseline else None
