"""A print run of any size, in the background: the school's queued letters produced a chunk at a
time (each chunk one print file), the progress kept in a ``PrintJob`` row that the letters page
reads. A letter with a problem is left in the queue and listed; the others go.

The web app starts ``run_print_job`` on a thread of its own with its own database session; the
CLI and tests call it directly. One job runs per school at a time.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from casework.clock import Clock
from casework.letters.pdf import LayoutPool, print_pool, print_workers
from casework.letters.queue import produce_print_batch
from casework.letters.render import queued_letters
from casework.store.casemodels import PrintJob
from casework.store.db import session_scope
from casework.store.models import School

CHUNK = 50  # letters to a print file: a size an office printer takes in one go
POOL_FROM = 20  # letters: a smaller run is laid out here, as starting worker processes costs more than it saves


class PrintJobError(ValueError):
    """A print run that cannot start (one is already running for the school)."""


STALE = dt.timedelta(hours=1)  # a run this old that never finished died with its process


def running_job(session: Session, school_id: int, now: dt.datetime) -> PrintJob | None:
    return session.exec(select(PrintJob).where(PrintJob.school_id == school_id, PrintJob.requested_at > now - STALE,
                                               PrintJob.status.in_(("waiting", "running")))).first()


def latest_job(session: Session, school_id: int) -> PrintJob | None:
    return session.exec(select(PrintJob).where(PrintJob.school_id == school_id)
                        .order_by(PrintJob.id.desc())).first()


def print_job_summary(job: PrintJob) -> str:
    """What a finished run did, in a sentence."""
    n, files, k = job.produced, len(job.batch_ids), len(job.problems)
    text = f"{n} letter{'s' if n != 1 else ''} produced " + (
        "as one print file." if files == 1 else f"in {files} print files of up to {CHUNK}.")
    if k:
        text += f" {k} letter{'s' if k != 1 else ''} with problems {'were' if k != 1 else 'was'} left in the queue."
    return text


def start_print_job(session: Session, school: School, by: str, clock: Clock) -> PrintJob:
    """Record a print run of every letter queued now (``run_print_job`` does the work)."""
    if (job := running_job(session, school.id, clock.now())) is not None:
        raise PrintJobError(f"a print run started by {job.requested_by} is still going ({job.done} of {job.total})")
    job = PrintJob(school_id=school.id, requested_by=by, requested_at=clock.now(),
                   total=len(queued_letters(session, school, clock)))
    session.add(job)
    session.flush()
    return job


def run_print_job(engine: Engine, job_id: int, clock: Clock, chunk: int = CHUNK,
                  workers: int | None = None) -> PrintJob:
    """Produce the job's letters a chunk at a time, each chunk committed with its progress, so a
    page polling the job sees it move and a failure keeps what was already produced. Each chunk
    is laid out in ``workers`` processes (default ``print_workers()``: one per core), a run of
    fewer than ``POOL_FROM`` letters in this one."""
    with session_scope(engine) as s:
        total = s.get(PrintJob, job_id).total
    pool = print_pool(1 if total < POOL_FROM else print_workers() if workers is None else workers)
    try:
        return _run(engine, job_id, clock, chunk, pool)
    finally:
        if pool is not None:
            pool.shutdown()


def _run(engine: Engine, job_id: int, clock: Clock, chunk: int, pool: LayoutPool | None) -> PrintJob:
    with session_scope(engine) as s:
        job = s.get(PrintJob, job_id)
        job.status = "running"
        school_id = job.school_id
    try:
        while True:
            with session_scope(engine) as s:
                job, school = s.get(PrintJob, job_id), s.get(School, school_id)
                result = produce_print_batch(s, school, clock, job.requested_by, limit=chunk + len(job.problems),
                                             pool=pool)
                new_problems = {str(k): v for k, v in result.problems.items() if str(k) not in job.problems}
                job.problems = {**job.problems, **new_problems}
                job.produced += len(result.produced)
                if result.batch is not None:
                    job.batch_ids = [*job.batch_ids, result.batch.id]
                finished = not result.produced  # nothing more that can go
                if finished:
                    job.status, job.finished_at = "done", clock.now()
                s.add(job)
            if finished:
                break
    except Exception as exc:  # the run stops; what was produced stays produced and is listed
        with session_scope(engine) as s:
            job = s.get(PrintJob, job_id)
            job.status, job.error, job.finished_at = "failed", f"{type(exc).__name__}: {exc}", clock.now()
        raise
    with session_scope(engine) as s:
        return s.get(PrintJob, job_id)
