"""Route × role: every route, every role, checked over HTTP against a table written out here
(not read from the app's matrix), plus CSRF, headers, sign-in and refusals with reasons."""

from __future__ import annotations

import re

import pytest
from web_world import PASSWORD, USERNAMES, login, web_app

from casework.store.models import Role

R = Role
CASEWORK = {R.ATTENDANCE_OFFICER, R.WELLBEING_LEAD, R.DSL, R.DEPUTY_DSL, R.HEADTEACHER, R.DEPUTY_HEAD}
LETTERS = {R.ATTENDANCE_OFFICER, R.WELLBEING_LEAD, R.HEADTEACHER, R.DEPUTY_HEAD}
STAFF = CASEWORK | {R.TEACHER}
TRUST = {R.TRUST_LEAD}  # looks across the trust's schools: reads, takes no step
ALL = set(Role)

# endpoint -> (method, url template, the roles that may reach it)
EXPECTED = {
    "today.index": ("GET", "/today", CASEWORK),
    "today.record_call": ("POST", "/today/call/{call}", CASEWORK),
    "cases.caseload": ("GET", "/caseload", CASEWORK | TRUST),
    "cases.show": ("GET", "/cases/{absent}", CASEWORK | TRUST),
    "cases.move": ("POST", "/cases/{absent}/move", CASEWORK),
    "cases.assign": ("POST", "/cases/{absent}/owner", CASEWORK),
    "cases.add_note": ("POST", "/cases/{absent}/notes", CASEWORK),
    "cases.approvals": ("GET", "/approvals", {R.HEADTEACHER, R.DEPUTY_HEAD}),
    "pupils.index": ("GET", "/pupils", CASEWORK | {R.TEACHER} | TRUST),
    "pupils.show": ("GET", "/pupils/{p_absent}", CASEWORK | {R.TEACHER} | TRUST),
    "dsl.index": ("GET", "/dsl", {R.DSL, R.DEPUTY_DSL}),
    "dsl.resolve": ("POST", "/dsl/alerts/{alert}/resolve", {R.DSL, R.DEPUTY_DSL}),
    "letters.index": ("GET", "/letters", LETTERS),
    "letters.produce": ("POST", "/letters/{blocked}/produce", LETTERS),
    "letters.produce_all": ("POST", "/letters/print", LETTERS),
    "letters.supply": ("POST", "/letters/{blocked}/fact", LETTERS),
    "letters.withdraw": ("POST", "/letters/{blocked}/withdraw", LETTERS),
    "letters.download": ("GET", "/letters/{ready}/file", LETTERS),
    "letters.download_batch": ("GET", "/letters/print/{batch}/file", LETTERS),
    "notifications.index": ("GET", "/notifications", STAFF),
    "notifications.mark_read": ("POST", "/notifications/{nudge}/read", STAFF),
    "notifications.mark_all_read": ("POST", "/notifications/read-all", STAFF),
    "reports.index": ("GET", "/reports", CASEWORK | {R.TEACHER, R.GOVERNOR} | TRUST),
    "reports.export_csv": ("GET", "/reports/export.csv", CASEWORK | {R.GOVERNOR} | TRUST),
    "reports.export_xlsx": ("GET", "/reports/export.xlsx", CASEWORK | {R.GOVERNOR} | TRUST),
    "reports.policy": ("GET", "/reports/policy", CASEWORK | {R.GOVERNOR} | TRUST),
    "reports.governors": ("GET", "/reports/governors", {R.HEADTEACHER, R.DEPUTY_HEAD, R.GOVERNOR} | TRUST),
    "reports.governors_csv": ("GET", "/reports/governors.csv", {R.HEADTEACHER, R.DEPUTY_HEAD, R.GOVERNOR} | TRUST),
    "reports.governors_xlsx": ("GET", "/reports/governors.xlsx", {R.HEADTEACHER, R.DEPUTY_HEAD, R.GOVERNOR} | TRUST),
    "reports.policy_svg": ("GET", "/reports/policy/attendance.svg", CASEWORK | {R.GOVERNOR} | TRUST),
    "trust.overview": ("GET", "/trust", TRUST),
    "whatif.index": ("GET", "/whatif", {R.HEADTEACHER, R.DEPUTY_HEAD, R.GOVERNOR} | TRUST),
    "admin.users": ("GET", "/admin/users", {R.ADMIN}),
    "admin.update_user": ("POST", "/admin/users/{user}", {R.ADMIN}),
    "admin.reset_password": ("POST", "/admin/users/{user}/password", {R.ADMIN}),
    "admin.imports": ("GET", "/admin/imports", {R.ADMIN}),
    "admin.settings": ("GET", "/admin/settings", {R.ADMIN}),
}
# Open to anyone signed in, whatever their role: their own password, and choosing among their own schools.
PUBLIC = {"static", "auth.login", "auth.logout", "auth.home", "auth.password", "auth.choose_school"}


def stored_letter(engine, world, folder) -> int:
    """The world's ready letter as if produced (a small kept file and its SHA-256), and a print file
    of it: what the download routes serve. Returns the print file's id."""
    import datetime as dt
    import hashlib

    from sqlmodel import Session

    from casework.store.casemodels import LetterBatch, LetterRequest

    data = b"%PDF-1.4\n% a kept letter\n"
    path = folder / "kept.pdf"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    digest = hashlib.sha256(data).hexdigest()
    with Session(engine) as s:
        req = s.get(LetterRequest, world.letters["ready"])
        req.status, req.produced_at, req.produced_by, req.file, req.sha256 = (
            "produced", world.clock.now(), "Test", str(path), digest)
        req.recipients = [{"addressee": "Pat Abernathy"}]
        batch = LetterBatch(school_id=world.school_id, produced_at=world.clock.now() + dt.timedelta(seconds=1),
                            produced_by="Test", letter_ids=[req.id], file=str(path), sha256=digest)
        s.add(req)
        s.add(batch)
        s.commit()
        return batch.id


def urls(world, engine, role: Role = R.ATTENDANCE_OFFICER, batch: int = 1) -> dict[str, str]:
    from sqlmodel import Session, select

    from casework.store.models import User

    with Session(engine) as s:
        other = s.exec(select(User).where(User.username == USERNAMES[R.TEACHER])).one().id
    ids = {**{k: v for k, v in world.cases.items()}, **{f"p_{k}": v for k, v in world.pupils.items()}, "user": other,
           **world.letters, "nudge": world.nudges[role], "alert": world.alert, "batch": batch}
    return {ep: url.format(**ids) for ep, (_, url, _) in EXPECTED.items()}


def test_every_route_is_in_the_table_and_names_a_permission(app):
    endpoints = {r.endpoint for r in app.url_map.iter_rules()}
    assert endpoints - PUBLIC == set(EXPECTED), "a new route needs a row in EXPECTED"
    for ep in EXPECTED:
        assert getattr(app.view_functions[ep], "permission", None), f"{ep} does not consult the matrix"


@pytest.mark.parametrize("role", list(Role), ids=lambda r: r.value)
def test_route_role_matrix(app, world, engine, role, letters_folder):
    batch = stored_letter(engine, world, letters_folder)
    c = app.test_client()
    assert login(c, role).status_code == 302
    paths = urls(world, engine, role, batch)
    for ep, (method, _, roles) in EXPECTED.items():
        data = {"outcome": "no_answer", "event": "none", "text": "", "role": "teacher", "active": "1"}
        r = c.get(paths[ep]) if method == "GET" else c.post(paths[ep], data=data)
        if role in roles:
            assert r.status_code in (200, 302), f"{role.value} should reach {method} {paths[ep]}: {r.status_code}"
            if method == "GET":
                assert r.status_code == 200
        else:
            assert r.status_code == 403, f"{role.value} must not reach {method} {paths[ep]}: {r.status_code}"


def test_signed_out_every_route_goes_to_sign_in(app, world, engine):
    c = app.test_client()
    for ep, path in urls(world, engine).items():
        method = EXPECTED[ep][0]
        r = c.get(path) if method == "GET" else c.post(path)
        assert r.status_code == 302 and "/login" in r.headers["Location"], ep


def test_governor_reaches_no_pupil_name(app, world, engine):
    c = app.test_client()
    login(c, R.GOVERNOR)
    assert c.get(f"/pupils/{world.pupils['absent']}").status_code == 403
    for path in ("/", "/reports", "/reports/policy", "/reports/export.csv"):
        r = c.get(path, follow_redirects=True)
        assert r.status_code == 200
        for surname in ("Abernathy", "Calloway", "Vandermeer", "Lindqvist", "Fairweather"):
            assert surname not in r.get_data(as_text=True), f"{surname} on {path}"


def test_wrong_password_is_refused_without_saying_which_part(app):
    c = app.test_client()
    r = login(c, R.HEADTEACHER, "wrong")
    assert r.status_code == 401
    assert "do not match" in r.get_data(as_text=True)
    r = c.post("/login", data={"username": "nobody", "password": "x"})
    assert r.status_code == 401
    assert c.get("/today").status_code == 302


def test_sign_in_does_not_follow_an_outside_next(app):
    c = app.test_client()
    r = c.post("/login?next=//evil.example/x", data={"username": USERNAMES[R.DSL], "password": PASSWORD})
    assert r.headers["Location"] == "/"


def test_login_is_rate_limited(engine, world):
    app = web_app(engine, world, LOGIN_RATE_LIMIT="3 per minute", WTF_CSRF_ENABLED=False)
    c = app.test_client()
    codes = [login(c, R.ADMIN, "wrong").status_code for _ in range(4)]
    assert codes == [401, 401, 401, 429]


def test_csrf_is_enforced(engine, world):
    app = web_app(engine, world)  # CSRF on
    c = app.test_client()
    assert c.post("/login", data={"username": USERNAMES[R.ATTENDANCE_OFFICER], "password": PASSWORD}).status_code == 400
    page = c.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    r = c.post("/login", data={"username": USERNAMES[R.ATTENDANCE_OFFICER], "password": PASSWORD, "csrf_token": token})
    assert r.status_code == 302
    case = world.cases["call"]
    assert c.post(f"/today/call/{case}", data={"outcome": "no_answer"}).status_code == 400
    page = c.get("/today").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    assert c.post(f"/today/call/{case}", data={"outcome": "no_answer", "csrf_token": token}).status_code == 302


def test_security_headers_and_cookie_flags(engine, world):
    app = web_app(engine, world, WTF_CSRF_ENABLED=False, SESSION_COOKIE_SECURE=True)
    c = app.test_client()
    r = login(c, R.HEADTEACHER)
    cookie = r.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" in cookie
    page = c.get("/reports")
    csp = page.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
    assert page.headers["X-Content-Type-Options"] == "nosniff"
    assert page.headers["Cache-Control"] == "no-store"
    html = page.get_data(as_text=True)
    assert not re.search(r"<script(?![^>]*(src=|type=\"application/json\"))", html), "inline script"
    assert " style=" not in html


def test_non_head_is_refused_a_notice_with_the_reason(app, world):
    c = app.test_client()
    login(c, R.ATTENDANCE_OFFICER)
    case = world.cases["absent"]
    r = c.post(f"/cases/{case}/move", data={"event": "issue_notice_to_improve", "reason": "threshold met"},
               follow_redirects=True)
    text = r.get_data(as_text=True)
    flash = re.search(r'class="flash flash-error"[^>]*>([^<]*)<', text).group(1)
    assert "Not done" in flash and "Headteacher" in flash and "may issue a notice to improve" in flash
    assert "Monitoring" in text


def test_safeguarding_notes_are_for_the_dsl_and_deputies(app, world):
    case = world.cases["visit"]
    dsl = app.test_client()
    login(dsl, R.DSL)
    dsl.post(f"/cases/{case}/notes", data={"text": "Known to children's social care", "safeguarding": "1"})
    dsl.post(f"/cases/{case}/notes", data={"text": "Mum says back tomorrow"})
    assert "Known to children" in dsl.get(f"/cases/{case}").get_data(as_text=True)
    officer = app.test_client()
    login(officer, R.ATTENDANCE_OFFICER)
    page = officer.get(f"/cases/{case}").get_data(as_text=True)
    assert "Mum says back tomorrow" in page and "Known to children" not in page
    assert officer.post(f"/cases/{case}/notes", data={"text": "x", "safeguarding": "1"}).status_code == 403


def test_a_case_of_another_school_is_not_found(app, world, engine, make_school):
    from sqlmodel import Session

    from casework.cases.moves import Actor, open_case
    from casework.store.models import Pupil
    from casework.workflow import for_school

    with Session(engine) as s:
        other = make_school(s, "demo", name="Elsewhere")
        p = Pupil(school_id=other.id, upn="A123456789012", forename="O", surname="Ther",
                  date_of_birth=__import__("datetime").date(2017, 1, 1), year_group=3)
        s.add(p)
        s.flush()
        case = open_case(s, other, p, for_school("national"), "attendance", concern="attendance", concern_start=None,
                         clock=world.clock, actor=Actor.system(), reason="t")
        s.commit()
        cid, pid = case.id, p.id
    c = app.test_client()
    login(c, R.HEADTEACHER)
    assert c.get(f"/cases/{cid}").status_code == 404
    assert c.get(f"/pupils/{pid}").status_code == 404


def test_import_shows_every_problem(app, tmp_path):
    c = app.test_client()
    login(c, R.ADMIN)
    csv = b"upn,forename,surname,date_of_birth,year_group\nBADUPN,A,B,2017-01-01,3\nA123,C,D,not-a-date,3\n"
    r = c.post("/admin/imports", data={"kind": "pupils", "file": (__import__("io").BytesIO(csv), "pupils.csv")},
               content_type="multipart/form-data")
    text = r.get_data(as_text=True)
    assert "Not imported" in text
    assert "pupils.csv:2" in text and "pupils.csv:3" in text


def test_reports_export_csv_and_xlsx(app):
    c = app.test_client()
    login(c, R.GOVERNOR)
    r = c.get("/reports/export.csv")
    assert r.mimetype == "text/csv" and "Whole school" in r.get_data(as_text=True)
    r = c.get("/reports/export.xlsx")
    assert r.data[:2] == b"PK"


def test_role_groups_come_from_the_school_workflow(tmp_path):
    """The matrix names the workflow's role groups: a school that puts its teaching assistant
    lead (a teacher) in the office group lets them work the letters; national does not."""
    from casework.web.permissions import role_may, roles_for_action
    from casework.workflow import load

    national = load("national")
    assert not role_may("teacher", "letters.view", national)
    assert roles_for_action("dsl.view", national) == {"dsl", "deputy_dsl"}
    wf_file = tmp_path / "ours.yaml"
    wf_file.write_text("extends: national\nroles:\n  office: [attendance_officer, wellbeing_lead, teacher]\n")
    ours = load(wf_file)
    assert role_may("teacher", "letters.view", ours)
    assert not role_may("teacher", "dsl.view", ours)
    assert not role_may("governor", "case.view", ours)
