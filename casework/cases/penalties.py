"""Penalty notices: how many a parent has had, when each was received, what it costs.

The one home for the penalty notice rules (docs/domain.md §2 and §3):

- A notice is per parent, per child. The count that decides first, second or "no
  more" is of the notices to that parent for that child issued in the last
  ``within_years`` years (3 nationally), leaving out withdrawn ones.
- Amounts come from the workflow (``penalties.first`` / ``penalties.second``): nationally
  a first notice is £80 within 21 days or £160 within 28; a second is £160 within 28
  with no reduced rate, so nothing about a reduced rate is recorded or chased for it.
- Payment periods run from the day the parent **receives** the notice, not the day it
  was issued. How it was served decides that day. Source: the Education (Penalty
  Notices) (England) Regulations 2007 as amended, which treat a notice sent by post as
  received on the second working day after posting; a notice handed to the parent is
  received that day. A working day here is Monday to Friday, not a bank holiday in
  England (school holidays are working days). The working days for each way of serving
  are a workflow setting (``penalties.received_after_working_days``) so an LA's code of
  conduct can be followed; casework treats email like post unless the workflow says
  otherwise, so a deadline is never earlier than the parent could have known of it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlmodel import Session, select

from casework.register.calendar import england_bank_holidays
from casework.store.casemodels import PenaltyNotice
from casework.store.models import Contact

if TYPE_CHECKING:
    from casework.cases.world import CaseWorld

SERVED_BY = ("post", "hand", "email")
DEFAULT_RECEIVED_AFTER = {"post": 2, "hand": 0, "email": 2}


def years_before(day: dt.date, years: int) -> dt.date:
    """The same date ``years`` earlier (28 Feb for 29 Feb)."""
    try:
        return day.replace(year=day.year - years)
    except ValueError:
        return dt.date(day.year - years, 2, 28)


def notices_in_period(session: Session, pupil_id: int, contact_id: int, today: dt.date, years: int) -> list[PenaltyNotice]:
    """The notices this parent has had for this child in the ``years`` before ``today``
    (issued after the same date ``years`` ago), oldest first; withdrawn ones do not count."""
    since = years_before(today, years)
    return list(session.exec(
        select(PenaltyNotice).where(
            PenaltyNotice.pupil_id == pupil_id, PenaltyNotice.contact_id == contact_id,
            PenaltyNotice.issued_on > since, PenaltyNotice.status != "withdrawn",
        ).order_by(PenaltyNotice.issued_on)))


def add_working_days(day: dt.date, n: int) -> dt.date:
    """``n`` working days after ``day`` (Monday to Friday, not an England bank holiday)."""
    holidays = england_bank_holidays(range(day.year, day.year + 2))
    out = day
    while n > 0:
        out += dt.timedelta(days=1)
        if out.weekday() < 5 and out not in holidays:
            n -= 1
    return out


def deemed_receipt(served_on: dt.date, served_by: str, received_after: dict[str, int] | None = None) -> dt.date:
    """The day a notice counts as received, by how it was served."""
    table = {**DEFAULT_RECEIVED_AFTER, **(received_after or {})}
    if served_by not in table:
        raise ValueError(f"a penalty notice is served by {', '.join(SERVED_BY)}, not {served_by!r}")
    return add_working_days(served_on, table[served_by])


@dataclass(frozen=True)
class Terms:
    sequence: int  # 1st or 2nd within the period
    amount: int
    days: int
    reduced_amount: int | None
    reduced_days: int | None

    def dates(self, received: dt.date) -> tuple[dt.date | None, dt.date]:
        """(last day for the reduced rate or None, last day to pay), counted from receipt."""
        reduced = received + dt.timedelta(days=self.reduced_days) if self.reduced_days else None
        return reduced, received + dt.timedelta(days=self.days)


def terms_for(penalties, sequence: int) -> Terms:
    """The workflow's amounts for a first or a second notice."""
    t = penalties.first if sequence == 1 else penalties.second
    return Terms(sequence, t.amount, t.days, t.reduced_amount, t.reduced_days)


def new_notice(*, school_id: int, case_id: int, pupil_id: int, contact_id: int, parent_name: str, sequence: int,
               penalties, issued_on: dt.date, served_by: str = "post") -> PenaltyNotice:
    received = deemed_receipt(issued_on, served_by, getattr(penalties, "received_after_working_days", None))
    terms = terms_for(penalties, sequence)
    reduced_due, due = terms.dates(received)
    return PenaltyNotice(school_id=school_id, case_id=case_id, pupil_id=pupil_id, contact_id=contact_id,
                         parent_name=parent_name, sequence=sequence, issued_on=issued_on, served_by=served_by,
                         received_on=received, reduced_amount=terms.reduced_amount, reduced_due=reduced_due,
                         amount=terms.amount, due=due)


def notices_within(world: CaseWorld, contact: Contact) -> list[PenaltyNotice]:
    """The case's pupil's notices to ``contact`` within the workflow's rolling period."""
    years = world.workflow.model.penalties.within_years
    return notices_in_period(world.session, world.pupil.id, contact.id, world.today, years)


def record_penalty_notices(world: CaseWorld, params: dict, now: dt.datetime) -> list[PenaltyNotice]:
    """One notice per parent per child: first or second within the rolling period, with the
    amounts from the workflow and payment dates counted from deemed receipt. ``served_by``
    (post, hand or email) comes from the move; post if not given."""
    ctx = world.for_move("issue_penalty_notice", params, at=now)
    pen = world.workflow.model.penalties
    served_by = params.get("served_by") or "post"
    out = []
    for parent in ctx.parents():
        prior = notices_in_period(world.session, world.pupil.id, parent.id, now.date(), pen.within_years)
        n = new_notice(school_id=world.case.school_id, case_id=world.case.id, pupil_id=world.pupil.id,
                       contact_id=parent.id, parent_name=parent.name, sequence=len(prior) + 1,
                       penalties=pen, issued_on=now.date(), served_by=served_by)
        world.session.add(n)
        out.append(n)
    world.session.flush()
    return out
