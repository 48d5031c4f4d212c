"""What-if, for the headteacher and governors: pick a workflow file and dates, see what it
would have done with the school's register beside what the school's own workflow did
(casework.jobs.whatif), as a table and a bar chart. The pupils who differ are listed only
for those who may see pupils' names (never governors)."""

from __future__ import annotations

import datetime as dt

from flask import Blueprint, abort, current_app, render_template, request

from casework.jobs.whatif import ROWS, WhatIfError, whatif
from casework.register.calendar import school_year_start
from casework.register.store import load_calendar
from casework.web.context import clock, current_school, db
from casework.web.permissions import can, requires
from casework.workflow import WORKFLOWS_DIR, WorkflowError, for_school

bp = Blueprint("whatif", __name__)
MAX_DAYS = 120  # a term or so: each day is replayed twice


def workflow_files() -> dict[str, str]:
    """File name -> the workflow's name, for every workflow file in workflows/."""
    out = {}
    for path in sorted(WORKFLOWS_DIR.glob("*.yaml")):
        try:
            out[path.name] = for_school(path.stem).name
        except WorkflowError:
            continue  # a broken file is not offered
    return out


def _dates(today: dt.date, calendar) -> tuple[dt.date, dt.date]:
    half = calendar.half_term_of(today)
    default_from = half[0] if half else school_year_start(today)
    try:
        start = dt.date.fromisoformat(request.args["from"]) if request.args.get("from") else default_from
        end = dt.date.fromisoformat(request.args["to"]) if request.args.get("to") else today
    except ValueError:
        abort(400)
    return start, end


def bar_chart(rows: list[tuple[str, int, int]], own: str, other: str) -> dict:
    """A grouped bar chart as plain shapes for an inline SVG: one pair of bars per figure."""
    top = max([1, *(max(a, b) for _l, a, b in rows)])
    bar, left = 16, 230
    height = 2 * bar + 14  # two bars and a gap
    items = []
    for i, (label, a, b) in enumerate(rows):
        y = 30 + i * height
        items.append({"label": label, "y": y, "a": a, "b": b, "wa": round(400 * a / top, 1), "wb": round(400 * b / top, 1)})
    return {"items": items, "bar": bar, "left": left, "width": left + 400 + 60, "height": 40 + len(rows) * height,
            "own": own, "other": other}


@bp.route("/whatif")
@requires("whatif.view")
def index():
    school = current_school()
    files = workflow_files()
    calendar = load_calendar(db(), school.id)
    today = clock().today()
    start, end = _dates(today, calendar)
    chosen = request.args.get("workflow", "")
    result, problem = None, None
    if chosen:
        if chosen not in files:
            abort(400)
        if end < start or (end - start).days > MAX_DAYS:
            problem = f"Choose a period of at most {MAX_DAYS} days, ending after it starts."
        else:
            try:
                result = whatif(current_app.extensions["casework_engine"], school.urn, WORKFLOWS_DIR / chosen,
                                start, end, workers=1)
            except (WhatIfError, WorkflowError) as exc:
                problem = str(exc)
    chart = None
    if result is not None:
        rows = [(label, result.own.totals[k], result.other.totals[k]) for k, label in ROWS]
        chart = bar_chart(rows, result.own.workflow, result.other.workflow)
    return render_template("whatif.html", files=files, chosen=chosen, start=start, end=end, result=result,
                           problem=problem, chart=chart, own=for_school(school.workflow).name,
                           show_pupils=can("whatif.pupils"))
