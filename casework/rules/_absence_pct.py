"""Persistent and severe absence share one computation: absence % of possible sessions."""

from __future__ import annotations

import datetime as dt

import numpy as np

from casework.register.calendar import SchoolCalendar, school_year_start

from ._attendance import counts
from .findings import Finding
from .register_data import RegisterMatrix


def absence_findings(reg: RegisterMatrix, calendar: SchoolCalendar, as_of: dt.date, *, rule: str,
                     label: str, pct: float, min_possible: int) -> list[Finding]:
    start = school_year_start(as_of)
    c = counts(reg, start, as_of)
    fire = (c.absent * 100.0 >= pct * c.possible) & (c.possible >= max(1, min_possible))
    out = []
    for p in np.flatnonzero(fire):
        out.append(Finding(
            rule=rule, pupil_id=int(reg.pupil_ids[p]), upn=str(reg.upns[p]), concern="attendance",
            summary=f"{c.sentence(p, 'absence')}. That is at or over {pct:g}%: {label}.",
            figures=c.figures(p) | {"threshold_pct": pct},
            evidence=c.evidence(reg, p), period=(start, as_of), level=rule,
        ))
    return out
