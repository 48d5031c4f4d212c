"""Deadlines as rows, and the sweep that lapses them.

A ``Timer`` row says what a case waits for and when it is due. The sweep selects what
is due, claims each timer atomically (a conditional update from ``open``; on PostgreSQL
the candidates are read ``FOR UPDATE SKIP LOCKED``), runs what the workflow says a lapse
does in the same transaction, and commits. A sweep that dies half-way leaves its
uncommitted timers open for the next sweep; two sweeps never both act on one timer.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlmodel import select

from casework.casemodels import Case, Timer
from casework.clock import LONDON, Clock, at
from casework.db import session_scope
from casework.models import Pupil, User
from casework.workflow import for_school


@dataclass
class SweepReport:
    lapsed: list[dict] = field(default_factory=list)
    met: list[dict] = field(default_factory=list)  # due, but the absence had ended (the pupil returned)

    def as_dict(self) -> dict:
        return {"lapsed": self.lapsed, "met": self.met}


def due_timer_ids(engine: Engine, now: dt.datetime, school_id: int | None = None, limit: int = 500) -> list[int]:
    with session_scope(engine) as s:
        q = select(Timer.id).where(Timer.status == "open", Timer.due_at <= now)
        if school_id is not None:
            q = q.where(Timer.school_id == school_id)
        return list(s.exec(q.order_by(Timer.due_at, Timer.id).limit(limit)))


def lapse_one(engine: Engine, timer_id: int, clock: Clock, worker: str) -> dict | None:
    """Claim one due timer and carry out its lapse, all in one transaction.

    Returns what was done, or None if another worker claimed it first."""
    from casework.cases import CaseWorld, run_action

    now = clock.now()
    with session_scope(engine) as s:
        if s.bind.dialect.name == "postgresql":
            row = s.exec(select(Timer.id).where(Timer.id == timer_id, Timer.status == "open")
                         .with_for_update(skip_locked=True)).first()
            if row is None:
                return None
        claimed = s.execute(
            update(Timer).where(Timer.id == timer_id, Timer.status == "open", Timer.due_at <= now)
            .values(status="lapsed", claimed_by=worker, claimed_at=now, outcome_at=now, outcome="not met by the deadline")
        ).rowcount
        if claimed != 1:
            return None
        timer = s.get(Timer, timer_id)
        case = s.get(Case, timer.case_id)
        world = CaseWorld.load(s, case, clock)
        tdef = world.workflow.model.timers.get(timer.kind)
        done = {"timer_id": timer.id, "case_id": case.id, "kind": timer.kind, "due": timer.due_at.isoformat(), "actions": []}
        if tdef is None or case.closed_at is not None:
            timer.status, timer.outcome = "cancelled", "case closed or timer no longer in the workflow"
            s.add(timer)
            return done
        if tdef.while_absent and (ended := absence_ended(s, case, timer, tdef.while_absent)):
            timer.status, timer.outcome = "met", ended
            s.add(timer)
            done["met"] = ended
            return done
        for action in tdef.on_lapse:
            run_action(world, action, source=f"timer:{timer.id}")
            done["actions"].append(action.kind)
        if tdef.repeat and case.closed_at is None:
            restart_after(world, timer, tdef)
        return done


def absence_ended(session, case: Case, timer: Timer, counts: str) -> str | None:
    """Why a deadline that stands only while the pupil stays away no longer applies, or None.

    The run starts on the first day of the concern (or the day the timer started) and is
    read up to the day the timer falls due. Any attending or present mark ends it (the
    pupil came back); with ``counts == "unauthorised"`` an authorised absence ends it too,
    because the children-missing-education ground is continuous *unauthorised* absence
    (docs/domain.md §3)."""
    from casework.codes import is_code, meaning
    from casework.models import Mark

    start = case.concern_start or timer.started_at.astimezone(LONDON).date()
    end = timer.due_at.astimezone(LONDON).date()
    marks = session.exec(select(Mark).where(Mark.pupil_id == case.pupil_id, Mark.date >= start, Mark.date <= end)
                         .order_by(Mark.date, Mark.session)).all()
    for m in marks:
        if not is_code(m.code):
            continue
        code = meaning(m.code)
        if code.attending:
            return f"met: the pupil returned to school on {m.date:%a %d %b %Y} ({m.session} {m.code})"
        if counts == "unauthorised" and code.authorised:
            return (f"met: the absence was authorised on {m.date:%a %d %b %Y} ({m.session} {m.code}), "
                    "so it is not continuous unauthorised absence")
    return None


def restart_after(world, lapsed: Timer, tdef) -> Timer:
    """Start a repeating timer's next period, counted from the one that lapsed (e.g. weekly
    sight of a long-absent child). Counting from the concern's start again would make it
    due at once, over and over."""
    cal = world.calendar
    due, prev = tdef.due, lapsed.due_at.astimezone(LONDON)
    if due.hours is not None:
        nxt = prev + dt.timedelta(hours=due.hours)
    else:
        if due.school_days is not None:
            day = cal.add_school_days(prev.date(), max(due.school_days, 1))
        elif due.calendar_days is not None:
            day = prev.date() + dt.timedelta(days=max(due.calendar_days, 1))
        else:
            day = prev.date() + dt.timedelta(weeks=max(due.weeks, 1))
        nxt = at(day, prev.timetz().replace(tzinfo=None))
    timer = Timer(school_id=lapsed.school_id, case_id=lapsed.case_id, kind=lapsed.kind, label=lapsed.label,
                  role=lapsed.role, state=world.case.state, started_at=world.clock.now(), due_at=nxt)
    world.session.add(timer)
    world.session.flush()
    return timer


def sweep(engine: Engine, clock: Clock, *, worker: str = "sweep", school_id: int | None = None) -> SweepReport:
    report = SweepReport()
    while True:
        ids = due_timer_ids(engine, clock.now(), school_id)
        if not ids:
            break
        progressed = False
        for tid in ids:
            done = lapse_one(engine, tid, clock, worker)
            if done is not None:
                (report.met if "met" in done else report.lapsed).append(done)
                progressed = True
        if not progressed:
            break
    return report


# -- deadlines as people see them -----------------------------------------------------


@dataclass
class Deadline:
    """An open deadline on a case, as a caseload shows it."""

    id: int
    case_id: int
    upn: str
    pupil: str
    kind: str
    label: str
    role: str  # the role or role group responsible (as the workflow names it)
    roles: list[str]  # the roles that group stands for
    due: dt.datetime  # Europe/London
    status: str  # open | lapsed (a lapsed deadline stays on the caseload until the case moves on)
    overdue: bool
    case_type: str
    state: str

    def as_dict(self) -> dict:
        return {"id": self.id, "case_id": self.case_id, "upn": self.upn, "pupil": self.pupil, "kind": self.kind,
                "label": self.label, "role": self.role, "roles": self.roles, "due": self.due.isoformat(),
                "status": self.status, "overdue": self.overdue, "case_type": self.case_type, "state": self.state}


def caseload_deadlines(session, school_id: int | None = None, role: str | None = None, user: User | None = None,
                       *, now: dt.datetime) -> list[Deadline]:
    """Every open deadline on the school's open cases, overdue first, then by due time.

    A deadline is open while its timer is open, or when it lapsed and the case still sits in
    the state that started it (the work is still outstanding). ``role`` (a role such as
    ``dsl``) keeps the deadlines that role is responsible for, expanding the workflow's role
    groups; ``user`` means that user's school and role.
    """
    if user is not None:
        school_id = user.school_id if school_id is None else school_id
        role = role or user.role
    q = (select(Timer, Case, Pupil).join(Case, Case.id == Timer.case_id).join(Pupil, Pupil.id == Case.pupil_id)
         .where(Case.closed_at.is_(None), Timer.status.in_(("open", "lapsed"))))
    if school_id is not None:
        q = q.where(Timer.school_id == school_id)
    rows = list(session.exec(q.order_by(Timer.due_at, Timer.id)))
    open_kinds = {(t.case_id, t.kind) for t, _, _ in rows if t.status == "open"}
    out: list[Deadline] = []
    for t, case, pupil in rows:
        if t.status == "lapsed" and (case.state != t.state or (t.case_id, t.kind) in open_kinds):
            continue  # the case moved on, or a repeating timer has started its next period
        roles = sorted(for_school(case.workflow).roles_for([t.role]))
        if role is not None and role not in roles and role != t.role:
            continue
        due = t.due_at.astimezone(LONDON)
        out.append(Deadline(t.id, case.id, pupil.upn, pupil.name, t.kind, t.label, t.role, roles, due, t.status,
                            due <= now, case.case_type, case.state))
    out.sort(key=lambda d: (not d.overdue, d.due, d.id))
    return out
