"""Letters: every template renders for a pupil of each school, the figures in the text are the
register's (worked by hand from the marks below), a letter with a gap is refused with its
reasons and nothing is produced, and a produced letter is kept, hashed and logged on the case."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import subprocess
from pathlib import Path

import pytest
from sqlmodel import select

from casework.cases.moves import Actor, move_case, open_case
from casework.cases.world import CaseWorld
from casework.clock import LONDON, FixedClock
from casework.letters import LetterProblems, render_letter, render_queued
from casework.letters.fields import prepare_letter
from casework.letters.render import BatchProblems, check_letter
from casework.register.store import load_calendar
from casework.store.casemodels import CaseMove, CaseNote, LetterRequest
from casework.store.models import Contact, User
from casework.workflow import WORKFLOWS_DIR, for_school

AS_OF = dt.datetime(2025, 10, 17, 16, 0, tzinfo=LONDON)  # last day of Autumn 1 at Great Chart
SCHOOL_WORKFLOWS = ["national", "thomas-russell-junior", "staplehurst", "frisby", "mason-moor", "example-la-route"]
ALL_LETTERS = [
    "attendance_concern", "meeting_invitation", "support_plan", "late_before_close", "late_after_close",
    "medical_evidence", "leave_refused", "leave_refused_retrospective", "holiday_as_illness", "traveller_concern",
    "traveller_no_return", "notice_to_improve", "penalty_notice_request", "cme_referral", "sickness_return",
]


def available_workflows() -> list[str]:
    return [w for w in SCHOOL_WORKFLOWS if (WORKFLOWS_DIR / f"{w}.yaml").exists()]


def autumn_one_marks(calendar) -> list[tuple]:
    """Great Chart, 3 September to 17 October 2025: 33 school days, 66 sessions.

    Present throughout except: L on 10, 17 and 24 Sep AM (10, 5 and 15 minutes); U on 19 Sep AM and
    3 Oct AM; I on 29 Sep AM and PM; G on 6, 7 and 8 Oct (6 sessions); O on 13 Oct AM and PM.
    By hand: possible 66; authorised 2 (I); unauthorised 2 U + 6 G + 2 O = 10; present 54 (with 3 L);
    attendance 54 / 66 = 81.8%.
    """
    special = {
        (dt.date(2025, 9, 10), "AM"): ("L", 10), (dt.date(2025, 9, 17), "AM"): ("L", 5),
        (dt.date(2025, 9, 24), "AM"): ("L", 15),
        (dt.date(2025, 9, 19), "AM"): ("U", 40), (dt.date(2025, 10, 3), "AM"): ("U", 35),
        (dt.date(2025, 9, 29), "AM"): ("I", None), (dt.date(2025, 9, 29), "PM"): ("I", None),
        (dt.date(2025, 10, 13), "AM"): ("O", None), (dt.date(2025, 10, 13), "PM"): ("O", None),
    }
    for d in (dt.date(2025, 10, 6), dt.date(2025, 10, 7), dt.date(2025, 10, 8)):
        special[(d, "AM")] = ("G", None)
        special[(d, "PM")] = ("G", None)
    out = []
    for day, sess in calendar.sessions(dt.date(2025, 9, 1), dt.date(2025, 10, 17)):
        code, minutes = special.get((day, sess), ("/" if sess == "AM" else "\\", None))
        out.append((day, sess, code, minutes))
    return out


@pytest.fixture
def letters_dir(tmp_path, monkeypatch) -> Path:
    d = tmp_path / "letters"
    monkeypatch.setenv("CASEWORK_LETTERS_DIR", str(d))
    return d


@pytest.fixture
def letter_world(session, make_school, make_pupils, add_marks):
    """``letter_world(workflow)``: a school on that workflow with one pupil, two parents at one
    address and a grandparent without parental responsibility, the Autumn 1 marks above, and
    a headteacher user."""

    def factory(workflow: str = "national", *, address: str = "12 Oak Road, Staplehurst, Kent"):
        school = make_school(session, "great-chart", name=f"Oakfield Primary ({workflow})", workflow=workflow)
        school.address = "Oak Lane, Great Chart, Ashford"
        school.phone = "01233 000000"
        school.headteacher_name = "Mrs Ann Head"
        session.add(school)
        (pupil,) = make_pupils(session, school, 1, surname="Brook")
        pupil.forename = "Maya"
        session.add(pupil)
        for name, rel, pr, lives, pri, addr, pc in [
            ("Sarah Brook", "Mother", True, True, 1, address, "TN12 0AA"),
            ("James Brook", "Father", True, True, 2, address, "TN12 0AA"),
            ("Pat Green", "Grandparent", False, False, 3, "", ""),
        ]:
            session.add(Contact(pupil_id=pupil.id, name=name, relationship=rel, parental_responsibility=pr,
                                lives_with_pupil=lives, call_priority=pri, address=addr, postcode=pc))
        session.add(User(school_id=school.id, username=f"head{school.id}", name="Ann Head", role="headteacher",
                         position="Headteacher"))
        cal = load_calendar(session, school.id)
        add_marks(session, pupil, autumn_one_marks(cal))
        session.flush()
        return school, pupil

    return factory


def queue(session, school, pupil, clock, case_type: str, template: str, *, params: dict | None = None,
          reason: str = "", concern_start: dt.date | None = None):
    """Open a case and queue one letter on it, from a move carrying ``params`` and ``reason``."""
    wf = for_school(school.workflow)
    case = open_case(session, school, pupil, wf, case_type, concern=f"{case_type}:{template}",
                     concern_start=concern_start, clock=clock, actor=Actor.system(), reason="test")
    move = CaseMove(case_id=case.id, event="test", from_state=case.state, to_state=case.state,
                    actor=f"head{school.id}", actor_role="headteacher", at=clock.now(), reason=reason,
                    params=params or {})
    session.add(move)
    session.flush()
    req = LetterRequest(school_id=school.id, case_id=case.id, move_id=move.id, template=template,
                        queued_at=clock.now())
    session.add(req)
    session.flush()
    return req


def letter_text(session, school, pupil, clock, case_type: str, template: str, **queued) -> str:
    """Queue one letter as ``queue`` does, produce it, and return the text of its PDF."""
    req = queue(session, school, pupil, clock, case_type, template, **queued)
    return pdf_text(render_letter(session, req.id, clock, "Test Officer").file)


LETTER_SETUP = {
    "support_plan": dict(case_type="attendance", reason="Maya will be dropped at breakfast club at 8:15 each day."),
    "attendance_contract": dict(case_type="attendance",
                                reason="Maya will be in school by 8:50 every day; the school will phone home by 9:30 "
                                       "on any day she is absent."),
    "leave_refused": dict(case_type="leave", concern_start=dt.date(2025, 10, 6),
                          params={"leave_to": "2025-10-08"}, reason="a family holiday is not exceptional"),
    "leave_refused_retrospective": dict(case_type="leave", concern_start=dt.date(2025, 10, 6)),
    "holiday_as_illness": dict(case_type="leave", concern_start=dt.date(2025, 10, 6)),
    "traveller_concern": dict(case_type="traveller"),
    "traveller_no_return": dict(case_type="traveller", concern_start=dt.date(2025, 10, 13)),
    "medical_evidence": dict(case_type="illness"),
    "sickness_return": dict(case_type="illness"),
    "cme_referral": dict(case_type="unexplained_absence", concern_start=dt.date(2025, 10, 13)),
    "late_before_close": dict(case_type="punctuality"),
    "late_after_close": dict(case_type="punctuality"),
}


def pdf_text(path: str | Path) -> str:
    """The PDF's text with all runs of whitespace (line wraps too) as single spaces."""
    out = subprocess.run(["pdftotext", str(path), "-"], capture_output=True, text=True, check=True).stdout
    return re.sub(r"\s+", " ", out)


@pytest.mark.parametrize("workflow", available_workflows())
def test_every_letter_renders_for_each_school(workflow, session, letter_world, letters_dir):
    clock = FixedClock(AS_OF)
    school, pupil = letter_world(workflow)
    letters = for_school(workflow).model.letters
    assert set(ALL_LETTERS) <= set(letters), f"{workflow} lacks letters {set(ALL_LETTERS) - set(letters)}"
    for template in letters:
        setup = dict(LETTER_SETUP.get(template, {"case_type": "attendance"}))
        pupil.ehc_plan = template == "ehc_attendance_falling"  # that letter is refused without a plan
        req = queue(session, school, pupil, clock, setup.pop("case_type"), template, **setup)
        produced = render_letter(session, req.id, clock, "Test Officer")
        text = pdf_text(produced.file)
        assert "Maya" in text, template
        assert school.name in text  # the letterhead names the school itself, not its policy template
        assert "{{" not in text and "None" not in text and "Undefined" not in text, template
        if letters[template].to == "local_authority":
            assert len(produced.recipients) == 1 and produced.recipients[0] in text
        else:
            assert "12 Oak Road" in text and "TN12 0AA" in text
        if letters[template].certificate:
            assert "Registration certificate" in text


def test_figures_in_the_letter_are_the_registers(session, letter_world, letters_dir):
    clock = FixedClock(AS_OF)
    school, pupil = letter_world()
    text = letter_text(session, school, pupil, clock, "attendance", "attendance_concern")
    assert "81.8%" in text  # 54 of 66
    assert re.search(r"could have attended 66", text)
    assert re.search(r"Sessions attended 54", text)
    assert re.search(r"authorised \(for example illness\) 2", text)
    assert re.search(r"could not authorise 10", text)
    assert "3 September 2025 to 17 October 2025" in text
    # the certificate's totals and key
    assert re.search(r"Possible sessions 66", text)
    assert re.search(r"Unauthorised absence 10", text)
    assert re.search(r"Late before the register closed \(L\) 3", text)
    assert "Holiday not granted by the school" in text  # G, from casework.register.codes


def test_late_after_close_lists_each_date_and_the_register_times(session, letter_world, letters_dir):
    clock = FixedClock(AS_OF)
    school, pupil = letter_world()
    text = letter_text(session, school, pupil, clock, "punctuality", "late_after_close")
    assert "Fri 19 Sep 2025 AM (40 min late)" in text and "Fri 3 Oct 2025 AM (35 min late)" in text
    assert "Total: 2 half-day sessions" in text
    assert "taken at 8:50am and closes at 9:20am" in text  # national register times
    assert "closes at 1:30pm" in text
    assert "£160" in text and "£80" in text and "21 days" in text


def test_late_before_close_counts_lates_and_minutes(session, letter_world, letters_dir):
    clock = FixedClock(AS_OF)
    school, pupil = letter_world()
    text = letter_text(session, school, pupil, clock, "punctuality", "late_before_close")
    assert "3 occasions" in text and "30 minutes of lessons" in text  # 10 + 5 + 15


def test_notice_to_improve_holds_every_element_and_goes_to_each_parent(session, letter_world, letters_dir):
    clock = FixedClock(AS_OF)
    school, pupil = letter_world()
    req = queue(session, school, pupil, clock, "attendance", "notice_to_improve", params={"improvement_weeks": 4})
    produced = render_letter(session, req.id, clock, "Test Officer")
    assert produced.recipients == ["Sarah Brook", "James Brook"]  # one each, grandparent has no PR
    text = pdf_text(produced.file)
    assert text.count("Notice to improve:") == 2
    # docs/domain.md §2: record and offences; benefits and s.7 duty; support so far; further support;
    # a clear warning; an improvement period of 3-6 weeks with dates; grounds for an earlier notice.
    assert "10 sessions of unauthorised absence" in text
    assert "Mon 6 Oct 2025 AM" in text and "Mon 13 Oct 2025 PM" in text
    assert "Section 7 of the Education Act 1996" in text
    assert "The support offered so far" in text and "The support still on offer" in text
    assert "4 weeks, from 17 October 2025 to 14 November 2025" in text
    assert "may be issued before the improvement period ends" in text
    assert "Registration certificate" in text


def test_improvement_period_outside_three_to_six_weeks_is_refused(session, letter_world, letters_dir):
    clock = FixedClock(AS_OF)
    school, pupil = letter_world()
    req = queue(session, school, pupil, clock, "attendance", "notice_to_improve", params={"improvement_weeks": 8})
    with pytest.raises(LetterProblems, match="8 weeks is outside the 3 to 6 weeks"):
        render_letter(session, req.id, clock, "Test Officer")


def test_notice_runs_from_its_issue_and_is_refused_once_the_period_is_over(session, letter_world, letters_dir):
    from casework.cases.moves import start_timer
    from casework.store.casemodels import Case

    clock = FixedClock(AS_OF)
    school, pupil = letter_world()
    req = queue(session, school, pupil, clock, "attendance", "notice_to_improve", params={"improvement_weeks": 3})
    start_timer(CaseWorld.load(session, session.get(Case, req.case_id), clock), "improvement_period",
                {"improvement_weeks": 3})
    # Printed four days after the notice was issued: the period still runs from the day of issue.
    later = FixedClock(AS_OF + dt.timedelta(days=4))
    text = pdf_text(render_letter(session, req.id, later, "Test Officer").file)
    assert "3 weeks, from 17 October 2025 to 7 November 2025" in text
    # A notice printed after its improvement period has ended would give no time to improve.
    req2 = queue(session, school, pupil, clock, "attendance", "notice_to_improve", params={"improvement_weeks": 3})
    with pytest.raises(LetterProblems, match="has already ended"):
        render_letter(session, req2.id, FixedClock(AS_OF + dt.timedelta(weeks=4)), "Test Officer")


def test_leave_refused_states_dates_sessions_and_amounts(session, letter_world, letters_dir):
    clock = FixedClock(AS_OF)
    school, pupil = letter_world()
    text = letter_text(session, school, pupil, clock, "leave", "leave_refused", concern_start=dt.date(2025, 10, 6),
                params={"leave_to": "2025-10-08"})
    assert "6 October 2025" in text and "8 October 2025" in text
    assert "3 school days, or 6 sessions" in text
    assert "£160" in text and "£80" in text


def test_retrospective_leave_takes_its_dates_from_the_register(session, letter_world, letters_dir):
    clock = FixedClock(AS_OF)
    school, pupil = letter_world()
    text = letter_text(session, school, pupil, clock, "leave", "leave_refused_retrospective", concern_start=dt.date(2025, 10, 6))
    assert "6 October 2025 to 8 October 2025 (6 sessions)" in text


def test_a_missing_address_is_refused_with_the_reason_and_nothing_is_produced(session, letter_world, letters_dir):
    clock = FixedClock(AS_OF)
    school, pupil = letter_world(address="")
    req = queue(session, school, pupil, clock, "attendance", "attendance_concern")
    with pytest.raises(LetterProblems) as exc:
        render_letter(session, req.id, clock, "Test Officer")
    assert exc.value.problems == [
        "Sarah Brook (Mother, parental responsibility) has no postal address",
        "James Brook (Father, parental responsibility) has no postal address",
    ]
    session.refresh(req)
    assert req.status == "queued" and req.file == "" and req.produced_at is None
    assert not letters_dir.exists() or not any(letters_dir.rglob("*.pdf"))


def test_no_parent_with_parental_responsibility_or_no_la_is_refused(session, letter_world, letters_dir):
    clock = FixedClock(AS_OF)
    school, pupil = letter_world()
    for c in session.exec(select(Contact).where(Contact.pupil_id == pupil.id)):
        c.parental_responsibility = False
        session.add(c)
    school.local_authority = ""
    session.add(school)
    a = queue(session, school, pupil, clock, "attendance", "attendance_concern")
    b = queue(session, school, pupil, clock, "illness", "sickness_return")
    with pytest.raises(LetterProblems, match="no contact with parental responsibility"):
        prepare_letter(session, a, clock)
    if not for_school("national").model.school.local_authority:
        with pytest.raises(LetterProblems, match="no local authority recorded"):
            prepare_letter(session, b, clock)


def test_letters_to_separated_parents_go_to_each_household(session, letter_world, letters_dir):
    clock = FixedClock(AS_OF)
    school, pupil = letter_world()
    dad = session.exec(select(Contact).where(Contact.name == "James Brook")).one()
    dad.address, dad.postcode, dad.lives_with_pupil = "4 Mill Lane, Marden", "TN12 9ZZ", False
    session.add(dad)
    req = queue(session, school, pupil, clock, "attendance", "attendance_concern")
    produced = render_letter(session, req.id, clock, "Test Officer")
    assert produced.recipients == ["Sarah Brook", "James Brook"]
    text = pdf_text(produced.file)
    assert "4 Mill Lane" in text and "TN12 9ZZ" in text and "12 Oak Road" in text


def test_a_produced_letter_is_kept_hashed_and_logged(session, letter_world, letters_dir):
    clock = FixedClock(AS_OF)
    school, pupil = letter_world()
    req = queue(session, school, pupil, clock, "attendance", "attendance_concern")
    produced = render_letter(session, req.id, clock, "Jo Officer")
    session.refresh(req)
    data = Path(req.file).read_bytes()
    assert req.status == "produced" and req.produced_by == "Jo Officer"
    assert req.sha256 == hashlib.sha256(data).hexdigest() == produced.sha256
    assert req.produced_at == clock.now()
    assert req.recipients[0]["addressee"] == "Sarah Brook and James Brook"
    assert Path(req.file).is_relative_to(letters_dir)
    note = session.exec(select(CaseNote).where(CaseNote.case_id == req.case_id)).one()
    assert "Attendance below expectations" in note.text and "Jo Officer" in note.text
    assert req.file in note.text and req.sha256 in note.text
    with pytest.raises(LetterProblems, match="is produced"):
        render_letter(session, req.id, clock, "Jo Officer")


def test_a_move_queues_the_letter_and_the_batch_prints_it(session, letter_world, letters_dir, tmp_path):
    clock = FixedClock(AS_OF)
    school, pupil = letter_world()
    wf = for_school(school.workflow)
    case = open_case(session, school, pupil, wf, "attendance", concern="attendance", concern_start=None,
                     clock=clock, actor=Actor.system(), reason="below 90%")
    head = Actor(f"head{school.id}", "headteacher", "Ann Head")
    move_case(CaseWorld.load(session, case, clock), "send_letter", head, reason="attendance 81.8%")
    queued = session.exec(select(LetterRequest).where(LetterRequest.case_id == case.id)).all()
    assert [r.template for r in queued] == ["attendance_concern"]
    out = tmp_path / "print.pdf"
    produced, problems, written = render_queued(session, school, clock, "Jo Officer", print_file=out)
    assert problems == {} and written == out and len(produced) == 1
    assert "81.8%" in pdf_text(out)


def test_batch_refuses_everything_when_one_letter_has_a_gap(session, letter_world, letters_dir, tmp_path):
    clock = FixedClock(AS_OF)
    school, pupil = letter_world()
    good = queue(session, school, pupil, clock, "attendance", "attendance_concern")
    bad = queue(session, school, pupil, clock, "attendance", "support_plan")  # no record of what was agreed
    with pytest.raises(BatchProblems) as exc:
        render_queued(session, school, clock, "Jo Officer", print_file=tmp_path / "p.pdf")
    assert list(exc.value.problems) == [bad.id]
    session.refresh(good)
    assert good.status == "queued" and not (tmp_path / "p.pdf").exists()
    produced, problems, _ = render_queued(session, school, clock, "Jo Officer", skip_problems=True)
    assert [p.letter_id for p in produced] == [good.id] and list(problems) == [bad.id]


def test_check_letter_renders_html_with_every_field(session, letter_world, letters_dir):
    clock = FixedClock(AS_OF)
    school, pupil = letter_world()
    req = queue(session, school, pupil, clock, "attendance", "meeting_invitation",
                params={"meeting_at": "2025-10-28T15:30"})
    html = check_letter(session, req, clock).html[0]
    assert "Tuesday 28 October 2025 at 3:30pm" in html


def test_a_letter_to_the_la_names_the_service_once_and_its_authority(session, letter_world, letters_dir):
    clock = FixedClock(AS_OF)
    school, pupil = letter_world("staplehurst")
    cme = queue(session, school, pupil, clock, "unexplained_absence", "cme_referral", concern_start=dt.date(2025, 10, 13))
    text = pdf_text(render_letter(session, cme.id, clock, "Test Officer").file)
    assert text.count("Children Missing Education team") == 1 and "Children Missing Education team Kent" in text
    pn = queue(session, school, pupil, clock, "attendance", "penalty_notice_request")
    text = pdf_text(render_letter(session, pn.id, clock, "Test Officer").file)
    assert text.count("KCC Inclusion and Attendance Service") == 1


def test_the_headteachers_decisions_are_signed_by_the_headteacher(session, letter_world, letters_dir):
    """Staplehurst's letters are signed by its Family Liaison Officer, but refusing leave and a
    notice to improve are the headteacher's decisions (docs/domain.md §5)."""
    clock = FixedClock(AS_OF)
    school, pupil = letter_world("staplehurst")
    for template, setup in [("leave_refused", LETTER_SETUP["leave_refused"]),
                            ("notice_to_improve", dict(case_type="attendance", params={"improvement_weeks": 4}))]:
        setup = dict(setup)
        text = letter_text(session, school, pupil, clock, setup.pop("case_type"), template, **setup)
        assert "Mrs Ann Head Headteacher" in text and "Family Liaison Officer" not in text, template
    text = letter_text(session, school, pupil, clock, "attendance", "attendance_concern")
    assert "Family Liaison Officer, Oakfield Primary" in text
    assert "at least 99%" in text and "99.0" not in text


@pytest.mark.parametrize("meeting_at, reply", [
    ("2025-11-04T15:30", "by 3 November 2025"),  # five school days after 17 Oct (half term, INSET 27 Oct)
    ("2025-10-30T15:30", "by 29 October 2025"),  # the last school day before the meeting
    ("2025-10-28T15:30", "as soon as you can"),  # no school day between the letter and the meeting
])
def test_the_reply_date_comes_before_the_meeting(session, letter_world, letters_dir, meeting_at, reply):
    clock = FixedClock(AS_OF)
    school, pupil = letter_world()
    text = letter_text(session, school, pupil, clock, "attendance", "meeting_invitation", params={"meeting_at": meeting_at})
    assert f"please contact the school office {reply}" in text


def test_leave_letters_weigh_the_leave_against_the_threshold(session, letter_world, letters_dir):
    """By hand: 6 G sessions on 6-8 Oct; other unauthorised absence in the window 2 U + 2 O = 4;
    6 + 4 = 10 reaches the threshold of 10 sessions."""
    clock = FixedClock(AS_OF)
    school, pupil = letter_world()
    text = letter_text(session, school, pupil, clock, "leave", "leave_refused", concern_start=dt.date(2025, 10, 6),
                params={"leave_to": "2025-10-08"}, reason="a family holiday is not exceptional")
    assert "a family holiday is not exceptional." in text
    assert "Together with the 4 other sessions of unauthorised absence Maya already has" in text
    text = letter_text(session, school, pupil, clock, "leave", "leave_refused_retrospective", concern_start=dt.date(2025, 10, 6))
    assert "Maya has 10 sessions of unauthorised absence, this leave included. That meets the national" in text


def test_figures_are_worded_as_the_register_has_them(session, letter_world, letters_dir):
    clock = FixedClock(AS_OF)
    school, pupil = letter_world("mason-moor")
    text = letter_text(session, school, pupil, clock, "illness", "medical_evidence")
    assert "missed 2 sessions (1 day) through illness" in text  # I on 29 Sep AM and PM
    text = letter_text(session, school, pupil, clock, "attendance", "ewo_review")
    assert "so Maya missed 18.2% of the sessions" in text  # 12 of 66
    assert "close to what is called severe absence" not in text  # 18.2% is persistent, not near 50%
    text = letter_text(session, school, pupil, clock, "traveller", "traveller_concern")
    assert "Because Maya's attendance is below 90%" in text


def test_letters_that_would_state_what_the_case_does_not_hold_are_refused(session, letter_world, letters_dir):
    clock = FixedClock(AS_OF)
    school, pupil = letter_world("mason-moor")
    ehc = queue(session, school, pupil, clock, "attendance", "ehc_attendance_falling")
    with pytest.raises(LetterProblems, match="not recorded as having an EHC plan"):
        prepare_letter(session, ehc, clock)
    contract = queue(session, school, pupil, clock, "attendance", "attendance_contract")
    with pytest.raises(LetterProblems, match="attendance contract letter states what was agreed"):
        prepare_letter(session, contract, clock)


def test_attendance_letter_is_refused_when_attendance_gives_no_cause(session, letter_world, letters_dir):
    # By Wed 17 Sep 2025 the pupil has missed nothing (the lates on 10 and 17 Sep count as present).
    clock = FixedClock(dt.datetime(2025, 9, 17, 15, 0, tzinfo=LONDON))
    school, pupil = letter_world()
    req = queue(session, school, pupil, clock, "attendance", "attendance_concern")
    with pytest.raises(LetterProblems, match="has missed no sessions"):
        render_letter(session, req.id, clock, "Test Officer")
    assert not list(letters_dir.rglob("*.pdf"))


def test_a_print_batch_can_be_limited_to_the_oldest_letters(session, letter_world, letters_dir):
    from casework.letters.queue import produce_print_batch

    clock = FixedClock(AS_OF)
    school, pupil = letter_world()
    first = queue(session, school, pupil, clock, "attendance", "attendance_concern")
    second = queue(session, school, pupil, clock, "punctuality", "late_before_close")
    third = queue(session, school, pupil, clock, "illness", "medical_evidence")
    result = produce_print_batch(session, school, clock, "Test Officer", limit=2)
    assert [p.letter_id for p in result.produced] == [first.id, second.id]
    assert result.remaining == 1 and result.problems == {}
    assert third.status == "queued" and first.status == second.status == "produced"
    assert pdf_text(result.batch.file).count("Dear ") >= 2
