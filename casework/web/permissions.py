"""Who may do what on the web: one matrix of role × action, consulted by every route.

A route names its action with ``@requires("case.view")``; a template asks ``can("...")``
before it shows a link or a button. Nothing else decides access. The domain still has
the last word on a case's moves (the workflow's ``roles:``); this matrix decides which
pages and forms a role reaches at all.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from flask import abort
from flask_login import current_user

from casework.models import Role

OFFICE = {Role.ATTENDANCE_OFFICER, Role.WELLBEING_LEAD}
SAFEGUARDING = {Role.DSL, Role.DEPUTY_DSL}
LEADERSHIP = {Role.HEADTEACHER, Role.DEPUTY_HEAD}
CASEWORK = OFFICE | SAFEGUARDING | LEADERSHIP
STAFF = CASEWORK | {Role.TEACHER}
LETTERS = OFFICE | LEADERSHIP  # who produces and prints the letters (not teachers, governors or the DSL's desk)

# action -> the roles that may take it. Governors reach aggregate reports only: no page
# they can open names a pupil.
MATRIX: dict[str, set[Role]] = {
    "today.view": CASEWORK,
    "today.record_call": CASEWORK,
    "caseload.view": CASEWORK,
    "case.view": CASEWORK,
    "case.move": CASEWORK,
    "case.note": CASEWORK,
    "case.note.safeguarding": SAFEGUARDING,  # docs/domain.md §5: safeguarding notes are for the DSL and deputies
    "pupil.view": STAFF,
    "pupil.contacts": CASEWORK,
    "dsl.view": SAFEGUARDING,
    "dsl.resolve_alert": SAFEGUARDING,
    "letters.view": LETTERS,
    "letters.produce": LETTERS,
    "letters.download": LETTERS,
    "notifications.view": STAFF,  # nudges name pupils: never governors
    "notifications.read": STAFF,
    "approvals.view": LEADERSHIP,
    "reports.view": CASEWORK | {Role.TEACHER, Role.GOVERNOR},
    "reports.export": CASEWORK | {Role.GOVERNOR},
    # every group's figures, however small; anyone else (a governor) sees "fewer than N" for a small group
    "reports.small_groups": STAFF,
    "policy.view": CASEWORK | {Role.GOVERNOR},
    "admin.users": {Role.ADMIN},
    "admin.imports": {Role.ADMIN},
    "admin.settings": {Role.ADMIN},
}

# Where each role lands after logging in: the first of these it may view.
HOME_ORDER = [("today.view", "today.index"), ("pupil.view", "pupils.index"), ("reports.view", "reports.index"),
              ("admin.users", "admin.users")]


def role_may(role: str | Role | None, action: str) -> bool:
    if action not in MATRIX:
        raise KeyError(f"no action {action!r} in the permissions matrix")
    try:
        return Role(role) in MATRIX[action]
    except ValueError:
        return False


def can(action: str) -> bool:
    return bool(current_user.is_authenticated) and role_may(current_user.role, action)


def requires(action: str) -> Callable:
    """Decorate a view: unauthenticated → the login page; a role without the action → 403."""
    if action not in MATRIX:
        raise KeyError(f"no action {action!r} in the permissions matrix")

    def decorate(view: Callable) -> Callable:
        @wraps(view)
        def wrapped(*args, **kwargs):
            from flask import current_app

            if not current_user.is_authenticated:
                return current_app.login_manager.unauthorized()
            if not role_may(current_user.role, action):
                abort(403)
            return view(*args, **kwargs)

        wrapped.permission = action  # the route × role tests read this
        return wrapped

    return decorate


def home_endpoint(role: str) -> str | None:
    for action, endpoint in HOME_ORDER:
        if role_may(role, action):
            return endpoint
    return None
