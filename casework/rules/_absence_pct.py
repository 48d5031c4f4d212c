"""Persistent and severe absence share one computation: absence % of possible sessions."""

from __future__ import annotations

import datetime as dt

import numpy as np
from pydantic import Field, create_model

from casework.register.calendar import SchoolCalendar, school_year_start

from ._attendance import counts
from .base import Rule, RuleParams, from_school_year
from .findings import Finding
from .register_data import RegisterMatrix


def absence_findings(reg: RegisterMatrix, calendar: SchoolCalendar, as_of: dt.date, *, rule: str,
                     label: str, pct: float, min_possible: int) -> list[Finding]:
    start = school_year_start(as_of)
    c = counts(reg, start, as_of)
    fire = (c.absent * 100.0 >= pct * c.possible) & (c.possible >= max(1, min_possible))
    out = []
    for p in np.flatnonzero(fire):
        out.append(reg.finding(
            p, rule, concern="attendance",
            summary=f"{c.sentence(p, 'absence')}. That is at or over {pct:g}%: {label}.",
            figures=c.figures(p) | {"threshold_pct": pct},
            evidence=c.evidence(reg, p), period=(start, as_of), level=rule,
        ))
    return out


def absence_rule(rule_id: str, title: str, default_pct: float, doc: str) -> Rule:
    """A rule that finds pupils whose absence this school year is at or over a percentage."""
    label = title.lower()
    params = create_model(
        f"{rule_id.title().replace('_', '')}Params", __base__=RuleParams,
        pct=(float, Field(default_pct, gt=0, le=100, description="Absence (authorised and unauthorised) at or over "
                          f"this % of possible sessions in the school year to date is {label}.")),
        min_possible_sessions=(int, Field(20, ge=0, description="Say nothing until the pupil has had this many "
                                          "possible sessions this school year.")),
    )

    def evaluate(reg: RegisterMatrix, calendar: SchoolCalendar, p, as_of: dt.date) -> list[Finding]:
        return absence_findings(reg, calendar, as_of, rule=rule_id, label=label, pct=p.pct,
                                min_possible=p.min_possible_sessions)

    return Rule(rule_id, title, params, evaluate, from_school_year, doc)
