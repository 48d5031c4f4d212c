"""Issue 11: where casework was wrong in law, worked by hand on Great Chart's 2025-26
calendar (tests/data/kent-great-chart-2025-26.csv). Summer 1 runs 20 Apr - 22 May 2026;
Mon 4 May is the early May bank holiday; half term is 25-29 May; Summer 2 starts 1 Jun."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlmodel import select

from casework.casemodels import Case, Timer
from casework.register import load_calendar
from casework.replay import lapsed_on, replay

D = dt.date


def _marks(calendar, start, end, code="/"):
    return [(d, s, code) for d in calendar.school_days(start, end) for s in ("AM", "PM")]


@pytest.fixture
def great_chart(session, make_school):
    school = make_school(session, "great-chart", urn="118001")
    session.commit()
    return school


def _case(session, pupil) -> Case:
    return session.exec(select(Case).where(Case.pupil_id == pupil.id, Case.case_type == "unexplained_absence",
                                           Case.concern_start == D(2026, 4, 30))).one()


def _timer(session, pupil, kind) -> Timer:
    case = _case(session, pupil)
    return session.exec(select(Timer).where(Timer.case_id == case.id, Timer.kind == kind)).one()


def test_a_return_meets_the_safe_and_well_and_cme_deadlines(engine, session, great_chart, make_pupils, add_marks):
    cal = load_calendar(session, great_chart.id)
    returned, missing, traveller_leave = make_pupils(session, great_chart, 3)
    # Day 1 of each absence is Thu 30 Apr 2026. Counting school days after it:
    # Fri 1 May (1), [Mon 4 May bank holiday], Tue 5 (2), Wed 6 (3), Thu 7 (4), Fri 8 (5) -> the
    # safe-and-well check (5 school days) is due Fri 8 May; ... Fri 22 May (15), [half term],
    # Mon 1 Jun (16), Tue 2 (17), Wed 3 (18), Thu 4 Jun (19) -> the 20th day of absence, when the
    # CME deadline (19 school days after day 1) falls due.
    assert cal.add_school_days(D(2026, 4, 30), 5) == D(2026, 5, 8)
    assert cal.add_school_days(D(2026, 4, 30), 19) == D(2026, 6, 4)
    for p in (returned, missing, traveller_leave):
        add_marks(session, p, _marks(cal, D(2026, 4, 27), D(2026, 4, 29)))
    # away Thu 30 Apr, Fri 1 May and Tue 5 May with no reason; back on Wed 6 May and every day since
    add_marks(session, returned, _marks(cal, D(2026, 4, 30), D(2026, 5, 5), "N"))
    add_marks(session, returned, _marks(cal, D(2026, 5, 6), D(2026, 6, 4)))
    # never back: 20 continuous school days of unauthorised absence
    add_marks(session, missing, _marks(cal, D(2026, 4, 30), D(2026, 6, 4), "N"))
    # away throughout, but Mon 18 May was authorised (T): the run is not 20 unauthorised days
    add_marks(session, traveller_leave, _marks(cal, D(2026, 4, 30), D(2026, 5, 15), "N"))
    add_marks(session, traveller_leave, _marks(cal, D(2026, 5, 18), D(2026, 5, 18), "T"))
    add_marks(session, traveller_leave, _marks(cal, D(2026, 5, 19), D(2026, 6, 4), "N"))
    session.commit()

    days = replay(engine, great_chart.urn, D(2026, 4, 30), D(2026, 6, 4))
    assert lapsed_on(days, "safe_and_well", returned.upn) == []
    assert lapsed_on(days, "safe_and_well", missing.upn) == ["2026-05-08"]
    assert lapsed_on(days, "cme_twenty_days", missing.upn) == ["2026-06-04"]
    assert lapsed_on(days, "cme_twenty_days", returned.upn) == []
    assert lapsed_on(days, "cme_twenty_days", traveller_leave.upn) == []

    back = _timer(session, returned, "cme_twenty_days")
    assert back.status == "met" and "returned to school on Wed 06 May 2026" in back.outcome
    assert _timer(session, returned, "safe_and_well").status == "met"
    authorised = _timer(session, traveller_leave, "cme_twenty_days")
    assert authorised.status == "met" and "authorised on Mon 18 May 2026" in authorised.outcome
    case = _case(session, returned)
    assert "refer_cme" not in [p["event"] for p in case.proposals]
    assert "safe_and_well_check" not in [p["event"] for p in case.proposals]
    case = _case(session, missing)
    assert "refer_cme" in [p["event"] for p in case.proposals]


def test_ten_continuous_school_days_without_permission_tell_the_la(engine, session, great_chart, make_pupils,
                                                                    add_marks):
    from casework.casemodels import LetterRequest
    from casework.cases import Actor, CaseWorld, move_case
    from casework.clock import LONDON, FixedClock, at

    cal = load_calendar(session, great_chart.id)
    away, ill_one_day = make_pupils(session, great_chart, 2)
    # Mon 11 May (1) ... Fri 15 May (5), Mon 18 (6) ... Fri 22 May 2026 (10): the tenth continuous
    # school day without permission is Fri 22 May. The next school day is Mon 1 Jun (half term 25-29 May).
    assert len(cal.school_days(D(2026, 5, 11), D(2026, 5, 22))) == 10
    assert cal.add_school_days(D(2026, 5, 22), 1) == D(2026, 6, 1)
    for p in (away, ill_one_day):
        add_marks(session, p, _marks(cal, D(2026, 5, 4), D(2026, 5, 8)))
    add_marks(session, away, _marks(cal, D(2026, 5, 11), D(2026, 5, 15), "O"))
    add_marks(session, away, _marks(cal, D(2026, 5, 18), D(2026, 5, 22), "G"))
    # the same, but Thu 14 May was authorised illness: 6 days (Fri 15 - Fri 22), not 10
    add_marks(session, ill_one_day, _marks(cal, D(2026, 5, 11), D(2026, 5, 13), "O"))
    add_marks(session, ill_one_day, _marks(cal, D(2026, 5, 14), D(2026, 5, 14), "I"))
    add_marks(session, ill_one_day, _marks(cal, D(2026, 5, 15), D(2026, 5, 22), "O"))
    session.commit()

    days = replay(engine, great_chart.urn, D(2026, 5, 20), D(2026, 5, 22))
    opened = [(o["upn"], o["type"], d["date"]) for d in days for st in d["steps"] for o in st["cases_opened"]
              if o["type"] == "continuous_absence"]
    assert opened == [(away.upn, "continuous_absence", "2026-05-22")]
    case = session.exec(select(Case).where(Case.pupil_id == away.id, Case.case_type == "continuous_absence")).one()
    assert case.safeguarding and [p["event"] for p in case.proposals] == ["tell_la_continuous_absence"]
    timer = session.exec(select(Timer).where(Timer.case_id == case.id)).one()
    assert timer.kind == "la_told_of_continuous_absence"
    assert timer.due_at.astimezone(LONDON) == at(D(2026, 6, 1), dt.time(16))

    clock = FixedClock(at(D(2026, 5, 26), dt.time(10)))
    move_case(CaseWorld.load(session, case, clock), "tell_la_continuous_absence",
              Actor("dsl", "dsl", "Dee Lead"))
    session.commit()
    session.refresh(timer)
    assert timer.status == "met"
    letter = session.exec(select(LetterRequest).where(LetterRequest.case_id == case.id)).one()
    assert letter.template == "continuous_absence_notice"
