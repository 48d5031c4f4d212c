"""The scheduler's own tables: each period of each job runs once, missed work runs once at
start-up, a crashed run is taken over after the lease, two schedulers racing on one
database (SQLite file, and PostgreSQL) duplicate nothing, and every nudge is emailed once."""

from __future__ import annotations

import datetime as dt
import threading
from collections import Counter

import pytest
from sqlmodel import Session, select

from casework.clock import LONDON, FixedClock, at
from casework.jobs.scheduler import claim_run, due_periods, run_due_jobs, sweep_slot
from casework.notify.mail import MailSettings
from casework.store.casemodels import Case, Notification, Timer
from casework.store.db import make_engine, session_scope
from casework.store.models import User
from casework.store.schedmodels import EmailOutbox, JobRun

D = dt.date


def _school_with_absences(session, make_school, make_pupils, add_marks, n=6, urn="118101"):
    """Great Chart; ``n`` pupils absent with no reason on Fri 13 Feb 2026; DSL, deputy and officer."""
    school = make_school(session, "great-chart", urn=urn)
    pupils = make_pupils(session, school, n)
    for p in pupils:
        add_marks(session, p, [(D(2026, 2, 13), "AM", "N"), (D(2026, 2, 13), "PM", "N")])
    for name, role in (("dsl", "dsl"), ("deputy", "deputy_dsl"), ("officer", "attendance_officer")):
        session.add(User(school_id=school.id, username=f"{name}{urn}", name=f"{name.title()} Person", role=role,
                         email=f"{name}.{urn}@school.test"))
    session.commit()
    return school, pupils


def test_periods_are_london_times_and_sweep_slots_are_utc(session, make_school):
    school = make_school(session, "great-chart")
    session.commit()
    # Fri 17 Oct 2025 (BST): the AM register closes 09:20 London = 08:20 UTC.
    got = {p.job: p for p in due_periods(session, at(D(2025, 10, 17), dt.time(9, 21)))}
    assert got["register_close"].period == "2025-10-17"
    assert got["register_close"].scheduled_for.astimezone(dt.UTC).hour == 8
    # Thursday evening's run is the latest nightly one at 09:21 on Friday; digest 07:00 today.
    assert got["nightly_evaluation"].period == "2025-10-16" and got["digest"].period == "2025-10-17"
    # Tue 28 Oct 2025 (GMT, first school day after the INSET day): 09:20 London = 09:20 UTC.
    got = {p.job: p for p in due_periods(session, at(D(2025, 10, 28), dt.time(9, 20)))}
    assert got["register_close"].scheduled_for.astimezone(dt.UTC).hour == 9
    # At 09:19 on the Monday INSET day the latest register close was Fri 17 Oct (half term between).
    got = {p.job: p for p in due_periods(session, at(D(2025, 10, 27), dt.time(9, 19)))}
    assert got["register_close"].period == "2025-10-17" and got["nightly_evaluation"].period == "2025-10-26"
    # The hour repeated when the clocks go back is two distinct sweep slots.
    first = dt.datetime(2025, 10, 26, 1, 30, tzinfo=LONDON)
    second = dt.datetime(2025, 10, 26, 1, 30, fold=1, tzinfo=LONDON)
    assert sweep_slot(first)[0] == "2025-10-26T00:30Z" and sweep_slot(second)[0] == "2025-10-26T01:30Z"
    assert school.am_close == dt.time(9, 20)


def test_each_period_runs_once_and_missed_work_runs_once_at_start_up(engine, session, make_school, make_pupils,
                                                                      add_marks):
    school, pupils = _school_with_absences(session, make_school, make_pupils, add_marks)
    # The scheduler was down from Thursday to Tuesday after half term: at 09:30 on Tue 24 Feb it
    # runs the latest period of each job once (not one per missed day).
    clock = FixedClock(at(D(2026, 2, 24), dt.time(9, 30)))
    runs = run_due_jobs(engine, clock, worker="a")
    assert sorted((r["job"], r["period"]) for r in runs) == [
        ("digest", "2026-02-24"), ("nightly_evaluation", "2026-02-23"), ("register_close", "2026-02-24"),
        ("sweep", "2026-02-24T09:30Z")]
    assert all(r["outcome"] == "ok" for r in runs)
    assert run_due_jobs(engine, clock, worker="b") == []  # done: nothing runs twice
    clock.set(at(D(2026, 2, 24), dt.time(9, 36)))
    assert [r["job"] for r in run_due_jobs(engine, clock, worker="b")] == ["sweep"]  # a new sweep slot
    # The catch-up evaluation opened the cases and lapsed their first-day timers.
    assert len(session.exec(select(Case)).all()) == len(pupils)
    lapsed = session.exec(select(Timer).where(Timer.status == "lapsed")).all()
    assert Counter(t.kind for t in lapsed) == {"first_day_contact": 6}
    listed = session.exec(select(Notification).where(Notification.dedupe_key.like("%first_day_list%"))).all()
    assert listed == []  # the first-day contact timers had lapsed before the list: no list of open ones


def test_the_register_close_run_posts_the_first_day_contact_list(engine, session, make_school, make_pupils,
                                                                  add_marks):
    school, pupils = _school_with_absences(session, make_school, make_pupils, add_marks, n=2)
    run_due_jobs(engine, FixedClock(at(D(2026, 2, 13), dt.time(9, 21))), worker="a")
    notes = session.exec(select(Notification).where(Notification.dedupe_key.like("%first_day_list%"))).all()
    assert {n.role for n in notes} == {"attendance_officer", "wellbeing_lead"}
    assert all(p.name in notes[0].message for p in pupils)
    open_ = session.exec(select(Timer).where(Timer.kind == "first_day_contact", Timer.status == "open")).all()
    assert len(open_) == 2 and all(t.due_at == at(D(2026, 2, 13), dt.time(12)) for t in open_)


def test_a_crashed_run_is_taken_over_after_the_lease_and_a_failed_one_retried(engine, session, make_school):
    make_school(session, "great-chart", urn="118102")
    session.commit()
    now = at(D(2026, 2, 24), dt.time(19, 1))
    nightly = next(p for p in due_periods(session, now) if p.job == "nightly_evaluation")
    assert claim_run(engine, nightly, "dead", now - dt.timedelta(minutes=5)) is not None  # then the process died
    assert claim_run(engine, nightly, "b", now) is None  # within the lease: someone may still be on it
    later = now + dt.timedelta(minutes=6)
    run_id = claim_run(engine, nightly, "b", later)  # 11 minutes on: taken over
    assert run_id is not None
    with session_scope(engine) as s:
        row = s.get(JobRun, run_id)
        assert (row.claimed_by, row.attempts, row.outcome) == ("b", 2, "running")
        row.outcome, row.finished_at = "failed", later
    assert claim_run(engine, nightly, "c", later) is not None  # a failed run is retried at the next wake-up


def _race(engine_factory, clock_at, workers=2, send=None, mail=None):
    results: dict[str, list] = {}
    barrier = threading.Barrier(workers, timeout=60)

    def go(name):
        eng = engine_factory()
        barrier.wait()
        results[name] = run_due_jobs(eng, FixedClock(clock_at), worker=name, mail=mail, send=send)
        eng.dispose()

    threads = [threading.Thread(target=go, args=(f"w{i}",)) for i in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    return results


def _assert_no_duplicates(engine, sink, n_pupils):
    with Session(engine) as s:
        runs = s.exec(select(JobRun)).all()
        assert Counter((r.job, r.scope, r.period) for r in runs).most_common(1)[0][1] == 1
        assert all(r.outcome == "ok" for r in runs), [(r.job, r.detail) for r in runs]
        assert len(s.exec(select(Case)).all()) == n_pupils  # one case per pupil, not one per scheduler
        assert len(s.exec(select(Timer)).all()) == 4 * n_pupils
        outbox = s.exec(select(EmailOutbox)).all()
        sg = s.exec(select(Notification).where(Notification.queue == "safeguarding")).all()
    assert len(sg) == 2 * n_pupils  # a missed day-3 visit: DSL and deputy, once each
    counts = sink.by_message_id()
    assert all(c == 1 for c in counts.values()), counts
    assert {f"<casework.notification.{n.id}@school.test>" for n in sg} <= set(counts)
    assert len(counts) == len([o for o in outbox if o.status == "sent"])


@pytest.mark.parametrize("workers", [2, 3])
def test_schedulers_racing_on_one_sqlite_file_duplicate_nothing(db_url, engine, session, make_school, make_pupils,
                                                                 add_marks, smtp_server, workers):
    sink, env = smtp_server
    school, pupils = _school_with_absences(session, make_school, make_pupils, add_marks, n=8)
    results = _race(lambda: make_engine(db_url, migrate=False), at(D(2026, 2, 24), dt.time(13)), workers,
                    mail=MailSettings.from_env(env))
    ran = Counter((r["job"], r["period"]) for rs in results.values() for r in rs)
    assert ran and max(ran.values()) == 1
    _assert_no_duplicates(engine, sink, len(pupils))


@pytest.mark.postgres
def test_schedulers_racing_on_postgresql_duplicate_nothing(postgres_url, pg_engine, make_school, make_pupils,
                                                           add_marks, smtp_server):
    sink, env = smtp_server
    with Session(pg_engine, expire_on_commit=False) as s:
        school, pupils = _school_with_absences(s, make_school, make_pupils, add_marks, n=8)
    results = _race(lambda: make_engine(postgres_url, migrate=False), at(D(2026, 2, 24), dt.time(13)), 3,
                    mail=MailSettings.from_env(env))
    ran = Counter((r["job"], r["period"]) for rs in results.values() for r in rs)
    assert max(ran.values()) == 1
    _assert_no_duplicates(pg_engine, sink, len(pupils))


def test_digest_is_one_email_per_user_per_morning(engine, session, make_school, make_pupils, add_marks,
                                                  smtp_server):
    sink, env = smtp_server
    school, pupils = _school_with_absences(session, make_school, make_pupils, add_marks, n=3)
    mail = MailSettings.from_env({**env, "CASEWORK_EMAIL_NOW": ""})  # everything waits for the digest
    run_due_jobs(engine, FixedClock(at(D(2026, 2, 13), dt.time(19, 30))), worker="a", mail=mail)
    assert sink.messages == []  # nudges are not emailed one by one
    run_due_jobs(engine, FixedClock(at(D(2026, 2, 23), dt.time(7, 5))), worker="a", mail=mail)
    to = Counter(m["To"] for m in sink.messages)
    assert to == {"officer.118101@school.test": 1}  # the DSL has nothing new and nothing overdue yet
    body = sink.messages[0].get_content()
    assert "Overdue deadlines (3)" in body and all(p.name in body for p in pupils)
    run_due_jobs(engine, FixedClock(at(D(2026, 2, 23), dt.time(7, 40))), worker="b", mail=mail)
    assert len(sink.messages) == 1  # once per morning
    run_due_jobs(engine, FixedClock(at(D(2026, 2, 25), dt.time(7, 5))), worker="a", mail=mail)
    to = Counter(m["To"] for m in sink.messages)
    assert to["dsl.118101@school.test"] == 1 and to["officer.118101@school.test"] == 2
    dsl_body = next(m for m in sink.messages if m["To"].startswith("dsl")).get_content()
    assert "[safeguarding]" in dsl_body and "third day" in dsl_body


def test_smtp_refusing_a_message_leaves_it_to_be_retried(engine, session, make_school, make_pupils, add_marks):
    school, pupils = _school_with_absences(session, make_school, make_pupils, add_marks, n=1)
    mail = MailSettings("127.0.0.1", 1, "casework@school.test")
    sent = []

    def broken(settings, msg):
        raise ConnectionRefusedError("connection refused")

    clock = FixedClock(at(D(2026, 2, 24), dt.time(13)))
    runs = run_due_jobs(engine, clock, worker="a", mail=mail, send=broken)
    assert all(r["outcome"] == "ok" for r in runs)  # the job ran; the email waits
    with session_scope(engine) as s:
        assert {o.status for o in s.exec(select(EmailOutbox))} == {"pending"}
    clock.set(at(D(2026, 2, 24), dt.time(13, 5)))
    run_due_jobs(engine, clock, worker="a", mail=mail, send=lambda st, m: sent.append(m["Message-ID"]))
    assert len(sent) == len(set(sent)) == 5  # two safeguarding emails (DSL, deputy) and three digests


def test_scheduler_once_cli(db_url, engine, session, make_school, make_pupils, add_marks):
    import json

    from click.testing import CliRunner

    from casework.cli import main

    _school_with_absences(session, make_school, make_pupils, add_marks, n=1)
    r = CliRunner().invoke(main, ["scheduler", "--once", "--db", db_url, "--as-of", "2026-02-24T13:00", "--json",
                                  "--worker", "t1"])
    assert r.exit_code == 0, r.output
    assert {x["job"] for x in json.loads(r.output)["runs"]} == {"sweep", "digest", "register_close", "nightly_evaluation"}
    r = CliRunner().invoke(main, ["jobs", "--db", db_url, "--json"])
    assert {x["claimed_by"] for x in json.loads(r.output)} == {"t1"}
    r = CliRunner().invoke(main, ["scheduler", "--db", db_url, "--as-of", "2026-02-24"])
    assert r.exit_code == 1 and "--once" in r.output
