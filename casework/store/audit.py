"""The audit log: every amendment, move, letter, note, sign-in and permission change, in an
append-only, hash-chained table that ``casework audit verify`` checks.

Each event's hash is SHA-256 over the previous event's hash and the event's own fields in
canonical JSON. Writers first update the single ``audit_head`` row, which queues them
(a row lock on PostgreSQL, the write lock on SQLite), so the chain never forks. Triggers
refuse UPDATE and DELETE on ``audit_event``; someone who removes the triggers to edit a
row breaks the chain at that row, and ``verify`` names it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass

from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from casework.store.db import session_scope
from casework.store.models import AuditEvent, AuditHead

GENESIS = "0" * 64


def _digest(prev: str, at: dt.datetime, school_id: int | None, actor: str, action: str, subject: str,
            detail: dict) -> str:
    body = json.dumps({"at": at.astimezone(dt.UTC).isoformat(), "school": school_id, "actor": actor,
                       "action": action, "subject": subject, "detail": detail},
                      sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256((prev + body).encode()).hexdigest()


def record(session: Session, at: dt.datetime, actor: str, action: str, subject: str = "", /, *,
           school_id: int | None = None, **detail) -> AuditEvent:
    """Append one event, in the caller's unit of work (it is kept only if that commits)."""
    detail = json.loads(json.dumps(detail, default=str))  # stored exactly as hashed
    session.execute(update(AuditHead).where(AuditHead.id == 1).values(count=AuditHead.count + 1))
    head = session.get(AuditHead, 1, populate_existing=True)
    if head is None:  # the first event ever
        head = AuditHead(id=1, last_hash=GENESIS, count=1)
    event = AuditEvent(at=at, school_id=school_id, actor=actor, action=action, subject=subject, detail=detail,
                       prev_hash=head.last_hash,
                       hash=_digest(head.last_hash, at, school_id, actor, action, subject, detail))
    head.last_hash = event.hash
    session.add(event)
    session.add(head)
    session.flush()
    return event


@dataclass
class Verification:
    events: int
    broken_at: int | None = None  # the id of the first event whose hash does not hold
    reason: str = ""

    @property
    def ok(self) -> bool:
        return self.broken_at is None


def verify(engine: Engine, batch: int = 5_000) -> Verification:
    """Walk the chain in order; the first event that does not follow from the one before is named."""
    prev, n, last_id = GENESIS, 0, 0
    with session_scope(engine) as s:
        while True:
            rows = s.exec(select(AuditEvent).where(AuditEvent.id > last_id).order_by(AuditEvent.id).limit(batch)).all()
            if not rows:
                break
            for e in rows:
                if e.prev_hash != prev:
                    return Verification(n, e.id, "it does not follow the event before it (an event was removed or changed)")
                if _digest(e.prev_hash, e.at, e.school_id, e.actor, e.action, e.subject, e.detail) != e.hash:
                    return Verification(n, e.id, "its contents were changed after it was written")
                prev, n, last_id = e.hash, n + 1, e.id
        head = s.get(AuditHead, 1)
        if head is not None and head.last_hash != prev:
            return Verification(n, last_id or 0, "events after this one were removed")
    return Verification(n)
