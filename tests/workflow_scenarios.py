"""Helpers for the school-workflow scenario tests (tests/test_workflows_*.py): a school on
a real calendar following a named workflow, a pupil with two parents, staff users, a full
register of marks, and evaluation as of a moment."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import insert
from sqlmodel import select

from casework.cases import moves as cs
from casework.cases.evaluate import evaluate
from casework.cases.world import CaseWorld
from casework.clock import LONDON, FixedClock
from casework.register.store import load_calendar
from casework.store.casemodels import Case, CaseFinding, CaseMove, LetterRequest, Notification, Timer
from casework.store.models import Contact, Mark, User
from casework.workflow import for_school

STAFF = {
    "officer": "attendance_officer",
    "wellbeing": "wellbeing_lead",
    "head": "headteacher",
    "deputy": "deputy_head",
    "dsl": "dsl",
    "teacher": "teacher",
}


def at(day: dt.date, hh: int = 16, mm: int = 0) -> FixedClock:
    return FixedClock(dt.datetime(day.year, day.month, day.day, hh, mm, tzinfo=LONDON))


class SchoolWorld:
    def __init__(self, session, engine, school, workflow: str):
        self.session, self.engine, self.school, self.workflow = session, engine, school, workflow
        self.calendar = load_calendar(session, school.id)
        self.actors: dict[str, cs.Actor] = {}
        for username, role in STAFF.items():
            u = User(school_id=school.id, username=f"{username}-{school.urn}", name=username.title(), position=role,
                     role=role)
            session.add(u)
            session.flush()
            self.actors[username] = cs.Actor.of(u)
        session.commit()

    def pupil(self, make_pupils, **flags):
        rag = flags.pop("vulnerability_rag", None)
        p = make_pupils(self.session, self.school, **flags)[0]
        p.vulnerability_rag = rag
        self.session.add(p)
        for name, rel in (("Kerry Parent", "Mother"), ("Dean Parent", "Father")):
            self.session.add(Contact(pupil_id=p.id, name=f"{name} {p.id}", relationship=rel,
                                     parental_responsibility=True))
        self.session.commit()
        return p

    def register(self, pupil, start: dt.date, end: dt.date, absent: dict | None = None) -> None:
        """Mark every session from start to end present, except ``absent`` {(date, session): code}."""
        absent = dict(absent or {})
        rows = []
        for day, sess in self.calendar.sessions(start, end):
            code = absent.pop((day, sess), "/" if sess == "AM" else "\\")
            rows.append(dict(school_id=pupil.school_id, pupil_id=pupil.id, date=day, session=sess, code=code,
                             recorded_by="test", recorded_at=dt.datetime(2025, 9, 1, tzinfo=LONDON)))
        assert not absent, f"marks on days the school is closed: {sorted(absent)}"
        self.session.connection().execute(insert(Mark.__table__), rows)
        self.session.commit()

    def evaluate(self, clock: FixedClock):
        self.session.commit()
        report = evaluate(self.engine, self.school.urn, clock)
        self.session.expire_all()
        return report

    def cases(self, pupil, case_type: str | None = None) -> list[Case]:
        q = select(Case).where(Case.pupil_id == pupil.id)
        if case_type:
            q = q.where(Case.case_type == case_type)
        return list(self.session.exec(q.order_by(Case.id)))

    def open(self, pupil, case_type: str, clock: FixedClock, *, start: dt.date | None = None, state: str | None = None):
        case = cs.open_case(self.session, self.school, pupil, for_school(self.workflow), case_type,
                            concern=f"{case_type}:test", concern_start=start or clock.today(), clock=clock,
                            actor=cs.Actor.system(), reason="opened in the test", calendar=self.calendar, state=state)
        self.session.commit()
        return case

    def world(self, case: Case, clock: FixedClock) -> CaseWorld:
        return CaseWorld.load(self.session, case, clock, self.calendar)

    def move(self, case: Case, event: str, who: str, clock: FixedClock, reason: str = "as agreed", **params):
        move = cs.move_case(self.world(case, clock), event, self.actors[who], reason=reason, params=params)
        self.session.commit()
        return move

    def refused(self, case: Case, event: str, who: str, clock: FixedClock, reason: str = "as agreed", **params) -> str:
        try:
            cs.move_case(self.world(case, clock), event, self.actors[who], reason=reason, params=params)
        except cs.MoveRefused as exc:
            self.session.rollback()
            return "; ".join(exc.reasons)
        raise AssertionError(f"{event} by {who} was allowed")

    def findings(self, case: Case) -> list[CaseFinding]:
        return list(self.session.exec(select(CaseFinding).where(CaseFinding.case_id == case.id)))

    def timers(self, case: Case, kind: str | None = None) -> list[Timer]:
        q = select(Timer).where(Timer.case_id == case.id)
        if kind:
            q = q.where(Timer.kind == kind)
        return list(self.session.exec(q.order_by(Timer.id)))

    def letters(self, case: Case) -> list[str]:
        return [x.template for x in self.session.exec(select(LetterRequest).where(LetterRequest.case_id == case.id))]

    def moves(self, case: Case) -> list[CaseMove]:
        return list(self.session.exec(select(CaseMove).where(CaseMove.case_id == case.id).order_by(CaseMove.id)))

    def safeguarding_queue(self, case: Case) -> list[Notification]:
        return list(self.session.exec(select(Notification).where(Notification.case_id == case.id,
                                                                 Notification.queue == "safeguarding")))


def proposed(case: Case) -> set[str]:
    return {p["event"] for p in case.proposals}


def due_local(timer: Timer) -> dt.datetime:
    return timer.due_at.astimezone(LONDON).replace(tzinfo=None)
