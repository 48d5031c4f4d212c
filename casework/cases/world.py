"""The one context a case is judged in: the case, its pupil and school, the workflow, the
school's calendar and the clock. Moves, guards, actions and evidence all read it.

For a move, ``for_move`` adds the event being tried and the parameters the person gave.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass, field

from sqlmodel import Session, select

from casework.clock import Clock
from casework.register.calendar import SchoolCalendar
from casework.register.store import load_calendar
from casework.store.casemodels import Case, CaseMove
from casework.store.models import Contact, Pupil, School
from casework.workflow import Workflow, for_school


@dataclass
class CaseWorld:
    """Everything a move needs to know about the case's surroundings."""

    session: Session
    case: Case
    pupil: Pupil
    school: School
    workflow: Workflow
    calendar: SchoolCalendar
    clock: Clock
    event: str = ""
    params: dict = field(default_factory=dict)
    at: dt.datetime | None = None  # the moment judged, when not the clock's now
    _cache: dict = field(default_factory=dict, repr=False)

    @classmethod
    def load(cls, session: Session, case: Case, clock: Clock, calendar: SchoolCalendar | None = None) -> CaseWorld:
        school = session.get(School, case.school_id)
        return cls(session, case, session.get(Pupil, case.pupil_id), school, for_school(case.workflow),
                   calendar or load_calendar(session, school.id), clock)

    def for_move(self, event: str, params: dict | None = None, at: dt.datetime | None = None) -> CaseWorld:
        """The same world, judging ``event`` with the person's ``params`` (a fresh cache)."""
        return dataclasses.replace(self, event=event, params=params or {}, at=at, _cache={})

    @property
    def now(self) -> dt.datetime:
        return self.at or self.clock.now()

    @property
    def today(self) -> dt.date:
        return self.now.date()

    def history(self) -> list[CaseMove]:
        if "history" not in self._cache:
            self._cache["history"] = list(
                self.session.exec(select(CaseMove).where(CaseMove.case_id == self.case.id).order_by(CaseMove.at, CaseMove.id))
            )
        return self._cache["history"]

    def parents(self) -> list[Contact]:
        """The parents a notice is for: named in the move, else everyone with parental responsibility."""
        contacts = list(self.session.exec(select(Contact).where(Contact.pupil_id == self.pupil.id).order_by(Contact.call_priority)))
        named = self.params.get("parents")
        if named:
            wanted = {n.strip().lower() for n in named}
            return [c for c in contacts if c.name.lower() in wanted]
        return [c for c in contacts if c.parental_responsibility]
