"""What a school's earlier evaluations already did, read in four queries before acting.

The daily job runs every rule over every pupil, and most of what it finds it found
yesterday: the case is open, the finding attached, the role told, the letter queued. Asking
the database about each finding one at a time made the nightly job cost a few queries per
finding, found or not. ``Known`` reads the school's open cases, the findings attached to
them, the finding notifications and the automatic letters once, so a finding already acted on
costs no query and only what changed is written (see ``casework.cases.evaluate``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from sqlmodel import Session, select

from casework.store.casemodels import Case, CaseFinding, LetterRequest, Notification


@dataclass
class Known:
    open_cases: dict[tuple[int, str], Case] = field(default_factory=dict)  # (pupil, case type) -> first opened
    attached: set[tuple[int, str, str]] = field(default_factory=set)  # (case, rule, concern key)
    notified: set[str] = field(default_factory=set)  # dedupe keys of finding notifications
    last_letter: dict[tuple[int, str], dt.datetime] = field(default_factory=dict)  # (pupil, template) -> queued

    @classmethod
    def load(cls, s: Session, school_id: int) -> Known:
        known = cls()
        for case in s.exec(select(Case).where(Case.school_id == school_id, Case.closed_at.is_(None))
                           .order_by(Case.opened_at, Case.id)):
            known.open_cases.setdefault((case.pupil_id, case.case_type), case)
        known.attached = set(s.exec(
            select(CaseFinding.case_id, CaseFinding.rule, CaseFinding.key).join(Case, Case.id == CaseFinding.case_id)
            .where(Case.school_id == school_id, Case.closed_at.is_(None))).all())
        known.notified = set(s.exec(select(Notification.dedupe_key).where(
            Notification.school_id == school_id, Notification.dedupe_key.like("finding:%"))).all())
        for pupil_id, template, queued in s.exec(
            select(Case.pupil_id, LetterRequest.template, LetterRequest.queued_at)
            .join(Case, Case.id == LetterRequest.case_id).where(Case.school_id == school_id)
        ):
            if queued > known.last_letter.get((pupil_id, template), queued - dt.timedelta(seconds=1)):
                known.last_letter[(pupil_id, template)] = queued
        return known
