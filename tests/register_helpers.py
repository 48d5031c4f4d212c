"""Small helpers for tests that write a register on a real calendar."""

from __future__ import annotations

import datetime as dt


def day_marks(calendar, start, end, code="/"):
    """Both sessions of every school day from ``start`` to ``end`` with ``code`` (for ``add_marks``)."""
    return [(d, s, code) for d in calendar.school_days(start, end) for s in ("AM", "PM")]


def day_runs(calendar, *runs):
    """``day_marks`` for several runs, each (start, end) present or (start, end, code)."""
    return [m for run in runs for m in day_marks(calendar, *run)]


def first_sessions(n: int, start: dt.date = dt.date(2025, 9, 3)) -> list[tuple[dt.date, str]]:
    """The first n weekday sessions from ``start`` (Great Chart has no holiday before 17 Oct 2025)."""
    out, day = [], start
    while len(out) < n:
        if day.weekday() < 5:
            out += [(day, "AM"), (day, "PM")]
        day += dt.timedelta(days=1)
    return out[:n]
