"""Several workers share one night's schools through the database: each school evaluated
exactly once, a failing school recorded and retried, the others done (SQLite and PostgreSQL)."""

from __future__ import annotations

import threading
from collections import Counter

import pytest
from sqlmodel import Session, select

from casework.jobs import nightly
from casework.store.schedmodels import JobRun


def _schools(engine, make_school, n):
    with Session(engine, expire_on_commit=False) as s:
        out = [make_school(s, urn=f"{700000 + i}") for i in range(n)]
        s.commit()
    return out


def _race(engine, clock, fail_urn):
    evaluated: Counter = Counter()
    lock = threading.Lock()
    failures = Counter()

    def work(engine, school, clock):
        with lock:
            evaluated[school.urn] += 1
        if school.urn == fail_urn and failures[school.urn] < 1:
            failures[school.urn] += 1
            raise RuntimeError("the register server timed out")
        return {"school": school.urn}

    reports = {}
    barrier = threading.Barrier(2)

    def worker(name):
        barrier.wait()
        reports[name] = nightly.run(engine, clock, worker=name, retries=2, work=work, progress=False)

    threads = [threading.Thread(target=worker, args=(w,)) for w in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return evaluated, reports


@pytest.mark.parametrize("which", ["sqlite", "postgres"])
def test_two_workers_share_the_night(which, request, clock, make_school):
    engine = request.getfixturevalue("engine" if which == "sqlite" else "pg_engine")
    schools = _schools(engine, make_school, 8)
    fail_urn = schools[3].urn
    evaluated, reports = _race(engine, clock, fail_urn)

    # every school evaluated exactly once, except the failing one: once failed, then once more
    assert evaluated == {s.urn: (2 if s.urn == fail_urn else 1) for s in schools}
    ok_runs = [r for rep in reports.values() for r in rep.runs if r.outcome == "ok"]
    assert sorted(r.urn for r in ok_runs) == sorted(s.urn for s in schools)
    with Session(engine) as s:
        rows = s.exec(select(JobRun).where(JobRun.job == nightly.JOB)).all()
    assert {r.scope: r.outcome for r in rows} == {s.urn: "ok" for s in schools}
    assert {r.scope: r.attempts for r in rows} == {s.urn: (2 if s.urn == fail_urn else 1) for s in schools}
    assert nightly.outcomes(engine, clock.today().isoformat()) == {"ok": 8}
    # a second run the same night finds nothing left to do
    again = nightly.run(engine, clock, worker="c", work=lambda *a: pytest.fail("evaluated twice"), progress=False)
    assert again.runs == []


def test_a_school_that_keeps_failing_is_reported_and_the_others_done(engine, clock, make_school):
    schools = _schools(engine, make_school, 3)

    def work(engine, school, clock):
        if school.urn == schools[1].urn:
            raise ValueError("calendar missing")
        return {}

    rep = nightly.run(engine, clock, worker="a", retries=1, work=work, progress=False)
    assert [r.urn for r in rep.failed] == [schools[1].urn]
    assert rep.failed[0].attempts == 2 and "calendar missing" in rep.failed[0].detail["error"]
    assert rep.remaining == {"ok": 2, "failed": 1}
    # the next worker retries it (and only it)
    rep2 = nightly.run(engine, clock, worker="b", retries=0, work=lambda *a: {}, progress=False)
    assert [r.urn for r in rep2.runs] == [schools[1].urn] and rep2.remaining == {"ok": 3}


def test_nightly_command_evaluates_every_school(engine, db_url, clock, make_school):
    from click.testing import CliRunner

    from casework.cli import main

    _schools(engine, make_school, 2)
    r = CliRunner().invoke(main, ["nightly", "--db", db_url, "--as-of", clock.today().isoformat()])
    assert r.exit_code == 0, r.output
    assert "this worker evaluated 2 school(s)" in r.output
