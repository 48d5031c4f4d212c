"""Pupils: find one; a pupil's figures, trend, register heatmap, cases, contacts and amendments."""

from __future__ import annotations

import calendar as pycal
import datetime as dt
import json

from flask import Blueprint, render_template, request

from casework.cases.casefile import contacts_of, pupil_cases
from casework.figures import stats, trends
from casework.figures.bands import label_for
from casework.register.calendar import school_year_start
from casework.register.codes import LATE_AFTER_CLOSE, LATE_BEFORE_CLOSE
from casework.register.store import (
    amendments_for,
    find_pupils,
    pupil_marks_between,
    year_groups,
    year_so_far_from,
)
from casework.store.casemodels import Case
from casework.store.models import PUPIL_FLAGS, Pupil
from casework.web.context import YEAR_GROUPS, clock, current_school, db, int_arg, school_row
from casework.web.permissions import can, requires
from casework.workflow import for_school

bp = Blueprint("pupils", __name__)


@bp.route("/pupils")
@requires("pupil.view")
def index():
    school = current_school()
    q = request.args.get("q", "").strip()[:80]
    year = int_arg("year", lo=YEAR_GROUPS[0], hi=YEAR_GROUPS[1])
    pupils = find_pupils(db(), school.id, q, year)
    today = clock().today()
    figs = {f.pupil_id: f.figures for f in stats.pupil_figures(db(), school.id, school_year_start(today), today,
                                                                pupil_ids=[p.id for p in pupils])} if pupils else {}
    years = year_groups(db(), school.id)
    bands = for_school(school.workflow).model.descriptive_bands
    labels = {pid: label_for(f, bands) for pid, f in figs.items()} if bands.bands else None
    return render_template("pupils.html", pupils=pupils, figs=figs, q=q, year=year, years=years, bands=labels)


def heatmap(marks: list, start: dt.date, end: dt.date) -> list[dict]:
    """Months → weeks → Monday..Friday cells holding that day's AM and PM marks (layout only)."""
    by_day: dict[dt.date, dict[str, str]] = {}
    for m in marks:
        by_day.setdefault(m.date, {})[m.session] = m.code
    months = []
    first = dt.date(start.year, start.month, 1)
    while first <= end:
        weeks = []
        for week in pycal.Calendar().monthdatescalendar(first.year, first.month):
            cells = []
            for d in week[:5]:
                if d.month != first.month:
                    cells.append(None)
                else:
                    marks_of_day = by_day.get(d, {})
                    cells.append({"date": d, "AM": marks_of_day.get("AM"), "PM": marks_of_day.get("PM")})
            if any(cells):
                weeks.append(cells)
        months.append({"label": f"{first:%B %Y}", "weeks": weeks})
        first = (first + dt.timedelta(days=32)).replace(day=1)
    return months


@bp.route("/pupils/<int:pupil_id>")
@requires("pupil.view")
def show(pupil_id: int):
    pupil = school_row(Pupil, pupil_id)
    school = current_school()
    s = db()
    today = clock().today()
    start = year_so_far_from(s, school.id, today)
    # One pupil's marks are read once (by the pupil's index) and counted by the domain's Figures.
    marks = pupil_marks_between(s, pupil.id, start, today)
    figures = stats.Figures()
    for m in marks:
        figures.add(m.code, m.date.weekday(), 1)
    wf = for_school(school.workflow)
    t = wf.model.thresholds
    target = wf.model.school.target_attendance_pct
    weeks = trends.weeks_of((m.date, m.code, 1) for m in marks)
    chart = {
        "labels": [f"{w.start:%d %b}" for w in weeks],
        "series": [{"label": "Attendance this week", "data": [_r(w.week.attendance_pct) for w in weeks]},
                   {"label": "Year to date", "data": [_r(w.to_date.attendance_pct) for w in weeks]}],
        "lines": ([{"label": f"School target {target:g}%", "value": target}] if target else [])
        + [{"label": f"Persistent absence below {100 - t.persistent_absence_pct:g}%",
            "value": 100 - t.persistent_absence_pct}],
        "max": 100, "unit": "%",
    }
    chart["min"] = axis_floor([v for line in chart["series"] for v in line["data"] if v is not None]
                              + [line["value"] for line in chart["lines"]])
    lates = sorted((m for m in marks if m.code in (LATE_BEFORE_CLOSE, LATE_AFTER_CLOSE)), key=lambda m: (m.date, m.session), reverse=True)
    cases = pupil_cases(s, pupil.id) if can("case.view") else []
    case_labels = {c.id: _case_labels(c) for c in cases}
    contacts = contacts_of(s, pupil.id) if can("pupil.contacts") else []
    return render_template(
        "pupil.html", pupil=pupil, figures=figures, thresholds=t, target=target, weeks=weeks,
        chart_json=json.dumps(chart), months=heatmap(marks, start, today), lates=lates, cases=cases,
        case_labels=case_labels, contacts=contacts, amendments=amendments_for(s, pupil.id),
        flags=[label for f, label in PUPIL_FLAGS.items() if getattr(pupil, f)], year_start=start,
        band=label_for(figures, wf.model.descriptive_bands))


def axis_floor(values: list[float]) -> int:
    """The foot of a percentage chart's axis: the nearest 10% below the lowest figure or line shown
    (a 0-100% axis would flatten a pupil whose figures all lie between 85% and 100%)."""
    return max(0, int((min(values, default=0) - 0.01) // 10 * 10))


def _case_labels(case: Case) -> tuple[str, str]:
    ct = for_school(case.workflow).case_type(case.case_type)
    return ct.label, ct.states[case.state].label if case.state in ct.states else case.state


def _r(v: float | None) -> float | None:
    return None if v is None else round(v, 1)
