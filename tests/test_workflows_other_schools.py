"""Thomas Russell Junior (Staffordshire), Frisby (Leicestershire) and Mason Moor
(Southampton): scenarios from each policy through evaluation and moves.

Most run on the real Kent (Great Chart) 2025-26 calendar: the bank holiday (Mon 4 May
2026), half terms and INSET days are real. Thomas Russell's deadlines are also checked on
a real Staffordshire 2025-26 calendar (a Staffordshire primary's published dates:
190 days, INSET 1 Sep, 23-24 Oct, 22 May and 20 Jul)."""

from __future__ import annotations

import datetime as dt

import pytest
from workflow_scenarios import SchoolWorld, at, due_local, proposed

D = dt.date
NN = ("AM", "PM")


def _school(session, engine, make_school, name):
    return SchoolWorld(session, engine, make_school(session, workflow=name), name)


# -- Thomas Russell Junior ------------------------------------------------------------


@pytest.fixture
def trjs(session, engine, make_school):
    return _school(session, engine, make_school, "thomas-russell-junior")


def test_trjs_below_the_975_target_proposes_a_letter(trjs, make_pupils):
    p = trjs.pupil(make_pupils)
    trjs.register(p, D(2025, 9, 3), D(2025, 10, 17), {(D(2025, 9, 8), s): "M" for s in NN})  # 64/66 = 97.0%
    trjs.evaluate(at(D(2025, 10, 17)))
    [case] = trjs.cases(p, "attendance")
    [f] = trjs.findings(case)
    assert "97.0%" in f.summary and "below the 97.5% target" in f.summary
    assert proposed(case) == {"send_letter"}


def test_trjs_day_three_visit_counts_school_days_across_the_may_bank_holiday(trjs, make_pupils):
    p = trjs.pupil(make_pupils)
    days = [D(2026, 5, 1), D(2026, 5, 5), D(2026, 5, 6)]  # Mon 4 May is the early May bank holiday
    trjs.register(p, D(2026, 4, 27), D(2026, 5, 1), {(D(2026, 5, 1), s): "N" for s in NN})
    trjs.evaluate(at(D(2026, 5, 1), 10))
    [case] = trjs.cases(p, "unexplained_absence")
    assert due_local(trjs.timers(case, "home_visit_if_no_contact")[0]) == dt.datetime(2026, 5, 6, 12, 0)
    # §20: a safe and well check when absent more than 5 days: the 6th school day, Mon 11 May.
    assert due_local(trjs.timers(case, "safe_and_well")[0]).date() == D(2026, 5, 11)
    assert trjs.timers(case, "home_visit_day_one") == []  # no prior concerns: no first-day visit
    trjs.register(p, D(2026, 5, 5), D(2026, 5, 6), {(d, s): "N" for d in days[1:] for s in NN})
    trjs.evaluate(at(D(2026, 5, 6), 12, 30))
    case = trjs.cases(p, "unexplained_absence")[0]
    assert case.safeguarding and trjs.safeguarding_queue(case)


def test_trjs_day_three_visit_on_a_staffordshire_calendar_skips_inset_and_half_term(session, engine, make_school,
                                                                                   make_pupils):
    from pathlib import Path

    cal = Path(__file__).parent / "data" / "staffordshire-lonsdale-2025-26.csv"
    trjs = SchoolWorld(session, engine, make_school(session, cal, workflow="thomas-russell-junior"),
                       "thomas-russell-junior")
    p = trjs.pupil(make_pupils)
    # Absent with no word on Wed 22 Oct 2025. Thu 23 and Fri 24 Oct are INSET days and
    # 27-31 Oct is half term, so day 2 is Mon 3 Nov and day 3 (the home visit) Tue 4 Nov.
    trjs.register(p, D(2025, 10, 20), D(2025, 10, 22), {(D(2025, 10, 22), s): "N" for s in NN})
    trjs.evaluate(at(D(2025, 10, 22), 10))
    [case] = trjs.cases(p, "unexplained_absence")
    assert due_local(trjs.timers(case, "home_visit_if_no_contact")[0]).date() == D(2025, 11, 4)
    # More than 5 days absent: the check falls on the 5th school day after, Fri 7 Nov.
    assert due_local(trjs.timers(case, "safe_and_well")[0]).date() == D(2025, 11, 7)
    # Nothing lapses over the INSET days and the half term.
    trjs.evaluate(at(D(2025, 10, 31), 18))
    assert not trjs.safeguarding_queue(trjs.cases(p, "unexplained_absence")[0])


def test_trjs_pupil_with_prior_concerns_gets_a_first_day_visit(trjs, make_pupils):
    p = trjs.pupil(make_pupils, child_protection_plan=True)
    trjs.register(p, D(2026, 4, 27), D(2026, 5, 1), {(D(2026, 5, 1), s): "N" for s in NN})
    trjs.evaluate(at(D(2026, 5, 1), 10))
    [case] = trjs.cases(p, "unexplained_absence")
    assert "plan_home_visit" in proposed(case)
    [t] = trjs.timers(case, "home_visit_day_one")
    assert due_local(t) == dt.datetime(2026, 5, 1, 15, 0)
    trjs.evaluate(at(D(2026, 5, 1), 15, 30))
    assert trjs.cases(p)[0].safeguarding


def test_trjs_leave_needs_two_weeks_notice_and_under_six_days_absence(trjs, make_pupils):
    p = trjs.pupil(make_pupils)
    late = trjs.open(p, "leave", at(D(2026, 3, 2)), start=D(2026, 3, 9))
    assert "at least 14 days" in trjs.refused(late, "authorise_leave", "head", at(D(2026, 3, 3)), reason="funeral")
    q = trjs.pupil(make_pupils)
    trjs.register(q, D(2026, 1, 5), D(2026, 2, 13), {(D(2026, 1, 12 + i), s): "I" for i in range(4) for s in NN})
    case = trjs.open(q, "leave", at(D(2026, 2, 2)), start=D(2026, 3, 2))
    reason = trjs.refused(case, "authorise_leave", "head", at(D(2026, 2, 16)), reason="funeral", leave_end="2026-03-03")
    assert "4 days" in reason and "limit of 6" in reason
    trjs.move(case, "authorise_leave", "head", at(D(2026, 2, 16)), reason="funeral", leave_end="2026-03-02")
    assert case.state == "authorised"


def test_trjs_long_absence_child_seen_weekly_timer_repeats(trjs, make_pupils):
    p = trjs.pupil(make_pupils)
    start = at(D(2026, 1, 12), 9)
    case = trjs.open(p, "illness", start)
    trjs.move(case, "begin_weekly_contact", "wellbeing", start, reason="in hospital")
    [t] = trjs.timers(case, "weekly_sight")
    assert due_local(t).date() == D(2026, 1, 19)
    trjs.evaluate(at(D(2026, 1, 20), 9))  # not seen this week: lapses, the DSL hears, a new week starts
    lapsed, again = trjs.timers(case, "weekly_sight")
    # the next week runs on from the week that lapsed (Mon 19 Jan + 7 days), not from the sweep
    assert lapsed.status == "lapsed" and again.status == "open" and due_local(again).date() == D(2026, 1, 26)
    assert trjs.cases(p, "illness")[0].safeguarding
    trjs.move(trjs.cases(p, "illness")[0], "child_seen_this_week", "wellbeing", at(D(2026, 1, 22)), reason="seen at home")
    timers = trjs.timers(case, "weekly_sight")
    assert timers[1].status == "met" and timers[2].status == "open" and due_local(timers[2]).date() == D(2026, 1, 29)


# -- Frisby ------------------------------------------------------------------------------


@pytest.fixture
def frisby(session, engine, make_school):
    return _school(session, engine, make_school, "frisby")


def test_frisby_no_contact_day_one_home_visit_then_referral_after_two_days(frisby, make_pupils):
    p = frisby.pupil(make_pupils)
    frisby.register(p, D(2026, 3, 2), D(2026, 3, 10), {(D(2026, 3, 9), s): "N" for s in NN})
    frisby.evaluate(at(D(2026, 3, 9), 12, 30))  # no contact by midday on day 1
    [case] = frisby.cases(p, "unexplained_absence")
    assert case.safeguarding and "plan_home_visit" in proposed(case)
    assert "safeguarding home visit" in frisby.safeguarding_queue(case)[0].message
    frisby.move(case, "plan_home_visit", "officer", at(D(2026, 3, 9), 13), reason="no answer on either number")
    [t] = [t for t in frisby.timers(case, "no_contact_two_days") if t.status == "open"]
    assert due_local(t) == dt.datetime(2026, 3, 10, 16, 0)  # the end of the second day
    frisby.evaluate(at(D(2026, 3, 10), 16, 30))
    case = frisby.cases(p, "unexplained_absence")[0]
    assert "refer_to_agencies" in proposed(case)
    assert "only" in frisby.refused(case, "refer_to_agencies", "officer", at(D(2026, 3, 10), 17))
    frisby.move(case, "refer_to_agencies", "dsl", at(D(2026, 3, 10), 17), reason="no one home, no contact")
    assert case.state == "agency_referral" and "agency_referral" in frisby.letters(case)


def test_frisby_bands_letter_and_meeting_below_95_la_referral_below_85(frisby, make_pupils):
    low, lower = frisby.pupil(make_pupils), frisby.pupil(make_pupils)
    frisby.register(low, D(2025, 9, 3), D(2025, 10, 17), {(D(2025, 9, 8 + i), "AM"): "M" for i in range(4)})  # 93.9%
    frisby.register(lower, D(2025, 9, 3), D(2025, 10, 17),
                    {(D(2025, 9, 8 + i), s): "M" for i in range(5) for s in NN})  # 56/66 = 84.8%
    frisby.evaluate(at(D(2025, 10, 17)))
    assert proposed(frisby.cases(low, "attendance")[0]) == {"invite_to_meeting"}
    assert proposed(frisby.cases(lower, "attendance")[0]) == {"refer_to_la"}


# -- Mason Moor ---------------------------------------------------------------------------


@pytest.fixture
def mm(session, engine, make_school):
    return _school(session, engine, make_school, "mason-moor")


def test_mason_moor_red_rag_pupil_is_visited_on_any_absence(mm, make_pupils):
    red = mm.pupil(make_pupils, vulnerability_rag="red")
    green = mm.pupil(make_pupils, vulnerability_rag="green")
    plain = mm.pupil(make_pupils)
    ill = {(D(2026, 3, 9), s): "I" for s in NN}  # reported illness: a reason was given
    for p in (red, green, plain):
        mm.register(p, D(2026, 3, 2), D(2026, 3, 9), ill)
    mm.evaluate(at(D(2026, 3, 9), 10))
    [case] = mm.cases(red, "vulnerable_absence")
    assert case.state == "home_visit"
    [f] = mm.findings(case)
    assert f.rule == "absent_today" and "I Mon 9 Mar 2026 AM" in f.summary
    [t] = mm.timers(case, "vulnerable_visit")
    assert due_local(t) == dt.datetime(2026, 3, 9, 15, 0)
    assert mm.cases(green) == [] and mm.cases(plain) == []
    mm.evaluate(at(D(2026, 3, 9), 10, 30))
    assert len(mm.cases(red, "vulnerable_absence")) == 1  # evaluated twice: still one case
    mm.move(case, "child_seen_safe", "officer", at(D(2026, 3, 9), 14), reason="seen at home, poorly but safe")
    assert case.state == "closed" and mm.timers(case)[0].status == "met"


def test_mason_moor_calls_each_morning_the_unexplained_absence_continues(mm, make_pupils):
    p = mm.pupil(make_pupils)
    mm.register(p, D(2026, 3, 2), D(2026, 3, 9), {(D(2026, 3, 9), s): "N" for s in NN})
    mm.evaluate(at(D(2026, 3, 9), 9, 45))
    [case] = mm.cases(p, "unexplained_absence")
    [call] = mm.timers(case, "daily_call")
    assert due_local(call) == dt.datetime(2026, 3, 10, 10, 0)
    mm.evaluate(at(D(2026, 3, 10), 10, 5))
    calls = mm.timers(case, "daily_call")
    assert [c.status for c in calls] == ["lapsed", "open"] and due_local(calls[1]) == dt.datetime(2026, 3, 11, 10, 0)


def test_mason_moor_tells_the_la_when_an_ehc_plan_pupils_attendance_falls(mm, make_pupils):
    ehc, other = mm.pupil(make_pupils, ehc_plan=True), mm.pupil(make_pupils)
    codes = {(D(2025, 9, 8 + i), s): "I" for i in range(3) for s in NN}  # 60/66 = 90.9%
    for p in (ehc, other):
        mm.register(p, D(2025, 9, 3), D(2025, 10, 17), codes)
    mm.evaluate(at(D(2025, 10, 17)))
    [case] = mm.cases(ehc, "attendance")
    assert "ehc_attendance_falling" in mm.letters(case)
    assert proposed(case) == {"offer_attendance_contract"}  # approaching 10% absence
    assert "ehc_attendance_falling" not in mm.letters(mm.cases(other, "attendance")[0])
