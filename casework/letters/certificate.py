"""The registration certificate: a pupil's register over a period as a calendar grid.

One row per school week, Monday to Friday, a morning and an afternoon cell each, holding
the code marked. Days the school was closed are shaded; the key explains every code
that appears (from ``casework.register.codes``, the one table of meanings) and the totals come
from ``casework.figures.stats`` (never recomputed here).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from sqlmodel import Session

from casework.figures import stats
from casework.letters.data import LetterData
from casework.register.calendar import SESSIONS, SchoolCalendar, week_start
from casework.register.codes import Category, meaning
from casework.store.models import Pupil

COUNTS_AS = {
    Category.PRESENT: "present",
    Category.APPROVED_ACTIVITY: "present (approved educational activity)",
    Category.AUTHORISED: "authorised absence",
    Category.UNAUTHORISED: "unauthorised absence",
    Category.NOT_POSSIBLE: "not counted",
}
CSS_CLASS = {
    Category.PRESENT: "p",
    Category.APPROVED_ACTIVITY: "p",
    Category.AUTHORISED: "a",
    Category.UNAUTHORISED: "u",
    Category.NOT_POSSIBLE: "n",
}


@dataclass
class Cell:
    code: str  # the mark; "" for no mark or no session
    css: str  # p present, a authorised, u unauthorised, n not counted, closed, future, missing


@dataclass
class Day:
    date: dt.date
    cells: list[Cell]  # AM, PM


@dataclass
class Week:
    monday: dt.date
    days: list[Day]


@dataclass
class Certificate:
    pupil: str
    upn: str
    start: dt.date
    end: dt.date
    weeks: list[Week]
    key: list[tuple[str, str, str, str]]  # code, description, counts as, css
    figures: stats.Figures
    missing: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def attendance(self) -> str:
        p = self.figures.attendance_pct
        return "—" if p is None else f"{p:.1f}%"


def registration_certificate(session: Session, school_id: int, pupil: Pupil, calendar: SchoolCalendar,
                             start: dt.date, end: dt.date, data: LetterData | None = None) -> Certificate:
    data = data or LetterData(session)
    marks = {(d, s): c for d, s, c, _ in data.marks(pupil.id, start, end)}
    weeks = []
    used: set[str] = set()
    missing = 0
    for monday in calendar.school_weeks(start, end):
        days = []
        for i in range(5):
            day = monday + dt.timedelta(days=i)
            cells = []
            for s in SESSIONS:
                if day < start or day > end:
                    cells.append(Cell("", "future"))
                elif not calendar.is_session(day, s):
                    code = marks.get((day, s), "")
                    cells.append(Cell(code, "closed"))
                    if code:
                        used.add(code)
                elif (day, s) in marks:
                    code = marks[(day, s)]
                    used.add(code)
                    cells.append(Cell(code, CSS_CLASS[meaning(code).category]))
                else:
                    missing += 1
                    cells.append(Cell("", "missing"))
            days.append(Day(day, cells))
        weeks.append(Week(monday, days))
    key = []
    for code in sorted(used, key=lambda c: (list(Category).index(meaning(c).category), c)):
        m = meaning(code)
        key.append((code, m.description, COUNTS_AS[m.category], CSS_CLASS[m.category]))
    figures = data.figures(school_id, pupil.id, start, end)
    return Certificate(pupil.name, pupil.upn, start, end, weeks, key, figures, missing)


__all__ = ["Certificate", "registration_certificate", "week_start"]
