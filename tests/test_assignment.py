"""Case owners (issue 13): the workflow's assignment rules, reassignment, and the caseload as
Mine / Team / Unassigned with attendance, trend and owner, sortable."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlmodel import Session, select

from casework.accounts import add_user
from casework.cases.assignment import AssignmentError, owner_for, reassign
from casework.cases.caseload import open_caseload
from casework.cases.evaluate import evaluate
from casework.cases.moves import Actor, open_case
from casework.clock import FixedClock, at
from casework.register.store import load_calendar
from casework.store.audit import AuditEvent
from casework.store.casemodels import Case, Timer
from casework.store.models import User
from casework.web import create_app
from casework.workflow import for_school

SYSTEM = Actor("system", "system", "casework")
PASSWORD = "amber kettle orbit lantern"


def _staff(s, school, clock, *people):
    for username, role in people:
        add_user(s, username=username, name=username.title(), role=role, schools=[school], now=clock.now(), by="t",
                 password=PASSWORD)
    s.flush()
    return {u.username: u for u in s.exec(select(User))}


def _open(s, school, pupil, wf, case_type, clock):
    return open_case(s, school, pupil, wf, case_type, concern=case_type, concern_start=clock.today(), clock=clock,
                     actor=SYSTEM, reason="test")


def test_national_gives_a_new_case_to_the_office_member_with_fewest_open_cases(session, make_school, make_pupils,
                                                                               clock):
    school = make_school(session)
    staff = _staff(session, school, clock, ("bea", "attendance_officer"), ("al", "wellbeing_lead"),
                   ("head", "headteacher"))
    wf = for_school("national")
    a, b, c = make_pupils(session, school, 3)
    first = _open(session, school, a, wf, "attendance", clock)
    second = _open(session, school, b, wf, "attendance", clock)
    third = _open(session, school, c, wf, "attendance", clock)
    # the office is attendance officers and wellbeing leads: al and bea share it, alphabetically on a tie
    assert [x.owner_id for x in (first, second, third)] == [staff["al"].id, staff["bea"].id, staff["al"].id]
    assert staff["head"].id not in {first.owner_id, second.owner_id, third.owner_id}


def test_the_first_matching_rule_decides_by_case_type_and_year_group(session, make_school, make_pupils, clock,
                                                                     tmp_path):
    policy = tmp_path / "split.yaml"
    policy.write_text("extends: national\nname: Split\nassignment:\n"
                      "  - {case_types: [unexplained_absence], to: attendance_officer}\n"
                      "  - {year_groups: [5, 6], to: safeguarding}\n"
                      "  - {to: wellbeing_lead}\n")
    wf = for_school(str(policy))
    school = make_school(session, workflow=str(policy))
    staff = _staff(session, school, clock, ("ao", "attendance_officer"), ("wl", "wellbeing_lead"), ("dsl", "dsl"))
    (y3,), (y6,) = make_pupils(session, school, 1, year_group=3), make_pupils(session, school, 1, year_group=6)
    assert owner_for(session, wf, Case(school_id=school.id, pupil_id=y6.id, case_type="unexplained_absence",
                                       state="x", concern="x", workflow="x", opened_by="t"), y6) == staff["ao"]
    assert _open(session, school, y6, wf, "attendance", clock).owner_id == staff["dsl"].id
    assert _open(session, school, y3, wf, "attendance", clock).owner_id == staff["wl"].id


def test_nobody_in_the_role_leaves_the_case_unassigned_and_reassignment_is_recorded(session, make_school, make_pupils,
                                                                                    clock):
    school = make_school(session)
    (p,) = make_pupils(session, school, 1)
    wf = for_school("national")
    case = _open(session, school, p, wf, "attendance", clock)
    assert case.owner_id is None  # no attendance officer or wellbeing lead yet
    staff = _staff(session, school, clock, ("dsl", "dsl"), ("gov", "governor"))
    with pytest.raises(AssignmentError, match="gov cannot own a case here"):
        reassign(session, case, wf, "gov", by="dsl", now=clock.now())
    reassign(session, case, wf, "dsl", by="dsl", now=clock.now(), reason="safeguarding concern")
    session.flush()
    assert case.owner_id == staff["dsl"].id
    event = session.exec(select(AuditEvent).where(AuditEvent.action == "case.assign")).one()
    assert event.detail["owner_to"] == "dsl" and event.detail["owner_from"] is None


def test_caseload_mine_team_unassigned_with_attendance_and_sorting(engine, make_school, make_pupils, add_marks):
    clock = FixedClock(at(dt.date(2025, 10, 17), dt.time(16)))
    with Session(engine) as s:
        school = make_school(s)
        cal = load_calendar(s, school.id)
        staff = _staff(s, school, clock, ("ao", "attendance_officer"), ("wl", "wellbeing_lead"), ("head", "headteacher"))
        low, mid, high = make_pupils(s, school, 3)
        days = cal.school_days(dt.date(2025, 9, 1), dt.date(2025, 10, 17))
        # low: away every Monday and, in the last four weeks, every Friday too (falling); high: always in
        for pupil, away in ((low, lambda d: d.weekday() == 0 or (d.weekday() == 4 and d > dt.date(2025, 9, 19))),
                            (mid, lambda d: d.weekday() == 0), (high, lambda d: False)):
            add_marks(s, pupil, [(d, x, "O" if away(d) else "/") for d in days for x in ("AM", "PM")])
        wf = for_school("national")
        cases = {p.id: _open(s, school, p, wf, "attendance", clock) for p in (low, mid, high)}
        reassign(s, cases[high.id], wf, None, by="head", now=clock.now())
        s.commit()
        ao, wl = staff["ao"].id, staff["wl"].id
        owners = {p.upn: cases[p.id].owner_id for p in (low, mid, high)}
        low_upn, high_upn = low.upn, high.upn
        low_name, high_name, high_case, school_id = low.name, high.name, cases[high.id].id, school.id

    with Session(engine) as s:
        team = open_caseload(s, school_id, clock.now(), who="team", user_id=ao, sort="attendance")
        assert team.counts == {"team": 3, "mine": sum(o == ao for o in owners.values()), "unassigned": 1}
        assert [r.pupil.upn for r in team.rows][0] == low_upn and [r.pupil.upn for r in team.rows][-1] == high_upn
        first = team.rows[0]
        assert first.attendance < 85 and first.trend == "down" and team.rows[-1].trend == "steady"
        # Great Chart: school from Wed 3 Sep (1-2 Sep INSET) to Fri 17 Oct is 33 days, 66 sessions; low
        # missed 6 Mondays and 4 Fridays (20 sessions): 46/66. The national recent window is 4 school weeks,
        # Mon 22 Sep to Fri 17 Oct: 40 sessions, 4 Mondays and 4 Fridays missed: 24/40.
        assert round(first.attendance, 1) == 69.7 and first.recent == 60.0
        middle = team.rows[1]  # Mondays only: 54/66 this year, 32/40 recently, 1.8 points: steady
        assert round(middle.attendance, 1) == 81.8 and middle.recent == 80.0 and middle.trend == "steady"
        assert [r.pupil.upn for r in open_caseload(s, school_id, clock.now(), who="unassigned", user_id=ao).rows] == [high_upn]
        mine = open_caseload(s, school_id, clock.now(), who="mine", user_id=wl)
        assert {r.case.owner_id for r in mine.rows} == {wl}
        # no tab chosen: one's own cases when there are any, else the team's; every tab's totals
        # and overdue counts agree with its rows, before and after the deadlines fall due
        assert open_caseload(s, school_id, clock.now(), who="", user_id=wl).who == ("mine" if mine.total else "team")
        assert open_caseload(s, school_id, clock.now(), who="", user_id=-1).who == "team"
        for k, c in enumerate(s.exec(select(Case).where(Case.school_id == school_id).order_by(Case.id)).all()):
            s.add(Timer(school_id=school_id, case_id=c.id, kind="review", label="Review", role="office", state=c.state,
                        started_at=clock.now(), due_at=clock.now() + dt.timedelta(days=10 + 30 * k), status="open"))
        s.flush()
        for when in (clock.now(), clock.now() + dt.timedelta(days=120)):
            for who in ("mine", "team", "unassigned"):
                load = open_caseload(s, school_id, when, who=who, user_id=ao, limit=1000)
                assert load.total == len(load.rows) == load.counts[who]
                assert load.overdue == sum(bool(r.deadline and r.deadline.overdue) for r in load.rows)
        assert [open_caseload(s, school_id, clock.now() + dt.timedelta(days=d), who="team").overdue
                for d in (0, 20, 50, 120)] == [0, 1, 2, 3]

    app = create_app({"ENGINE": engine, "CLOCK": clock, "WTF_CSRF_ENABLED": False, "SECRET_KEY": "t"})
    c = app.test_client()
    c.post("/login", data={"username": "head", "password": PASSWORD})
    page = c.get("/caseload").get_data(as_text=True)
    assert "The team&#39;s caseload" in page or "The team's caseload" in page  # the head owns nothing: the team's
    assert c.get("/caseload?sort=nonsense").status_code == 400
    page = c.get("/caseload?who=team&sort=attendance").get_data(as_text=True)
    assert page.index(low_name) < page.index(high_name) and "falling" in page  # lowest attendance first
    c.post(f"/cases/{high_case}/owner", data={"owner": "wl"})
    with Session(engine) as s:
        assert s.get(Case, high_case).owner_id == wl


def test_the_nightly_evaluation_shares_the_cases_it_opens_out_as_one_at_a_time_would(engine, session, make_school,
                                                                                    make_pupils, add_marks, clock):
    """The evaluation reads the school's staff once for all the cases it opens (assignment's
    ``staff_remembered``); who has fewest open cases is still counted case by case."""
    school = make_school(session)
    staff = _staff(session, school, clock, ("bea", "attendance_officer"), ("al", "wellbeing_lead"))
    day = dt.date(2026, 2, 13)  # a Friday of the spring term
    for p in make_pupils(session, school, 6):
        add_marks(session, p, [(day, "AM", "N"), (day, "PM", "N")])
    session.commit()
    report = evaluate(engine, school.urn, FixedClock(at(day, dt.time(19))))
    assert len(report.opened) == 6
    session.expire_all()
    owners = [c.owner_id for c in session.exec(select(Case).order_by(Case.id))]
    assert owners == [staff["al"].id, staff["bea"].id] * 3
