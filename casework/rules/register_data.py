"""The register of a whole school as arrays: one row per pupil, one column per session.

Rules read this, never the ORM. ``load_register`` runs one ``SELECT`` over the marks of
a school between two dates and lays them out as a dense ``pupils × sessions`` matrix of
small integers (an index into ``CODE_TABLE``; ``NO_MARK`` = -1 where no mark has been
taken yet). Each column (a *slot*) is one session the school's calendar says it is open,
in date order, with its school-day, school-week, half-term and school-year index beside
it, so a rule can sum over "the last 10 school weeks" or "this half term" with numpy
over every pupil at once.

What a code *means* is asked of ``casework.register.codes``: ``RegisterMatrix.mask`` takes a set
of codes (``codes.UNAUTHORISED_CODES``, ``{codes.ILLNESS}``...) and matches each mark by
the 2024 code it counts as, so a legacy mark counts exactly as its 2024 equivalent.
"""

from __future__ import annotations

import bisect
import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
from sqlalchemy import select
from sqlalchemy.engine import Connection

from casework.register import codes as C
from casework.register.calendar import SchoolCalendar, school_year_start, week_start
from casework.rules.findings import Finding
from casework.store.models import PUPIL_FLAGS, Pupil

from .marks_bulk import fill_marks

# Every code the register may hold (2024 codes, then the legacy ones), by index.
CODE_TABLE: tuple[str, ...] = tuple(C.CODES)
CODE_INDEX: dict[str, int] = {c: i for i, c in enumerate(CODE_TABLE)}
NO_MARK = -1
# The 2024 code each index counts as (a legacy code counts as its equivalent).
_CANONICAL: tuple[str, ...] = tuple(C.canonical(c) for c in CODE_TABLE)


def code_lut(codes: Iterable[str]) -> np.ndarray:
    """A boolean lookup table over code indexes: True where the mark counts as one of ``codes``.

    The table has one extra entry at the end, for ``NO_MARK`` (-1), which is always False,
    so ``code_lut(s)[matrix]`` works on the raw matrix.
    """
    wanted = set()
    for c in codes:
        wanted.add(C.canonical(c))  # raises KeyError naming an unknown code
    lut = np.zeros(len(CODE_TABLE) + 1, dtype=bool)
    for i, canon in enumerate(_CANONICAL):
        lut[i] = canon in wanted
    return lut


ABSENCE_CODES: frozenset[str] = C.AUTHORISED_CODES | C.UNAUTHORISED_CODES


@dataclass
class RegisterMatrix:
    """A school's register between ``start`` and ``end`` as arrays (see the module docstring)."""

    school_id: int
    start: dt.date
    end: dt.date
    # pupils (P,)
    pupil_ids: np.ndarray  # int64
    upns: np.ndarray  # object (str)
    names: np.ndarray  # object (str): "Forename Surname"
    year_groups: np.ndarray  # int16
    traveller: np.ndarray  # bool
    flags: dict[str, np.ndarray]  # every pupil flag of casework.store.models.PUPIL_FLAGS -> bool (P,)
    # sessions (S,), in date order, AM before PM
    slots: list[tuple[dt.date, str]]
    slot_ordinal: np.ndarray  # int32: date.toordinal() of each slot
    slot_day: np.ndarray  # int32: index into ``days``
    slot_week: np.ndarray  # int32: index into ``weeks``
    slot_half_term: np.ndarray  # int32: index into ``half_terms`` (-1 if none)
    slot_year: np.ndarray  # int32: the calendar year the slot's school year starts in
    slot_weekday: np.ndarray  # int8: 0 = Monday
    slot_pm: np.ndarray  # bool
    days: list[dt.date]  # school days in range
    day_first_slot: np.ndarray  # int32 (D,): the first slot of each day
    weeks: list[dt.date]  # Mondays of the school weeks in range
    half_terms: list[tuple[dt.date, dt.date]]  # the calendar's half terms (all of them)
    # the register (P, S)
    codes: np.ndarray  # int16 index into CODE_TABLE, NO_MARK where no mark yet
    unplaced_marks: int = 0  # marks on a date/session the calendar says is closed (ignored)
    _lut_cache: dict = field(default_factory=dict, repr=False)

    # -- shape ---------------------------------------------------------------
    @property
    def n_pupils(self) -> int:
        return len(self.pupil_ids)

    @property
    def n_slots(self) -> int:
        return len(self.slots)

    # -- selecting slots -------------------------------------------------------
    def slot_slice(self, start: dt.date | None = None, end: dt.date | None = None) -> slice:
        """The slots from ``start`` to ``end`` (both included) as a slice of columns."""
        lo = 0 if start is None else int(np.searchsorted(self.slot_ordinal, start.toordinal(), "left"))
        hi = self.n_slots if end is None else int(np.searchsorted(self.slot_ordinal, end.toordinal(), "right"))
        return slice(lo, max(lo, hi))

    def day_slice(self, start: dt.date | None = None, end: dt.date | None = None) -> slice:
        lo = 0 if start is None else bisect.bisect_left(self.days, start)
        hi = len(self.days) if end is None else bisect.bisect_right(self.days, end)
        return slice(lo, max(lo, hi))

    def year_slice(self, as_of: dt.date) -> slice:
        """The slots of the school year holding ``as_of``, up to and including ``as_of``."""
        return self.slot_slice(max(self.start, school_year_start(as_of)), as_of)

    def week_index(self, day: dt.date) -> int:
        """Index in ``weeks`` of the school week holding ``day``, or of the last one before it
        (-1 if none is loaded)."""
        return bisect.bisect_right(self.weeks, week_start(day)) - 1

    # -- codes ------------------------------------------------------------------
    def lut(self, codes: Iterable[str]) -> np.ndarray:
        key = frozenset(codes)
        lut = self._lut_cache.get(key)
        if lut is None:
            lut = self._lut_cache[key] = code_lut(key)
        return lut

    def mask(self, codes: Iterable[str], cols: slice | np.ndarray | None = None) -> np.ndarray:
        """Boolean (P, S') matrix: True where the mark counts as one of ``codes``."""
        m = self.codes if cols is None else self.codes[:, cols]
        return self.lut(codes)[m]

    def count(self, codes: Iterable[str], cols: slice | np.ndarray | None = None) -> np.ndarray:
        """Per pupil, how many marks in ``cols`` count as one of ``codes``."""
        return self.mask(codes, cols).sum(axis=1, dtype=np.int64)

    def day_any(self, slot_mask: np.ndarray, days: slice) -> np.ndarray:
        """(P, D') boolean: a school day is True when any of its sessions is True.

        ``slot_mask`` covers exactly the slots of ``days`` (``slots_of_days(days)``).
        """
        first = self.day_first_slot[days]
        if len(first) == 0:
            return np.zeros((self.n_pupils, 0), dtype=bool)
        offsets = first - first[0]
        return np.logical_or.reduceat(slot_mask, offsets, axis=1)

    def slots_of_days(self, days: slice) -> slice:
        if days.stop <= days.start:
            return slice(0, 0)
        lo = int(self.day_first_slot[days.start])
        hi = int(self.day_first_slot[days.stop]) if days.stop < len(self.days) else self.n_slots
        return slice(lo, hi)

    # -- evidence ------------------------------------------------------------------
    def code_at(self, p: int, s: int) -> str | None:
        i = int(self.codes[p, s])
        return None if i == NO_MARK else CODE_TABLE[i]

    def marks(self, p: int, slot_indexes: Iterable[int]) -> list[tuple[dt.date, str, str]]:
        """The marks of pupil row ``p`` at the given slots, as (date, session, code)."""
        out = []
        for s in slot_indexes:
            s = int(s)
            i = int(self.codes[p, s])
            if i != NO_MARK:
                d, sess = self.slots[s]
                out.append((d, sess, CODE_TABLE[i]))
        return out

    def runs_to_latest(self, as_of: dt.date, day_flags, at_least: int) -> list[tuple[int, int, dt.date, dt.date]]:
        """Pupils whose run of flagged school days reaches the latest register taken up to
        ``as_of`` and is at least ``at_least`` days long: (row, days in the run, first, last).
        ``day_flags(days, cols)`` gives a pupils × days boolean matrix for those days and their
        session columns (e.g. "absent with no reason given that day")."""
        taken = np.flatnonzero((self.codes[:, self.slot_slice(None, as_of)] != NO_MARK).any(axis=0))
        if len(taken) == 0:
            return []
        last_day = int(self.slot_day[taken[-1]])
        days = slice(0, last_day + 1)
        run = run_lengths(day_flags(days, self.slots_of_days(days)))[:, -1]
        return [(int(p), int(run[p]), self.days[last_day - int(run[p]) + 1], self.days[last_day])
                for p in np.flatnonzero(run >= at_least)]

    def window(self, calendar: SchoolCalendar, start: dt.date, end: dt.date) -> RegisterMatrix:
        """The register between ``start`` and ``end`` (inside what is loaded), exactly as
        ``load_register`` would read it from the same marks: for a replay over a copy whose marks
        do not change, loaded once and windowed day by day."""
        if start < self.start or end > self.end:
            raise ValueError(f"{start} to {end} is outside the loaded register ({self.start} to {self.end})")
        cols = self.slot_slice(start, end)
        meta = _slot_metadata(calendar, start, end)
        if len(meta["slots"]) != cols.stop - cols.start:
            raise ValueError("the calendar does not match the loaded register")
        return RegisterMatrix(
            school_id=self.school_id, start=start, end=end, pupil_ids=self.pupil_ids, upns=self.upns,
            names=self.names, year_groups=self.year_groups, traveller=self.traveller, flags=self.flags,
            codes=self.codes[:, cols], **meta,
        )

    def finding(self, p: int, rule: str, *, about: object = None, concern: str | None = None, **fields) -> Finding:
        """A finding of ``rule`` about the pupil in row ``p``.

        Its concern, what a case is opened once for, is ``concern`` where rules share one (an
        "attendance" case, whichever rule saw it), else the rule and what the finding is ``about``
        (a school year, a run's first day): ``penalty_threshold:2026-01-05``; else the rule alone."""
        if concern is None:
            key = about.isoformat() if isinstance(about, dt.date) else about
            concern = rule if key is None else f"{rule}:{key}"
        return Finding(rule=rule, pupil_id=int(self.pupil_ids[p]), upn=str(self.upns[p]), concern=concern, **fields)

    def marks_where(self, p: int, codes: Iterable[str], cols: slice) -> list[tuple[dt.date, str, str]]:
        """The marks of pupil row ``p`` within ``cols`` that count as one of ``codes``."""
        row = self.lut(codes)[self.codes[p, cols]]
        return self.marks(p, np.flatnonzero(row) + (cols.start or 0))


def _slot_metadata(calendar: SchoolCalendar, start: dt.date, end: dt.date):
    slots = calendar.sessions(start, end)
    days = calendar.school_days(start, end)
    weeks = calendar.school_weeks(start, end)
    half_terms = calendar.half_terms
    ht_starts = [h[0] for h in half_terms]
    day_index = {d: i for i, d in enumerate(days)}
    week_index = {w: i for i, w in enumerate(weeks)}
    n = len(slots)
    slot_ordinal = np.empty(n, dtype=np.int32)
    slot_day = np.empty(n, dtype=np.int32)
    slot_week = np.empty(n, dtype=np.int32)
    slot_ht = np.empty(n, dtype=np.int32)
    slot_year = np.empty(n, dtype=np.int32)
    slot_weekday = np.empty(n, dtype=np.int8)
    slot_pm = np.empty(n, dtype=bool)
    day_first = np.zeros(len(days), dtype=np.int32)
    prev_day = None
    for s, (d, sess) in enumerate(slots):
        di = day_index[d]
        if d != prev_day:
            day_first[di] = s
            prev_day = d
        slot_ordinal[s] = d.toordinal()
        slot_day[s] = di
        slot_week[s] = week_index[week_start(d)]
        slot_ht[s] = bisect.bisect_right(ht_starts, d) - 1
        slot_year[s] = school_year_start(d).year
        slot_weekday[s] = d.weekday()
        slot_pm[s] = sess == "PM"
    return dict(
        slots=slots, slot_ordinal=slot_ordinal, slot_day=slot_day, slot_week=slot_week,
        slot_half_term=slot_ht, slot_year=slot_year, slot_weekday=slot_weekday, slot_pm=slot_pm,
        days=days, day_first_slot=day_first, weeks=weeks, half_terms=half_terms,
    )


def load_register(
    session,
    school_id: int,
    calendar: SchoolCalendar,
    start: dt.date,
    end: dt.date,
    *,
    include_off_roll: bool = False,
    pupil_ids: Iterable[int] | None = None,
) -> RegisterMatrix:
    """Load a school's register between ``start`` and ``end`` (both included) set-wise.

    Two queries in all, no ORM objects and no Python object per mark: the pupils, then
    the marks of the school's pupils in range, in bulk and a chunk at a time
    (``casework.rules.marks_bulk``: one row per pupil, its marks packed by the database and
    parsed by numpy). Marks on a session the calendar
    says is closed are counted in
    ``unplaced_marks`` and left out. ``session`` is a SQLAlchemy/SQLModel session or
    connection. Pupils off roll are left out unless ``include_off_roll``; ``pupil_ids``
    limits the load to those pupils (a guard asking about one child).
    """
    meta = _slot_metadata(calendar, start, end)

    pt = Pupil.__table__
    flag_names = list(PUPIL_FLAGS)
    pq = select(pt.c.id, pt.c.upn, pt.c.forename, pt.c.surname, pt.c.year_group,
                *[pt.c[f] for f in flag_names]).where(pt.c.school_id == school_id)
    if not include_off_roll:
        pq = pq.where(pt.c.on_roll.is_(True))
    only = None if pupil_ids is None else [int(i) for i in pupil_ids]
    if only is not None:
        pq = pq.where(pt.c.id.in_(only))
    prow = session.execute(pq.order_by(pt.c.id)).all()
    P = len(prow)
    ids = np.fromiter((r[0] for r in prow), dtype=np.int64, count=P)
    upns = np.array([r[1] for r in prow], dtype=object)
    names = np.array([f"{r[2]} {r[3]}" for r in prow], dtype=object)
    year_groups = np.fromiter((r[4] for r in prow), dtype=np.int16, count=P)
    flags = {f: np.fromiter((bool(r[5 + i]) for r in prow), dtype=bool, count=P) for i, f in enumerate(flag_names)}

    S = len(meta["slots"])
    matrix = np.full((P, S), NO_MARK, dtype=np.int16)
    unplaced = 0
    if P and S:
        conn = session if isinstance(session, Connection) else session.connection()
        unplaced = fill_marks(conn, matrix, ids, meta["slots"], school_id, start, end,
                              include_off_roll=include_off_roll, only=only, code_table=CODE_TABLE)

    return RegisterMatrix(
        school_id=school_id, start=start, end=end,
        pupil_ids=ids, upns=upns, names=names, year_groups=year_groups,
        traveller=flags["traveller"], flags=flags, codes=matrix, unplaced_marks=unplaced, **meta,
    )


def register_from_marks(
    calendar: SchoolCalendar,
    start: dt.date,
    end: dt.date,
    pupils: list[dict],
    marks: Iterable[tuple[int, dt.date, str, str]],
) -> RegisterMatrix:
    """Build a register in memory (tests, what-if runs): ``pupils`` are dicts with ``id``,
    ``upn`` and optionally ``name``, ``year_group`` and any pupil flag; ``marks`` are
    (pupil_id, date, session, code)."""
    meta = _slot_metadata(calendar, start, end)
    pupils = sorted(pupils, key=lambda p: p["id"])
    P = len(pupils)
    pupil_ids = np.array([p["id"] for p in pupils], dtype=np.int64)
    flags = {f: np.array([bool(p.get(f, False)) for p in pupils], dtype=bool) for f in PUPIL_FLAGS}
    matrix = np.full((P, len(meta["slots"])), NO_MARK, dtype=np.int16)
    row_of = {int(pid): i for i, pid in enumerate(pupil_ids)}
    slot_of = {ds: i for i, ds in enumerate(meta["slots"])}
    unplaced = 0
    for pid, d, sess, code in marks:
        s = slot_of.get((d, sess))
        if s is None:
            unplaced += 1
            continue
        matrix[row_of[pid], s] = CODE_INDEX[code]
    return RegisterMatrix(
        school_id=0, start=start, end=end, pupil_ids=pupil_ids,
        upns=np.array([p["upn"] for p in pupils], dtype=object),
        names=np.array([p.get("name", p["upn"]) for p in pupils], dtype=object),
        year_groups=np.array([p.get("year_group", 0) for p in pupils], dtype=np.int16),
        traveller=flags["traveller"], flags=flags, codes=matrix, unplaced_marks=unplaced, **meta,
    )


def run_lengths(m: np.ndarray) -> np.ndarray:
    """For a boolean (P, N) matrix, the length of the run of Trues ending at each cell."""
    if m.shape[1] == 0:
        return np.zeros(m.shape, dtype=np.int32)
    idx = np.arange(m.shape[1], dtype=np.int32)
    last_false = np.maximum.accumulate(np.where(m, -1, idx), axis=1)
    return np.where(m, idx - last_false, 0).astype(np.int32)
