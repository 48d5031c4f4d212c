"""A print run at office scale: N queued letters produced in the background job's way (print
files of up to 50), on a copy of the demo school. Target (issue 13): 500 letters < 60 s.

    .venv/bin/casework demo                                   # builds sqlite:///casework-demo.db
    .venv/bin/python benchmarks/bench_print.py [--db casework-demo.db] [--letters 500]

The demo's database is copied first (nothing is produced in it); letters are added to the copy
by re-queuing the demo's own letters (those printed and those queued) until there are N, so each
is a real letter of the demo and the mix is the term's.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

from sqlmodel import Session, select

from casework.clock import Clock
from casework.letters.pdf import print_workers
from casework.letters.printjob import run_print_job, start_print_job
from casework.register.store import get_school
from casework.store.casemodels import LetterRequest
from casework.store.db import make_engine


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--db", default="casework-demo.db", help="the demo's SQLite file")
    ap.add_argument("--letters", type=int, default=500)
    ap.add_argument("--school", default="999001")
    ap.add_argument("--workers", type=int, default=None, help="processes to lay letters out in (default: one per core)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "print.db"
        shutil.copy(args.db, copy)
        os.environ["CASEWORK_LETTERS_DIR"] = str(Path(tmp) / "letters")
        engine = make_engine(f"sqlite:///{copy}")
        clock = Clock()
        with Session(engine) as s:
            school = get_school(s, args.school)
            queued = s.exec(select(LetterRequest).where(LetterRequest.school_id == school.id,
                                                        LetterRequest.status == "queued")).all()
            # The demo's office has printed its past letters, so today's queue is a handful: copy
            # every letter the demo made (printed or queued), so the run is the term's real mix.
            made = s.exec(select(LetterRequest).where(LetterRequest.school_id == school.id,
                                                      LetterRequest.status.in_(["queued", "produced"]))
                          .order_by(LetterRequest.id)).all()
            for i in range(max(0, args.letters - len(queued))):
                src = made[i % len(made)]
                s.add(LetterRequest(school_id=src.school_id, case_id=src.case_id, template=src.template,
                                    queued_at=src.queued_at))
            s.commit()
            job = start_print_job(s, school, "Benchmark", clock)
            s.commit()
            job_id, total = job.id, job.total
        t = time.perf_counter()
        done = run_print_job(engine, job_id, clock, workers=args.workers)
        elapsed = time.perf_counter() - t
    print(f"print run ({args.workers or print_workers()} worker process(es)): {total} letters queued, {done.produced} produced in {len(done.batch_ids)} print files, "
          f"{len(done.problems)} left with problems")
    print(f"  {elapsed:.1f} s in all, {elapsed / max(done.produced, 1) * 1000:.0f} ms a letter (target: 500 in < 60 s)")


if __name__ == "__main__":
    main()
