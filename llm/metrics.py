"""Read-only aggregates over LLMRequestLog: every figure is computed in SQL.

The two places where PostgreSQL and SQLite need different SQL live in one function each:
`latency_percentiles` / `grouped_latency_percentiles` (continuous percentiles) and
`bucket_expression` (time buckets). Both are tested on both databases.
"""
import math
from collections.abc import Hashable, Iterable, Sequence

from django.db import connections
from django.db.models import Aggregate, Count, FloatField, Q, QuerySet

DEFAULT_FRACTIONS = (0.5, 0.95, 0.99)
# SQLite refuses compound SELECTs of more than 500 terms (SQLITE_MAX_COMPOUND_SELECT).
_SQLITE_COMPOUND_LIMIT = 400


class PercentileCont(Aggregate):
    """PostgreSQL's ordered-set aggregate; several of them over the same column share one sort."""

    function = "percentile_cont"
    template = "%(function)s(%(fraction)s) WITHIN GROUP (ORDER BY %(expressions)s)"
    output_field = FloatField()

    def __init__(self, expression, fraction: float, **extra):
        if not 0 <= fraction <= 1:
            raise ValueError("fraction must be within [0, 1]")
        super().__init__(expression, fraction=repr(float(fraction)), **extra)


def _is_postgresql(queryset: QuerySet) -> bool:
    return connections[queryset.db].vendor == "postgresql"


def _interpolate(low: float, high: float | None, position: float) -> float:
    """Linear interpolation between the two closest ranks (percentile_cont, numpy 'linear')."""
    weight = position - math.floor(position)
    if high is None or weight == 0:
        return float(low)
    return float(low) + (float(high) - float(low)) * weight


def _sqlite_ranked_values(queryset: QuerySet, wanted: Sequence[tuple[Hashable, Q, int]]) -> dict:
    """For each (tag, filter, offset): the two latencies at ranks offset and offset+1, ascending.

    Each term is `ORDER BY latency_ms LIMIT 2 OFFSET k`, which walks an index on latency
    instead of sorting; all terms go in one UNION ALL statement (chunked under SQLite's
    compound-select limit), so the query count does not grow with the number of groups.
    """
    found: dict[Hashable, list[float]] = {tag: [] for tag, _, _ in wanted}
    connection = connections[queryset.db]
    for start in range(0, len(wanted), _SQLITE_COMPOUND_LIMIT):
        parts, params = [], []
        for index, (tag, condition, offset) in enumerate(wanted[start:start + _SQLITE_COMPOUND_LIMIT]):
            inner = queryset.filter(condition).order_by("latency_ms").values_list("latency_ms")
            sql, inner_params = inner.query.sql_with_params()
            parts.append(f"SELECT {start + index} AS tag, latency_ms FROM ({sql} LIMIT 2 OFFSET {int(offset)})")
            params.extend(inner_params)
        with connection.cursor() as cursor:
            cursor.execute(" UNION ALL ".join(parts), params)
            rows = cursor.fetchall()
        for position, value in rows:
            found[wanted[position][0]].append(value)
    return {tag: sorted(values) for tag, values in found.items()}


def grouped_latency_percentiles(
    *,
    queryset: QuerySet,
    group_by: str | None = None,
    fractions: Iterable[float] = DEFAULT_FRACTIONS,
) -> dict[Hashable, dict[float, float | None]]:
    """Continuous latency percentiles per value of `group_by` (a field or annotation name).

    Returns {group value: {fraction: latency_ms}}; groups with no rows are absent. With
    `group_by=None` the single key is None. PostgreSQL: one query (percentile_cont per group).
    SQLite: one GROUP BY for the counts, then one UNION ALL of `LIMIT 2 OFFSET k` terms.
    """
    fractions = tuple(float(f) for f in fractions)
    base = queryset.order_by()
    if _is_postgresql(base):
        aggregates = {f"p{i}": PercentileCont("latency_ms", f) for i, f in enumerate(fractions)}
        if group_by is None:
            row = base.aggregate(**aggregates)
            if all(row[f"p{i}"] is None for i in range(len(fractions))):
                return {}
            return {None: {f: row[f"p{i}"] for i, f in enumerate(fractions)}}
        rows = base.values(group_by).annotate(**aggregates)
        return {row[group_by]: {f: row[f"p{i}"] for i, f in enumerate(fractions)} for row in rows}

    if group_by is None:
        counts = {None: base.count()}
    else:
        counts = {row[group_by]: row["n"] for row in base.values(group_by).annotate(n=Count("*"))}
    counts = {key: n for key, n in counts.items() if n}
    wanted = []
    for key, n in counts.items():
        condition = Q() if group_by is None else Q(**{group_by: key})
        for f in fractions:
            wanted.append(((key, f), condition, math.floor(f * (n - 1))))
    if not wanted:
        return {}
    ranked = _sqlite_ranked_values(base, wanted)
    result: dict[Hashable, dict[float, float | None]] = {}
    for key, n in counts.items():
        result[key] = {}
        for f in fractions:
            values = ranked[(key, f)]
            result[key][f] = _interpolate(values[0], values[1] if len(values) > 1 else None, f * (n - 1))
    return result


def latency_percentiles(
    *, queryset: QuerySet, fractions: Iterable[float] = DEFAULT_FRACTIONS
) -> dict[float, float | None]:
    """Continuous percentiles (linear interpolation, = PostgreSQL percentile_cont = numpy's
    default `percentile`) of `latency_ms` over the rows of `queryset`, computed in the database.

    Returns {fraction: latency_ms}; every value is None when the queryset has no rows.
    Queries: 1 on PostgreSQL, 2 on SQLite.
    """
    fractions = tuple(float(f) for f in fractions)
    found = grouped_latency_percentiles(queryset=queryset, fractions=fractions).get(None)
    return found if found is not None else {f: None for f in fractions}
