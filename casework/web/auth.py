"""Signing in and out: Argon2 password check, rate-limited, no hint of which part was wrong."""

from __future__ import annotations

import re
from urllib.parse import unquote, urlsplit

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

from casework.accounts import MIN_PASSWORD, AccountError, set_password
from casework.accounts import hasher as _hasher
from casework.store.audit import record
from casework.store.models import User
from casework.web.context import SCHOOL_KEY, WebUser, clock, db
from casework.web.permissions import home_endpoint
from casework.web.sessions import SESSION_KEY, end_user_sessions

bp = Blueprint("auth", __name__)
# Verified when the username is unknown, so a wrong username costs as long as a wrong password.
_DUMMY_HASH = _hasher.hash("not-a-real-password")


def _account() -> str:
    return "account:" + request.form.get("username", "").strip().lower()


def limit_logins(app: Flask) -> None:
    """Sign-in attempts limited per client address and per account (so guessing one
    person's password from many addresses is slowed too); a refusal says when to retry."""
    app.config.setdefault("RATELIMIT_HEADERS_ENABLED", True)
    limiter = Limiter(get_remote_address, app=app, default_limits=[],
                      storage_uri=app.config.get("RATELIMIT_STORAGE_URI", "memory://"))
    view = app.view_functions["auth.login"]
    view = limiter.limit(lambda: current_app.config["LOGIN_RATE_LIMIT"], methods=["POST"])(view)
    view = limiter.limit(lambda: current_app.config["LOGIN_ACCOUNT_LIMIT"], methods=["POST"], key_func=_account)(view)
    app.view_functions["auth.login"] = view


LIMIT_KEYS = ("LOGIN_RATE_LIMIT", "LOGIN_ACCOUNT_LIMIT")


def share_limits(app: Flask, processes: int) -> None:
    """Each of ``processes`` server processes counts sign-in attempts on its own, so each allows
    its share of every limit, rounded down ("10 per 5 minutes" over 2 is "5 per 5 minutes" each):
    together they never allow more than one process would."""
    for key in LIMIT_KEYS:
        parts = []
        for part in app.config[key].split(";"):
            m = re.fullmatch(r"\s*(\d+)\s*(per|/)\s*(.+?)\s*", part)
            if m is None:
                raise ValueError(f"{key}: {part.strip()!r} is not a limit such as '10 per minute'")
            parts.append(f"{max(1, int(m.group(1)) // processes)} per {m.group(3)}")
        app.config[key] = "; ".join(parts)


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
    """Only a path on this site is followed after signing in. Browsers drop tabs and line
    breaks and read a backslash as a slash, so ``/%09/evil.example`` would leave the site:
    anything that, decoded, holds a control character or a backslash, or names a scheme or
    a host, is refused."""
    if not target:
        return None
    decoded = target
    for _ in range(3):  # decode until it stops changing (double encoding)
        decoded, before = unquote(decoded), decoded
        if decoded == before:
            break
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in decoded) or "\\" in decoded:
        return None
    parts = urlsplit(decoded)
    if parts.scheme or parts.netloc or not decoded.startswith("/") or decoded.startswith("//"):
        return None
    return target


@bp.route("/login", methods=["GET", "POST"])
def login():
    if current_user.is_authenticated:
        return redirect(url_for("auth.home"))
    error = None
    if request.method == "POST":
        user = verify(request.form.get("username", ""), request.form.get("password", ""))
        if user is None:
            error = "That username and password do not match an active account."
            record(db(), clock().now(), request.form.get("username", "").strip()[:80], "auth.sign_in_refused",
                   address=request.remote_addr)
        else:
            record(db(), clock().now(), user.username, "auth.sign_in", f"user:{user.username}", school_id=user.school_id,
                   address=request.remote_addr)
            session.clear()
            session[SESSION_KEY] = user.session_version
            login_user(WebUser(user))
            session.permanent = True
            return redirect(safe_next(request.args.get("next")) or url_for("auth.home"))
    return render_template("login.html", error=error), (401 if error else 200)


@bp.route("/logout", methods=["POST"])
@login_required
def logout():
    user = db().get(User, current_user.id)
    if user is not None:
        end_user_sessions(db(), user)  # a copy of this cookie opens nothing from now on
        record(db(), clock().now(), user.username, "auth.sign_out", f"user:{user.username}", school_id=user.school_id)
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


@bp.route("/school", methods=["POST"])
@login_required
def choose_school():
    """Work in another of one's schools: every page after this is that school's."""
    chosen = request.form.get("school_id", "")
    if not chosen.isdigit() or len(chosen) > 12 or not current_user.may_choose(int(chosen)):
        abort(400)
    session[SCHOOL_KEY] = int(chosen)
    return redirect(url_for("auth.home"))


@bp.route("/account/password", methods=["GET", "POST"])
@login_required
def password():
    """Choose one's own password (required after a one-time password). Every other session of
    the account ends; this one carries on."""
    errors: list[str] = []
    if request.method == "POST":
        user = db().get(User, current_user.id)
        f = request.form
        new = f.get("new_password", "")
        if verify(user.username, f.get("current_password", "")) is None:
            errors.append("Current password: that is not your current password.")
        elif new != f.get("confirm_password", ""):
            errors.append("New password: the two copies do not match.")
        else:
            try:
                set_password(db(), user, now=clock().now(), by=user.username, password=new)
            except AccountError as exc:
                errors.append(f"New password: {exc}.")
        if not errors:
            db().flush()
            db().refresh(user)
            session[SESSION_KEY] = user.session_version
            flash("Your password has been changed. Any other place you were signed in has been signed out.", "success")
            return redirect(url_for("auth.home"))
    return render_template("password.html", errors=errors, min_length=MIN_PASSWORD,
                           forced=current_user.must_change_password), (400 if errors else 200)
