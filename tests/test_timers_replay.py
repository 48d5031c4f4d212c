"""Deadlines replayed day by day on a real calendar (Great Chart, Kent, 2025-26; the demo
calendar for 2026-27), with the injected clock. Every date below is worked out by hand
from the calendar file in the comment beside it."""

from __future__ import annotations

import datetime as dt

from register_helpers import day_marks, day_runs
from sqlmodel import select

from casework.cases.moves import Actor, move_case, open_case
from casework.cases.world import CaseWorld
from casework.clock import LONDON, FixedClock, at
from casework.jobs.replay import lapsed_on, replay
from casework.register.store import load_calendar
from casework.store.casemodels import Case, Notification, Timer
from casework.timers import caseload_deadlines, sweep
from casework.workflow import for_school

D = dt.date
OFFICER = Actor("officer", "attendance_officer", "Ann Officer")


def _timer(session, case_id, kind) -> Timer:
    return session.exec(select(Timer).where(Timer.case_id == case_id, Timer.kind == kind)
                        .order_by(Timer.id.desc())).first()


def test_friday_absence_before_half_term_home_visit_falls_due_on_the_tuesday_after(
        engine, session, great_chart, make_pupils, add_marks):
    cal = load_calendar(session, great_chart.id)
    absent, called, present = make_pupils(session, great_chart, 3)
    # Great Chart: Spring 1 ends Fri 13 Feb 2026; half term 16-20 Feb; Spring 2 starts Mon 23 Feb.
    # Day 1 of the absence is Fri 13 Feb; day 2 is Mon 23 Feb (the half term is not school days);
    # day 3 is Tue 24 Feb, so "no contact by day 3" (2 school days after the first) is due Tue 24 Feb 12:00.
    assert cal.add_school_days(D(2026, 2, 13), 1) == D(2026, 2, 23)
    assert cal.add_school_days(D(2026, 2, 13), 2) == D(2026, 2, 24)
    add_marks(session, present, day_marks(cal, D(2026, 2, 9), D(2026, 2, 25)))
    for p in (absent, called):
        add_marks(session, p, day_marks(cal, D(2026, 2, 9), D(2026, 2, 12)))
    add_marks(session, absent, day_marks(cal, D(2026, 2, 13), D(2026, 2, 25), "N"))
    # The family that is reached gives a reason (illness): the register says I from Monday.
    add_marks(session, called, day_runs(cal, (D(2026, 2, 13), D(2026, 2, 13), "N"),
                                             (D(2026, 2, 23), D(2026, 2, 25), "I")))
    session.commit()

    days = replay(engine, great_chart.urn, D(2026, 2, 12), D(2026, 2, 22))
    opened = [o for d in days for st in d["steps"] for o in st["cases_opened"]]
    assert [(o["upn"], o["type"]) for o in opened] == [(absent.upn, "unexplained_absence"),
                                                      (called.upn, "unexplained_absence")]
    assert days[1]["date"] == "2026-02-13" and days[1]["steps"][0]["step"] == "register_close"
    started = {t["kind"]: t["due"] for t in days[1]["steps"][0]["timers_started"] if t["upn"] == absent.upn}
    assert started["first_day_contact"] == "2026-02-13T12:00:00+00:00"
    assert started["home_visit_if_no_contact"] == "2026-02-24T12:00:00+00:00"
    assert lapsed_on(days, "first_day_contact") == ["2026-02-13", "2026-02-13"]  # nobody called by noon
    assert lapsed_on(days, "home_visit_if_no_contact") == []  # not over the half term

    # Mon 23 Feb, 10:00: the office reaches one family; that case closes and its timers are met.
    case_called = session.exec(select(Case).where(Case.pupil_id == called.id)).one()
    with session:
        world = CaseWorld.load(session, session.get(Case, case_called.id), FixedClock(at(D(2026, 2, 23), dt.time(10))))
        move_case(world, "contact_made", OFFICER, reason="Mum rang back: chickenpox")
        session.commit()

    days = replay(engine, great_chart.urn, D(2026, 2, 23), D(2026, 2, 25))
    assert lapsed_on(days, "home_visit_if_no_contact") == ["2026-02-24"]
    assert lapsed_on(days, "home_visit_if_no_contact", called.upn) == []
    tue = days[1]
    assert tue["date"] == "2026-02-24"
    # At 09:20 on Tuesday the visit is not yet overdue; it lapses at noon, seen by the evening run.
    assert [t["kind"] for t in tue["steps"][0]["timers_lapsed"]] == []
    escalations = [n for n in tue["steps"][1]["notifications"] if n["queue"] == "safeguarding"]
    assert {n["role"] for n in escalations} == {"dsl", "deputy_dsl"}
    case_absent = session.exec(select(Case).where(Case.pupil_id == absent.id)).one()
    session.refresh(case_absent)
    assert case_absent.safeguarding and "plan_home_visit" in [p["event"] for p in case_absent.proposals]
    assert _timer(session, case_called.id, "home_visit_if_no_contact").status == "met"


def test_friday_absence_before_the_may_bank_holiday(engine, session, great_chart, make_pupils, add_marks):
    cal = load_calendar(session, great_chart.id)
    (pupil,) = make_pupils(session, great_chart, 1)
    # Fri 1 May 2026 is day 1; Mon 4 May is the early May bank holiday, so day 2 is Tue 5 May
    # and day 3 is Wed 6 May: the home visit is due Wed 6 May 12:00 (BST, 11:00 UTC).
    assert cal.why_closed(D(2026, 5, 4)).startswith("bank holiday")
    assert cal.add_school_days(D(2026, 5, 1), 1) == D(2026, 5, 5)
    add_marks(session, pupil, day_runs(cal, (D(2026, 4, 27), D(2026, 4, 30)),
                                            (D(2026, 5, 1), D(2026, 5, 7), "N")))
    session.commit()
    days = replay(engine, great_chart.urn, D(2026, 4, 30), D(2026, 5, 7))
    assert [d["school_day"] for d in days] == [True, True, False, False, False, True, True, True]
    started = {t["kind"]: t["due"] for d in days for st in d["steps"] for t in st["timers_started"]}
    assert started["home_visit_if_no_contact"] == "2026-05-06T12:00:00+01:00"  # noon BST
    assert lapsed_on(days, "first_day_contact") == ["2026-05-01"]
    assert lapsed_on(days, "home_visit_if_no_contact") == ["2026-05-06"]
    # 5 school days after the first (safe and well check): 5, 6, 7, 8, 11 May -> due Mon 11 May, not yet.
    assert lapsed_on(days, "safe_and_well") == []
    assert started["safe_and_well"].startswith("2026-05-11")


def test_traveller_return_over_half_term_and_an_inset_day(engine, session, great_chart, make_pupils):
    (pupil,) = make_pupils(session, great_chart, 1, traveller=True)
    wf = for_school("national")
    clock = FixedClock(at(D(2025, 10, 13), dt.time(10)))
    case = open_case(session, great_chart, pupil, wf, "traveller", concern="traveller", concern_start=None,
                     clock=clock, actor=OFFICER, reason="family travelling for work")
    move_case(CaseWorld.load(session, case, clock), "family_travelling", OFFICER)
    session.commit()
    # Entered Mon 13 Oct 2025. School days after it: Tue 14 (1), Wed 15 (2), Thu 16 (3), Fri 17 (4);
    # half term 20-24 Oct; Mon 27 Oct is a staff development (INSET) day; Tue 28 (5), Wed 29 (6),
    # Thu 30 (7), Fri 31 (8), Mon 3 Nov (9), Tue 4 Nov (10). Without the INSET day it would be Mon 3 Nov.
    t = _timer(session, case.id, "traveller_return")
    assert t.due_at.astimezone(LONDON) == at(D(2025, 11, 4), dt.time(18))
    days = replay(engine, great_chart.urn, D(2025, 10, 13), D(2025, 11, 5))
    assert lapsed_on(days, "traveller_return") == ["2025-11-04"]
    session.refresh(case)
    assert [p["event"] for p in case.proposals] == ["refer_cme"]
    assert case.safeguarding


def test_traveller_return_over_the_summer_and_an_inset_day_on_the_demo_calendar(session, engine, make_school,
                                                                               make_pupils):
    school = make_school(session, "demo", urn="118002")
    (pupil,) = make_pupils(session, school, 1, traveller=True)
    clock = FixedClock(at(D(2026, 7, 17), dt.time(15)))
    case = open_case(session, school, pupil, for_school("national"), "traveller", concern="traveller",
                     concern_start=None, clock=clock, actor=OFFICER, reason="travelling")
    move_case(CaseWorld.load(session, case, clock), "family_travelling", OFFICER)
    session.commit()
    # Fri 17 Jul 2026: Mon 20 (1), Tue 21 (2), Wed 22 (3, last day of the year); summer holiday;
    # Tue 1 Sep 2026 INSET; Wed 2 (4), Thu 3 (5), Fri 4 (6), Mon 7 (7), Tue 8 (8), Wed 9 (9), Thu 10 Sep (10).
    t = _timer(session, case.id, "traveller_return")
    assert t.due_at.astimezone(LONDON) == at(D(2026, 9, 10), dt.time(18))
    assert sweep(engine, FixedClock(at(D(2026, 9, 10), dt.time(17, 59)))).lapsed == []
    assert [x["kind"] for x in sweep(engine, FixedClock(at(D(2026, 9, 10), dt.time(18)))).lapsed] == ["traveller_return"]


def test_deadlines_are_london_time_across_the_october_clock_change(engine, session, great_chart, make_pupils):
    (pupil,) = make_pupils(session, great_chart, 1)
    clock = FixedClock(at(D(2025, 10, 17), dt.time(9, 30)))
    case = open_case(session, great_chart, pupil, for_school("national"), "unexplained_absence",
                     concern="unexplained_absence:2025-10-17", concern_start=D(2025, 10, 17), clock=clock,
                     actor=Actor.system(), reason="N on Fri 17 Oct")
    session.commit()
    utc = {t.kind: t.due_at.astimezone(dt.UTC) for t in session.exec(select(Timer).where(Timer.case_id == case.id))}
    # Fri 17 Oct 2025 is British Summer Time: noon in London is 11:00 UTC.
    assert utc["first_day_contact"] == dt.datetime(2025, 10, 17, 11, 0, tzinfo=dt.UTC)
    # The clocks go back on Sun 26 Oct. Day 3 is Wed 29 Oct (Mon 27 is INSET; Tue 28 is day 2): noon GMT = 12:00 UTC.
    assert utc["home_visit_if_no_contact"] == dt.datetime(2025, 10, 29, 12, 0, tzinfo=dt.UTC)

    # A deadline at noon on Monday 27 Oct, the first Monday after the change: 12:00 London = 12:00 UTC.
    monday_noon = at(D(2025, 10, 27), dt.time(12))
    session.add(Timer(school_id=great_chart.id, case_id=case.id, kind="first_day_contact", label="test", role="office",
                      state=case.state, started_at=clock.now(), due_at=monday_noon))
    session.get(Timer, next(t.id for t in session.exec(select(Timer).where(Timer.kind == "first_day_contact")))).status = "met"
    session.commit()
    raw = session.connection().exec_driver_sql("SELECT max(due_at) FROM timer WHERE label = 'test'").scalar()
    assert str(raw).startswith("2025-10-27 12:00:00")
    assert sweep(engine, FixedClock(dt.datetime(2025, 10, 27, 11, 59, tzinfo=dt.UTC))).lapsed == []
    assert len(sweep(engine, FixedClock(dt.datetime(2025, 10, 27, 12, 0, tzinfo=dt.UTC))).lapsed) == 1


def test_caseload_deadlines_overdue_first_and_by_role(engine, session, great_chart, make_pupils):
    from casework.store.models import User

    a, b = make_pupils(session, great_chart, 2)
    wf = for_school("national")
    for p, day in ((a, D(2026, 3, 2)), (b, D(2026, 3, 4))):
        open_case(session, great_chart, p, wf, "unexplained_absence", concern=f"unexplained_absence:{day}",
                  concern_start=day, clock=FixedClock(at(day, dt.time(9, 30))), actor=Actor.system(), reason="N")
    dsl = User(school_id=great_chart.id, username="dsl", name="Dee Dsl", role="dsl", email="dsl@school.test")
    session.add(dsl)
    session.commit()
    now = at(D(2026, 3, 4), dt.time(13))
    sweep(engine, FixedClock(now))
    rows = caseload_deadlines(session, great_chart.id, now=now)
    # a's first-day contact (2 Mar, lapsed, case still awaiting contact) and home visit (4 Mar noon) are
    # overdue; b's first-day contact too; then the rest by due time.
    assert [(r.upn, r.kind) for r in rows if r.overdue] == [
        (a.upn, "first_day_contact"), (a.upn, "home_visit_if_no_contact"), (b.upn, "first_day_contact")]
    assert all(not r.overdue for r in rows[3:]) and [r.due for r in rows[3:]] == sorted(r.due for r in rows[3:])
    mine = caseload_deadlines(session, user=dsl, now=now)
    assert {r.kind for r in mine} == {"safe_and_well", "cme_twenty_days"}
    office = caseload_deadlines(session, great_chart.id, role="attendance_officer", now=now)
    assert {r.kind for r in office} == {"first_day_contact", "home_visit_if_no_contact"}


def test_timers_cli_lists_id_case_upn_kind_due_status_and_filters_by_role(db_url, engine, session, great_chart,
                                                                          make_pupils):
    import json

    from click.testing import CliRunner

    from casework.cli import main

    (p,) = make_pupils(session, great_chart, 1)
    open_case(session, great_chart, p, for_school("national"), "unexplained_absence",
              concern="unexplained_absence:2026-03-02", concern_start=D(2026, 3, 2),
              clock=FixedClock(at(D(2026, 3, 2), dt.time(9, 30))), actor=Actor.system(), reason="N")
    session.commit()
    r = CliRunner().invoke(main, ["timers", "--db", db_url, "--school", great_chart.urn, "--json"])
    assert r.exit_code == 0, r.output
    rows = json.loads(r.output)
    assert {"id", "case_id", "upn", "kind", "due", "status"} <= set(rows[0])
    assert {x["kind"] for x in rows} == {"first_day_contact", "home_visit_if_no_contact", "safe_and_well", "cme_twenty_days"}
    r = CliRunner().invoke(main, ["timers", "--db", db_url, "--role", "dsl", "--json"])
    assert {x["kind"] for x in json.loads(r.output)} == {"safe_and_well", "cme_twenty_days"}


def test_replay_cli_prints_each_day(db_url, engine, session, great_chart, make_pupils, add_marks):
    import json

    from click.testing import CliRunner

    from casework.cli import main

    (p,) = make_pupils(session, great_chart, 1)
    add_marks(session, p, [(D(2026, 2, 13), "AM", "N"), (D(2026, 2, 13), "PM", "N")])
    session.commit()
    r = CliRunner().invoke(main, ["replay", "--db", db_url, "--school", great_chart.urn, "--from", "2026-02-13",
                                  "--to", "2026-02-13"])
    assert r.exit_code == 0 and "lapsed first_day_contact" in r.output, r.output
    r = CliRunner().invoke(main, ["replay", "--db", db_url, "--school", great_chart.urn, "--from", "2026-02-13",
                                  "--to", "2026-02-16", "--json"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    assert [d["date"] for d in out["days"]] == ["2026-02-13", "2026-02-14", "2026-02-15", "2026-02-16"]
    assert out["days"][3]["why_closed"] == "outside term time"
    assert out["days"][0]["steps"][0]["cases_opened"] == []  # replaying again adds nothing
    r = CliRunner().invoke(main, ["replay", "--db", db_url, "--school", "999", "--from", "2026-02-13", "--to", "2026-02-13"])
    assert r.exit_code == 1 and "999" in r.output


def test_notifications_from_a_replay_are_added_once(engine, session, great_chart, make_pupils, add_marks):
    (p,) = make_pupils(session, great_chart, 1)
    add_marks(session, p, [(D(2026, 2, 13), "AM", "N"), (D(2026, 2, 13), "PM", "N")])
    session.commit()
    replay(engine, great_chart.urn, D(2026, 2, 13), D(2026, 2, 25))
    before = len(session.exec(select(Notification)).all())
    replay(engine, great_chart.urn, D(2026, 2, 13), D(2026, 2, 25))
    assert len(session.exec(select(Notification)).all()) == before


def test_one_definition_of_an_outstanding_deadline_for_caseload_today_digest_and_cli(db_url, engine, session,
                                                                                     great_chart, make_pupils):
    """A weekly check that lapsed on 2 Oct and restarted (due 9 Oct) is one deadline, due 9 Oct,
    on the caseload, in Today's call list, in the digest's reading and in ``casework timers``;
    a lapsed deadline from a state the case has left is not outstanding anywhere."""
    import json

    from click.testing import CliRunner

    from casework.cases.caseload import first_day_calls, open_caseload
    from casework.cli import main
    from casework.timers import next_deadlines

    (p,) = make_pupils(session, great_chart, 1)
    case = open_case(session, great_chart, p, for_school("national"), "unexplained_absence",
                     concern="unexplained_absence:2025-09-29", concern_start=D(2025, 9, 29),
                     clock=FixedClock(at(D(2025, 9, 29), dt.time(9, 30))), actor=Actor.system(), reason="N")
    for t in session.exec(select(Timer).where(Timer.case_id == case.id)):
        session.delete(t)
    mk = dict(school_id=great_chart.id, case_id=case.id, role="office",
              started_at=dt.datetime(2025, 9, 25, 9, tzinfo=LONDON))
    session.add(Timer(kind="weekly_sight", label="See the child this week", state=case.state, status="lapsed",
                      due_at=dt.datetime(2025, 10, 2, 16, tzinfo=LONDON), **mk))
    session.add(Timer(kind="weekly_sight", label="See the child this week", state=case.state, status="open",
                      due_at=dt.datetime(2025, 10, 9, 16, tzinfo=LONDON), **mk))
    session.add(Timer(kind="old_step", label="From a state the case has left", state="letter", status="lapsed",
                      due_at=dt.datetime(2025, 9, 30, 16, tzinfo=LONDON), **mk))
    session.commit()
    now = dt.datetime(2025, 10, 6, 10, tzinfo=LONDON)

    everywhere = caseload_deadlines(session, great_chart.id, now=now)
    assert [(d.kind, d.due.date(), d.overdue) for d in everywhere] == [("weekly_sight", D(2025, 10, 9), False)]
    assert next_deadlines(session, [case.id], now)[case.id].due.date() == D(2025, 10, 9)
    row = open_caseload(session, great_chart.id, now).rows[0]
    assert (row.deadline.due.date(), row.deadline.overdue) == (D(2025, 10, 9), False)
    assert open_caseload(session, great_chart.id, now).overdue == 0
    assert first_day_calls(session, great_chart.id, now)[0].deadline.due.date() == D(2025, 10, 9)
    r = CliRunner().invoke(main, ["timers", "--db", db_url, "--school", great_chart.urn, "--json",
                                  "--as-of", "2025-10-06T10:00"])
    assert r.exit_code == 0, r.output
    assert [(x["kind"], x["due"][:10]) for x in json.loads(r.output)] == [("weekly_sight", "2025-10-09")]
    r = CliRunner().invoke(main, ["timers", "--db", db_url, "--school", great_chart.urn, "--json", "--status", "lapsed"])
    assert sorted(x["kind"] for x in json.loads(r.output)) == ["old_step", "weekly_sight"]


def test_no_home_visit_for_a_child_back_in_school_before_the_third_day(engine, session, great_chart, make_pupils,
                                                                          add_marks):
    """Away without a reason on Tue 3 Mar 2026, back in class on Wed 4 and Thu 5: there is no third
    day of absence, so the day-3 visit is met on Thu 5 Mar at noon, not raised with the DSL."""
    cal = load_calendar(session, great_chart.id)
    back, away = make_pupils(session, great_chart, 2)
    for p in (back, away):
        add_marks(session, p, day_runs(cal, (D(2026, 3, 2), D(2026, 3, 2)), (D(2026, 3, 3), D(2026, 3, 3), "N")))
    add_marks(session, back, day_marks(cal, D(2026, 3, 4), D(2026, 3, 5)))
    add_marks(session, away, day_marks(cal, D(2026, 3, 4), D(2026, 3, 5), "N"))
    session.commit()

    days = replay(engine, great_chart.urn, D(2026, 3, 3), D(2026, 3, 5))
    assert lapsed_on(days, "home_visit_if_no_contact") == ["2026-03-05"]  # the child still away, only
    assert lapsed_on(days, "home_visit_if_no_contact", back.upn) == []
    case = session.exec(select(Case).where(Case.pupil_id == back.id)).one()
    timer = _timer(session, case.id, "home_visit_if_no_contact")
    assert timer.status == "met" and "Wed 04 Mar 2026" in timer.outcome
    session.refresh(case)
    assert not case.safeguarding
