"""``attendance_band``: the school's staged response by attendance %.

A pupil falls in the lowest band whose ``below_pct`` their attendance is under
(attendance % = present and approved educational activity over possible sessions, as
``casework.register.codes`` counts them). Staplehurst, for instance: under 95 % the office
investigates, under 90 % a referral to the in-house EWO. A pupil at or above every
band's figure raises nothing.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

import numpy as np
from pydantic import Field, field_validator

from casework.register.calendar import SchoolCalendar

from ._attendance import counts, period_start
from .base import Rule, RuleParams
from .findings import Finding
from .register_data import RegisterMatrix

RULE_ID = "attendance_band"


class Band(RuleParams):
    name: str = Field(description="What the band is called and what it leads to, e.g. 'intervention letters'.")
    below_pct: float = Field(gt=0, le=100, description="Attendance under this % falls in the band.")


class Params(RuleParams):
    bands: list[Band] = Field(
        default_factory=lambda: [
            Band(name="below the expected 95%", below_pct=95),
            Band(name="persistent absence", below_pct=90),
            Band(name="severe absence", below_pct=50),
        ],
        description="The bands, each a name and the attendance % a pupil must be under to fall in it. "
        "A pupil falls in the lowest band whose figure their attendance is under.",
    )
    period: Literal["school_year", "rolling_school_weeks"] = Field(
        "school_year", description="Measure over the school year to date, or over the last school_weeks school weeks."
    )
    school_weeks: int = Field(6, ge=1, le=60, description="Length of the rolling period, in school weeks "
                              "(used when period is rolling_school_weeks).")
    min_possible_sessions: int = Field(20, ge=0, description="Say nothing until the pupil has had this many "
                                       "possible sessions in the period (20 = two school weeks).")

    @field_validator("bands")
    @classmethod
    def _distinct(cls, bands: list[Band]) -> list[Band]:
        if not bands:
            raise ValueError("give at least one band")
        figures = [b.below_pct for b in bands]
        if len(set(figures)) != len(figures):
            raise ValueError("two bands have the same below_pct")
        return bands


def evaluate(reg: RegisterMatrix, calendar: SchoolCalendar, params: Params, as_of: dt.date) -> list[Finding]:
    start = period_start(calendar, as_of, params.period, params.school_weeks)
    c = counts(reg, start, as_of)
    bands = sorted(params.bands, key=lambda b: -b.below_pct)  # highest figure first
    band = np.full(reg.n_pupils, -1, dtype=np.int32)
    for i, b in enumerate(bands):  # later (lower) bands overwrite: the lowest band wins
        band[c.attending * 100.0 < b.below_pct * c.possible] = i
    fire = (band >= 0) & (c.possible >= max(1, params.min_possible_sessions))
    out = []
    for p in np.flatnonzero(fire):
        b = bands[band[p]]
        figures = c.figures(p) | {"band": b.name, "band_below_pct": b.below_pct}
        out.append(reg.finding(
            p, RULE_ID, concern="attendance",
            summary=f"{c.sentence(p)}. That is under {b.below_pct:g}%: band '{b.name}'.",
            figures=figures, evidence=c.evidence(reg, p), period=(start, as_of), level=b.name,
        ))
    return out


def reads_from(calendar: SchoolCalendar, params: Params, as_of: dt.date) -> dt.date:
    return period_start(calendar, as_of, params.period, params.school_weeks)


RULE = Rule(RULE_ID, "Attendance band", Params, evaluate, reads_from, __doc__)
