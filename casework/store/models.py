"""The tables. One SQLModel class per table; bulk work goes through SQL, not loops of these.

Schema changes go through Alembic migrations in ``casework/migrations`` (``casework.store.db``
applies them), never ``create_all``.
"""

from __future__ import annotations

import datetime as dt
from enum import Enum

from sqlalchemy import JSON, Column, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from casework.store.dbtypes import UTCDateTime


class Role(str, Enum):
    ATTENDANCE_OFFICER = "attendance_officer"
    WELLBEING_LEAD = "wellbeing_lead"
    DSL = "dsl"
    DEPUTY_DSL = "deputy_dsl"
    HEADTEACHER = "headteacher"
    DEPUTY_HEAD = "deputy_head"  # authorised by the head to issue notices (docs/domain.md §2)
    TEACHER = "teacher"
    GOVERNOR = "governor"
    ADMIN = "admin"
    TRUST_LEAD = "trust_lead"  # a trust's attendance lead: sees the schools they are given, side by side


ROLE_LABELS = {
    Role.ATTENDANCE_OFFICER: "Attendance officer",
    Role.WELLBEING_LEAD: "Wellbeing lead",
    Role.DSL: "Designated safeguarding lead",
    Role.DEPUTY_DSL: "Deputy DSL",
    Role.HEADTEACHER: "Headteacher",
    Role.DEPUTY_HEAD: "Deputy headteacher",
    Role.TEACHER: "Teacher",
    Role.GOVERNOR: "Governor",
    Role.ADMIN: "Administrator",
    Role.TRUST_LEAD: "Trust attendance lead",
}


class School(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    urn: str = Field(index=True, unique=True, max_length=12)
    name: str
    local_authority: str = ""
    am_open: dt.time = dt.time(8, 50)
    am_close: dt.time = dt.time(9, 20)
    pm_open: dt.time = dt.time(13, 15)
    pm_close: dt.time = dt.time(13, 30)
    workflow: str = "national"  # a file under workflows/ (name without .yaml) or a path
    address: str = Field(default="", sa_column=Column(Text, nullable=False, server_default=""))
    phone: str = ""
    email: str = ""
    headteacher_name: str = ""


class CalendarDay(SQLModel, table=True):
    """One row of a school's calendar: a term, or a closure within it."""

    __tablename__ = "calendar_entry"
    id: int | None = Field(default=None, primary_key=True)
    school_id: int = Field(foreign_key="school.id", index=True)
    start: dt.date
    end: dt.date
    kind: str  # term | closure
    label: str = ""
    session: str | None = None  # AM | PM for a half-day closure


class Pupil(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("school_id", "upn"),)
    id: int | None = Field(default=None, primary_key=True)
    school_id: int = Field(foreign_key="school.id", index=True)
    upn: str = Field(index=True, max_length=13)
    forename: str
    surname: str
    date_of_birth: dt.date
    year_group: int  # Reception is 0, Nursery -1
    fsm: bool = False
    pupil_premium: bool = False
    send: bool = False
    ehc_plan: bool = False
    eal: bool = False
    social_worker: bool = False
    child_in_need: bool = False
    child_protection_plan: bool = False
    looked_after: bool = False
    young_carer: bool = False
    traveller: bool = False
    vulnerability_rag: str | None = None  # red | amber | green
    on_roll: bool = True

    @property
    def name(self) -> str:
        return f"{self.forename} {self.surname}"


# The flags a pupil can carry, in the order a person reads them; also the
# "vulnerable groups" that statistics can be cut by.
PUPIL_FLAGS: dict[str, str] = {
    "fsm": "Free school meals",
    "pupil_premium": "Pupil premium",
    "send": "SEND",
    "ehc_plan": "EHC plan",
    "eal": "EAL",
    "social_worker": "Social worker",
    "child_in_need": "Child in need",
    "child_protection_plan": "Child protection plan",
    "looked_after": "Looked after",
    "young_carer": "Young carer",
    "traveller": "Traveller",
}
RAG_RATINGS = ("red", "amber", "green")
CONTACT_PHONES = ("phone_mobile", "phone_home", "phone_work")  # the order a phone number is chosen in


class Contact(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    pupil_id: int = Field(foreign_key="pupil.id", index=True)
    name: str
    relationship: str
    parental_responsibility: bool = True
    lives_with_pupil: bool = True
    phone_mobile: str = ""
    phone_home: str = ""
    phone_work: str = ""
    email: str = ""
    address: str = Field(default="", sa_column=Column(Text, nullable=False, server_default=""))
    postcode: str = ""
    call_priority: int = 1  # 1 is called first

    @property
    def phone(self) -> str:
        """The first number held, in the order of ``CONTACT_PHONES``."""
        return next((n for n in (getattr(self, f) for f in CONTACT_PHONES) if n), "")


class Mark(SQLModel, table=True):
    """The register: one mark per pupil per session."""

    __table_args__ = (
        UniqueConstraint("pupil_id", "date", "session"),
        Index("ix_mark_school_date", "school_id", "date"),
    )
    id: int | None = Field(default=None, primary_key=True)
    school_id: int = Field(foreign_key="school.id")
    pupil_id: int = Field(foreign_key="pupil.id")
    date: dt.date
    session: str  # AM | PM
    code: str = Field(max_length=3)
    minutes_late: int | None = None
    recorded_by: str = ""
    recorded_at: dt.datetime = Field(sa_column=Column(UTCDateTime, nullable=False))


class MarkAmendment(SQLModel, table=True):
    """A change to a mark. The register keeps the original entry, the amended entry,
    the reason, the date and the name and position of who made it (Pupil Registration
    Regulations 2024); a mark is never changed without one of these rows."""

    __tablename__ = "mark_amendment"
    id: int | None = Field(default=None, primary_key=True)
    mark_id: int = Field(foreign_key="mark.id", index=True)
    pupil_id: int = Field(foreign_key="pupil.id", index=True)
    date: dt.date
    session: str
    original_code: str
    original_minutes_late: int | None = None
    amended_code: str
    amended_minutes_late: int | None = None
    reason: str
    amended_at: dt.datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    amended_by_name: str
    amended_by_position: str


class User(SQLModel, table=True):
    __tablename__ = "staff_user"
    id: int | None = Field(default=None, primary_key=True)
    school_id: int | None = Field(default=None, foreign_key="school.id", index=True)
    username: str = Field(index=True, unique=True)
    name: str
    position: str = ""
    role: str  # a Role value
    email: str = ""
    password_hash: str = ""
    active: bool = True
    session_version: int = 0  # moved on to end every signed-in session (casework/web/sessions.py)
    must_change_password: bool = False  # a one-time password: the next sign-in sets a new one


class Membership(SQLModel, table=True):
    """A school a user works in besides their own (``User.school_id``), with their role there."""

    __tablename__ = "staff_membership"
    __table_args__ = (UniqueConstraint("user_id", "school_id"),)
    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="staff_user.id", index=True)
    school_id: int = Field(foreign_key="school.id", index=True)
    role: str  # a Role value


class ImportRun(SQLModel, table=True):
    """What an import did: kept so an admin can see when data arrived and what changed."""

    __tablename__ = "import_run"
    id: int | None = Field(default=None, primary_key=True)
    school_id: int = Field(foreign_key="school.id", index=True)
    kind: str
    filename: str
    imported_at: dt.datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    imported_by: str = ""
    rows: int = 0
    added: int = 0
    changed: int = 0
    unchanged: int = 0
    summary: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class AuditEvent(SQLModel, table=True):
    """One thing a person (or a job) did, in an append-only, hash-chained log (casework/store/audit.py).

    The database refuses to change or delete a row (triggers); each row's hash covers the row
    and the hash before it, so an edit made around the triggers breaks the chain at that row."""

    __tablename__ = "audit_event"
    id: int | None = Field(default=None, primary_key=True)
    at: dt.datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    school_id: int | None = Field(default=None, index=True)
    actor: str
    action: str  # e.g. mark.amend, case.move, letter.produce, case.note, auth.sign_in, user.permission
    subject: str = ""  # e.g. case:42, mark:1234, user:officer
    detail: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    prev_hash: str
    hash: str


class AuditHead(SQLModel, table=True):
    """The chain's last hash: one row, updated first by every writer so that writers queue."""

    __tablename__ = "audit_head"
    id: int = Field(default=1, primary_key=True)
    last_hash: str = "0" * 64
    count: int = 0
