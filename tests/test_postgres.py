"""The register on a real PostgreSQL server: import, statistics and amendments give the
same figures as on SQLite (the server is started by the ``postgres_url`` fixture)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from sqlmodel import select

from casework.clock import LONDON, FixedClock
from casework.figures.stats import breakdown, pupil_figures, pupil_flags
from casework.register.importer import ImportRejected, import_calendar, import_marks, import_pupils
from casework.register.schools import add_school
from casework.register.store import Amender, get_pupil, get_school, register_as_of
from casework.register.upn import make_upn
from casework.store.db import make_engine, session_scope, table_names
from casework.store.models import Mark, MarkAmendment

pytestmark = pytest.mark.postgres

URN = "118000"
GREAT_CHART = Path(__file__).parent / "data" / "kent-great-chart-2025-26.csv"
UPNS = [make_upn(886, 2999, 2020, i) for i in range(1, 4)]


def school_days(start: dt.date, n: int) -> list[dt.date]:
    out, day = [], start
    while len(out) < n:
        if day.weekday() < 5:
            out.append(day)
        day += dt.timedelta(days=1)
    return out


@pytest.fixture
def files(write_csv):
    pupils = write_csv("pupils.csv", "upn,forename,surname,date_of_birth,year_group,fsm", [
        f"{UPNS[0]},Amelia,Smith,2016-10-04,4,Y", f"{UPNS[1]},Noah,Patel,2016-02-14,4,N",
        f"{UPNS[2]},Isla,Nowak,2019-06-30,R,Y"])
    # 3 Sep .. 16 Sep 2025: 10 days, 20 sessions each.
    days = school_days(dt.date(2025, 9, 3), 10)
    rows = []
    for d in days:
        # Pupil 1: the worked example (Wed 3 AM L, Thu 4 AM I, Mon 8 PM V, Tue 9 AM L, Fri 12 PM G, Tue 16 PM X)
        am = {dt.date(2025, 9, 3): "L", dt.date(2025, 9, 4): "I", dt.date(2025, 9, 9): "L"}.get(d, "/")
        pm = {dt.date(2025, 9, 8): "V", dt.date(2025, 9, 12): "G", dt.date(2025, 9, 16): "X"}.get(d, "\\")
        rows += [f"{UPNS[0]},{d},AM,{am},{'5' if am == 'L' else ''}", f"{UPNS[0]},{d},PM,{pm},"]
        # Pupil 2: off every Friday (O) -> 4 of 20 = 20 %: PA
        code = "O" if d.weekday() == 4 else "/"
        rows += [f"{UPNS[1]},{d},AM,{code},", f"{UPNS[1]},{d},PM,{code},"]
        # Pupil 3: ill the first five days (I) -> 10 of 20 = 50 %: SA
        code = "I" if d < dt.date(2025, 9, 10) else "/"
        rows += [f"{UPNS[2]},{d},AM,{code},", f"{UPNS[2]},{d},PM,{code},"]
    marks = write_csv("marks.csv", "upn,date,session,code,minutes_late", rows)
    fix = write_csv("fix.csv", "upn,date,session,code", [f"{UPNS[1]},2025-09-12,AM,M"])
    bad = write_csv("bad.csv", "upn,date,session,code", [f"{UPNS[0]},2025-09-13,AM,/", f"{UPNS[0]},2025-09-15,AM,QQ"])
    return pupils, marks, fix, bad


def round_trip(engine, files) -> dict:
    """Import, reject a bad file, re-import, amend by re-import, and compute figures."""
    pupils, marks, fix, bad = files
    t0 = dt.datetime(2025, 9, 16, 18, 0, tzinfo=LONDON)
    clock = FixedClock(t0)
    with session_scope(engine) as s:
        school = add_school(s, urn=URN, name="Great Chart Primary")
        import_calendar(s, school, GREAT_CHART, clock=clock)
        import_pupils(s, school, pupils, clock=clock)
        first = import_marks(s, school, marks, clock=clock).as_dict()
    with pytest.raises(ImportRejected) as exc, session_scope(engine) as s:
        import_marks(s, get_school(s, URN), bad, clock=clock)
    problems = [(p.line, p.column) for p in exc.value.problems]
    with session_scope(engine) as s:
        again = import_marks(s, get_school(s, URN), marks, clock=clock).as_dict()
    clock.set(t0 + dt.timedelta(days=1))
    with session_scope(engine) as s:
        amended = import_marks(s, get_school(s, URN), fix, clock=clock, by=Amender("Dana Whitfield", "Attendance officer"),
                               reason="Appointment card seen").as_dict()
    with session_scope(engine) as s:
        school = get_school(s, URN)
        rows = pupil_figures(s, school.id, dt.date(2025, 9, 1), dt.date(2026, 8, 31))
        groups = [g.as_dict() for g in breakdown(rows, pupil_flags(s, school.id))]
        p2 = get_pupil(s, school, UPNS[1])
        fri_am = lambda moment: next(m.code for m in register_as_of(s, p2.id, moment)  # noqa: E731
                                     if (m.date, m.session) == (dt.date(2025, 9, 12), "AM"))
        history = (fri_am(t0), fri_am(t0 + dt.timedelta(days=1)))
        (a,) = s.exec(select(MarkAmendment)).all()
        amendment = (a.original_code, a.amended_code, a.reason, a.amended_by_name, a.amended_at)
        n_marks = len(s.exec(select(Mark)).all())
    return {
        "first": first, "again": again, "amended": amended, "problems": problems, "marks": n_marks,
        "pupils": {r.upn: r.figures.as_dict() for r in rows}, "groups": groups,
        "history": history, "amendment": amendment,
    }


def check(result: dict) -> None:
    assert (result["first"]["added"], result["again"]["unchanged"], result["amended"]["changed"]) == (60, 60, 1)
    assert result["problems"] == [(2, "date"), (3, "code")]
    assert result["marks"] == 60
    p1, p2, p3 = (result["pupils"][u] for u in UPNS)
    # Worked example: possible 19, present 17, 89.47 %, PA, not SA.
    assert (p1["possible_sessions"], p1["present"], p1["attendance_pct"], p1["persistent_absence"],
            p1["severe_absence"]) == (19, 17, 89.47, True, False)
    assert p1["absence_by_weekday"] == {"Mon": 0, "Tue": 0, "Wed": 0, "Thu": 1, "Fri": 1}
    # Pupil 2: 4 Friday sessions absent (one now M): unauthorised 3, authorised 1, 80 %.
    assert (p2["authorised"], p2["unauthorised"], p2["attendance_pct"]) == (1, 3, 80.0)
    assert p2["absence_by_weekday"]["Fri"] == 4
    # Pupil 3: 10 of 20 ill: SA; 5 illness days.
    assert (p3["severe_absence"], p3["illness_days"]) == (True, 5.0)
    whole = result["groups"][0]
    assert (whole["pupils"], whole["persistent_absentees"], whole["severe_absentees"]) == (3, 3, 1)
    assert result["history"] == ("O", "M")
    assert result["amendment"][:4] == ("O", "M", "Appointment card seen", "Dana Whitfield")
    assert result["amendment"][4] == dt.datetime(2025, 9, 17, 17, 0, tzinfo=dt.UTC)  # 18:00 BST


def test_migrations_build_the_schema_on_postgres(pg_engine):
    assert {"school", "calendar_entry", "pupil", "contact", "mark", "mark_amendment", "staff_user"} <= table_names(pg_engine)
    assert pg_engine.dialect.name == "postgresql"


def test_round_trip_on_postgres_equals_sqlite(pg_engine, files, tmp_path):
    on_pg = round_trip(pg_engine, files)
    check(on_pg)
    sqlite = make_engine(f"sqlite:///{tmp_path / 'compare.db'}")
    on_sqlite = round_trip(sqlite, files)
    check(on_sqlite)
    assert on_pg == on_sqlite


def test_every_postgres_connection_plans_each_statement_for_its_own_values(pg_engine):
    """A statement over a list of ids planned once, generically, for every later list (what
    PostgreSQL may do with a statement psycopg has prepared) took the sweep's refresh of its
    cases' next deadlines from 40 ms to 1.5 s a batch; casework's short statements gain nothing
    from JIT compilation either. Each pooled connection is set up so, a rolled-back one too."""
    from sqlalchemy import text

    with pg_engine.connect() as one, pg_engine.connect() as two:
        for conn in (one, two):
            assert conn.execute(text("SHOW plan_cache_mode")).scalar_one() == "force_custom_plan"
            assert conn.execute(text("SHOW jit")).scalar_one() == "off"
        two.rollback()
        assert two.execute(text("SHOW plan_cache_mode")).scalar_one() == "force_custom_plan"
