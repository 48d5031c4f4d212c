"""Problems that stop a letter are put right on the letters page (issue 13): a fact the letter
lacks is given there, and a letter that should not go is withdrawn with the reason on the case."""

from __future__ import annotations

from sqlmodel import Session, select
from web_world import client

import casework.web.letters as web_letters
from casework.store.audit import AuditEvent
from casework.store.casemodels import CaseNote, LetterRequest
from casework.store.models import Role


def _leave_letter(engine, world) -> int:
    """A refused-leave letter on the Abernathys' case (they have addresses), its leave dates not given."""
    with Session(engine) as s:
        req = LetterRequest(school_id=world.school_id, case_id=world.cases["absent"],
                            template="leave_refused_retrospective", queued_at=world.clock.now())
        s.add(req)
        s.commit()
        return req.id


def test_a_missing_fact_is_given_on_the_page_and_the_letter_goes(app, world, engine):
    letter = _leave_letter(engine, world)
    c = client(app, Role.ATTENDANCE_OFFICER)
    page = c.get("/letters").get_data(as_text=True)
    row = page[page.index(f'id="letter-{letter}"'):]
    row = row[:row.index("</tr>")]
    assert "the last day of the leave is not recorded" in row and 'name="key" value="leave_to"' in row
    assert 'name="key" value="leave_from"' in row
    r = c.post(f"/letters/{letter}/fact", data={"key": "leave_to", "value": "3 April"}, follow_redirects=True)
    assert "Not saved: Last day of the leave: &#39;3 April&#39; is not a date" in r.get_data(as_text=True)
    assert c.post(f"/letters/{letter}/fact", data={"key": "file", "value": "x"}).status_code == 302  # refused, said
    r = c.post(f"/letters/{letter}/fact", data={"key": "leave_to", "value": "2026-04-02"}, follow_redirects=True)
    assert "Saved on the letter: last day of the leave 2026-04-02" in r.get_data(as_text=True)
    c.post(f"/letters/{letter}/fact", data={"key": "leave_from", "value": "2026-03-23"})
    page = c.get("/letters").get_data(as_text=True)
    row = page[page.index(f'id="letter-{letter}"'):]
    row = row[:row.index("</tr>")]
    assert "last day of the leave is not recorded" not in row and "Ready" in row
    with Session(engine) as s:
        assert s.get(LetterRequest, letter).facts == {"leave_to": "2026-04-02", "leave_from": "2026-03-23"}
        event = s.exec(select(AuditEvent).where(AuditEvent.action == "letter.fact")).first()
        assert event.detail["key"] == "leave_to" and event.actor == "attendanceofficer"
    r = c.post(f"/letters/{letter}/produce", follow_redirects=True)
    assert "produced for" in r.get_data(as_text=True)


def test_a_letter_that_should_not_go_is_withdrawn_with_the_reason_on_the_case(app, world, engine):
    c = client(app, Role.ATTENDANCE_OFFICER)
    blocked = world.letters["blocked"]
    r = c.post(f"/letters/{blocked}/withdraw", data={"reason": "  "}, follow_redirects=True)
    assert "Not withdrawn: say why the letter should not go" in r.get_data(as_text=True)
    c.post(f"/letters/{blocked}/withdraw", data={"reason": "Family moved away; the LA has the case"})
    assert f'id="letter-{blocked}"' not in c.get("/letters").get_data(as_text=True)
    with Session(engine) as s:
        assert s.get(LetterRequest, blocked).status == "cancelled"
        note = s.exec(select(CaseNote).where(CaseNote.case_id == world.cases["call"])).all()[-1]
        assert note.text.endswith("Family moved away; the LA has the case") and "withdrawn" in note.text
    r = c.post(f"/letters/{blocked}/withdraw", data={"reason": "again"}, follow_redirects=True)
    assert "the letter is cancelled, not queued" in r.get_data(as_text=True)
    assert client(app, Role.TEACHER).post(f"/letters/{blocked}/withdraw", data={"reason": "x"}).status_code == 403


def test_the_counts_cover_the_whole_queue_not_one_page(app, world, engine, monkeypatch):
    """One letter to a page: the page shows one letter, the counts still say the whole queue's."""
    monkeypatch.setattr(web_letters, "PAGE", 1)
    _leave_letter(engine, world)  # a second letter with a problem, queued last
    c = client(app, Role.ATTENDANCE_OFFICER)
    with Session(engine) as s:
        queued = s.exec(select(LetterRequest).where(LetterRequest.status == "queued")).all()
    page = c.get("/letters").get_data(as_text=True)
    assert page.count('id="letter-') == 1
    # the world queues one ready letter and one blocked one; the leave letter lacks its dates
    assert f"<strong>{len(queued)}</strong> queued" in page
    assert "<strong>1</strong> ready" in page and f"<strong>{len(queued) - 1}</strong> with problems" in page
    assert '<a href="/letters?page=2">Next ›</a>' in page and "Previous" not in page
    last = c.get(f"/letters?page={len(queued)}").get_data(as_text=True)
    assert "<strong>1</strong> ready" in last and f"<strong>{len(queued) - 1}</strong> with problems" in last
    assert f'<a href="/letters?page={len(queued) - 1}">‹ Previous</a>' in last and "Next ›" not in last


def test_the_demo_office_hands_back_what_a_failed_print_run_had_not_laid_out(world, engine, monkeypatch):
    """The office's checked letters are 'printing' (gone: closing a case leaves them be). If the run
    that lays them out stops, they go back to the queue for a person, not into limbo."""
    import datetime as dt

    import pytest

    import casework.letters.office as office
    from casework.clock import FixedClock
    from casework.store.models import School

    four_pm = FixedClock(world.clock.now() + dt.timedelta(hours=5))  # the letters were queued this morning
    with Session(engine) as s:
        checked = office.check_at(s, s.get(School, world.school_id), four_pm, set())
        s.commit()
        assert [c.request_id for c in checked] == [world.letters["ready"]]
        assert s.get(LetterRequest, world.letters["ready"]).status == "printing"

    def broken(*_args):
        raise RuntimeError("the layout process died")

    monkeypatch.setattr(office, "render_pdfs", broken)
    with pytest.raises(RuntimeError):
        office.produce_checked(engine, world.school_id, checked, "office")
    with Session(engine) as s:
        assert s.get(LetterRequest, world.letters["ready"]).status == "queued"
        assert s.get(LetterRequest, world.letters["blocked"]).status == "queued"  # never taken: it has a problem
