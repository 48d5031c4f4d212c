"""Letters, decisions, governors' privacy and notifications on the web, through the test client
(the route × role table is in test_web_permissions; the journeys in a browser in test_web_browser)."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from pathlib import Path

import pytest
from sqlmodel import Session, select
from web_world import client

from casework.store.casemodels import Case, LetterBatch, LetterRequest, Notification, Timer
from casework.store.models import Role, User
from casework.web import cases as web_cases

R = Role


def flash(html: str, kind: str) -> str:
    return re.search(rf'class="flash flash-{kind}"[^>]*>([^<]*)<', html).group(1)


# -- letters ------------------------------------------------------------------------------


def test_letters_page_lists_recipients_or_the_problems_from_the_letters_domain(app, world):
    page = client(app, R.ATTENDANCE_OFFICER).get("/letters").get_data(as_text=True)
    ready = page[page.index(f'id="letter-{world.letters["ready"]}"'):]
    ready = ready[:ready.index("</tr>")]
    assert "Alex Abernathy" in ready and "Pat Abernathy and Sam Abernathy" in ready and "Produce" in ready
    blocked = page[page.index(f'id="letter-{world.letters["blocked"]}"'):]
    blocked = blocked[:blocked.index("</tr>")]
    assert "Pat Calloway (Mother, parental responsibility) has no postal address" in blocked
    assert ">Produce<" not in blocked and "Withdraw the letter" in blocked  # put right or withdrawn, never produced
    assert "Produce all ready letters" in page


def test_produce_one_letter_then_download_it_checked_against_its_sha256(app, world, engine):
    c = client(app, R.ATTENDANCE_OFFICER)
    r = c.post(f"/letters/{world.letters['ready']}/produce", follow_redirects=True)
    assert "Attendance below expectations produced for Pat Abernathy and Sam Abernathy" in flash(
        r.get_data(as_text=True), "success")
    with Session(engine) as s:
        req = s.get(LetterRequest, world.letters["ready"])
        assert req.status == "produced" and req.produced_by == "Attendance Officer Person"
        path = Path(req.file)
    r = c.get(f"/letters/{world.letters['ready']}/file")
    assert r.status_code == 200 and r.mimetype == "application/pdf" and r.data[:5] == b"%PDF-"
    assert path.name in r.headers["Content-Disposition"]
    case_page = c.get(f"/cases/{world.cases['absent']}").get_data(as_text=True)
    assert f'href="/letters/{world.letters["ready"]}/file"' in case_page
    assert "by Attendance Officer Person" in case_page
    # the DSL reaches the case but not the letter file, so the case page offers no link
    dsl_page = client(app, R.DSL).get(f"/cases/{world.cases['absent']}").get_data(as_text=True)
    assert "/file" not in dsl_page and "Attendance below expectations" in dsl_page
    # a kept file that has changed is never sent
    path.write_bytes(path.read_bytes() + b"tampered")
    r = c.get(f"/letters/{world.letters['ready']}/file")
    assert r.status_code == 409 and "has changed since it was produced" in r.get_data(as_text=True)
    path.unlink()
    assert "is missing" in c.get(f"/letters/{world.letters['ready']}/file").get_data(as_text=True)


def test_a_letter_with_problems_is_not_produced_and_says_why(app, world, engine):
    c = client(app, R.HEADTEACHER)
    r = c.post(f"/letters/{world.letters['blocked']}/produce", follow_redirects=True)
    assert "Not produced" in flash(r.get_data(as_text=True), "error")
    assert "has no postal address" in flash(r.get_data(as_text=True), "error")
    with Session(engine) as s:
        assert s.get(LetterRequest, world.letters["blocked"]).status == "queued"
    assert c.get(f"/letters/{world.letters['blocked']}/file").status_code == 409


def test_produce_all_ready_letters_as_one_print_file(app, world, engine):
    c = client(app, R.HEADTEACHER)
    r = c.post("/letters/print", follow_redirects=True)
    text = flash(r.get_data(as_text=True), "success")
    assert "1 letter produced as one print file" in text and "1 letter with problems was left in the queue" in text
    with Session(engine) as s:
        batch = s.exec(select(LetterBatch)).one()
        assert batch.letter_ids == [world.letters["ready"]] and batch.produced_by == "Headteacher Person"
        assert s.get(LetterRequest, world.letters["blocked"]).status == "queued"
    r = c.get(f"/letters/print/{batch.id}/file")
    assert r.status_code == 200 and r.data[:5] == b"%PDF-"
    # nothing is ready now: a second press produces nothing
    r = c.post("/letters/print", follow_redirects=True)
    assert "No letter is ready" in flash(r.get_data(as_text=True), "error")


def test_letters_of_another_school_are_not_found(app, world, engine, make_school):
    with Session(engine) as s:
        other = make_school(s, "demo", name="Elsewhere")
        req = s.get(LetterRequest, world.letters["blocked"])
        stray = LetterRequest(school_id=other.id, case_id=req.case_id, template="attendance_concern",
                              queued_at=world.clock.now(), move_id=None, status="produced", file="/etc/hostname",
                              sha256="0" * 64)
        batch = LetterBatch(school_id=other.id, produced_at=world.clock.now(), produced_by="x", file="/etc/hostname",
                            sha256="0" * 64)
        s.add(stray)
        s.add(batch)
        s.commit()
        ids = stray.id, batch.id
    c = client(app, R.HEADTEACHER)
    assert c.get(f"/letters/{ids[0]}/file").status_code == 404
    assert c.get(f"/letters/print/{ids[1]}/file").status_code == 404
    assert c.post(f"/letters/{ids[0]}/produce").status_code == 404


# -- decisions -----------------------------------------------------------------------------


def test_head_refuses_and_authorises_leave_from_the_decisions_page(app, world, engine, make_school):
    c = client(app, R.HEADTEACHER)
    page = c.get("/approvals").get_data(as_text=True)
    assert 'value="authorise_leave"' in page and 'value="refuse_leave"' in page and 'name="back" value="approvals"' in page
    case = world.cases["leave"]
    # authorising needs a reason: the domain says so, and nothing moves
    r = c.post(f"/cases/{case}/move", data={"event": "authorise_leave", "back": "approvals"}, follow_redirects=True)
    assert r.request.path == "/approvals"
    assert "this step needs a reason" in flash(r.get_data(as_text=True), "error")
    r = c.post(f"/cases/{case}/move", data={"event": "refuse_leave", "reason": "not exceptional", "back": "approvals"},
               follow_redirects=True)
    assert "Refuse the leave — recorded" in flash(r.get_data(as_text=True), "success")
    with Session(engine) as s:
        assert s.get(Case, case).state == "refused"
        assert s.exec(select(LetterRequest).where(LetterRequest.case_id == case,
                                                  LetterRequest.template == "leave_refused")).first()
    assert f"decision-{case}-leave" not in c.get("/approvals").get_data(as_text=True)


def test_a_guard_that_fails_is_shown_on_the_decisions_page_and_refuses_the_post(app, world, engine):
    from casework.cases.moves import Actor, open_case
    from casework.store.models import Pupil, School
    from casework.workflow import for_school

    with Session(engine) as s:
        school = s.get(School, world.school_id)
        pupil = s.get(Pupil, world.pupils["fine"])
        late = open_case(s, school, pupil, for_school("national"), "leave", concern="leave:2026-03-09",
                         concern_start=dt.date(2026, 3, 9), clock=world.clock, actor=Actor.system(), reason="form")
        s.commit()
        late_id = late.id
    c = client(app, R.HEADTEACHER)
    page = c.get("/approvals").get_data(as_text=True)
    row = page[page.index(f'id="decision-{late_id}-leave"'):]
    row = row[:row.index("</tr>")]
    assert "leave cannot be authorised retrospectively: it started on 09 March 2026" in row
    assert 'value="refuse_leave"' in row and 'value="authorise_leave"' not in row
    r = c.post(f"/cases/{late_id}/move", data={"event": "authorise_leave", "reason": "family", "back": "approvals"},
               follow_redirects=True)
    assert "retrospectively" in flash(r.get_data(as_text=True), "error")
    # the deputy head decides too; the officer is not offered the page at all
    assert client(app, R.ATTENDANCE_OFFICER).get("/approvals").status_code == 403


def test_formal_proposals_still_open_the_case(app, world, engine):
    with Session(engine) as s:
        case = s.get(Case, world.cases["absent"])
        case.proposals = [{"event": "issue_notice_to_improve", "reason": "threshold met", "source": "t"}]
        s.add(case)
        s.commit()
    page = client(app, R.HEADTEACHER).get("/approvals").get_data(as_text=True)
    row = page[page.index(f'id="decision-{world.cases["absent"]}-issue_notice_to_improve"'):]
    row = row[:row.index("</tr>")]
    assert f'href="/cases/{world.cases["absent"]}"' in row and "<button" not in row and "Formal" in row


# -- governors' privacy ----------------------------------------------------------------------


def test_governor_sees_fewer_than_5_for_small_groups_everywhere(app, world):
    gov = client(app, R.GOVERNOR)
    page = gov.get("/reports").get_data(as_text=True)
    assert "fewer than 5" in page
    year2 = page[page.index('<th scope="row">Year 2</th>'):]
    year2 = year2[:year2.index("</tr>")]
    assert "fewer than 5" in year2 and "%" not in year2
    # the whole school has 5 pupils: shown
    assert 'id="weekly-data"' in page
    # week by week for a small group: no chart data, no table
    page = gov.get("/reports?group=year:4").get_data(as_text=True)
    assert 'id="weekly-data"' not in page and "Year 4 has fewer than 5 pupils" in page
    rows = list(csv.reader(io.StringIO(gov.get("/reports/export.csv?group=year:4").get_data(as_text=True))))
    assert "groups of fewer than 5 pupils are not shown" in rows[0][0]
    by_group = {r[0]: r for r in rows if r}
    assert by_group["Year 2"][1:] == ["fewer than 5"] + [""] * 8
    assert by_group["Whole school"][1] == "5"
    assert rows[-1] == ["Year 4: fewer than 5 pupils, figures not shown"]
    from openpyxl import load_workbook

    wb = load_workbook(io.BytesIO(gov.get("/reports/export.xlsx?group=year:4").data))
    cells = [[c for c in r] for r in wb["Groups"].iter_rows(values_only=True)]
    assert ["Year 2", "fewer than 5"] == list(next(r for r in cells if r[0] == "Year 2")[:2])
    assert all(v in (None, "") for v in next(r for r in cells if r[0] == "Year 2")[2:])
    assert "figures not shown" in list(wb["Weeks"].iter_rows(values_only=True))[-1][0]


def test_headteacher_sees_every_group(app, world):
    head = client(app, R.HEADTEACHER)
    page = head.get("/reports?group=year:4").get_data(as_text=True)
    assert "fewer than 5" not in page and 'id="weekly-data"' in page
    rows = list(csv.reader(io.StringIO(head.get("/reports/export.csv").get_data(as_text=True))))
    assert {r[0]: r for r in rows if r}["Year 2"][1] == "1"


def test_min_group_size_is_the_workflows_with_a_national_default_of_5():
    from casework.workflow import SchoolSettings, for_school

    assert for_school("national").model.school.report_min_group_size == 5
    assert SchoolSettings.model_fields["report_min_group_size"].description


# -- notifications -------------------------------------------------------------------------


def test_unread_nudges_in_the_top_bar_and_marked_read(app, world, engine):
    c = client(app, R.TEACHER)
    page = c.get("/pupils").get_data(as_text=True)
    badge = re.search(r'class="badge">(\d+)<span class="sr-only"> unread', page)
    assert badge and badge.group(1) == "1"
    page = c.get("/notifications").get_data(as_text=True)
    assert "Alex Abernathy: attendance case needs a look" in page
    r = c.post(f"/notifications/{world.nudges[R.TEACHER]}/read", follow_redirects=True)
    assert "Marked as read" in flash(r.get_data(as_text=True), "success")
    assert 'class="badge"' not in r.get_data(as_text=True)
    # another role's nudge is not yours to mark
    assert c.post(f"/notifications/{world.nudges[R.HEADTEACHER]}/read").status_code == 404
    with Session(engine) as s:
        assert s.get(Notification, world.nudges[R.HEADTEACHER]).read_at is None
    officer = client(app, R.ATTENDANCE_OFFICER)
    n = int(re.search(r'class="badge">(\d+)<', officer.get("/today").get_data(as_text=True)).group(1))
    assert n >= 1
    r = officer.post("/notifications/read-all", follow_redirects=True)
    assert f"{n} notification" in flash(r.get_data(as_text=True), "success")


def test_dsl_marks_an_alert_dealt_with_and_it_stays_on_the_timeline(app, world, engine):
    dsl = client(app, R.DSL)
    case = world.cases["visit"]
    assert f'id="alert-{world.alert}"' in dsl.get("/dsl").get_data(as_text=True)
    r = dsl.post(f"/dsl/alerts/{world.alert}/resolve", data={"resolution": "Confirmed new address with the LA"},
                 follow_redirects=True)
    assert "dealt with" in flash(r.get_data(as_text=True), "success")
    assert f'id="alert-{world.alert}"' not in r.get_data(as_text=True)
    assert f'id="case-{case}"' not in r.get_data(as_text=True)  # no other alert: the case leaves the queue
    with Session(engine) as s:
        alerts = s.exec(select(Notification).where(Notification.case_id == case,
                                                   Notification.queue == "safeguarding")).all()
        assert alerts and all(n.resolved_at and n.resolved_by == "dsl" for n in alerts)  # the deputy's copy too
        assert s.get(Case, case).safeguarding is False
    timeline = dsl.get(f"/cases/{case}").get_data(as_text=True)
    assert "Safeguarding alert dealt with" in timeline and "Confirmed new address with the LA" in timeline
    officer_page = client(app, R.ATTENDANCE_OFFICER).get(f"/cases/{case}").get_data(as_text=True)
    assert "family has moved out" not in officer_page
    assert client(app, R.DEPUTY_DSL).post(f"/dsl/alerts/{world.alert}/resolve").status_code == 302


def test_closing_a_case_resolves_its_safeguarding_alerts(app, world, engine):
    dsl = client(app, R.DSL)
    case = world.cases["visit"]
    r = dsl.post(f"/cases/{case}/move", data={"event": "close", "reason": "moved away; CME referral not needed"},
                 follow_redirects=True)
    assert "now at Closed" in flash(r.get_data(as_text=True), "success")
    with Session(engine) as s:
        alerts = s.exec(select(Notification).where(Notification.case_id == case,
                                                   Notification.queue == "safeguarding")).all()
        assert alerts and all(n.resolved_at is not None and n.resolution.startswith("case closed") for n in alerts)
    assert f'id="alert-{world.alert}"' not in dsl.get("/dsl").get_data(as_text=True)
    assert "Safeguarding alert dealt with" in dsl.get(f"/cases/{case}").get_data(as_text=True)


def test_another_schools_alert_cannot_be_resolved(app, world, engine):
    with Session(engine) as s:
        n = s.get(Notification, world.nudges[R.DSL])
    assert client(app, R.DSL).post(f"/dsl/alerts/{n.id}/resolve").status_code == 404  # a nudge is not an alert


@pytest.mark.parametrize("name", ['=HYPERLINK("http://evil.example","Open")', "+1+cmd|' /C calc'!A0", "-2+3",
                                  "@SUM(1,2)", "\tTabbed", "\rReturned"])
def test_exports_never_hold_a_live_formula(engine, app, world, name):
    """A school named like a formula is written as text in CSV and XLSX (an apostrophe in front)."""
    from openpyxl import load_workbook

    from casework.store.models import School

    with Session(engine) as s:
        school = s.get(School, world.school_id)
        school.name = name
        s.add(school)
        s.commit()
    head = client(app, R.HEADTEACHER)
    rows = list(csv.reader(io.StringIO(head.get("/reports/export.csv").get_data(as_text=True))))
    assert rows[0][0].startswith("'" + name)
    wb = load_workbook(io.BytesIO(head.get("/reports/export.xlsx").data))
    cell = wb["Groups"]["A1"]
    assert cell.data_type == "s" and cell.value.startswith("'") and name.strip() in cell.value


def test_safe_cell_leaves_plain_text_and_numbers_alone():
    from casework.figures.export import safe_cell

    assert safe_cell("Year 4") == "Year 4" and safe_cell(-3) == -3 and safe_cell(95.5) == 95.5
    assert safe_cell("") == "" and safe_cell(None) is None


def test_a_role_group_reads_as_the_roles_in_it(app, engine, world):
    """Today's "Who" column and the deadlines name a workflow's role group by the people in it."""
    from flask_login import login_user

    from casework.web.context import WebUser
    from casework.web.filters import role_label

    with Session(engine) as s:
        officer = s.exec(select(User).where(User.username == world.users[Role.ATTENDANCE_OFFICER])).one()
    with app.test_request_context():
        login_user(WebUser(officer))
        assert role_label("office") == "Attendance officer or wellbeing lead"  # national.yaml's roles:
        assert role_label("issuers") == "Headteacher or deputy headteacher"
        assert role_label("dsl") == "Designated safeguarding lead"
        assert role_label("system") == "casework (automatic)"


def test_the_year_so_far_runs_from_the_first_school_day_on_every_page(app, world):
    """The demo calendar's year opens with INSET days on 1 and 2 September: pupil, case and DSL
    pages all count, and say, "since Wed 3 September 2025", as the letters do."""
    officer = client(app, Role.ATTENDANCE_OFFICER)
    pupil = officer.get(f"/pupils/{world.pupils['absent']}").get_data(as_text=True)
    assert "Attendance since" in pupil, pupil
    assert re.search(r"Attendance since ([^<]*)<", pupil).group(1) == "Wed 3 September 2025"
    case = officer.get(f"/cases/{world.cases['absent']}").get_data(as_text=True)
    assert "since Wed 3 September 2025" in case


def test_a_deadline_in_days_reads_as_its_day_and_one_in_hours_with_its_time(app, engine, world):
    from markupsafe import escape

    from casework.cases.moves import END_OF_DAY
    from casework.clock import local

    with Session(engine) as s:
        timers = s.exec(select(Timer).where(Timer.status == "open")).all()
    by_day = [t for t in timers if local(t.due_at).time() == END_OF_DAY]
    by_hour = [t for t in timers if local(t.due_at).time() != END_OF_DAY]
    assert by_day and by_hour, [(t.kind, t.due_at) for t in timers]
    officer = client(app, Role.ATTENDANCE_OFFICER)
    for t in (by_day[0], by_hour[0]):
        page = officer.get(f"/cases/{t.case_id}").get_data(as_text=True)
        label = re.escape(str(escape(t.label)))
        shown = re.search(rf"<strong>{label}</strong><br>\s*<span class=\"muted\">(?:Due|Overdue since) ([^<(]+)",
                          page).group(1).strip()
        assert shown.endswith(f"{local(t.due_at):%H:%M}") == (t is by_hour[0]), shown


def test_today_names_the_case_owner_where_there_is_one(app, engine, world):
    from casework.store.models import Pupil

    officer = client(app, Role.ATTENDANCE_OFFICER)
    page = officer.get("/today").get_data(as_text=True)
    rows = re.findall(r'<tr class="[^"]*">\s*<td><a href="/cases/(\d+)">.*?</tr>', page, re.S)
    assert rows, "the world has deadlines due today or overdue"
    case_id = int(rows[0])
    with Session(engine) as s:
        owner = s.exec(select(User).where(User.username == world.users[Role.WELLBEING_LEAD])).one()
        case = s.get(Case, case_id)
        case.owner_id = owner.id
        s.add(case)
        s.commit()
        pupil, name = s.get(Pupil, case.pupil_id).name, owner.name
    page = officer.get("/today").get_data(as_text=True)
    row = re.search(rf'<a href="/cases/{case_id}">{re.escape(pupil)}</a>.*?</tr>', page, re.S).group(0)
    assert name in row


def test_the_caseload_pager_keeps_the_tab_sort_and_filters(app, world, monkeypatch):
    """One case to a page: Next and Previous move one page and carry the chosen tab, sort and
    filter with them (even an empty one), so paging never drops back to the default list."""
    monkeypatch.setattr(web_cases, "PAGE", 1)
    c = client(app, Role.HEADTEACHER)
    first = c.get("/caseload?who=team&sort=state&year=").get_data(as_text=True)
    pages = int(re.search(r"Page 1 of (\d+)", first).group(1))
    assert pages >= 2 and "Previous" not in first
    nxt = re.search(r'<nav class="pager"[^>]*>.*?<a href="([^"]+)">Next', first, re.S).group(1).replace("&amp;", "&")
    assert nxt.startswith("/caseload?") and {"who=team", "sort=state", "year=", "page=2"} <= set(nxt[10:].split("&"))
    second = c.get(nxt).get_data(as_text=True)
    assert f"Page 2 of {pages}" in second
    prev = re.search(r'<a href="([^"]+)">‹ Previous', second).group(1).replace("&amp;", "&")
    assert {"who=team", "sort=state", "page=1"} <= set(prev[10:].split("&"))
    last = c.get(nxt.replace("page=2", f"page={pages}")).get_data(as_text=True)
    assert "Next ›" not in last
