"""Work lists read deadlines one way: the caseload, Today and ``casework timers`` agree on what
is outstanding, and Today lists the day's work grouped and counted."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from click.testing import CliRunner
from sqlmodel import select

from casework.cases.caseload import open_caseload
from casework.cases.moves import Actor, open_case
from casework.clock import FixedClock, at
from casework.store.casemodels import Timer
from casework.timers import next_deadlines, outstanding_deadlines
from casework.workflow import for_school

D = dt.date


@pytest.fixture
def school(session, make_school):
    s = make_school(session, "great-chart", urn="118001")
    session.commit()
    return s


def _open(session, school, pupil, day):
    return open_case(session, school, pupil, for_school("national"), "unexplained_absence",
                     concern=f"unexplained_absence:{day}", concern_start=day,
                     clock=FixedClock(at(day, dt.time(9, 30))), actor=Actor.system(), reason="N")


def test_a_lapsed_deadline_replaced_by_its_next_period_is_not_outstanding_anywhere(db_url, session, school,
                                                                                   make_pupils):
    (p,) = make_pupils(session, school, 1)
    case = _open(session, school, p, D(2026, 3, 2))
    session.flush()
    first = session.exec(select(Timer).where(Timer.case_id == case.id, Timer.kind == "first_day_contact")).one()
    first.status = "lapsed"
    later = at(D(2026, 3, 9), dt.time(12))
    session.add(Timer(school_id=school.id, case_id=case.id, kind="first_day_contact", label=first.label,
                      role=first.role, state=case.state, started_at=first.due_at, due_at=later))
    for t in session.exec(select(Timer).where(Timer.case_id == case.id, Timer.kind != "first_day_contact")):
        t.status = "met"
    session.commit()
    now = at(D(2026, 3, 4), dt.time(13))

    rows = outstanding_deadlines(session, school.id, now=now)
    assert [(r.kind, r.due, r.overdue) for r in rows] == [("first_day_contact", later, False)]
    assert next_deadlines(session, [case.id], now)[case.id].due == later
    load = open_caseload(session, school.id, now)
    assert load.overdue == 0 and load.rows[0].deadline.due == later

    from casework.cli import main
    r = CliRunner().invoke(main, ["timers", "--db", db_url, "--as-of", "2026-03-04", "--json"])
    assert r.exit_code == 0, r.output
    assert [(x["kind"], x["overdue"]) for x in json.loads(r.output)] == [("first_day_contact", False)]


def test_a_lapsed_deadline_stays_outstanding_until_the_case_moves_on(session, school, make_pupils):
    (p,) = make_pupils(session, school, 1)
    case = _open(session, school, p, D(2026, 3, 2))
    session.flush()
    first = session.exec(select(Timer).where(Timer.case_id == case.id, Timer.kind == "first_day_contact")).one()
    first.status = "lapsed"
    session.commit()
    now = at(D(2026, 3, 4), dt.time(13))
    assert "first_day_contact" in {d.kind for d in outstanding_deadlines(session, school.id, now=now) if d.overdue}
    case.state = "closed_elsewhere_for_test"
    session.add(case)
    session.commit()
    assert "first_day_contact" not in {d.kind for d in outstanding_deadlines(session, school.id, now=now)}


def test_timers_refuses_an_unknown_role(db_url):
    from casework.cli import main
    r = CliRunner().invoke(main, ["timers", "--db", db_url, "--role", "caretaker"])
    assert r.exit_code != 0 and "unknown role 'caretaker'" in r.output


def test_a_proposal_is_a_decision_only_while_its_step_starts_from_where_the_case_is(session, school, make_pupils):
    from casework.cases.caseload import decisions_waiting

    (p,) = make_pupils(session, school, 1)
    day = D(2026, 3, 2)
    case = open_case(session, school, p, for_school("national"), "attendance", concern="attendance:test",
                     concern_start=day, clock=FixedClock(at(day, dt.time(9, 30))), actor=Actor.system(), reason="PA")
    case.proposals = [{"event": "issue_notice_to_improve", "reason": "90% over 10 weeks"}]
    case.state = "meeting"
    session.add(case)
    session.commit()
    assert [d.event for d in decisions_waiting(session, school.id)] == ["issue_notice_to_improve"]
    case.state = "notice_to_improve"  # the notice has gone: proposing it again is stale
    session.add(case)
    session.commit()
    assert decisions_waiting(session, school.id) == []


def test_repeated_findings_collapse_to_the_latest_with_history():
    from types import SimpleNamespace as F

    from casework.web.cases import group_findings

    rows = [F(id=i, rule="persistent_absence", found_on=D(2026, 10, i), summary=f"{85 + i}%") for i in range(1, 18)]
    rows.append(F(id=99, rule="weekday_pattern", found_on=D(2026, 10, 5), summary="Fridays"))
    groups = group_findings(rows)
    assert [g["latest"].summary for g in groups] == ["102%", "Fridays"]
    assert len(groups[0]["history"]) == 16 and groups[0]["history"][0].found_on == D(2026, 10, 16)


def test_case_show_collapses_findings_hides_stale_proposals_and_heads_the_steps(db_url, session, school,
                                                                                 make_pupils):
    from casework.cli import main
    from casework.store.casemodels import CaseFinding

    (p,) = make_pupils(session, school, 1)
    case = _open(session, school, p, D(2026, 3, 2))
    for i in range(1, 6):
        session.add(CaseFinding(case_id=case.id, rule="persistent_absence", key=f"k{i}", found_on=D(2026, 2, i),
                                summary=f"Absence is {10 + i}.0%"))
    case.proposals = [{"event": "issue_notice_to_improve", "reason": "stale: not a move of this case type"}]
    session.add(case)
    session.commit()
    r = CliRunner().invoke(main, ["case", "show", str(case.id), "--db", db_url])
    assert r.exit_code == 0, r.output
    assert "Persistent absence, 05 Feb 2026: Absence is 15.0% (4 earlier)" in r.output
    assert "Absence is 11.0%" not in r.output and "Proposed" not in r.output
    assert "Steps open now" in r.output
