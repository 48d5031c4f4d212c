"""Cases and their machines: moves, guards, refusals, timers, letters and evaluation.

Uses the national workflow on the real Great Chart (Kent) 2025-26 calendar."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlmodel import Session, select

from casework.cases import moves as cs
from casework.cases.evaluate import evaluate
from casework.cases.world import CaseWorld
from casework.clock import LONDON, FixedClock
from casework.store.audit import AuditEvent
from casework.store.casemodels import (
    Case,
    CaseMove,
    CaseNote,
    LetterRequest,
    Notification,
    PenaltyNotice,
    Timer,
)
from casework.store.models import Contact, User
from casework.timers import next_deadlines, sweep
from casework.workflow import for_school


def _user(session, school, username, role):
    u = User(school_id=school.id, username=username, name=username.title(), position=role, role=role)
    session.add(u)
    session.flush()
    return cs.Actor.of(u)


@pytest.fixture
def world(session, make_school, make_pupils):
    school = make_school(session)
    pupil = make_pupils(session, school)[0]
    session.add(Contact(pupil_id=pupil.id, name="Kerry Pupil", relationship="Mother", address="1 Mill Lane\nStaplehurst",
                        postcode="TN12 0AA", parental_responsibility=True))
    session.add(Contact(pupil_id=pupil.id, name="Dean Pupil", relationship="Father", address="1 Mill Lane\nStaplehurst",
                        postcode="TN12 0AA", parental_responsibility=True))
    session.commit()
    actors = {
        "officer": _user(session, school, "officer", "attendance_officer"),
        "head": _user(session, school, "head", "headteacher"),
        "teacher": _user(session, school, "teacher", "teacher"),
    }
    session.commit()
    return school, pupil, actors


def _open(session, school, pupil, clock, case_type="attendance"):
    wf = for_school("national")
    case = cs.open_case(session, school, pupil, wf, case_type, concern=case_type, concern_start=clock.today(),
                        clock=clock, actor=cs.Actor.system(), reason="test")
    session.flush()
    return case, CaseWorld.load(session, case, clock)


def test_move_is_recorded_with_who_when_why_and_evidence(session, world, add_marks):
    school, pupil, a = world
    clock = FixedClock(dt.datetime(2025, 11, 10, 15, 0, tzinfo=LONDON))
    add_marks(session, pupil, [(dt.date(2025, 11, 3), "AM", "O"), (dt.date(2025, 11, 3), "PM", "O")])
    case, w = _open(session, school, pupil, clock)
    move = cs.move_case(w, "send_letter", a["officer"], reason="below 90% this half term")
    session.commit()
    assert case.state == "letter"
    stored = session.exec(select(CaseMove).where(CaseMove.case_id == case.id, CaseMove.event == "send_letter")).one()
    assert (stored.actor, stored.actor_role, stored.reason) == ("officer", "attendance_officer", "below 90% this half term")
    assert stored.at == clock.now()
    assert stored.from_state == "monitor" and stored.to_state == "letter"
    # The evidence snapshot holds the figures and the marks as they were.
    assert ["2025-11-03", "AM", "O"] in stored.evidence["absences"]
    assert stored.evidence["school_year"]["unauthorised"] == 2
    # Entering "letter" queued the attendance letter and started the review timer 20 school days on.
    letter = session.exec(select(LetterRequest).where(LetterRequest.case_id == case.id)).one()
    assert letter.template == "attendance_concern" and letter.move_id == move.id
    timer = session.exec(select(Timer).where(Timer.case_id == case.id)).one()
    assert timer.kind == "letter_review"
    # 20 school days after Mon 10 Nov 2025 on the Great Chart calendar is Mon 8 Dec 2025.
    assert timer.due_at.astimezone(LONDON).date() == dt.date(2025, 12, 8)


def test_wrong_state_and_wrong_role_are_refused_with_reasons(session, world):
    school, pupil, a = world
    clock = FixedClock(dt.datetime(2025, 11, 10, 15, 0, tzinfo=LONDON))
    case, w = _open(session, school, pupil, clock)
    with pytest.raises(cs.MoveRefused) as exc:
        cs.move_case(w, "request_penalty_notice", a["head"])
    assert any("can only be taken from Notice to improve" in r for r in exc.value.reasons)
    with pytest.raises(cs.MoveRefused) as exc:
        cs.move_case(w, "send_letter", a["teacher"])
    assert any(r.startswith("only ") and "Attendance officer" in r for r in exc.value.reasons)
    assert case.state == "monitor"
    assert session.exec(select(CaseMove).where(CaseMove.case_id == case.id)).all()[-1].event == "open"


def test_notice_to_improve_needs_threshold_support_and_a_head(session, world, add_marks):
    school, pupil, a = world
    # 4 G + 6 U within 10 school weeks (docs/domain.md §2): the threshold is met.
    marks = [(dt.date(2025, 11, 3 + i), s, "G") for i in range(2) for s in ("AM", "PM")]
    marks += [(dt.date(2025, 11, 10 + i), "AM", "U") for i in range(5)] + [(dt.date(2025, 11, 17), "AM", "U")]
    add_marks(session, pupil, marks)
    clock = FixedClock(dt.datetime(2025, 11, 20, 15, 0, tzinfo=LONDON))
    case, w = _open(session, school, pupil, clock)
    # No support offered yet: refused, naming the guard in plain words.
    with pytest.raises(cs.MoveRefused) as exc:
        cs.move_case(w, "issue_notice_to_improve", a["head"])
    assert any("no support has been offered" in r for r in exc.value.reasons)
    cs.move_case(w, "invite_to_meeting", a["officer"])
    # An attendance officer may not issue a notice, whatever the evidence.
    with pytest.raises(cs.MoveRefused) as exc:
        cs.move_case(w, "issue_notice_to_improve", a["officer"])
    assert any("Headteacher" in r for r in exc.value.reasons)
    move = cs.move_case(w, "issue_notice_to_improve", a["head"], params={"improvement_weeks": 3})
    assert case.state == "notice_to_improve"
    assert any("10" in g["reason"] for g in move.evidence["guards"])
    nti = session.exec(select(Timer).where(Timer.case_id == case.id, Timer.kind == "improvement_period")).one()
    # Three weeks from Thu 20 Nov 2025.
    assert nti.due_at.astimezone(LONDON).date() == dt.date(2025, 12, 11)
    # Moving on from the meeting to a notice meets the "meeting held" deadline.
    meeting = session.exec(select(Timer).where(Timer.case_id == case.id, Timer.kind == "meeting_held")).one()
    assert meeting.status == "met"


def test_threshold_not_met_refuses_notice(session, world, add_marks):
    school, pupil, a = world
    # 9 unauthorised sessions: one short of the national threshold.
    add_marks(session, pupil, [(dt.date(2025, 11, 3 + i), "AM", "O") for i in range(5)]
              + [(dt.date(2025, 11, 10 + i), "AM", "O") for i in range(4)])
    clock = FixedClock(dt.datetime(2025, 11, 20, 15, 0, tzinfo=LONDON))
    case, w = _open(session, school, pupil, clock)
    cs.move_case(w, "invite_to_meeting", a["officer"])
    with pytest.raises(cs.MoveRefused) as exc:
        cs.move_case(w, "issue_notice_to_improve", a["head"])
    assert any("national threshold is not met" in r for r in exc.value.reasons)


def test_third_penalty_within_three_years_is_impossible(session, world, add_marks):
    school, pupil, a = world
    add_marks(session, pupil, [(dt.date(2026, 3, 2 + i), s, "G") for i in range(5) for s in ("AM", "PM")])
    clock = FixedClock(dt.datetime(2026, 3, 10, 15, 0, tzinfo=LONDON))
    mother = session.exec(select(Contact).where(Contact.name == "Kerry Pupil")).one()
    for issued in (dt.date(2024, 9, 20), dt.date(2025, 6, 2)):
        session.add(PenaltyNotice(school_id=school.id, case_id=_open(session, school, pupil, clock, "leave")[0].id,
                                  pupil_id=pupil.id, contact_id=mother.id, parent_name=mother.name, sequence=1,
                                  issued_on=issued, amount=160, due=issued + dt.timedelta(days=28), status="paid"))
    session.flush()
    case = cs.open_case(session, school, pupil, for_school("national"), "leave", concern="leave:2026-03-02",
                        concern_start=dt.date(2026, 3, 2), clock=clock, actor=cs.Actor.system(), reason="G codes",
                        state="leave_taken")
    w = CaseWorld.load(session, case, clock)
    with pytest.raises(cs.MoveRefused) as exc:
        cs.move_case(w, "request_penalty_notice", a["head"])
    reason = " ".join(exc.value.reasons)
    assert "Kerry Pupil has already had 2 penalty notices" in reason and "prosecution" in reason
    # The father has had none: a notice just for him is allowed, and is his first.
    cs.move_case(w, "request_penalty_notice", a["head"], params={"parents": ["Dean Pupil"]})
    notice = session.exec(select(PenaltyNotice).where(PenaltyNotice.case_id == case.id)).one()
    assert (notice.parent_name, notice.sequence, notice.reduced_amount, notice.amount) == ("Dean Pupil", 1, 80, 160)
    # Issued and posted Tue 10 Mar 2026: received on the second working day after posting,
    # Thu 12 Mar; 21 days from receipt is Thu 2 Apr, 28 days is Thu 9 Apr.
    assert (notice.served_by, notice.received_on) == ("post", dt.date(2026, 3, 12))
    assert notice.reduced_due == dt.date(2026, 4, 2) and notice.due == dt.date(2026, 4, 9)


def test_leave_cannot_be_authorised_retrospectively(session, world):
    school, pupil, a = world
    clock = FixedClock(dt.datetime(2026, 3, 10, 15, 0, tzinfo=LONDON))
    case = cs.open_case(session, school, pupil, for_school("national"), "leave", concern="leave:2026-03-09",
                        concern_start=dt.date(2026, 3, 9), clock=clock, actor=a["officer"], reason="request form")
    w = CaseWorld.load(session, case, clock)
    with pytest.raises(cs.MoveRefused) as exc:
        cs.move_case(w, "authorise_leave", a["head"], reason="wedding")
    assert any("retrospectively" in r for r in exc.value.reasons)


def test_evaluate_opens_once_and_is_repeatable(session, world, add_marks, engine):
    school, pupil, a = world
    add_marks(session, pupil, [(dt.date(2025, 11, 3 + i), s, "O") for i in range(5) for s in ("AM", "PM")])
    session.commit()
    clock = FixedClock(dt.datetime(2025, 11, 7, 18, 0, tzinfo=LONDON))
    first = evaluate(engine, school.urn, clock)
    second = evaluate(engine, school.urn, clock)
    assert first.findings["penalty_threshold"] == 1
    assert any(o["type"] == "attendance" for o in first.opened)
    assert second.opened == [] and second.attached == 0 and second.proposed == [] and second.notified == 0
    session.expire_all()
    cases = session.exec(select(Case).where(Case.pupil_id == pupil.id, Case.case_type == "attendance")).all()
    assert len(cases) == 1
    assert [p["event"] for p in cases[0].proposals] == ["issue_notice_to_improve"]
    notes = session.exec(select(Notification)).all()
    assert len({n.dedupe_key for n in notes}) == len(notes)


def test_a_closed_concern_is_not_reopened_by_the_same_finding(session, world, add_marks, engine):
    school, pupil, a = world
    # Unexplained absence (N) on Mon 3 Nov 2025; the officer reaches the family the same day.
    add_marks(session, pupil, [(dt.date(2025, 11, 3), "AM", "N"), (dt.date(2025, 11, 3), "PM", "N")])
    session.commit()
    monday = FixedClock(dt.datetime(2025, 11, 3, 18, 0, tzinfo=LONDON))
    opened = evaluate(engine, school.urn, monday).opened
    assert [o["type"] for o in opened if o["type"] == "unexplained_absence"] == ["unexplained_absence"]
    with Session(engine) as s:
        case = s.get(Case, opened[0]["case_id"])
        cs.move_case(CaseWorld.load(s, case, monday), "contact_made", a["officer"], reason="mum: sickness bug")
        s.commit()
    # The N is still on the register that evening: the same episode does not reopen.
    again = evaluate(engine, school.urn, FixedClock(dt.datetime(2025, 11, 3, 19, 0, tzinfo=LONDON)))
    assert not [o for o in again.opened if o["type"] == "unexplained_absence"]


def test_a_proposal_is_withdrawn_when_its_evidence_no_longer_holds(session, world, add_marks, engine):
    school, pupil, a = world
    # 10 unauthorised sessions in the week of Mon 3 Nov 2025 meet the threshold that week...
    add_marks(session, pupil, [(dt.date(2025, 11, 3 + i), s, "O") for i in range(5) for s in ("AM", "PM")])
    session.commit()
    first = evaluate(engine, school.urn, FixedClock(dt.datetime(2025, 11, 7, 18, 0, tzinfo=LONDON)))
    assert [p["event"] for p in first.proposed] == ["issue_notice_to_improve"]
    # ...and still in the window ten school weeks later (the Christmas holiday weeks don't count):
    # Great Chart's school weeks from 3 Nov: 3, 10, 17, 24 Nov, 1, 8, 15 Dec, 5, 12, 19 Jan.
    assert evaluate(engine, school.urn, FixedClock(dt.datetime(2026, 1, 23, 18, 0, tzinfo=LONDON))).withdrawn == []
    # The next school week, the window no longer holds them: the proposal goes.
    later = evaluate(engine, school.urn, FixedClock(dt.datetime(2026, 1, 30, 18, 0, tzinfo=LONDON)))
    assert [(w["event"], w["rule"]) for w in later.withdrawn] == [("issue_notice_to_improve", "penalty_threshold")]
    session.expire_all()
    case = session.exec(select(Case).where(Case.pupil_id == pupil.id, Case.case_type == "attendance")).one()
    assert case.proposals == []


def test_closing_a_case_withdraws_the_letters_it_still_has_queued(session, world, add_marks):
    """An attendance letter queued on 10 Nov is not sent to a family whose case closed on 12 Nov:
    closing withdraws it, says why on the case and in the audit trail; a letter already produced
    is history and stays as it was."""
    school, pupil, a = world
    clock = FixedClock(dt.datetime(2025, 11, 10, 15, 0, tzinfo=LONDON))
    case, w = _open(session, school, pupil, clock)
    cs.move_case(w, "send_letter", a["officer"], reason="below 90% this half term")
    sent = LetterRequest(school_id=school.id, case_id=case.id, template="attendance_concern", status="produced",
                         queued_at=clock.now())
    session.add(sent)
    session.commit()
    queued = session.exec(select(LetterRequest).where(LetterRequest.case_id == case.id,
                                                      LetterRequest.status == "queued")).one()
    later = FixedClock(dt.datetime(2025, 11, 12, 9, 30, tzinfo=LONDON))
    cs.move_case(CaseWorld.load(session, case, later), "close", a["officer"], reason="attendance back above 96%")
    session.commit()
    assert session.get(LetterRequest, queued.id).status == "cancelled"
    assert session.get(LetterRequest, sent.id).status == "produced"
    note = session.exec(select(CaseNote).where(CaseNote.case_id == case.id)).one()
    assert note.author == "officer" and note.at == later.now()
    assert note.text == ("Letter withdrawn before it went: Attendance below expectations. "
                         "The case was closed on 12 Nov 2025 (Closed) before the letter went out.")
    audit = session.exec(select(AuditEvent).where(AuditEvent.action == "letter.withdraw")).one()
    assert audit.subject == f"letter:{queued.id}" and audit.detail["case"] == case.id


def test_the_nightly_withdraws_letters_left_queued_on_cases_closed_before(session, world, engine):
    """A database from before closing withdrew letters: the nightly job withdraws what closed cases
    left in the queue, once; a letter queued after the case closed (the closing move's own) stays."""
    school, pupil, a = world
    clock = FixedClock(dt.datetime(2025, 11, 10, 15, 0, tzinfo=LONDON))
    case, _ = _open(session, school, pupil, clock)
    stale = LetterRequest(school_id=school.id, case_id=case.id, template="attendance_concern", queued_at=clock.now())
    closed_at = dt.datetime(2025, 11, 11, 12, 0, tzinfo=LONDON)
    own = LetterRequest(school_id=school.id, case_id=case.id, template="leave_refused", queued_at=closed_at)
    case.state, case.closed_at = "closed", closed_at
    session.add_all([stale, own, case])
    session.commit()
    night = FixedClock(dt.datetime(2025, 11, 12, 18, 0, tzinfo=LONDON))
    assert evaluate(engine, school.urn, night).letters_withdrawn == 1
    assert evaluate(engine, school.urn, night).letters_withdrawn == 0
    session.expire_all()
    assert (session.get(LetterRequest, stale.id).status, session.get(LetterRequest, own.id).status) == ("cancelled", "queued")
    note = session.exec(select(CaseNote).where(CaseNote.case_id == case.id)).one()
    assert note.author == "nightly" and "closed on 11 Nov 2025 (Closed)" in note.text


def test_leave_taken_gives_the_head_ten_school_days_to_decide_on_a_penalty(session, world, engine):
    """Leave recorded as taken on Mon 10 Nov 2025 asks the head to decide by Mon 24 Nov (10 school
    days on the Great Chart calendar); left undecided, the deadline lapses to leadership; deciding
    on no penalty (a reason required) meets it and closes the case."""
    school, pupil, a = world
    clock = FixedClock(dt.datetime(2025, 11, 10, 15, 0, tzinfo=LONDON))
    case, w = _open(session, school, pupil, clock, "leave")
    cs.move_case(w, "record_leave_taken", a["officer"])
    session.commit()
    timer = session.exec(select(Timer).where(Timer.case_id == case.id, Timer.kind == "penalty_decision")).one()
    assert timer.due_at.astimezone(LONDON).date() == dt.date(2025, 11, 24) and timer.role == "issuers"
    report = sweep(engine, FixedClock(dt.datetime(2025, 11, 25, 18, 0, tzinfo=LONDON)))
    assert [t["timer_id"] for t in report.lapsed] == [timer.id]
    session.expire_all()
    notes = session.exec(select(Notification).where(Notification.case_id == case.id)).all()
    assert sorted(n.role for n in notes) == ["deputy_head", "headteacher"]  # leadership, each role told
    assert all(n.message.startswith("Leave was taken without permission; decide whether") for n in notes)
    later = FixedClock(dt.datetime(2025, 11, 26, 9, 0, tzinfo=LONDON))
    with pytest.raises(cs.MoveRefused):
        cs.move_case(CaseWorld.load(session, case, later), "decide_no_penalty", a["officer"], reason="x")
    cs.move_case(CaseWorld.load(session, case, later), "decide_no_penalty", a["head"],
                 reason="One day taken, first time: the letter is enough")
    session.commit()
    assert case.closed_at is not None
    assert session.get(Timer, timer.id).status == "lapsed"  # it lapsed first; closing leaves it in the record
    assert not next_deadlines(session, [case.id], later.now())


def test_a_step_a_lapse_proposes_says_why_in_the_deadlines_own_words(session, world, engine):
    """The head's decisions page shows why a step is there: a lapsed deadline's proposal carries the
    lapse's notification (or safeguarding alert) as its reason, not a bare "proposed by the workflow"."""
    school, pupil, a = world
    clock = FixedClock(dt.datetime(2025, 11, 10, 15, 0, tzinfo=LONDON))
    case, w = _open(session, school, pupil, clock)
    cs.move_case(w, "send_letter", a["officer"])
    session.commit()
    sweep(engine, FixedClock(dt.datetime(2025, 12, 8, 20, 0, tzinfo=LONDON)))  # the review, 20 school days on
    session.expire_all()
    assert [(p["event"], p["reason"]) for p in session.get(Case, case.id).proposals] == [
        ("invite_to_meeting", "Time to review attendance since the letter")]
    for name in ("national", "frisby", "mason-moor", "staplehurst", "thomas-russell-junior"):
        for kind, tdef in for_school(name).model.timers.items():
            for action in tdef.on_lapse:
                assert not action.propose or action.message, (name, kind)


def test_a_leave_request_waits_five_school_days_for_the_heads_decision(session, world, engine):
    """A request handed in on Fri 7 Nov 2025 is due a decision by Fri 14 Nov; refusing it meets the
    deadline; one left undecided tells leadership when it lapses."""
    school, pupil, a = world
    clock = FixedClock(dt.datetime(2025, 11, 7, 10, 0, tzinfo=LONDON))
    refused, w = _open(session, school, pupil, clock, "leave")
    waiting = cs.open_case(session, school, pupil, for_school("national"), "leave", concern="leave:2026-02-02",
                           concern_start=dt.date(2026, 2, 2), clock=clock, actor=cs.Actor.system(), reason="form")
    session.commit()
    due = {t.case_id: t for t in session.exec(select(Timer).where(Timer.kind == "leave_request_decision"))}
    assert {c: t.due_at.astimezone(LONDON).date() for c, t in due.items()} == {
        refused.id: dt.date(2025, 11, 14), waiting.id: dt.date(2025, 11, 14)}
    cs.move_case(w, "refuse_leave", a["head"])
    session.commit()
    sweep(engine, FixedClock(dt.datetime(2025, 11, 14, 20, 0, tzinfo=LONDON)))
    session.expire_all()
    assert session.get(Timer, due[refused.id].id).status == "met"
    assert session.get(Timer, due[waiting.id].id).status == "lapsed"
    told = session.exec(select(Notification).where(Notification.case_id == waiting.id)).all()
    assert sorted(n.role for n in told) == ["deputy_head", "headteacher"]


def test_the_nightly_withdrawal_names_a_state_the_workflow_has_since_dropped(session, world, engine):
    """A case closed in a state a later workflow no longer has does not stop the night's run."""
    school, pupil, a = world
    clock = FixedClock(dt.datetime(2025, 11, 10, 15, 0, tzinfo=LONDON))
    case, _ = _open(session, school, pupil, clock)
    stale = LetterRequest(school_id=school.id, case_id=case.id, template="attendance_concern", queued_at=clock.now())
    case.state, case.closed_at = "closed_by_old_policy", dt.datetime(2025, 11, 11, 12, 0, tzinfo=LONDON)
    session.add_all([stale, case])
    session.commit()
    assert evaluate(engine, school.urn, FixedClock(dt.datetime(2025, 11, 12, 18, 0, tzinfo=LONDON))).letters_withdrawn == 1
    note = session.exec(select(CaseNote).where(CaseNote.case_id == case.id)).one()
    assert "closed on 11 Nov 2025 (closed by old policy)" in note.text
