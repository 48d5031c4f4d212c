"""The DSL's safeguarding queue: alerts, cases to act on, visit outcomes and safeguarding notes."""

from __future__ import annotations

from flask import Blueprint, render_template
from flask_login import current_user

from casework.caseload import safeguarding_queue
from casework.cases import Actor, CaseWorld, move_options
from casework.web import clock, current_school, db
from casework.web.permissions import requires
from casework.workflow import for_school

bp = Blueprint("dsl", __name__)


@bp.route("/dsl")
@requires("dsl.view")
def index():
    school = current_school()
    items = safeguarding_queue(db(), school.id)
    actor = Actor.of(current_user)
    view = []
    for item in items:
        ct = for_school(item.case.workflow).case_type(item.case.case_type)
        options = []
        if item.case.closed_at is None:
            world = CaseWorld.load(db(), item.case, clock())
            options = [o for o in move_options(world, actor) if o.allowed]
        view.append({"item": item, "type": ct.label, "state": ct.states[item.case.state].label, "options": options})
    return render_template("dsl.html", queue=view)
