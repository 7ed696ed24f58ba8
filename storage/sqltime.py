"""Date arithmetic that differs between SQLite and PostgreSQL, behind one spelling each.

- `seconds_between(start, end)`: `end - start` in seconds, as a SQL function. SQLite keeps
  timestamps as UTC text, so it renders `julianday()` arithmetic there (to the millisecond:
  julianday() reads three decimals of a second); PostgreSQL gets `EXTRACT(EPOCH FROM …)`.
- `local_day_index(column, starts)`: which calendar day, in the program's zone, a timestamp
  falls on. The day boundaries come in as UTC instants (`bot.domain.LocalDays`, computed by
  the caller with `bot.oncall.rota.local_days`, the one DST-safe place in the bot): a 23- or
  25-hour day gets exactly its own instants, and zones offset by 30 or 45 minutes work too
  (UTC-hour buckets folded in Python would get those wrong). A balanced `CASE` tree then maps a
  timestamp to its day in log2(days) comparisons. The SQL is the same on both databases, and
  neither needs its own time-zone data.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Float, Integer, SQLColumnExpression, case, literal, literal_column
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.functions import FunctionElement

from storage.models import UTCDateTime

Timestamp = SQLColumnExpression[dt.datetime] | SQLColumnExpression[dt.datetime | None]


class seconds_between(FunctionElement[float]):  # lower case: it reads as a SQL function
    """`end - start` in seconds (a float), rendered in the dialect's own date arithmetic."""

    type = Float()
    name = "seconds_between"
    inherit_cache = True


@compiles(seconds_between)
def _epoch_seconds(element: seconds_between, compiler: SQLCompiler, **kw: Any) -> str:
    start, end = (compiler.process(clause, **kw) for clause in element.clauses)
    return f"EXTRACT(EPOCH FROM ({end} - {start}))"


@compiles(seconds_between, "sqlite")
def _julian_seconds(element: seconds_between, compiler: SQLCompiler, **kw: Any) -> str:
    start, end = (compiler.process(clause, **kw) for clause in element.clauses)
    return f"((julianday({end}) - julianday({start})) * 86400.0)"


def at(value: dt.datetime) -> ColumnElement[dt.datetime]:
    """A bound instant stored as the columns are (UTC; UTC text on SQLite), e.g. in a CASE."""
    return literal(value, UTCDateTime())


def local_day_index(column: Timestamp, starts: Sequence[dt.datetime]) -> ColumnElement[int]:
    """The index of the day `column` falls on, given the sorted start instants of days 1, 2, …

    Day 0 is everything before `starts[0]`; the caller bounds the period with a WHERE.
    """
    if not starts:
        # One day only. Not a bare 0: in GROUP BY, SQLite and PostgreSQL read an integer
        # literal as a column position.
        return case((column.is_(None), 0), else_=0)
    return _day_tree(column, starts, 0)


def _day_tree(column: Timestamp, starts: Sequence[dt.datetime], offset: int) -> ColumnElement[int]:
    if not starts:
        return literal_column(str(offset), Integer)  # an int we made: safe to inline
    middle = len(starts) // 2
    return case(
        (column < at(starts[middle]), _day_tree(column, starts[:middle], offset)),
        else_=_day_tree(column, starts[middle + 1 :], offset + middle + 1),
    )
