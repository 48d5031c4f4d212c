"""`casework serve --workers N`: several server processes on one port, as a school's server runs
it to use more than one core. A session signed in on one process holds on every other (the
secret key is made once, before the processes fork, even when none is configured); a worker
that dies is replaced; stopping the server stops every worker."""

from __future__ import annotations

import datetime as dt
import http.client
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from sqlalchemy import event, insert
from sqlmodel import Session

from casework.register.schools import add_school
from casework.register.upn import make_upn
from casework.store.casemodels import Case, Timer
from casework.store.db import make_engine, refresh_statistics
from casework.store.models import Pupil, User
from casework.timers import next_deadlines

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="worker processes are forked")
CASEWORK = [sys.executable, "-m", "casework"]
AGENT = "casework-test/1"


def children_of(pid: int) -> set[int]:
    out = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid and fields[0] != "Z":
            out.add(int(stat.parent.name))
    return out


def request(port: int, method: str, path: str, cookie: str = "", body: dict | None = None):
    """One request on a connection of its own (so the kernel may hand it to any worker)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {"User-Agent": AGENT, **({"Cookie": cookie} if cookie else {})}
    data = None
    if body is not None:
        data = urllib.parse.urlencode(body)
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    conn.request(method, path, body=data, headers=headers)
    r = conn.getresponse()
    page = r.read().decode()
    conn.close()
    return r, page


def wait_until(check, seconds: float = 30.0):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        got = check()
        if got:
            return got
        time.sleep(0.1)
    raise AssertionError("timed out")


def up(port: int) -> bool:
    try:
        return request(port, "GET", "/login")[0].status == 200
    except OSError:
        return False


@pytest.fixture
def served(tmp_path):
    url = f"sqlite:///{tmp_path / 'serve.db'}"
    engine = make_engine(url)
    with Session(engine) as s:
        school = add_school(s, urn="999077", name="Two Core Primary", workflow="national")
        s.add(User(school_id=school.id, username="officer", name="Sam Officer", role="attendance_officer",
                   password_hash=PasswordHasher().hash("a long enough password")))
        s.commit()
    engine.dispose()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if k != "CASEWORK_SECRET_KEY"}  # a key made per start
    server = subprocess.Popen([*CASEWORK, "serve", "--db", url, "--port", str(port), "--workers", "2",
                               "--threads", "2"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
    try:
        wait_until(lambda: up(port))
        yield server, port, url
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()


def sign_in(port: int) -> str:
    r, page = request(port, "GET", "/login")
    cookie = "; ".join(c.split(";", 1)[0] for c in r.headers.get_all("Set-Cookie") or [])
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    r, _ = request(port, "POST", "/login", cookie, {"username": "officer", "password": "a long enough password",
                                                    "csrf_token": token})
    assert r.status == 302, r.status
    return "; ".join(c.split(";", 1)[0] for c in r.headers.get_all("Set-Cookie"))


def test_a_session_holds_on_every_worker_and_stopping_stops_them_all(served):
    server, port, url = served
    with make_engine(url).connect() as conn:  # the planner's figures were taken as the server started
        assert conn.exec_driver_sql("SELECT count(*) FROM sqlite_master WHERE name = 'sqlite_stat1'").scalar() == 1
    workers = wait_until(lambda: (c := children_of(server.pid)) and len(c) == 2 and c)
    cookie = sign_in(port)
    statuses = [request(port, "GET", "/caseload", cookie)[0].status for _ in range(30)]
    assert statuses == [200] * 30  # never sent back to sign in, whichever process answered
    assert request(port, "GET", "/caseload")[0].status == 302  # and nobody else gets in

    server.send_signal(signal.SIGTERM)
    assert server.wait(timeout=30) == 0
    for pid in workers:
        assert not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1][:3]
    assert not up(port)


def test_a_worker_that_dies_is_replaced(served):
    server, port, _ = served
    first = wait_until(lambda: (c := children_of(server.pid)) and len(c) == 2 and c)
    victim = min(first)
    os.kill(victim, signal.SIGKILL)
    now = wait_until(lambda: (c := children_of(server.pid)) and len(c) == 2 and victim not in c and c)
    assert len(now - first) == 1
    cookie = sign_in(port)
    assert [request(port, "GET", "/caseload", cookie)[0].status for _ in range(10)] == [200] * 10


def test_serving_gives_sqlite_the_figures_to_find_a_page_of_deadlines_by_case(tmp_path, clock):
    """Without statistics SQLite reads every open deadline of the school to find fifty cases'
    next ones (and, for each lapsed one, every open one again); `casework serve` gives the planner
    its figures first, so it goes by the case."""
    engine = make_engine(f"sqlite:///{tmp_path / 'plan.db'}")
    now = clock.now()
    with Session(engine) as s:
        school = add_school(s, urn="999078", name="Planner Primary", workflow="national")
        conn = s.connection()
        conn.execute(insert(Pupil.__table__), [dict(school_id=school.id, upn=make_upn(886, 3001, 2020, i),
                                                     forename="P", surname=f"S{i}", date_of_birth=dt.date(2017, 1, 1),
                                                     year_group=3, on_roll=True) for i in range(300)])
        conn.execute(insert(Case.__table__), [
            dict(school_id=school.id, pupil_id=i + 1, case_type="attendance", state="letter", concern=f"c{i}",
                 workflow="national", opened_at=now, opened_by="t", updated_at=now, proposals=[], safeguarding=False,
                 version=1) for i in range(300)])
        conn.execute(insert(Timer.__table__), [
            dict(school_id=school.id, case_id=i + 1, kind="letter_review", label="Review", role="office",
                 state="letter", started_at=now, due_at=now, status="open" if i % 3 else "lapsed") for i in range(300)])
        s.commit()
    captured = []
    event.listen(engine, "before_cursor_execute", lambda c, cur, stmt, params, ctx, many: captured.append((stmt, params)))

    def plan() -> str:
        captured.clear()
        with Session(engine) as s:
            assert len(next_deadlines(s, list(range(1, 51)), now)) == 50  # open, or lapsed where it started
            stmt, params = next(c for c in captured if "FROM timer" in c[0])
            return " ".join(str(r[-1]) for r in s.connection().exec_driver_sql("EXPLAIN QUERY PLAN " + stmt, params))

    before = plan()
    refresh_statistics(engine)
    after = plan()
    assert "ix_timer_status_due" in before, before  # what SQLite does without figures (why serve gives them)
    assert "ix_timer_case_kind_status" in after and "ix_timer_status_due" not in after, after


def test_the_worker_processes_together_allow_no_more_sign_in_attempts_than_one(served):
    """Each process counts attempts on its own, so each allows its share: 10 wrong passwords for one
    account in 5 minutes is the limit whichever process each attempt reaches."""
    _, port, _ = served
    statuses = []
    for _ in range(16):
        r, page = request(port, "GET", "/login")
        cookie = "; ".join(c.split(";", 1)[0] for c in r.headers.get_all("Set-Cookie") or [])
        token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
        r, _ = request(port, "POST", "/login", cookie, {"username": "officer", "password": "a wrong guess",
                                                        "csrf_token": token})
        statuses.append(r.status)
        if r.status == 429:
            assert int(r.getheader("Retry-After")) > 0
    # One process would refuse after 10; two, each allowing 10, would let through up to 16 here.
    assert statuses[0] == 401 and statuses.count(401) <= 10 and set(statuses) == {401, 429}, statuses
