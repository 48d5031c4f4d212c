"""A subject access request: everything casework holds about one pupil, in one file.

UK GDPR, Article 15: a parent (or the pupil) may ask for the personal data a school holds.
The export is the raw record, so the school's data protection officer can review it (and
decide what safeguarding information must be withheld) before anything is disclosed:
safeguarding notes and alerts are marked as such.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from sqlalchemy import or_
from sqlmodel import Session, SQLModel, select

from casework.store.casemodels import (
    Case,
    CaseFinding,
    CaseMove,
    CaseNote,
    LetterRequest,
    Notification,
    PenaltyNotice,
    Timer,
)
from casework.store.models import AuditEvent, Contact, Mark, MarkAmendment, Pupil, School


def _row(obj: SQLModel) -> dict:
    return {k: (v.isoformat() if isinstance(v, (dt.date, dt.datetime, dt.time)) else v)
            for k, v in obj.model_dump().items()}


def _rows(session: Session, model, *where, order=None) -> list[dict]:
    q = select(model).where(*where)
    if order is not None:
        q = q.order_by(order)
    return [_row(x) for x in session.exec(q)]


def pupil_record(session: Session, school: School, upn: str, now: dt.datetime) -> dict:
    """Every row about the pupil with ``upn`` at ``school``, grouped by what it is."""
    pupil = session.exec(select(Pupil).where(Pupil.school_id == school.id, Pupil.upn == upn)).first()
    if pupil is None:
        raise LookupError(f"no pupil with UPN {upn} at {school.name} (URN {school.urn})")
    case_ids = list(session.exec(select(Case.id).where(Case.pupil_id == pupil.id)))
    mark_ids = select(Mark.id).where(Mark.pupil_id == pupil.id)
    subjects = [f"case:{i}" for i in case_ids]
    return {
        "exported_at": now.isoformat(),
        "school": {"urn": school.urn, "name": school.name},
        "note": "Everything casework holds about this pupil. Items marked safeguarding are for the "
                "data protection officer and the DSL to review before any disclosure.",
        "pupil": _row(pupil),
        "contacts": _rows(session, Contact, Contact.pupil_id == pupil.id, order=Contact.call_priority),
        "marks": _rows(session, Mark, Mark.pupil_id == pupil.id, order=Mark.date),
        "amendments": _rows(session, MarkAmendment, MarkAmendment.pupil_id == pupil.id, order=MarkAmendment.amended_at),
        "cases": _rows(session, Case, Case.pupil_id == pupil.id, order=Case.opened_at),
        "case_moves": _rows(session, CaseMove, CaseMove.case_id.in_(case_ids), order=CaseMove.at),
        "findings": _rows(session, CaseFinding, CaseFinding.case_id.in_(case_ids)),
        "notes": _rows(session, CaseNote, CaseNote.case_id.in_(case_ids), order=CaseNote.at),
        "deadlines": _rows(session, Timer, Timer.case_id.in_(case_ids), order=Timer.due_at),
        "letters": _rows(session, LetterRequest, LetterRequest.case_id.in_(case_ids)),
        "penalty_notices": _rows(session, PenaltyNotice, PenaltyNotice.pupil_id == pupil.id),
        "notifications": _rows(session, Notification, Notification.case_id.in_(case_ids)),
        "audit": _rows(session, AuditEvent, or_(AuditEvent.subject.in_(subjects),
                                                AuditEvent.subject.in_([f"mark:{i}" for i in session.exec(mark_ids)])),
                       order=AuditEvent.id),
    }


def export_pupil(session: Session, school: School, upn: str, out: Path, now: dt.datetime) -> dict[str, int]:
    """Write the pupil's record as JSON to ``out``; returns how many items of each kind."""
    record = pupil_record(session, school, upn, now)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(record, indent=2, default=str))
    return {k: len(v) for k, v in record.items() if isinstance(v, list)}
