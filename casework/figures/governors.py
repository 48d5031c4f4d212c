"""The governors' termly report: the school's attendance for a term beside the national figures.

For one term (``casework.register.terms``): the school's attendance, persistent and severe
absence; the same by year group and vulnerable group (a group smaller than the school's
``report_min_group_size`` reads "fewer than N" for a reader who may not see small groups);
how many pupils are in each descriptive band; cases opened and closed by type; the formal
steps taken (notices, penalty requests, referrals); and the DfE's national figures for the
school's phase, each with its source. No row names a pupil.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import func
from sqlmodel import Session, select

from casework.clock import at
from casework.figures import stats
from casework.figures.bands import BandCount, band_counts
from casework.figures.export import Sheet
from casework.figures.national import NationalFigure, NationalFigures, national_figures
from casework.figures.reporting import GROUP_HEADER, GroupRow, fewer_than
from casework.register.terms import Term
from casework.store.casemodels import Case, CaseMove
from casework.store.models import School
from casework.workflow import Workflow, for_school


class ReportError(ValueError):
    """A report that cannot be made (e.g. a term that has not started)."""


@dataclass(frozen=True)
class CaseCount:
    label: str
    opened: int
    closed: int


@dataclass(frozen=True)
class StepCount:
    label: str
    case_type: str
    taken: int


MEASURES = {"attendance_pct": "Attendance %", "persistent_absence_pct": "Persistent absence (% of pupils)",
            "severe_absence_pct": "Severe absence (% of pupils)"}


@dataclass(frozen=True)
class Comparison:
    measure: str
    school: float | None
    national: float | None
    figure: NationalFigure | None  # where the national figure comes from


@dataclass
class GovernorsReport:
    school: str
    term: Term
    start: dt.date
    end: dt.date  # the term's end, or today while the term is running
    thresholds: stats.Thresholds
    target: float | None
    groups: list[GroupRow]
    min_group_size: int
    suppressing: bool
    bands: list[BandCount]
    cases: list[CaseCount]
    steps: list[StepCount]
    phase: str | None
    national: list[NationalFigure]
    sources: dict

    @property
    def to_date(self) -> bool:
        return self.end < self.term.end

    @property
    def whole_school(self) -> stats.GroupFigures:
        return self.groups[0].group

    def comparison(self) -> list[Comparison]:
        """The school's attendance, PA and SA for the term, each beside the national figure to compare it with."""
        g = self.whole_school
        ours = {"attendance_pct": g.figures.attendance_pct, "persistent_absence_pct": g.pa_rate,
                "severe_absence_pct": g.sa_rate}
        return [Comparison(label, ours[measure], *self._national_for(measure)) for measure, label in MEASURES.items()]

    def _national_for(self, measure: str) -> tuple[float | None, NationalFigure | None]:
        """An autumn term is set beside the latest autumn-term figure, any other term (or an autumn term with
        no such figure) beside the latest whole-year one; the school's phase, or all schools if not known."""
        pool = [f for f in self.national if f.phase == (self.phase or "all") and getattr(f, measure) is not None]
        periods = ("autumn_term", "full_year") if self.term.season == "autumn" else ("full_year",)
        for period in periods:
            found = next((f for f in pool if f.period == period), None)
            if found is not None:
                return getattr(found, measure), found
        return None, None

    def summary_rows(self) -> list[list]:
        out = []
        for c in self.comparison():
            src = self.sources[c.figure.source] if c.figure else None
            out.append([c.measure, None if c.school is None else round(c.school, 1), c.national,
                        c.figure.describe() if c.figure else "not recorded",
                        src.publication if src else "", src.url if src else ""])
        return out

    def group_rows(self) -> list[list]:
        out = []
        for r in self.groups:
            if r.suppressed:
                out.append([r.label, fewer_than(self.min_group_size)] + [""] * (len(GROUP_HEADER) - 2))
            else:
                d = r.group.as_dict(self.thresholds)
                out.append([d[k] for k in GROUP_HEADER])
        return out

    def national_rows(self) -> list[list]:
        return [[f.year, f.period_label, f.phase_label, f.attendance_pct, f.absence_pct, f.persistent_absence_pct,
                 f.severe_absence_pct, self.sources[f.source].publication, self.sources[f.source].url,
                 self.sources[f.source].published] for f in self.national]

    def sheets(self) -> list[Sheet]:
        note = f" (groups of {fewer_than(self.min_group_size)} pupils are not shown)" if self.suppressing else ""
        span = f"{self.start:%d %B %Y} to {self.end:%d %B %Y}" + (" (term to date)" if self.to_date else "")
        return [
            Sheet("Summary", f"{self.school}: governors' report, {self.term.label}, {span}",
                  ["measure", "school", "national", "national figure", "publication", "url"], self.summary_rows()),
            Sheet("Groups", f"By year group and vulnerable group{note}", GROUP_HEADER, self.group_rows()),
            Sheet("Bands", "Pupils in each descriptive band (attendance this term)", ["band", "pupils"],
                  [[b.name, b.pupils] for b in self.bands]),
            Sheet("Cases", "Cases opened and closed this term", ["case type", "opened", "closed"],
                  [[c.label, c.opened, c.closed] for c in self.cases]),
            Sheet("Formal steps", "Formal steps taken this term", ["step", "case type", "taken"],
                  [[s.label, s.case_type, s.taken] for s in self.steps]),
            Sheet("National", "National figures (DfE): attendance is 100 minus the absence rate",
                  ["year", "period", "phase", "attendance_pct", "absence_pct", "persistent_absence_pct",
                   "severe_absence_pct", "publication", "url", "published"], self.national_rows()),
        ]


def governors_report(session: Session, school: School, workflow: Workflow, term: Term, today: dt.date, *,
                     see_small_groups: bool = True, figures: NationalFigures | None = None) -> GovernorsReport:
    if today < term.start:
        raise ReportError(f"{term.label} has not started yet (it starts on {term.start:%d %B %Y})")
    start, end = term.start, min(term.end, today)
    m = workflow.model
    th = stats.Thresholds(m.thresholds.persistent_absence_pct, m.thresholds.severe_absence_pct)
    rows = stats.pupil_figures(session, school.id, start, end)
    groups = stats.breakdown(rows, stats.pupil_flags(session, school.id), th)
    minimum = m.school.report_min_group_size
    hide = not see_small_groups
    national = figures or national_figures()
    return GovernorsReport(
        school.name, term, start, end, th, m.school.target_attendance_pct,
        [GroupRow(g, hide and g.pupils < minimum) for g in groups], minimum, hide,
        band_counts(rows, m.descriptive_bands), case_counts(session, school.id, start, end),
        formal_steps(session, school.id, start, end), m.school.phase, national.for_phase(m.school.phase),
        national.sources)


def _bounds(start: dt.date, end: dt.date) -> tuple[dt.datetime, dt.datetime]:
    return at(start, dt.time(0)), at(end + dt.timedelta(days=1), dt.time(0))


def _case_type_label(workflow_key: str, case_type: str) -> str:
    try:
        return for_school(workflow_key).case_type(case_type).label
    except (KeyError, ValueError, OSError):
        return case_type.replace("_", " ")


def case_counts(session: Session, school_id: int, start: dt.date, end: dt.date) -> list[CaseCount]:
    """Cases opened and closed between ``start`` and ``end`` (both days included), by case type."""
    lo, hi = _bounds(start, end)
    counts: dict[str, list[int]] = {}
    for column, i in ((Case.opened_at, 0), (Case.closed_at, 1)):
        q = (select(Case.workflow, Case.case_type, func.count()).where(Case.school_id == school_id, column >= lo,
                                                                        column < hi)
             .group_by(Case.workflow, Case.case_type))
        for wf_key, ct, n in session.exec(q):
            counts.setdefault(_case_type_label(wf_key, ct), [0, 0])[i] += n
    return [CaseCount(label, o, c) for label, (o, c) in sorted(counts.items())]


def formal_steps(session: Session, school_id: int, start: dt.date, end: dt.date) -> list[StepCount]:
    """Formal steps (the workflow's ``formal: true`` moves) people took between ``start`` and ``end``."""
    lo, hi = _bounds(start, end)
    q = (select(Case.workflow, Case.case_type, CaseMove.event, func.count())
         .join(Case, Case.id == CaseMove.case_id)
         .where(Case.school_id == school_id, CaseMove.at >= lo, CaseMove.at < hi, CaseMove.from_state.is_not(None))
         .group_by(Case.workflow, Case.case_type, CaseMove.event))
    counts: dict[tuple[str, str], int] = {}
    for wf_key, ct, event, n in session.exec(q):
        try:
            ctdef = for_school(wf_key).case_type(ct)
        except (KeyError, ValueError, OSError):
            continue
        mv = ctdef.moves.get(event)
        if mv is not None and mv.formal:
            key = (mv.label or event.replace("_", " "), ctdef.label)
            counts[key] = counts.get(key, 0) + n
    return [StepCount(label, ct, n) for (label, ct), n in sorted(counts.items())]
