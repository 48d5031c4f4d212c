"""A local authority's worth of schools for the benchmarks: real term dates, pupils with
flags, and a school year of marks with a believable spread of absence.

    world = build("sqlite:///la.db", pupils=20_000)   # or a postgresql:// URL of an empty database

Every school is on Kent's real calendar (``casework/data/demo-calendar.csv``) and the
national workflow. Marks run from 1 September 2025 to ``TODAY`` (the last Friday
before the summer); the last two school days (``World.held_back``) are held back, to be
imported a day at a time (``day_csvs``) as a school's MIS would send them. The spread, per school (figures are shares of pupils):

- present most days; a scattering of lates (L, U), appointments (M), N, O and leave (C);
- 0-4 illness spells of 1-6 days each (Poisson, mean 1.5);
- 8 % take 5-10 days of term-time holiday (G);
- 7 % persistent absentees, missing 12-25 % of sessions (O and I), 1.5 % severe, missing 50-70 % (N, O);
- 1 % miss most Fridays (I); 1 % Traveller families away for 100 sessions in the autumn (T).

Marks are written in bulk (SQLite ``executemany``, PostgreSQL ``COPY FROM STDIN``); only the
day's import goes through ``casework import marks``, so only that is a figure of casework.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from sqlalchemy import insert, select
from sqlalchemy.engine import Engine

from casework.register.calendar import CalendarEntry, SchoolCalendar
from casework.register.upn import make_upn
from casework.rules.register_data import CODE_INDEX, CODE_TABLE
from casework.store.db import make_engine, session_scope
from casework.store.models import PUPIL_FLAGS, CalendarDay, Pupil, School

CALENDAR_CSV = Path(__file__).resolve().parent.parent / "casework" / "data" / "demo-calendar.csv"
YEAR_START = dt.date(2025, 9, 1)
TODAY = dt.date(2026, 7, 17)  # the day whose marks are imported (a Friday, the last week of the year)
STAMP = dt.datetime(2025, 9, 1, 8, 0, tzinfo=dt.UTC)
FLAG_SHARES = {"fsm": 0.25, "pupil_premium": 0.28, "send": 0.15, "ehc_plan": 0.03, "eal": 0.2,
               "social_worker": 0.02, "child_in_need": 0.02, "child_protection_plan": 0.01,
               "looked_after": 0.01, "young_carer": 0.02}


def read_calendar() -> list[CalendarEntry]:
    with CALENDAR_CSV.open() as f:
        return [CalendarEntry(dt.date.fromisoformat(r["start"]), dt.date.fromisoformat(r["end"]), r["kind"],
                              r["label"]) for r in csv.DictReader(f)]


@dataclass
class SchoolData:
    id: int
    urn: str
    pupil_ids: np.ndarray  # int64, ascending
    upns: list[str]
    codes: np.ndarray  # int16 (pupils, slots): index into CODE_TABLE, the whole year to TODAY


@dataclass
class World:
    url: str
    engine: Engine
    calendar: SchoolCalendar
    slots: list[tuple[dt.date, str]]  # every session from YEAR_START to TODAY
    schools: list[SchoolData] = field(default_factory=list)

    @property
    def n_pupils(self) -> int:
        return sum(len(s.pupil_ids) for s in self.schools)

    @property
    def held_back(self) -> list[dt.date]:
        """The school days whose marks are not in the history: imported by the benchmark."""
        return sorted({d for d, _ in self.slots})[-2:]

    @property
    def history_columns(self) -> int:
        return sum(1 for d, _ in self.slots if d < self.held_back[0])

    @property
    def history_marks(self) -> int:
        return sum(len(s.pupil_ids) for s in self.schools) * self.history_columns


def school_codes(rng: np.random.Generator, n: int, slots: list[tuple[dt.date, str]]) -> np.ndarray:
    """A school's year of marks as code indexes (see the module docstring for the spread)."""
    S = len(slots)
    pm = np.array([s == "PM" for _, s in slots])
    out = np.where(pm, CODE_INDEX["\\"], CODE_INDEX["/"]).astype(np.int16)[None, :].repeat(n, axis=0)
    for code, p in (("L", 0.02), ("U", 0.004), ("O", 0.003), ("M", 0.004), ("N", 0.002), ("C", 0.002)):
        out[rng.random((n, S)) < p] = CODE_INDEX[code]
    days = S // 2
    spells = rng.poisson(1.5, n)
    for pupil in np.flatnonzero(spells):
        for _ in range(spells[pupil]):
            start = int(rng.integers(0, days)) * 2
            out[pupil, start:start + 2 * int(rng.integers(1, 7))] = CODE_INDEX["I"]
    for pupil in rng.choice(n, n * 8 // 100, replace=False):
        start = int(rng.integers(0, days - 10)) * 2
        out[pupil, start:start + 2 * int(rng.integers(5, 11))] = CODE_INDEX["G"]
    pa = rng.choice(n, n * 85 // 1000, replace=False)
    for k, pupil in enumerate(pa):
        severe = k < n * 15 // 1000
        rate = rng.uniform(0.5, 0.7) if severe else rng.uniform(0.12, 0.25)
        missed = rng.random(S) < rate
        out[pupil, missed] = np.where(rng.random(int(missed.sum())) < 0.5, CODE_INDEX["N" if severe else "I"],
                                      CODE_INDEX["O"])
    fridays = np.array([d.weekday() == 4 for d, _ in slots])
    for pupil in rng.choice(n, max(1, n // 100), replace=False):
        out[pupil, fridays & (rng.random(S) < 0.8)] = CODE_INDEX["I"]
    for pupil in rng.choice(n, max(1, n // 100), replace=False):
        out[pupil, 40:140] = CODE_INDEX["T"]
    return out


def build(url: str, pupils: int, schools: int | None = None, seed: int = 14) -> World:
    """Make the schools, their pupils and a year of marks on an empty database at ``url``."""
    n_schools = schools or max(1, round(pupils / 500))
    engine = make_engine(url)
    entries = read_calendar()
    calendar = SchoolCalendar(entries)
    world = World(url, engine, calendar, calendar.sessions(YEAR_START, TODAY))
    rng = np.random.default_rng(seed)
    sizes = np.full(n_schools, pupils // n_schools)
    sizes[: pupils % n_schools] += 1
    for j, size in enumerate(sizes):
        world.schools.append(_add_school(engine, j, int(size), entries, rng, world.slots))
    with _mark_indexes_built_after(engine):
        for sd in world.schools:
            _write_history(engine, sd, world.slots[: world.history_columns])
    return world


@contextlib.contextmanager
def _mark_indexes_built_after(engine: Engine):
    """The mark table's index by school and date is dropped while the history is written and
    built again after (the same name and columns): a pupil's year arrives in date order, so
    keeping that index up to date row by row touches it all over. On PostgreSQL the unique
    constraint goes the same way (SQLite's cannot be dropped; it grows in order anyway). Then
    ANALYZE, as after any bulk load."""
    if engine.dialect.name != "postgresql":
        with engine.begin() as conn:
            conn.exec_driver_sql("DROP INDEX ix_mark_school_date")
        yield
        with engine.begin() as conn:
            conn.exec_driver_sql("CREATE INDEX ix_mark_school_date ON mark (school_id, date)")
            conn.exec_driver_sql("ANALYZE")
        return
    with engine.begin() as conn:
        unique = conn.exec_driver_sql("SELECT conname FROM pg_constraint WHERE conrelid = 'mark'::regclass "
                                      "AND contype = 'u'").scalar_one()
        conn.exec_driver_sql(f'ALTER TABLE mark DROP CONSTRAINT "{unique}"')
        conn.exec_driver_sql("DROP INDEX ix_mark_school_date")
    yield
    with engine.begin() as conn:
        conn.exec_driver_sql(f'ALTER TABLE mark ADD CONSTRAINT "{unique}" UNIQUE (pupil_id, date, session)')
        conn.exec_driver_sql("CREATE INDEX ix_mark_school_date ON mark (school_id, date)")
        conn.exec_driver_sql("ANALYZE")


def _add_school(engine: Engine, j: int, size: int, entries, rng, slots) -> SchoolData:
    with session_scope(engine) as s:
        school = School(urn=f"{900000 + j}", name=f"Benchmark School {j + 1}", local_authority="Benchmark LA",
                        workflow="national")
        s.add(school)
        s.flush()
        for e in entries:
            s.add(CalendarDay(school_id=school.id, start=e.start, end=e.end, kind=e.kind, label=e.label))
        flags = {f: rng.random(size) < FLAG_SHARES.get(f, 0.0) for f in PUPIL_FLAGS}
        upns = [make_upn(886, 2000 + j, 10 + k // 1000, k % 1000) for k in range(size)]
        s.connection().execute(insert(Pupil.__table__), [
            dict(school_id=school.id, upn=upns[k], forename=f"Pupil{k}", surname=f"School{j + 1}",
                 date_of_birth=dt.date(2015, 1, 1), year_group=k % 7, on_roll=True,
                 **{f: bool(flags[f][k]) for f in PUPIL_FLAGS})
            for k in range(size)])
        rows = s.execute(select(Pupil.id, Pupil.upn).where(Pupil.school_id == school.id).order_by(Pupil.id)).all()
    codes = school_codes(rng, size, slots)
    traveller = codes[:, 40:140].min(axis=1) == CODE_INDEX["T"]
    with engine.begin() as conn:
        ids = [r[0] for r in rows]
        for pid in np.array(ids)[traveller]:
            conn.execute(Pupil.__table__.update().where(Pupil.id == int(pid)).values(traveller=True))
    return SchoolData(school.id, school.urn, np.array(ids, dtype=np.int64), [r[1] for r in rows], codes)


def _write_history(engine: Engine, sd: SchoolData, history) -> None:
    """Every mark of the history, in bulk."""
    if engine.dialect.name == "postgresql":
        _copy_marks(engine, sd, history)
        return
    days = [d.isoformat() for d, _ in history]
    sessions = [s for _, s in history]
    stamp = STAMP.strftime("%Y-%m-%d %H:%M:%S.%f")
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        cur.execute("PRAGMA cache_size=-262144")  # 256 MiB: the mark indexes stay in memory while they grow
        for row, pid in enumerate(sd.pupil_ids.tolist()):
            codes = [CODE_TABLE[i] for i in sd.codes[row, : len(history)].tolist()]
            cur.executemany(
                "INSERT INTO mark (school_id, pupil_id, date, session, code, minutes_late, recorded_by, recorded_at) "
                "VALUES (?, ?, ?, ?, ?, NULL, 'history', ?)",
                [(sd.id, pid, d, sess, c, stamp) for d, sess, c in zip(days, sessions, codes)])
        raw.commit()
        cur.execute("PRAGMA cache_size=-2000")  # SQLite's default again, before casework has the connection
    finally:
        raw.close()


def _copy_marks(engine: Engine, sd: SchoolData, history) -> None:
    escaped = [c.replace("\\", "\\\\") for c in CODE_TABLE]
    prefix = [f"\t{d.isoformat()}\t{sess}\t" for d, sess in history]
    tail = f"\t\\N\thistory\t{STAMP.isoformat()}\n"
    raw = engine.raw_connection()
    try:
        with raw.driver_connection.cursor() as cur:
            # Foreign keys not checked a row at a time (the ids come from the tables); needs a superuser.
            # LOCAL: for this transaction only, so the pooled connection goes back with the checks
            # on, and the benchmark's own import later pays for them as a school's would.
            try:
                cur.execute("SET LOCAL session_replication_role = replica")
            except Exception:  # noqa: BLE001 - an ordinary user copies with the checks on
                raw.rollback()
        with raw.driver_connection.cursor() as cur, cur.copy(
            "COPY mark (school_id, pupil_id, date, session, code, minutes_late, recorded_by, recorded_at) FROM STDIN"
        ) as copy:
            for row, pid in enumerate(sd.pupil_ids.tolist()):
                head = f"{sd.id}\t{pid}"
                codes = sd.codes[row, : len(history)].tolist()
                copy.write("".join(head + p + escaped[c] + tail for p, c in zip(prefix, codes)))
        raw.commit()
    finally:
        raw.close()


def day_csvs(world: World, folder: Path, day: dt.date) -> list[tuple[SchoolData, Path]]:
    """``day``'s marks of each school as the CSV an MIS would export (``casework import marks``)."""
    folder.mkdir(parents=True, exist_ok=True)
    cols = [(i, sess) for i, (d, sess) in enumerate(world.slots) if d == day]
    out = []
    for sd in world.schools:
        path = folder / f"marks-{sd.urn}-{day.isoformat()}.csv"
        with path.open("w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["upn", "date", "session", "code"])
            for col, sess in cols:
                w.writerows([upn, day.isoformat(), sess, CODE_TABLE[c]] for upn, c in zip(sd.upns, sd.codes[:, col].tolist()))
        out.append((sd, path))
    return out
