"""Administration: staff accounts and roles, imports with their validation report, school settings."""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

from argon2 import PasswordHasher
from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlmodel import select

from casework.register import importer
from casework.register.schools import apply_workflow_settings
from casework.register.store import Amender
from casework.store.audit import record
from casework.store.models import ROLE_LABELS, ImportRun, Role, User
from casework.web.context import clock, current_school, db
from casework.web.permissions import requires
from casework.web.sessions import end_user_sessions
from casework.workflow import WORKFLOWS_DIR

bp = Blueprint("admin", __name__, url_prefix="/admin")
USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,39}$")
MIN_PASSWORD = 12


@bp.route("/users", methods=["GET", "POST"])
@requires("admin.users")
def users():
    school = current_school()
    s = db()
    errors: list[str] = []
    if request.method == "POST":
        f = request.form
        username, name, role, password = (f.get("username", "").strip().lower(), f.get("name", "").strip(),
                                          f.get("role", ""), f.get("password", ""))
        if not USERNAME.match(username):
            errors.append("Username: 2 to 40 lower-case letters, digits, dots, dashes or underscores.")
        elif s.exec(select(User).where(User.username == username)).first() is not None:
            errors.append(f"Username: {username} is already taken.")
        if not name:
            errors.append("Name: give the person's full name.")
        if role not in Role._value2member_map_:
            errors.append("Role: choose one of the roles listed.")
        if len(password) < MIN_PASSWORD:
            errors.append(f"Password: at least {MIN_PASSWORD} characters.")
        if not errors:
            s.add(User(school_id=school.id, username=username, name=name, position=f.get("position", "").strip(),
                       role=role, email=f.get("email", "").strip(), password_hash=PasswordHasher().hash(password)))
            flash(f"Account {username} created.", "success")
            return redirect(url_for("admin.users"))
    staff = s.exec(select(User).where(User.school_id == school.id).order_by(User.active.desc(), User.name)).all()
    return render_template("admin_users.html", staff=staff, roles=ROLE_LABELS, errors=errors, form=request.form)


@bp.route("/users/<int:user_id>", methods=["POST"])
@requires("admin.users")
def update_user(user_id: int):
    user = db().get(User, user_id)
    if user is None or user.school_id != current_school().id:
        abort(404)
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
