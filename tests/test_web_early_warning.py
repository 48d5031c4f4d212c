"""Early warning on Today, the caseload and the reports (the rule itself is tested on
hand-made trajectories in test_rules_early_warning)."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import insert
from sqlmodel import Session
from test_web_permissions import login
from web_world import TODAY, build_world, web_app

from casework.cases.early_warnings import early_warnings
from casework.cases.moves import Actor, open_case
from casework.register.importer import import_calendar, import_marks
from casework.register.store import load_calendar
from casework.store.models import Mark, Pupil, Role, School
from casework.workflow import for_school


@pytest.fixture
def world(engine, make_school, make_pupils):
    world = build_world(engine, make_school, make_pupils)
    with Session(engine, expire_on_commit=False) as s:
        school = s.get(School, world.school_id)
        cal = load_calendar(s, school.id)
        dee = make_pupils(s, school, 1, year_group=6, surname="Decline")[0]
        dee.forename = "Dee"
        rows = []
        # present every session from 5 Jan; from Mon 2 Mar, every other session missed (O)
        for i, (d, sess) in enumerate(cal.sessions(dt.date(2026, 1, 5), TODAY - dt.timedelta(days=1))):
            code = "O" if d >= dt.date(2026, 3, 2) and i % 2 else ("/" if sess == "AM" else "\\")
            rows.append(dict(school_id=school.id, pupil_id=dee.id, date=d, session=sess, code=code,
                             recorded_by="test", recorded_at=world.clock.now()))
        s.connection().execute(insert(Mark.__table__), rows)
        open_case(s, school, dee, for_school("national"), "attendance", concern="attendance", concern_start=None,
                  clock=world.clock, actor=Actor.system(), reason="for the test")
        s.commit()
        world.pupils["dee"] = dee.id
    return world


@pytest.fixture
def app(engine, world):
    return web_app(engine, world, WTF_CSRF_ENABLED=False)


def page(app, role, url):
    c = app.test_client()
    assert login(c, role).status_code == 302
    r = c.get(url)
    assert r.status_code == 200
    return r.get_data(as_text=True)


def test_the_declining_pupil_is_on_today_the_caseload_and_the_reports(app, world, engine):
    with Session(engine) as s:
        warned = early_warnings(s, s.get(School, world.school_id), TODAY)
    # only Dee: at or above 90% today, under it by the end of term at her recent rate
    assert [w.pupil_id for w in warned] == [world.pupils["dee"]]
    [w] = warned
    assert w.attendance_pct >= 90 > w.projected_pct and w.line == "persistent absence"
    today = page(app, Role.ATTENDANCE_OFFICER, "/today")
    section = today[today.index('id="early-warning"'):]
    assert "Dee Decline" in section and f"{w.projected_pct:.1f}%" in section and w.confidence.capitalize() in section
    assert "Abernathy" not in section  # already under the line: nothing to warn of
    assert "<strong>1</strong> early warning" in today
    caseload = page(app, Role.ATTENDANCE_OFFICER, "/caseload?who=team")
    assert "1 pupil is heading under a line by the end of term" in caseload
    assert f"Early warning: {w.projected_pct:.1f}% by term end" in caseload
    reports = page(app, Role.GOVERNOR, "/reports")
    section = reports[reports.index('id="ew-h"'):]
    assert "Dee" not in section and "persistent absence" in section  # counts only: no pupil named
    assert '<th scope="row">All lines</th><td class="num">1</td>' in section


def test_the_warning_follows_the_register_when_it_changes(world, engine, tmp_path, make_school, make_pupils):
    """The warnings are kept between pages until the school's register changes: another
    school's marks leave them be; an import that amends the marks behind a warning takes it
    away on the next look, in the same process."""
    with Session(engine) as s:
        school = s.get(School, world.school_id)
        first = early_warnings(s, school, TODAY)
        assert [w.pupil_id for w in first] == [world.pupils["dee"]]
        other = make_school(s, urn="999123", name="Another Primary")
        pupil = make_pupils(s, other, 1)[0]
        s.add(Mark(school_id=other.id, pupil_id=pupil.id, date=dt.date(2026, 3, 2), session="AM", code="O",
                   recorded_by="test", recorded_at=world.clock.now()))
        s.commit()
        assert early_warnings(s, school, TODAY) is first  # kept: this school's register is as it was
        dee = s.get(Pupil, world.pupils["dee"])
        cal = load_calendar(s, school.id)
        present = tmp_path / "dee-present.csv"
        present.write_text("upn,date,session,code\n" + "".join(
            f"{dee.upn},{d.isoformat()},{sess},{'/' if sess == 'AM' else chr(92)}\n"
            for d, sess in cal.sessions(dt.date(2026, 3, 2), TODAY - dt.timedelta(days=1))))
        result = import_marks(s, school, present, clock=world.clock)
        s.commit()
        assert result.changed > 0  # her absences amended to present
        assert early_warnings(s, school, TODAY) == []


def test_the_warning_follows_the_calendar_when_it_changes(world, engine, tmp_path):
    """The projection runs to the end of term on the school's calendar: a closure added in the
    rest of the term (here a week) changes it on the next look, in the same process."""
    with Session(engine) as s:
        school = s.get(School, world.school_id)
        first = early_warnings(s, school, TODAY)
        assert [w.pupil_id for w in first] == [world.pupils["dee"]]
        assert early_warnings(s, school, TODAY) is first
        remaining = load_calendar(s, school.id).session_count(TODAY, first[0].term_end)
        week = [d for d, sess in load_calendar(s, school.id).sessions(TODAY + dt.timedelta(days=1), first[0].term_end)
                if sess == "AM"][:5]
        closure = tmp_path / "closure.csv"
        closure.write_text(f"start,end,kind,label,session\n{week[0]},{week[-1]},closure,Boiler repairs,\n")
        import_calendar(s, school, closure, clock=world.clock, by="test")
        s.commit()
        after = early_warnings(s, school, TODAY)
        assert load_calendar(s, school.id).session_count(TODAY, first[0].term_end) == remaining - 10
        assert [w.pupil_id for w in after] == [world.pupils["dee"]]
        # ten fewer sessions at her recent rate to carry forward: the projection falls less far
        assert after[0].projected_pct > first[0].projected_pct
