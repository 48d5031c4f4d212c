"""Evidence: the rule settings a workflow gives, fresh findings for one pupil, and the
snapshot of figures and marks kept with every move."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from sqlmodel import Session, select

from casework.figures import stats
from casework.register.calendar import SchoolCalendar, school_year_start
from casework.register.codes import ATTENDING_CODES, POSSIBLE_CODES
from casework.rules import RULES, load_register
from casework.store.models import Mark, Pupil, School

if TYPE_CHECKING:
    from casework.cases.world import CaseWorld
    from casework.rules import Finding
    from casework.workflow import Workflow

# Rule parameters that are national thresholds: they live in the workflow's
# ``thresholds`` section (one source of truth) and are handed to the rules from there.
_FROM_THRESHOLDS = {
    "penalty_threshold": {"sessions": "penalty_sessions", "school_weeks": "penalty_school_weeks"},
    "persistent_absence": {"pct": "persistent_absence_pct"},
    "severe_absence": {"pct": "severe_absence_pct"},
    "early_warning": {"persistent_absence_pct": "persistent_absence_pct", "school_weeks": "recent_school_weeks"},
}


def rule_params(workflow: Workflow, rule_id: str) -> dict:
    wiring = workflow.model.rules.get(rule_id)
    params = dict(wiring.params) if wiring is not None else {}
    t = workflow.model.thresholds
    for key, attr in _FROM_THRESHOLDS.get(rule_id, {}).items():
        params[key] = getattr(t, attr)
    if rule_id == "penalty_threshold" and "decision" not in params:
        pen = workflow.model.penalties
        params["decision"] = pen.route.decision(pen)  # who decides, in the workflow's words
    if rule_id == "early_warning" and params.get("school_bands", True) and "bands" not in params:
        # the school's own attendance bands are lines to watch too (one source: attendance_band)
        band = workflow.model.rules.get("attendance_band")
        if band is not None and band.enabled:
            params["bands"] = band.params.get("bands", [b.model_dump() for b in RULES["attendance_band"].Params().bands])
    return params


def rule_config(workflow: Workflow) -> dict[str, dict]:
    """Rule id -> parameters, for every rule the workflow switches on."""
    return {rid: rule_params(workflow, rid) for rid, w in workflow.model.rules.items() if w.enabled}


def pupil_finding(session: Session, school: School, workflow: Workflow, calendar: SchoolCalendar, pupil: Pupil,
                  rule_id: str, as_of: dt.date) -> Finding | None:
    """What one rule says about one pupil now (used by guards: always fresh, never cached)."""

    rule = RULES[rule_id]
    params = rule.Params(**rule_params(workflow, rule_id))
    start = rule.reads_from(calendar, params, as_of)
    reg = load_register(session, school.id, calendar, start, as_of, pupil_ids=[pupil.id])
    found = [f for f in rule.evaluate(reg, calendar, params, as_of) if f.pupil_id == pupil.id]
    return found[0] if found else None


def case_evidence(world: CaseWorld) -> dict:
    """The pupil's figures and the marks behind them, as they stand at the move."""

    today = world.clock.today()
    start = school_year_start(today)
    rows = stats.pupil_figures(world.session, world.school.id, start, today, pupil_ids=[world.pupil.id])
    figures = rows[0].figures.as_dict() if rows else {}
    t = world.workflow.model.thresholds
    weeks = world.calendar.rolling_school_weeks(today, t.penalty_school_weeks)
    window_start = weeks[0] if weeks else today
    absences = world.session.exec(
        select(Mark.date, Mark.session, Mark.code)
        .where(Mark.pupil_id == world.pupil.id, Mark.date >= min(window_start, start), Mark.date <= today,
               Mark.code.not_in(ATTENDING_CODES), Mark.code.in_(POSSIBLE_CODES))
        .order_by(Mark.date, Mark.session)
    ).all()
    return {
        "as_of": today.isoformat(),
        "school_year": {"from": start.isoformat(), "to": today.isoformat(), **figures},
        "rolling_window": {"from": window_start.isoformat(), "to": today.isoformat(),
                           "school_weeks": len(weeks)},
        "absences": [[d.isoformat(), s, c] for d, s, c in absences],
    }
