"""Who may do what on the web: one matrix of role × action, consulted by every route.

A route names its action with ``@requires("case.view")``; a template asks ``can("...")``
before it shows a link or a button. Nothing else decides access. The domain still has
the last word on a case's moves (the workflow's ``roles:``); this matrix decides which
pages and forms a role reaches at all.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from flask import abort, current_app
from flask_login import current_user

from casework.store.models import Role
from casework.web.context import current_school
from casework.workflow import Workflow, for_school

# action -> who may take it: role groups named in the workflow's ``roles:`` section (office,
# casework, safeguarding, leadership: one source of truth, read from the school's workflow)
# and single roles. Governors reach aggregate reports only: no page they can open names a pupil.
STAFF = ("casework", Role.TEACHER)
TRUST = Role.TRUST_LEAD  # a trust's attendance lead: looks across their schools, takes no step on a case
LETTERS = ("office", "leadership")  # who produces and prints letters (not teachers, governors or the DSL's desk)
MATRIX: dict[str, tuple[str | Role, ...]] = {
    "today.view": ("casework",),
    "today.record_call": ("casework",),
    "caseload.view": ("casework", TRUST),
    "case.view": ("casework", TRUST),
    "case.move": ("casework",),
    "case.note": ("casework",),
    "case.note.safeguarding": ("safeguarding",),  # docs/domain.md §5: safeguarding notes are for the DSL and deputies
    "pupil.view": (*STAFF, TRUST),
    "pupil.contacts": ("casework",),
    "dsl.view": ("safeguarding",),
    "dsl.resolve_alert": ("safeguarding",),
    "letters.view": LETTERS,
    "letters.produce": LETTERS,
    "letters.download": LETTERS,
    "notifications.view": STAFF,  # nudges name pupils: never governors
    "notifications.read": STAFF,
    "approvals.view": ("leadership",),
    "reports.view": ("casework", Role.TEACHER, Role.GOVERNOR, TRUST),
    "reports.export": ("casework", Role.GOVERNOR, TRUST),
    # the governors' termly report (and its CSV/Excel): the headteacher, deputies and governors
    "reports.governors": ("leadership", Role.GOVERNOR, TRUST),
    # every group's figures, however small; anyone else (a governor) sees "fewer than N" for a small group
    "reports.small_groups": (*STAFF, TRUST),
    "policy.view": ("casework", Role.GOVERNOR, TRUST),
    "trust.view": (TRUST,),
    "whatif.view": ("leadership", Role.GOVERNOR, TRUST),  # what another workflow would have done: figures and a chart
    "whatif.pupils": ("leadership",),  # ... and the pupils for whom it differs (names: never governors)
    "admin.users": (Role.ADMIN,),
    "admin.imports": (Role.ADMIN,),
    "admin.settings": (Role.ADMIN,),
}


def roles_for_action(action: str, workflow: Workflow | None = None) -> set[str]:
    """The roles that may take ``action`` under ``workflow``'s role groups (national by default)."""
    if action not in MATRIX:
        raise KeyError(f"no action {action!r} in the permissions matrix")
    wf = workflow or for_school("national")
    out: set[str] = set()
    for who in MATRIX[action]:
        if isinstance(who, Role):
            out.add(who.value)
        else:
            out |= wf.roles_for([who])
    return out


# Where each role lands after logging in: the first of these it may view.
HOME_ORDER = [("trust.view", "trust.overview"), ("today.view", "today.index"), ("pupil.view", "pupils.index"), ("reports.view", "reports.index"),
              ("admin.users", "admin.users")]


def role_may(role: str | Role | None, action: str, workflow: Workflow | None = None) -> bool:
    try:
        role = Role(role).value
    except ValueError:
        return False
    return role in roles_for_action(action, workflow)


def _school_workflow() -> Workflow | None:
    school = current_school()
    return for_school(school.workflow) if school is not None else None


def can(action: str) -> bool:
    return bool(current_user.is_authenticated) and role_may(current_user.role, action, _school_workflow())


def requires(action: str) -> Callable:
    """Decorate a view: unauthenticated → the login page; a role without the action → 403."""
    if action not in MATRIX:
        raise KeyError(f"no action {action!r} in the permissions matrix")

    def decorate(view: Callable) -> Callable:
        @wraps(view)
        def wrapped(*args, **kwargs):
            if not current_user.is_authenticated:
                return current_app.login_manager.unauthorized()
            if not role_may(current_user.role, action, _school_workflow()):
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
