"""Penalty notices in one place: how many a parent has had for a child within the rolling
period, and recording the notices a headteacher issues with their amounts and dates.

National framework for penalty notices (Education (Penalty Notices) (England) Regulations
2007 as amended, 2024): a notice is per parent, per child; a first notice has a reduced
amount if paid early; a second within 3 years of the first has none; no third within those
3 years (prosecution instead). The amounts, windows and the period come from the workflow.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from sqlmodel import Session, select

from casework.store.casemodels import PenaltyNotice
from casework.store.models import Contact

if TYPE_CHECKING:
    from casework.cases.world import CaseWorld


def years_before(day: dt.date, years: int) -> dt.date:
    """The same date ``years`` earlier (28 February for a 29 February)."""
    if day.month == 2 and day.day == 29:
        return dt.date(day.year - years, 2, 28)
    return day.replace(year=day.year - years)


def notices_in_period(session: Session, pupil_id: int, contact_id: int, today: dt.date, years: int) -> list[PenaltyNotice]:
    """The notices (not withdrawn) this parent has had for this child within ``years`` up to ``today``."""
    since = years_before(today, years)
    return list(
        session.exec(
            select(PenaltyNotice).where(
                PenaltyNotice.pupil_id == pupil_id,
                PenaltyNotice.contact_id == contact_id,
                PenaltyNotice.issued_on > since,
                PenaltyNotice.status != "withdrawn",
            ).order_by(PenaltyNotice.issued_on)
        )
    )


def notices_within(world: CaseWorld, contact: Contact) -> list[PenaltyNotice]:
    """The case's pupil's notices to ``contact`` within the workflow's rolling period."""
    years = world.workflow.model.penalties.within_years
    return notices_in_period(world.session, world.pupil.id, contact.id, world.today, years)


def record_penalty_notices(world: CaseWorld, params: dict, now: dt.datetime) -> list[PenaltyNotice]:
    """One notice per parent per child: first or second within the rolling period, with the
    amounts and dates from the workflow."""
    ctx = world.for_move("issue_penalty_notice", params, at=now)
    pen = world.workflow.model.penalties
    out = []
    for parent in ctx.parents():
        seq = len(notices_within(ctx, parent)) + 1
        terms = pen.first if seq == 1 else pen.second
        issued = now.date()
        n = PenaltyNotice(school_id=world.case.school_id, case_id=world.case.id, pupil_id=world.pupil.id,
                          contact_id=parent.id, parent_name=parent.name, sequence=seq, issued_on=issued,
                          reduced_amount=terms.reduced_amount,
                          reduced_due=issued + dt.timedelta(days=terms.reduced_days) if terms.reduced_days else None,
                          amount=terms.amount, due=issued + dt.timedelta(days=terms.days))
        world.session.add(n)
        out.append(n)
    return out
