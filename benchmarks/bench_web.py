"""Web speed: 10,000 open cases and 2,000 pupils; the caseload, case and pupil pages served by
waitress (`casework serve`) and hit by a small bounded client. Prints p50/p95 (target p95 < 150 ms).

    .venv/bin/python benchmarks/bench_web.py [--requests 200]
"""

from __future__ import annotations

import argparse
import datetime as dt
import re
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from http.cookiejar import CookieJar
from pathlib import Path

from argon2 import PasswordHasher
from sqlalchemy import insert
from sqlmodel import Session

from casework.casemodels import Case, Timer
from casework.db import make_engine
from casework.importer import import_calendar
from casework.models import Mark, Pupil, User
from casework.schools import add_school
from casework.upn import make_upn

TODAY = dt.date(2026, 3, 12)
CAL = Path(__file__).resolve().parent.parent / "casework" / "data" / "demo-calendar.csv"


def build(url: str, pupils: int, cases: int) -> None:
    from casework.clock import FixedClock
    from casework.register import load_calendar

    clock = FixedClock(TODAY)
    eng = make_engine(url)
    now = clock.now()
    with Session(eng) as s:
        school = add_school(s, urn="999002", name="Benchmark Primary", workflow="national")
        import_calendar(s, school, CAL, clock=clock, by="bench")
        s.add(User(school_id=school.id, username="officer", name="Bench Officer", role="attendance_officer",
                   password_hash=PasswordHasher().hash("bench-password")))
        s.connection().execute(insert(Pupil.__table__), [
            dict(school_id=school.id, upn=make_upn(886, 3000 + i // 1000, 2020, i % 1000), forename=f"Child{i}",
                 surname=f"Surname{i % 300}", date_of_birth=dt.date(2017, 1, 1), year_group=i % 7, on_roll=True,
                 **{f: False for f in ("fsm", "pupil_premium", "send", "ehc_plan", "eal", "social_worker",
                                       "child_in_need", "child_protection_plan", "looked_after", "young_carer",
                                       "traveller")}) for i in range(pupils)])
        ids = [r[0] for r in s.connection().exec_driver_sql("select id from pupil order by id")]
        days = load_calendar(s, school.id).school_days(dt.date(2025, 9, 1), TODAY)
        marks = [dict(school_id=school.id, pupil_id=pid, date=d, session=ss, code="/" if (pid + d.toordinal()) % 17 else "O",
                      recorded_by="bench", recorded_at=now) for pid in ids for d in days for ss in ("AM", "PM")]
        for i in range(0, len(marks), 50_000):
            s.connection().execute(insert(Mark.__table__), marks[i:i + 50_000])
        s.connection().execute(insert(Case.__table__), [
            dict(school_id=school.id, pupil_id=ids[i % len(ids)], case_type="attendance", state="letter",
                 concern=f"attendance:{i}", workflow="national", opened_at=now, opened_by="bench", updated_at=now,
                 proposals=[], safeguarding=False, version=1) for i in range(cases)])
        cids = [r[0] for r in s.connection().exec_driver_sql("select id from pupil_case order by id")]
        s.connection().execute(insert(Timer.__table__), [
            dict(school_id=school.id, case_id=c, kind="letter_review", label="Review attendance after the letter",
                 role="office", state="letter", started_at=now, due_at=now + dt.timedelta(days=(c % 40) - 10),
                 status="open") for c in cids])
        s.commit()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=200)
    ap.add_argument("--pupils", type=int, default=2000)
    ap.add_argument("--cases", type=int, default=10_000)
    a = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-web-"))
    url = f"sqlite:///{tmp / 'bench.db'}"
    t0 = time.perf_counter()
    build(url, a.pupils, a.cases)
    print(f"built {a.pupils} pupils, {a.cases} open cases in {time.perf_counter() - t0:.1f}s")
    port = 8917
    server = subprocess.Popen([str(Path(sys.executable).parent / "casework"), "serve", "--db", url, "--port", str(port),
                               "--as-of", TODAY.isoformat()], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                urllib.request.urlopen(base + "/login", timeout=1)
                break
            except OSError:
                time.sleep(0.2)
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(CookieJar()))
        page = opener.open(base + "/login").read().decode()
        token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
        data = urllib.parse.urlencode({"username": "officer", "password": "bench-password", "csrf_token": token}).encode()
        opener.open(base + "/login", data=data).read()
        for name, path in [("caseload", "/caseload"), ("caseload filtered", "/caseload?year=3"),
                           ("case", "/cases/{n}"), ("pupil", "/pupils/{p}")]:
            times = []
            for i in range(a.requests):
                t = time.perf_counter()
                r = opener.open(base + path.format(n=1 + (i * 37) % a.cases, p=1 + (i * 13) % a.pupils))
                r.read()
                times.append((time.perf_counter() - t) * 1000)
                assert r.status == 200
            times.sort()
            print(f"{name:18s} p50 {statistics.median(times):6.1f} ms   p95 {times[int(len(times) * .95) - 1]:6.1f} ms")
    finally:
        server.terminate()
        server.wait()


if __name__ == "__main__":
    import urllib.parse  # noqa: F401

    main()
