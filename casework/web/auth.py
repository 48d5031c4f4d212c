"""Signing in and out: Argon2 password check, rate-limited, no hint of which part was wrong."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import (
    Blueprint,
    Flask,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import current_user, login_required, login_user, logout_user
from sqlmodel import select

from casework.store.models import User
from casework.web.context import WebUser, db
from casework.web.permissions import home_endpoint

bp = Blueprint("auth", __name__)
_hasher = PasswordHasher()
# Verified when the username is unknown, so a wrong username costs as long as a wrong password.
_DUMMY_HASH = _hasher.hash("not-a-real-password")


def limit_logins(app: Flask) -> None:
    limiter = Limiter(get_remote_address, app=app, default_limits=[],
                      storage_uri=app.config.get("RATELIMIT_STORAGE_URI", "memory://"))
    app.view_functions["auth.login"] = limiter.limit(lambda: current_app.config["LOGIN_RATE_LIMIT"],
                                                     methods=["POST"])(app.view_functions["auth.login"])


def verify(username: str, password: str) -> User | None:
    user = db().exec(select(User).where(User.username == username.strip())).first()
    try:
        _hasher.verify(user.password_hash if user and user.password_hash else _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        return None
    if user is None or not user.active:
        return None
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = _hasher.hash(password)
        db().add(user)
    return user


def safe_next(target: str | None) -> str | None:
    """Only a path on this site (never another host) is followed after signing in."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return None


@bp.route("/login", methods=["GET", "POST"])
def login():
    if current_user.is_authenticated:
        return redirect(url_for("auth.home"))
    error = None
    if request.method == "POST":
        user = verify(request.form.get("username", ""), request.form.get("password", ""))
        if user is None:
            error = "That username and password do not match an active account."
        else:
            session.clear()
            login_user(WebUser(user))
            session.permanent = True
            return redirect(safe_next(request.args.get("next")) or url_for("auth.home"))
    return render_template("login.html", error=error), (401 if error else 200)


@bp.route("/logout", methods=["POST"])
@login_required
def logout():
    logout_user()
    session.clear()
    flash("You have signed out.", "info")
    return redirect(url_for("auth.login"))


@bp.route("/")
@login_required
def home():
    endpoint = home_endpoint(current_user.role)
    if endpoint is None:
        abort(403)
    return redirect(url_for(endpoint))
