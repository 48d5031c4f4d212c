"""One clock for the whole of casework.

Everything below the shells asks a ``Clock`` for "now"; the CLI's ``--as-of`` and
the tests set it. Times are Europe/London, the schools' local time, so register
close times and deadlines stay right across the clock changes.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

LONDON = ZoneInfo("Europe/London")


class Clock:
    """The real clock."""

    def now(self) -> dt.datetime:
        return dt.datetime.now(LONDON)

    def today(self) -> dt.date:
        return self.now().date()


class FixedClock(Clock):
    """A clock stopped at a moment, moved only by the caller (tests, --as-of, replay)."""

    def __init__(self, moment: dt.datetime | dt.date) -> None:
        self.set(moment)

    def set(self, moment: dt.datetime | dt.date) -> None:
        if not isinstance(moment, dt.datetime):
            # A bare date means the end of that school day: registers closed, the day's work done.
            moment = dt.datetime.combine(moment, dt.time(18, 0))
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=LONDON)
        self._now = moment.astimezone(LONDON)

    def advance(self, delta: dt.timedelta) -> None:
        self._now = (self._now + delta).astimezone(LONDON)

    def now(self) -> dt.datetime:
        return self._now


def local(moment: dt.datetime) -> dt.datetime:
    """A moment as Europe/London wall-clock time (naive moments are taken as London)."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=LONDON)
    return moment.astimezone(LONDON)


def at(day: dt.date, time: dt.time) -> dt.datetime:
    """Wall-clock time on a day in London, right across the clock changes."""
    return dt.datetime.combine(day, time, tzinfo=LONDON)
