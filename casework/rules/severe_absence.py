"""``severe_absence``: missed at least 50 % of possible sessions this school year (docs/domain.md §1)."""

from __future__ import annotations

import datetime as dt

from pydantic import Field

from casework.calendar import SchoolCalendar

from ._absence_pct import absence_findings
from .base import Rule, RuleParams, from_school_year
from .findings import Finding
from .register_data import RegisterMatrix

RULE_ID = "severe_absence"


class Params(RuleParams):
    pct: float = Field(50.0, gt=0, le=100, description="Absence (authorised and unauthorised) at or over "
                       "this % of possible sessions in the school year to date is severe absence.")
    min_possible_sessions: int = Field(20, ge=0, description="Say nothing until the pupil has had this many "
                                       "possible sessions this school year.")


def evaluate(reg: RegisterMatrix, calendar: SchoolCalendar, params: Params, as_of: dt.date) -> list[Finding]:
    return absence_findings(reg, calendar, as_of, rule=RULE_ID, label="severe absence",
                            pct=params.pct, min_possible=params.min_possible_sessions)


RULE = Rule(RULE_ID, "Severe absence", Params, evaluate, from_school_year, __doc__)
