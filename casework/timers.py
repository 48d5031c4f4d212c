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
from casework.clock import Clock
from casework.db import session_scope


@dataclass
class SweepReport:
    lapsed: list[dict] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"lapsed": self.lapsed}


def due_timer_ids(engine: Engine, now: dt.datetime, school_id: int | None = None, limit: int = 500) -> list[int]:
    with session_scope(engine) as s:
        q = select(Timer.id).where(Timer.status == "open", Timer.due_at <= now)
        if school_id is not None:
            q = q.where(Timer.school_id == school_id)
        return list(s.exec(q.order_by(Timer.due_at, Timer.id).limit(limit)))


def lapse_one(engine: Engine, timer_id: int, clock: Clock, worker: str) -> dict | None:
    """Claim one due timer and carry out its lapse, all in one transaction.

    Returns what was done, or None if another worker claimed it first."""
    from casework.cases import CaseWorld, run_action, start_timer

    now = clock.now()
    with session_scope(engine) as s:
        if s.bind.dialect.name == "postgresql":
            row = s.exec(select(Timer.id).where(Timer.id == timer_id, Timer.status == "open")
                         .with_for_update(skip_locked=True)).first()
            if row is None:
                return None
        claimed = s.execute(
            update(Timer).where(Timer.id == timer_id, Timer.status == "open", Timer.due_at <= now)
            .values(status="lapsed", claimed_by=worker, claimed_at=now, outcome_at=now, outcome="lapsed: not met by the deadline")
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
        for action in tdef.on_lapse:
            run_action(world, action, source=f"timer:{timer.id}")
            done["actions"].append(action.kind)
        if tdef.repeat and case.closed_at is None:
            start_timer(world, timer.kind, {})
        return done


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
                report.lapsed.append(done)
                progressed = True
        if not progressed:
            break
    return report
