"""The register: schools, their calendars, marks and amendments.

A mark is never overwritten silently: ``amend_mark`` writes the amendment row (original
entry, amended entry, reason, date, name and position) in the same transaction as the
change, and ``register_as_of`` shows the register as it stood at any past moment.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import lru_cache

from sqlalchemy import or_, update
from sqlmodel import Session, select

from casework.clock import Clock
from casework.register.calendar import CalendarEntry, SchoolCalendar, school_year_start
from casework.register.codes import meaning
from casework.store.audit import record
from casework.store.models import CalendarDay, Mark, MarkAmendment, Pupil, School, User


class NotFound(LookupError):
    pass


class RegisterError(ValueError):
    pass


def get_school(session: Session, urn: str) -> School:
    school = session.exec(select(School).where(School.urn == str(urn))).first()
    if school is None:
        raise NotFound(f"no school with URN {urn} (add it with: casework school add --urn {urn} --name ...)")
    return school


def get_pupil(session: Session, school: School, upn: str) -> Pupil:
    pupil = (
        session.exec(select(Pupil).where(Pupil.school_id == school.id, Pupil.upn == upn)).first()
    )
    if pupil is None:
        raise NotFound(f"no pupil with UPN {upn} at {school.name}")
    return pupil


def load_calendar(session: Session, school_id: int) -> SchoolCalendar:
    rows = session.exec(select(CalendarDay).where(CalendarDay.school_id == school_id).order_by(CalendarDay.id)).all()
    return _calendar(tuple(CalendarEntry(r.start, r.end, r.kind, r.label, r.session) for r in rows))


def year_so_far_from(session: Session, school_id: int, today: dt.date) -> dt.date:
    """Where "this school year" starts for the figures pages and letters give: its first school
    day (Tue 2 Sep, not Mon 1 Sep), or 1 September when no term dates are entered yet."""
    start = school_year_start(today)
    first = load_calendar(session, school_id).first_school_day_on_or_after(start)
    return first if first is not None and first <= today else start


@lru_cache(maxsize=64)
def _calendar(entries: tuple[CalendarEntry, ...]) -> SchoolCalendar:
    """One calendar per set of term dates (working out the school days and bank holidays is
    the slow part, and a calendar is never changed once made)."""
    return SchoolCalendar(entries)


def session_close_time(school: School, session_name: str) -> dt.time:
    return school.am_close if session_name == "AM" else school.pm_close


@dataclass(frozen=True)
class Amender:
    """Who is changing the register: the regulations want a name and a position."""

    name: str
    position: str


def record_mark(
    session: Session,
    pupil: Pupil,
    day: dt.date,
    session_name: str,
    code: str,
    *,
    calendar: SchoolCalendar,
    clock: Clock,
    by: Amender,
    minutes_late: int | None = None,
    reason: str | None = None,
) -> Mark:
    """Take a mark, or amend one already taken (an amendment needs a reason)."""
    meaning(code)  # raises on an unknown code
    if not calendar.is_session(day, session_name):
        raise RegisterError(
            f"{day.isoformat()} {session_name} is not a school session ({calendar.why_closed(day)})"
        )
    existing = (
        session.exec(
            select(Mark).where(
                Mark.pupil_id == pupil.id, Mark.date == day, Mark.session == session_name
            )
        )
        .first()
    )
    if existing is None:
        mark = Mark(
            school_id=pupil.school_id,
            pupil_id=pupil.id,
            date=day,
            session=session_name,
            code=code,
            minutes_late=minutes_late,
            recorded_by=by.name,
            recorded_at=clock.now(),
        )
        session.add(mark)
        session.flush()
        return mark
    return amend_mark(session, existing, code, minutes_late, reason=reason, by=by, clock=clock)


def amend_mark(
    session: Session,
    mark: Mark,
    code: str,
    minutes_late: int | None,
    *,
    reason: str | None,
    by: Amender,
    clock: Clock,
) -> Mark:
    meaning(code)
    if mark.code == code and mark.minutes_late == minutes_late:
        return mark
    if not reason or not reason.strip():
        raise RegisterError(
            f"changing the {mark.session} mark of {mark.date.isoformat()} from {mark.code} to {code} "
            "needs a reason: the register keeps why every entry was amended"
        )
    if not by.name.strip() or not by.position.strip():
        raise RegisterError("an amendment needs the name and position of the person making it")
    session.add(
        MarkAmendment(
            mark_id=mark.id,
            pupil_id=mark.pupil_id,
            date=mark.date,
            session=mark.session,
            original_code=mark.code,
            original_minutes_late=mark.minutes_late,
            amended_code=code,
            amended_minutes_late=minutes_late,
            reason=reason.strip(),
            amended_at=clock.now(),
            amended_by_name=by.name,
            amended_by_position=by.position,
        )
    )
    record(session, clock.now(), by.name, "mark.amend", f"mark:{mark.id}", school_id=mark.school_id,
           date=mark.date, session=mark.session, original=mark.code, amended=code, reason=reason.strip(),
           position=by.position)
    # The mark changes only if it still holds what the amender saw: of two people amending
    # the same mark at once, the second is told rather than silently overwriting the first.
    done = session.execute(update(Mark).where(Mark.id == mark.id, Mark.code == mark.code)
                           .values(code=code, minutes_late=minutes_late)).rowcount
    if done != 1:
        raise RegisterError(f"the {mark.session} mark of {mark.date.isoformat()} was changed by someone else a moment "
                            "ago: look at the register again before you amend it")
    session.expire(mark)
    session.flush()
    return mark


@dataclass(frozen=True)
class PastMark:
    date: dt.date
    session: str
    code: str
    minutes_late: int | None


def register_as_of(session: Session, pupil_id: int, moment: dt.datetime) -> list[PastMark]:
    """A pupil's register as it stood at ``moment``: later marks left out, later
    amendments undone (the earliest amendment after ``moment`` holds the entry as it was)."""
    marks = session.exec(
        select(Mark).where(Mark.pupil_id == pupil_id, Mark.recorded_at <= moment).order_by(Mark.date, Mark.session)
    ).all()
    later = session.exec(
        select(MarkAmendment)
        .where(MarkAmendment.pupil_id == pupil_id, MarkAmendment.amended_at > moment)
        .order_by(MarkAmendment.amended_at, MarkAmendment.id)
    ).all()
    first_later: dict[int, MarkAmendment] = {}
    for a in later:
        first_later.setdefault(a.mark_id, a)
    out = []
    for m in marks:
        a = first_later.get(m.id)
        if a is None:
            out.append(PastMark(m.date, m.session, m.code, m.minutes_late))
        else:
            out.append(PastMark(m.date, m.session, a.original_code, a.original_minutes_late))
    return out


def amendments_for(session: Session, pupil_id: int) -> list[MarkAmendment]:
    return list(
        session.exec(
            select(MarkAmendment).where(MarkAmendment.pupil_id == pupil_id).order_by(MarkAmendment.amended_at)
        )
    )


def find_pupils(session: Session, school_id: int, text: str = "", year_group: int | None = None,
                limit: int = 100) -> list[Pupil]:
    """Pupils on roll whose name or UPN contains ``text``, in one year group if given, by surname."""
    q = select(Pupil).where(Pupil.school_id == school_id, Pupil.on_roll.is_(True))
    if text:
        like = f"%{text}%"
        q = q.where(or_(Pupil.forename.ilike(like), Pupil.surname.ilike(like), Pupil.upn.ilike(like)))
    if year_group is not None:
        q = q.where(Pupil.year_group == year_group)
    return list(session.exec(q.order_by(Pupil.surname, Pupil.forename).limit(limit)))


def year_groups(session: Session, school_id: int) -> list[int]:
    return sorted(session.exec(select(Pupil.year_group).where(Pupil.school_id == school_id).group_by(Pupil.year_group)))


def pupil_marks_between(session: Session, pupil_id: int, start: dt.date, end: dt.date) -> list:
    """One pupil's marks (read by the pupil's index) as rows of date, session, code and
    minutes_late: what the pupil page shows, without the cost of a year's marks as ORM objects."""
    return list(session.execute(select(Mark.date, Mark.session, Mark.code, Mark.minutes_late).where(
        Mark.pupil_id == pupil_id, Mark.date >= start, Mark.date <= end)))


def active_user(session: Session, username: str) -> User:
    user = session.exec(select(User).where(User.username == username)).first()
    if user is None or not user.active:
        raise LookupError(f"no active user {username!r}")
    return user
