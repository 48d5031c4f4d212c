"""A case's file as a person reads it: notes, letters, deadlines and the family's contacts."""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import Session, select

from casework.store.casemodels import Case, CaseNote, LetterRequest, Timer
from casework.store.models import Contact


@dataclass
class CaseFile:
    notes: list[CaseNote]
    letters: list[LetterRequest]
    timers: list[Timer]
    contacts: list[Contact]


def case_file(session: Session, case: Case, *, safeguarding_notes: bool) -> CaseFile:
    """Newest notes first (safeguarding notes only for those who may read them), letters in
    the order queued, open deadlines first, contacts in call order."""
    notes_q = select(CaseNote).where(CaseNote.case_id == case.id)
    if not safeguarding_notes:
        notes_q = notes_q.where(CaseNote.safeguarding.is_(False))
    return CaseFile(
        notes=list(session.exec(notes_q.order_by(CaseNote.at.desc()))),
        letters=list(session.exec(select(LetterRequest).where(LetterRequest.case_id == case.id)
                                  .order_by(LetterRequest.queued_at))),
        timers=case_timers(session, case.id),
        contacts=contacts_of(session, case.pupil_id),
    )


def case_timers(session: Session, case_id: int) -> list[Timer]:
    return list(session.exec(select(Timer).where(Timer.case_id == case_id).order_by(Timer.status != "open", Timer.due_at)))


def contacts_of(session: Session, pupil_id: int) -> list[Contact]:
    return list(session.exec(select(Contact).where(Contact.pupil_id == pupil_id).order_by(Contact.call_priority)))


def pupil_cases(session: Session, pupil_id: int) -> list[Case]:
    """A pupil's cases, open ones first, newest first."""
    return list(session.exec(select(Case).where(Case.pupil_id == pupil_id)
                             .order_by(Case.closed_at.is_not(None), Case.opened_at.desc())))
