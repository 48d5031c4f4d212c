"""The register loaded in bulk (per-pupil binary and text aggregates parsed by numpy)
equals one built mark by mark from the ORM, on a real calendar, chunk boundaries included."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from sqlalchemy import insert, select
from test_rules_helpers import DEMO, D, add_school

from casework.rules import load_register, marks_bulk, register_from_marks
from casework.rules.register_data import CODE_TABLE
from casework.store.db import session_scope
from casework.store.models import Mark, Pupil

NOW = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
START, END = D("2025-09-01"), D("2026-07-17")  # a school year on Kent's real dates


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def any_engine(request):
    return request.getfixturevalue("engine" if request.param == "sqlite" else "pg_engine")


@pytest.fixture(autouse=True)
def small_chunks(monkeypatch):
    """Chunks far smaller than the school, so a pupil's marks straddle chunk boundaries."""
    monkeypatch.setattr(marks_bulk, "CHUNK_PUPILS", 7)


def _pupils(s, school_id: int, n: int, prefix: str, rng) -> list[int]:
    rows = [dict(school_id=school_id, upn=f"{prefix}{i:05d}", forename="Sam", surname=f"{prefix}{i}",
                 date_of_birth=D("2016-05-01"), year_group=int(rng.integers(0, 7)), on_roll=bool(rng.random() > 0.1),
                 traveller=bool(rng.random() < 0.1), fsm=bool(rng.random() < 0.3)) for i in range(n)]
    s.connection().execute(insert(Pupil.__table__), rows)
    return list(s.execute(select(Pupil.id).where(Pupil.school_id == school_id).order_by(Pupil.id)).scalars())


def _year_of_marks(pupil_ids, rng) -> list[tuple[int, dt.date, str, str]]:
    """Every session of the year for most pupils, gaps for some, every code (legacy ones too),
    and marks on days the school is shut (weekends, half term, INSET) and outside the range."""
    sessions = DEMO.sessions(D("2025-08-20"), D("2026-07-31"))
    shut = [(D("2025-09-06"), "AM"), (D("2025-10-29"), "PM"), (D("2025-09-01"), "AM"), (D("2026-04-06"), "AM")]
    marks = []
    for k, pid in enumerate(pupil_ids):
        keep = rng.random(len(sessions)) > (0.3 if k % 5 == 0 else 0.0)
        codes = rng.choice(CODE_TABLE, size=len(sessions))
        marks += [(pid, d, sess, str(c)) for (d, sess), c, kept in zip(sessions, codes, keep) if kept]
        if k % 3 == 0:
            marks += [(pid, d, sess, "O") for d, sess in shut]
        if k % 4 == 0:
            marks.append((pid, D("2025-08-29"), "AM", "G"))  # before the range (not a session either)
    return marks


def _insert(s, school_id: int, marks) -> None:
    s.connection().execute(insert(Mark.__table__), [
        dict(school_id=school_id, pupil_id=p, date=d, session=sess, code=c, recorded_at=NOW) for p, d, sess, c in marks])


def _reference(s, school_id: int, *, include_off_roll=False, only=None):
    """The register built mark by mark: every ORM row of the school's pupils in range."""
    q = select(Pupil).where(Pupil.school_id == school_id).order_by(Pupil.id)
    pupils = [p for p in s.execute(q).scalars() if (include_off_roll or p.on_roll) and (only is None or p.id in only)]
    ids = {p.id for p in pupils}
    rows = s.execute(select(Mark).where(Mark.date >= START, Mark.date <= END)).scalars()
    marks = [(m.pupil_id, m.date, m.session, m.code) for m in rows if m.pupil_id in ids]
    return register_from_marks(DEMO, START, END, [{"id": p.id, "upn": p.upn} for p in pupils], marks)


def test_bulk_load_equals_a_register_built_mark_by_mark(any_engine):
    rng = np.random.default_rng(14)
    with session_scope(any_engine) as s:
        sid = add_school(s, "140001")
        other = add_school(s, "140002")
        ours = _pupils(s, sid, 40, "A", rng)
        theirs = _pupils(s, other, 5, "B", rng)
        _insert(s, sid, _year_of_marks(ours, rng))
        _insert(s, other, _year_of_marks(theirs, rng))
    with session_scope(any_engine) as s:
        for kw in ({}, {"include_off_roll": True}, {"only": set(ours[3:17:2])}):
            ref = _reference(s, sid, **kw)
            only = kw.get("only")
            reg = load_register(s, sid, DEMO, START, END, include_off_roll=kw.get("include_off_roll", False),
                                pupil_ids=None if only is None else sorted(only))
            assert reg.pupil_ids.tolist() == ref.pupil_ids.tolist() and len(reg.pupil_ids) > 0
            assert reg.slots == ref.slots
            assert np.array_equal(reg.codes, ref.codes), kw
            assert reg.unplaced_marks == ref.unplaced_marks > 0
            # every code of the table reached the matrix, legacy and two-letter codes too
            if not kw:
                assert set(np.unique(reg.codes[reg.codes >= 0]).tolist()) == set(range(len(CODE_TABLE)))
        # a connection works as well as a session, and sees the same
        reg = load_register(s.connection(), sid, DEMO, START, END)
        assert np.array_equal(reg.codes, _reference(s, sid).codes)


def test_bulk_load_of_an_unmarked_school_is_all_no_mark(any_engine):
    rng = np.random.default_rng(1)
    with session_scope(any_engine) as s:
        sid = add_school(s, "140003")
        _pupils(s, sid, 3, "C", rng)
    with session_scope(any_engine) as s:
        reg = load_register(s, sid, DEMO, START, END)
    assert reg.codes.shape == (len(reg.pupil_ids), DEMO.session_count(START, END)) and (reg.codes == -1).all()


@pytest.mark.parametrize("bad", ["ZZ", "/X", "ABC", "é"])
def test_an_unknown_code_in_the_register_is_named(any_engine, bad):
    rng = np.random.default_rng(2)
    with session_scope(any_engine) as s:
        sid = add_school(s, "140004")
        a, b = _pupils(s, sid, 2, "D", rng)
        with s.no_autoflush:
            s.execute(Pupil.__table__.update().values(on_roll=True))
        _insert(s, sid, [(a, D("2025-09-03"), "AM", "/"), (b, D("2025-09-03"), "AM", bad)])
    with session_scope(any_engine) as s, pytest.raises(ValueError, match=f"unknown attendance code '{bad}'"):
        load_register(s, sid, DEMO, START, END)
