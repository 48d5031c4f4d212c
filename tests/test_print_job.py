"""A print run of any size in the background (issue 13): print files of a chunk each, progress
kept in the database as it goes, letters with problems left in the queue and listed."""

from __future__ import annotations

import time

import pytest
from sqlmodel import Session, select
from web_world import client, web_app

from casework.letters.printjob import PrintJobError, run_print_job, start_print_job
from casework.store.casemodels import LetterBatch, LetterRequest, PrintJob
from casework.store.models import Role, School


def _more_ready_letters(engine, world, n):
    """n more letters like the world's ready one (same case, so the same recipients)."""
    with Session(engine) as s:
        ready = s.get(LetterRequest, world.letters["ready"])
        for _ in range(n):
            s.add(LetterRequest(school_id=ready.school_id, case_id=ready.case_id, template=ready.template,
                                queued_at=world.clock.now()))
        s.commit()


def test_a_run_makes_a_print_file_per_chunk_and_keeps_its_progress(engine, world):
    _more_ready_letters(engine, world, 4)  # 5 ready, 1 blocked
    with Session(engine) as s:
        job = start_print_job(s, s.get(School, world.school_id), "Dana Whitfield", world.clock)
        s.commit()
        assert job.total == 6 and job.status == "waiting"
        with pytest.raises(PrintJobError, match="still going"):
            start_print_job(s, s.get(School, world.school_id), "Someone Else", world.clock)
        job_id = job.id
    done = run_print_job(engine, job_id, world.clock, chunk=2)
    assert (done.status, done.produced, done.done, done.total) == ("done", 5, 6, 6)
    assert list(done.problems) == [str(world.letters["blocked"])]
    assert "no postal address" in done.problems[str(world.letters["blocked"])][0]
    with Session(engine) as s:
        files = s.exec(select(LetterBatch).order_by(LetterBatch.id)).all()
        # oldest first: the first chunk of two holds the blocked letter, so its file has one letter;
        # after that a chunk is two letters besides the one left with a problem
        assert [len(b.letter_ids) for b in files] == [1, 2, 2] and [b.id for b in files] == done.batch_ids
        assert s.get(LetterRequest, world.letters["blocked"]).status == "queued"
        assert s.exec(select(LetterRequest).where(LetterRequest.status == "produced")).all().__len__() == 5


def test_the_web_runs_it_in_the_background_and_the_page_shows_how_far_it_has_got(engine, world):
    _more_ready_letters(engine, world, 2)
    app = web_app(engine, world, WTF_CSRF_ENABLED=False, PRINT_INLINE=False)
    c = client(app, Role.ATTENDANCE_OFFICER)
    r = c.post("/letters/print", follow_redirects=True)
    assert "in the background" in r.get_data(as_text=True)
    for _ in range(300):  # the thread produces 3 letters; the page is what a person watches
        page = c.get("/letters").get_data(as_text=True)
        if "The last print run" in page:
            break
        assert "Producing letters" in page and 'http-equiv="refresh"' in page
        time.sleep(0.2)
    assert "4 of 4 letters looked at · 3 produced · 1 left with problems" in page
    assert 'http-equiv="refresh"' not in page
    with Session(engine) as s:
        job = s.exec(select(PrintJob)).one()
        assert job.status == "done" and job.requested_by == "Attendance Officer Person"
    assert c.get(f"/letters/print/{job.batch_ids[0]}/file").data[:5] == b"%PDF-"
