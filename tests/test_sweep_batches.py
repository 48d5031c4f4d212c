"""The deadline sweep claims due timers a batch at a time (casework/timers.py): what it does is
what lapsing them one at a time did, two sweepers at once never lapse one timer twice (on
PostgreSQL, where they really run at the same time), and a case that fails is reported while
the rest still lapse."""

from __future__ import annotations

import datetime as dt
import threading
from collections import Counter

import pytest
from sqlmodel import Session, select

from casework import timers
from casework.cases.moves import Actor, open_case
from casework.clock import FixedClock, at
from casework.store.casemodels import Case, Notification, Timer
from casework.timers import sweep
from casework.workflow import for_school

D = dt.date
OPENED = D(2026, 3, 2)  # a Monday of the spring term
LATER = FixedClock(at(D(2026, 3, 20), dt.time(18)))  # every unexplained-absence deadline has fallen due


def _cases(session: Session, school, pupils) -> list[Case]:
    wf = for_school("national")
    out = [open_case(session, school, p, wf, "unexplained_absence", concern=f"unexplained_absence:{OPENED}",
                     concern_start=OPENED, clock=FixedClock(at(OPENED, dt.time(9, 30))), actor=Actor.system(),
                     reason="N") for p in pupils]
    session.commit()
    return out


def _extra_timers(session: Session, cases: list[Case], per_case: int) -> None:
    """Review-after-letter deadlines (a notification and a proposed meeting), all due."""
    due = LATER.now() - dt.timedelta(days=1)
    for c in cases:
        for _ in range(per_case):
            session.add(Timer(school_id=c.school_id, case_id=c.id, kind="letter_review", label="Review", role="office",
                              state=c.state, started_at=due - dt.timedelta(days=28), due_at=due))
    session.commit()


def _outcome(session: Session) -> tuple:
    session.expire_all()
    ts = session.exec(select(Timer).order_by(Timer.id)).all()
    notes = session.exec(select(Notification).order_by(Notification.dedupe_key)).all()
    cases = session.exec(select(Case).order_by(Case.id)).all()
    return ([(t.kind, t.case_id, t.status, t.outcome, t.due_at) for t in ts],
            [(n.dedupe_key, n.role, n.queue, n.message, n.case_id) for n in notes],
            [(c.id, c.state, c.safeguarding, [(p["event"], p["source"]) for p in c.proposals]) for c in cases])


def _one_at_a_time(engine, clock) -> timers.SweepReport:
    report = timers.SweepReport()
    for tid in timers.due_timer_ids(engine, clock.now(), limit=10**6):
        done = timers.lapse_one(engine, tid, clock, "single")
        (report.met if "met" in done else report.lapsed).append(done)
    return report


def test_a_batched_sweep_does_what_lapsing_one_at_a_time_does(tmp_path, make_school, make_pupils, add_marks):
    """Two copies of the same school: one swept in batches, one a timer at a time. The timers'
    outcomes, the notifications, the safeguarding flags and proposals come out the same, including
    a safe-and-well check met because the pupil came back and many timers on one case."""
    from casework.store.db import make_engine

    results = []
    for name, sweeper in (("batch", lambda e: sweep(e, LATER)), ("single", lambda e: _one_at_a_time(e, LATER))):
        engine = make_engine(f"sqlite:///{tmp_path}/{name}.db")
        with Session(engine) as session:
            school = make_school(session, urn="118201")
            pupils = make_pupils(session, school, 40)
            for k, p in enumerate(pupils):
                p.forename = f"Pupil{k}"  # the same names in both copies
            add_marks(session, pupils[0], [(D(2026, 3, 4), "AM", "/")])  # came back: safe and well is met
            cases = _cases(session, school, pupils)
            _extra_timers(session, cases[:5], 60)  # 300 more, several batches, many on one case
            report = sweeper(engine)
            results.append((_outcome(session), sorted(d["timer_id"] for d in report.lapsed),
                            sorted(d["timer_id"] for d in report.met)))
        engine.dispose()
    batch, single = results
    assert batch == single
    (timers_, notes, cases_), lapsed, met = batch
    assert len(lapsed) > timers.FIRST_BATCH * 4 and len(met) >= 1  # several batches, and a deadline met
    assert not [t for t in timers_ if t[2] == "open" and t[4] <= LATER.now()]
    assert any(q == "safeguarding" for _, _, q, _, _ in notes)
    # a home visit is proposed for every child still away on day 3, not for the one back in class
    visits = [any(e == "plan_home_visit" for e, _ in c[3]) for c in cases_]
    assert visits == [False] + [True] * (len(cases_) - 1)


def test_a_failing_case_is_reported_and_the_rest_still_lapse(engine, session, make_school, make_pupils, monkeypatch):
    school = make_school(session)
    cases = _cases(session, school, make_pupils(session, school, 6))
    broken = cases[2].id
    real = timers.run_action

    def run_action(world, action, **kw):
        if world.case.id == broken:
            raise RuntimeError("the workflow's action failed")
        return real(world, action, **kw)

    monkeypatch.setattr(timers, "run_action", run_action)
    report = sweep(engine, LATER)
    assert report.failed and {f["timer_id"] for f in report.failed} == {
        t.id for t in session.exec(select(Timer).where(Timer.case_id == broken, Timer.status == "open",
                                                       Timer.due_at <= LATER.now()))}
    assert all("the workflow's action failed" in f["error"] for f in report.failed)
    session.expire_all()
    by_case = Counter((t.case_id, t.status) for t in session.exec(select(Timer).where(Timer.due_at <= LATER.now())))
    for c in cases:
        if c.id != broken:  # first-day contact, day-3 visit and the safe-and-well check
            assert by_case[(c.id, "open")] == 0 and by_case[(c.id, "lapsed")] + by_case[(c.id, "met")] == 3
    # Nothing of the failing case's lapse was written; a later sweep (once fixed) does it.
    assert session.exec(select(Notification).where(Notification.case_id == broken)).all() == []
    monkeypatch.setattr(timers, "run_action", real)
    again = sweep(engine, LATER)
    assert {d["case_id"] for d in again.lapsed + again.met} == {broken} and again.failed == []


@pytest.mark.postgres
def test_two_sweepers_at_once_on_postgresql_never_lapse_a_timer_twice(pg_engine, make_school, make_pupils):
    with Session(pg_engine) as session:
        school = make_school(session)
        cases = _cases(session, school, make_pupils(session, school, 30))
        _extra_timers(session, cases, 40)  # 1,200 more, so the two sweeps overlap for a while
        due = session.exec(select(Timer.id).where(Timer.due_at <= LATER.now())).all()
    reports: list = [None, None]
    start = threading.Barrier(2)

    def one(k: int) -> None:
        start.wait()
        reports[k] = sweep(pg_engine, LATER, worker=f"sweeper-{k}")

    threads = [threading.Thread(target=one, args=(k,)) for k in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    swept = [[d["timer_id"] for d in r.lapsed + r.met] for r in reports]
    assert all(swept), "both sweepers should have taken some of the work"
    assert not set(swept[0]) & set(swept[1])
    assert sorted(swept[0] + swept[1]) == sorted(due)
    with Session(pg_engine) as session:
        rows = session.exec(select(Timer.id, Timer.claimed_by).where(Timer.id.in_(due))).all()
        assert {tid: by for tid, by in rows} == {tid: f"sweeper-{k}" for k in (0, 1) for tid in swept[k]}
        reviews = session.exec(select(Notification.dedupe_key).where(Notification.dedupe_key.like("%:timer:%"))).all()
        assert len(reviews) == len(set(reviews))
        lapsed_reviews = [d for r in reports for d in r.lapsed if d["kind"] == "letter_review"]
        assert len([k for k in reviews if ":notify:" in k]) >= len(lapsed_reviews) == 1200
