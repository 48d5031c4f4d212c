"""Tables for the scheduler: what ran, and the email outbox.

APScheduler only wakes the jobs. What is due, who claimed it and what came of it live
here, so a restart loses nothing and a second scheduler on the same database duplicates
nothing:

- ``JobRun``: one row per (job, scope, period), e.g. ``("nightly_evaluation", "118888",
  "2026-02-16")``. The UNIQUE key makes the claim: the first scheduler to insert the row
  runs the job; a run claimed but not finished within the lease (a crash half-way) may be
  claimed again.
- ``EmailOutbox``: one row per email message with a UNIQUE ``key`` (``notification:17``,
  ``digest:4:2026-02-16``) and a ``message_id`` derived from it, claimed before sending
  and marked sent after the SMTP server accepted it.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, Column, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from casework.store.dbtypes import UTCDateTime


class JobRun(SQLModel, table=True):
    __tablename__ = "job_run"
    __table_args__ = (UniqueConstraint("job", "scope", "period"),)
    id: int | None = Field(default=None, primary_key=True)
    job: str  # sweep | register_close | nightly_evaluation | digest
    scope: str  # a school's URN, or "all"
    period: str  # the scheduled period this run is for: a date, or a sweep slot (UTC)
    school_id: int | None = Field(default=None, foreign_key="school.id")
    scheduled_for: dt.datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    claimed_by: str
    claimed_at: dt.datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    started_at: dt.datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    finished_at: dt.datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))
    outcome: str = "running"  # running | ok | failed
    attempts: int = 1
    detail: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class EmailOutbox(SQLModel, table=True):
    __tablename__ = "email_outbox"
    __table_args__ = (UniqueConstraint("key"), Index("ix_email_outbox_status", "status", "claimed_at"))
    id: int | None = Field(default=None, primary_key=True)
    key: str  # notification:<id> | digest:<user id>:<date>
    message_id: str  # the Message-ID header: the same on every attempt, so a receiver can drop a repeat
    school_id: int = Field(foreign_key="school.id", index=True)
    notification_id: int | None = Field(default=None, foreign_key="notification.id")
    user_id: int | None = Field(default=None, foreign_key="staff_user.id")
    recipients: list = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    subject: str
    body: str = Field(sa_column=Column(Text, nullable=False))
    created_at: dt.datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    status: str = "pending"  # pending | sending | sent | failed | skipped
    attempts: int = 0
    claimed_by: str | None = None
    claimed_at: dt.datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))
    sent_at: dt.datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))
    error: str = ""
    meta: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
