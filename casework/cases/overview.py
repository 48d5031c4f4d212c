"""One school at a glance, for a trust's attendance lead who sees several side by side:
attendance this school year, persistent and severe absence, open cases by state, overdue
deadlines and the safeguarding queue."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass

from sqlalchemy import func
from sqlmodel import Session, select

from casework.accounts import SchoolRole
from casework.cases.caseload import safeguarding_queue
from casework.figures.stats import group_figures, pupil_figures
from casework.register.calendar import school_year_start
from casework.register.schools import thresholds_for
from casework.store.casemodels import Case, Timer
from casework.store.models import School
from casework.timers import outstanding
from casework.workflow import for_school


@dataclass
class SchoolOverview:
    school: School
    pupils: int
    attendance_pct: float | None
    persistent_absentees: int
    pa_rate: float | None
    severe_absentees: int
    sa_rate: float | None
    open_by_state: dict[str, int]  # state label -> open cases
    overdue: int
    dsl_queue: int

    @property
    def open_cases(self) -> int:
        return sum(self.open_by_state.values())


def school_overview(session: Session, school: School, now: dt.datetime) -> SchoolOverview:
    today = now.date()
    whole = group_figures("Whole school", pupil_figures(session, school.id, school_year_start(today), today),
                          thresholds_for(school))
    labels: Counter[str] = Counter()
    for case_type, state, workflow, n in session.exec(
            select(Case.case_type, Case.state, Case.workflow, func.count()).where(
                Case.school_id == school.id, Case.closed_at.is_(None)).group_by(Case.case_type, Case.state, Case.workflow)):
        ct = for_school(workflow).model.case_types.get(case_type)
        labels[ct.states[state].label if ct and state in ct.states else state] += n
    overdue = session.exec(outstanding(select(func.count()).select_from(Timer).join(Case, Case.id == Timer.case_id)
                                       .where(Timer.school_id == school.id, Timer.due_at <= now))).one()
    queue = [i for i in safeguarding_queue(session, school.id) if i.case.closed_at is None or i.alerts]
    return SchoolOverview(school, whole.pupils, whole.figures.attendance_pct, whole.persistent_absentees,
                          whole.pa_rate, whole.severe_absentees, whole.sa_rate, dict(labels.most_common()),
                          overdue, len(queue))


def trust_overview(session: Session, schools: list[SchoolRole], now: dt.datetime) -> list[SchoolOverview]:
    """Each of these schools (the ones a person was given), by name."""
    rows = [session.get(School, r.school_id) for r in schools]
    return [school_overview(session, s, now) for s in sorted((s for s in rows if s), key=lambda s: s.name)]
