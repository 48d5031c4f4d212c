"""School reports (aggregate only: no page here names a pupil; small groups hidden from governors),
exports and the policy diagram."""

from __future__ import annotations

import datetime as dt
import json

from flask import Blueprint, Response, abort, render_template, request

from casework.cases.early_warnings import counted, early_warnings
from casework.figures import stats
from casework.figures.export import Sheet, to_csv, to_xlsx
from casework.figures.governors import ReportError, governors_report
from casework.figures.reporting import GROUP_HEADER, WEEK_HEADER, school_report
from casework.register.calendar import school_year_start
from casework.register.terms import Term, TermError
from casework.states.machine import diagram
from casework.store.models import PUPIL_FLAGS
from casework.web.context import YEAR_GROUPS, clock, current_school, db
from casework.web.permissions import can, requires
from casework.workflow import for_school

bp = Blueprint("reports", __name__)


def _period() -> tuple[dt.date, dt.date]:
    today = clock().today()
    try:
        start = dt.date.fromisoformat(request.args["from"]) if request.args.get("from") else school_year_start(today)
        end = dt.date.fromisoformat(request.args["to"]) if request.args.get("to") else today
    except ValueError:
        abort(400)
    if end < start:
        abort(400)
    return start, end


def _group() -> tuple[int | None, str | None, str]:
    g = request.args.get("group", "")
    if g.startswith("year:") and g[5:].lstrip("-").isdigit():
        yg = int(g[5:]) if len(g) < 12 else 999
        if not YEAR_GROUPS[0] <= yg <= YEAR_GROUPS[1]:
            abort(400)
        return yg, None, stats.year_group_label(yg)
    if g.startswith("flag:") and g[5:] in PUPIL_FLAGS:
        return None, g[5:], PUPIL_FLAGS[g[5:]]
    return None, None, "Whole school"


def _report():
    school = current_school()
    wf = for_school(school.workflow)
    start, end = _period()
    yg, flag, group_label = _group()
    report = school_report(db(), school, wf, start, end, year_group=yg, flag=flag, group_label=group_label,
                           see_small_groups=can("reports.small_groups"))
    return school, report


@bp.route("/reports")
@requires("reports.view")
def index():
    school, rep = _report()
    th, target, label = rep.thresholds, rep.target, rep.group_label
    chart = {
        "labels": [f"{w.start:%d %b}" for w in rep.weeks],
        "series": [{"label": f"{label}: attendance that week", "data": [_r(w.week.attendance_pct) for w in rep.weeks]},
                   {"label": f"{label}: year to date", "data": [_r(w.to_date.attendance_pct) for w in rep.weeks]}],
        "lines": ([{"label": f"School target {target:g}%", "value": target}] if target else [])
        + [{"label": f"Persistent absence line {100 - th.persistent_absence_pct:g}%",
            "value": 100 - th.persistent_absence_pct}],
        "min": 80, "max": 100, "unit": "%",
    }
    groups = [r.group for r in rep.groups]
    return render_template("reports.html", report=rep, chart_json=json.dumps(chart), start=rep.start, end=rep.end,
                           target=target, thresholds=th, group_label=label, group=request.args.get("group", ""),
                           flags=PUPIL_FLAGS, year_groups=sorted({int(g) for g in _year_values(groups)}),
                           warnings=counted(early_warnings(db(), school, clock().today())))


def _year_values(groups):
    for g in groups:
        if g.label == "Reception":
            yield 0
        elif g.label == "Nursery":
            yield -1
        elif g.label.startswith("Year "):
            yield g.label[5:]


def _r(v):
    return None if v is None else round(v, 1)


def _sheets() -> tuple[list[Sheet], str]:
    school, rep = _report()
    note = f" (groups of {rep.suppressed_note} pupils are not shown)" if rep.suppressing else ""
    title = f"{school.name} attendance {rep.start.isoformat()} to {rep.end.isoformat()}{note}"
    sheets = [Sheet("Groups", title, GROUP_HEADER, rep.group_rows()),
              Sheet("Weeks", f"Week by week: {rep.group_label}", WEEK_HEADER, rep.week_rows())]
    if rep.bands:
        sheets.append(Sheet("Bands", "Whole school: pupils in each descriptive band", ["band", "pupils"],
                            [[b.name, b.pupils] for b in rep.bands]))
    return sheets, f"attendance-{rep.start}-{rep.end}"


MIMETYPES = {"csv": "text/csv", "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}


def spreadsheet(sheets: list[Sheet], name: str, fmt: str) -> Response:
    """Sheets as a download: CSV (one after another) or an Excel workbook (one tab each)."""
    data = to_csv(sheets) if fmt == "csv" else to_xlsx(sheets)
    return Response(data, mimetype=MIMETYPES[fmt], headers={"Content-Disposition": f'attachment; filename="{name}.{fmt}"'})


@bp.route("/reports/export.csv")
@requires("reports.export")
def export_csv():
    return spreadsheet(*_sheets(), "csv")


@bp.route("/reports/export.xlsx")
@requires("reports.export")
def export_xlsx():
    return spreadsheet(*_sheets(), "xlsx")


@bp.route("/reports/policy")
@requires("policy.view")
def policy():
    wf = for_school(current_school().workflow)
    return render_template("policy.html", wf=wf, school=current_school(), case_types=wf.model.case_types)


@bp.route("/reports/policy/<case_type>.svg")
@requires("policy.view")
def policy_svg(case_type: str):
    wf = for_school(current_school().workflow)
    if case_type not in wf.model.case_types:
        abort(404)

    svg = diagram(wf, case_type, "svg")
    return Response(svg, mimetype="image/svg+xml")


# -- the governors' termly report ----------------------------------------------------


def _term_choices(today: dt.date) -> list[Term]:
    """This term and the five before it (two school years), newest first."""
    terms = [Term.of(today)]
    while len(terms) < 6:
        terms.append(terms[-1].previous())
    return terms


def _governors():
    school = current_school()
    today = clock().today()
    try:
        term = Term.parse(request.args["term"]) if request.args.get("term") else Term.of(today)
        rep = governors_report(db(), school, for_school(school.workflow), term, today,
                               see_small_groups=can("reports.small_groups"))
    except (TermError, ReportError):
        abort(400)
    return rep


@bp.route("/reports/governors")
@requires("reports.governors")
def governors():
    rep = _governors()
    return render_template("governors.html", report=rep, terms=_term_choices(clock().today()))


def _governors_file(fmt: str) -> Response:
    rep = _governors()
    return spreadsheet(rep.sheets(), f"governors-report-{rep.term.key}", fmt)


@bp.route("/reports/governors.csv")
@requires("reports.governors")
def governors_csv():
    return _governors_file("csv")


@bp.route("/reports/governors.xlsx")
@requires("reports.governors")
def governors_xlsx():
    return _governors_file("xlsx")
