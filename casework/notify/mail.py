"""Email over SMTP: nudges and the morning digest, through an outbox.

Configured from the environment (none set: in-app notifications only):
``CASEWORK_SMTP_HOST``, ``CASEWORK_SMTP_PORT`` (25), ``CASEWORK_SMTP_FROM``, and optionally
``CASEWORK_SMTP_USER``/``CASEWORK_SMTP_PASSWORD``, ``CASEWORK_SMTP_STARTTLS=1``, and
``CASEWORK_EMAIL_NOW`` (queues emailed as they happen; default ``safeguarding``: the
DSL's queue goes out at once, every other nudge waits for the morning digest).

Delivery is at-least-once with an idempotency key, as exactly-once to an SMTP server
across a crash cannot be had: the server may accept a message and the process die before
it records that. So each message is an ``EmailOutbox`` row with a UNIQUE key and a fixed
``Message-ID``:

1. *enqueue*: one row per notification (``notification:<id>``) or per user per morning
   (``digest:<user>:<date>``); the UNIQUE key means a second scheduler adds nothing.
2. *claim*: a conditional update ``pending -> sending`` (or a ``sending`` row whose claim is
   older than the lease, i.e. its sender died), committed before talking to the server;
   two senders never hold one row.
3. *send*, then mark ``sent`` and commit.

A crash anywhere before the server's "250 OK" leaves the row ``pending`` or ``sending``;
after the lease it is sent again, and nothing was delivered the first time. The one window
that repeats a message is a crash between the server's acceptance and step 3's commit;
the repeat carries the same Message-ID, so mail systems that drop repeats by Message-ID
(and a person reading) see one message.
"""

from __future__ import annotations

import datetime as dt
import os
import smtplib
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import format_datetime

from sqlalchemy import or_, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import select

from casework.clock import LONDON, Clock
from casework.plain import Plain
from casework.store.casemodels import Notification
from casework.store.db import session_scope
from casework.store.models import ROLE_LABELS, Role, School, User
from casework.store.schedmodels import EmailOutbox
from casework.timers import caseload_deadlines

LEASE = dt.timedelta(minutes=10)
MAX_ATTEMPTS = 5
FRESH = dt.timedelta(days=7)  # notifications older than this are not emailed (e.g. email configured late)


@dataclass(frozen=True)
class MailSettings:
    host: str
    port: int = 25
    sender: str = "casework@localhost"
    username: str | None = None
    password: str | None = None
    starttls: bool = False
    send_now: tuple[str, ...] = ("safeguarding",)

    @classmethod
    def from_env(cls, env: dict | None = None) -> MailSettings | None:
        env = os.environ if env is None else env
        host = env.get("CASEWORK_SMTP_HOST")
        if not host:
            return None
        port = env.get("CASEWORK_SMTP_PORT", "25")
        if not port.isdigit():
            raise ValueError(f"CASEWORK_SMTP_PORT={port!r} is not a port number")
        queues = tuple(q.strip() for q in env.get("CASEWORK_EMAIL_NOW", "safeguarding").split(",") if q.strip())
        return cls(host, int(port), env.get("CASEWORK_SMTP_FROM") or "casework@localhost",
                   env.get("CASEWORK_SMTP_USER") or None, env.get("CASEWORK_SMTP_PASSWORD") or None,
                   env.get("CASEWORK_SMTP_STARTTLS") == "1", queues)

    @property
    def domain(self) -> str:
        return self.sender.rpartition("@")[2] or "localhost"

    def message_id(self, key: str) -> str:
        return f"<casework.{key.replace(':', '.')}@{self.domain}>"


@dataclass
class OutboxReport(Plain):
    queued: int = 0
    sent: int = 0
    failed: int = 0
    skipped: int = 0
    errors: list[str] = field(default_factory=list)


def smtp_send(settings: MailSettings, msg: EmailMessage) -> None:
    with smtplib.SMTP(settings.host, settings.port, timeout=30) as smtp:
        if settings.starttls:
            smtp.starttls()
        if settings.username:
            smtp.login(settings.username, settings.password or "")
        smtp.send_message(msg)


def recipients_for(session, school_id: int, role: str, user_id: int | None = None) -> list[str]:
    q = select(User.email).where(User.active.is_(True), User.email != "")
    q = q.where(User.id == user_id) if user_id is not None else q.where(User.school_id == school_id, User.role == role)
    return sorted(set(session.exec(q)))


def _add_rows(engine: Engine, rows: list[EmailOutbox]) -> int:
    """Insert outbox rows; a key another scheduler inserted first is skipped."""
    added = 0
    for row in rows:
        try:
            with session_scope(engine) as s:
                if s.exec(select(EmailOutbox.id).where(EmailOutbox.key == row.key)).first() is None:
                    s.add(row)
                    added += 1
        except IntegrityError:
            added -= 1  # lost the race: the other scheduler's row stands
    return added


def enqueue_notifications(engine: Engine, clock: Clock, settings: MailSettings) -> int:
    """One outbox row for each notification on a queue emailed at once (the DSL's, by default)."""
    now = clock.now()
    with session_scope(engine) as s:
        done = select(EmailOutbox.notification_id).where(EmailOutbox.notification_id.is_not(None))
        pending = list(s.exec(select(Notification, School).join(School, School.id == Notification.school_id).where(
            Notification.queue.in_(settings.send_now), Notification.created_at > now - FRESH,
            Notification.created_at <= now, Notification.id.not_in(done)).order_by(Notification.id)))
        rows = []
        for n, school in pending:
            to = recipients_for(s, n.school_id, n.role, n.user_id)
            key = f"notification:{n.id}"
            what = "Safeguarding" if n.queue == "safeguarding" else "Casework"
            body = (f"{n.message}\n\n{school.name}, {n.created_at.astimezone(LONDON):%A %d %B %Y %H:%M}.\n"
                    + (f"Case {n.case_id}.\n" if n.case_id else "")
                    + "\nSign in to casework to act on it. This message was sent once to everyone with the role "
                      f"{_role_label(n.role)}.\n")
            rows.append(EmailOutbox(key=key, message_id=settings.message_id(key), school_id=n.school_id,
                                    notification_id=n.id, user_id=n.user_id, recipients=to,
                                    subject=f"[{what}] {n.message[:120]}", body=body, created_at=now,
                                    status="pending" if to else "skipped",
                                    error="" if to else f"no active user with the role {n.role} has an email address"))
    return _add_rows(engine, rows)


def _role_label(role: str) -> str:

    return ROLE_LABELS.get(Role(role), role) if role in Role._value2member_map_ else role


def dispatch(engine: Engine, clock: Clock, settings: MailSettings, *, worker: str, send=smtp_send,
             lease: dt.timedelta = LEASE) -> OutboxReport:
    """Send every pending message once: claim, send, mark sent (see the module's docstring)."""
    report = OutboxReport()
    now = clock.now()
    claimable = or_(EmailOutbox.status == "pending",
                    (EmailOutbox.status == "sending") & (EmailOutbox.claimed_at < now - lease))
    with session_scope(engine) as s:
        ids = list(s.exec(select(EmailOutbox.id).where(claimable).order_by(EmailOutbox.id)))
    for oid in ids:
        with session_scope(engine) as s:
            if s.bind.dialect.name == "postgresql":
                if s.exec(select(EmailOutbox.id).where(EmailOutbox.id == oid, claimable)
                          .with_for_update(skip_locked=True)).first() is None:
                    continue
            got = s.execute(update(EmailOutbox).where(EmailOutbox.id == oid, claimable).values(
                status="sending", claimed_by=worker, claimed_at=now, attempts=EmailOutbox.attempts + 1)).rowcount
            row = s.get(EmailOutbox, oid) if got == 1 else None
        if row is None:
            continue
        try:
            send(settings, _message(settings, row, now))
        except (OSError, smtplib.SMTPException) as exc:
            failed = row.attempts >= MAX_ATTEMPTS
            with session_scope(engine) as s:
                s.execute(update(EmailOutbox).where(EmailOutbox.id == oid, EmailOutbox.claimed_by == worker).values(
                    status="failed" if failed else "pending", error=f"{type(exc).__name__}: {exc}"[:500]))
            report.failed += failed
            report.errors.append(f"{row.key}: {exc}")
            continue
        with session_scope(engine) as s:
            s.execute(update(EmailOutbox).where(EmailOutbox.id == oid).values(status="sent", sent_at=now, error=""))
            if row.notification_id is not None:
                s.execute(update(Notification).where(Notification.id == row.notification_id,
                                                     Notification.emailed_at.is_(None)).values(emailed_at=now))
        report.sent += 1
    return report


def _message(settings: MailSettings, row: EmailOutbox, now: dt.datetime) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = settings.sender
    msg["To"] = ", ".join(row.recipients)
    msg["Subject"] = row.subject
    msg["Message-ID"] = row.message_id
    msg["Date"] = format_datetime(row.created_at.astimezone(LONDON))
    msg["X-Casework-Key"] = row.key
    msg.set_content(row.body)
    return msg


# -- the morning digest ---------------------------------------------------------------


def enqueue_digests(engine: Engine, school: School, clock: Clock, settings: MailSettings) -> int:
    """One message per user of the school this morning: their role's new notifications since
    their last digest, and every overdue deadline on their caseload. Nothing new: no message."""

    now = clock.now()
    day = now.astimezone(LONDON).date()
    rows = []
    with session_scope(engine) as s:
        users = list(s.exec(select(User).where(User.school_id == school.id, User.active.is_(True), User.email != "")
                            .order_by(User.id)))
        for u in users:
            key = f"digest:{u.id}:{day.isoformat()}"
            if s.exec(select(EmailOutbox.id).where(EmailOutbox.key == key)).first() is not None:
                continue
            last = s.exec(select(EmailOutbox).where(EmailOutbox.user_id == u.id, EmailOutbox.key.like("digest:%"))
                          .order_by(EmailOutbox.created_at.desc())).first()
            since = dt.datetime.fromisoformat(last.meta["until"]) if last and "until" in last.meta else now - dt.timedelta(days=1)
            new = list(s.exec(select(Notification).where(
                Notification.school_id == school.id, Notification.created_at > since, Notification.created_at <= now,
                or_(Notification.user_id == u.id, (Notification.role == u.role) & Notification.user_id.is_(None)))
                .order_by(Notification.created_at, Notification.id)))
            overdue = [d for d in caseload_deadlines(s, school.id, user=u, now=now) if d.overdue]
            if not new and not overdue:
                continue
            lines = [f"Good morning {u.name.split()[0] if u.name else u.username},", "",
                     f"Your casework at {school.name} for {day:%A %d %B %Y}.", ""]
            if new:
                lines += [f"New since {since.astimezone(LONDON):%a %d %b %H:%M} ({len(new)}):"]
                lines += [f"  - {'[safeguarding] ' if n.queue == 'safeguarding' else ''}{n.message}" for n in new]
                lines.append("")
            if overdue:
                lines += [f"Overdue deadlines ({len(overdue)}):"]
                lines += [f"  - {d.pupil} ({d.upn}): {d.label}, due {d.due:%a %d %b %H:%M} (case {d.case_id})"
                          for d in overdue]
                lines.append("")
            lines.append("Sign in to casework to act on them.")
            rows.append(EmailOutbox(
                key=key, message_id=settings.message_id(key), school_id=school.id, user_id=u.id, recipients=[u.email],
                subject=f"Casework for {day:%a %d %b}: {len(new)} new, {len(overdue)} overdue", body="\n".join(lines) + "\n",
                created_at=now, meta={"until": now.isoformat(), "since": since.isoformat(),
                                      "notifications": [n.id for n in new], "overdue": [d.id for d in overdue]}))
    return _add_rows(engine, rows)


def outbox(session, status: str | None = None, limit: int = 50) -> list[EmailOutbox]:
    """The newest emails in the outbox, optionally with one status."""
    q = select(EmailOutbox).order_by(EmailOutbox.id.desc()).limit(limit)
    if status:
        q = q.where(EmailOutbox.status == status)
    return list(session.exec(q))
