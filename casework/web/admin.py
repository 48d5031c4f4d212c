"""Administration: staff accounts and roles, imports with their validation report, school settings."""

from __future__ import annotations

import tempfile
from pathlib import Path

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlmodel import select

from casework.accounts import MIN_PASSWORD, AccountError, add_user, list_users, set_password
from casework.register import importer
from casework.register.schools import apply_workflow_settings
from casework.register.store import Amender
from casework.store.audit import record
from casework.store.models import ROLE_LABELS, ImportRun, Role, User
from casework.web.context import clock, current_school, db, school_row
from casework.web.permissions import requires
from casework.web.sessions import end_user_sessions
from casework.workflow import WORKFLOWS_DIR

bp = Blueprint("admin", __name__, url_prefix="/admin")


@bp.route("/users", methods=["GET", "POST"])
@requires("admin.users")
def users():
    school = current_school()
    s = db()
    errors: list[str] = []
    if request.method == "POST":
        f = request.form
        try:
            user, generated = add_user(s, username=f.get("username", ""), name=f.get("name", ""),
                                       role=f.get("role", ""), schools=[school], now=clock().now(),
                                       by=current_user.username, position=f.get("position", ""),
                                       email=f.get("email", ""), password=f.get("password") or None)
        except AccountError as exc:
            s.rollback()
            errors.append(f"{str(exc)[0].upper()}{str(exc)[1:]}.")
        else:
            flash(f"Account {user.username} created." + (_one_time_note(generated) if generated else ""), "success")
            return redirect(url_for("admin.users"))
    staff = sorted((u for u, _ in list_users(s, school)), key=lambda u: (not u.active, u.name))
    return render_template("admin_users.html", staff=staff, roles=ROLE_LABELS, errors=errors, form=request.form,
                           min_length=MIN_PASSWORD)


def _one_time_note(password: str) -> str:
    return (f" One-time password: {password} — give it to them privately; it is shown only now, and they "
            "choose their own when they first sign in.")


@bp.route("/users/<int:user_id>/password", methods=["POST"])
@requires("admin.users")
def reset_password(user_id: int):
    """A new one-time password for someone who has forgotten theirs (their sessions end)."""
    user = school_row(User, user_id)
    if user.id == current_user.id:
        flash("Change your own password from your name at the top of the page.", "error")
        return redirect(url_for("admin.users"))
    generated = set_password(db(), user, now=clock().now(), by=current_user.username)
    flash(f"{user.name}'s password was reset; they are signed out everywhere." + _one_time_note(generated), "success")
    return redirect(url_for("admin.users"))


@bp.route("/users/<int:user_id>", methods=["POST"])
@requires("admin.users")
def update_user(user_id: int):
    user = school_row(User, user_id)
    role = request.form.get("role", user.role)
    if role not in Role._value2member_map_:
        abort(400)
    active = request.form.get("active") == "1"
    if user.id == current_user.id and (not active or role != user.role):
        flash("You cannot change your own role or deactivate yourself; ask another administrator.", "error")
        return redirect(url_for("admin.users"))
    if (role, active) != (user.role, user.active):
        end_user_sessions(db(), user)  # a changed role or a closed account takes effect now
        record(db(), clock().now(), current_user.username, "user.permission", f"user:{user.username}",
               school_id=user.school_id, role_from=user.role, role_to=role, active_from=user.active, active_to=active)
    user.role, user.active = role, active
    db().add(user)
    flash(f"{user.name}: {ROLE_LABELS[Role(role)]}, {'active' if active else 'deactivated'}.", "success")
    return redirect(url_for("admin.users"))


IMPORTERS = {"pupils": importer.import_pupils, "contacts": importer.import_contacts,
             "calendar": importer.import_calendar, "marks": importer.import_marks}


@bp.route("/imports", methods=["GET", "POST"])
@requires("admin.imports")
def imports():
    school = current_school()
    s = db()
    result = problems = None
    kind = request.form.get("kind", "")
    if request.method == "POST":
        upload = request.files.get("file")
        if kind not in IMPORTERS:
            problems = ["Choose what the file holds: pupils, contacts, calendar or marks."]
        elif upload is None or not upload.filename:
            problems = ["Choose a CSV file to upload."]
        else:
            name = Path(upload.filename).name
            with tempfile.TemporaryDirectory() as tmp:
                path = Path(tmp) / name
                upload.save(path)
                by = (Amender(current_user.name, current_user.position or current_user.role_label)
                      if kind == "marks" else current_user.username)
                try:
                    result = IMPORTERS[kind](s, school, path, clock=clock(), by=by)
                except importer.ImportRejected as exc:
                    s.rollback()
                    problems = [str(p) for p in exc.problems]
    runs = s.exec(select(ImportRun).where(ImportRun.school_id == school.id)
                  .order_by(ImportRun.imported_at.desc()).limit(20)).all()
    return render_template("admin_imports.html", result=result, problems=problems, runs=runs, kind=kind,
                           kinds=list(IMPORTERS))


@bp.route("/settings", methods=["GET", "POST"])
@requires("admin.settings")
def settings():
    school = current_school()
    workflows = sorted(p.stem for p in WORKFLOWS_DIR.glob("*.yaml"))
    errors: list[str] = []
    if request.method == "POST":
        f = request.form
        name = f.get("name", "").strip()
        if not name:
            errors.append("School name: it cannot be empty.")
        wf = f.get("workflow", school.workflow)
        if wf not in workflows:
            errors.append("Policy: choose one of the workflow files listed.")
        if not errors:
            school.name = name
            school.local_authority = f.get("local_authority", "").strip()
            school.headteacher_name = f.get("headteacher_name", "").strip()
            school.phone = f.get("phone", "").strip()
            school.email = f.get("email", "").strip()
            school.address = f.get("address", "").strip()
            if wf != school.workflow:

                school.workflow = wf
                apply_workflow_settings(school)  # register times follow the policy
            db().add(school)
            flash("School settings saved.", "success")
            return redirect(url_for("admin.settings"))
    return render_template("admin_settings.html", workflows=workflows, errors=errors)
