"""Template filters: how dates, percentages and labels read on the page."""

from __future__ import annotations

import datetime as dt

from flask import Flask

from casework.cases.moves import END_OF_DAY
from casework.clock import local
from casework.figures.stats import year_group_label
from casework.register.codes import meaning
from casework.store.models import ROLE_LABELS, Role
from casework.web.context import current_school
from casework.workflow import for_school


def when(moment: dt.datetime | None) -> str:
    if moment is None:
        return ""
    m = local(moment)
    return f"{m:%a} {m.day} {m:%b %Y, %H:%M}"


def day_short(moment: dt.datetime | None) -> str:
    """A deadline's day in a dense list: "Wed 2 Dec"."""
    if moment is None:
        return ""
    m = local(moment)
    return f"{m:%a} {m.day} {m:%b}"


def due(moment: dt.datetime | None) -> str:
    """When a deadline falls: a day's deadline (to the end of the day) by its date alone."""
    if moment is None:
        return ""
    return day(moment) if local(moment).time() == END_OF_DAY else when(moment)


def day(d: dt.date | dt.datetime | None) -> str:
    if d is None:
        return ""
    if isinstance(d, dt.datetime):
        d = local(d).date()
    return f"{d:%a} {d.day} {d:%B %Y}"


def pct(v: float | None, places: int = 1) -> str:
    return "—" if v is None else f"{v:.{places}f}%"


def role_label(role: str) -> str:
    """A role as people read it; a workflow's role group ("office") as its members' roles."""
    try:
        return ROLE_LABELS[Role(role)]
    except ValueError:
        pass
    if role == "system":
        return "casework (automatic)"
    school = current_school()
    members = for_school(school.workflow).model.roles.get(role) if school is not None else None
    if not members:
        return role.replace("_", " ").capitalize()
    first, *rest = [role_label(m) for m in members]
    rest = [x[0].lower() + x[1:] for x in rest]  # "Attendance officer or wellbeing lead"
    return first if not rest else f"{', '.join([first, *rest[:-1]])} or {rest[-1]}"


def code_category(code: str) -> str:
    try:
        return meaning(code).category.value
    except (KeyError, ValueError):
        return "unknown"


def code_label(code: str) -> str:
    try:
        m = meaning(code)
        return getattr(m, "description", "") or getattr(m, "label", "") or code
    except (KeyError, ValueError):
        return code


def year_short(yg: int) -> str:
    """A year group in a dense list: R, N, Y5."""
    return {0: "R", -1: "N"}.get(yg, f"Y{yg}")


def register_filters(app: Flask) -> None:
    app.jinja_env.filters.update(when=when, due=due, day=day, day_short=day_short, year_short=year_short, pct=pct, role_label=role_label, year=year_group_label,
                                 code_category=code_category, code_label=code_label)
    app.jinja_env.trim_blocks = True
    app.jinja_env.lstrip_blocks = True
