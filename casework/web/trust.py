"""The trust overview: each school a trust lead was given, side by side, linking into each."""

from __future__ import annotations

from flask import Blueprint, render_template
from flask_login import current_user

from casework.cases.overview import trust_overview
from casework.web.context import clock, db
from casework.web.permissions import requires

bp = Blueprint("trust", __name__)


@bp.route("/trust")
@requires("trust.view")
def overview():
    return render_template("trust.html", rows=trust_overview(db(), current_user.schools, clock().now()))
