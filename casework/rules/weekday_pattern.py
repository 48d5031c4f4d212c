"""``weekday_pattern``: absence that falls on one weekday ("every Friday").

Over the last ``school_weeks`` school weeks up to the evaluation date, counts the
school days on which the pupil was absent (any session whose code is in ``codes``:
by default every code ``casework.register.codes`` counts as authorised or unauthorised
absence). It fires for a weekday holding at least ``min_absences`` such days *and* at
least ``share`` of all of them. Mason Moor uses it with the late codes for a lateness
pattern ("every Friday the child is late").
"""

from __future__ import annotations

import datetime as dt

import numpy as np
from pydantic import Field

from casework.register.calendar import SchoolCalendar

from .base import CodeList, Rule, RuleParams, weeks_back
from .findings import Finding, fmt_date, plural
from .register_data import ABSENCE_CODES, RegisterMatrix

RULE_ID = "weekday_pattern"
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday")


class Params(RuleParams):
    school_weeks: int = Field(12, ge=1, le=52, description="Look at the last this-many school weeks.")
    min_absences: int = Field(4, ge=1, description="Days on one weekday that make a pattern.")
    share: float = Field(0.5, gt=0, le=1, description="...and at least this share of all such days in the period.")
    codes: CodeList | None = Field(None, description="The codes that count (default: every absence code). "
                                   "Give the late codes, e.g. [L, U], to look for a lateness pattern.")


def evaluate(reg: RegisterMatrix, calendar: SchoolCalendar, params: Params, as_of: dt.date) -> list[Finding]:
    start = weeks_back(calendar, as_of, params.school_weeks)
    days = reg.day_slice(start, as_of)
    cols = reg.slots_of_days(days)
    codes = set(params.codes) if params.codes else ABSENCE_CODES
    marked = reg.day_any(reg.mask(codes, cols), days)
    if marked.shape[1] == 0:
        return []
    weekday = np.array([d.weekday() for d in reg.days[days]], dtype=np.int8)
    total = marked.sum(axis=1)
    what = "absent" if not params.codes else "marked " + "/".join(params.codes)
    out = []
    for w in range(5):
        on_w = weekday == w
        n_w = int(on_w.sum())
        if not n_w:
            continue
        cnt = marked[:, on_w].sum(axis=1)
        fire = (cnt >= params.min_absences) & (cnt >= params.share * total) & (total > 0)
        for p in np.flatnonzero(fire):
            day_cols = np.flatnonzero(marked[p] & on_w)
            dates = [reg.days[days.start + i] for i in day_cols]
            evidence = [m for d in dates for m in reg.marks_where(p, codes, reg.slot_slice(d, d))]
            name = WEEKDAYS[w]
            out.append(reg.finding(p, RULE_ID, about=name.lower(), summary=(
                    f"{what.capitalize()} on {int(cnt[p])} of the {n_w} {name}s in the last {params.school_weeks} "
                    f"school weeks ({fmt_date(reg.days[days.start])} to {fmt_date(reg.days[days.stop - 1])}): "
                    f"{int(cnt[p])} of the {plural(int(total[p]), 'day')} {what} in that time "
                    f"({100.0 * cnt[p] / total[p]:.0f}%) were {name}s."
                ),
                figures={"weekday": name, "weekday_days": int(cnt[p]), "weekdays_in_period": n_w,
                         "all_days": int(total[p]), "share": round(float(cnt[p] / total[p]), 3),
                         "codes": sorted(codes)},
                evidence=evidence, period=(reg.days[days.start], reg.days[days.stop - 1]), level="pattern",
            ))
    return out


def reads_from(calendar: SchoolCalendar, params: Params, as_of: dt.date) -> dt.date:
    return weeks_back(calendar, as_of, params.school_weeks)


RULE = Rule(RULE_ID, "Weekday pattern", Params, evaluate, reads_from, __doc__)
