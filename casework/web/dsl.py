"""The DSL's safeguarding queue: alerts, cases to act on, visit outcomes and safeguarding notes."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlmodel import select

from casework.cases.caseload import safeguarding_queue
from casework.cases.moves import Actor, move_options
from casework.cases.world import CaseWorld
from casework.figures import stats
from casework.notify.notifications import NotFound, resolve_alert
from casework.register.store import year_so_far_from
from casework.store.models import PUPIL_FLAGS, Contact
from casework.web.context import clock, current_school, db
from casework.web.permissions import requires
from casework.workflow import for_school

bp = Blueprint("dsl", __name__)

# moves that hand a case to the DSL: on the DSL's own queue they would hand it to themselves
TO_THE_DSL = {"escalate_to_dsl"}


@bp.route("/dsl")
@requires("dsl.view")
def index():
    school = current_school()
    items = safeguarding_queue(db(), school.id)
    actor = Actor.of(current_user)
    s, today = db(), clock().today()
    pupil_ids = list({it.pupil.id for it in items})
    contacts: dict[int, list[Contact]] = {}
    for ct in s.exec(select(Contact).where(Contact.pupil_id.in_(pupil_ids)).order_by(Contact.call_priority, Contact.id)):
        contacts.setdefault(ct.pupil_id, []).append(ct)
    year_start = year_so_far_from(s, school.id, today)
    figures = {f.pupil_id: f.figures for f in stats.pupil_figures(s, school.id, year_start, today, pupil_ids=pupil_ids)} \
        if pupil_ids else {}
    view = []
    for item in items:
        ct = for_school(item.case.workflow).case_type(item.case.case_type)
        options = []
        if item.case.closed_at is None:
            world = CaseWorld.load(db(), item.case, clock())
            options = [o for o in move_options(world, actor) if o.allowed and o.event not in TO_THE_DSL]
        fig = figures.get(item.pupil.id)
        view.append({"item": item, "type": ct.label, "state": ct.states[item.case.state].label, "options": options,
                     "flags": [label for flag, label in PUPIL_FLAGS.items() if getattr(item.pupil, flag)],
                     "contacts": contacts.get(item.pupil.id, [])[:2],
                     "days_missed": None if fig is None else fig.absent / 2})
    return render_template("dsl.html", queue=view, year_start=year_start)


def _what_happened() -> str:
    """The card's one box ("reason", shared with the steps), or ``resolution`` from older forms."""
    return (request.form.get("reason") or request.form.get("resolution") or "").strip()


@bp.route("/dsl/alerts/<int:alert_id>/resolve", methods=["POST"])
@requires("dsl.resolve_alert")
def resolve(alert_id: int):
    """The DSL has dealt with an alert: off the queue, kept on the case's timeline."""
    school = current_school()
    try:
        alert = resolve_alert(db(), school.id, alert_id, current_user.username, _what_happened(),
                              clock().now())
    except NotFound:
        abort(404)
    flash(f"Alert marked as dealt with: {alert.message}", "success")
    return redirect(url_for("dsl.index"))
