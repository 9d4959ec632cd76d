"""How many rows a list has, for its pager (issue 22, point 1).

One helper for every list: counting every row of a big table on each page view is
what makes admin lists slow, so the count is exact only up to ``EXACT_UP_TO`` rows (a
bounded ``COUNT`` over at most that many rows plus one). Above it PostgreSQL's planner
gives an estimate (``EXPLAIN``: no row is read); SQLite, a small installation's
database, counts exactly.
"""
import json
from dataclasses import dataclass

from ..db import db, is_postgres

EXACT_UP_TO = 10000


@dataclass(frozen=True)
class RowCount:
    value: int
    exact: bool


def _unordered(query):
    return query.order_by().limit(None).offset(None)


def estimate(query):
    """The planner's estimate of the rows ``query`` returns (PostgreSQL)."""
    sql, params = _unordered(query).sql()
    row = db.execute_sql("EXPLAIN (FORMAT JSON) " + sql, params).fetchone()
    plan = json.loads(row[0]) if isinstance(row[0], str) else row[0]
    return int(plan[0]["Plan"]["Plan Rows"])


def count_rows(query, exact_up_to=None):
    """The rows ``query`` returns (its order, limit and offset left out): a
    :class:`RowCount`, exact up to ``exact_up_to`` rows (``EXACT_UP_TO``), estimated
    above it on PostgreSQL (never below the bound it passed)."""
    bound = EXACT_UP_TO if exact_up_to is None else exact_up_to
    base = _unordered(query)
    bounded = base.limit(bound + 1).count()
    if bounded <= bound:
        return RowCount(bounded, True)
    if not is_postgres():
        return RowCount(base.count(), True)
    return RowCount(max(estimate(base), bound + 1), False)


__all__ = ["EXACT_UP_TO", "RowCount", "count_rows", "estimate"]
