"""The web app: ``create_app(config)`` builds it; nothing is made at import time.

Config (a dict, else the environment): ``DATABASE_URL`` (``CASEWORK_DATABASE_URL``),
``SECRET_KEY`` (``CASEWORK_SECRET_KEY``; a random one per process if unset, so sessions
end on restart), ``CLOCK`` (a ``casework.clock.Clock``; tests and ``--as-of`` set it),
``SESSION_COOKIE_SECURE`` (``CASEWORK_SECURE_COOKIES=1`` behind HTTPS) and
``LOGIN_RATE_LIMIT`` (per address, default ``10 per minute``), ``LOGIN_ACCOUNT_LIMIT`` (per
account, default ``10 per 5 minutes``) and ``TRUST_PROXY`` (``CASEWORK_TRUST_PROXY=1``: take the
client's address from the proxy's X-Forwarded-For).
"""

from __future__ import annotations

import datetime as dt
import os
import secrets

from flask import Flask, g, redirect, render_template, request, session, url_for
from flask_login import LoginManager, current_user
from flask_wtf.csrf import CSRFError, CSRFProtect
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.routing import IntegerConverter

from casework.accounts import schools_of
from casework.clock import Clock
from casework.notify.notifications import unread_count
from casework.readiness import WEEKS_AHEAD
from casework.register.store import load_calendar
from casework.store.db import make_engine
from casework.store.models import ROLE_LABELS, Role, User
from casework.web import admin, auth, cases, dsl, letters, notifications, pupils, reports, today, trust
from casework.web import whatif as whatif_web
from casework.web.context import SCHOOL_KEY, WebUser, clock, current_school, db
from casework.web.filters import register_filters
from casework.web.permissions import can
from casework.web.sessions import SESSION_KEY

CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
       "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")


class DatabaseId(IntegerConverter):
    """An integer in an address, no larger than a database id can be (else: not found)."""

    def __init__(self, url_map, *args, **kwargs):
        kwargs.setdefault("max", 2**63 - 1)
        super().__init__(url_map, *args, **kwargs)


def _env_config() -> dict:
    env = os.environ
    cfg = {
        "DATABASE_URL": env.get("CASEWORK_DATABASE_URL"),
        "SECRET_KEY": env.get("CASEWORK_SECRET_KEY"),
        "SESSION_COOKIE_SECURE": env.get("CASEWORK_SECURE_COOKIES") == "1",
        "TRUST_PROXY": env.get("CASEWORK_TRUST_PROXY") == "1",
    }
    return {k: v for k, v in cfg.items() if v is not None}


def _calendar_warning() -> str:
    """For an administrator: the term dates are running out (deadlines past them are provisional)."""
    school = current_school()
    if school is None or current_user.role != Role.ADMIN.value:
        return ""
    cal = load_calendar(db(), school.id)
    today = clock().today()
    left = cal.school_weeks_after(today)
    if cal.last_day is not None and left >= WEEKS_AHEAD:
        return ""
    if cal.last_day is None:
        return "No term dates have been entered: import the calendar before anything else."
    return (f"The term dates entered end on {cal.last_day:%-d %B %Y} ({left} school week{'s' if left != 1 else ''} "
            "after this one). Import next year's dates: until then deadlines past that day are provisional, "
            "counted on weekdays less bank holidays.")


def create_app(config: dict | None = None) -> Flask:
    app = Flask(__name__)
    app.config.update(
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=False,
        SESSION_COOKIE_NAME="casework_session",
        PERMANENT_SESSION_LIFETIME=dt.timedelta(hours=9),
        REMEMBER_COOKIE_HTTPONLY=True,
        REMEMBER_COOKIE_SAMESITE="Lax",
        WTF_CSRF_TIME_LIMIT=None,  # the token lives as long as the session
        LOGIN_RATE_LIMIT="10 per minute",  # per client address
        LOGIN_ACCOUNT_LIMIT="10 per 5 minutes",  # per account, from anywhere
        MAX_CONTENT_LENGTH=20 * 1024 * 1024,  # imports
        CLOCK=Clock(),
    )
    app.config.update(_env_config())
    app.config.update(config or {})
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = secrets.token_hex(32)
    app.config["REMEMBER_COOKIE_SECURE"] = app.config["SESSION_COOKIE_SECURE"]
    app.extensions["casework_engine"] = app.config.get("ENGINE") or make_engine(app.config.get("DATABASE_URL"))

    app.url_map.converters["int"] = DatabaseId  # /cases/<int:id>: nothing past a database id
    if app.config.get("TRUST_PROXY"):
        # Behind a reverse proxy (told so): the client's address is the proxy's X-Forwarded-For.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=1, x_proto=1)
    CSRFProtect(app)
    login = LoginManager(app)
    login.session_protection = "strong"
    login.login_view = "auth.login"
    login.login_message = "Please sign in to continue."
    login.login_message_category = "info"

    @login.user_loader
    def load_user(user_id: str):
        if not user_id.isdigit() or len(user_id) > 18:
            return None
        user = db().get(User, int(user_id))
        if user is None or not user.active or session.get(SESSION_KEY) != user.session_version:
            return None  # disabled, or the session was ended (sign-out, password change)
        return WebUser(user, schools_of(db(), user), session.get(SCHOOL_KEY))

    @app.before_request
    def _password_first():
        # A one-time password is for one thing only: choosing one's own.
        if (current_user.is_authenticated and current_user.must_change_password
                and request.endpoint not in ("auth.password", "auth.logout", "static")):
            return redirect(url_for("auth.password"))
        return None


    for bp in (auth.bp, today.bp, cases.bp, pupils.bp, dsl.bp, letters.bp, notifications.bp, reports.bp, admin.bp,
               trust.bp):
        app.register_blueprint(bp)
    app.register_blueprint(whatif_web.bp)
    auth.limit_logins(app)

    @app.teardown_request
    def _close_session(exc):
        s = g.pop("db", None)
        if s is not None:
            if exc is None:
                s.commit()
            else:
                s.rollback()
            s.close()

    @app.after_request
    def _security_headers(resp):
        h = resp.headers
        h.setdefault("Content-Security-Policy", CSP)
        h["X-Content-Type-Options"] = "nosniff"
        h["X-Frame-Options"] = "DENY"
        h["Referrer-Policy"] = "same-origin"
        h["Permissions-Policy"] = "camera=(), microphone=(), geolocation=()"
        if app.config["SESSION_COOKIE_SECURE"]:
            h["Strict-Transport-Security"] = "max-age=31536000"
        if not resp.mimetype.startswith(("text/css", "application/javascript", "text/javascript")):
            h["Cache-Control"] = "no-store"  # pages carry pupils' data
        return resp


    @app.context_processor
    def _globals():
        return {"can": can, "school": current_school(), "today": clock().today(), "ROLE_LABELS": ROLE_LABELS,
                "unread_nudges": _unread_nudges, "calendar_warning": _calendar_warning}

    @app.errorhandler(403)
    def _forbidden(_e):
        return render_template("error.html", code=403, title="Not available to your role",
                               message="Your role does not include this page. If you need it, ask your "
                                       "school's administrator."), 403

    @app.errorhandler(404)
    def _not_found(_e):
        return render_template("error.html", code=404, title="Not found",
                               message="There is nothing at this address."), 404

    @app.errorhandler(CSRFError)
    def _csrf(e):
        return render_template("error.html", code=400, title="The form had expired",
                               message="Please go back, reload the page and try again."), 400

    @app.errorhandler(429)
    def _too_many(_e):
        return render_template("error.html", code=429, title="Too many attempts",
                               message="Too many sign-in attempts from here. Wait a minute and try again."), 429


    register_filters(app)
    return app


def _unread_nudges() -> int:
    """How many of the signed-in person's nudges are unread (0 for a role that has none)."""

    school = current_school()
    if school is None or not can("notifications.view"):
        return 0
    return unread_count(db(), school.id, current_user.role, current_user.id)
