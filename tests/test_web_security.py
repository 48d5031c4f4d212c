"""Security findings from a probe of the running app, each with the test that failed before
its fix: open redirects, sessions that outlived sign-out, huge numbers in addresses, a huge
one-line upload, and sign-in throttling per account as well as per address."""

from __future__ import annotations

import io

import pytest
from web_world import PASSWORD, USERNAMES, login, web_app

from casework.store.models import Role

R = Role


@pytest.mark.parametrize("target", [
    "/%09/evil.example/phish", "/\t/evil.example/phish", "//evil.example", "/\\evil.example", "/%5Cevil.example",
    "https://evil.example/", "/%2F/evil.example", "%2F%2Fevil.example", "/\r\n/evil.example", "/%0d%0a/evil.example",
    "java\tscript:alert(1)", "/%00/evil.example",
])
def test_sign_in_never_sends_anyone_to_another_site(app, target):
    c = app.test_client()
    r = c.post("/login", query_string={"next": target},
               data={"username": USERNAMES[R.ATTENDANCE_OFFICER], "password": PASSWORD})
    assert r.status_code == 302
    location = r.headers["Location"]
    assert "evil.example" not in location and "script" not in location
    assert location == "/"


def test_sign_in_follows_a_path_on_this_site(app, world):
    c = app.test_client()
    r = c.post("/login", query_string={"next": f"/cases/{world.cases['absent']}?tab=notes"},
               data={"username": USERNAMES[R.ATTENDANCE_OFFICER], "password": PASSWORD})
    assert r.headers["Location"] == f"/cases/{world.cases['absent']}?tab=notes"


def _cookie(client) -> str:
    return client.get_cookie("casework_session").value


def test_a_cookie_saved_before_sign_out_opens_nothing_afterwards(app, world):
    c = app.test_client()
    assert login(c, R.ATTENDANCE_OFFICER).status_code == 302
    saved = _cookie(c)
    case = f"/cases/{world.cases['absent']}"
    assert c.get(case).status_code == 200
    assert c.post("/logout").status_code == 302
    thief = app.test_client()
    thief.set_cookie("casework_session", saved)
    r = thief.get(case)
    assert r.status_code == 302 and "/login" in r.headers["Location"]


def test_disabling_an_account_ends_its_sessions(app, engine, world):
    from casework.web.sessions import end_sessions

    c = app.test_client()
    login(c, R.WELLBEING_LEAD)
    assert c.get("/caseload").status_code == 200
    end_sessions(engine, USERNAMES[R.WELLBEING_LEAD])
    r = c.get("/caseload")
    assert r.status_code == 302 and "/login" in r.headers["Location"]
    # signing in again works: the new session carries the new version
    login(c, R.WELLBEING_LEAD)
    assert c.get("/caseload").status_code == 200


@pytest.mark.parametrize("url", [
    "/cases/99999999999999999999999", "/pupils/99999999999999999999999", "/letters/99999999999999999999/file",
    "/notifications/99999999999999999999999/read", "/cases/9223372036854775808",
])
def test_huge_numbers_in_an_address_are_not_found(app, url):
    c = app.test_client()
    login(c, R.HEADTEACHER)
    r = c.post(url) if url.endswith("/read") else c.get(url)
    assert r.status_code == 404


@pytest.mark.parametrize("url", [
    "/caseload?page=99999999999999999999999", "/caseload?year=99999999999999999999999", "/letters?page=999999999999999999999",
    "/reports?group=year:99999999999999999999999", "/pupils?year=99999999999999999999999", "/caseload?page=-3",
])
def test_huge_numbers_in_a_query_are_a_bad_request(app, url):
    c = app.test_client()
    login(c, R.HEADTEACHER)
    assert c.get(url).status_code == 400


def test_a_ten_megabyte_line_is_refused_with_its_line_number(app):
    c = app.test_client()
    login(c, R.ADMIN)
    body = b"upn,forename,surname,date_of_birth,year_group\n" + b'"' + b"x" * 10_000_000 + b'",a,b,2016-01-01,4\n'
    r = c.post("/admin/imports", data={"kind": "pupils", "file": (io.BytesIO(body), "huge.csv")},
               content_type="multipart/form-data")
    assert r.status_code == 200
    page = r.get_data(as_text=True)
    assert "huge.csv:2" in page and "too long" in page


def test_sign_in_is_throttled_per_account_with_retry_after(engine, world):
    app = web_app(engine, world, WTF_CSRF_ENABLED=False, LOGIN_RATE_LIMIT="100 per minute",
                  LOGIN_ACCOUNT_LIMIT="3 per minute")
    user = USERNAMES[R.HEADTEACHER]
    for i in range(3):  # from three different addresses: the per-address limit never trips
        c = app.test_client()
        r = c.post("/login", data={"username": user, "password": "wrong"}, environ_base={"REMOTE_ADDR": f"10.0.0.{i}"})
        assert r.status_code == 401
    r = app.test_client().post("/login", data={"username": user, "password": PASSWORD},
                               environ_base={"REMOTE_ADDR": "10.0.0.9"})
    assert r.status_code == 429 and int(r.headers["Retry-After"]) > 0
    # another account is not held up
    r = app.test_client().post("/login", data={"username": USERNAMES[R.DSL], "password": PASSWORD},
                               environ_base={"REMOTE_ADDR": "10.0.0.9"})
    assert r.status_code == 302


def test_the_proxy_address_is_trusted_only_when_told(engine, world):
    for trust, expect_blocked in ((False, True), (True, False)):
        app = web_app(engine, world, WTF_CSRF_ENABLED=False, LOGIN_RATE_LIMIT="2 per minute", TRUST_PROXY=trust)
        for i in range(2):
            app.test_client().post("/login", data={"username": "nobody", "password": "x"},
                                   headers={"X-Forwarded-For": f"192.0.2.{i}"}, environ_base={"REMOTE_ADDR": "127.0.0.1"})
        r = app.test_client().post("/login", data={"username": "nobody", "password": "x"},
                                   headers={"X-Forwarded-For": "192.0.2.7"}, environ_base={"REMOTE_ADDR": "127.0.0.1"})
        # untrusted: every request is 127.0.0.1 (the proxy) and the third is blocked;
        # trusted: each client has its own address and nobody is blocked
        assert (r.status_code == 429) is expect_blocked


def test_an_admin_deactivating_or_changing_a_role_ends_that_persons_sessions(engine, app, world):
    from sqlmodel import Session, select

    from casework.store.models import User

    teacher = app.test_client()
    login(teacher, R.TEACHER)
    assert teacher.get("/pupils").status_code == 200
    with Session(engine) as s:
        uid = s.exec(select(User).where(User.username == USERNAMES[R.TEACHER])).one().id
    admin = app.test_client()
    login(admin, R.ADMIN)
    assert admin.post(f"/admin/users/{uid}", data={"role": "governor", "active": "1"}).status_code == 302
    r = teacher.get("/pupils")
    assert r.status_code == 302 and "/login" in r.headers["Location"]


def test_a_session_cookie_planted_before_sign_in_is_not_signed_in_after(app, world):
    """Session fixation: someone who plants a cookie on a shared computer before the officer
    signs in gains nothing; signing in starts a new session."""
    victim = app.test_client()
    victim.get("/login")
    planted = victim.get_cookie("casework_session")
    planted = planted.value if planted else None
    login(victim, R.ATTENDANCE_OFFICER)
    assert victim.get("/caseload").status_code == 200
    assert _cookie(victim) != planted
    attacker = app.test_client()
    if planted:
        attacker.set_cookie("casework_session", planted)
    r = attacker.get("/caseload")
    assert r.status_code == 302 and "/login" in r.headers["Location"]
