"""Today: the day's work list. First-day calls after the registers close (one click to record
each outcome), the deadlines due today or overdue, the letters waiting to be produced and the
decisions waiting for the headteacher, each group counted."""

from __future__ import annotations

import datetime as dt

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import func
from sqlmodel import select

from casework.cases.caseload import decisions_waiting, first_day_calls
from casework.cases.early_warnings import early_warnings
from casework.clock import LONDON
from casework.store.casemodels import Case, LetterRequest
from casework.store.models import User
from casework.timers import outstanding_deadlines
from casework.web.cases import perform_move
from casework.web.context import clock, current_school, db
from casework.web.permissions import requires

bp = Blueprint("today", __name__)


@bp.route("/today")
@requires("today.view")
def index():
    school = current_school()
    s, now = db(), clock().now()
    calls = first_day_calls(s, school.id, now)
    end_of_day = dt.datetime.combine(clock().today() + dt.timedelta(days=1), dt.time(0), tzinfo=LONDON)
    due = outstanding_deadlines(s, school.id, current_user.role, now=now, due_before=end_of_day)
    overdue = [d for d in due if d.overdue]
    due_today = [d for d in due if not d.overdue]
    letters = s.exec(select(func.count()).select_from(LetterRequest).where(
        LetterRequest.school_id == school.id, LetterRequest.status == "queued", LetterRequest.queued_at < end_of_day)).one()
    decisions = len(decisions_waiting(s, school.id))
    # "Who": the case's owner where it has one, else the role the deadline falls to
    case_ids = sorted({d.case_id for d in due})
    owners = dict(s.exec(select(Case.id, User.name).join(User, User.id == Case.owner_id)
                         .where(Case.id.in_(case_ids))).all()) if case_ids else {}
    return render_template("today.html", calls=calls, overdue=overdue, due_today=due_today, letters=letters,
                           decisions=decisions, warnings=early_warnings(s, school, clock().today()), owners=owners)


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
