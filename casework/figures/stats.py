"""Attendance statistics for a pupil, a year group, a vulnerable group or the school.

Computed set-wise: one ``GROUP BY`` over the marks in the database gives counts per
pupil, weekday and code; the codes table then says what each code counts as. No mark
is loaded as an object. Definitions are docs/domain.md §1:

- possible sessions: marks whose code counts as a possible session;
- attendance % = (present + approved educational activity) / possible;
- persistent absence (PA): missed ≥ 10 % of possible sessions; severe (SA): ≥ 50 %.

The PA and SA thresholds are national figures and come from the workflow file
(``thresholds``) when a caller passes them; the defaults are the national ones.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field

from sqlalchemy import extract, func, select
from sqlmodel import Session

from casework.register.codes import ILLNESS, LATE_AFTER_CLOSE, LATE_BEFORE_CLOSE, Category, meaning
from casework.store.models import PUPIL_FLAGS, Mark, Pupil

WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri")


@dataclass(frozen=True)
class Thresholds:
    persistent_absence_pct: float = 10.0
    severe_absence_pct: float = 50.0


@dataclass
class Figures:
    """Counts for one pupil or a group, and the figures derived from them."""

    possible_sessions: int = 0
    present_in_school: int = 0
    approved_activity: int = 0
    authorised: int = 0
    unauthorised: int = 0
    not_possible: int = 0
    lates_before_close: int = 0
    lates_after_close: int = 0
    illness_sessions: int = 0
    by_code: dict[str, int] = field(default_factory=dict)
    absence_by_weekday: dict[str, int] = field(default_factory=lambda: {d: 0 for d in WEEKDAYS})

    def add(self, code: str, weekday: int, count: int) -> None:
        m = meaning(code)
        self.by_code[code] = self.by_code.get(code, 0) + count
        cat = m.category
        if cat is Category.NOT_POSSIBLE:
            self.not_possible += count
            return
        self.possible_sessions += count
        if cat is Category.PRESENT:
            self.present_in_school += count
        elif cat is Category.APPROVED_ACTIVITY:
            self.approved_activity += count
        elif cat is Category.AUTHORISED:
            self.authorised += count
        else:
            self.unauthorised += count
        if cat in (Category.AUTHORISED, Category.UNAUTHORISED) and weekday < 5:
            self.absence_by_weekday[WEEKDAYS[weekday]] += count
        canonical = m.legacy_for or m.code
        if canonical == LATE_BEFORE_CLOSE:
            self.lates_before_close += count
        elif canonical == LATE_AFTER_CLOSE:
            self.lates_after_close += count
        elif canonical == ILLNESS:
            self.illness_sessions += count

    def merge(self, other: Figures) -> None:
        for name in (
            "possible_sessions", "present_in_school", "approved_activity", "authorised",
            "unauthorised", "not_possible", "lates_before_close", "lates_after_close", "illness_sessions",
        ):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for k, v in other.by_code.items():
            self.by_code[k] = self.by_code.get(k, 0) + v
        for k, v in other.absence_by_weekday.items():
            self.absence_by_weekday[k] += v

    @property
    def present(self) -> int:
        """Present including approved educational activity: the attendance numerator."""
        return self.present_in_school + self.approved_activity

    @property
    def absent(self) -> int:
        return self.authorised + self.unauthorised

    @property
    def attendance_pct(self) -> float | None:
        if not self.possible_sessions:
            return None
        return 100.0 * self.present / self.possible_sessions

    @property
    def absence_pct(self) -> float | None:
        if not self.possible_sessions:
            return None
        return 100.0 * self.absent / self.possible_sessions

    @property
    def illness_days(self) -> float:
        return self.illness_sessions / 2

    def persistent_absence(self, t: Thresholds = Thresholds()) -> bool:
        pct = self.absence_pct
        return pct is not None and pct >= t.persistent_absence_pct

    def severe_absence(self, t: Thresholds = Thresholds()) -> bool:
        pct = self.absence_pct
        return pct is not None and pct >= t.severe_absence_pct

    def as_dict(self, t: Thresholds = Thresholds()) -> dict:
        pct = self.attendance_pct
        return {
            "possible_sessions": self.possible_sessions,
            "present": self.present,
            "present_in_school": self.present_in_school,
            "approved_activity": self.approved_activity,
            "authorised": self.authorised,
            "unauthorised": self.unauthorised,
            "attendance_pct": None if pct is None else round(pct, 2),
            "persistent_absence": self.persistent_absence(t),
            "severe_absence": self.severe_absence(t),
            "lates_before_close": self.lates_before_close,
            "lates_after_close": self.lates_after_close,
            "illness_sessions": self.illness_sessions,
            "illness_days": self.illness_days,
            "by_code": dict(sorted(self.by_code.items())),
            "absence_by_weekday": dict(self.absence_by_weekday),
        }


@dataclass
class PupilFigures:
    pupil_id: int
    upn: str
    name: str
    year_group: int
    figures: Figures


@dataclass
class GroupFigures:
    label: str
    pupils: int
    persistent_absentees: int
    severe_absentees: int
    figures: Figures

    @property
    def pa_rate(self) -> float | None:
        return 100.0 * self.persistent_absentees / self.pupils if self.pupils else None

    @property
    def sa_rate(self) -> float | None:
        return 100.0 * self.severe_absentees / self.pupils if self.pupils else None

    def as_dict(self, t: Thresholds = Thresholds()) -> dict:
        d = {"group": self.label, "pupils": self.pupils,
             "persistent_absentees": self.persistent_absentees, "severe_absentees": self.severe_absentees,
             "pa_rate": None if self.pa_rate is None else round(self.pa_rate, 2),
             "sa_rate": None if self.sa_rate is None else round(self.sa_rate, 2)}
        d.update(self.figures.as_dict(t))
        d.pop("persistent_absence")
        d.pop("severe_absence")
        return d


def group_pupils(school_id: int, year_group: int | None = None, flag: str | None = None, *columns):
    """A query of the school's pupils (``columns``, default their ids), narrowed to a year group
    and a flagged group (FSM, SEND, ...)."""
    q = select(*(columns or (Pupil.id,))).where(Pupil.school_id == school_id)
    if year_group is not None:
        q = q.where(Pupil.year_group == year_group)
    if flag is not None:
        if flag not in PUPIL_FLAGS:
            raise ValueError(f"unknown group {flag!r} (one of: {', '.join(PUPIL_FLAGS)})")
        q = q.where(getattr(Pupil, flag).is_(True))
    return q


def pupil_figures(
    session: Session,
    school_id: int,
    start: dt.date,
    end: dt.date,
    *,
    year_group: int | None = None,
    flag: str | None = None,
    pupil_ids: list[int] | None = None,
) -> list[PupilFigures]:
    """Figures per pupil on roll (optionally a year group, a flagged group or given pupils)."""
    pq = group_pupils(school_id, year_group, flag, Pupil.id, Pupil.upn, Pupil.forename, Pupil.surname,
                      Pupil.year_group)
    if pupil_ids is not None:
        pq = pq.where(Pupil.id.in_(pupil_ids))
    pupils = {
        pid: PupilFigures(pid, upn, f"{fn} {sn}", yg, Figures())
        for pid, upn, fn, sn, yg in session.execute(pq.order_by(Pupil.year_group, Pupil.surname, Pupil.forename))
    }
    if not pupils:
        return []
    dow = extract("dow", Mark.date)  # 0 = Sunday on both SQLite and PostgreSQL
    q = (
        select(Mark.pupil_id, dow, Mark.code, func.count())
        .where(Mark.school_id == school_id, Mark.date >= start, Mark.date <= end)
        .group_by(Mark.pupil_id, dow, Mark.code)
    )
    if pupil_ids is not None and len(pupils) <= 500:
        # a few pupils (a letter, a case page): their own marks by the (pupil, date) key rather than a
        # scan of the school's (the pupils were chosen from this school above)
        q = (select(Mark.pupil_id, dow, Mark.code, func.count())
             .where(Mark.pupil_id.in_(list(pupils)), Mark.date >= start, Mark.date <= end)
             .group_by(Mark.pupil_id, dow, Mark.code))
    elif year_group is not None or flag is not None or pupil_ids is not None:
        q = q.where(Mark.pupil_id.in_(select(pq.subquery().c.id)))
    for pid, sunday_based, code, count in session.execute(q):
        pf = pupils.get(pid)
        if pf is not None:
            pf.figures.add(code, (int(sunday_based) + 6) % 7, count)
    return list(pupils.values())


def group_figures(label: str, rows: list[PupilFigures], t: Thresholds = Thresholds()) -> GroupFigures:
    total = Figures()
    pa = sa = 0
    counted = 0
    for r in rows:
        total.merge(r.figures)
        if r.figures.possible_sessions:
            counted += 1
            pa += r.figures.persistent_absence(t)
            sa += r.figures.severe_absence(t)
    return GroupFigures(label, counted, pa, sa, total)


def breakdown(rows: list[PupilFigures], flags_by_pupil: dict[int, set[str]], t: Thresholds = Thresholds()) -> list[GroupFigures]:
    """Whole school, then each year group, then each vulnerable group."""
    out = [group_figures("Whole school", rows, t)]
    by_year: dict[int, list[PupilFigures]] = defaultdict(list)
    for r in rows:
        by_year[r.year_group].append(r)
    for yg in sorted(by_year):
        out.append(group_figures(year_group_label(yg), by_year[yg], t))
    for flag, label in PUPIL_FLAGS.items():
        members = [r for r in rows if flag in flags_by_pupil.get(r.pupil_id, set())]
        if members:
            out.append(group_figures(label, members, t))
    return out


def pupil_flags(session: Session, school_id: int) -> dict[int, set[str]]:
    cols = [getattr(Pupil, f) for f in PUPIL_FLAGS]
    out: dict[int, set[str]] = {}
    for row in session.execute(select(Pupil.id, *cols).where(Pupil.school_id == school_id)):
        out[row[0]] = {f for f, v in zip(PUPIL_FLAGS, row[1:]) if v}
    return out


def year_group_label(yg: int) -> str:
    return {0: "Reception", -1: "Nursery"}.get(yg, f"Year {yg}")
