"""Deadlines past the last term date a school has entered (issue 10, item 4).

Great Chart, Kent, 2025-26: Summer 2 ends Tue 21 Jul 2026 but 20-21 Jul are staff
development days, so the last school day is Fri 17 Jul. England's summer bank holiday
is Mon 31 Aug 2026. Every date below is counted by hand from tests/data/kent-great-chart-2025-26.csv
and the demo's Kent 2026-27 dates (Term 1 from Tue 1 Sep 2026, 1 Sep an INSET day)."""

from __future__ import annotations

import datetime as dt

from sqlmodel import select

from casework.clock import LONDON, FixedClock, at
from casework.jobs.replay import replay
from casework.register.importer import import_calendar
from casework.register.store import load_calendar
from casework.store.casemodels import Case, Timer
from casework.timers import outstanding_deadlines, provisional

D = dt.date


def test_counting_past_the_last_term_date_uses_weekdays_less_bank_holidays(session, make_school):
    cal = load_calendar(session, make_school(session).id)
    assert cal.last_day == D(2026, 7, 17)
    assert cal.count_school_days(D(2026, 7, 13), 4) == (D(2026, 7, 17), False)  # inside the calendar: exact
    # 4 school days to Fri 17 Jul, then weekdays: 20-24 Jul, 27-31 Jul, 3-7 Aug.
    assert cal.count_school_days(D(2026, 7, 13), 19) == (D(2026, 8, 7), True)
    # Weekdays after Fri 17 Jul: 20-24 Jul (5), 27-31 Jul (10), 3-7 Aug (15), 10-14 (20), 17-21 (25),
    # 24-28 Aug (30); Mon 31 Aug is the summer bank holiday, so the 31st is Tue 1 Sep.
    assert cal.count_school_days(D(2026, 7, 17), 30) == (D(2026, 8, 28), True)
    assert cal.count_school_days(D(2026, 7, 17), 31) == (D(2026, 9, 1), True)
    assert cal.school_weeks_after(D(2026, 6, 1)) == 6  # weeks of 8, 15, 22, 29 Jun, 6 and 13 Jul
    assert cal.school_weeks_after(D(2026, 7, 13)) == 0


def test_a_deadline_past_the_term_dates_is_provisional_and_counted_again_when_dates_arrive(
        engine, session, make_school, make_pupils, add_marks, tmp_path):
    school = make_school(session, urn="118010")
    cal = load_calendar(session, school.id)
    away, here = make_pupils(session, school, 2)
    present = [(d, s, "/") for d in cal.school_days(D(2026, 7, 6), D(2026, 7, 10)) for s in ("AM", "PM")]
    add_marks(session, here, present + [(d, s, "/") for d in cal.school_days(D(2026, 7, 13), D(2026, 7, 17))
                                        for s in ("AM", "PM")])
    add_marks(session, away, present + [(d, s, "N") for d in cal.school_days(D(2026, 7, 13), D(2026, 7, 17))
                                        for s in ("AM", "PM")])
    session.commit()

    # Before this fix the first day of the absence stopped the job: the 20-day deadline
    # (19 school days after 13 Jul) lies past the last term date.
    days = replay(engine, school.urn, D(2026, 7, 13), D(2026, 7, 21))
    assert len(days) == 9
    case = session.exec(select(Case).where(Case.pupil_id == away.id, Case.case_type == "unexplained_absence")).one()
    cme = session.exec(select(Timer).where(Timer.case_id == case.id, Timer.kind == "cme_twenty_days")).one()
    assert provisional(cme, load_calendar(session, school.id)) and cme.due_at.astimezone(LONDON).date() == D(2026, 8, 7)
    assert (cme.count_from, cme.school_days) == (D(2026, 7, 13), 19)
    # The 5-day safe and well check is provisional too: 14, 15, 16 and 17 Jul are school days, then
    # Mon 20 Jul (a staff development day, so not a school day) is counted as a weekday.
    sw = session.exec(select(Timer).where(Timer.case_id == case.id, Timer.kind == "safe_and_well")).one()
    assert sw.due_at.astimezone(LONDON).date() == D(2026, 7, 20) and provisional(sw, load_calendar(session, school.id))
    # A first-day deadline counted in hours is never provisional.
    first = session.exec(select(Timer).where(Timer.case_id == case.id, Timer.kind == "first_day_contact")).one()
    assert not provisional(first, load_calendar(session, school.id))
    shown = {d.kind: d for d in outstanding_deadlines(session, school.id, now=at(D(2026, 7, 17), dt.time(9)))}
    assert shown["cme_twenty_days"].provisional == "provisional: term dates after 21 Jul 2026 not entered"

    # The school enters 2026-27's autumn dates: 4 school days were counted before the summer,
    # 15 remain from Wed 2 Sep (1 Sep an INSET day): 2-4 Sep (3), 7-11 (8), 14-18 (13), 21, 22 Sep.
    autumn = tmp_path / "autumn.csv"
    autumn.write_text("start,end,kind,label\n2026-09-01,2026-10-16,term,Term 1 2026\n"
                      "2026-09-01,2026-09-01,closure,INSET day\n2026-11-02,2026-12-18,term,Term 2 2026\n")
    result = import_calendar(session, school, autumn, clock=FixedClock(at(D(2026, 7, 22), dt.time(9))), by="admin")
    session.commit()
    session.refresh(cme)
    assert not provisional(cme, load_calendar(session, school.id))
    assert cme.due_at == at(D(2026, 9, 22), cme.due_at.astimezone(LONDON).time())
    assert any("provisional deadline" in n for n in result.notes)
