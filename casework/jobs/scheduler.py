"""The scheduled jobs, and how a scheduler claims them.

Four jobs, each a call on the domain:

=====================  ==========  ============================================================
job                    scope       when (Europe/London)
=====================  ==========  ============================================================
``sweep``              all         every ``SWEEP_MINUTES``: lapse due timers; email what is due
``digest``             school      school days at ``DIGEST_AT``: one email per user
``register_close``     school      school days when the AM register closes (the school's row):
                                   evaluate, so first-day contact timers start; post the list
``nightly_evaluation`` school      every day at ``NIGHTLY_AT``: evaluate the rules and timers
=====================  ==========  ============================================================

``run_due_jobs`` is the whole scheduler: for each job and scope it works out the latest
period that is due by now (today's 09:20 close, last night's evaluation, this sweep slot)
and, if no run of that period has finished, claims it and runs it. The claim is a row in
``job_run`` with a UNIQUE (job, scope, period): the first scheduler to insert it runs the
job, any other skips it; a run claimed but not finished within the lease (its scheduler
died) may be claimed again. So a period runs once with two schedulers on one database,
and after downtime the missed work runs once, at start-up. APScheduler only calls
``run_due_jobs`` every minute (``build_scheduler``); nothing lives in its memory.

Every job is also idempotent in itself (timers are claimed one by one, notifications and
outbox rows carry unique keys), so a re-claimed half-done run repeats nothing.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import insert, or_, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import select

from casework.cases.evaluate import evaluate
from casework.clock import LONDON, Clock, at
from casework.jobs import nightly
from casework.jobs.locks import school_lock
from casework.jobs.nightly import evaluate_school
from casework.notify import mail as m
from casework.notify.mail import MailSettings
from casework.register.calendar import SchoolCalendar
from casework.register.store import load_calendar
from casework.store.casemodels import Case, Notification, Timer
from casework.store.db import session_scope
from casework.store.models import Pupil, School
from casework.store.schedmodels import JobRun
from casework.timers import sweep
from casework.workflow import for_school

log = logging.getLogger("casework.scheduler")

SWEEP_MINUTES = 5
DIGEST_AT = dt.time(7, 0)
NIGHTLY_AT = dt.time(19, 0)
LEASE = dt.timedelta(minutes=10)
LOOKBACK_DAYS = 21  # how far back catch-up looks for a missed daily period


def default_worker() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


@dataclass(frozen=True)
class DuePeriod:
    job: str
    scope: str  # URN or "all"
    period: str
    scheduled_for: dt.datetime
    school: School | None = None


# -- when each job is due -------------------------------------------------------------


def sweep_slot(now: dt.datetime) -> tuple[str, dt.datetime]:
    """The sweep period holding ``now``: a slot of SWEEP_MINUTES, keyed in UTC so the
    repeated hour when the clocks go back is two hours of slots, not one."""
    utc = now.astimezone(dt.UTC)
    start = utc.replace(minute=utc.minute - utc.minute % SWEEP_MINUTES, second=0, microsecond=0)
    return start.strftime("%Y-%m-%dT%H:%MZ"), start


def latest_daily(now: dt.datetime, when: dt.time, calendar: SchoolCalendar | None) -> dt.date | None:
    """The latest day (a school day, if ``calendar`` is given) whose ``when`` has passed by ``now``."""
    day = now.astimezone(LONDON).date()
    for _ in range(LOOKBACK_DAYS):
        if (calendar is None or calendar.is_school_day(day)) and at(day, when) <= now:
            return day
        day -= dt.timedelta(days=1)
    return None


def due_periods(session, now: dt.datetime, school_id: int | None = None) -> list[DuePeriod]:
    """The latest due period of every job, oldest first."""
    slot, slot_start = sweep_slot(now)
    out = [DuePeriod("sweep", "all", slot, slot_start)]
    q = select(School).order_by(School.id)
    if school_id is not None:
        q = q.where(School.id == school_id)
    for school in session.exec(q):
        cal = load_calendar(session, school.id)
        for job, when, days in (("digest", DIGEST_AT, cal), ("register_close", school.am_close, cal),
                                ("nightly_evaluation", NIGHTLY_AT, None)):
            day = latest_daily(now, when, days)
            if day is not None:
                out.append(DuePeriod(job, school.urn, day.isoformat(), at(day, when), school))
    out.sort(key=lambda p: (p.scheduled_for, p.job != "sweep"))
    return out


# -- claiming a period ----------------------------------------------------------------


def claim_run(engine: Engine, due: DuePeriod, worker: str, now: dt.datetime, lease: dt.timedelta = LEASE) -> int | None:
    """Claim a period for ``worker``: the run's id, or None if it is done or another holds it."""
    table = JobRun.__table__
    key = (JobRun.job == due.job, JobRun.scope == due.scope, JobRun.period == due.period)
    with session_scope(engine) as s:
        row = s.exec(select(JobRun).where(*key)).first()
    if row is None:
        try:
            with engine.begin() as conn:
                res = conn.execute(insert(table).values(
                    job=due.job, scope=due.scope, period=due.period, school_id=due.school.id if due.school else None,
                    scheduled_for=due.scheduled_for, claimed_by=worker, claimed_at=now, started_at=now,
                    outcome="running", attempts=1, detail={}))
                return res.inserted_primary_key[0]
        except IntegrityError:
            pass  # another scheduler inserted it first
    elif row.outcome == "ok" or (row.outcome == "running" and row.claimed_at > now - lease):
        return None
    # A failed run, one waiting (``casework nightly`` seeds a night's schools as pending), or one
    # left unfinished (its scheduler died) for longer than the lease: take it over.
    with engine.begin() as conn:
        res = conn.execute(update(table).where(
            *key, or_(JobRun.outcome.in_(("failed", "pending")),
                      (JobRun.outcome == "running") & (JobRun.claimed_at <= now - lease)),
        ).values(claimed_by=worker, claimed_at=now, started_at=now, finished_at=None, outcome="running",
                 attempts=JobRun.attempts + 1))
        if res.rowcount != 1:
            return None
    with session_scope(engine) as s:
        return s.exec(select(JobRun.id).where(*key)).first()


def finish_run(engine: Engine, run_id: int, worker: str, now: dt.datetime, outcome: str, detail: dict) -> bool:
    """Record what came of a run; False if another scheduler took the run over meanwhile."""
    with engine.begin() as conn:
        return conn.execute(update(JobRun.__table__).where(
            JobRun.id == run_id, JobRun.claimed_by == worker, JobRun.finished_at.is_(None),
        ).values(finished_at=now, outcome=outcome, detail=detail)).rowcount == 1


# -- one evaluation of a school at a time ----------------------------------------------



# -- the jobs -------------------------------------------------------------------------


def job_sweep(engine: Engine, clock: Clock, worker: str, mail: MailSettings | None, school: School | None = None,
              send=None) -> dict:

    lapsed = sweep(engine, clock, worker=worker, school_id=school.id if school else None).lapsed
    out: dict = {"timers_lapsed": len(lapsed), "lapsed": [{k: t[k] for k in ("timer_id", "case_id", "kind")} for t in lapsed]}
    return {**out, **email_now(engine, clock, worker, mail, send)}


def email_now(engine: Engine, clock: Clock, worker: str, mail: MailSettings | None, send=None) -> dict:
    """Email the notifications that go out at once (the DSL's queue), and anything still
    pending. Every job that can raise a notification ends with this, so an escalation made by
    the nightly evaluation does not wait for the next sweep; the outbox's keys and claims
    keep it to one message however many jobs call it."""

    if mail is None:
        return {}
    queued = m.enqueue_notifications(engine, clock, mail)
    rep = m.dispatch(engine, clock, mail, worker=worker, **({"send": send} if send else {}))
    return {"email": {**rep.as_dict(), "queued": queued}}


def job_register_close(engine: Engine, clock: Clock, worker: str, mail: MailSettings | None, school: School,
                       send=None) -> dict:
    """The morning first-day contact list: evaluate now the AM register has closed (so today's
    unexplained absences open cases and start their first-day timers), then post the list of
    pupils still awaiting contact to the office."""

    with school_lock(engine, school.id):
        report = evaluate(engine, school.urn, clock)
        listed = first_day_list(engine, school, clock)
    return {"cases_opened": len(report.opened), "timers_lapsed": len(report.timers), "first_day_list": listed,
            **email_now(engine, clock, worker, mail, send)}


def first_day_list(engine: Engine, school: School, clock: Clock) -> list[dict]:
    now = clock.now()
    today = now.astimezone(LONDON).date()
    with session_scope(engine) as s:
        rows = list(s.exec(
            select(Timer, Case, Pupil).join(Case, Case.id == Timer.case_id).join(Pupil, Pupil.id == Case.pupil_id)
            .where(Timer.school_id == school.id, Timer.kind == "first_day_contact", Timer.status == "open",
                   Case.closed_at.is_(None)).order_by(Pupil.surname, Pupil.forename)))
        listed = [{"case_id": c.id, "upn": p.upn, "pupil": p.name, "due": t.due_at.astimezone(LONDON).isoformat()}
                  for t, c, p in rows]
        if listed:
            wf = for_school(school.workflow)
            text = (f"First-day contact list for {today:%a %d %b}: {len(listed)} pupil(s) absent with no reason "
                    "given: " + ", ".join(x["pupil"] for x in listed))
            for role in sorted(wf.roles_for([rows[0][0].role])):
                key = f"school:{school.id}:first_day_list:{today.isoformat()}:{role}"
                if s.exec(select(Notification.id).where(Notification.dedupe_key == key)).first() is None:
                    s.add(Notification(school_id=school.id, role=role, message=text, created_at=now, dedupe_key=key))
    return listed


def job_nightly(engine: Engine, clock: Clock, worker: str, mail: MailSettings | None, school: School, send=None) -> dict:
    """One school's nightly evaluation (``run_due_jobs`` runs every school's night through
    ``casework.jobs.nightly``, which calls the same ``evaluate_school``)."""

    return {**evaluate_school(engine, school, clock), **email_now(engine, clock, worker, mail, send)}


def job_digest(engine: Engine, clock: Clock, worker: str, mail: MailSettings | None, school: School, send=None) -> dict:

    if mail is None:
        return {"email": "not configured (set CASEWORK_SMTP_HOST)"}
    queued = m.enqueue_digests(engine, school, clock, mail)
    rep = m.dispatch(engine, clock, mail, worker=worker, **({"send": send} if send else {}))
    return {"digests_queued": queued, "email": rep.as_dict()}


JOBS: dict[str, Callable[..., dict]] = {
    "sweep": job_sweep,
    "digest": job_digest,
    "register_close": job_register_close,
    "nightly_evaluation": job_nightly,
}


def run_due_jobs(engine: Engine, clock: Clock, *, worker: str | None = None, mail: MailSettings | None = None,
                 school_id: int | None = None, lease: dt.timedelta = LEASE, send=None) -> list[dict]:
    """Run every job whose latest period is due and not yet done (one scheduler wake-up)."""
    worker = worker or default_worker()
    with session_scope(engine) as s:
        periods = due_periods(s, clock.now(), school_id)
    done = []
    nightly_done: set[str] = set()
    for due in periods:
        if due.job == "nightly_evaluation":
            # Every school's night in one pass, shared with other schedulers and `casework nightly`
            # through the same job_run rows (casework.jobs.nightly).
            if due.period not in nightly_done:
                nightly_done.add(due.period)
                done.extend(_run_nightly(engine, clock, worker, mail, lease, send,
                                         [p for p in periods if p.job == due.job and p.period == due.period]))
            continue
        run_id = claim_run(engine, due, worker, clock.now(), lease)
        if run_id is None:
            continue
        record = {"run_id": run_id, "job": due.job, "scope": due.scope, "period": due.period}
        try:
            detail = JOBS[due.job](engine, clock, worker, mail, **({"school": due.school} if due.school else {}),
                                   send=send)
            outcome = "ok"
        except Exception as exc:  # a failed job is recorded and retried; the others still run
            log.exception("job %s for %s (%s) failed", due.job, due.scope, due.period)
            detail, outcome = {"error": f"{type(exc).__name__}: {exc}"}, "failed"
        finish_run(engine, run_id, worker, clock.now(), outcome, detail)
        done.append({**record, "outcome": outcome, "detail": detail})
    return done


def _run_nightly(engine: Engine, clock: Clock, worker: str, mail: MailSettings | None, lease: dt.timedelta, send,
                 due: list[DuePeriod]) -> list[dict]:

    def work(engine: Engine, school: School, clock: Clock) -> dict:
        return job_nightly(engine, clock, worker, mail, school, send)

    rep = nightly.run(engine, clock, worker=worker, period=due[0].period, schools=[p.school for p in due],
                      scheduled_for=due[0].scheduled_for, lease=lease, retries=0, work=work, progress=False)
    return [{"run_id": r.run_id, "job": nightly.JOB, "scope": r.urn, "period": rep.period, "outcome": r.outcome,
             "detail": r.detail} for r in rep.runs]


def job_runs(session, limit: int = 50) -> list[JobRun]:
    return list(session.exec(select(JobRun).order_by(JobRun.started_at.desc(), JobRun.id.desc()).limit(limit)))


def stuck_runs(session, now: dt.datetime, lease: dt.timedelta = LEASE) -> list[JobRun]:
    return list(session.exec(select(JobRun).where(JobRun.finished_at.is_(None), JobRun.claimed_at <= now - lease)))


# -- the process ----------------------------------------------------------------------


def build_scheduler(engine: Engine, *, worker: str, mail: MailSettings | None, tick_seconds: int = 60,
                    blocking: bool = True):
    """An APScheduler that wakes ``run_due_jobs`` every ``tick_seconds`` (first at once, which is
    the start-up catch-up). One instance at a time per process; any number of processes."""
    from apscheduler.schedulers.background import BackgroundScheduler
    from apscheduler.schedulers.blocking import BlockingScheduler

    cls = BlockingScheduler if blocking else BackgroundScheduler
    sched = cls(timezone=LONDON, job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": tick_seconds})

    def tick() -> None:
        for r in run_due_jobs(engine, Clock(), worker=worker, mail=mail):
            log.info("%s %s %s: %s", r["job"], r["scope"], r["period"], r["outcome"])

    sched.add_job(tick, "interval", seconds=tick_seconds, id="tick", next_run_time=dt.datetime.now(LONDON))
    return sched


__all__ = ["JOBS", "LEASE", "build_scheduler", "claim_run", "due_periods", "finish_run", "run_due_jobs"]
