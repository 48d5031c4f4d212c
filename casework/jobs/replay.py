"""Replay: run a school's days one after another with the injected clock.

Each school day is evaluated twice, as the scheduler would: when the AM register closes
(today's unexplained absences open cases and start their first-day timers) and in the
evening (the nightly evaluation; timers that fell due during the day lapse). Days without
school get the evening run only, as calendar-day deadlines (penalty payments) still fall
due on them. What each run changed is read back from the tables, so the replay shows what
a real term would have done: cases opened, timers started and lapsed, nudges and
safeguarding escalations.

A what-if (``casework.jobs.whatif``), where nobody acts during the day, asks for the evening
run only (``register_close=False``) and for the deadlines alone on days without school
(``rules_on_closed_days=False``: the register has not changed since the last school day).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from sqlalchemy import func
from sqlalchemy.engine import Engine
from sqlmodel import select

from casework.cases.evaluate import EvaluationReport, evaluate
from casework.clock import LONDON, FixedClock, at
from casework.jobs.scheduler import NIGHTLY_AT
from casework.register.store import get_school, load_calendar
from casework.store.casemodels import Case, Notification, Timer
from casework.store.db import session_scope
from casework.store.models import Pupil
from casework.timers import sweep


def _high_water(s) -> dict[str, int]:
    return {name: s.exec(select(func.coalesce(func.max(t.id), 0))).one() for name, t in
            (("case", Case), ("timer", Timer), ("notification", Notification))}


def _step(engine: Engine, urn: str, moment: dt.datetime, name: str, rules: bool = True, registers=None) -> dict:
    clock = FixedClock(moment)
    with session_scope(engine) as s:
        before = _high_water(s)
        school_id = get_school(s, urn).id
    if rules:
        report = evaluate(engine, urn, clock, registers)
    else:
        report = EvaluationReport(urn, moment.date())
        report.timers = sweep(engine, clock, worker=f"evaluate:{urn}", school_id=school_id).lapsed
    with session_scope(engine) as s:
        opened = [{"case_id": c.id, "upn": p.upn, "type": c.case_type, "state": c.state}
                  for c, p in s.exec(select(Case, Pupil).join(Pupil, Pupil.id == Case.pupil_id)
                                     .where(Case.id > before["case"]).order_by(Case.id))]
        started = [{"timer_id": t.id, "case_id": t.case_id, "upn": p.upn, "kind": t.kind,
                    "due": t.due_at.astimezone(LONDON).isoformat()}
                   for t, p in s.exec(select(Timer, Pupil).join(Case, Case.id == Timer.case_id)
                                      .join(Pupil, Pupil.id == Case.pupil_id)
                                      .where(Timer.id > before["timer"]).order_by(Timer.id))]
        upns = dict(s.exec(select(Case.id, Pupil.upn).join(Pupil, Pupil.id == Case.pupil_id)
                           .where(Case.id.in_([t["case_id"] for t in report.timers]))).all())
        notes = [{"role": n.role, "queue": n.queue, "case_id": n.case_id, "message": n.message}
                 for n in s.exec(select(Notification).where(Notification.id > before["notification"])
                                 .order_by(Notification.id))]
    lapsed = [{"timer_id": t["timer_id"], "case_id": t["case_id"], "upn": upns.get(t["case_id"]), "kind": t["kind"],
               "due": t["due"], "actions": t["actions"]} for t in report.timers]
    return {"step": name, "at": moment.isoformat(), "findings": dict(report.findings), "cases_opened": opened,
            "timers_started": started, "timers_lapsed": lapsed, "notifications": notes,
            "proposed": report.proposed}


def replay(engine: Engine, urn: str, start: dt.date, end: dt.date,
           on_day: Callable[[dict], None] | None = None, *, register_close: bool = True,
           rules_on_closed_days: bool = True, registers=None) -> list[dict]:
    """Evaluate ``urn`` day by day from ``start`` to ``end`` (both included). ``registers(start,
    end)`` hands the rules the register when the marks cannot change (a what-if's copy)."""
    if end < start:
        raise ValueError(f"--to {end} is before --from {start}")
    with session_scope(engine) as s:
        school = get_school(s, urn)
        cal = load_calendar(s, school.id)
        am_close = school.am_close
    days = []
    day = start
    while day <= end:
        steps = []
        if cal.is_school_day(day) and register_close:
            steps.append(_step(engine, urn, at(day, am_close), "register_close", registers=registers))
        steps.append(_step(engine, urn, at(day, NIGHTLY_AT), "end_of_day",
                           rules=rules_on_closed_days or cal.is_school_day(day), registers=registers))
        record = {"date": day.isoformat(), "school_day": cal.is_school_day(day), "why_closed": cal.why_closed(day),
                  "steps": steps}
        days.append(record)
        if on_day is not None:
            on_day(record)
        day += dt.timedelta(days=1)
    return days


def lapsed_on(days: list[dict], kind: str, upn: str | None = None) -> list[str]:
    """The dates on which timers of ``kind`` lapsed in a replay (for reading and tests)."""
    return [d["date"] for d in days for st in d["steps"] for t in st["timers_lapsed"]
            if t["kind"] == kind and (upn is None or t["upn"] == upn)]


__all__ = ["lapsed_on", "replay"]
