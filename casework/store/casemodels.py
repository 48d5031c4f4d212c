"""Tables for casework: cases, their moves and findings, timers, letters, notifications,
penalty notices and notes. A case is in exactly one state (``Case.state``); every move
is a ``CaseMove`` row with who, when, why and a snapshot of the evidence."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, Column, Index, Text, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from casework.store.dbtypes import UTCDateTime


def _at(nullable: bool = False):
    return Field(default=None, sa_column=Column(UTCDateTime, nullable=nullable)) if nullable else Field(
        sa_column=Column(UTCDateTime, nullable=False)
    )


def _json(default=dict):
    return Field(default_factory=default, sa_column=Column(JSON, nullable=False))


# The open cases' index: the school and next deadline first (the caseload's default order, its
# overdue counts), then what its tabs, filters and sorts read, so the caseload orders, counts
# and filters the open cases from the index alone and reads in full only the page's fifty (closed_at,
# always null here, is in it so that SQLite knows the index covers a query that asks for open cases).
OPEN_CASE_INDEX = ("school_id", "next_due_at", "opened_at", "owner_id", "state", "case_type", "workflow", "pupil_id",
                   "safeguarding", "closed_at")


class Case(SQLModel, table=True):
    __tablename__ = "pupil_case"
    __table_args__ = (Index("ix_case_school_state", "school_id", "state"), Index("ix_case_pupil_type", "pupil_id", "case_type"),
                      Index("ix_case_open_next_due", *OPEN_CASE_INDEX, sqlite_where=text("closed_at IS NULL"),
                            postgresql_where=text("closed_at IS NULL")))
    id: int | None = Field(default=None, primary_key=True)
    school_id: int = Field(foreign_key="school.id")
    pupil_id: int = Field(foreign_key="pupil.id")
    case_type: str
    state: str
    concern: str = Field(description="What the case is about; one open case per pupil per concern.")
    concern_start: dt.date | None = None
    workflow: str
    opened_at: dt.datetime = _at()
    opened_by: str
    updated_at: dt.datetime = _at()
    closed_at: dt.datetime | None = _at(nullable=True)
    proposals: list = _json(list)  # [{event, reason, rule, proposed_at}]
    safeguarding: bool = False  # on the DSL's queue
    version: int = 1
    owner_id: int | None = Field(default=None, foreign_key="staff_user.id", index=True)  # whose caseload it is on
    # The case's earliest outstanding deadline (casework.timers.outstanding), kept by casework.timers
    # whenever a timer or the case's state changes: what the caseload orders and counts by. A cache:
    # casework.timers.next_deadline_rows is the truth. The timer id has no foreign key (a timer
    # refers to its case, and backups restore cases first).
    next_due_at: dt.datetime | None = _at(nullable=True)
    next_timer_id: int | None = None


class CaseMove(SQLModel, table=True):
    __tablename__ = "case_move"
    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="pupil_case.id", index=True)
    event: str
    from_state: str | None = None  # None: the case was opened
    to_state: str
    actor: str  # username, or "system" for rules and timers
    actor_role: str
    at: dt.datetime = _at()
    reason: str = Field(default="", sa_column=Column(Text, nullable=False, server_default=""))
    params: dict = _json()
    evidence: dict = _json()  # the figures and marks that justified the move, as they were


class CaseFinding(SQLModel, table=True):
    __tablename__ = "case_finding"
    __table_args__ = (UniqueConstraint("case_id", "rule", "key"),)
    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="pupil_case.id", index=True)
    rule: str
    key: str
    found_on: dt.date
    summary: str = Field(sa_column=Column(Text, nullable=False))
    figures: dict = _json()
    evidence: list = _json(list)
    formal: bool = False
    provenance: dict = _json()  # rule and workflow versions, settings, period (casework.cases.provenance)


class Timer(SQLModel, table=True):
    """A deadline as a row: what it waits for, when it is due, what came of it."""

    # A case's timers by kind and status: the one definition of an outstanding deadline asks, for
    # each lapsed timer, whether a later period of it is open (casework.timers.outstanding).
    __table_args__ = (Index("ix_timer_status_due", "status", "due_at"),
                      Index("ix_timer_case_kind_status", "case_id", "kind", "status"))
    id: int | None = Field(default=None, primary_key=True)
    school_id: int = Field(foreign_key="school.id", index=True)
    case_id: int = Field(foreign_key="pupil_case.id")
    kind: str
    label: str
    role: str
    state: str  # the case state that started it
    started_at: dt.datetime = _at()
    due_at: dt.datetime = _at()
    status: str = "open"  # open | met | lapsed | cancelled
    outcome_at: dt.datetime | None = _at(nullable=True)
    outcome: str = ""
    claimed_by: str | None = None
    claimed_at: dt.datetime | None = _at(nullable=True)
    # A deadline in school days keeps what it counts (from which day, how many), so it can be counted
    # again: one due after the last school day entered was counted on weekdays less bank holidays, is
    # provisional (casework.timers.provisional), and is counted again when term dates are imported.
    count_from: dt.date | None = None
    school_days: int | None = None


class LetterRequest(SQLModel, table=True):
    """A letter queued by a case (and, once produced, the record of what was sent)."""

    __tablename__ = "letter"
    __table_args__ = (UniqueConstraint("case_id", "template", "move_id"),)
    id: int | None = Field(default=None, primary_key=True)
    school_id: int = Field(foreign_key="school.id", index=True)
    case_id: int = Field(foreign_key="pupil_case.id", index=True)
    move_id: int | None = Field(default=None, foreign_key="case_move.id")
    template: str
    # queued | printing (taken by a print run that lays it out later: the demo's office) | produced | cancelled
    status: str = "queued"
    queued_at: dt.datetime = _at()
    produced_at: dt.datetime | None = _at(nullable=True)
    produced_by: str = ""
    recipients: list = _json(list)
    file: str = ""
    sha256: str = ""
    facts: dict = _json(dict)  # facts a person supplied on the letters page (e.g. leave_to), over the moves' own
    provenance: dict = _json()  # for a letter a rule queued: the finding's trail (casework.cases.provenance)


class LetterBatch(SQLModel, table=True):
    """A print file: the letters produced together as one PDF, kept with its SHA-256."""

    __tablename__ = "letter_batch"
    id: int | None = Field(default=None, primary_key=True)
    school_id: int = Field(foreign_key="school.id", index=True)
    produced_at: dt.datetime = _at()
    produced_by: str
    letter_ids: list = _json(list)
    file: str
    sha256: str


class PrintJob(SQLModel, table=True):
    """Producing a school's queued letters in the background, a print file per chunk, with its
    progress kept here so the letters page can show it (and a restart can tell it stopped)."""

    __tablename__ = "print_job"
    id: int | None = Field(default=None, primary_key=True)
    school_id: int = Field(foreign_key="school.id", index=True)
    requested_by: str
    requested_at: dt.datetime = _at()
    status: str = "waiting"  # waiting | running | done | failed
    total: int = 0  # letters queued when it started
    produced: int = 0
    problems: dict = _json(dict)  # letter id -> what stops it
    batch_ids: list = _json(list)  # the print files made, in order
    finished_at: dt.datetime | None = _at(nullable=True)
    error: str = ""

    @property
    def done(self) -> int:
        """Letters looked at so far: produced, or left with a problem."""
        return min(self.total, self.produced + len(self.problems))


class Notification(SQLModel, table=True):
    """A nudge to a role (or a person), and the DSL's safeguarding queue."""

    __table_args__ = (UniqueConstraint("dedupe_key"),)
    id: int | None = Field(default=None, primary_key=True)
    school_id: int = Field(foreign_key="school.id", index=True)
    case_id: int | None = Field(default=None, foreign_key="pupil_case.id", index=True)
    role: str
    user_id: int | None = Field(default=None, foreign_key="staff_user.id")
    queue: str = "nudge"  # nudge | safeguarding
    message: str = Field(sa_column=Column(Text, nullable=False))
    created_at: dt.datetime = _at()
    read_at: dt.datetime | None = _at(nullable=True)
    emailed_at: dt.datetime | None = _at(nullable=True)
    resolved_at: dt.datetime | None = _at(nullable=True)
    resolved_by: str = Field(default="", sa_column=Column(Text, nullable=False, server_default=""))
    resolution: str = Field(default="", sa_column=Column(Text, nullable=False, server_default=""))
    dedupe_key: str


class PenaltyNotice(SQLModel, table=True):
    """A penalty notice: per parent, per child (national framework)."""

    __tablename__ = "penalty_notice"
    id: int | None = Field(default=None, primary_key=True)
    school_id: int = Field(foreign_key="school.id")
    case_id: int = Field(foreign_key="pupil_case.id", index=True)
    pupil_id: int = Field(foreign_key="pupil.id", index=True)
    contact_id: int | None = Field(default=None, foreign_key="contact.id")
    parent_name: str
    sequence: int  # 1st or 2nd within the rolling period
    issued_on: dt.date
    served_by: str = "post"  # post | hand | email (casework.penalties)
    received_on: dt.date | None = None  # deemed receipt; payment periods run from it
    reduced_amount: int | None = None
    reduced_due: dt.date | None = None
    amount: int
    due: dt.date
    status: str = "issued"  # issued | paid | unpaid | withdrawn
    paid_on: dt.date | None = None


class CaseNote(SQLModel, table=True):
    __tablename__ = "case_note"
    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="pupil_case.id", index=True)
    author: str
    at: dt.datetime = _at()
    text: str = Field(sa_column=Column(Text, nullable=False))
    safeguarding: bool = False  # seen by the DSL and deputies only


# Everything kept about a case besides the case row, the tables that refer to others first
# (what a retention purge removes with a case, in that order).
CASE_PARTS = (LetterRequest, Notification, PenaltyNotice, Timer, CaseNote, CaseFinding, CaseMove)
