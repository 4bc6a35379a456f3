"""The rows behind the traces list and a trace's waterfall.

A trace is every call sharing a `trace_id`, with the spans stored around them (llm/sources/otlp.py).
Every stored trace holds at least one call, so the list groups the calls (the shared filters and time
window apply to them) and reads each group's spans through the spans' (trace_id, span_id) index. A trace
made only of calls (sent to /api/ingest/ with a trace_id) is listed and drawn from its calls.
"""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from django.db import connections
from django.db.models import Count, F, FloatField, Func, Max, Min, Q, QuerySet, Sum
from django.utils import timezone

from llm.analytics.filters import LogFilters, filter_logs
from llm.api.exceptions import InvalidParameter
from llm.models import LLMRequestLog, Span

TRACE_ORDERING = ("start", "duration_ms")
DEFAULT_TRACE_ORDERING = "-start"
MAX_TRACE_ID_CHARS = 32


class EpochMs(Func):
    """Milliseconds since 1970 of a datetime expression, as a float, on both databases."""

    output_field = FloatField()

    def as_postgresql(self, compiler, connection, **extra):
        return self.as_sql(
            compiler, connection, template="(EXTRACT(EPOCH FROM %(expressions)s) * 1000)::double precision", **extra
        )

    def as_sqlite(self, compiler, connection, **extra):
        # Django stores SQLite datetimes as text, 'YYYY-MM-DD HH:MM:SS[.ffffff]': whole seconds from
        # strftime, microseconds from the text (julianday() is off by tens of microseconds at today's dates).
        sql, params = compiler.compile(self.source_expressions[0])
        micros = f"COALESCE(CAST(NULLIF(substr({sql}, 21, 6), '') AS INTEGER), 0)"
        return f"(CAST(strftime('%%s', {sql}) AS INTEGER) * 1000.0 + {micros} / 1000.0)", (*params, *params)


def parse_trace_ordering(*, params) -> tuple[str, str]:
    """(ORDER BY expression, tie-breaker) for `ordering`; 400 naming the parameter for anything else."""
    raw = params.get("ordering") or DEFAULT_TRACE_ORDERING
    if raw.removeprefix("-") not in TRACE_ORDERING:
        raise InvalidParameter("ordering", f"Must be one of {', '.join(TRACE_ORDERING)}, optionally prefixed with '-'.")
    return raw, "-trace_id" if raw.startswith("-") else "trace_id"


def parse_min_duration(*, params) -> float | None:
    raw = params.get("min_duration_ms")
    if raw in (None, ""):
        return None
    try:
        value = float(raw)
    except ValueError:
        value = float("nan")
    if not 0 <= value < 1e12:
        raise InvalidParameter("min_duration_ms", "Must be a non-negative number of milliseconds.")
    return value


class TraceRows:
    """The traces list's rows for one request, sliced like a queryset by the paginator.

    Two grouped reads joined in SQL: the calls of the window per trace (the SQL Django builds for the
    shared filters), and the spans of those traces per trace (through the spans' (trace_id, span_id)
    index). Correlated subqueries per trace were tried first: PostgreSQL put them in the GROUP BY and ran
    them once per call (3.4 s for 5,000 traces).
    """

    def __init__(
        self, *, calls: QuerySet, status: str | None, min_duration_ms: float | None, ordering: tuple[str, str]
    ):
        grouped = calls.values("trace_id").annotate(
            call_start=Min("timestamp"),
            call_end_ms=Max(EpochMs("timestamp") + F("latency_ms")),
            llm_calls=Count("*"),
            total_tokens=Sum("total_tokens"),
            cost=Sum("cost_estimate"),
            call_errors=Count("id", filter=Q(status=LLMRequestLog.Status.ERROR)),
            user_id=Max("user_id"),
            session_id=Max("session_id"),
        )
        self.calls_sql, self.params = grouped.query.sql_with_params()
        self.converters = grouped
        self.status, self.min_duration_ms, self.ordering = status, min_duration_ms, ordering

    def _sql(self, connection) -> tuple[str, list]:
        epoch = _EPOCH_SQL[connection.vendor]
        spans = connection.ops.quote_name(Span._meta.db_table)
        # The earliest start and the latest end of the trace's spans and calls (a call may have no span).
        start = "CASE WHEN s.span_start < c.call_start THEN s.span_start ELSE c.call_start END"
        span_end_ms = epoch.format("s.span_end")
        end_ms = f"CASE WHEN {span_end_ms} > c.call_end_ms THEN {span_end_ms} ELSE c.call_end_ms END"
        where, params = [], list(self.params)
        if self.status == LLMRequestLog.Status.ERROR:
            where.append("(c.call_errors > 0 OR s.span_errors > 0)")
        elif self.status == LLMRequestLog.Status.SUCCESS:
            where.append("c.call_errors = 0 AND COALESCE(s.span_errors, 0) = 0")
        if self.min_duration_ms is not None:
            where.append(f"({end_ms}) - {epoch.format(f'({start})')} >= %s")
            params.append(self.min_duration_ms)
        column, tie = self.ordering
        direction = "DESC" if column.startswith("-") else "ASC"
        key = "start" if column.removeprefix("-") == "start" else "duration_ms"
        sql = f"""
            WITH c AS ({self.calls_sql}),
            s AS (
                SELECT trace_id, MIN(start) AS span_start, MAX("end") AS span_end,
                       SUM(CASE WHEN status_code = 'error' THEN 1 ELSE 0 END) AS span_errors
                FROM {spans} WHERE trace_id IN (SELECT trace_id FROM c) GROUP BY trace_id
            ),
            t AS (
                SELECT c.trace_id, c.llm_calls, c.total_tokens, c.cost, c.call_errors, c.user_id, c.session_id,
                       {start} AS start, ({end_ms}) - {epoch.format(f"({start})")} AS duration_ms
                FROM c LEFT JOIN s ON s.trace_id = c.trace_id
                {"WHERE " + " AND ".join(where) if where else ""}
            )
            SELECT * FROM t ORDER BY {key} {direction}, trace_id {direction}
        """
        return sql, params

    def order_by(self, *args) -> "TraceRows":
        return self

    def __getitem__(self, window: slice) -> "_TraceWindow":
        return _TraceWindow(self, window.start or 0, window.stop - (window.start or 0))


class _TraceWindow:
    def __init__(self, rows: TraceRows, offset: int, limit: int):
        self.rows, self.offset, self.limit = rows, offset, limit

    def __iter__(self):
        connection = connections[self.rows.converters.db]
        sql, params = self.rows._sql(connection)
        with connection.cursor() as cursor:
            cursor.execute(f"{sql} LIMIT %s OFFSET %s", [*params, self.limit, self.offset])
            names = [column[0] for column in cursor.description]
            found = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
        for row in found:
            row["start"] = _datetime(row["start"], connection)
            row["cost"] = None if row["cost"] is None else Decimal(str(row["cost"])).quantize(Decimal("0.000001"))
        return iter(found)

    def count(self) -> int:
        connection = connections[self.rows.converters.db]
        sql, params = self.rows._sql(connection)
        if self.rows.status is None and self.rows.min_duration_ms is None:
            # Every trace of the calls is listed: counting them needs no span (half the page's time).
            sql, params = f"SELECT trace_id FROM ({self.rows.calls_sql}) c", list(self.rows.params)
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT COUNT(*) FROM ({sql} LIMIT %s OFFSET %s) counted", [*params, self.limit, self.offset]
            )
            return cursor.fetchone()[0]


_EPOCH_SQL = {
    "postgresql": "(EXTRACT(EPOCH FROM {}) * 1000)::double precision",
    "sqlite": "(CAST(strftime('%%s', {0}) AS INTEGER) * 1000.0"
    " + COALESCE(CAST(NULLIF(substr({0}, 21, 6), '') AS INTEGER), 0) / 1000.0)",
}


def _datetime(value, connection):
    if isinstance(value, str):  # SQLite hands back its text
        value = datetime.fromisoformat(value)
    return value if timezone.is_aware(value) else timezone.make_aware(value, UTC)


def trace_list_queryset(*, filters: LogFilters, ordering: tuple[str, str], min_duration_ms: float | None) -> TraceRows:
    """One dict per trace with calls that `filters` select: figures of its calls, `start` and `duration_ms`.

    `model`, `user_id` and `session_id` select the traces holding such a call, and the figures still count
    every call of the trace in the window; `status=error` selects traces with a failed call or span.
    Span counts, errors and root names of a page's traces come from `complete_trace_rows`.
    """
    calls = LLMRequestLog.objects.order_by().exclude(trace_id="")
    window = LogFilters(start=filters.start, end=filters.end, end_inclusive=filters.end_inclusive)
    calls = filter_logs(queryset=calls, filters=window)
    for name, column in (("model", "model_name"), ("user_id", "user_id"), ("session_id", "session_id")):
        value = getattr(filters, name)
        if value is not None:
            holding = LLMRequestLog.objects.order_by().filter(**{column: value}).exclude(trace_id="")
            calls = calls.filter(trace_id__in=filter_logs(queryset=holding, filters=window).values("trace_id"))
    return TraceRows(calls=calls, status=filters.status, min_duration_ms=min_duration_ms, ordering=ordering)


def complete_trace_rows(rows: list[dict]) -> list[dict]:
    """The page's rows with `name`, `span_count` and `error_count`, from two queries over their spans."""
    ids = [row["trace_id"] for row in rows]
    spans = (
        Span.objects.filter(trace_id__in=ids)
        .order_by()
        .values("trace_id")
        .annotate(
            spans=Count("*"),
            linked=Count("call_id"),
            errors=Count("id", filter=Q(status_code=Span.StatusCode.ERROR)),
            linked_errors=Count("id", filter=Q(status_code=Span.StatusCode.ERROR, call__isnull=False)),
        )
    )
    figures = {row["trace_id"]: row for row in spans}
    roots = _root_names(ids)
    for row in rows:
        found = figures.get(row["trace_id"], {"spans": 0, "linked": 0, "errors": 0, "linked_errors": 0})
        # Calls without a span of their own (sent to /api/ingest/) are spans of the trace too.
        row["span_count"] = found["spans"] + max(row["llm_calls"] - found["linked"], 0)
        row["error_count"] = found["errors"] + max(row["call_errors"] - found["linked_errors"], 0)
        row["name"] = roots.get(row["trace_id"], "")
        row["duration_ms"] = round(max(row["duration_ms"] or 0.0, 0.0), 3)
    return rows


def _root_names(trace_ids: list[str]) -> dict[str, str]:
    """{trace_id: the name of its earliest span without a parent}, or of its first call when it has no span."""
    names = {}
    spans = Span.objects.filter(trace_id__in=trace_ids, parent_span_id="").order_by("trace_id", "-start")
    for trace_id, name in spans.values_list("trace_id", "name"):
        names[trace_id] = name  # later rows start earlier: the earliest root wins
    missing = [trace_id for trace_id in trace_ids if trace_id not in names]
    if missing:
        calls = LLMRequestLog.objects.filter(trace_id__in=missing).order_by("trace_id", "-timestamp")
        for trace_id, span_name, model in calls.values_list("trace_id", "metadata__span_name", "model_name"):
            names[trace_id] = span_name or model
    return names


# --- One trace ----------------------------------------------------------------------------


@dataclass
class TraceNode:
    span_id: str
    parent_span_id: str
    name: str
    kind: str
    start: object
    end: object
    status: str
    status_message: str
    service_name: str
    attributes: dict
    call: LLMRequestLog | None
    orphan: bool = False
    depth: int = 0
    offset_ms: float = 0.0

    @property
    def duration_ms(self) -> float:
        return round((self.end - self.start) / timedelta(milliseconds=1), 3)


CALL_FIELDS = (
    "request_id",
    "timestamp",
    "model_name",
    "provider",
    "status",
    "error_type",
    "prompt_tokens",
    "completion_tokens",
    "total_tokens",
    "latency_ms",
    "time_to_first_token_ms",
    "cost_estimate",
    "user_id",
    "session_id",
    "span_id",
    "parent_span_id",
    "metadata",
)


def trace_detail(*, trace_id: str) -> dict | None:
    """The trace's summary and its spans in tree order (parents before children, siblings by start);
    None when no call or span has this id. Texts are not loaded: a page reads them from /api/logs/<id>/.
    """
    if len(trace_id) > MAX_TRACE_ID_CHARS:
        return None
    spans = list(
        Span.objects.filter(trace_id=trace_id)
        .select_related("call")
        .defer("call__prompt_text", "call__response_text", "call__error_message")
        .order_by("start", "span_id")
    )
    linked = {span.call_id for span in spans if span.call_id}
    calls = [
        call
        for call in LLMRequestLog.objects.filter(trace_id=trace_id).only(*CALL_FIELDS).order_by("timestamp", "id")
        if call.request_id not in linked
    ]
    if not spans and not calls:
        return None
    nodes = [_span_node(span) for span in spans] + [_call_node(call) for call in calls]
    ordered = tree_order(nodes)
    start = min(node.start for node in ordered)
    for node in ordered:
        node.offset_ms = round((node.start - start) / timedelta(milliseconds=1), 3)
    end = max(node.end for node in ordered)
    every_call = [node.call for node in ordered if node.call is not None]
    return {
        "trace_id": trace_id,
        "name": next((node.name for node in ordered if node.depth == 0), ""),
        "start": start,
        "duration_ms": round((end - start) / timedelta(milliseconds=1), 3),
        "span_count": len(ordered),
        "llm_calls": len(every_call),
        "total_tokens": sum(call.total_tokens for call in every_call),
        "cost": _sum_costs(every_call),
        "error_count": sum(node.status == Span.StatusCode.ERROR for node in ordered),
        "user_id": max((call.user_id for call in every_call), default=""),
        "session_id": max((call.session_id for call in every_call), default=""),
        "spans": ordered,
    }


def _sum_costs(calls: list[LLMRequestLog]):
    costs = [call.cost_estimate for call in calls if call.cost_estimate is not None]
    return sum(costs) if costs else None


def _span_node(span: Span) -> TraceNode:
    return TraceNode(
        span_id=span.span_id,
        parent_span_id=span.parent_span_id,
        name=span.name,
        kind=span.kind,
        start=span.start,
        end=span.end,
        status=span.status_code,
        status_message=span.status_message,
        service_name=span.service_name,
        attributes=span.attributes,
        call=span.call if span.call_id else None,
    )


def _call_node(call: LLMRequestLog) -> TraceNode:
    """A call without a span row, drawn as the span it was: from its time and latency."""
    failed = call.status == LLMRequestLog.Status.ERROR
    return TraceNode(
        span_id=call.span_id or call.request_id.hex[:16],
        parent_span_id=call.parent_span_id,
        name=(call.metadata or {}).get("span_name") or call.model_name,
        kind=Span.Kind.CLIENT,
        start=call.timestamp,
        end=call.timestamp + timedelta(milliseconds=call.latency_ms),
        status=Span.StatusCode.ERROR if failed else Span.StatusCode.UNSET,
        status_message="",
        service_name=(call.metadata or {}).get("service", ""),
        attributes={},
        call=call,
    )


def tree_order(nodes: list[TraceNode]) -> list[TraceNode]:
    """`nodes` (sorted by start) in depth-first order with `depth` and `orphan` set.

    Roots are spans without a parent, and orphans: spans whose parent is not stored (it may never
    arrive). A span caught in a cycle of parent links has no way up to a root; the earliest span of
    each cycle is taken as an orphan root, so every span is shown once and the walk always ends.
    """
    by_id = {}
    for node in nodes:
        by_id.setdefault(node.span_id, node)
    children: dict[str, list[TraceNode]] = {}
    roots = []
    for node in nodes:
        parent = node.parent_span_id
        if parent and parent in by_id and by_id[parent] is not node:
            children.setdefault(parent, []).append(node)
        else:
            node.orphan = bool(parent)
            roots.append(node)
    ordered, placed = [], set()

    def walk(root: TraceNode) -> None:
        stack = [(root, 0)]
        while stack:  # iterative: a 10,000-deep chain must not hit Python's recursion limit
            node, depth = stack.pop()
            if id(node) in placed:
                continue
            placed.add(id(node))
            node.depth = depth
            ordered.append(node)
            stack.extend((child, depth + 1) for child in reversed(children.get(node.span_id, [])))

    for root in roots:
        walk(root)
    for node in nodes:
        if id(node) not in placed:  # only spans in (or below) a cycle are left
            node.orphan = True
            walk(node)
    # Each root with its subtree, the roots in order of start (the cycles' roots were walked last).
    blocks: list[list[TraceNode]] = []
    for node in ordered:
        if node.depth == 0:
            blocks.append([])
        blocks[-1].append(node)
    blocks.sort(key=lambda block: block[0].start)
    return [node for block in blocks for node in block]
