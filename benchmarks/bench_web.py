"""Web speed: 10,000 open cases and 2,000 pupils; the caseload, case and pupil pages served by
waitress (`casework serve --workers 2`, one process per core) on 127.0.0.1. Target: p95 < 150 ms.

    .venv/bin/python benchmarks/bench_web.py [--requests 200]          # one client, one request at a time
    .venv/bin/python benchmarks/bench_web.py --cpu [--requests 20] [--profile 'sort attendance']   # CPU a request
    .venv/bin/python benchmarks/bench_web.py --load [--connections 1,4] [--duration 15] \\
        [--threads 8] [--workers 2] [--db sqlite|postgres|both] [--postgres URL]

``--load`` drives the server with wrk (Debian's ``wrk``; a bounded multi-threaded Python client
if it is not installed) with a signed-in session cookie, for each page at each number of
concurrent connections for ``--duration`` seconds (after ``--warmup`` seconds unmeasured, in which
every server process fills its caches), and prints p50/p95/p99 and requests/s.
On PostgreSQL it uses ``--postgres URL`` (an empty database) or starts a throwaway
PostgreSQL 15 server the way tests/conftest.py does.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from http.cookiejar import CookieJar
from pathlib import Path

from argon2 import PasswordHasher
from pg_throwaway import free_port, throwaway_postgres  # benchmarks/, beside this script
from sqlalchemy import insert
from sqlmodel import Session

from casework.register.importer import import_calendar
from casework.register.schools import add_school
from casework.register.upn import make_upn
from casework.store.casemodels import Case, Timer
from casework.store.db import make_engine, refresh_statistics
from casework.store.models import Mark, Pupil, User
from casework.timers import keep_next_deadlines

TODAY = dt.date(2026, 3, 12)
CAL = Path(__file__).resolve().parent.parent / "casework" / "data" / "demo-calendar.csv"
USER_AGENT = "casework-bench/1"  # the session is bound to it (Flask-Login "strong" protection)
PAGES = [("caseload", "/caseload"), ("caseload filtered", "/caseload?year=3"),
         ("case", "/cases/{n}"), ("pupil", "/pupils/{p}")]


def build(url: str, pupils: int, cases: int) -> None:
    from casework.clock import FixedClock
    from casework.register.store import load_calendar

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
        keep_next_deadlines(s)  # the timers went in as bulk inserts, which the ORM's flush hook does not see
        s.commit()
        if eng.dialect.name == "postgresql":
            s.connection().exec_driver_sql("ANALYZE")
            s.commit()
    eng.dispose()


# -- the real server -------------------------------------------------------------------------


@contextlib.contextmanager
def serving(url: str, threads: int = 8, workers: int = 1) -> Iterator[str]:
    """``casework serve`` (waitress, ``workers`` processes) on 127.0.0.1 on a free port; yields its base URL."""
    port = free_port()
    server = subprocess.Popen([str(Path(sys.executable).parent / "casework"), "serve", "--db", url, "--port", str(port),
                               "--threads", str(threads), "--workers", str(workers),
                               "--as-of", TODAY.isoformat()],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                urllib.request.urlopen(base + "/login", timeout=1)
                break
            except OSError:
                if server.poll() is not None:
                    raise SystemExit(f"casework serve exited with {server.returncode}") from None
                time.sleep(0.2)
        yield base
    finally:
        server.terminate()
        server.wait()


def sign_in(base: str) -> tuple[urllib.request.OpenerDirector, str]:
    """Sign in as the officer; returns an opener holding the session and the Cookie header value."""
    jar = CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    opener.addheaders = [("User-Agent", USER_AGENT)]
    page = opener.open(base + "/login").read().decode()
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    data = urllib.parse.urlencode({"username": "officer", "password": "bench-password", "csrf_token": token}).encode()
    opener.open(base + "/login", data=data).read()
    cookie = "; ".join(f"{c.name}={c.value}" for c in jar)
    if "casework_session" not in cookie:
        raise SystemExit("could not sign in")
    return opener, cookie


def page_paths(path: str, n: int, cases: int, pupils: int) -> list[str]:
    return [path.format(n=1 + (i * 37) % cases, p=1 + (i * 13) % pupils) for i in range(n)]


def pct(sorted_ms: list[float], q: float) -> float:
    return sorted_ms[min(len(sorted_ms) - 1, max(0, int(round(len(sorted_ms) * q)) - 1))]


def sequential(base: str, a) -> None:
    """The original measurement: one client, one request at a time."""
    opener, _ = sign_in(base)
    for name, path in PAGES:
        times = []
        for p in page_paths(path, a.requests, a.cases, a.pupils):
            t = time.perf_counter()
            r = opener.open(base + p)
            r.read()
            times.append((time.perf_counter() - t) * 1000)
            assert r.status == 200 and r.url == base + p, f"{p}: {r.status} {r.url}"
        times.sort()
        print(f"{name:18s} p50 {statistics.median(times):6.1f} ms   p95 {pct(times, .95):6.1f} ms")


# -- CPU a request, in-process ------------------------------------------------------------------

CPU_PAGES = [("caseload", "/caseload"), ("caseload mine", "/caseload?who=mine"),
             ("caseload team", "/caseload?who=team"), ("caseload unassigned", "/caseload?who=unassigned"),
             ("sort attendance", "/caseload?who=team&sort=attendance"),
             ("attendance p3", "/caseload?who=team&sort=attendance&page=3"),
             ("sort due", "/caseload?who=team&sort=due"), ("sort state", "/caseload?who=team&sort=state"),
             ("sort owner", "/caseload?who=team&sort=owner"), ("filtered", "/caseload?year=3"),
             ("case", "/cases/{n}"), ("pupil", "/pupils/{p}")]


def cpu(url: str, a) -> None:
    """Each page's CPU a request served in-process by the Flask app (no server, no network): the
    figure a core can serve, whatever else the machine is doing. ``--profile NAME`` prints a
    cProfile of that page's requests."""
    import cProfile
    import pstats

    from casework.clock import FixedClock
    from casework.web import create_app

    engine = make_engine(url)
    refresh_statistics(engine)  # as `casework serve` does on start
    app = create_app({"ENGINE": engine, "CLOCK": FixedClock(TODAY), "WTF_CSRF_ENABLED": False,
                      "TESTING": True})
    client = app.test_client()
    client.post("/login", data={"username": "officer", "password": "bench-password"})
    print(f"{'page':20s} {'CPU ms p50':>10s} {'p95':>7s}  (load avg {os.getloadavg()[0]:.1f})")
    for name, path in CPU_PAGES:
        paths = page_paths(path, a.requests, a.cases, a.pupils)
        for p in paths[:2]:  # warm: the early-warning cache, the workflow
            assert client.get(p).status_code == 200, p
        prof = cProfile.Profile() if a.profile == name else None
        times = []
        for p in paths:
            t = time.process_time()
            if prof:
                prof.enable()
            r = client.get(p)
            if prof:
                prof.disable()
            times.append((time.process_time() - t) * 1000)
            assert r.status_code == 200, f"{p}: {r.status_code}"
        times.sort()
        print(f"{name:20s} {statistics.median(times):10.1f} {pct(times, .95):7.1f}", flush=True)
        if prof:
            pstats.Stats(prof).sort_stats("cumulative").print_stats(45)


# -- load: wrk, or a bounded Python client -----------------------------------------------------

WRK_LUA = """
local paths = {%(paths)s}
local threads = {}
local counter = 0
function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end
function init(args)
  counter = id * 7919
  bad = 0
end
function request()
  counter = counter + 1
  return wrk.format("GET", paths[(counter %% #paths) + 1])
end
function response(status, headers, body)
  if status ~= 200 then bad = bad + 1 end
end
function done(summary, latency, requests)
  local b = 0
  for _, t in ipairs(threads) do b = b + t:get("bad") end
  io.write(string.format("RESULT %%d %%d %%d %%.3f %%.3f %%.3f %%.3f %%d\\n", summary.requests, b,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout + summary.errors.status,
    latency:percentile(50) / 1000, latency:percentile(95) / 1000, latency:percentile(99) / 1000,
    latency.max / 1000, summary.duration))
end
"""


def run_wrk(base: str, cookie: str, paths: list[str], connections: int, duration: int, tmp: Path) -> dict:
    script = tmp / "bench.lua"
    script.write_text(WRK_LUA % {"paths": ", ".join(f'"{p}"' for p in paths)})
    cmd = ["wrk", "-t", str(min(connections, os.cpu_count() or 1)), "-c", str(connections), "-d", f"{duration}s",
           "--timeout", "10s", "-H", f"Cookie: {cookie}", "-H", f"User-Agent: {USER_AGENT}", "-s", str(script), base]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=duration + 60).stdout
    m = re.search(r"^RESULT (\d+) (\d+) (\d+) ([\d.]+) ([\d.]+) ([\d.]+) ([\d.]+) (\d+)$", out, re.M)
    if not m:
        raise SystemExit(f"wrk said:\n{out}")
    n, bad, errors = int(m[1]), int(m[2]), int(m[3])
    secs = int(m[8]) / 1e6
    return dict(requests=n, bad=bad + errors, p50=float(m[4]), p95=float(m[5]), p99=float(m[6]), max=float(m[7]),
                rps=n / secs)


def run_python(base: str, cookie: str, paths: list[str], connections: int, duration: int, tmp: Path) -> dict:
    """A bounded multi-threaded client: ``connections`` threads, each one request at a time, for ``duration`` s."""
    import http.client

    host, port = urllib.parse.urlsplit(base).hostname, urllib.parse.urlsplit(base).port
    lat: list[float] = []
    bad = [0]
    lock = threading.Lock()
    stop = time.perf_counter() + duration

    def worker(k: int) -> None:
        conn = http.client.HTTPConnection(host, port, timeout=10)
        i, mine, nbad = k * 7919, [], 0
        while time.perf_counter() < stop:
            i += 1
            t = time.perf_counter()
            conn.request("GET", paths[i % len(paths)], headers={"Cookie": cookie, "User-Agent": USER_AGENT})
            r = conn.getresponse()
            r.read()
            mine.append((time.perf_counter() - t) * 1000)
            nbad += r.status != 200
        conn.close()
        with lock:
            lat.extend(mine)
            bad[0] += nbad

    t0 = time.perf_counter()
    ts = [threading.Thread(target=worker, args=(k,)) for k in range(connections)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    secs = time.perf_counter() - t0
    lat.sort()
    return dict(requests=len(lat), bad=bad[0], p50=pct(lat, .5), p95=pct(lat, .95), p99=pct(lat, .99), max=lat[-1],
                rps=len(lat) / secs)


def load(base: str, a, label: str) -> list[tuple]:
    _, cookie = sign_in(base)
    tool = run_wrk if shutil.which("wrk") and not a.python_client else run_python
    tool_name = "wrk" if tool is run_wrk else "python client"
    tmp = Path(tempfile.mkdtemp(prefix="bench-wrk-"))
    rows = []
    print(f"\n{label}: {tool_name}, {a.duration}s per run, casework serve --workers {a.workers} --threads {a.threads}, "
          f"{os.cpu_count()} CPUs shared by server, database and load tool")
    print(f"{'page':18s} {'conns':>5s} {'reqs':>6s} {'req/s':>7s} {'p50 ms':>8s} {'p95 ms':>8s} {'p99 ms':>8s} "
          f"{'max ms':>8s} {'non-200':>7s}  p95<150")
    for name, path in PAGES:
        paths = page_paths(path, 500, a.cases, a.pupils)
        if a.warmup:  # each server process's first requests fill its caches (the early warnings): not measured
            tool(base, cookie, paths, max(a.connections), a.warmup, tmp)
        for conns in a.connections:
            r = tool(base, cookie, paths, conns, a.duration, tmp)
            ok = "yes" if r["p95"] < 150 and r["bad"] == 0 else "NO"
            print(f"{name:18s} {conns:5d} {r['requests']:6d} {r['rps']:7.1f} {r['p50']:8.1f} {r['p95']:8.1f} "
                  f"{r['p99']:8.1f} {r['max']:8.1f} {r['bad']:7d}  {ok:3s}  (load avg {os.getloadavg()[0]:.1f})",
                  flush=True)
            rows.append((label, name, conns, r))
    shutil.rmtree(tmp, ignore_errors=True)
    return rows


# -- a throwaway PostgreSQL server (as tests/conftest.py starts one) --------------------------


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=200, help="Requests per page, one at a time (without --load).")
    ap.add_argument("--pupils", type=int, default=2000)
    ap.add_argument("--cases", type=int, default=10_000)
    ap.add_argument("--load", action="store_true", help="Concurrent load with wrk (or a Python client).")
    ap.add_argument("--connections", default="1,4", help="Concurrent connections to try, comma-separated.")
    ap.add_argument("--duration", type=int, default=15, help="Seconds per page and number of connections.")
    ap.add_argument("--warmup", type=int, default=3, help="Seconds of unmeasured load per page first (0: none).")
    ap.add_argument("--threads", type=int, default=8, help="waitress worker threads (per process).")
    ap.add_argument("--workers", type=int, default=2, help="casework serve --workers: server processes.")
    ap.add_argument("--db", choices=("sqlite", "postgres", "both"), default="sqlite")
    ap.add_argument("--postgres", default=None, help="An empty PostgreSQL database URL (else a throwaway server).")
    ap.add_argument("--cpu", action="store_true", help="CPU a request in-process for each caseload view and sort.")
    ap.add_argument("--profile", default="", help="With --cpu: print a cProfile of this page (e.g. 'sort attendance').")
    ap.add_argument("--keep", default="", help="Build the SQLite database at this path (reused if it exists).")
    ap.add_argument("--python-client", action="store_true", help="Use the Python client even if wrk is installed.")
    a = ap.parse_args()
    a.connections = [int(x) for x in a.connections.split(",")]
    a.duration = max(1, min(a.duration, 120))  # bounded
    if a.postgres and a.db == "sqlite":
        a.db = "postgres"
    with contextlib.ExitStack() as stack:
        runs = []
        if a.db in ("sqlite", "both"):
            tmp = Path(tempfile.mkdtemp(prefix="bench-web-"))
            stack.callback(shutil.rmtree, tmp, True)
            runs.append(("SQLite", f"sqlite:///{a.keep or tmp / 'bench.db'}"))
        if a.db in ("postgres", "both"):
            runs.append(("PostgreSQL", a.postgres or stack.enter_context(throwaway_postgres())))
        for label, url in runs:
            t0 = time.perf_counter()
            if a.keep and label == "SQLite" and Path(a.keep).exists():
                print(f"{label}: reusing {a.keep}")
                if a.cpu:
                    cpu(url, a)
                continue
            build(url, a.pupils, a.cases)
            print(f"{label}: built {a.pupils} pupils, {a.cases} open cases in {time.perf_counter() - t0:.1f}s", flush=True)
            if a.cpu:
                cpu(url, a)
                continue
            with serving(url, a.threads, a.workers) as base:
                if a.load:
                    load(base, a, label)
                else:
                    sequential(base, a)


if __name__ == "__main__":
    main()
