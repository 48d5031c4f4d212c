"""What letters read from the database: for one letter as it is needed (``LetterData``), or for a
whole queue at once (``QueueData``), so checking hundreds of queued letters costs a handful of
queries rather than a dozen a letter. Both answer the same questions the same way."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict

from sqlmodel import Session, select

from casework.figures import stats
from casework.store.casemodels import Case, CaseMove, LetterRequest, Timer
from casework.store.models import Contact, Mark, Pupil, User

MarkRow = tuple[dt.date, str, str, int | None]  # date, session, code, minutes late


class LetterData:
    """Reads for one letter at a time."""

    def __init__(self, session: Session):
        self.session = session

    def contacts(self, pupil_id: int) -> list[Contact]:
        """A pupil's contacts in call order."""
        return list(self.session.exec(select(Contact).where(Contact.pupil_id == pupil_id)
                                      .order_by(Contact.call_priority, Contact.id)))

    def marks(self, pupil_id: int, start: dt.date, end: dt.date) -> list[MarkRow]:
        rows = self.session.exec(select(Mark.date, Mark.session, Mark.code, Mark.minutes_late)
                                 .where(Mark.pupil_id == pupil_id, Mark.date >= start, Mark.date <= end)
                                 .order_by(Mark.date, Mark.session)).all()
        return [(d, s, c, m) for d, s, c, m in rows]

    def figures(self, school_id: int, pupil_id: int, start: dt.date, end: dt.date) -> stats.Figures:
        rows = stats.pupil_figures(self.session, school_id, start, end, pupil_ids=[pupil_id])
        return rows[0].figures if rows else stats.Figures()

    def moves(self, case_id: int) -> list[CaseMove]:
        return list(self.session.exec(select(CaseMove).where(CaseMove.case_id == case_id)
                                      .order_by(CaseMove.at, CaseMove.id)))

    def latest_timer(self, case_id: int, kind: str) -> Timer | None:
        return self.session.exec(select(Timer).where(Timer.case_id == case_id, Timer.kind == kind)
                                 .order_by(Timer.started_at.desc())).first()

    def user(self, username: str) -> User | None:
        return self.session.exec(select(User).where(User.username == username)).first()

    def staff(self, school_id: int) -> list[User]:
        return list(self.session.exec(select(User).where(User.school_id == school_id)))


def _chunks(ids: list[int], size: int = 500):
    for k in range(0, len(ids), size):
        yield ids[k:k + size]


class QueueData(LetterData):
    """Reads for a queue of letters, each kind once for every letter in it. Marks and figures are
    loaded for the dates ``start`` to ``end`` (marks from ``marks_from`` if earlier); other dates
    are read as ``LetterData`` reads them."""

    def __init__(self, session: Session, school_id: int, requests: list[LetterRequest], start: dt.date,
                 end: dt.date, marks_from: dt.date | None = None):
        super().__init__(session)
        self.school_id, self.start, self.end = school_id, start, end
        self.marks_from = min(start, marks_from or start)
        case_ids = sorted({r.case_id for r in requests})
        # held here, so that session.get finds them in the session's (weak) identity map
        self._cases = [c for ids in _chunks(case_ids) for c in session.exec(select(Case).where(Case.id.in_(ids)))]
        pupil_ids = sorted({c.pupil_id for c in self._cases})
        self._pupils = [p for ids in _chunks(pupil_ids) for p in session.exec(select(Pupil).where(Pupil.id.in_(ids)))]
        self._contacts: dict[int, list[Contact]] = defaultdict(list)
        self._marks: dict[int, list[MarkRow]] = defaultdict(list)
        self._moves: dict[int, list[CaseMove]] = defaultdict(list)
        self._timers: dict[tuple[int, str], list[Timer]] = defaultdict(list)
        for ids in _chunks(pupil_ids):
            for c in session.exec(select(Contact).where(Contact.pupil_id.in_(ids))
                                  .order_by(Contact.pupil_id, Contact.call_priority, Contact.id)):
                self._contacts[c.pupil_id].append(c)
            for pid, d, s, code, late in session.exec(
                    select(Mark.pupil_id, Mark.date, Mark.session, Mark.code, Mark.minutes_late)
                    .where(Mark.pupil_id.in_(ids), Mark.date >= self.marks_from, Mark.date <= end)
                    .order_by(Mark.pupil_id, Mark.date, Mark.session)):
                self._marks[pid].append((d, s, code, late))
        self._figures = {r.pupil_id: r.figures for ids in _chunks(pupil_ids)
                         for r in stats.pupil_figures(session, school_id, start, end, pupil_ids=ids)}
        for ids in _chunks(case_ids):
            for m in session.exec(select(CaseMove).where(CaseMove.case_id.in_(ids))
                                  .order_by(CaseMove.case_id, CaseMove.at, CaseMove.id)):
                self._moves[m.case_id].append(m)
            for t in session.exec(select(Timer).where(Timer.case_id.in_(ids)).order_by(Timer.started_at.desc())):
                self._timers[(t.case_id, t.kind)].append(t)
        self._staff = list(session.exec(select(User).where(User.school_id == school_id)))

    def contacts(self, pupil_id: int) -> list[Contact]:
        return list(self._contacts.get(pupil_id, []))

    def marks(self, pupil_id: int, start: dt.date, end: dt.date) -> list[MarkRow]:
        if start < self.marks_from or end > self.end:
            return super().marks(pupil_id, start, end)
        return [m for m in self._marks.get(pupil_id, []) if start <= m[0] <= end]

    def figures(self, school_id: int, pupil_id: int, start: dt.date, end: dt.date) -> stats.Figures:
        if (school_id, start, end) != (self.school_id, self.start, self.end):
            return super().figures(school_id, pupil_id, start, end)
        figures = self._figures.get(pupil_id)
        return figures if figures is not None else stats.Figures()

    def moves(self, case_id: int) -> list[CaseMove]:
        return list(self._moves.get(case_id, []))

    def latest_timer(self, case_id: int, kind: str) -> Timer | None:
        timers = self._timers.get((case_id, kind))
        return timers[0] if timers else None

    def user(self, username: str) -> User | None:
        return next((u for u in self._staff if u.username == username), None) or super().user(username)

    def staff(self, school_id: int) -> list[User]:
        return list(self._staff) if school_id == self.school_id else super().staff(school_id)
