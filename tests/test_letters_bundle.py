"""The evidence bundle of a penalty case, and the letters CLI, end to end: a case taken through
letter, meeting, support plan, notice to improve and penalty notice by real moves, each
queued letter produced, then one bundle holding every part an LA attendance service asks for."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from pypdf import PdfReader
from sqlmodel import select

from casework.cases.moves import Actor, move_case, open_case
from casework.cases.world import CaseWorld
from casework.cli import main
from casework.clock import LONDON, FixedClock
from casework.letters import render_queued
from casework.letters.bundle import BundleProblems, evidence_bundle
from casework.store.casemodels import LetterRequest
from casework.workflow import for_school
from tests.test_letters_render import AS_OF, letter_world, letters_dir, pdf_text  # noqa: F401


def penalty_case(session, school, pupil):
    """Letter (3 Oct, attendance 91.3%), meeting (8 Oct), support plan (10 Oct), notice to improve
    (17 Oct, 4 weeks), penalty notice (17 Nov): each step's letters produced on the day."""
    head = Actor(f"head{school.id}", "headteacher", "Ann Head")
    wf = for_school(school.workflow)
    clock = FixedClock(dt.datetime(2025, 10, 3, 15, 0, tzinfo=LONDON))
    case = open_case(session, school, pupil, wf, "attendance", concern="attendance", concern_start=None,
                     clock=clock, actor=Actor.system(), reason="attendance below 90%")
    steps = [
        # By 3 Oct: 46 sessions, 4 missed (U 19 Sep, I 29 Sep AM and PM, U 3 Oct): 42 / 46 = 91.3%.
        (dt.datetime(2025, 10, 3, 15, 0), "send_letter", "attendance has fallen", {}),
        (dt.datetime(2025, 10, 8, 15, 0), "invite_to_meeting", "no improvement since the letter",
         {"meeting_at": "2025-10-09T15:30"}),
        (dt.datetime(2025, 10, 10, 15, 0), "agree_support_plan",
         "Met both parents: breakfast club place from 13 October; weekly check-in with the wellbeing lead.", {}),
        (dt.datetime(2025, 10, 17, 15, 0), "issue_notice_to_improve",
         "Support not engaged with: breakfast club not used; unauthorised absence on 13 October.", {"improvement_weeks": 4}),
        (dt.datetime(2025, 11, 17, 15, 0), "request_penalty_notice", "No improvement during the improvement period.", {}),
    ]
    for moment, event, reason, params in steps:
        if event == "request_penalty_notice":
            # late after close (U) on Mon 3 and Mon 10 Nov, inside the improvement period (17 Oct - 14 Nov):
            # the penalty is judged on the improvement period's own absence
            from casework.store.models import Mark

            for day in (dt.date(2025, 11, 3), dt.date(2025, 11, 10)):
                mark = session.exec(select(Mark).where(Mark.pupil_id == pupil.id, Mark.date == day,
                                                       Mark.session == "AM")).first()
                if mark is None:
                    mark = Mark(school_id=school.id, pupil_id=pupil.id, date=day, session="AM", code="U",
                                recorded_at=clock.now())
                mark.code = "U"
                session.add(mark)
            session.flush()
        clock.set(moment.replace(tzinfo=LONDON))
        move_case(CaseWorld.load(session, case, clock), event, head, reason=reason, params=params)
        produced, problems, _ = render_queued(session, school, clock, "Jo Officer")
        assert problems == {} and produced, event
    return case, clock


def test_bundle_of_a_penalty_case_holds_every_part(session, letter_world, letters_dir, tmp_path):  # noqa: F811
    school, pupil = letter_world()
    case, clock = penalty_case(session, school, pupil)
    sent = session.exec(select(LetterRequest).where(LetterRequest.case_id == case.id)).all()
    assert [r.template for r in sent] == ["attendance_concern", "meeting_invitation", "support_plan",
                                          "notice_to_improve", "penalty_notice_request"]
    assert all(r.status == "produced" for r in sent)
    out = tmp_path / "bundle.pdf"
    b = evidence_bundle(session, case.id, clock, out)
    assert b.letters == 5
    text = pdf_text(out)
    for title in ["Summary: pupil, parents and attendance", "Findings", "Case history", "Meetings and support offered",
                  "Notices to improve and penalty notices", "Letters sent", "Register extract",
                  "Registration certificate"]:
        assert text.count(title) >= 2, title  # in the contents and as a section
    # case history: every move with who and why
    for label in ["Send attendance letter", "Invite to a meeting", "Agree an attendance support plan",
                  "Issue a notice to improve", "Request a penalty notice"]:
        assert label in text
    assert "breakfast club place from 13 October" in text and f"head{school.id}" in text
    # the notice to improve's period and the penalty notices, one per parent
    assert "improvement period from 17 October 2025 to 14 November 2025" in text
    assert "Sarah Brook" in text and "James Brook" in text and "£80 by" in text
    # the register extract: each absence, with its meaning
    assert "Mon 06 Oct 2025 AM G Holiday not granted by the school" in text
    assert "Fri 19 Sep 2025 AM U Arrived after the register closed 40" in text
    # every letter, as sent, appended
    reader = PdfReader(str(out))
    assert len(reader.pages) == b.pages
    assert "Notice to improve: Maya Brook" in text and "Request for a penalty notice: Maya Brook" in text
    assert "Sorry" not in text


def test_bundle_refuses_when_a_kept_letter_has_changed(session, letter_world, letters_dir, tmp_path):  # noqa: F811
    school, pupil = letter_world()
    case, clock = penalty_case(session, school, pupil)
    kept = session.exec(select(LetterRequest).where(LetterRequest.case_id == case.id)).first()
    Path(kept.file).write_bytes(Path(kept.file).read_bytes() + b"%tampered")
    with pytest.raises(BundleProblems, match="has changed since it was produced"):
        evidence_bundle(session, case.id, clock, tmp_path / "b.pdf")
    assert not (tmp_path / "b.pdf").exists()


@pytest.fixture
def committed_world(session, letter_world):  # noqa: F811
    school, pupil = letter_world()
    clock = FixedClock(AS_OF)
    from tests.test_letters_render import queue

    queue(session, school, pupil, clock, "attendance", "attendance_concern")
    queue(session, school, pupil, clock, "punctuality", "late_after_close")
    session.commit()
    return school, pupil


def test_cli_letters(db_url, committed_world, letters_dir, tmp_path):  # noqa: F811
    school, pupil = committed_world
    runner = CliRunner()
    r = runner.invoke(main, ["letters", "queue", "--school", school.urn, "--db", db_url, "--as-of", "2025-10-17",
                             "--json"])
    assert r.exit_code == 0, r.output
    rows = json.loads(r.output)
    assert [x["letter"] for x in rows] == ["attendance_concern", "late_after_close"]
    assert rows[0]["to"] == ["Sarah Brook and James Brook"] and rows[0]["problems"] == []
    out = tmp_path / "print.pdf"
    r = runner.invoke(main, ["letters", "print", "--school", school.urn, "--db", db_url, "--as-of", "2025-10-17",
                             "--by", "Jo Officer", "--out", str(out)])
    assert r.exit_code == 0, r.output
    text = pdf_text(out)
    assert "Maya's attendance at school" in text and "arriving after the register has closed" in text
    r = runner.invoke(main, ["letters", "queue", "--school", school.urn, "--db", db_url, "--as-of", "2025-10-17",
                             "--json"])
    assert json.loads(r.output) == []
    case_id = 1
    r = runner.invoke(main, ["bundle", str(case_id), "--out", str(tmp_path / "b.pdf"), "--db", db_url,
                             "--as-of", "2025-10-17", "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["letters"] == 1
