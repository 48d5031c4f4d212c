"""Issue 11: where casework was wrong in law, worked by hand on Great Chart's 2025-26
calendar (tests/data/kent-great-chart-2025-26.csv). Summer 1 runs 20 Apr - 22 May 2026;
Mon 4 May is the early May bank holiday; half term is 25-29 May; Summer 2 starts 1 Jun."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from register_helpers import day_marks, day_runs
from sqlmodel import select

from casework.figures.bands import band_of
from casework.figures.stats import pupil_figures
from casework.jobs.replay import lapsed_on, replay
from casework.register.store import load_calendar
from casework.store.casemodels import Case, Timer
from casework.workflow import for_school

D = dt.date


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
        add_marks(session, p, day_marks(cal, D(2026, 4, 27), D(2026, 4, 29)))
    # away Thu 30 Apr, Fri 1 May and Tue 5 May with no reason; back on Wed 6 May and every day since
    add_marks(session, returned, day_runs(cal, (D(2026, 4, 30), D(2026, 5, 5), "N"),
                                               (D(2026, 5, 6), D(2026, 6, 4))))
    # never back: 20 continuous school days of unauthorised absence
    add_marks(session, missing, day_marks(cal, D(2026, 4, 30), D(2026, 6, 4), "N"))
    # away throughout, but Mon 18 May was authorised (T): the run is not 20 unauthorised days
    add_marks(session, traveller_leave, day_runs(cal, (D(2026, 4, 30), D(2026, 5, 15), "N"),
                                                      (D(2026, 5, 18), D(2026, 5, 18), "T"),
                                                      (D(2026, 5, 19), D(2026, 6, 4), "N")))
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
    from casework.cases.moves import Actor, CaseWorld, move_case
    from casework.clock import LONDON, FixedClock, at
    from casework.store.casemodels import LetterRequest

    cal = load_calendar(session, great_chart.id)
    away, ill_one_day = make_pupils(session, great_chart, 2)
    # Mon 11 May (1) ... Fri 15 May (5), Mon 18 (6) ... Fri 22 May 2026 (10): the tenth continuous
    # school day without permission is Fri 22 May. The next school day is Mon 1 Jun (half term 25-29 May).
    assert len(cal.school_days(D(2026, 5, 11), D(2026, 5, 22))) == 10
    assert cal.add_school_days(D(2026, 5, 22), 1) == D(2026, 6, 1)
    for p in (away, ill_one_day):
        add_marks(session, p, day_marks(cal, D(2026, 5, 4), D(2026, 5, 8)))
    add_marks(session, away, day_runs(cal, (D(2026, 5, 11), D(2026, 5, 15), "O"),
                                           (D(2026, 5, 18), D(2026, 5, 22), "G")))
    # the same, but Thu 14 May was authorised illness: 6 days (Fri 15 - Fri 22), not 10
    add_marks(session, ill_one_day, day_runs(cal, (D(2026, 5, 11), D(2026, 5, 13), "O"),
                                                  (D(2026, 5, 14), D(2026, 5, 14), "I"),
                                                  (D(2026, 5, 15), D(2026, 5, 22), "O")))
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


# -- penalty notices (casework.penalties) -----------------------------------------------


def test_deemed_receipt_counts_working_days_not_school_days():
    from casework.cases.penalties import deemed_receipt

    # Posted Thu 2 Apr 2026: Fri 3 Apr (Good Friday) and Mon 6 Apr (Easter Monday) are bank
    # holidays, so the working days after posting are Tue 7 (1) and Wed 8 Apr (2).
    assert deemed_receipt(D(2026, 4, 2), "post") == D(2026, 4, 8)
    assert deemed_receipt(D(2026, 4, 2), "hand") == D(2026, 4, 2)
    # Posted Fri 22 May 2026, the last day of Summer 1: Mon 25 May is the spring bank holiday;
    # the half term that follows is working days all the same: Tue 26 (1), Wed 27 May (2).
    assert deemed_receipt(D(2026, 5, 22), "post") == D(2026, 5, 27)
    with pytest.raises(ValueError, match="post, hand, email"):
        deemed_receipt(D(2026, 5, 22), "pigeon")


@pytest.fixture
def family(session, great_chart, make_pupils):
    from casework.store.models import Contact

    (pupil,) = make_pupils(session, great_chart, 1)
    mother = Contact(pupil_id=pupil.id, name="Kerry Pupil", relationship="Mother", address="1 Mill Lane",
                     postcode="TN23 4QA", parental_responsibility=True)
    session.add(mother)
    session.commit()
    return pupil, mother



def _head():
    from casework.cases.moves import Actor

    return Actor("head", "headteacher", "Hana Head")


def _leave_case(session, school, pupil, clock):
    from casework.cases import moves as cs
    from casework.workflow import for_school

    case = cs.open_case(session, school, pupil, for_school("national"), "leave", concern="leave:2026-03-02",
                        concern_start=D(2026, 3, 2), clock=clock, actor=cs.Actor.system(), reason="G codes",
                        state="leave_taken")
    return case, cs.CaseWorld.load(session, case, clock)


def test_first_notice_by_post_counts_from_receipt_and_a_second_has_no_reduced_window(
        engine, session, great_chart, family, add_marks):
    from casework.cases import moves as cs
    from casework.clock import LONDON, FixedClock, at
    from casework.store.casemodels import Notification, PenaltyNotice
    from casework.timers import sweep

    pupil, mother = family
    cal = load_calendar(session, great_chart.id)
    add_marks(session, pupil, day_marks(cal, D(2026, 3, 2), D(2026, 3, 6), "G"))  # a week's holiday: 10 sessions
    clock = FixedClock(at(D(2026, 3, 10), dt.time(15)))
    case, w = _leave_case(session, great_chart, pupil, clock)
    cs.move_case(w, "request_penalty_notice", _head(), params={"served_by": "post"})
    session.commit()
    first = session.exec(select(PenaltyNotice).where(PenaltyNotice.case_id == case.id)).one()
    # Posted Tue 10 Mar 2026, received Thu 12 Mar: £80 to Thu 2 Apr, £160 to Thu 9 Apr.
    assert (first.sequence, first.received_on, first.reduced_amount, first.reduced_due, first.amount, first.due) == (
        1, D(2026, 3, 12), 80, D(2026, 4, 2), 160, D(2026, 4, 9))
    timers = {t.kind: t.due_at.astimezone(LONDON).date() for t in
              session.exec(select(Timer).where(Timer.case_id == case.id, Timer.status == "open"))}
    assert timers == {"penalty_reduced_window": D(2026, 4, 2), "penalty_payment": D(2026, 4, 9)}
    decided = session.exec(select(Timer).where(Timer.case_id == case.id, Timer.kind == "penalty_decision")).one()
    assert decided.status == "met"  # the head's decision, due Tue 24 Mar, made by requesting the notice

    # Nothing is overdue on Wed 1 Apr; the reduced-rate nudge comes on Thu 2 Apr at 18:00.
    sweep(engine, FixedClock(at(D(2026, 4, 1), dt.time(20))))
    assert session.exec(select(Timer).where(Timer.case_id == case.id, Timer.status == "lapsed")).all() == []
    sweep(engine, FixedClock(at(D(2026, 4, 2), dt.time(20))))
    nudges = session.exec(select(Notification).where(Notification.case_id == case.id)).all()
    assert any("reduced-rate" in n.message for n in nudges)


def test_a_second_notice_within_three_years_is_never_chased_for_a_reduced_rate(
        engine, session, great_chart, family, add_marks):
    from casework.cases import moves as cs
    from casework.clock import LONDON, FixedClock, at
    from casework.store.casemodels import Notification, PenaltyNotice
    from casework.timers import sweep

    pupil, mother = family
    cal = load_calendar(session, great_chart.id)
    add_marks(session, pupil, day_marks(cal, D(2026, 3, 2), D(2026, 3, 6), "G"))
    clock = FixedClock(at(D(2026, 3, 10), dt.time(15)))
    earlier, _ = _leave_case(session, great_chart, pupil, clock)
    session.add(PenaltyNotice(school_id=great_chart.id, case_id=earlier.id, pupil_id=pupil.id, contact_id=mother.id,
                              parent_name=mother.name, sequence=1, issued_on=D(2025, 6, 2), amount=160,
                              due=D(2025, 6, 30), status="paid"))
    earlier.closed_at = clock.now()
    session.add(earlier)
    session.commit()
    case = cs.open_case(session, great_chart, pupil, cs.CaseWorld.load(session, earlier, clock).workflow, "leave",
                        concern="leave:2026-03-02b", concern_start=D(2026, 3, 2), clock=clock,
                        actor=cs.Actor.system(), reason="G codes", state="leave_taken")
    w = cs.CaseWorld.load(session, case, clock)
    cs.move_case(w, "request_penalty_notice", _head(), params={"served_by": "hand"})
    session.commit()
    second = session.exec(select(PenaltyNotice).where(PenaltyNotice.case_id == case.id)).one()
    # Handed over on Tue 10 Mar 2026: received that day; £160 by Tue 7 Apr, no reduced rate.
    assert (second.sequence, second.served_by, second.received_on, second.reduced_amount, second.reduced_due,
            second.amount, second.due) == (2, "hand", D(2026, 3, 10), None, None, 160, D(2026, 4, 7))
    timers = {t.kind: t.due_at.astimezone(LONDON).date() for t in
              session.exec(select(Timer).where(Timer.case_id == case.id, Timer.status == "open"))}
    assert timers == {"penalty_payment": D(2026, 4, 7)}
    sweep(engine, FixedClock(at(D(2026, 4, 8), dt.time(20))))
    messages = [n.message for n in session.exec(select(Notification).where(Notification.case_id == case.id))]
    assert not any("reduced-rate" in m for m in messages)
    assert any("unpaid after 28 days" in m for m in messages)


def test_a_penalty_after_a_notice_to_improve_is_judged_on_the_improvement_period(
        session, great_chart, family, add_marks):
    from casework.cases import moves as cs
    from casework.clock import FixedClock, at
    from casework.workflow import for_school

    pupil, mother = family
    cal = load_calendar(session, great_chart.id)
    # 10 unauthorised sessions Mon 3 - Fri 7 Nov 2025 meet the threshold; the notice to improve
    # goes on Thu 20 Nov with a 4-week improvement period (to Thu 18 Dec). Two more unauthorised
    # sessions on Mon 15 Dec fall inside it.
    add_marks(session, pupil, day_runs(cal, (D(2025, 11, 3), D(2025, 11, 7), "O"),
                                            (D(2025, 11, 10), D(2025, 12, 12)),
                                            (D(2025, 12, 15), D(2025, 12, 15), "O"),
                                            (D(2025, 12, 16), D(2025, 12, 19)),
                                            (D(2026, 1, 5), D(2026, 1, 23))))
    session.commit()
    wf = for_school("national")
    nov = FixedClock(at(D(2025, 11, 20), dt.time(15)))
    case = cs.open_case(session, great_chart, pupil, wf, "attendance", concern="attendance",
                        concern_start=D(2025, 11, 3), clock=nov, actor=cs.Actor.system(), reason="threshold")
    w = cs.CaseWorld.load(session, case, nov)
    cs.move_case(w, "invite_to_meeting", cs.Actor("officer", "attendance_officer", "Ann Officer"))
    cs.move_case(w, "issue_notice_to_improve", _head())
    session.commit()
    # Mon 26 Jan 2026: the 10 school weeks back are w/c 26, 19, 12, 5 Jan, 15, 8, 1 Dec, 24, 17,
    # 10 Nov (the Christmas holiday is not school weeks), so 3-7 Nov has left the window and the
    # rolling threshold alone would refuse the request.
    jan = FixedClock(at(D(2026, 1, 26), dt.time(15)))
    weeks = cal.rolling_school_weeks(D(2026, 1, 26), 10)
    assert weeks[0] == D(2025, 11, 10)
    w = cs.CaseWorld.load(session, case, jan)
    move = cs.move_case(w, "request_penalty_notice", _head())
    session.commit()
    assert case.state == "penalty_notice"
    reasons = " ".join(g["reason"] for g in move.evidence["guards"])
    assert "2 sessions of unauthorised absence in the improvement period (20 November 2025 to 18 December 2025)" in reasons


def test_no_penalty_when_the_improvement_period_had_no_unauthorised_absence(session, great_chart, family,
                                                                             add_marks):
    from casework.cases import moves as cs
    from casework.clock import FixedClock, at
    from casework.workflow import for_school

    pupil, _mother = family
    cal = load_calendar(session, great_chart.id)
    add_marks(session, pupil, day_runs(cal, (D(2025, 11, 3), D(2025, 11, 7), "O"),
                                            (D(2025, 11, 10), D(2025, 12, 19))))
    session.commit()
    nov = FixedClock(at(D(2025, 11, 20), dt.time(15)))
    case = cs.open_case(session, great_chart, pupil, for_school("national"), "attendance", concern="attendance",
                        concern_start=D(2025, 11, 3), clock=nov, actor=cs.Actor.system(), reason="threshold")
    w = cs.CaseWorld.load(session, case, nov)
    cs.move_case(w, "invite_to_meeting", cs.Actor("officer", "attendance_officer", "Ann Officer"))
    cs.move_case(w, "issue_notice_to_improve", _head())
    session.commit()
    w = cs.CaseWorld.load(session, case, FixedClock(at(D(2025, 12, 19), dt.time(15))))
    with pytest.raises(cs.MoveRefused) as exc:
        cs.move_case(w, "request_penalty_notice", _head())
    assert "attendance improved" in " ".join(exc.value.reasons)


def test_the_threshold_finding_says_how_many_school_weeks_its_window_holds():
    from test_rules_helpers import GREAT_CHART, on, register

    from casework.rules import RULES

    rule = RULES["penalty_threshold"]
    # A register loaded from Mon 23 Feb 2026 (Spring 2) with a week's holiday (G) 9-13 Mar:
    # the window that meets the threshold is w/c 23 Feb, 2 Mar and 9 Mar: three school weeks.
    marks = on(1, [D(2026, 3, 9) + dt.timedelta(days=i) for i in range(5)], "G")
    reg = register(GREAT_CHART, D(2026, 2, 23), D(2026, 3, 13), marks)
    [f] = rule.evaluate(reg, GREAT_CHART, rule.Params(), D(2026, 3, 13))
    assert "in 3 school weeks (within a rolling period of 10) from Mon 23 Feb 2026 to Fri 13 Mar 2026" in f.summary
    assert "the 10 school weeks from" not in f.summary
    # With the register loaded from September the window is the whole 10 school weeks.
    reg = register(GREAT_CHART, D(2025, 9, 1), D(2026, 3, 13), marks)
    [f] = rule.evaluate(reg, GREAT_CHART, rule.Params(), D(2026, 3, 13))
    assert "in the 10 school weeks from" in f.summary


# -- letters checked by `workflow check` (item 9) ---------------------------------------


def _check(tmp_path, letters_yaml: str):
    from click.testing import CliRunner

    from casework.cli import main

    path = tmp_path / "new-school.yaml"
    path.write_text("extends: national\nname: New School\nletters:\n" + letters_yaml)
    return CliRunner().invoke(main, ["workflow", "check", str(path)])


def test_workflow_check_finds_a_letter_without_a_template(tmp_path):
    res = _check(tmp_path, "  welcome_back: {label: Welcome back}\n")
    assert res.exit_code == 1
    assert "letters.welcome_back: no template welcome_back.html" in res.output


def test_workflow_check_accepts_a_new_letter_that_borrows_a_national_template(tmp_path):
    res = _check(tmp_path, "  la_notice: {label: Notice to the LA, to: local_authority, template: cme_referral}\n")
    assert res.exit_code == 0, res.output


def test_workflow_check_finds_a_merge_field_the_letter_does_not_get(tmp_path, monkeypatch):
    from casework.letters import render

    own = tmp_path / "templates"
    (own / "new-school").mkdir(parents=True)
    (own / "national").symlink_to(render.TEMPLATES_DIR / "national")
    (own / "new-school" / "welcome_back.html").write_text(
        '{% extends "base.html" %}{% block body %}<p>{{ pupil.name }} owes {{ fine_amount }}; '
        'the run began {{ run.from }}.</p>{% endblock %}')
    monkeypatch.setattr(render, "TEMPLATES_DIR", own)
    res = _check(tmp_path, "  welcome_back: {label: Welcome back}\n")
    assert res.exit_code == 1
    # fine_amount is filled for no letter; run is filled only for the ten-day notice to the LA
    assert "uses merge field(s) casework does not fill for this letter: fine_amount, run" in res.output


# -- two late cut-offs (item 5) ----------------------------------------------------------

TWO_CUTOFFS = "tests/data/workflows/two-cutoffs.yaml"


def test_two_cut_offs_the_import_warns_of_marks_that_contradict_them(session, make_school, make_pupils, tmp_path):
    from casework.clock import FixedClock, at
    from casework.register.importer import import_marks
    from casework.store.models import Mark

    school = make_school(session, "great-chart", workflow=TWO_CUTOFFS)
    a, b, c = make_pupils(session, school, 3)
    session.commit()
    # Register taken 08:45, closes 09:00, L until 09:20, U after. Mon 8 Sep 2025:
    # a: 25 minutes late (09:10) marked L: right (after close, before the L cut-off).
    # b: 40 minutes late (09:25) marked L: should be U.
    # c: 30 minutes late (09:15) marked U: should be L. Each is kept as recorded, with a warning.
    path = tmp_path / "marks.csv"
    path.write_text("upn,date,session,code,minutes_late\n"
                    f"{a.upn},2025-09-08,AM,L,25\n{b.upn},2025-09-08,AM,L,40\n{c.upn},2025-09-08,AM,U,30\n")
    result = import_marks(session, school, path, clock=FixedClock(at(D(2025, 9, 8), dt.time(17))))
    session.commit()
    warnings = [n for n in result.notes if n.startswith("warning: marks.csv")]
    assert len(warnings) == 2
    assert f"marks.csv:3: {b.upn} 2025-09-08 AM is L but 40 minutes late is after the school's L/U cut-off (09:20" \
        in warnings[0]
    assert f"marks.csv:4: {c.upn} 2025-09-08 AM is U but 30 minutes late is before" in warnings[1]
    assert {m.code for m in session.exec(select(Mark))} == {"L", "U"}  # nothing silently recoded


def test_workflow_check_prints_the_cut_off_reading(tmp_path):
    from click.testing import CliRunner

    from casework.cli import main

    res = CliRunner().invoke(main, ["workflow", "check", TWO_CUTOFFS])
    assert res.exit_code == 0, res.output
    assert "AM taken 08:45, closes 09:00, L until 09:20 then U" in res.output
    bad = tmp_path / "bad.yaml"
    bad.write_text('extends: national\nschool:\n  register:\n    AM: {open: "08:45", close: "09:00", late_until: "08:55"}\n'
                   '    PM: {open: "13:00", close: "13:15"}\n')
    res = CliRunner().invoke(main, ["workflow", "check", str(bad)])
    assert res.exit_code == 1 and "late_until (08:55) must be after the register closes (09:00)" in res.output


# -- automatic letters (item 7) ------------------------------------------------------------


def test_an_automatic_letter_goes_once_per_crossing_and_again_next_half_term(engine, session, make_school,
                                                                             make_pupils, add_marks):
    from casework.store.casemodels import LetterRequest

    school = make_school(session, "great-chart", urn="118077", workflow="tests/data/workflows/automatic-letters.yaml")
    pupil, steady = make_pupils(session, school, 2)
    cal = load_calendar(session, school.id)
    # Great Chart: 1-2 Sep 2025 are INSET days; the first school day is Wed 3 Sep. Ten school days
    # (20 sessions, the workflow's minimum) end on Tue 16 Sep. The pupil misses the first four
    # Wednesday mornings (O): 3 and 10 Sep by then, 2 of 20 = 90.0%, "below 95%" but not
    # "below 90%". By Tue 28 Oct: 68 possible sessions (34 school days), 4 missed: 94.1%.
    days = cal.school_days(D(2025, 9, 3), D(2025, 10, 31))
    assert days[9] == D(2025, 9, 16)
    for d in days:
        add_marks(session, steady, [(d, "AM", "/"), (d, "PM", "/")])
        away = d in (D(2025, 9, 3), D(2025, 9, 10), D(2025, 9, 17), D(2025, 9, 24))
        add_marks(session, pupil, [(d, "AM", "O" if away else "/"), (d, "PM", "/")])
    session.commit()

    replay(engine, school.urn, D(2025, 9, 15), D(2025, 9, 19))
    sent = session.exec(select(LetterRequest).where(LetterRequest.move_id.is_(None))).all()
    assert [(r.template, r.queued_at.date()) for r in sent] == [("attendance_concern", D(2025, 9, 16))]
    case = session.exec(select(Case).where(Case.pupil_id == pupil.id)).one()
    assert sent[0].case_id == case.id
    assert case.state == "monitor"  # no person's step was needed: the case did not move
    assert session.exec(select(Case).where(Case.pupil_id == steady.id)).all() == []

    # Autumn 2 (Mon 27 Oct is an INSET day; Tue 28 Oct the first school day): still below 95%,
    # a new half term, so the letter goes again once.
    replay(engine, school.urn, D(2025, 10, 28), D(2025, 10, 30))
    sent = session.exec(select(LetterRequest).where(LetterRequest.move_id.is_(None))
                        .order_by(LetterRequest.queued_at)).all()
    assert [r.queued_at.date() for r in sent] == [D(2025, 9, 16), D(2025, 10, 28)]


def test_an_automatic_letter_goes_again_after_the_workflows_school_weeks(engine, session, make_school, make_pupils,
                                                                         add_marks, tmp_path):
    from casework.store.casemodels import LetterRequest

    wf = tmp_path / "again-3.yaml"
    wf.write_text(Path("tests/data/workflows/automatic-letters.yaml").read_text()
                  .replace("letter_again: half_term", "letter_again: 3"))
    school = make_school(session, "great-chart", urn="118078", workflow=str(wf))
    [pupil] = make_pupils(session, school, 1)
    cal = load_calendar(session, school.id)
    # Away the first four Wednesday mornings (3, 10, 17, 24 Sep). Tue 16 Sep: 2 of 20 sessions, 90.0%:
    # "below 95%", the first letter. From Wed 17 Sep it is "below 90%" (3 of 22: 86.4%), a level with
    # no letter, until Tue 30 Sep (4 of 40: 90.0%): back to "below 95%", but only two school weeks
    # after the letter's (15, 22 and 29 Sep weeks). Mon 6 Oct starts the third school week after it:
    # 4 of 48, 91.7%, and the letter goes again (under `half_term` it would wait for 28 Oct).
    for d in cal.school_days(D(2025, 9, 3), D(2025, 10, 7)):
        away = d in (D(2025, 9, 3), D(2025, 9, 10), D(2025, 9, 17), D(2025, 9, 24))
        add_marks(session, pupil, [(d, "AM", "O" if away else "/"), (d, "PM", "/")])
    session.commit()
    replay(engine, school.urn, D(2025, 9, 15), D(2025, 10, 7))
    sent = session.exec(select(LetterRequest).where(LetterRequest.move_id.is_(None))
                        .order_by(LetterRequest.queued_at)).all()
    assert [r.queued_at.date() for r in sent] == [D(2025, 9, 16), D(2025, 10, 6)]


# -- acceptance: one workflow file, no code change (items 5, 6, 7, 8) --------------------

LA_ROUTE = "example-la-route"


def test_la_route_example_school_scenario(engine, session, make_school, make_pupils, add_marks, tmp_path):
    from click.testing import CliRunner

    from casework.cases import moves as cs
    from casework.cli import main
    from casework.clock import FixedClock, at
    from casework.register.importer import import_marks
    from casework.store.casemodels import LetterRequest, PenaltyNotice
    from casework.store.models import Contact

    res = CliRunner().invoke(main, ["workflow", "check", LA_ROUTE])
    assert res.exit_code == 0, res.output
    assert "L until 09:20 then U" in res.output
    assert "The school refers to the county Attendance and Inclusion Service" in res.output

    school = make_school(session, "great-chart", urn="118099", workflow=LA_ROUTE)
    holiday, late = make_pupils(session, school, 2)
    session.add(Contact(pupil_id=holiday.id, name="Sam Parent", relationship="Mother", address="2 Mill Lane",
                        postcode="TN23 4QA", parental_responsibility=True))
    cal = load_calendar(session, school.id)
    # Great Chart: Wed 3 Sep 2025 is the first school day. The holiday pupil is away on a
    # term-time holiday (G) Mon 6 - Fri 10 Oct: 10 sessions, the national threshold.
    for d in cal.school_days(D(2025, 9, 3), D(2025, 10, 10)):
        add_marks(session, late, [(d, "AM", "/"), (d, "PM", "/")])
        add_marks(session, holiday, [(d, "AM", "G" if d >= D(2025, 10, 6) else "/"),
                                     (d, "PM", "G" if d >= D(2025, 10, 6) else "/")])
    session.commit()

    days = replay(engine, school.urn, D(2025, 10, 9), D(2025, 10, 10))
    assert any(o["upn"] == holiday.upn and o["type"] == "attendance" for d in days for st in d["steps"]
               for o in st["cases_opened"])
    case = session.exec(select(Case).where(Case.pupil_id == holiday.id, Case.case_type == "attendance")).one()
    [proposal] = [p for p in case.proposals if p["event"] == "issue_notice_to_improve"]
    # the LA decides, in the workflow's words, with the LA code's amounts; never "the headteacher decides"
    assert ("The school refers to the county Attendance and Inclusion Service, which decides on a penalty notice "
            "under the county code of conduct for penalty notices (2023) (first notice £60 within 21 days or £120 "
            "within 28; second within 3 years £120 within 28 days, no reduction).") in proposal["reason"]
    assert "headteacher" not in proposal["reason"]
    # 10 of 56 sessions missed by Fri 10 Oct: 82.1%, "below 90%": no automatic letter at that level
    assert session.exec(select(LetterRequest).where(LetterRequest.move_id.is_(None))).all() == []
    # Descriptive bands label the same pupils (82.1%: "Concern"; every session attended: "Excellent") and
    # open nothing: the only cases are the holiday pupil's, opened by the threshold and the leave rule.
    rows = {r.pupil_id: r.figures for r in pupil_figures(session, school.id, D(2025, 9, 1), D(2025, 10, 10))}
    bands = for_school(LA_ROUTE).model.descriptive_bands
    assert (band_of(rows[holiday.id], bands), band_of(rows[late.id], bands)) == ("Concern", "Excellent")
    assert {(c.pupil_id, c.case_type) for c in session.exec(select(Case).where(Case.school_id == school.id))} == {
        (holiday.id, "attendance"), (holiday.id, "leave")}

    # A leave case for the same holiday: the notice recorded carries the LA code's amounts.
    clock = FixedClock(at(D(2025, 10, 14), dt.time(15)))
    leave = cs.open_case(session, school, holiday, cs.CaseWorld.load(session, case, clock).workflow, "leave",
                         concern="leave:2025-10-06", concern_start=D(2025, 10, 6), clock=clock,
                         actor=cs.Actor.system(), reason="G codes", state="leave_taken")
    cs.move_case(cs.CaseWorld.load(session, leave, clock), "request_penalty_notice", _head(),
                 params={"served_by": "post"})
    session.commit()
    notice = session.exec(select(PenaltyNotice).where(PenaltyNotice.case_id == leave.id)).one()
    # posted Tue 14 Oct 2025, received Thu 16 Oct: £60 by Thu 6 Nov, £120 by Thu 13 Nov
    assert (notice.reduced_amount, notice.reduced_due, notice.amount, notice.due) == (
        60, D(2025, 11, 6), 120, D(2025, 11, 13))

    # Two cut-offs: 20 minutes after 08:45 is 09:05, after the close but before 09:20: L, not U.
    path = tmp_path / "late.csv"
    path.write_text(f"upn,date,session,code,minutes_late\n{late.upn},2025-10-13,AM,U,20\n"
                    f"{late.upn},2025-10-14,AM,L,20\n")
    result = import_marks(session, school, path, clock=clock)
    assert [n for n in result.notes if "late.csv:2:" in n and "is U but 20 minutes late is before" in n]
    assert not [n for n in result.notes if "late.csv:3:" in n]
