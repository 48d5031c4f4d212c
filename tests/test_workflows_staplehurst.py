"""Staplehurst (Kent): scenarios from its policy, through evaluation and moves, on the real
Great Chart 2025-26 Kent calendar (and the demo's Kent 2025-27 calendar across years)."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlmodel import select
from workflow_scenarios import SchoolWorld, at, due_local, proposed

from casework.clock import LONDON
from casework.store.casemodels import PenaltyNotice

D = dt.date


@pytest.fixture
def sw(session, engine, make_school):
    return SchoolWorld(session, engine, make_school(session, workflow="staplehurst"), "staplehurst")


def test_pupil_in_the_90_95_band_gets_an_attendance_case_with_the_finding_explained(sw, make_pupils):
    p = sw.pupil(make_pupils)
    # Autumn 1 2025: 66 possible sessions; 4 medical appointments (M) -> 62/66 = 93.9%.
    sw.register(p, D(2025, 9, 3), D(2025, 10, 17), {(D(2025, 9, 8 + i), "AM"): "M" for i in range(4)})
    clock = at(D(2025, 10, 17))
    sw.evaluate(clock)
    [case] = sw.cases(p, "attendance")
    assert case.state == "monitor"
    [finding] = [f for f in sw.findings(case) if f.rule == "attendance_band"]
    assert "93.9%" in finding.summary and "90-95% - intervention letters" in finding.summary
    assert finding.figures["attended_sessions"] == 62 and finding.figures["possible_sessions"] == 66
    assert proposed(case) == {"send_letter"}  # policy: 90-95% -> school intervention letters
    opened = sw.moves(case)[0]
    assert opened.event == "open" and "attendance_band" in opened.reason
    # Evaluating again changes nothing: no second case, no second finding.
    n = len(sw.findings(case))
    sw.evaluate(clock)
    assert len(sw.cases(p, "attendance")) == 1 and len(sw.findings(sw.cases(p)[0])) == n


def test_below_90_proposes_the_in_house_ewo_referral(sw, make_pupils):
    p = sw.pupil(make_pupils)
    absent = {(D(2025, 9, 8 + i), s): "I" for i in range(4) for s in ("AM", "PM")}  # 4 days ill: 58/66 = 87.9%
    sw.register(p, D(2025, 9, 3), D(2025, 10, 17), absent)
    sw.evaluate(at(D(2025, 10, 17)))
    [case] = sw.cases(p, "attendance")
    assert "refer_to_ewo" in proposed(case)
    sw.move(case, "refer_to_ewo", "wellbeing", at(D(2025, 10, 17)), reason="below 90%")
    assert case.state == "ewo_referral" and "ewo_referral" in sw.letters(case)


def test_five_lates_in_a_half_term_open_a_punctuality_case_inviting_to_a_formal_meeting(sw, make_pupils):
    p = sw.pupil(make_pupils)
    lates = {(D(2025, 11, 3 + i), "AM"): "L" for i in range(4)} | {(D(2025, 11, 10), "AM"): "U"}
    sw.register(p, D(2025, 10, 28), D(2025, 11, 14), lates)
    sw.evaluate(at(D(2025, 11, 7)))  # 4 lates so far: nothing yet
    assert sw.cases(p, "punctuality") == []
    clock = at(D(2025, 11, 14))
    sw.evaluate(clock)
    [case] = sw.cases(p, "punctuality")
    [f] = sw.findings(case)
    assert f.rule == "lateness" and f.figures["lates"] == 5 and "acts at 5" in f.summary
    assert proposed(case) == {"invite_to_meeting"}
    sw.move(case, "invite_to_meeting", "officer", clock, reason="5 lates this half term")
    assert case.state == "meeting" and "formal_meeting_invitation" in sw.letters(case)


def _ten_unauthorised(sw, p, codes: dict):
    sw.register(p, D(2025, 9, 3), D(2025, 12, 12), codes)


def test_4_G_and_6_U_in_10_school_weeks_meet_the_threshold_and_allow_a_notice_after_support(sw, make_pupils):
    p = sw.pupil(make_pupils)
    codes = {(D(2025, 11, 3 + i), s): "G" for i in range(2) for s in ("AM", "PM")}  # 4 G
    codes |= {(D(2025, 11, 10 + i), "AM"): "U" for i in range(3)} | {(D(2025, 12, 1 + i), "AM"): "U" for i in range(3)}
    _ten_unauthorised(sw, p, codes)
    clock = at(D(2025, 12, 5))
    sw.evaluate(clock)
    [case] = sw.cases(p, "attendance")
    [f] = [f for f in sw.findings(case) if f.rule == "penalty_threshold"]
    assert f.figures["sessions"] == 10 and f.figures["by_code"] == {"G": 4, "U": 6}
    assert "issue_notice_to_improve" in proposed(case)
    # An attendance officer may not issue it: the headteacher (or an authorised deputy) does.
    reason = sw.refused(case, "issue_notice_to_improve", "officer", clock)
    assert "only" in reason and "Headteacher" in reason
    sw.move(case, "invite_to_meeting", "wellbeing", clock, reason="discuss the absences")
    sw.move(case, "issue_notice_to_improve", "head", clock, reason="support not engaged with", improvement_weeks=4)
    assert case.state == "notice_to_improve"
    assert "notice_to_improve" in sw.letters(case)
    [t] = sw.timers(case, "improvement_period")
    assert due_local(t).date() == D(2026, 1, 2)  # 4 weeks
    nti = sw.moves(case)[-1]
    assert (nti.actor, nti.actor_role, nti.reason) == (sw.actors["head"].username, "headteacher", "support not engaged with")
    assert nti.at == clock.now()
    guards = {g["reason"][:40] for g in nti.evidence["guards"]}
    assert any("10 sessions" in g["reason"] for g in nti.evidence["guards"]), guards
    assert ["2025-11-03", "AM", "G"] in nti.evidence["absences"]


def test_notice_to_improve_without_support_is_refused_by_the_guard(sw, make_pupils):
    p = sw.pupil(make_pupils)
    _ten_unauthorised(sw, p, {(D(2025, 11, 3 + i), s): "O" for i in range(5) for s in ("AM", "PM")})
    clock = at(D(2025, 11, 14))
    sw.evaluate(clock)
    [case] = sw.cases(p, "attendance")
    reason = sw.refused(case, "issue_notice_to_improve", "head", clock)
    assert "no support has been offered yet" in reason


def test_ten_sessions_spread_over_eleven_school_weeks_do_not_meet_it_and_the_notice_is_refused(sw, make_pupils):
    p = sw.pupil(make_pupils)
    # One U in each of 10 of the 11 school weeks from w/c 8 Sep to w/c 24 Nov 2025 (half term
    # 20-24 Oct is not a school week), leaving w/c 15 Sep empty: any 10 school weeks hold 9.
    mondays = [D(2025, 9, 8), D(2025, 9, 22), D(2025, 9, 29), D(2025, 10, 6), D(2025, 10, 13), D(2025, 10, 28),
               D(2025, 11, 3), D(2025, 11, 10), D(2025, 11, 17), D(2025, 11, 24)]
    sw.register(p, D(2025, 9, 3), D(2025, 11, 28), {(d, "AM"): "U" for d in mondays})
    clock = at(D(2025, 11, 28))
    report = sw.evaluate(clock)
    assert report.findings.get("penalty_threshold", 0) == 0
    case = sw.open(p, "attendance", clock)
    sw.move(case, "invite_to_meeting", "wellbeing", clock)
    reason = sw.refused(case, "issue_notice_to_improve", "head", clock)
    assert "national threshold is not met" in reason and "10 sessions" in reason and "10 school weeks" in reason


def test_two_sessions_in_summer_and_eight_in_autumn_meet_the_threshold_across_school_years(session, engine, make_school,
                                                                                           make_pupils):
    sw = SchoolWorld(session, engine, make_school(session, "demo", workflow="staplehurst"), "staplehurst")
    p = sw.pupil(make_pupils)
    codes = {(D(2026, 7, 20), "AM"): "U", (D(2026, 7, 21), "AM"): "U"}
    codes |= {(D(2026, 9, 2 + i), s): "O" for i in range(3) for s in ("AM", "PM")} | {(D(2026, 9, 7), "AM"): "O",
                                                                                     (D(2026, 9, 7), "PM"): "O"}
    sw.register(p, D(2026, 6, 1), D(2026, 9, 11), codes)
    sw.evaluate(at(D(2026, 9, 11)))
    [case] = sw.cases(p, "attendance")
    [f] = [f for f in sw.findings(case) if f.rule == "penalty_threshold"]
    assert f.figures["sessions"] == 10 and f.figures["window_start"] <= "2026-07-20"


def test_leave_taken_after_refusal_goes_to_a_penalty_without_support(sw, make_pupils):
    p = sw.pupil(make_pupils)
    asked = at(D(2026, 1, 12))
    case = sw.open(p, "leave", asked, start=D(2026, 2, 2))
    sw.move(case, "refuse_leave", "head", asked, reason="not exceptional")
    assert "leave_refused" in sw.letters(case)
    sw.register(p, D(2026, 1, 5), D(2026, 2, 13), {(D(2026, 2, 2 + i), s): "G" for i in range(5) for s in ("AM", "PM")})
    after = at(D(2026, 2, 9))
    sw.move(case, "record_leave_taken", "officer", after, reason="away all week")
    sw.move(case, "request_penalty_notice", "head", after, reason="leave taken after refusal")
    assert case.state == "penalty_notice"
    notices = list(sw.session.exec(select(PenaltyNotice).where(PenaltyNotice.case_id == case.id)))
    assert len(notices) == 2  # per parent, per child
    assert {(n.sequence, n.reduced_amount, n.amount) for n in notices} == {(1, 80, 160)}


def test_leave_is_never_authorised_retrospectively(sw, make_pupils):
    p = sw.pupil(make_pupils)
    case = sw.open(p, "leave", at(D(2026, 2, 9)), start=D(2026, 2, 2))
    reason = sw.refused(case, "authorise_leave", "head", at(D(2026, 2, 9)), reason="wedding")
    assert "cannot be authorised retrospectively" in reason
    assert "request was made" in reason  # and it was not asked for in advance


def test_a_third_penalty_within_3_years_is_impossible_prosecution_instead(sw, make_pupils):
    p = sw.pupil(make_pupils)
    codes = {(D(2025, 11, 3 + i), s): "O" for i in range(5) for s in ("AM", "PM")}
    sw.register(p, D(2025, 9, 3), D(2025, 12, 12), codes)
    from casework.store.models import Contact

    earlier = sw.open(p, "leave", at(D(2024, 2, 20)), start=D(2024, 3, 1))  # where the two notices were issued
    for c in sw.session.exec(select(Contact).where(Contact.pupil_id == p.id)):
        for seq, day in ((1, D(2024, 3, 1)), (2, D(2025, 3, 1))):
            sw.session.add(PenaltyNotice(school_id=sw.school.id, case_id=earlier.id, pupil_id=p.id, contact_id=c.id,
                                         parent_name=c.name, sequence=seq, issued_on=day, amount=160,
                                         due=day + dt.timedelta(days=28), status="paid", paid_on=day))
    clock = at(D(2025, 11, 14))
    sw.evaluate(clock)
    [case] = sw.cases(p, "attendance")
    sw.move(case, "invite_to_meeting", "wellbeing", clock)
    sw.move(case, "issue_notice_to_improve", "head", clock)
    later = at(D(2025, 12, 12))
    reason = sw.refused(case, "request_penalty_notice", "head", later)
    assert "already had 2 penalty notices" in reason and "refer for prosecution instead" in reason
    sw.move(case, "refer_for_prosecution", "head", later, reason="third offence within 3 years")
    assert case.state == "prosecution_referral"


def test_unexplained_absence_day_three_visit_lapses_after_half_term_and_reaches_the_dsl(sw, make_pupils):
    p = sw.pupil(make_pupils)
    # N on Thu 16 and Fri 17 Oct 2025; half term 20-24 Oct; Mon 27 Oct is an INSET day:
    # the third school day of absence is Tue 28 Oct.
    n = {(d, s): "N" for d in (D(2025, 10, 16), D(2025, 10, 17), D(2025, 10, 28)) for s in ("AM", "PM")}
    sw.register(p, D(2025, 10, 13), D(2025, 10, 15))
    sw.register(p, D(2025, 10, 16), D(2025, 10, 17), {k: v for k, v in n.items() if k[0].month == 10 and k[0].day < 20})
    r = sw.evaluate(at(D(2025, 10, 16), 10, 30))
    [case] = sw.cases(p, "unexplained_absence")
    assert case.state == "awaiting_contact" and case.concern_start == D(2025, 10, 16)
    first, = sw.timers(case, "first_day_contact")
    assert due_local(first) == dt.datetime(2025, 10, 16, 10, 0)  # the text goes by 10:00
    assert first.status == "lapsed" and any(x["kind"] == "first_day_contact" for x in r.timers)
    [visit] = sw.timers(case, "home_visit_if_no_contact")
    assert due_local(visit) == dt.datetime(2025, 10, 28, 12, 0)
    sw.register(p, D(2025, 10, 28), D(2025, 10, 28), {k: v for k, v in n.items() if k[0] == D(2025, 10, 28)})
    sw.evaluate(at(D(2025, 10, 28), 11, 0))
    assert sw.timers(case, "home_visit_if_no_contact")[0].status == "open" and not sw.cases(p)[0].safeguarding
    sw.evaluate(at(D(2025, 10, 28), 12, 30))
    case = sw.cases(p, "unexplained_absence")[0]
    assert case.safeguarding and "plan_home_visit" in proposed(case)
    queue = sw.safeguarding_queue(case)
    assert {q.role for q in queue} == {"dsl", "deputy_dsl"} and "third day" in queue[0].message
    assert len(sw.cases(p, "unexplained_absence")) == 1  # the same episode, never a second case


def test_traveller_return_not_confirmed_in_10_school_days_proposes_a_cme_referral(sw, make_pupils):
    p = sw.pupil(make_pupils, traveller=True)
    start = at(D(2026, 3, 9), 9)
    case = sw.open(p, "traveller", start)
    sw.move(case, "family_travelling", "officer", start, reason="travelling for work, no return date")
    assert "traveller_no_return" in sw.letters(case)
    [t] = sw.timers(case, "traveller_return")
    assert due_local(t).date() == D(2026, 3, 23)  # 10 school days after Mon 9 Mar
    sw.evaluate(at(D(2026, 3, 20)))
    assert "refer_cme" not in proposed(sw.cases(p, "traveller")[0])
    sw.evaluate(at(D(2026, 3, 24)))
    case = sw.cases(p, "traveller")[0]
    assert "refer_cme" in proposed(case) and case.safeguarding
    assert "only" in sw.refused(case, "refer_cme", "officer", at(D(2026, 3, 24)))
    sw.move(case, "refer_cme", "dsl", at(D(2026, 3, 24)), reason="no return date")
    assert case.state == "cme_referral" and "cme_referral" in sw.letters(case)


def test_three_occasions_of_illness_ask_for_medical_evidence(sw, make_pupils):
    p = sw.pupil(make_pupils)
    ill = {(d, s): "I" for d in (D(2025, 9, 10), D(2025, 9, 24), D(2025, 10, 8)) for s in ("AM", "PM")}
    sw.register(p, D(2025, 9, 3), D(2025, 10, 10), ill)
    sw.evaluate(at(D(2025, 10, 10)))
    [case] = sw.cases(p, "illness")
    assert "request_medical_evidence" in proposed(case)
    assert any(f.rule == "medical_evidence" and "3 separate occasions" in f.summary for f in sw.findings(case))


def test_every_move_is_persisted_with_who_when_why_and_evidence(sw, make_pupils):
    p = sw.pupil(make_pupils)
    sw.register(p, D(2025, 9, 3), D(2025, 10, 17), {(D(2025, 9, 10), "AM"): "O"})
    clock = at(D(2025, 10, 17))
    case = sw.open(p, "attendance", clock)
    sw.move(case, "send_letter", "officer", clock, reason="first letter")
    sw.move(case, "return_to_monitoring", "wellbeing", at(D(2025, 11, 3)), reason="improved")
    moves = sw.moves(case)
    assert [m.event for m in moves] == ["open", "send_letter", "return_to_monitoring"]
    for m in moves[1:]:
        assert m.actor and m.actor_role and m.reason and m.at.tzinfo is not None
        assert m.evidence["absences"] == [["2025-09-10", "AM", "O"]]
    assert moves[2].at.astimezone(LONDON).date() == D(2025, 11, 3)
