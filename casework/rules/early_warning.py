"""``early_warning``: a pupil still at or above a line whose recent attendance, if it carries
on, takes them under it by the end of the term.

The lines are the persistent absence line (attendance under 90 %, from the workflow's
``thresholds.persistent_absence_pct``) and, with ``school_bands``, the school's own
attendance bands. The **basis** is the pupil's attendance over the last ``school_weeks``
school weeks of this school year; the **projection** carries that rate over every session
left until the end of the term holding the day (the school calendar's term dates; on a
holiday, the coming term), added to the school year so far. A pupil is flagged when they are
at or above a line today and the projection is under it: the finding gives the projection,
its basis, about when the line would be crossed at that rate, and a confidence in plain words
(how many of the basis weeks were themselves under the line, and how far under the line the
projection falls). Nothing is met yet, so a finding never points at a formal step.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
from pydantic import Field

from casework.register import codes as C
from casework.register.calendar import SchoolCalendar, school_year_start

from ._attendance import counts
from .attendance_band import Band
from .base import Rule, RuleParams
from .findings import Finding, fmt_date, fmt_pct, plural
from .register_data import RegisterMatrix

RULE_ID = "early_warning"
PA_LINE_NAME = "persistent absence"


class Params(RuleParams):
    persistent_absence_pct: float = Field(10.0, gt=0, le=100, description="Absence at or over this % is persistent "
                                          "absence: the line is attendance under 100 minus this (from `thresholds`).")
    school_bands: bool = Field(True, description="Watch the school's attendance bands (`attendance_band.bands`) "
                               "as well as the persistent absence line.")
    bands: list[Band] = Field(default_factory=list, description="Further lines to watch; filled from the "
                              "attendance_band rule's bands when school_bands is true.")
    school_weeks: int = Field(4, ge=1, le=20, description="The basis: attendance over this many school weeks "
                              "(of this school year) up to the day is the rate carried forward.")
    min_basis_sessions: int = Field(16, ge=1, description="Say nothing until the basis holds this many possible "
                                    "sessions.")
    min_possible_sessions: int = Field(20, ge=0, description="Say nothing until the pupil has had this many "
                                       "possible sessions this school year.")
    high_min_weeks: int = Field(3, ge=1, description="Confidence is high only when at least this many basis "
                                "weeks were each under the line ...")
    high_share_of_weeks: float = Field(0.75, ge=0, le=1, description="... and at least this share of them ...")
    high_margin_points: float = Field(1.0, ge=0, description="... and the projection is at least this many "
                                      "percentage points under the line.")
    medium_min_weeks: int = Field(2, ge=1, description="Confidence is medium when at least this many basis weeks "
                                  "...")
    medium_share_of_weeks: float = Field(0.5, ge=0, le=1, description="... and this share of them were under the "
                                         "line; otherwise low (one bad week can do it).")


def term_end(calendar: SchoolCalendar, day: dt.date) -> dt.date | None:
    """The last school day of the term holding ``day`` (on a holiday, of the coming term)."""
    terms = sorted((e.start, e.end) for e in calendar.entries if e.kind == "term")
    for start, end in terms:
        if day <= end:
            days = calendar.school_days(max(start, day), end)
            if days:
                return days[-1]
    return None


def lines_of(params: Params) -> list[tuple[str, float]]:
    """(name, attendance % a pupil must stay at or above), highest first."""
    out = {100.0 - params.persistent_absence_pct: PA_LINE_NAME}
    if params.school_bands:
        for b in params.bands:
            out.setdefault(b.below_pct, b.name)
    return sorted(((name, pct) for pct, name in out.items()), key=lambda x: -x[1])


def _weekly_under(reg: RegisterMatrix, p: int, cols: slice, line: float) -> tuple[int, int]:
    """(basis weeks whose own attendance was under ``line``, basis weeks with a possible session)."""
    poss = reg.mask(C.POSSIBLE_CODES, cols)[p]
    att = reg.mask(C.ATTENDING_CODES, cols)[p]
    weeks = reg.slot_week[cols]
    under = total = 0
    for w in np.unique(weeks):
        sel = weeks == w
        n = int(poss[sel].sum())
        if n:
            total += 1
            under += int(100.0 * int(att[sel].sum()) < line * n)
    return under, total


def confidence(params: Params, under_weeks: int, weeks: int, margin: float) -> tuple[str, str]:
    """('high'|'medium'|'low', why in plain words)."""
    share = under_weeks / weeks if weeks else 0.0
    why = (f"{under_weeks} of the last {plural(weeks, 'school week')} were each under the line, and the projection "
           f"is {margin:.1f} points under it")
    if under_weeks >= params.high_min_weeks and share >= params.high_share_of_weeks \
            and margin >= params.high_margin_points:
        return "high", why
    if under_weeks >= params.medium_min_weeks and share >= params.medium_share_of_weeks:
        return "medium", why
    return "low", why + ": one bad week can do this"


def _crossing(calendar: SchoolCalendar, as_of: dt.date, end: dt.date, att: int, poss: int, rate: float,
              line: float) -> tuple[dt.date | None, int]:
    """The first school day on which, at ``rate``, the year's attendance is under ``line``."""
    sessions = calendar.sessions(as_of + dt.timedelta(days=1), end)
    a, n = float(att), float(poss)
    for i, (day, _s) in enumerate(sessions):
        a, n = a + rate, n + 1
        if 100.0 * a < line * n - 1e-9:
            return day, len(calendar.school_days(as_of + dt.timedelta(days=1), day))
        if i > 4000:
            break
    return None, 0


def evaluate(reg: RegisterMatrix, calendar: SchoolCalendar, params: Params, as_of: dt.date) -> list[Finding]:
    end = term_end(calendar, as_of)
    if end is None:
        return []
    remaining = calendar.session_count(as_of + dt.timedelta(days=1), end)
    if remaining == 0:
        return []
    year_start = school_year_start(as_of)
    year = counts(reg, year_start, as_of)
    basis_start = max(year_start, calendar.window_start_for(as_of, params.school_weeks) or as_of)
    basis = counts(reg, basis_start, as_of)
    ok = (year.possible >= max(1, params.min_possible_sessions)) & (basis.possible >= params.min_basis_sessions)
    rate = np.where(basis.possible > 0, basis.attending / np.maximum(basis.possible, 1), 1.0)
    projected = 100.0 * (year.attending + rate * remaining) / np.maximum(year.possible + remaining, 1)
    now_pct = 100.0 * year.attending / np.maximum(year.possible, 1)
    out = []
    for p in np.flatnonzero(ok):
        crossed = [(name, line) for name, line in lines_of(params) if now_pct[p] >= line > projected[p]]
        if not crossed:
            continue
        name, line = crossed[-1]  # the lowest line crossed is the most serious
        out.append(_finding(reg, calendar, params, as_of, p, year, basis, end, remaining, float(rate[p]),
                            float(projected[p]), name, line))
    return out


def _finding(reg, calendar, params, as_of, p, year, basis, end, remaining, rate, projected, name, line) -> Finding:
    att, poss = int(year.attending[p]), int(year.possible[p])
    when, in_days = _crossing(calendar, as_of, end, att, poss, rate, line)
    under, weeks = _weekly_under(reg, p, basis.cols, line)
    margin = line - projected
    level, why = confidence(params, under, weeks, margin)
    b_att, b_poss = int(basis.attending[p]), int(basis.possible[p])
    figures = {
        "attendance_pct": round(100.0 * att / poss, 2), "attended_sessions": att, "possible_sessions": poss,
        "line": name, "line_pct": line, "projected_pct": round(projected, 2), "term_end": end,
        "remaining_sessions": remaining, "basis_from": basis.start, "basis_to": as_of, "basis_school_weeks": weeks,
        "basis_attended_sessions": b_att, "basis_possible_sessions": b_poss, "basis_pct": round(100.0 * rate, 2),
        "crossing_date": when, "school_days_to_crossing": in_days, "confidence": level,
        "weeks_under_line": under,
    }
    crossing = (f", from about {fmt_date(when)} ({plural(in_days, 'school day')} from now)" if when else "")
    summary = (
        f"Attendance is {fmt_pct(100.0 * att / poss)} this school year ({att} of {poss} sessions), at or above the "
        f"{line:g}% line ({name}), but {fmt_pct(100.0 * rate)} over the last {plural(weeks, 'school week')} "
        f"({b_att} of {b_poss} sessions since {fmt_date(basis.start)}). If that carries on, it will be "
        f"{fmt_pct(projected)} by the end of term on {fmt_date(end)}, under the line{crossing}. "
        f"Confidence: {level} ({why})."
    )
    return reg.finding(p, RULE_ID, summary=summary, figures=figures,
                       evidence=basis.evidence(reg, p), period=(basis.start, as_of), level=name)


def reads_from(calendar: SchoolCalendar, params: Params, as_of: dt.date) -> dt.date:
    return school_year_start(as_of)


RULE = Rule(RULE_ID, "Early warning: heading under a line by the end of term", Params, evaluate, reads_from, __doc__)
