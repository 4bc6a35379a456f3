"""The one parser of the shared query parameters of the list, metrics and export endpoints.

`parse_filters` turns a request's query parameters into a `LogFilters` (or raises
InvalidParameter naming the parameter: a 400, never a 500); `filter_logs` applies it to
a queryset. Dates: ISO 8601 date or datetime, naive means UTC. A date-only `end_date`
covers that whole day; a datetime `end_date` is inclusive. `parse_choice` and
`parse_positive_int` read single parameters (rating, page, page_size...) with the same 400s.
"""

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from django.db.models import Q, QuerySet
from django.utils.dateparse import parse_date, parse_datetime

from llm.api.exceptions import InvalidParameter
from llm.models import ErrorType, LLMRequestLog

GROUP_BY_CHOICES = ("minute", "hour", "day", "week", "month")
MAX_BUCKETS = 2000
# Client-chosen ordering is only ever one of these (each also served by an index or a short sort).
ORDERING_FIELDS = ("timestamp", "latency_ms", "total_tokens", "cost_estimate")
MAX_TEXT_FILTER = 200
# The largest integer both databases store (SQLite INTEGER, PostgreSQL bigint).
MAX_DATABASE_INT = 2**63 - 1


@dataclass(frozen=True)
class LogFilters:
    """Parsed filters. `end` is exclusive when `end_inclusive` is False (date-only end_date)."""

    start: datetime | None = None
    end: datetime | None = None
    end_inclusive: bool = True
    model: str | None = None
    status: str | None = None
    user_id: str | None = None
    group_by: str | None = None
    session_id: str | None = None
    error_type: str | None = None
    search: str | None = None
    min_latency_ms: float | None = None
    ordering: tuple[str, ...] = field(default=("-timestamp", "-id"))


def _parse_instant(name: str, raw: str, *, end: bool) -> tuple[datetime, bool]:
    """(instant in UTC, inclusive?) for a date or datetime parameter."""
    raw = raw.strip()
    if "T" in raw and " " in raw:
        # An unencoded "+02:00" offset arrives with its "+" decoded as a space.
        raw = raw.replace(" ", "+")
    try:
        parsed = parse_datetime(raw) if len(raw) > 10 else None
        day = None if parsed else parse_date(raw)
    except ValueError:
        parsed = day = None
    if parsed is None and day is None:
        raise InvalidParameter(name, "Enter an ISO 8601 date or datetime, e.g. 2024-01-31 or 2024-01-31T12:00:00Z.")
    if parsed is not None:
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        try:
            return parsed.astimezone(UTC), True
        except (OverflowError, ValueError):
            raise InvalidParameter(name, "Date is out of range.") from None
    if end:
        # The whole of the given day: up to (not including) the next midnight.
        if day == date.max:
            raise InvalidParameter(name, "Date is out of range.")
        return datetime.combine(day + timedelta(days=1), time.min, tzinfo=UTC), False
    return datetime.combine(day, time.min, tzinfo=UTC), True


def parse_choice(*, params, name: str, choices) -> str | None:
    """The value of `name` if it is one of `choices`, None when absent; 400 otherwise."""
    raw = params.get(name)
    if raw in (None, ""):
        return None
    if raw not in choices:
        raise InvalidParameter(name, f"Must be one of: {', '.join(choices)}.")
    return raw


def parse_positive_int(*, params, name: str, default: int | None = None, maximum: int | None = None) -> int | None:
    """The whole number of 1 or more (up to `maximum`) given as `name`, `default` when absent; 400 otherwise."""
    raw = params.get(name)
    if raw in (None, ""):
        return default
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 1 or (maximum is not None and value > maximum):
        limit = f"from 1 to {maximum}" if maximum is not None else "of 1 or more"
        raise InvalidParameter(name, f"Must be a whole number {limit}.")
    if value > MAX_DATABASE_INT:  # an id no column can hold; the database driver would raise
        raise InvalidParameter(name, f"Must be a whole number from 1 to {MAX_DATABASE_INT}.")
    return value


def _text(params, name: str) -> str | None:
    raw = params.get(name)
    if raw in (None, ""):
        return None
    if len(raw) > MAX_TEXT_FILTER or "\x00" in raw:
        raise InvalidParameter(name, f"Must be at most {MAX_TEXT_FILTER} characters, without NUL.")
    return raw


def _ordering(params) -> tuple[str, ...]:
    raw = params.get("ordering")
    if raw in (None, ""):
        return ("-timestamp", "-id")
    # One optional '-' only: '--timestamp' reached the ORM and failed there (a 500).
    if raw.removeprefix("-") not in ORDERING_FIELDS:
        allowed = ", ".join(ORDERING_FIELDS)
        raise InvalidParameter("ordering", f"Must be one of {allowed}, optionally prefixed with '-'.")
    # The id tie-breaker keeps pages stable when many rows share a value.
    return (raw, "-id" if raw.startswith("-") else "id")


def _min_latency(params) -> float | None:
    raw = params.get("min_latency_ms")
    if raw in (None, ""):
        return None
    try:
        value = float(raw)
    except ValueError:
        value = float("nan")
    if not 0 <= value < 1e12:
        raise InvalidParameter("min_latency_ms", "Must be a non-negative number of milliseconds.")
    return value


def parse_filters(*, params) -> LogFilters:
    """Parse every shared filter parameter of `params` (a QueryDict or dict); 400 on bad input."""
    start = end = None
    end_inclusive = True
    if params.get("start_date"):
        start, _ = _parse_instant("start_date", params["start_date"], end=False)
    if params.get("end_date"):
        end, end_inclusive = _parse_instant("end_date", params["end_date"], end=True)
    if start and end and (start > end or (start == end and not end_inclusive)):
        raise InvalidParameter("start_date", "start_date must not be after end_date.")
    return LogFilters(
        start=start,
        end=end,
        end_inclusive=end_inclusive,
        model=_text(params, "model"),
        status=parse_choice(params=params, name="status", choices=LLMRequestLog.Status.values),
        user_id=_text(params, "user_id"),
        group_by=parse_choice(params=params, name="group_by", choices=GROUP_BY_CHOICES),
        session_id=_text(params, "session_id"),
        error_type=parse_choice(params=params, name="error_type", choices=ErrorType.values),
        search=_text(params, "search"),
        min_latency_ms=_min_latency(params),
        ordering=_ordering(params),
    )


def matching_logs(*, filters: LogFilters) -> QuerySet:
    """Every stored call `filters` selects, in no particular order (callers order or aggregate)."""
    return filter_logs(queryset=LLMRequestLog.objects.order_by(), filters=filters)


def filter_logs(*, queryset: QuerySet, filters: LogFilters) -> QuerySet:
    """`queryset` restricted to the rows `filters` select (ordering is left to the caller)."""
    condition = Q()
    if filters.start is not None:
        condition &= Q(timestamp__gte=filters.start)
    if filters.end is not None:
        condition &= Q(timestamp__lte=filters.end) if filters.end_inclusive else Q(timestamp__lt=filters.end)
    for name, lookup in (
        ("model", "model_name"),
        ("status", "status"),
        ("user_id", "user_id"),
        ("session_id", "session_id"),
        ("error_type", "error_type"),
    ):
        value = getattr(filters, name)
        if value is not None:
            condition &= Q(**{lookup: value})
    if filters.min_latency_ms is not None:
        condition &= Q(latency_ms__gte=filters.min_latency_ms)
    if filters.search is not None:
        condition &= Q(prompt_text__icontains=filters.search) | Q(response_text__icontains=filters.search)
    return queryset.filter(condition)
