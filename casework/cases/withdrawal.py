"""Withdrawing a queued letter: it does not go, and the case and the audit trail say why.

A person withdraws one on the letters page (``casework.letters.queue.withdraw_letter``). A case
that closes withdraws the letters it still has waiting, as an office would: a letter about
attendance queued on 4 September is not sent to a family whose case closed on 11 September.
The closing move's own letters (a closing letter) are queued after this, and go.
"""

from __future__ import annotations

import datetime as dt

from sqlmodel import Session, select

from casework.clock import LONDON
from casework.store.audit import record
from casework.store.casemodels import Case, CaseNote, LetterRequest
from casework.workflow import for_school


def letter_label(case: Case, template: str) -> str:
    ldef = for_school(case.workflow).model.letters.get(template)
    return ldef.label if ldef else template.replace("_", " ")


def withdraw(session: Session, req: LetterRequest, case: Case, reason: str, *, by: str, now: dt.datetime) -> None:
    """Take the queued letter out of the queue for good, the reason noted on the case and audited."""
    req.status = "cancelled"
    session.add(req)
    session.add(CaseNote(case_id=case.id, author=by, at=now,
                         text=f"Letter withdrawn before it went: {letter_label(case, req.template)}. {reason}"))
    record(session, now, by, "letter.withdraw", f"letter:{req.id}", school_id=case.school_id, case=case.id,
           reason=reason)


def closing_reason(closed_at: dt.datetime, state_label: str) -> str:
    return (f"The case was closed on {closed_at.astimezone(LONDON):%-d %b %Y} ({state_label}) "
            "before the letter went out.")


def withdraw_on_closing(session: Session, case: Case, state_label: str, *, by: str, now: dt.datetime) -> int:
    """Withdraw every letter the case still has queued as it closes; how many."""
    queued = session.exec(select(LetterRequest).where(LetterRequest.case_id == case.id,
                                                      LetterRequest.status == "queued")).all()
    for req in queued:
        withdraw(session, req, case, closing_reason(now, state_label), by=by, now=now)
    return len(queued)


def withdraw_left_by_closed_cases(session: Session, school_id: int, *, by: str, now: dt.datetime) -> int:
    """Letters still queued on cases already closed (closed before cases withdrew their letters
    on closing): withdrawn the same way, once. How many."""
    rows = session.exec(select(LetterRequest, Case).join(Case, Case.id == LetterRequest.case_id)
                        .where(LetterRequest.school_id == school_id, LetterRequest.status == "queued",
                               Case.closed_at.is_not(None), LetterRequest.queued_at < Case.closed_at)).all()
    for req, case in rows:
        state = for_school(case.workflow).case_type(case.case_type).states.get(case.state)
        label = state.label if state else case.state.replace("_", " ")  # a state the workflow has since dropped
        withdraw(session, req, case, closing_reason(case.closed_at, label), by=by, now=now)
    return len(rows)
