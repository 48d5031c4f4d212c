"""Who owns a case: assigned when it opens by the workflow's ``assignment:`` rules, and
reassigned by a person. An owner is a member of staff; a case nobody in the named role can
take stays unassigned, and shows so on the team's caseload.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import func
from sqlmodel import Session, select

from casework.store.audit import record
from casework.store.casemodels import Case
from casework.store.models import Membership, Pupil, User
from casework.workflow import Workflow


class AssignmentError(ValueError):
    """A reassignment that cannot be made, in words a person can act on."""


_STAFF = "casework.staff_in"


@contextmanager
def staff_remembered(session: Session) -> Iterator[None]:
    """While the block runs, ``staff_in`` reads each school's staff in a role once (for work
    that opens many cases at once, such as the nightly evaluation; staff do not change meanwhile)."""
    session.info[_STAFF] = {}
    try:
        yield
    finally:
        session.info.pop(_STAFF, None)


def staff_in(session: Session, school_id: int, roles: set[str]) -> list[User]:
    """Active staff of the school (their own, or a further school) holding one of ``roles`` there."""
    memo = session.info.get(_STAFF)
    key = (school_id, frozenset(roles))
    if memo is not None and key in memo:
        return memo[key]
    own = select(User).where(User.school_id == school_id, User.role.in_(roles), User.active.is_(True))
    member = (select(User).join(Membership, Membership.user_id == User.id)
              .where(Membership.school_id == school_id, Membership.role.in_(roles), User.active.is_(True)))
    found = {u.id: u for u in session.exec(own)} | {u.id: u for u in session.exec(member)}
    people = sorted(found.values(), key=lambda u: u.username)
    if memo is not None:
        memo[key] = people
    return people


def owner_for(session: Session, workflow: Workflow, case: Case, pupil: Pupil) -> User | None:
    """The person a new case goes to: the first matching rule's role, the one of them with the
    fewest open cases (then by username, so the choice is repeatable)."""
    for rule in workflow.model.assignment:
        if rule.case_types and case.case_type not in rule.case_types:
            continue
        if rule.year_groups and pupil.year_group not in rule.year_groups:
            continue
        people = staff_in(session, case.school_id, workflow.roles_for([rule.to]))
        if not people:
            return None
        load = dict(session.exec(select(Case.owner_id, func.count()).where(
            Case.owner_id.in_([u.id for u in people]), Case.closed_at.is_(None)).group_by(Case.owner_id)).all())
        return min(people, key=lambda u: (load.get(u.id, 0), u.username))
    return None


def may_own(session: Session, workflow: Workflow, school_id: int) -> list[User]:
    """Everyone a case of this school can be given to: the workflow's casework roles."""
    return staff_in(session, school_id, workflow.roles_for(["casework"]))


def reassign(session: Session, case: Case, workflow: Workflow, username: str | None, *, by: str,
             now: dt.datetime, reason: str = "") -> User | None:
    """Give the case to ``username`` (None: unassigned), recorded in the audit log."""
    new = None
    if username:
        new = next((u for u in may_own(session, workflow, case.school_id) if u.username == username), None)
        if new is None:
            raise AssignmentError(f"{username} cannot own a case here: they need an active casework role at this school")
    old = session.get(User, case.owner_id) if case.owner_id else None
    if (old.id if old else None) == (new.id if new else None):
        return new
    case.owner_id = new.id if new else None
    session.add(case)
    record(session, now, by, "case.assign", f"case:{case.id}", school_id=case.school_id,
           owner_from=old.username if old else None, owner_to=new.username if new else None, reason=reason)
    return new


def owner_filter(q, who: str, user_id: int | None):
    """Narrow a query on ``Case`` to ``who``: mine, unassigned, or the whole team."""
    if who == "mine":
        return q.where(Case.owner_id == user_id)
    if who == "unassigned":
        return q.where(Case.owner_id.is_(None))
    return q
