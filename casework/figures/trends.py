"""Attendance week by week: the school's (or a group's, or one pupil's) figures for each
school week, and the running figure for the year so far. One ``GROUP BY`` over marks."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlmodel import Session

from casework.figures.stats import Figures, group_pupils
from casework.register.calendar import week_start
from casework.store.models import Mark


@dataclass
class Week:
    start: dt.date
    week: Figures
    to_date: Figures  # the school year up to the end of this week

    def as_dict(self) -> dict:
        return {"week_start": self.start.isoformat(),
                "attendance_pct": _r(self.week.attendance_pct), "to_date_pct": _r(self.to_date.attendance_pct),
                "possible_sessions": self.week.possible_sessions, "present": self.week.present,
                "authorised": self.week.authorised, "unauthorised": self.week.unauthorised}


def _r(v: float | None) -> float | None:
    return None if v is None else round(v, 2)


def weekly(session: Session, school_id: int, start: dt.date, end: dt.date, *, pupil_ids: list[int] | None = None,
           year_group: int | None = None, flag: str | None = None) -> list[Week]:
    q = (select(Mark.date, Mark.code, func.count())
         .where(Mark.school_id == school_id, Mark.date >= start, Mark.date <= end)
         .group_by(Mark.date, Mark.code))
    if pupil_ids is not None:
        q = q.where(Mark.pupil_id.in_(pupil_ids))
    if year_group is not None or flag is not None:
        q = q.where(Mark.pupil_id.in_(group_pupils(school_id, year_group, flag)))
    return weeks_of(session.execute(q))


def weeks_of(rows: Iterable[tuple[dt.date, str, int]]) -> list[Week]:
    """Weeks from (date, code, count) rows, e.g. one pupil's marks already loaded."""
    weeks: dict[dt.date, Figures] = {}
    for day, code, count in rows:
        weeks.setdefault(week_start(day), Figures()).add(code, day.weekday(), count)
    out: list[Week] = []
    running = Figures()
    for monday in sorted(weeks):
        running.merge(weeks[monday])
        snapshot = Figures()
        snapshot.merge(running)
        out.append(Week(monday, weeks[monday], snapshot))
    return out
