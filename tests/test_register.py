"""The register: taking marks, amendments that keep the original, and past states."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import Session, select

from casework.clock import LONDON, FixedClock
from casework.register.store import (
    Amender,
    RegisterError,
    amendments_for,
    load_calendar,
    record_mark,
    register_as_of,
)
from casework.store.models import Mark, MarkAmendment

WED = dt.date(2025, 9, 3)  # first day for pupils at Great Chart
OFFICER = Amender("Dana Whitfield", "Attendance officer")
TEACHER = Amender("Grace Liu", "Class teacher")


def at(h: int, m: int = 0, day: dt.date = WED) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(h, m), tzinfo=LONDON)


@pytest.fixture
def setup(session, make_school, make_pupils):
    school = make_school(session, "great-chart")
    (pupil,) = make_pupils(session, school, 1)
    cal = load_calendar(session, school.id)
    return school, pupil, cal


def count(session: Session, model) -> int:
    return len(session.exec(select(model)).all())


def test_record_mark_keeps_who_and_when(session, setup):
    _, pupil, cal = setup
    clock = FixedClock(at(9, 5))
    mark = record_mark(session, pupil, WED, "AM", "L", calendar=cal, clock=clock, by=TEACHER, minutes_late=7)
    assert (mark.code, mark.minutes_late, mark.recorded_by) == ("L", 7, "Grace Liu")
    assert mark.recorded_at == at(9, 5)
    assert count(session, MarkAmendment) == 0


def test_marks_only_on_school_sessions_and_known_codes(session, setup):
    _, pupil, cal = setup
    clock = FixedClock(at(9, 5))
    with pytest.raises(RegisterError, match="weekend"):
        record_mark(session, pupil, dt.date(2025, 9, 6), "AM", "/", calendar=cal, clock=clock, by=TEACHER)
    with pytest.raises(RegisterError, match="closure"):  # INSET
        record_mark(session, pupil, dt.date(2025, 9, 1), "AM", "/", calendar=cal, clock=clock, by=TEACHER)
    with pytest.raises(RegisterError, match="bank holiday"):
        record_mark(session, pupil, dt.date(2026, 5, 4), "PM", "/", calendar=cal, clock=clock, by=TEACHER)
    with pytest.raises(KeyError, match="Q9"):
        record_mark(session, pupil, WED, "AM", "Q9", calendar=cal, clock=clock, by=TEACHER)
    assert count(session, Mark) == 0


def test_amendment_keeps_original_amended_reason_date_name_position(session, setup):
    _, pupil, cal = setup
    clock = FixedClock(at(9, 5))
    record_mark(session, pupil, WED, "AM", "N", calendar=cal, clock=clock, by=TEACHER)
    clock.set(at(10, 30))
    mark = record_mark(session, pupil, WED, "AM", "I", calendar=cal, clock=clock, by=OFFICER,
                       reason="Mother phoned at 10:20: ill")
    assert mark.code == "I"
    assert mark.recorded_by == "Grace Liu"  # the original entry's author is not overwritten
    (a,) = amendments_for(session, pupil.id)
    assert (a.original_code, a.amended_code) == ("N", "I")
    assert a.reason == "Mother phoned at 10:20: ill"
    assert a.amended_at == at(10, 30)
    assert (a.amended_by_name, a.amended_by_position) == ("Dana Whitfield", "Attendance officer")
    assert (a.date, a.session, a.mark_id) == (WED, "AM", mark.id)
    assert count(session, Mark) == 1


def test_minutes_late_change_is_an_amendment_too(session, setup):
    _, pupil, cal = setup
    clock = FixedClock(at(9, 5))
    record_mark(session, pupil, WED, "AM", "L", calendar=cal, clock=clock, by=TEACHER, minutes_late=5)
    clock.set(at(11))
    record_mark(session, pupil, WED, "AM", "L", calendar=cal, clock=clock, by=OFFICER, minutes_late=12,
                reason="Signing-in book says 9:02")
    (a,) = amendments_for(session, pupil.id)
    assert (a.original_code, a.original_minutes_late, a.amended_code, a.amended_minutes_late) == ("L", 5, "L", 12)


def test_the_same_mark_again_is_not_an_amendment(session, setup):
    _, pupil, cal = setup
    clock = FixedClock(at(9, 5))
    record_mark(session, pupil, WED, "AM", "/", calendar=cal, clock=clock, by=TEACHER)
    record_mark(session, pupil, WED, "AM", "/", calendar=cal, clock=clock, by=TEACHER)
    assert count(session, Mark) == 1
    assert count(session, MarkAmendment) == 0


@pytest.mark.parametrize("reason,by", [
    (None, OFFICER),
    ("", OFFICER),
    ("   ", OFFICER),
    ("Parent phoned", Amender("Dana Whitfield", "")),
    ("Parent phoned", Amender("", "Attendance officer")),
])
def test_amendment_without_reason_name_or_position_is_refused_and_nothing_changes(session, setup, reason, by):
    _, pupil, cal = setup
    clock = FixedClock(at(9, 5))
    record_mark(session, pupil, WED, "AM", "N", calendar=cal, clock=clock, by=TEACHER)
    session.commit()
    clock.set(at(10, 30))
    with pytest.raises(RegisterError):
        record_mark(session, pupil, WED, "AM", "I", calendar=cal, clock=clock, by=by, reason=reason)
    session.rollback()
    assert [m.code for m in session.exec(select(Mark))] == ["N"]
    assert count(session, MarkAmendment) == 0


def test_register_as_of_shows_past_states(session, setup):
    _, pupil, cal = setup
    thu = WED + dt.timedelta(days=1)
    clock = FixedClock(at(9, 5))
    record_mark(session, pupil, WED, "AM", "N", calendar=cal, clock=clock, by=TEACHER)
    clock.set(at(13, 35))
    record_mark(session, pupil, WED, "PM", "N", calendar=cal, clock=clock, by=TEACHER)
    clock.set(at(15, 0))
    record_mark(session, pupil, WED, "AM", "I", calendar=cal, clock=clock, by=OFFICER, reason="Phoned: ill")
    clock.set(at(9, 0, thu))
    record_mark(session, pupil, WED, "AM", "M", calendar=cal, clock=clock, by=OFFICER, reason="Letter: dentist")
    record_mark(session, pupil, thu, "AM", "/", calendar=cal, clock=clock, by=TEACHER)

    def codes(moment):
        return [(m.date, m.session, m.code) for m in register_as_of(session, pupil.id, moment)]

    assert codes(at(9, 0)) == []                                    # before any mark existed
    assert codes(at(9, 5)) == [(WED, "AM", "N")]                    # the moment it was taken
    assert codes(at(12, 0)) == [(WED, "AM", "N")]                   # PM not yet taken
    assert codes(at(14, 59)) == [(WED, "AM", "N"), (WED, "PM", "N")]  # just before the amendment
    assert codes(at(15, 0)) == [(WED, "AM", "I"), (WED, "PM", "N")]   # after the first amendment
    assert codes(at(8, 59, thu)) == [(WED, "AM", "I"), (WED, "PM", "N")]
    assert codes(at(9, 0, thu)) == [(WED, "AM", "M"), (WED, "PM", "N"), (thu, "AM", "/")]
    assert [(a.original_code, a.amended_code) for a in amendments_for(session, pupil.id)] == [("N", "I"), ("I", "M")]


CODES = st.sampled_from(["/", "\\", "L", "N", "I", "M", "G", "O", "U", "V", "X", "T", "C"])


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(first=CODES, changes=st.lists(st.tuples(CODES, st.integers(1, 600)), max_size=8))
def test_history_is_never_lost(engine, make_school, make_pupils, first, changes):
    """Any sequence of amendments: the register as of each moment shows the entry then."""
    with Session(engine, expire_on_commit=False) as session:
        school = make_school(session, "great-chart")
        (pupil,) = make_pupils(session, school, 1)
        cal = load_calendar(session, school.id)
        clock = FixedClock(at(9, 5))
        record_mark(session, pupil, WED, "AM", first, calendar=cal, clock=clock, by=TEACHER)
        timeline = [(clock.now(), first)]
        for i, (code, minutes) in enumerate(changes):
            clock.advance(dt.timedelta(minutes=minutes))
            record_mark(session, pupil, WED, "AM", code, calendar=cal, clock=clock, by=OFFICER, reason=f"change {i}")
            timeline.append((clock.now(), code))
        session.commit()

        assert register_as_of(session, pupil.id, at(9, 4)) == []
        for moment, code in timeline:
            (m,) = register_as_of(session, pupil.id, moment)
            assert m.code == code
            (m,) = register_as_of(session, pupil.id, moment + dt.timedelta(seconds=30))
            assert m.code == code
        # Every real change left an amendment row with the entry before it.
        real = [(a, b) for (_, a), (_, b) in zip(timeline, timeline[1:]) if a != b]
        kept = [(a.original_code, a.amended_code) for a in amendments_for(session, pupil.id)]
        assert kept == real
        assert session.exec(select(Mark).where(Mark.pupil_id == pupil.id)).one().code == timeline[-1][1]
