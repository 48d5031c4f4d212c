"""Letters laid out together (one WeasyPrint document for a print run) are cut back into exactly
each letter's own pages: every recipient's copy numbered "Page 1 of N" for itself, the same pages
as the letter laid out on its own, and the print file their pages in order."""

from __future__ import annotations

import re
import subprocess

from casework.clock import FixedClock
from casework.letters import render_queued
from casework.letters.pdf import _alone, print_pool, render_pdfs
from casework.letters.render import check_letter
from tests.test_letters_render import AS_OF, letter_world, letters_dir, queue  # noqa: F401 (fixtures)


def page_footers(path) -> list[str]:
    """The "Page k of n" of each page of a PDF, in order."""
    text = subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True,
                          check=True).stdout
    return [re.findall(r"Page \d+ of \d+", page)[-1] for page in text.split("\f") if page.strip()]


def test_a_print_run_keeps_each_letter_and_each_copy_numbered_for_itself(session, letter_world, letters_dir,  # noqa: F811
                                                                          tmp_path):
    clock = FixedClock(AS_OF)
    school, pupil = letter_world()
    reqs = [queue(session, school, pupil, clock, "punctuality", "late_before_close"),
            queue(session, school, pupil, clock, "attendance", "notice_to_improve", params={"improvement_weeks": 4}),
            queue(session, school, pupil, clock, "attendance", "attendance_concern")]
    alone = [_alone(check_letter(session, r, clock).html).pages for r in reqs]
    produced, problems, written = render_queued(session, school, clock, "Jo Officer", print_file=tmp_path / "p.pdf")
    assert problems == {} and [p.letter_id for p in produced] == [r.id for r in reqs]
    assert [p.pages for p in produced] == alone
    notice = page_footers(produced[1].file)  # one copy to each parent, each numbered from 1
    half = len(notice) // 2
    assert len(notice) == alone[1] and half >= 2
    assert notice == [f"Page {k} of {half}" for k in range(1, half + 1)] * 2
    for p in (produced[0], produced[2]):
        assert page_footers(p.file) == [f"Page {k} of {p.pages}" for k in range(1, p.pages + 1)]
    assert page_footers(written) == [f for p in produced for f in page_footers(p.file)]
    assert "Notice to improve" not in subprocess.run(["pdftotext", produced[2].file, "-"], capture_output=True,
                                                     text=True, check=True).stdout


def test_worker_processes_give_the_same_letters(session, letter_world, letters_dir):  # noqa: F811
    clock = FixedClock(AS_OF)
    school, pupil = letter_world()
    html = [check_letter(session, queue(session, school, pupil, clock, "punctuality", t), clock).html
            for t in ("late_before_close", "late_after_close", "late_before_close")]
    pool = print_pool(2)
    try:
        in_pool = render_pdfs(html, pool)
    finally:
        pool.shutdown()
    here = render_pdfs(html)
    assert [p.pages for p in in_pool] == [p.pages for p in here] == [_alone(h).pages for h in html]


def test_a_letter_with_page_rules_of_its_own_is_laid_out_alone(tmp_path):
    own = ('<!DOCTYPE html><html><head><meta charset="utf-8"><title>Own</title><style>'
           '@page :first { @bottom-right { content: "First page" } }</style></head>'
           '<body><p>A school template with a first-page rule</p></body></html>')
    (pdf,) = render_pdfs([[own]])
    path = tmp_path / "own.pdf"
    path.write_bytes(pdf.data)
    text = subprocess.run(["pdftotext", str(path), "-"], capture_output=True, text=True, check=True).stdout
    assert pdf.pages == 1 and "First page" in text and "first-page rule" in text
