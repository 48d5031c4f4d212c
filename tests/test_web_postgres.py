"""The web app on a real PostgreSQL server: the web test world (tests/web_world.py) built in a fresh
database per test, and the main journeys through Flask's test client — sign in, Today with a
first-day call recorded, a case moved letter → meeting, the DSL's queue, a report export, a letter
produced and downloaded. The server is the session's throwaway one (``postgres_url``)."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import uuid
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlmodel import Session, select
from web_world import PASSWORD, USERNAMES, build_world, web_app

from casework import timers
from casework.store.casemodels import Case, LetterRequest, Timer
from casework.store.db import make_engine
from casework.store.models import Role

pytestmark = pytest.mark.postgres
R = Role


@pytest.fixture
def pg_db_url(postgres_url):
    """The URL of a database made for this test alone on the throwaway server, dropped afterwards."""
    name = f"web_{uuid.uuid4().hex[:12]}"
    admin = create_engine(make_url(postgres_url).set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(postgres_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def pg_engine_web(pg_db_url):
    eng = make_engine(pg_db_url)
    assert eng.dialect.name == "postgresql"
    yield eng
    eng.dispose()


@pytest.fixture
def world(pg_engine_web, make_school, make_pupils):
    return build_world(pg_engine_web, make_school, make_pupils)


@pytest.fixture
def app(pg_engine_web, pg_db_url, world):
    # the app opens its own engine from the URL, as `casework serve --db postgresql://...` does
    app = web_app(pg_engine_web, world, ENGINE=None, DATABASE_URL=pg_db_url, WTF_CSRF_ENABLED=False)
    assert app.extensions["casework_engine"].dialect.name == "postgresql"
    yield app
    app.extensions["casework_engine"].dispose()


def client(app, role: Role):
    c = app.test_client()
    r = c.post("/login", data={"username": USERNAMES[role], "password": PASSWORD})
    assert r.status_code == 302, r.get_data(as_text=True)[:500]
    return c


def flash(html: str, kind: str) -> str:
    m = re.search(rf'class="flash flash-{kind}"[^>]*>([^<]*)<', html)
    assert m, f"no {kind} message in the page"
    return m.group(1)


def test_sign_in_each_role_and_reach_home(app):
    for role in Role:
        c = client(app, role)
        r = c.get("/", follow_redirects=True)
        assert r.status_code == 200, role
    bad = app.test_client().post("/login", data={"username": USERNAMES[R.HEADTEACHER], "password": "wrong"})
    assert bad.status_code == 401 and "do not match" in bad.get_data(as_text=True)


def test_today_lists_the_first_day_call_and_records_outcomes(app, world, pg_engine_web):
    c = client(app, R.ATTENDANCE_OFFICER)
    case = world.cases["call"]
    page = c.get("/today").get_data(as_text=True)
    assert f'id="case-{case}"' in page and "Pat Calloway" in page
    r = c.post(f"/today/call/{case}", data={"outcome": "no_answer"}, follow_redirects=True)
    assert "recorded" in flash(r.get_data(as_text=True), "success")
    assert "1 unanswered call" in r.get_data(as_text=True)
    r = c.post(f"/today/call/{case}", data={"outcome": "reached", "reason": "Mum called back: chickenpox"},
               follow_redirects=True)
    assert "now at Closed" in flash(r.get_data(as_text=True), "success")
    assert f'id="case-{case}"' not in r.get_data(as_text=True)
    with Session(pg_engine_web) as s:
        assert s.get(Case, case).state == "closed"
        kinds = {t.kind: t.status for t in s.exec(select(Timer).where(Timer.case_id == case))}
        assert "met" in kinds.values()
    page = c.get(f"/cases/{case}").get_data(as_text=True)
    assert "chickenpox" in page and "Called - no answer" in page


def test_a_case_moves_letter_then_meeting_and_shows_on_the_caseload(app, world, pg_engine_web):
    c = client(app, R.ATTENDANCE_OFFICER)
    case = world.cases["absent"]
    load = c.get("/caseload").get_data(as_text=True)
    assert f"/cases/{case}" in load and "Abernathy" in load
    for flt in ("?year=5", "?state=monitoring", "?type=attendance", "?flag=social_worker", "?page=2"):
        assert c.get("/caseload" + flt).status_code == 200, flt
    r = c.post(f"/cases/{case}/move", data={"event": "send_letter", "reason": "attendance 86% this term"},
               follow_redirects=True)
    assert "recorded" in flash(r.get_data(as_text=True), "success")
    r = c.post(f"/cases/{case}/move", data={"event": "invite_to_meeting", "reason": ""}, follow_redirects=True)
    assert "recorded" in flash(r.get_data(as_text=True), "success")
    with Session(pg_engine_web) as s:
        assert s.get(Case, case).state == "meeting"
    page = c.get(f"/cases/{case}").get_data(as_text=True)
    assert "Attendance meeting" in page
    r = c.post(f"/cases/{case}/notes", data={"text": "Mum rang to confirm Tuesday"}, follow_redirects=True)
    assert r.status_code == 200 and "Mum rang to confirm Tuesday" in r.get_data(as_text=True)
    pupil = c.get(f"/pupils/{world.pupils['absent']}")
    assert pupil.status_code == 200 and "Abernathy" in pupil.get_data(as_text=True)
    assert c.get("/pupils").status_code == 200


def test_the_dsl_queue_escalates_a_missed_visit_and_an_alert_is_dealt_with(app, world, pg_engine_web):
    officer = client(app, R.ATTENDANCE_OFFICER)
    case = world.cases["visit"]
    r = officer.post(f"/cases/{case}/move", data={"event": "plan_home_visit"}, follow_redirects=True)
    assert "recorded" in flash(r.get_data(as_text=True), "success")
    world.clock.advance(dt.timedelta(days=2))
    report = timers.sweep(pg_engine_web, world.clock)
    assert any(x["kind"] == "home_visit_made" for x in report.lapsed)
    dsl = client(app, R.DSL)
    page = dsl.get("/dsl").get_data(as_text=True)
    assert f'id="case-{case}"' in page and "the planned home visit has not been recorded" in page
    assert f'id="alert-{world.alert}"' in page
    r = dsl.post(f"/cases/{case}/notes", data={"text": "Visiting with the social worker", "safeguarding": "1",
                                                "back": "dsl"}, follow_redirects=True)
    assert "Safeguarding note added" in flash(r.get_data(as_text=True), "success")
    r = dsl.post(f"/dsl/alerts/{world.alert}/resolve", data={"resolution": "New address confirmed with the LA"},
                 follow_redirects=True)
    assert "dealt with" in flash(r.get_data(as_text=True), "success")
    assert f'id="alert-{world.alert}"' not in r.get_data(as_text=True)
    assert "Visiting with the social worker" not in officer.get(f"/cases/{case}").get_data(as_text=True)


def test_reports_and_exports(app, world):
    head = client(app, R.HEADTEACHER)
    assert head.get("/reports").status_code == 200
    r = head.get("/reports/export.csv")
    assert r.status_code == 200 and r.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(r.get_data(as_text=True))))
    assert rows[0][0].startswith("Meadow Lane Primary School attendance") and len(rows) > 3
    r = head.get("/reports/export.xlsx")
    assert r.status_code == 200 and r.data[:2] == b"PK"
    gov = client(app, R.GOVERNOR)
    text_ = gov.get("/reports/export.csv").get_data(as_text=True)
    assert "Abernathy" not in text_
    assert head.get("/reports/policy").status_code == 200
    assert head.get("/approvals").status_code == 200


def test_a_letter_is_produced_and_downloaded(app, world, pg_engine_web):
    c = client(app, R.ATTENDANCE_OFFICER)
    page = c.get("/letters").get_data(as_text=True)
    assert f'id="letter-{world.letters["ready"]}"' in page
    r = c.post(f"/letters/{world.letters['ready']}/produce", follow_redirects=True)
    assert "produced for Pat Abernathy and Sam Abernathy" in flash(r.get_data(as_text=True), "success")
    with Session(pg_engine_web) as s:
        req = s.get(LetterRequest, world.letters["ready"])
        assert req.status == "produced" and req.produced_at.tzinfo is not None
        path = Path(req.file)
    r = c.get(f"/letters/{world.letters['ready']}/file")
    assert r.status_code == 200 and r.data[:5] == b"%PDF-" and path.name in r.headers["Content-Disposition"]
    r = c.post(f"/letters/{world.letters['blocked']}/produce", follow_redirects=True)
    assert "has no postal address" in flash(r.get_data(as_text=True), "error")
    assert "by Attendance Officer Person" in c.get(f"/cases/{world.cases['absent']}").get_data(as_text=True)


@pytest.mark.parametrize("role", [R.ATTENDANCE_OFFICER, R.DSL, R.HEADTEACHER, R.GOVERNOR, R.ADMIN],
                         ids=lambda r: r.value)
def test_every_route_answers_on_postgres(app, world, pg_engine_web, role, letters_folder):
    """The route × role table from test_web_permissions, on PostgreSQL: every page a role may
    reach renders (no SQL that only SQLite accepts), every other one is refused."""
    from test_web_permissions import EXPECTED, stored_letter, urls

    batch = stored_letter(pg_engine_web, world, letters_folder)
    c = client(app, role)
    paths = urls(world, pg_engine_web, role, batch)
    for ep, (method, _, roles) in EXPECTED.items():
        data = {"outcome": "no_answer", "event": "none", "text": "", "role": "teacher", "active": "1"}
        r = c.get(paths[ep]) if method == "GET" else c.post(paths[ep], data=data)
        if role in roles:
            assert r.status_code == (200 if method == "GET" else 302), f"{role.value} {method} {paths[ep]}"
        else:
            assert r.status_code == 403, f"{role.value} {method} {paths[ep]}"


def test_caseload_counts_agree_with_its_rows(app, world, pg_engine_web):
    """Total and overdue (counted in one query) match the rows the caseload lists."""
    from casework.cases.caseload import open_caseload

    world.clock.advance(dt.timedelta(days=2))  # the first-day calls' deadlines have passed
    with Session(pg_engine_web) as s:
        load = open_caseload(s, world.school_id, world.clock.now())
        assert load.total == len(load.rows) == 4
        assert load.overdue == sum(1 for r in load.rows if r.deadline and r.deadline.overdue) >= 1
        assert [r.deadline.overdue for r in load.rows if r.deadline][:load.overdue] == [True] * load.overdue
    page = client(app, R.ATTENDANCE_OFFICER).get("/caseload?who=team").get_data(as_text=True)
    assert f"{load.total} open cases" in page and f"{load.overdue} overdue" in page
