"""Notifications: the nudges a role reads, and the DSL's safeguarding alerts.

A *nudge* (``queue == "nudge"``) is addressed to a role (or one person); anyone signed in
with that role sees it until someone with the role marks it read (``read_at``). A
*safeguarding alert* (``queue == "safeguarding"``) sits on the DSL's queue until the DSL
or a deputy marks it dealt with (``resolved_at``, ``resolved_by``, ``resolution``), or
its case is closed. A resolved alert is never deleted: it stays on the case's timeline.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import func, or_
from sqlmodel import Session, select

from casework.store.casemodels import Case, CaseMove, Notification

SAFEGUARDING = "safeguarding"
NUDGE = "nudge"


class NotFound(LookupError):
    """No such notification for this person (another school's, another role's, or none)."""


def _nudges_for(school_id: int, role: str, user_id: int | None):
    q = select(Notification).where(Notification.school_id == school_id, Notification.queue == NUDGE,
                                   Notification.role == role)
    return q.where(or_(Notification.user_id.is_(None), Notification.user_id == user_id))


def unread_count(session: Session, school_id: int, role: str, user_id: int | None) -> int:
    q = _nudges_for(school_id, role, user_id).where(Notification.read_at.is_(None)).subquery()
    return session.exec(select(func.count()).select_from(q)).one()


def nudges(session: Session, school_id: int, role: str, user_id: int | None, *, limit: int = 100,
           unread_only: bool = False) -> list[Notification]:
    """A person's nudges, unread first, newest first."""
    q = _nudges_for(school_id, role, user_id)
    if unread_only:
        q = q.where(Notification.read_at.is_(None))
    return list(session.exec(q.order_by(Notification.read_at.is_not(None), Notification.created_at.desc(),
                                        Notification.id.desc()).limit(limit)))


def mark_read(session: Session, school_id: int, role: str, user_id: int | None, now: dt.datetime,
              notification_id: int | None = None) -> int:
    """Mark one nudge (or, with no id, every unread nudge) of this person read; how many changed."""
    q = _nudges_for(school_id, role, user_id).where(Notification.read_at.is_(None))
    if notification_id is not None:
        if session.exec(_nudges_for(school_id, role, user_id).where(Notification.id == notification_id)).first() is None:
            raise NotFound(f"no notification {notification_id}")
        q = q.where(Notification.id == notification_id)
    changed = 0
    for n in session.exec(q):
        n.read_at = now
        session.add(n)
        changed += 1
    session.flush()
    return changed


def _siblings(session: Session, alert: Notification) -> list[Notification]:
    """The same alert as sent to each safeguarding role (one row per role, keys ending ``:<role>``)."""
    stem = alert.dedupe_key.rsplit(":", 1)[0] + ":"
    rows = session.exec(select(Notification).where(
        Notification.school_id == alert.school_id, Notification.queue == SAFEGUARDING,
        Notification.case_id == alert.case_id, Notification.resolved_at.is_(None),
        Notification.dedupe_key.startswith(stem, autoescape=True))).all()
    return [n for n in rows if n.dedupe_key.rsplit(":", 1)[0] + ":" == stem] or [alert]


def resolve_alert(session: Session, school_id: int, alert_id: int, by: str, resolution: str,
                  now: dt.datetime) -> Notification:
    """The DSL has dealt with a safeguarding alert: it leaves the queue (for every safeguarding role)
    and stays on the case's timeline. When the case has no other alert waiting it leaves the queue too."""
    alert = session.get(Notification, alert_id)
    if alert is None or alert.school_id != school_id or alert.queue != SAFEGUARDING:
        raise NotFound(f"no safeguarding alert {alert_id}")
    if alert.resolved_at is not None:
        return alert
    for n in _siblings(session, alert):
        n.resolved_at, n.resolved_by, n.resolution = now, by, resolution.strip()
        session.add(n)
    session.flush()
    if alert.case_id is not None and not open_alerts(session, alert.case_id):
        case = session.get(Case, alert.case_id)
        if case.safeguarding:
            case.safeguarding = False
            session.add(case)
            session.flush()
    return alert


def open_alerts(session: Session, case_id: int) -> list[Notification]:
    return list(session.exec(select(Notification).where(
        Notification.case_id == case_id, Notification.queue == SAFEGUARDING, Notification.resolved_at.is_(None))))


def resolve_case_alerts(session: Session, case: Case, by: str, resolution: str, now: dt.datetime) -> int:
    """Resolve every safeguarding alert still open on a case (its case has been closed)."""
    alerts = open_alerts(session, case.id)
    for n in alerts:
        n.resolved_at, n.resolved_by, n.resolution = now, by, resolution
        session.add(n)
    return len(alerts)


@dataclass
class TimelineEntry:
    at: dt.datetime
    kind: str  # move | alert | alert_resolved
    move: CaseMove | None = None
    alert: Notification | None = None


def case_timeline(session: Session, moves: list[CaseMove], case_id: int, *, with_alerts: bool) -> list[TimelineEntry]:
    """A case's moves, and (for the DSL and deputies) its safeguarding alerts raised and dealt with,
    oldest first. One row per alert (the DSL's copy; the deputies' is the same alert)."""
    out = [TimelineEntry(m.at, "move", move=m) for m in moves]
    if with_alerts:
        alerts = session.exec(select(Notification).where(
            Notification.case_id == case_id, Notification.queue == SAFEGUARDING, Notification.role == "dsl")).all()
        for n in alerts:
            out.append(TimelineEntry(n.created_at, "alert", alert=n))
            if n.resolved_at is not None:
                out.append(TimelineEntry(n.resolved_at, "alert_resolved", alert=n))
    kinds = {"move": 0, "alert": 1, "alert_resolved": 2}
    out.sort(key=lambda e: (e.at, kinds[e.kind], e.move.id if e.move else e.alert.id))
    return out
