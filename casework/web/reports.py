"""School reports (aggregate only: no page here names a pupil), exports and the policy diagram."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json

from flask import Blueprint, Response, abort, render_template, request

from casework import stats, trends
from casework.calendar import school_year_start
from casework.models import PUPIL_FLAGS
from casework.web import clock, current_school, db
from casework.web.permissions import requires
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
        yg = int(g[5:])
        return yg, None, stats.year_group_label(yg)
    if g.startswith("flag:") and g[5:] in PUPIL_FLAGS:
        return None, g[5:], PUPIL_FLAGS[g[5:]]
    return None, None, "Whole school"


def _report():
    school = current_school()
    wf = for_school(school.workflow)
    t = wf.model.thresholds
    th = stats.Thresholds(t.persistent_absence_pct, t.severe_absence_pct)
    start, end = _period()
    rows = stats.pupil_figures(db(), school.id, start, end)
    groups = stats.breakdown(rows, stats.pupil_flags(db(), school.id), th)
    yg, flag, group_label = _group()
    weeks = trends.weekly(db(), school.id, start, end, year_group=yg, flag=flag)
    return school, wf, th, start, end, groups, weeks, group_label


@bp.route("/reports")
@requires("reports.view")
def index():
    school, wf, th, start, end, groups, weeks, group_label = _report()
    target = wf.model.school.target_attendance_pct
    chart = {
        "labels": [f"{w.start:%d %b}" for w in weeks],
        "series": [{"label": f"{group_label}: attendance that week", "data": [_r(w.week.attendance_pct) for w in weeks]},
                   {"label": f"{group_label}: year to date", "data": [_r(w.to_date.attendance_pct) for w in weeks]}],
        "lines": ([{"label": f"School target {target:g}%", "value": target}] if target else [])
        + [{"label": f"Persistent absence line {100 - th.persistent_absence_pct:g}%",
            "value": 100 - th.persistent_absence_pct}],
        "min": 80, "max": 100, "unit": "%",
    }
    years = [g for g in groups if g.label.startswith(("Year", "Reception", "Nursery"))]
    return render_template("reports.html", groups=groups, weeks=weeks, chart_json=json.dumps(chart), start=start,
                           end=end, target=target, thresholds=th, group_label=group_label,
                           group=request.args.get("group", ""), years=years, flags=PUPIL_FLAGS,
                           year_groups=sorted({int(g) for g in _year_values(groups)}))


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


HEADER = ["group", "pupils", "attendance_pct", "persistent_absentees", "pa_rate", "severe_absentees", "sa_rate",
          "possible_sessions", "authorised", "unauthorised"]
WEEK_HEADER = ["week_start", "attendance_pct", "to_date_pct", "possible_sessions", "present", "authorised",
               "unauthorised"]


def _tables():
    school, wf, th, start, end, groups, weeks, group_label = _report()
    g_rows = [[d[k] for k in HEADER] for d in (g.as_dict(th) for g in groups)]
    w_rows = [[d[k] for k in WEEK_HEADER] for d in (w.as_dict() for w in weeks)]
    return school, start, end, g_rows, w_rows, group_label


@bp.route("/reports/export.csv")
@requires("reports.export")
def export_csv():
    school, start, end, g_rows, w_rows, group_label = _tables()
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow([f"{school.name} attendance {start.isoformat()} to {end.isoformat()}"])
    w.writerow(HEADER)
    w.writerows(g_rows)
    w.writerow([])
    w.writerow([f"Week by week: {group_label}"])
    w.writerow(WEEK_HEADER)
    w.writerows(w_rows)
    return Response(buf.getvalue(), mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="attendance-{start}-{end}.csv"'})


@bp.route("/reports/export.xlsx")
@requires("reports.export")
def export_xlsx():
    from openpyxl import Workbook

    school, start, end, g_rows, w_rows, group_label = _tables()
    wb = Workbook()
    ws = wb.active
    ws.title = "Groups"
    ws.append([f"{school.name} attendance {start.isoformat()} to {end.isoformat()}"])
    ws.append(HEADER)
    for r in g_rows:
        ws.append(r)
    ws2 = wb.create_sheet("Weeks")
    ws2.append([f"Week by week: {group_label}"])
    ws2.append(WEEK_HEADER)
    for r in w_rows:
        ws2.append(r)
    buf = io.BytesIO()
    wb.save(buf)
    return Response(buf.getvalue(), mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                    headers={"Content-Disposition": f'attachment; filename="attendance-{start}-{end}.xlsx"'})


@bp.route("/reports/policy")
@requires("policy.view")
def policy():
    wf = for_school(current_school().workflow)
    return render_template("policy.html", wf=wf, case_types=wf.model.case_types)


@bp.route("/reports/policy/<case_type>.svg")
@requires("policy.view")
def policy_svg(case_type: str):
    wf = for_school(current_school().workflow)
    if case_type not in wf.model.case_types:
        abort(404)
    from casework.states.machine import diagram

    svg = diagram(wf, case_type, "svg")
    return Response(svg, mimetype="image/svg+xml")
