"""School attendance reports as the web shows and exports them, with small groups kept private.

A group with fewer pupils than the school's ``report_min_group_size`` (workflow
``school:``; 5 nationally) is shown to a reader who may not see small groups (a governor)
as "fewer than N" with no figures: in the table, in the week-by-week chart and table, and
in every export. Which readers may see small groups is the web's permissions matrix
(``reports.small_groups``); the threshold is the school's policy.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from sqlmodel import Session

from casework.figures import stats, trends
from casework.figures.bands import BandCount, band_counts
from casework.store.models import School
from casework.workflow import Workflow

GROUP_HEADER = ["group", "pupils", "attendance_pct", "persistent_absentees", "pa_rate", "severe_absentees", "sa_rate",
                "possible_sessions", "authorised", "unauthorised"]
WEEK_HEADER = ["week_start", "attendance_pct", "to_date_pct", "possible_sessions", "present", "authorised",
               "unauthorised"]


def fewer_than(n: int) -> str:
    return f"fewer than {n}"


@dataclass
class GroupRow:
    group: stats.GroupFigures
    suppressed: bool

    @property
    def label(self) -> str:
        return self.group.label


@dataclass
class SchoolReport:
    start: dt.date
    end: dt.date
    thresholds: stats.Thresholds
    target: float | None
    groups: list[GroupRow]
    group_label: str  # the group shown week by week
    weeks: list[trends.Week]  # empty when that group is suppressed
    weeks_suppressed: bool
    min_group_size: int
    suppressing: bool  # small groups are hidden from this reader
    bands: list[BandCount] = field(default_factory=list)  # whole school, by the workflow's descriptive bands

    @property
    def suppressed_note(self) -> str:
        return fewer_than(self.min_group_size)

    def group_rows(self) -> list[list]:
        """The group table as export rows (a suppressed group: its name and "fewer than N" only)."""
        out = []
        for r in self.groups:
            if r.suppressed:
                out.append([r.label, self.suppressed_note] + [""] * (len(GROUP_HEADER) - 2))
            else:
                d = r.group.as_dict(self.thresholds)
                out.append([d[k] for k in GROUP_HEADER])
        return out

    def week_rows(self) -> list[list]:
        if self.weeks_suppressed:
            return [[f"{self.group_label}: {self.suppressed_note} pupils, figures not shown"]]
        return [[d[k] for k in WEEK_HEADER] for d in (w.as_dict() for w in self.weeks)]


def school_report(session: Session, school: School, workflow: Workflow, start: dt.date, end: dt.date, *,
                  year_group: int | None = None, flag: str | None = None, group_label: str = "Whole school",
                  see_small_groups: bool = True) -> SchoolReport:
    t = workflow.model.thresholds
    th = stats.Thresholds(t.persistent_absence_pct, t.severe_absence_pct)
    minimum = workflow.model.school.report_min_group_size
    rows = stats.pupil_figures(session, school.id, start, end)
    groups = stats.breakdown(rows, stats.pupil_flags(session, school.id), th)
    hide = not see_small_groups
    out = [GroupRow(g, hide and g.pupils < minimum) for g in groups]
    shown = next((g for g in groups if g.label == group_label), None)
    weeks_hidden = hide and (shown is None or shown.pupils < minimum)
    weeks = [] if weeks_hidden else trends.weekly(session, school.id, start, end, year_group=year_group, flag=flag)
    return SchoolReport(start, end, th, workflow.model.school.target_attendance_pct, out, group_label, weeks,
                        weeks_hidden, minimum, hide, band_counts(rows, workflow.model.descriptive_bands))
