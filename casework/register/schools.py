"""Schools: adding one, and the policy figures it follows.

A school's policy lives in its workflow file. When a school is added (or moved to
another workflow) its register times are copied from the workflow onto the school
row, where the admin settings page may adjust them to the school's day; thresholds
are always read from the workflow.
"""

from __future__ import annotations

from sqlmodel import Session, select

from casework.figures.stats import Thresholds
from casework.store.models import School
from casework.workflow import Workflow, for_school


def add_school(session: Session, *, urn: str, name: str, local_authority: str = "", workflow: str = "national") -> School:

    urn = str(urn).strip()
    if not urn.isdigit() or not 5 <= len(urn) <= 7:
        raise ValueError(f"URN {urn!r} should be the school's 6-digit DfE unique reference number")
    if not name.strip():
        raise ValueError("a school needs a name")
    if session.exec(select(School).where(School.urn == urn)).first() is not None:
        raise ValueError(f"a school with URN {urn} already exists")
    # A missing or invalid workflow is refused here, naming its problems; one given by path is
    # kept as an absolute path, so later commands find it from any directory.
    workflow = for_school(workflow).ref
    school = School(urn=urn, name=name.strip(), local_authority=local_authority.strip(), workflow=workflow)
    apply_workflow_settings(school)
    session.add(school)
    session.flush()
    return school


def thresholds_for(school: School) -> Thresholds:

    t = for_school(school.workflow).model.thresholds
    return Thresholds(t.persistent_absence_pct, t.severe_absence_pct)


def apply_workflow_settings(school: School) -> None:
    """Copy the register times (and the local authority, if the school has none) from the
    school's workflow onto the school row."""

    wf = for_school(school.workflow).model.school
    am, pm = wf.registers.get("AM"), wf.registers.get("PM")
    if am is not None:
        school.am_open, school.am_close = am.open, am.close
    if pm is not None:
        school.pm_open, school.pm_close = pm.open, pm.close
    if not school.local_authority and wf.local_authority:
        school.local_authority = wf.local_authority


def list_schools(session: Session, workflow: Workflow | None = None, *also: str) -> list[School]:
    """The schools in the database by name; with ``workflow``, those that follow it (by its
    name, its path, or any of ``also``)."""
    schools = list(session.exec(select(School).order_by(School.name)))
    if workflow is None:
        return schools
    return [x for x in schools if x.workflow in (workflow.key, workflow.ref, str(workflow.path), *also)]
