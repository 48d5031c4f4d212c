"""The nightly evaluation of every school on one database, shared by any number of workers.

A trust or local authority keeps hundreds of schools on one PostgreSQL. One night's work
is one ``job_run`` row per school, ``("nightly_evaluation", <URN>, <date>)``, the same rows
the scheduler has always used, so ``casework nightly`` and the scheduler share them:

1. ``seed`` inserts a ``pending`` row for every school that has none for the night
   (a conflict on the UNIQUE key means another worker got there first, and is ignored).
2. ``claim_next`` hands the worker one school. On PostgreSQL it is
   ``SELECT ... FOR UPDATE SKIP LOCKED LIMIT 1``: two workers never wait on each other and
   never take the same row. On SQLite, which has one writer at a time, it is a conditional
   ``UPDATE ... WHERE id = ? AND <still claimable>``: the loser of a race changes no row
   and moves to the next school.
3. The worker evaluates the school (holding ``school_lock``, so the morning register-close
   run cannot open the same case at once) and records ``ok`` or ``failed`` with the error.

A failed school does not stop the others: it goes back in the pool and is tried again
(``retries`` more times by the same worker in one run; any worker may take it), and a
school left ``running`` by a worker that died is taken over once its lease has run out.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import sys
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from sqlalchemy import and_, or_, select, update
from sqlalchemy.engine import Engine

from casework.cases.evaluate import evaluate
from casework.clock import Clock
from casework.jobs.locks import school_lock
from casework.store.models import School
from casework.store.schedmodels import JobRun

log = logging.getLogger("casework.nightly")

JOB = "nightly_evaluation"
LEASE = dt.timedelta(minutes=10)


@dataclass
class SchoolRun:
    run_id: int
    urn: str
    outcome: str  # ok | failed
    attempts: int
    detail: dict


@dataclass
class NightlyReport:
    period: str
    worker: str
    runs: list[SchoolRun] = field(default_factory=list)
    remaining: dict[str, int] = field(default_factory=dict)  # outcome -> schools, over every worker

    @property
    def failed(self) -> list[SchoolRun]:
        """The schools whose last attempt by this worker failed and that no later attempt mended."""
        last = {r.urn: r for r in self.runs}
        return [r for r in last.values() if r.outcome == "failed"]

    def as_dict(self) -> dict:
        return {"period": self.period, "worker": self.worker,
                "runs": [r.__dict__ for r in self.runs], "by_outcome": self.remaining}


def _claimable(now: dt.datetime, lease: dt.timedelta):
    return or_(JobRun.outcome == "pending", JobRun.outcome == "failed",
               and_(JobRun.outcome == "running", JobRun.claimed_at <= now - lease))


def seed(engine: Engine, period: str, scheduled_for: dt.datetime, schools: Iterable[School], now: dt.datetime) -> int:
    """A ``pending`` row for each school without one for ``period``; how many were added."""
    rows = [dict(job=JOB, scope=s.urn, period=period, school_id=s.id, scheduled_for=scheduled_for,
                 claimed_by="", claimed_at=now, started_at=now, outcome="pending", attempts=0, detail={})
            for s in schools]
    if not rows:
        return 0
    if engine.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    stmt = insert(JobRun.__table__).on_conflict_do_nothing(index_elements=["job", "scope", "period"])
    with engine.begin() as conn:
        return conn.execute(stmt, rows).rowcount or 0


def claim_next(engine: Engine, period: str, worker: str, now: dt.datetime, *, lease: dt.timedelta = LEASE,
               skip: Iterable[int] = ()) -> tuple[int, str, int] | None:
    """Claim one school of ``period`` for ``worker``: (run id, URN, attempt), or None when
    no school is left to take. ``skip`` are run ids this worker will not take again."""
    t = JobRun.__table__
    skip = list(skip)
    where = [JobRun.job == JOB, JobRun.period == period, _claimable(now, lease)]
    if skip:
        where.append(JobRun.id.not_in(skip))
    claim = dict(claimed_by=worker, claimed_at=now, started_at=now, finished_at=None, outcome="running",
                 attempts=JobRun.attempts + 1)
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            row = conn.execute(select(t.c.id, t.c.scope).where(*where).order_by(t.c.id).limit(1)
                               .with_for_update(skip_locked=True)).first()
            if row is None:
                return None
            attempts = conn.execute(update(t).where(t.c.id == row.id).values(**claim).returning(t.c.attempts)).scalar_one()
            return row.id, row.scope, attempts
    with engine.connect() as conn:
        candidates = conn.execute(select(t.c.id, t.c.scope).where(*where).order_by(t.c.id)).all()
    for run_id, urn in candidates:
        with engine.begin() as conn:  # one writer at a time: the first UPDATE to land wins the row
            res = conn.execute(update(t).where(t.c.id == run_id, _claimable(now, lease)).values(**claim)
                               .returning(t.c.attempts)).first()
        if res is not None:
            return run_id, urn, res[0]
    return None


def finish(engine: Engine, run_id: int, worker: str, now: dt.datetime, outcome: str, detail: dict) -> bool:
    with engine.begin() as conn:
        return conn.execute(update(JobRun.__table__).where(
            JobRun.id == run_id, JobRun.claimed_by == worker, JobRun.outcome == "running",
        ).values(finished_at=now, outcome=outcome, detail=detail)).rowcount == 1


def outcomes(engine: Engine, period: str) -> dict[str, int]:
    with engine.connect() as conn:
        rows = conn.execute(select(JobRun.outcome, JobRun.scope).where(JobRun.job == JOB, JobRun.period == period)).all()
    return dict(Counter(o for o, _ in rows))


def evaluate_school(engine: Engine, school: School, clock: Clock) -> dict:
    """One school's nightly work (the rules and timers), holding the school; what it did."""

    with school_lock(engine, school.id):
        r = evaluate(engine, school.urn, clock)
    return {"findings": dict(r.findings), "cases_opened": len(r.opened), "findings_added": r.attached,
            "proposed": len(r.proposed), "notifications": r.notified, "timers_lapsed": len(r.timers)}


def run(engine: Engine, clock: Clock, *, worker: str, period: str | None = None, schools: list[School] | None = None,
        scheduled_for: dt.datetime | None = None, lease: dt.timedelta = LEASE, retries: int = 2,
        work: Callable[[Engine, School, Clock], dict] = evaluate_school, progress: bool | None = None) -> NightlyReport:
    """Evaluate every school (or ``schools``) for the night ``period`` (default: the clock's
    today), sharing the schools with any other worker on the database. Returns what this
    worker did; ``remaining`` counts every school's outcome once this worker found none left."""
    from sqlmodel import Session

    now = clock.now()
    period = period or clock.today().isoformat()
    with Session(engine, expire_on_commit=False) as s:
        every = list(s.exec(select(School).order_by(School.id)).scalars()) if schools is None else schools
        by_urn = {x.urn: x for x in every}
    seed(engine, period, scheduled_for or now, every, now)
    report = NightlyReport(period, worker)
    failures: Counter = Counter()
    with _progress(len(every), period, progress) as bar:
        while True:
            given_up = [rid for rid, n in failures.items() if n > retries]
            got = claim_next(engine, period, worker, clock.now(), lease=lease, skip=given_up)
            if got is None:
                break
            run_id, urn, attempts = got
            school = by_urn.get(urn)
            try:
                if school is None:
                    raise LookupError(f"school {urn} is not on this database")
                detail, outcome = work(engine, school, clock), "ok"
            except Exception as exc:  # recorded and tried again; the other schools go on
                log.exception("nightly evaluation of %s failed", urn)
                detail, outcome = {"error": f"{type(exc).__name__}: {exc}"}, "failed"
                failures[run_id] += 1
            finish(engine, run_id, worker, clock.now(), outcome, detail)
            report.runs.append(SchoolRun(run_id, urn, outcome, attempts, detail))
            bar(urn, outcome)
    report.remaining = outcomes(engine, period)
    return report


class _progress:
    """A rich progress bar on a terminal (not when CASEWORK_NO_PROGRESS is set)."""

    def __init__(self, total: int, period: str, enabled: bool | None) -> None:
        if enabled is None:
            enabled = sys.stderr.isatty() and not os.environ.get("CASEWORK_NO_PROGRESS")
        self.enabled, self.total, self.period = enabled, total, period

    def __enter__(self):
        if not self.enabled:
            return lambda urn, outcome: None
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self.p = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                          console=Console(stderr=True), transient=True)
        self.p.__enter__()
        task = self.p.add_task(f"nightly {self.period}", total=self.total)
        failed = Counter()

        def tick(urn: str, outcome: str) -> None:
            failed[outcome] += 1
            note = f" ({failed['failed']} failed)" if failed["failed"] else ""
            self.p.update(task, advance=1 if outcome == "ok" else 0,
                          description=f"nightly {self.period}: {urn}{note}")
        return tick

    def __exit__(self, *exc) -> None:
        if self.enabled:
            self.p.__exit__(*exc)
