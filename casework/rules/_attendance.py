"""Shared arithmetic for the rules about attendance %: possible sessions and what was missed."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np

from casework.register import codes as C
from casework.register.calendar import SchoolCalendar, school_year_start

from .findings import fmt_date
from .register_data import ABSENCE_CODES, RegisterMatrix


@dataclass
class Counts:
    cols: slice
    start: dt.date
    end: dt.date
    possible: np.ndarray
    attending: np.ndarray
    authorised: np.ndarray
    unauthorised: np.ndarray

    @property
    def absent(self) -> np.ndarray:
        return self.authorised + self.unauthorised

    def figures(self, p: int) -> dict:
        possible = int(self.possible[p])
        att = int(self.attending[p])
        return {
            "possible_sessions": possible,
            "attended_sessions": att,
            "absent_sessions": int(self.absent[p]),
            "authorised_absence_sessions": int(self.authorised[p]),
            "unauthorised_absence_sessions": int(self.unauthorised[p]),
            "attendance_pct": round(100.0 * att / possible, 2) if possible else None,
            "absence_pct": round(100.0 * int(self.absent[p]) / possible, 2) if possible else None,
        }

    def sentence(self, p: int, what: str = "attendance") -> str:
        f = self.figures(p)
        pct = f["attendance_pct"] if what == "attendance" else f["absence_pct"]
        return (
            f"{'Attendance' if what == 'attendance' else 'Absence'} is {pct:.1f}% from "
            f"{fmt_date(self.start)} to {fmt_date(self.end)}: {f['attended_sessions']} of "
            f"{f['possible_sessions']} possible sessions attended, {f['absent_sessions']} missed "
            f"({f['authorised_absence_sessions']} authorised, {f['unauthorised_absence_sessions']} unauthorised)"
        )

    def evidence(self, reg: RegisterMatrix, p: int):
        return reg.marks_where(p, ABSENCE_CODES, self.cols)


def counts(reg: RegisterMatrix, start: dt.date, end: dt.date) -> Counts:
    cols = reg.slot_slice(start, end)
    return Counts(
        cols=cols, start=start, end=end,
        possible=reg.count(C.POSSIBLE_CODES, cols),
        attending=reg.count(C.ATTENDING_CODES, cols),
        authorised=reg.count(C.AUTHORISED_CODES, cols),
        unauthorised=reg.count(C.UNAUTHORISED_CODES, cols),
    )


def period_start(calendar: SchoolCalendar, as_of: dt.date, period: str, school_weeks: int) -> dt.date:
    if period == "school_year":
        return school_year_start(as_of)
    return calendar.window_start_for(as_of, school_weeks) or as_of
