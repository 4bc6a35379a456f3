"""Sessions and end users: the calls grouped by non-blank `session_id` or `user_id`, read from raw rows.

Lists are one GROUP BY per page (the total number of groups comes with the page, `COUNT(*) OVER ()`,
so no second pass counts them); the figures that cost a scan of their own (P95, feedback, a session's
user) are then read for the page's groups only. Details are a handful of aggregates over one session's
or one user's calls. Every function takes the parsed `LogFilters` (time window, model, user_id) and
returns plain dicts for the output serializers; `None` means "no such session/user in the window".
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.db import connections
from django.db.models import Count, F, Max, Min, Q, QuerySet, Sum, Window

from llm.analytics.buckets import bucket_expression, bucket_start, bucket_starts
from llm.analytics.filters import LogFilters, matching_logs, parse_filters
from llm.analytics.formulas import HAS_USER, error_count, error_rate
from llm.analytics.percentiles import grouped_latency_percentiles, latency_percentiles
from llm.api.exceptions import InvalidParameter
from llm.models import COST_PLACES, UserFeedback

SESSION_ORDERINGS = ("last_seen", "calls", "cost")
USER_ORDERINGS = ("cost", "calls", "errors", "last_seen")
# A session detail lists at most this many calls (the first ones, in time order): a 20k-call session
# must open at once, and nobody reads past the first thousand turns in a page.
MAX_SESSION_CALLS = 1000
RECENT_SESSIONS = 20
# Ids longer than the column, or with NUL (which PostgreSQL refuses in a literal), match no row.
MAX_ID_CHARS = 255

_COST_QUANTUM = Decimal(1).scaleb(-COST_PLACES)
HAS_SESSION = ~Q(session_id="")
HAS_TRACE = ~Q(trace_id="")


@dataclass(frozen=True)
class GroupPage:
    """One page of groups and how many groups the whole window holds."""

    rows: list[dict]
    total: int


def parse_ordering(*, params, orderings: tuple[str, ...], default: str) -> str:
    """The `ordering` parameter: one of `orderings`, optionally prefixed with '-'; 400 otherwise."""
    ordering = params.get("ordering") or default
    if ordering.removeprefix("-") not in orderings:
        allowed = ", ".join(orderings)
        raise InvalidParameter("ordering", f"Must be one of {allowed}, optionally prefixed with '-'.")
    return ordering


def people_filters(*, params) -> LogFilters:
    """The filters of a sessions or users request; 400 naming the parameter on bad input.

    Only the time window, `model` and `user_id` filter these: the other log filters (status, search...)
    would turn a session's figures into the figures of some of its calls. `ordering` is theirs to parse.
    """
    parsed = parse_filters(params={key: params.get(key) for key in params if key != "ordering"})
    return LogFilters(
        start=parsed.start,
        end=parsed.end,
        end_inclusive=parsed.end_inclusive,
        model=parsed.model,
        user_id=parsed.user_id,
    )


def valid_id(value: str) -> bool:
    """Whether `value` could be a stored session or user id (anything else is simply not found)."""
    return 0 < len(value) <= MAX_ID_CHARS and "\x00" not in value


def _cost(total, priced: int, calls: int) -> Decimal | None:
    """The sum over priced calls; None when there were calls and none was priced (never a made-up $0)."""
    if calls and not priced:
        return None
    return Decimal(total or 0).quantize(_COST_QUANTUM)


def _figures() -> dict:
    """The aggregates every session and user row carries."""
    return {
        "calls": Count("*"),
        "total_tokens": Sum("total_tokens"),
        "cost_sum": Sum("cost_estimate"),
        "priced": Count("cost_estimate"),
        "errors": error_count(),
        "first_seen": Min("timestamp"),
        "last_seen": Max("timestamp"),
    }


def _shape(row: dict) -> dict:
    """A grouped row as the API shows it: cost null when unpriced, no helper columns."""
    calls = row["calls"]
    return {
        **{key: value for key, value in row.items() if key not in ("cost_sum", "priced", "total")},
        "total_tokens": row["total_tokens"] or 0,
        "cost": _cost(row["cost_sum"], row["priced"], calls),
    }


def _order(ordering: str, key: str) -> list:
    """ORDER BY of a group list: the figure (an unpriced group's null cost counts as the smallest), then the key."""
    name = ordering.removeprefix("-")
    field = "cost_sum" if name == "cost" else name
    if ordering.startswith("-"):
        return [F(field).desc(nulls_last=True), F(key).desc()]
    return [F(field).asc(nulls_first=True), F(key).asc()]


def _grouped_page(calls: QuerySet, *, key: str, extra: dict, ordering: str, offset: int, limit: int) -> GroupPage:
    rows = list(
        calls.values(key)
        # COUNT(*) OVER () after GROUP BY counts the groups: the page and its total in one pass.
        .annotate(**_figures(), **extra, total=Window(Count("*")))
        .order_by(*_order(ordering, key))[offset : offset + limit]
    )
    return GroupPage(rows=rows, total=rows[0]["total"] if rows else 0)


def _feedback_counts(*, calls: QuerySet, key: str | None) -> dict:
    """{group key (None when key is None): (thumbs up, thumbs down)} over the feedback given on `calls`."""
    up, down = UserFeedback.Rating.THUMBS_UP, UserFeedback.Rating.THUMBS_DOWN
    feedback = UserFeedback.objects.order_by().filter(request__in=calls.values("pk"))
    counts = {"up": Count("rating", filter=Q(rating=up)), "down": Count("rating", filter=Q(rating=down))}
    if key is None:
        row = feedback.aggregate(**counts)
        return {None: (row["up"], row["down"])}
    rows = feedback.values(group=F(f"request__{key}")).annotate(**counts)
    return {row["group"]: (row["up"], row["down"]) for row in rows}


def _session_users(*, calls: QuerySet) -> dict[str, str]:
    """{session_id: its most recent non-blank user_id} over `calls`: one GROUP BY (session, user)."""
    latest: dict[str, tuple[datetime, str]] = {}
    rows = calls.filter(HAS_USER).values("session_id", "user_id").annotate(last=Max("timestamp"))
    for row in rows:
        seen = latest.get(row["session_id"])
        if seen is None or (row["last"], row["user_id"]) > seen:
            latest[row["session_id"]] = (row["last"], row["user_id"])
    return {session: user for session, (_, user) in latest.items()}


def session_list(*, filters: LogFilters, ordering: str, offset: int, limit: int) -> GroupPage:
    """Sessions (calls grouped by non-blank session_id) of the window, in `ordering` (see SESSION_ORDERINGS).

    Rows: session_id, user_id (most recent non-blank, "" if none), first_seen, last_seen, calls, traces
    (distinct non-blank trace_id), total_tokens, cost (None when all unpriced), errors, feedback_up,
    feedback_down. Four queries whatever the page size.
    """
    calls = matching_logs(filters=filters).filter(HAS_SESSION)
    traces = {"traces": Count("trace_id", distinct=True, filter=HAS_TRACE)}
    page = _grouped_page(calls, key="session_id", extra=traces, ordering=ordering, offset=offset, limit=limit)
    keys = [row["session_id"] for row in page.rows]
    if not keys:
        return page
    on_page = calls.filter(session_id__in=keys)
    users = _session_users(calls=on_page)
    feedback = _feedback_counts(calls=on_page, key="session_id")
    rows = []
    for row in page.rows:
        up, down = feedback.get(row["session_id"], (0, 0))
        user = users.get(row["session_id"], "")
        rows.append({**_shape(row), "user_id": user, "feedback_up": up, "feedback_down": down})
    return GroupPage(rows=rows, total=page.total)


def session_detail(*, filters: LogFilters, session_id: str, max_calls: int = MAX_SESSION_CALLS) -> dict | None:
    """One session's figures (as in `session_list`) and its first `max_calls` calls in time order, with
    their texts and feedback (`turns`, `calls_truncated`). None when the window holds no call of it."""
    if not valid_id(session_id):
        return None
    calls = matching_logs(filters=filters).filter(session_id=session_id)
    row = calls.aggregate(**_figures(), traces=Count("trace_id", distinct=True, filter=HAS_TRACE))
    if not row["calls"]:
        return None
    user = calls.filter(HAS_USER).order_by("-timestamp", "-id").values_list("user_id", flat=True).first()
    up, down = _feedback_counts(calls=calls, key=None)[None]
    listed = list(calls.order_by("timestamp", "id").prefetch_related("feedback")[:max_calls])
    return {
        "session_id": session_id,
        **_shape(row),
        "user_id": user or "",
        "feedback_up": up,
        "feedback_down": down,
        "calls_truncated": row["calls"] > len(listed),
        "turns": listed,
    }


def _p95(value: float | None) -> float | None:
    return None if value is None else round(float(value), 3)


def _user_row(row: dict, *, p95: float | None, feedback: tuple[int, int]) -> dict:
    return {
        **_shape(row),
        "error_rate": error_rate(errors=row["errors"], calls=row["calls"]),
        "p95_latency_ms": _p95(p95),
        "feedback_up": feedback[0],
        "feedback_down": feedback[1],
    }


def user_list(*, filters: LogFilters, ordering: str, offset: int, limit: int) -> GroupPage:
    """End users (non-blank user_id) of the window, in `ordering` (see USER_ORDERINGS).

    Rows: user_id, calls, total_tokens, cost, errors, error_rate, p95_latency_ms (exact, continuous),
    feedback_up, feedback_down, first_seen, last_seen. The P95 and the feedback are read for the page's
    users only. Four queries on PostgreSQL, five on SQLite (its percentiles take two).
    """
    calls = matching_logs(filters=filters).filter(HAS_USER)
    page = _grouped_page(calls, key="user_id", extra={}, ordering=ordering, offset=offset, limit=limit)
    keys = [row["user_id"] for row in page.rows]
    if not keys:
        return page
    on_page = calls.filter(user_id__in=keys)
    p95 = grouped_latency_percentiles(
        queryset=on_page,
        group_by="user_id",
        fractions=(0.95,),
        counts={row["user_id"]: row["calls"] for row in page.rows},
    )
    feedback = _feedback_counts(calls=on_page, key="user_id")
    rows = [
        _user_row(
            row,
            p95=p95.get(row["user_id"], {}).get(0.95),
            feedback=feedback.get(row["user_id"], (0, 0)),
        )
        for row in page.rows
    ]
    return GroupPage(rows=rows, total=page.total)


def _daily(calls: QuerySet, *, filters: LogFilters, first: datetime, last: datetime) -> list[dict]:
    """Calls, tokens and cost per UTC day over the window (its open ends taken from the data), zero-filled."""
    start = filters.start or first
    if filters.end is None:
        end = last
    else:
        end = filters.end if filters.end_inclusive else filters.end - timedelta(microseconds=1)
    try:
        days = bucket_starts(start=start, last=end, group_by="day")
    except InvalidParameter:
        raise InvalidParameter("start_date", "The daily series holds at most 2,000 days; narrow the window.") from None
    vendor = connections[calls.db].vendor
    rows = (
        calls.annotate(day=bucket_expression(group_by="day", vendor=vendor))
        .values("day")
        .annotate(
            calls=Count("*"),
            total_tokens=Sum("total_tokens"),
            cost_sum=Sum("cost_estimate"),
            priced=Count("cost_estimate"),
        )
    )
    found = {bucket_start(row["day"]): row for row in rows}
    series = []
    for day in days:
        row = found.get(day)
        calls_, priced = (row["calls"], row["priced"]) if row else (0, 0)
        series.append(
            {
                "date": day.date(),
                "calls": calls_,
                "total_tokens": row["total_tokens"] if row else 0,
                "cost": _cost(row["cost_sum"] if row else 0, priced, calls_),
            }
        )
    return series


def _recent_sessions(calls: QuerySet, *, count: int) -> list[dict]:
    rows = (
        calls.filter(HAS_SESSION)
        .values("session_id")
        .annotate(**_figures())
        .order_by("-last_seen", "-session_id")[:count]
    )
    return [_shape(row) for row in rows]


def user_detail(*, filters: LogFilters, user_id: str) -> dict | None:
    """One end user's figures (as in `user_list`), `daily` (calls, tokens, cost per UTC day, zero-filled over
    the window) and `recent_sessions` (their latest RECENT_SESSIONS sessions, by last call). None when the
    window holds no call of theirs."""
    if not valid_id(user_id):
        return None
    calls = matching_logs(filters=filters).filter(user_id=user_id)
    row = calls.aggregate(**_figures())
    if not row["calls"]:
        return None
    p95 = latency_percentiles(queryset=calls, fractions=(0.95,), count=row["calls"])[0.95]
    return {
        "user_id": user_id,
        **_user_row(row, p95=p95, feedback=_feedback_counts(calls=calls, key=None)[None]),
        "daily": _daily(calls, filters=filters, first=row["first_seen"], last=row["last_seen"]),
        "recent_sessions": _recent_sessions(calls, count=RECENT_SESSIONS),
    }
