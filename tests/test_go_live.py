"""Going live (issue 10): a school from an empty database, as the README's deployment section
tells a school business manager to do it, through the real CLI and the real server, on SQLite
and on PostgreSQL; accounts from the command line; trusts; `school check`; workflows by path."""

from __future__ import annotations

import datetime as dt
import http.cookiejar
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlmodel import Session, select

from casework.cli import main
from casework.register.upn import make_upn
from casework.store.casemodels import Case
from casework.store.models import School, User
from casework.web import create_app

DATA = Path(__file__).parent / "data"
GREAT_CHART = DATA / "kent-great-chart-2025-26.csv"
ROOT = Path(__file__).resolve().parent.parent
UPNS = [make_upn(886, 2999, 2020, i) for i in (1, 2, 3)]
CASEWORK = [sys.executable, "-m", "casework"]


# -- the CLI, in a process of its own, as a person types it ------------------------------


def run(*args: str, db: str | None, stdin: str = "", cwd: Path | None = None, ok: bool = True):
    env = {**os.environ, "COLUMNS": "200", "CASEWORK_NO_PROGRESS": "1"}
    env.pop("CASEWORK_DATABASE_URL", None)
    r = subprocess.run([*CASEWORK, *args, *(["--db", db] if db else [])], input=stdin, capture_output=True,
                       text=True, cwd=cwd, env=env, timeout=120)
    if ok:
        assert r.returncode == 0, f"casework {' '.join(args)}: {r.stdout}{r.stderr}"
    return r


def school_files(tmp: Path) -> dict[str, Path]:
    """A small school's MIS exports: pupils, contacts (one pupil without a phone), a week of marks."""
    files = {
        "pupils": "upn,forename,surname,date_of_birth,year_group\n"
                  f"{UPNS[0]},Amelia,Smith,2016-10-04,4\n{UPNS[1]},Noah,Patel,2015-02-14,5\n"
                  f"{UPNS[2]},Isla,Brown,2017-01-20,3\n",
        "contacts": "upn,name,relationship,phone_mobile,address,postcode\n"
                    f"{UPNS[0]},Dana Smith,Mother,07700 900001,\"1 High St, Ashford\",TN23 1AA\n"
                    f"{UPNS[1]},Ravi Patel,Father,07700 900002,\"2 High St, Ashford\",TN23 1AB\n"
                    f"{UPNS[2]},Kim Brown,Mother,,\"3 High St, Ashford\",TN23 1AC\n",
        "marks": "upn,date,session,code\n" + "".join(
            f"{u},2025-09-{d:02d},{s},{'N' if (u, d) == (UPNS[1], 5) else '/'}\n"
            for u in UPNS for d in (3, 4, 5) for s in ("AM", "PM")),
    }
    out = {}
    for kind, body in files.items():
        out[kind] = tmp / f"{kind}.csv"
        out[kind].write_text(body)
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Browser:
    """A person at a browser: cookies kept, the form's CSRF token sent back."""

    def __init__(self, base: str):
        self.base = base
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))

    def get(self, path: str) -> tuple[str, str]:
        with self.opener.open(self.base + path, timeout=30) as r:
            return r.geturl(), r.read().decode()

    def post(self, path: str, form_page: str, data: dict) -> tuple[str, str]:
        token = re.search(r'name="csrf_token" value="([^"]+)"', form_page).group(1)
        body = urllib.parse.urlencode({**data, "csrf_token": token}).encode()
        try:
            with self.opener.open(self.base + path, data=body, timeout=30) as r:
                return r.geturl(), r.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.url, exc.read().decode()


def go_live(db: str, tmp: Path) -> None:
    """The README's deployment steps, one by one, then the first sign-in through `casework serve`."""
    f = school_files(tmp)
    run("school", "add", "--urn", "118500", "--name", "Ashford Oaks Primary", "--la", "Kent",
        "--address", "Oak Lane, Ashford", "--phone", "01233 000000", "--head", "Ms J Rowe", db=db)
    run("import", "calendar", str(GREAT_CHART), "--school", "118500", db=db)
    for kind in ("pupils", "contacts"):
        run("import", kind, str(f[kind]), "--school", "118500", db=db)
    run("import", "marks", str(f["marks"]), "--school", "118500", "--as-of", "2025-09-05T18:00", db=db)
    added = run("user", "add", "jrowe", "--school", "118500", "--role", "attendance_officer",
                "--name", "Jo Rowe", "--position", "Attendance officer", db=db).stdout
    one_time = re.search(r"One-time password for jrowe: (\S+)", added).group(1)
    check = run("school", "check", "118500", "--as-of", "2025-09-05", "--json", db=db, ok=False)
    found = {c["name"]: c for c in json.loads(check.stdout)["checks"]}
    assert check.returncode == 1 and found["contacts"]["status"] == "fail" and UPNS[2] in found["contacts"]["detail"]
    assert found["roles"]["status"] == "fail" and "dsl" in found["roles"]["detail"]

    run("evaluate", "--school", "118500", "--as-of", "2025-09-05T10:00", db=db)  # what the scheduler does each day

    port = free_port()
    env = {**os.environ, "CASEWORK_SECRET_KEY": "go-live-test-" + uuid.uuid4().hex}
    server = subprocess.Popen([*CASEWORK, "serve", "--db", db, "--port", str(port), "--as-of", "2025-09-05T16:00"],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                urllib.request.urlopen(base + "/login", timeout=2)
                break
            except OSError:
                time.sleep(0.2)
        b = Browser(base)
        _, page = b.get("/login")
        url, page = b.post("/login", page, {"username": "jrowe", "password": one_time})
        assert url.endswith("/account/password") and "one-time password" in page  # the first thing they do
        url, page = b.post("/account/password", page, {"current_password": one_time, "new_password": "short",
                                                        "confirm_password": "short"})
        assert "too short" in page
        url, page = b.post("/account/password", page, {"current_password": one_time,
                                                        "new_password": "amber kettle orbit lantern",
                                                        "confirm_password": "amber kettle orbit lantern"})
        assert url.endswith("/today"), url
        assert "Ashford Oaks Primary" in page and "Your password has been changed" in page
        assert "Patel" in page  # Noah's unexplained absence this morning: the first-day call list
    finally:
        server.terminate()
        server.wait(timeout=20)


def test_go_live_from_an_empty_sqlite_file(tmp_path):
    db = f"sqlite:///{tmp_path / 'school.db'}"
    go_live(db, tmp_path)


@pytest.mark.postgres
def test_go_live_from_an_empty_postgresql_database(postgres_url, tmp_path):
    name = f"golive_{uuid.uuid4().hex[:10]}"
    admin = create_engine(make_url(postgres_url).set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        go_live(make_url(postgres_url).set(database=name).render_as_string(hide_password=False), tmp_path)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


# -- accounts from the command line --------------------------------------------------------


@pytest.fixture
def cli(db_url, monkeypatch):
    monkeypatch.setenv("COLUMNS", "250")
    monkeypatch.setenv("CASEWORK_NO_PROGRESS", "1")
    runner = CliRunner()

    def invoke(*args: str, stdin: str | None = None):
        return runner.invoke(main, [*args, "--db", db_url], input=stdin, catch_exceptions=False)

    return invoke


@pytest.fixture
def three_schools(cli):
    for urn, name in (("118601", "Oak Primary"), ("118602", "Ash Primary"), ("118603", "Elm Primary")):
        assert cli("school", "add", "--urn", urn, "--name", name).exit_code == 0
    return ("118601", "118602", "118603")


def test_user_commands_and_their_refusals(cli, three_schools, engine):
    r = cli("user", "add", "mlead", "--school", "118601", "--school", "118602", "--role", "trust_lead",
            "--name", "Morgan Lead")
    assert r.exit_code == 0 and re.search(r"One-time password for mlead: [a-z2-9]{4}(-[a-z2-9]{4}){3}", r.output)
    r = cli("user", "add", "sdsl", "--school", "118603", "--role", "dsl", "--name", "Sam Dsl", "--password-stdin",
            stdin="correct horse battery\n")
    assert r.exit_code == 0 and "One-time" not in r.output
    listed = {u["username"]: u for u in json.loads(cli("user", "list", "--json").output)}
    assert [(s["urn"], s["role"]) for s in listed["mlead"]["schools"]] == [("118601", "trust_lead"),
                                                                            ("118602", "trust_lead")]
    assert listed["mlead"]["must_change_password"] and not listed["sdsl"]["must_change_password"]
    assert [u["username"] for u in json.loads(cli("user", "list", "--school", "118602", "--json").output)] == ["mlead"]

    refusals = [
        (("user", "add", "mlead", "--school", "118601", "--role", "dsl", "--name", "X"), "already taken"),
        (("user", "add", "x1", "--school", "999999", "--role", "dsl", "--name", "X"), "no school with URN 999999"),
        (("user", "add", "x1", "--school", "118601", "--role", "boss", "--name", "X"), "unknown role 'boss'"),
        (("user", "add", "Bad Name", "--school", "118601", "--role", "dsl", "--name", "X"), "username"),
    ]
    for args, message in refusals:
        r = cli(*args)
        assert r.exit_code == 1 and message in r.output, (args, r.output)
    r = cli("user", "add", "x1", "--school", "118601", "--role", "dsl", "--name", "X", "--password-stdin",
            stdin="password1234\n")
    assert r.exit_code == 1 and "too easy to guess" in r.output
    r = cli("user", "set-password", "sdsl", "--password-stdin", stdin="sdsl-and-more-letters\n")
    assert r.exit_code == 1 and "must not contain the username" in r.output

    with Session(engine) as s:
        before = s.exec(select(User).where(User.username == "sdsl")).one().session_version
    assert cli("user", "set-password", "sdsl").exit_code == 0
    assert cli("user", "disable", "sdsl").exit_code == 0
    assert cli("user", "disable", "sdsl").exit_code == 1  # already
    with Session(engine) as s:
        u = s.exec(select(User).where(User.username == "sdsl")).one()
        assert not u.active and u.must_change_password and u.session_version == before + 2


def test_a_command_without_db_never_creates_an_empty_database(tmp_path):
    r = run("cases", "--school", "118000", db=None, cwd=tmp_path, ok=False)
    assert r.returncode == 1 and "no database at casework.db" in r.stderr
    assert list(tmp_path.iterdir()) == []


# -- school check ----------------------------------------------------------------------------


def test_school_check_finds_each_missing_item_and_passes_when_each_is_put_right(cli, tmp_path, write_csv, monkeypatch):
    f = school_files(tmp_path)
    assert cli("school", "add", "--urn", "118700", "--name", "Willow Primary").exit_code == 0

    def check(as_of="2025-09-05"):
        r = cli("school", "check", "118700", "--as-of", as_of, "--json")
        return r.exit_code, {c["name"]: c["status"] for c in json.loads(r.output)["checks"]}

    code, found = check()
    assert code == 1 and found == {"calendar": "fail", "contacts": "fail", "workflow": "pass", "roles": "fail",
                                   "letters": "pass", "letterhead": "fail", "signatory": "pass", "email": "warn"}
    cli("import", "calendar", str(GREAT_CHART), "--school", "118700")
    cli("import", "pupils", str(f["pupils"]), "--school", "118700")
    cli("import", "contacts", str(f["contacts"]), "--school", "118700")
    for username, role in (("ao", "attendance_officer"), ("head", "headteacher"), ("dsl", "dsl")):
        assert cli("user", "add", username, "--school", "118700", "--role", role, "--name", username).exit_code == 0
    code, found = check()
    # the calendar runs to July (plenty of weeks) but holds nothing for 2026-27; Isla's contact has no phone
    assert found["calendar"] == "warn" and found["contacts"] == "fail" and found["roles"] == "pass"
    assert check("2026-06-15")[1]["calendar"] == "fail"  # under 6 school weeks left
    fixed = write_csv("contacts2.csv", "upn,name,relationship,phone_home",
                      [f"{UPNS[2]},Kim Brown,Mother,01233 111111"])
    cli("import", "contacts", str(fixed), "--school", "118700")
    monkeypatch.setenv("CASEWORK_SMTP_HOST", "mail.example.org")
    code, found = check()
    assert found["contacts"] == "pass" and found["email"] == "pass" and found["letterhead"] == "fail" and code == 1


def test_school_check_warns_when_nobody_holds_the_post_that_signs_letters(cli):
    """Staplehurst's letters are signed by the Family Liaison Officer: until someone's position is
    that post, letters would go out signed with the title alone."""
    assert cli("school", "add", "--urn", "118710", "--name", "Staplehurst", "--workflow", "staplehurst").exit_code == 0

    def signatory():
        r = cli("school", "check", "118710", "--json")
        return next(c for c in json.loads(r.output)["checks"] if c["name"] == "signatory")

    found = signatory()
    assert found["status"] == "warn" and "'Family Liaison Officer' with no name" in found["detail"]
    assert cli("user", "add", "flo", "--school", "118710", "--role", "wellbeing_lead", "--name", "Jo Bright",
               "--position", "Family liaison officer").exit_code == 0
    found = signatory()
    assert found["status"] == "pass" and "Jo Bright" in found["detail"]


# -- a workflow anywhere ---------------------------------------------------------------------


def test_a_workflow_given_by_path_works_from_any_directory_with_its_letters_beside_it(cli, tmp_path, engine, monkeypatch):
    policy = tmp_path / "policies" / "willow.yaml"
    policy.parent.mkdir()
    policy.write_text("extends: national\nname: Willow Primary attendance policy\n")
    letters = policy.parent / "willow" / "letters"
    letters.mkdir(parents=True)
    national = ROOT / "casework" / "letters" / "templates" / "national"
    first = sorted(national.glob("*.html"))[0]
    shutil.copy(first, letters / first.name)
    monkeypatch.chdir(policy.parent)
    assert cli("school", "add", "--urn", "118800", "--name", "Willow Primary", "--workflow", "willow.yaml").exit_code == 0
    monkeypatch.chdir(tmp_path)  # somewhere else entirely
    with Session(engine) as s:
        stored = s.exec(select(School).where(School.urn == "118800")).one().workflow
    assert Path(stored) == policy.resolve()
    r = cli("school", "check", "118800", "--json")  # fails (no calendar, no users) but found the workflow
    workflow = next(c for c in json.loads(r.output)["checks"] if c["name"] == "workflow")
    assert workflow["status"] == "pass" and "Willow Primary attendance policy" in workflow["detail"]
    from casework.letters.render import template_dirs
    from casework.workflow import for_school
    assert template_dirs(for_school(stored))[0] == letters.resolve()
    assert cli("cases", "--school", "118800", "--json").exit_code == 0


# -- trusts on the web -------------------------------------------------------------------------


def test_a_trust_lead_sees_their_schools_side_by_side_and_nothing_of_a_third(engine, make_school, make_pupils,
                                                                             clock):
    with Session(engine) as s:
        oak, ash, elm = (make_school(s, urn=u, name=n) for u, n in (("118901", "Oak Primary"),
                                                                      ("118902", "Ash Primary"),
                                                                      ("118903", "Elm Primary")))
        (p_oak,), (p_ash,), (p_elm,) = (make_pupils(s, x, 1, surname=f"{x.name.split()[0]}child")
                                        for x in (oak, ash, elm))
        from casework.accounts import add_user
        add_user(s, username="mlead", name="Morgan Lead", role="trust_lead", schools=[oak, ash], now=clock.now(),
                 by="test", password="amber kettle orbit lantern")
        s.commit()
        names = {x.id: (x.name, p.surname) for x, p in ((oak, p_oak), (ash, p_ash), (elm, p_elm))}
        ids = (oak.id, ash.id, elm.id)
    app = create_app({"ENGINE": engine, "CLOCK": clock, "WTF_CSRF_ENABLED": False, "SECRET_KEY": "t"})
    c = app.test_client()
    assert c.post("/login", data={"username": "mlead", "password": "amber kettle orbit lantern"}).status_code == 302
    assert c.get("/").headers["Location"].endswith("/trust")  # a trust lead starts on the overview
    page = c.get("/trust").get_data(as_text=True)
    assert "Oak Primary" in page and "Ash Primary" in page and "Elm Primary" not in page
    # Every page is the chosen school's: Oak first (their own school), then Ash after switching.
    pupils = c.get("/pupils").get_data(as_text=True)
    assert names[ids[0]][1] in pupils and names[ids[1]][1] not in pupils
    assert c.post("/school", data={"school_id": ids[1]}).status_code == 302
    pupils = c.get("/pupils").get_data(as_text=True)
    assert names[ids[1]][1] in pupils and names[ids[0]][1] not in pupils
    assert "Ash Primary" in c.get("/reports").get_data(as_text=True)
    assert c.post("/school", data={"school_id": ids[2]}).status_code == 400  # not theirs
    assert c.post("/school", data={"school_id": "99999999999999999999"}).status_code == 400
    assert names[ids[2]][1] not in c.get("/pupils").get_data(as_text=True)
    assert c.post("/cases/1/move", data={"event": "x"}).status_code == 403  # a trust lead takes no step


def test_password_change_reset_and_forced_change(engine, make_school, clock):
    with Session(engine) as s:
        school = make_school(s, urn="118950")
        from casework.accounts import add_user
        add_user(s, username="boss", name="Admin", role="admin", schools=[school], now=clock.now(), by="t",
                 password="amber kettle orbit lantern")
        add_user(s, username="ao", name="Officer", role="attendance_officer", schools=[school], now=clock.now(),
                 by="t", password="violet harbour pencil cloud")
        s.commit()
        ao_id = s.exec(select(User.id).where(User.username == "ao")).one()
    app = create_app({"ENGINE": engine, "CLOCK": clock, "WTF_CSRF_ENABLED": False, "SECRET_KEY": "t"})
    officer, other_tab, admin = app.test_client(), app.test_client(), app.test_client()
    for client in (officer, other_tab):
        client.post("/login", data={"username": "ao", "password": "violet harbour pencil cloud"})
    r = officer.post("/account/password", data={"current_password": "wrong", "new_password": "x" * 20,
                                                "confirm_password": "x" * 20})
    assert r.status_code == 400 and "not your current password" in r.get_data(as_text=True)
    r = officer.post("/account/password", data={"current_password": "violet harbour pencil cloud",
                                                "new_password": "granite meadow tulip signal",
                                                "confirm_password": "granite meadow tulip signal"})
    assert r.status_code == 302
    assert officer.get("/today").status_code == 200  # this session carries on
    assert other_tab.get("/today").status_code == 302  # the other one was signed out

    admin.post("/login", data={"username": "boss", "password": "amber kettle orbit lantern"})
    r = admin.post(f"/admin/users/{ao_id}/password", follow_redirects=True)
    one_time = re.search(r"One-time password: ([a-z2-9-]{19})", r.get_data(as_text=True)).group(1)
    assert officer.get("/today").status_code == 302  # reset ends their sessions
    fresh = app.test_client()
    assert fresh.post("/login", data={"username": "ao", "password": "granite meadow tulip signal"}).status_code == 401
    fresh.post("/login", data={"username": "ao", "password": one_time})
    r = fresh.get("/today")
    assert r.status_code == 302 and r.headers["Location"].endswith("/account/password")  # nothing else first
    fresh.post("/account/password", data={"current_password": one_time, "new_password": "copper window maple river",
                                          "confirm_password": "copper window maple river"})
    assert fresh.get("/today").status_code == 200


def test_an_admin_is_warned_when_term_dates_run_short(engine, make_school):
    from casework.clock import FixedClock, at
    with Session(engine) as s:
        school = make_school(s, urn="118960")
        from casework.accounts import add_user
        add_user(s, username="boss", name="Admin", role="admin", schools=[school], now=at(dt.date(2026, 1, 5), dt.time(9)),
                 by="t", password="amber kettle orbit lantern")
        s.commit()
    for day, warned in ((dt.date(2026, 5, 18), False), (dt.date(2026, 6, 8), True)):
        app = create_app({"ENGINE": engine, "CLOCK": FixedClock(at(day, dt.time(9))), "WTF_CSRF_ENABLED": False,
                          "SECRET_KEY": "t"})
        c = app.test_client()
        c.post("/login", data={"username": "boss", "password": "amber kettle orbit lantern"})
        page = c.get("/admin/users").get_data(as_text=True)
        assert ("The term dates entered end on 17 July 2026" in page) is warned, day


def test_case_move_from_the_cli_needs_a_reason_where_the_step_does(cli, engine, make_school, make_pupils, clock):
    from casework.cases.moves import Actor, open_case
    from casework.workflow import for_school
    with Session(engine) as s:
        school = make_school(s, urn="118970")
        (pupil,) = make_pupils(s, school, 1)
        from casework.accounts import add_user
        add_user(s, username="ao", name="Officer", role="attendance_officer", schools=[school], now=clock.now(),
                 by="t", password="violet harbour pencil cloud")
        case = open_case(s, school, pupil, for_school("national"), "unexplained_absence", concern="unexplained_absence",
                         concern_start=clock.today(), clock=clock, actor=Actor("ao", "attendance_officer", "Officer"),
                         reason="absent, no reason given")
        s.commit()
        case_id = case.id
    r = cli("case", "move", str(case_id), "contact_made", "--as", "ao")
    assert r.exit_code == 1 and "needs a reason" in r.output
    r = cli("case", "move", str(case_id), "contact_made", "--as", "ao", "--reason", "Mum rang: dentist")
    assert r.exit_code == 0
    with Session(engine) as s:
        assert s.get(Case, case_id).closed_at is not None
