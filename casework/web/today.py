"""Today: the first-day calls after the registers close, one click to record each outcome."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for

from casework.cases.caseload import first_day_calls
from casework.web.cases import perform_move
from casework.web.context import clock, current_school, db
from casework.web.permissions import requires

bp = Blueprint("today", __name__)


@bp.route("/today")
@requires("today.view")
def index():
    school = current_school()
    calls = first_day_calls(db(), school.id, clock().now())
    return render_template("today.html", calls=calls)


@bp.route("/today/call/<int:case_id>", methods=["POST"])
@requires("today.record_call")
def record_call(case_id: int):
    outcome = request.form.get("outcome")
    reason = request.form.get("reason", "").strip()
    if outcome == "reached":
        event = "contact_made"
    elif outcome == "no_answer":
        event = "record_no_answer"
        reason = reason or "called; no answer"
    else:
        abort(400)
    ok, message = perform_move(case_id, event, reason, expect_type="unexplained_absence")
    flash(message, "success" if ok else "error")
    return redirect(url_for("today.index") + f"#case-{case_id}")
