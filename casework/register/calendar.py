"""Calendar arithmetic on a school's own calendar.

A **school day** has at least one session; a **school week** is any Monday-to-Sunday
week with at least one school session (docs/domain.md §1). A school's calendar is its
term dates and closures (INSET days, half terms inside a term, a polling-day closure).
Weekends and England's bank holidays are never school days, without anyone typing
them in: they come from the ``holidays`` package.

Deadlines that say "school days" count here: ``add_school_days(d, 3)`` is the third
school day after ``d``.
"""

from __future__ import annotations

import bisect
import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property

import holidays

SESSIONS: tuple[str, str] = ("AM", "PM")
ONE_DAY = dt.timedelta(days=1)


class CalendarError(ValueError):
    """A question the calendar cannot answer (e.g. no term dates that far ahead)."""


@dataclass(frozen=True)
class CalendarEntry:
    start: dt.date
    end: dt.date
    kind: str  # "term" or "closure"
    label: str = ""
    session: str | None = None  # a closure of one session only ("AM" or "PM")


def england_bank_holidays(years: Iterable[int]) -> dict[dt.date, str]:
    return dict(holidays.country_holidays("GB", subdiv="ENG", years=list(years)).items())


def week_start(day: dt.date) -> dt.date:
    """The Monday of the week holding ``day``."""
    return day - dt.timedelta(days=day.weekday())


def school_year_start(day: dt.date) -> dt.date:
    """1 September of the school year holding ``day`` (English school years run Sep–Aug)."""
    year = day.year if day.month >= 9 else day.year - 1
    return dt.date(year, 9, 1)


def school_year_label(day: dt.date) -> str:
    start = school_year_start(day).year
    return f"{start}-{str(start + 1)[-2:]}"


class SchoolCalendar:
    """The sessions a school is open, and the arithmetic deadlines need."""

    def __init__(self, entries: Sequence[CalendarEntry]) -> None:
        self.entries = list(entries)
        terms = [e for e in self.entries if e.kind == "term"]
        open_sessions: dict[dt.date, set[str]] = {}
        if terms:
            first = min(e.start for e in terms)
            last = max(e.end for e in terms)
            self.bank_holidays = england_bank_holidays(range(first.year, last.year + 1))
        else:
            self.bank_holidays = {}
        for term in terms:
            day = term.start
            while day <= term.end:
                if day.weekday() < 5 and day not in self.bank_holidays:
                    open_sessions[day] = set(SESSIONS)
                day += ONE_DAY
        for closure in (e for e in self.entries if e.kind == "closure"):
            day = closure.start
            while day <= closure.end:
                if day in open_sessions:
                    if closure.session:
                        open_sessions[day].discard(closure.session)
                    else:
                        open_sessions[day].clear()
                day += ONE_DAY
        self._sessions: dict[dt.date, tuple[str, ...]] = {
            d: tuple(s for s in SESSIONS if s in ss) for d, ss in open_sessions.items() if ss
        }
        self._days: list[dt.date] = sorted(self._sessions)
        self._term_span = (min(e.start for e in terms), max(e.end for e in terms)) if terms else None

    # -- days and sessions -------------------------------------------------
    @property
    def first_day(self) -> dt.date | None:
        return self._days[0] if self._days else None

    @property
    def last_day(self) -> dt.date | None:
        return self._days[-1] if self._days else None

    def covers(self, day: dt.date) -> bool:
        """Whether ``day`` lies within the span of the calendar's term dates."""
        return self._term_span is not None and self._term_span[0] <= day <= self._term_span[1]

    def is_school_day(self, day: dt.date) -> bool:
        return day in self._sessions

    def sessions_on(self, day: dt.date) -> tuple[str, ...]:
        return self._sessions.get(day, ())

    def is_session(self, day: dt.date, session: str) -> bool:
        return session in self._sessions.get(day, ())

    def why_closed(self, day: dt.date) -> str:
        """A person's answer to "why is there no school on this day?"."""
        if day in self._sessions:
            return "open"
        if day.weekday() >= 5:
            return "weekend"
        if day in self.bank_holidays:
            return f"bank holiday ({self.bank_holidays[day]})"
        for e in self.entries:
            if e.kind == "closure" and e.start <= day <= e.end and not e.session:
                return f"closure ({e.label or 'school closed'})"
        return "outside term time"

    def school_days(self, start: dt.date, end: dt.date) -> list[dt.date]:
        """School days from ``start`` to ``end``, both included."""
        lo = bisect.bisect_left(self._days, start)
        hi = bisect.bisect_right(self._days, end)
        return self._days[lo:hi]

    def sessions(self, start: dt.date, end: dt.date) -> list[tuple[dt.date, str]]:
        return [(d, s) for d in self.school_days(start, end) for s in self._sessions[d]]

    def session_count(self, start: dt.date, end: dt.date) -> int:
        return sum(len(self._sessions[d]) for d in self.school_days(start, end))

    def school_days_between(self, after: dt.date, until: dt.date) -> int:
        """School days after ``after`` up to and including ``until``."""
        return bisect.bisect_right(self._days, until) - bisect.bisect_right(self._days, after)

    def add_school_days(self, day: dt.date, n: int) -> dt.date:
        """The n-th school day after ``day`` (``day`` itself is not counted).

        ``n == 0`` gives ``day`` if it is a school day, else the next school day.
        """
        if n < 0:
            return self.subtract_school_days(day, -n)
        if n == 0:
            i = bisect.bisect_left(self._days, day)
        else:
            i = bisect.bisect_right(self._days, day) + n - 1
        if i >= len(self._days):
            raise CalendarError(
                f"the calendar has no school days that far ahead: {n} school day(s) after "
                f"{day.isoformat()} (term dates end {self.last_day})"
            )
        return self._days[i]

    def subtract_school_days(self, day: dt.date, n: int) -> dt.date:
        """The n-th school day before ``day``."""
        i = bisect.bisect_left(self._days, day) - n
        if i < 0:
            raise CalendarError(
                f"the calendar has no school days that far back: {n} school day(s) before "
                f"{day.isoformat()} (term dates start {self.first_day})"
            )
        return self._days[i]

    def count_school_days(self, day: dt.date, n: int) -> tuple[dt.date, bool]:
        """Like ``add_school_days``, but never stops at the last term date entered: the school
        days the calendar has are counted, then weekdays less England's bank holidays. The
        second value says whether the answer is such a provisional count (to be counted again
        when the school enters its next term dates)."""
        try:
            return self.add_school_days(day, n), False
        except CalendarError:
            if n < 0:
                raise
        last = self.last_day
        remaining = n - (self.school_days_between(day, last) if last is not None and last > day else 0)
        cur = day if last is None or last < day else last
        holidays_ahead = england_bank_holidays(range(cur.year, cur.year + 2 + n // 200))
        if n == 0:
            while cur.weekday() >= 5 or cur in holidays_ahead:
                cur += ONE_DAY
        while remaining > 0:
            cur += ONE_DAY
            if cur.weekday() < 5 and cur not in holidays_ahead:
                remaining -= 1
        return cur, True

    def school_weeks_after(self, day: dt.date) -> int:
        """How many school weeks the calendar holds after the week of ``day``."""
        weeks = self.school_weeks_all
        return len(weeks) - bisect.bisect_right(weeks, week_start(day))

    def next_school_day(self, day: dt.date) -> dt.date:
        return self.add_school_days(day, 1)

    def previous_school_day(self, day: dt.date) -> dt.date:
        return self.subtract_school_days(day, 1)

    def first_school_day_on_or_after(self, day: dt.date) -> dt.date | None:
        i = bisect.bisect_left(self._days, day)
        return self._days[i] if i < len(self._days) else None

    def last_school_day_on_or_before(self, day: dt.date) -> dt.date | None:
        i = bisect.bisect_right(self._days, day)
        return self._days[i - 1] if i else None

    # -- weeks -------------------------------------------------------------
    @cached_property
    def school_weeks_all(self) -> list[dt.date]:
        """Mondays of every school week in the calendar, in order."""
        return sorted({week_start(d) for d in self._days})

    def is_school_week(self, day: dt.date) -> bool:
        monday = week_start(day)
        i = bisect.bisect_left(self.school_weeks_all, monday)
        return i < len(self.school_weeks_all) and self.school_weeks_all[i] == monday

    def school_weeks(self, start: dt.date, end: dt.date) -> list[dt.date]:
        """Mondays of the school weeks that have a session between ``start`` and ``end``."""
        return sorted({week_start(d) for d in self.school_days(start, end)})

    def rolling_school_weeks(self, until: dt.date, n: int) -> list[dt.date]:
        """The ``n`` school weeks ending with the one holding ``until`` (or the last one before it).

        Spans half terms, holidays and school years: weeks without a session are skipped,
        as the national penalty framework requires (10 sessions in 10 *school* weeks).
        """
        weeks = self.school_weeks_all
        i = bisect.bisect_right(weeks, week_start(until))
        return weeks[max(0, i - n) : i]

    def window_start_for(self, until: dt.date, n_weeks: int) -> dt.date | None:
        """The first day of a rolling window of ``n_weeks`` school weeks ending at ``until``."""
        weeks = self.rolling_school_weeks(until, n_weeks)
        return weeks[0] if weeks else None

    # -- terms -------------------------------------------------------------
    @cached_property
    def half_terms(self) -> list[tuple[dt.date, dt.date]]:
        """Runs of consecutive school weeks: a week with no session ends a half term."""
        runs: list[tuple[dt.date, dt.date]] = []
        start = prev = None
        for day in self._days:
            if start is None:
                start = prev = day
                continue
            if (week_start(day) - week_start(prev)).days > 7:
                runs.append((start, prev))
                start = day
            prev = day
        if start is not None:
            runs.append((start, prev))
        return runs

    def half_term_of(self, day: dt.date) -> tuple[dt.date, dt.date] | None:
        """The half term holding ``day``; on a holiday, the half term just ended."""
        found = None
        for start, end in self.half_terms:
            if start <= day:
                found = (start, end)
            else:
                break
        return found

    def school_year_days(self, day: dt.date) -> list[dt.date]:
        start = school_year_start(day)
        return self.school_days(start, dt.date(start.year + 1, 8, 31))
