"""The early warnings of a school today: what the ``early_warning`` rule says (see
``casework/rules/early_warning.py``), with each pupil's open attendance case if there is one,
for Today, the caseload and the reports. The rule runs over the whole school's register once;
the result is kept until the register changes (a new mark or amendment) or the day does."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass

from sqlalchemy import func
from sqlmodel import Session, select

from casework.cases.evidence import rule_params
from casework.plain import Plain
from casework.register.store import load_calendar
from casework.rules import RULES, load_register
from casework.store.casemodels import Case
from casework.store.models import CalendarDay, Mark, MarkAmendment, Pupil, School
from casework.workflow import for_school

RULE_ID = "early_warning"
CONFIDENCE_ORDER = {"high": 0, "medium": 1, "low": 2}


@dataclass(frozen=True)
class EarlyWarning(Plain):
    pupil_id: int
    upn: str
    name: str
    year_group: int
    line: str
    line_pct: float
    attendance_pct: float
    projected_pct: float
    term_end: dt.date
    crossing_date: dt.date | None
    basis_pct: float
    basis_school_weeks: int
    confidence: str
    summary: str
    case_id: int | None  # the pupil's open attendance case, if any


# (school, day, workflow) -> (the database's stamp, the school's stamp, the warnings)
_CACHE: dict[tuple, tuple[tuple, tuple, list[EarlyWarning]]] = {}


def register_stamp(session: Session) -> tuple:
    """What changes whenever any register or calendar does: the newest mark, amendment and
    calendar entry of the whole database, each read from its primary key's end (a mark is only
    ever changed with an amendment, and only removed by retention, years after any window the
    rule reads; term dates and closures are only ever added, never moved in place)."""
    return (session.exec(select(func.max(Mark.id))).one(), session.exec(select(func.max(MarkAmendment.id))).one(),
            session.exec(select(func.max(CalendarDay.id))).one())


def _school_stamp(session: Session, school_id: int) -> tuple:
    """The same for one school: a pass over its marks, so read only when some register changed."""
    marks = session.exec(select(func.max(Mark.id), func.count(Mark.id)).where(Mark.school_id == school_id)).one()
    amended = session.exec(select(func.max(MarkAmendment.id)).join(Pupil, Pupil.id == MarkAmendment.pupil_id)
                           .where(Pupil.school_id == school_id)).one()
    calendar = session.exec(select(func.max(CalendarDay.id)).where(CalendarDay.school_id == school_id)).one()
    return (*marks, amended, calendar)


def early_warnings(session: Session, school: School, as_of: dt.date) -> list[EarlyWarning]:
    """Pupils heading under a line by the end of term, highest confidence and soonest first.
    Empty when the school's workflow does not switch the rule on. Kept between pages until the
    school's register changes (another school's import costs one look at this school's stamp)."""
    wf = for_school(school.workflow)
    wiring = wf.model.rules.get(RULE_ID)
    if wiring is None or not wiring.enabled:
        return []
    key = (school.id, as_of, id(wf.model))
    seen = register_stamp(session)
    hit = _CACHE.get(key)
    if hit is not None and hit[0] == seen:
        return hit[2]
    mine = _school_stamp(session, school.id)
    if hit is not None and hit[1] == mine:
        _CACHE[key] = (seen, mine, hit[2])
        return hit[2]
    rule = RULES[RULE_ID]
    params = rule.Params(**rule_params(wf, RULE_ID))
    calendar = load_calendar(session, school.id)
    if calendar.first_day is None:
        return []
    reg = load_register(session, school.id, calendar, rule.reads_from(calendar, params, as_of), as_of)
    found = rule.evaluate(reg, calendar, params, as_of)
    names = {int(pid): (str(n), int(y)) for pid, n, y in zip(reg.pupil_ids, reg.names, reg.year_groups)}
    cases = dict(session.exec(select(Case.pupil_id, Case.id).where(
        Case.school_id == school.id, Case.case_type == "attendance", Case.closed_at.is_(None),
        Case.pupil_id.in_([f.pupil_id for f in found]))).all()) if found else {}
    out = []
    for f in found:
        g = f.figures
        out.append(EarlyWarning(
            f.pupil_id, f.upn, names[f.pupil_id][0], names[f.pupil_id][1], g["line"], g["line_pct"],
            g["attendance_pct"], g["projected_pct"], g["term_end"], g["crossing_date"], g["basis_pct"],
            g["basis_school_weeks"], g["confidence"], f.summary, cases.get(f.pupil_id)))
    out.sort(key=lambda w: (CONFIDENCE_ORDER[w.confidence], w.crossing_date or w.term_end, w.name))
    if len(_CACHE) > 32:
        _CACHE.clear()
    _CACHE[key] = (seen, mine, out)
    return out


def counted(warnings: list[EarlyWarning]) -> dict:
    """How many, by line and by confidence (for reports: no pupil is named)."""
    by_line = Counter(w.line for w in warnings)
    return {"total": len(warnings),
            "by_line": sorted(by_line.items(), key=lambda kv: -max(w.line_pct for w in warnings if w.line == kv[0])),
            "by_confidence": [(c, sum(w.confidence == c for w in warnings)) for c in CONFIDENCE_ORDER]}


__all__ = ["EarlyWarning", "counted", "early_warnings"]
