"""A scheduler killed with SIGKILL mid-run, and restarted, sends every due nudge exactly once:
a real ``casework scheduler --once`` process, a real SMTP server on 127.0.0.1 (aiosmtpd),
and a real database (SQLite, or PostgreSQL). Killed twice: once while the evaluation is lapsing timers, once
while the SMTP server holds a message it has not yet accepted."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import time
from collections import Counter

import pytest
from sqlalchemy import text
from sqlmodel import select

from casework.cases.evaluate import evaluate
from casework.clock import FixedClock, at
from casework.store.casemodels import Notification, Timer
from casework.store.models import User
from casework.store.schedmodels import EmailOutbox, JobRun

D = dt.date
N_PUPILS = 200  # enough deadlines that the sweep commits several batches (32, 64, 128 ...) before it ends
ENTRY = "from casework.cli import main; main()"


def _scheduler(db_url: str, as_of: str, worker: str, env: dict) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", ENTRY, "scheduler", "--once", "--db", db_url, "--as-of", as_of,
                             "--worker", worker], env={**os.environ, **env}, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _count(engine, sql: str) -> int:
    """A count read on a connection of its own while the scheduler process writes."""
    with engine.connect() as con:
        return con.execute(text(sql)).scalar_one()


@pytest.mark.slow
def test_killed_scheduler_restarted_sends_every_nudge_exactly_once(db_url, engine, session, make_school,
                                                                    make_pupils, add_marks, smtp_server):
    sink, env = smtp_server
    school = make_school(session, "great-chart", urn="118201")
    for p in make_pupils(session, school, N_PUPILS):
        add_marks(session, p, [(D(2026, 2, 13), "AM", "N"), (D(2026, 2, 13), "PM", "N")])
    for name, role in (("dsl", "dsl"), ("deputy", "deputy_dsl"), ("officer", "attendance_officer")):
        session.add(User(school_id=school.id, username=name, name=f"{name.title()} Person", role=role,
                         email=f"{name}@school.test"))
    session.commit()
    # Fri 13 Feb 2026: the register closes, a case opens for each pupil with its timers.
    evaluate(engine, school.urn, FixedClock(at(D(2026, 2, 13), dt.time(9, 25))))
    total = 2 * N_PUPILS  # by Tue 24 Feb 13:00 each case's first-day contact and day-3 visit have lapsed

    # Run 1, 13:00: killed while the catch-up evaluation is lapsing timers one by one.
    proc = _scheduler(db_url, "2026-02-24T13:00", "run1", env)
    lapsed_at_kill = 0
    deadline = time.monotonic() + 60
    while proc.poll() is None and time.monotonic() < deadline:
        lapsed_at_kill = _count(engine, "SELECT count(*) FROM timer WHERE status = 'lapsed'")
        if lapsed_at_kill >= 10:
            proc.send_signal(signal.SIGKILL)
            break
        time.sleep(0.005)
    assert proc.wait(30) == -signal.SIGKILL, proc.stderr.read()
    assert 10 <= lapsed_at_kill < total, "the kill should land half-way through the sweep"
    assert sink.messages == []

    # Run 2, 13:15 (run 1's claims are older than the 10-minute lease): killed while the SMTP
    # server holds the 7th message, before accepting it.
    sink.hold_at(7)
    proc = _scheduler(db_url, "2026-02-24T13:15", "run2", env)
    assert sink.reached.wait(60), proc.communicate()[1] if proc.poll() is not None else "no 7th message"
    proc.send_signal(signal.SIGKILL)
    assert proc.wait(30) == -signal.SIGKILL
    sink.release()
    accepted_before = len(sink.messages)
    assert accepted_before == 6
    assert _count(engine, "SELECT count(*) FROM email_outbox WHERE status = 'sending'") == 1

    # Run 3, 13:30: finishes the work; the message held when run 2 died is sent again (it was never accepted).
    proc = _scheduler(db_url, "2026-02-24T13:30", "run3", env)
    out, errs = proc.communicate(timeout=120)
    assert proc.returncode == 0, errs

    session.expire_all()
    assert Counter(t.status for t in session.exec(select(Timer)).all())["lapsed"] == total
    nudges = session.exec(select(Notification).where(Notification.queue == "safeguarding")).all()
    assert len(nudges) == 2 * N_PUPILS  # DSL and deputy for each missed day-3 visit
    received = sink.by_message_id()
    assert all(n == 1 for n in received.values()), {k: v for k, v in received.items() if v > 1}
    for n in nudges:
        assert received.get(f"<casework.notification.{n.id}@school.test>") == 1
    digests = Counter(m["To"] for m in sink.messages if "digest" in m["Message-ID"])
    assert digests == {"dsl@school.test": 1, "deputy@school.test": 1, "officer@school.test": 1}
    assert len(sink.messages) == len(nudges) + 3
    outbox = session.exec(select(EmailOutbox)).all()
    assert {o.status for o in outbox} == {"sent"}
    assert max(o.attempts for o in outbox) == 2  # the held one, sent on the second claim
    runs = session.exec(select(JobRun)).all()
    assert all(r.outcome == "ok" for r in runs)
    # The catch-up evaluation was claimed by each run in turn (the first two died inside it) and finished once.
    nightly = next(r for r in runs if r.job == "nightly_evaluation")
    assert (nightly.claimed_by, nightly.attempts, nightly.outcome) == ("run3", 3, "ok")
