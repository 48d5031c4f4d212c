"""The signed-in person's nudges (notifications to their role): a list, and marking them read."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_login import current_user

from casework.notify import notifications as nt
from casework.web.context import clock, current_school, db
from casework.web.permissions import requires

bp = Blueprint("notifications", __name__)


def _me():
    return current_school().id, current_user.role, current_user.id


@bp.route("/notifications")
@requires("notifications.view")
def index():
    school_id, role, user_id = _me()
    return render_template("notifications.html", items=nt.nudges(db(), school_id, role, user_id))


@bp.route("/notifications/<int:notification_id>/read", methods=["POST"])
@requires("notifications.read")
def mark_read(notification_id: int):
    school_id, role, user_id = _me()
    try:
        nt.mark_read(db(), school_id, role, user_id, clock().now(), notification_id)
    except nt.NotFound:
        abort(404)
    flash("Marked as read.", "success")
    return redirect(url_for("notifications.index"))


@bp.route("/notifications/read-all", methods=["POST"])
@requires("notifications.read")
def mark_all_read():
    school_id, role, user_id = _me()
    n = nt.mark_read(db(), school_id, role, user_id, clock().now())
    flash(f"{n} notification{'s' if n != 1 else ''} marked as read." if n else "Nothing was unread.", "success")
    return redirect(url_for("notifications.index"))
