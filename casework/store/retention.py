"""Removing what is past its retention period (the workflow's ``retention`` section), with a
report of what went. Registers go by the date of the entry; cases by when they closed."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from sqlalchemy import delete, func, select
from sqlmodel import Session

from casework.cases.penalties import years_before
from casework.store.audit import record
from casework.store.casemodels import CASE_PARTS, Case
from casework.store.models import Mark, MarkAmendment, School
from casework.workflow import for_school


@dataclass
class PurgeReport:
    school: str
    registers_before: dt.date
    cases_closed_before: dt.datetime
    removed: dict[str, int] = field(default_factory=dict)
    dry_run: bool = False

    def as_dict(self) -> dict:
        return {"school": self.school, "registers_before": self.registers_before.isoformat(),
                "cases_closed_before": self.cases_closed_before.isoformat(), "removed": self.removed,
                "dry_run": self.dry_run}


def purge(session: Session, school: School, now: dt.datetime, *, by: str, dry_run: bool = False) -> PurgeReport:
    """Remove (or, with ``dry_run``, count) the school's records past retention."""
    keep = for_school(school.workflow).model.retention
    report = PurgeReport(school.urn, years_before(now.date(), keep.register_years),
                         dt.datetime.combine(years_before(now.date(), keep.closed_case_years), now.timetz()),
                         dry_run=dry_run)
    old_marks = select(Mark.id).where(Mark.school_id == school.id, Mark.date < report.registers_before)
    old_cases = select(Case.id).where(Case.school_id == school.id, Case.closed_at.is_not(None),
                                      Case.closed_at < report.cases_closed_before)
    steps = [(MarkAmendment, MarkAmendment.mark_id.in_(old_marks)), (Mark, Mark.id.in_(old_marks))]
    steps += [(part, part.case_id.in_(old_cases)) for part in CASE_PARTS] + [(Case, Case.id.in_(old_cases))]
    for model, where in steps:
        n = session.execute(select(func.count()).select_from(model).where(where)).scalar_one()
        report.removed[model.__tablename__] = n
        if n and not dry_run:
            session.execute(delete(model).where(where))
    if not dry_run:
        record(session, now, by, "retention.purge", f"school:{school.urn}", school_id=school.id, **report.as_dict())
    return report
