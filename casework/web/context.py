"""What a request works with: its database session, the clock, the signed-in person and their school.

Blueprints import these from here; ``casework.web`` builds the app from the blueprints.
"""

from __future__ import annotations

from flask import abort, current_app, g, request
from flask_login import current_user
from sqlmodel import Session, select

from casework.accounts import SchoolRole
from casework.clock import Clock
from casework.store.models import ROLE_LABELS, Role, School, User

SCHOOL_KEY = "school_id"  # the school a person with several has chosen (in their session)


class WebUser:
    """The signed-in person, as Flask-Login wants them: a plain copy of the staff_user row, in
    the school they are working in now (``schools`` holds every school they may choose, and
    ``role`` is their role in the chosen one)."""

    is_authenticated = True
    is_active = True
    is_anonymous = False

    def __init__(self, user: User, schools: list[SchoolRole] | None = None, chosen: int | None = None):
        self.id = user.id
        self.username = user.username
        self.name = user.name
        self.position = user.position
        self.must_change_password = user.must_change_password
        self.schools = schools if schools is not None else []
        here = next((r for r in self.schools if r.school_id == chosen), self.schools[0] if self.schools else None)
        self.role = here.role if here else user.role
        self.school_id = here.school_id if here else user.school_id

    def may_choose(self, school_id: int) -> bool:
        return any(r.school_id == school_id for r in self.schools)

    def get_id(self) -> str:
        return str(self.id)

    @property
    def role_label(self) -> str:
        return ROLE_LABELS.get(Role(self.role), self.role)


def db() -> Session:
    """The request's database session (committed at the end of a request that did not fail)."""
    if "db" not in g:
        g.db = Session(current_app.extensions["casework_engine"], expire_on_commit=False)
    return g.db


def clock() -> Clock:
    return current_app.config["CLOCK"]


def current_school() -> School | None:
    if not current_user or not current_user.is_authenticated:
        return None
    if "school" not in g:
        sid = current_user.school_id
        if sid is None:
            g.school = db().exec(select(School).order_by(School.id)).first()
        else:
            g.school = db().get(School, sid)
    return g.school


def school_row(model, row_id: int):
    """A row (case, pupil, account ...) of the signed-in person's school; 404 for any other, so
    nobody learns that it exists."""
    row = db().get(model, row_id)
    if row is None or row.school_id != current_school().id:
        abort(404)
    return row


YEAR_GROUPS = (-1, 14)  # nursery to year 14
MAX_PAGE = 100_000


def int_arg(name: str, default: int | None = None, *, lo: int = 1, hi: int = MAX_PAGE) -> int | None:
    """A whole number from the query string, within [lo, hi]; anything else is a bad request."""
    text = request.args.get(name, "").strip()
    if text == "":
        return default
    try:
        value = int(text) if len(text) <= 12 else hi + 1
    except ValueError:
        abort(400)
    if not lo <= value <= hi:
        abort(400)
    return value
