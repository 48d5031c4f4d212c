"""The office's daily print run, as the demo replays it: each school day the letters queued
before then are checked as they stood then (their HTML, dated that day), and produced as that
day's print file. Laying the PDFs out is the slow part, so it can be done later, in
another process, from the checked letters alone (``python -m casework.letters.office``).
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from dataclasses import asdict
from itertools import groupby
from pathlib import Path

from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from casework.clock import Clock
from casework.letters.fields import LetterProblems
from casework.letters.pdf import print_pool, print_workers, render_pdfs
from casework.letters.printjob import CHUNK, POOL_FROM
from casework.letters.render import (
    CheckedLetter,
    check_letter,
    keep_letter,
    keep_print_file,
    queue_data,
)
from casework.store.casemodels import LetterRequest, PrintJob
from casework.store.db import make_engine, session_scope
from casework.store.models import School


def check_at(session: Session, school: School, clock: Clock, taken: set[int]) -> list[CheckedLetter]:
    """The letters queued before now (and not already in ``taken``) that can go, checked as of now.
    A letter with a problem stays in the queue for a person to put right."""
    queued = [r for r in session.exec(select(LetterRequest).where(
        LetterRequest.school_id == school.id, LetterRequest.status == "queued", LetterRequest.queued_at < clock.now())
        .order_by(LetterRequest.queued_at, LetterRequest.id)) if r.id not in taken]
    if not queued:
        return []
    data = queue_data(session, school, queued, clock)
    out = []
    for req in queued:
        try:
            out.append(CheckedLetter.of(check_letter(session, req, clock, data), clock.now()))
        except LetterProblems:
            continue
    taken.update(c.request_id for c in out)
    for req in queued:  # they have gone to the printer: no longer queued, not yet laid out
        if req.id in taken:
            req.status = "printing"
            session.add(req)
    return out


def produce_checked(engine: Engine, school_id: int, letters: list[CheckedLetter], by: str, *,
                    job_id: int | None = None, workers: int | None = None) -> int:
    """Lay out and keep checked letters, each print run's as one print file (``LetterBatch``) dated
    when it was checked, a chunk at a time with its progress on the print job. A letter ``check_at`` took
    is marked printing: it has gone, so closing its case does not withdraw it. One neither queued nor
    printing (produced or withdrawn meanwhile) is left as it is. Returns how many were produced."""
    pool = print_pool(print_workers() if workers is None else workers) if len(letters) >= POOL_FROM else None
    produced = 0
    try:
        for at, run in groupby(letters, key=lambda c: c.at):
            run = list(run)
            for k in range(0, len(run), CHUNK):
                part = run[k:k + CHUNK]
                pdfs = render_pdfs([c.html for c in part], pool)
                produced += _keep_part(engine, school_id, part, pdfs, by, at, job_id)
    except BaseException:
        _back_to_the_queue(engine, [c.request_id for c in letters])
        raise
    finally:
        if pool is not None:
            pool.shutdown()
    return produced


def _back_to_the_queue(engine: Engine, ids: list[int]) -> None:
    """A run that stops hands the letters it had not laid out back to the queue, where a person
    can produce or withdraw them (what it produced stays produced)."""
    with session_scope(engine) as s:
        for req in s.exec(select(LetterRequest).where(LetterRequest.id.in_(ids), LetterRequest.status == "printing")):
            req.status = "queued"
            s.add(req)


def _keep_part(engine: Engine, school_id: int, part: list[CheckedLetter], pdfs, by: str, at: dt.datetime,
               job_id: int | None) -> int:
    with session_scope(engine) as s:
        school = s.get(School, school_id)
        kept, files = [], []
        for letter, pdf in zip(part, pdfs):
            req = s.get(LetterRequest, letter.request_id)
            if req is None or req.status not in ("queued", "printing"):
                continue
            kept.append(keep_letter(s, req, letter, pdf, by, school).letter_id)
            files.append(pdf.data)
        batch = keep_print_file(s, school, at, by, kept, files) if files else None
        if job_id is not None:
            job = s.get(PrintJob, job_id)
            job.produced += len(kept)
            job.batch_ids = [*job.batch_ids, batch.id] if batch else job.batch_ids
            s.add(job)
        return len(kept)


def save(letters: list[CheckedLetter], path: Path) -> None:
    path.write_text(json.dumps([{**asdict(c), "at": c.at.isoformat()} for c in letters]))


def load(path: Path) -> list[CheckedLetter]:
    return [CheckedLetter(**{**d, "at": dt.datetime.fromisoformat(d["at"])}) for d in json.loads(path.read_text())]


def main(argv: list[str]) -> None:
    """``python -m casework.letters.office DB_URL CHECKED.json JOB_ID``: produce the checked letters
    saved by the demo, recording progress and the end on print job JOB_ID."""
    url, saved, job_id = argv[0], Path(argv[1]), int(argv[2])
    engine = make_engine(url)
    with session_scope(engine) as s:
        job = s.get(PrintJob, job_id)
        job.status, school_id, by = "running", job.school_id, job.requested_by
    try:
        produce_checked(engine, school_id, load(saved), by, job_id=job_id)
    except Exception as exc:  # the run stops; what was produced stays produced
        with session_scope(engine) as s:
            job = s.get(PrintJob, job_id)
            job.status, job.error, job.finished_at = "failed", f"{type(exc).__name__}: {exc}", Clock().now()
        raise
    with session_scope(engine) as s:
        job = s.get(PrintJob, job_id)
        job.status, job.finished_at = "done", Clock().now()
    saved.unlink(missing_ok=True)


if __name__ == "__main__":
    main(sys.argv[1:])
