"""The evidence trail (`casework explain`): every finding, letter and step with its marks,
figures, rule version and workflow version, and the figures worked out again from the
register. National workflow on the real Great Chart (Kent) 2025-26 calendar."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re

from click.testing import CliRunner
from sqlmodel import select

from casework.cases.evaluate import evaluate
from casework.cases.explain import explain_case
from casework.cases.moves import Actor, move_case
from casework.cases.provenance import rule_version, workflow_version
from casework.cases.world import CaseWorld
from casework.cli import main
from casework.clock import LONDON, FixedClock
from casework.letters.bundle import evidence_bundle
from casework.register.calendar import SchoolCalendar
from casework.register.store import Amender, amend_mark, load_calendar
from casework.store.casemodels import Case, CaseFinding, CaseMove
from casework.store.models import Contact, Mark
from casework.workflow import load, load_raw
from tests.test_letters_bundle import penalty_case
from tests.test_letters_render import letter_world, letters_dir, pdf_text  # noqa: F401

AS_OF = dt.date(2025, 10, 17)  # Great Chart: term began Wed 3 Sep 2025


def _marks(cal: SchoolCalendar):
    """Present every session to 17 Oct, except 10 O (five Mondays) and 4 I sessions."""
    absent = {}
    mondays = [d for d in cal.school_days(dt.date(2025, 9, 3), AS_OF) if d.weekday() == 0][:5]
    for d in mondays:
        absent[(d, "AM")] = absent[(d, "PM")] = "O"
    for d in (dt.date(2025, 9, 24), dt.date(2025, 9, 25)):
        absent[(d, "AM")] = absent[(d, "PM")] = "I"
    out = []
    for d, s in cal.sessions(dt.date(2025, 9, 1), AS_OF):
        out.append((d, s, absent.get((d, s), "/" if s == "AM" else "\\")))
    return out, absent


def _school(session, make_school, make_pupils, add_marks):
    school = make_school(session)
    pupil = make_pupils(session, school)[0]
    session.add(Contact(pupil_id=pupil.id, name="Kerry Pupil", relationship="Mother", address="1 Mill Lane",
                        postcode="TN12 0AA", parental_responsibility=True))
    cal = load_calendar(session, school.id)
    marks, absent = _marks(cal)
    add_marks(session, pupil, marks)
    session.commit()
    return school, pupil, cal, absent


def _attendance_finding(session, case_id):
    return session.exec(select(CaseFinding).where(CaseFinding.case_id == case_id,
                                                  CaseFinding.rule == "attendance_band")).one()


def test_explain_reproduces_a_findings_figures_from_the_stored_marks(engine, session, make_school, make_pupils,
                                                                       add_marks):
    school, pupil, cal, absent = _school(session, make_school, make_pupils, add_marks)
    clock = FixedClock(dt.datetime(2025, 10, 17, 18, 0, tzinfo=LONDON))
    evaluate(engine, school.urn, clock)
    case = session.exec(select(Case).where(Case.pupil_id == pupil.id)).one()
    possible = cal.session_count(dt.date(2025, 9, 1), AS_OF)
    f = _attendance_finding(session, case.id)
    # the hand count: 14 sessions missed (10 O, 4 I) of every session since the term began
    assert f.figures["possible_sessions"] == possible == 66
    assert f.figures["absent_sessions"] == 14 and f.figures["unauthorised_absence_sessions"] == 10
    assert f.figures["attendance_pct"] == round(100 * (possible - 14) / possible, 2)

    trail = explain_case(session, case.id, clock)
    [item] = [x for x in trail["findings"] if x["rule"] == "attendance_band"]
    again = item["recomputed"]
    assert again["matches"] and again["differences"] == [] and again["settings"] == "as recorded"
    assert again["figures"] == f.figures  # every figure worked out again from the register
    assert again["marks_match"] is True
    assert {(m["date"], m["session"], m["code"]) for m in item["marks"]} == {
        (d.isoformat(), s, c) for (d, s), c in absent.items()}
    # versions: the rule's code digest, the merged workflow's SHA-256, the settings it ran with
    assert re.fullmatch(r"attendance_band@[0-9a-f]{16}", item["rule_version"])
    assert item["rule_version"] == item["rule_version_now"] == rule_version("attendance_band")
    wf = load("national")
    raw, _ = load_raw(wf.path)
    digest = hashlib.sha256(json.dumps(raw, sort_keys=True, ensure_ascii=False, default=str).encode()).hexdigest()
    assert item["workflow"] == {"key": "national", "name": wf.name, "file": "national.yaml", "sha256": digest}
    assert item["settings"]["bands"] == [{"name": "below 90%", "below_pct": 90.0}]
    assert item["settings"]["min_possible_sessions"] == 60
    assert item["period"] == ["2025-09-01", "2025-10-17"]
    # the case was opened by that evaluation: its step carries the same workflow version
    opened = trail["steps"][0]
    assert opened["event"] == "open" and opened["workflow"]["sha256"] == digest


def test_a_later_amendment_is_undone_and_listed_and_a_changed_figure_is_caught(engine, session, make_school,
                                                                                  make_pupils, add_marks):
    school, pupil, cal, absent = _school(session, make_school, make_pupils, add_marks)
    clock = FixedClock(dt.datetime(2025, 10, 17, 18, 0, tzinfo=LONDON))
    evaluate(engine, school.urn, clock)
    case = session.exec(select(Case).where(Case.pupil_id == pupil.id)).one()
    # a week later an O is found to have been illness: today's register says something else
    (day, sess) = sorted(k for k, c in absent.items() if c == "O")[0]
    mark = session.exec(select(Mark).where(Mark.pupil_id == pupil.id, Mark.date == day, Mark.session == sess)).one()
    later = FixedClock(dt.datetime(2025, 10, 24, 10, 0, tzinfo=LONDON))
    amend_mark(session, mark, "I", None, reason="GP letter", by=Amender("Dana Whitfield", "Attendance officer"),
               clock=later)
    session.commit()
    f = _attendance_finding(session, case.id)
    item = next(x for x in explain_case(session, case.id, later)["findings"] if x["rule"] == "attendance_band")
    assert item["recomputed"]["matches"], item["recomputed"]["differences"]  # as the register stood
    [a] = item["recomputed"]["amended_since"]
    assert (a["date"], a["session"], a["was"], a["now"]) == (day.isoformat(), sess, "O", "I")
    # a stored figure that does not follow from the marks is caught, naming the figure
    f.figures = {**f.figures, "attendance_pct": 99.0}
    session.add(f)
    session.commit()
    item = next(x for x in explain_case(session, case.id, later)["findings"] if x["rule"] == "attendance_band")
    assert not item["recomputed"]["matches"]
    assert any(d.startswith("attendance_pct: stored 99.0") for d in item["recomputed"]["differences"])


def test_older_findings_and_steps_say_not_recorded(engine, session, make_school, make_pupils, add_marks):
    school, pupil, cal, _ = _school(session, make_school, make_pupils, add_marks)
    clock = FixedClock(dt.datetime(2025, 10, 17, 18, 0, tzinfo=LONDON))
    evaluate(engine, school.urn, clock)
    case = session.exec(select(Case).where(Case.pupil_id == pupil.id)).one()
    for f in session.exec(select(CaseFinding).where(CaseFinding.case_id == case.id)):
        f.provenance = {}  # as a finding made before provenance was kept
        session.add(f)
    for m in session.exec(select(CaseMove).where(CaseMove.case_id == case.id)):
        m.evidence = {k: v for k, v in m.evidence.items() if k != "provenance"}
        session.add(m)
    session.commit()
    trail = explain_case(session, case.id, clock)
    item = next(x for x in trail["findings"] if x["rule"] == "attendance_band")
    assert item["rule_version"] == item["workflow"] == item["settings"] == "not recorded"
    assert item["recomputed"]["matches"]  # with today's settings, which have not changed
    assert "not recorded" in item["recomputed"]["settings"]
    assert trail["steps"][0]["workflow"] == "not recorded"


def test_a_step_keeps_its_workflow_version_and_figures(engine, session, make_school, make_pupils, add_marks):
    school, pupil, cal, absent = _school(session, make_school, make_pupils, add_marks)
    clock = FixedClock(dt.datetime(2025, 10, 17, 18, 0, tzinfo=LONDON))
    evaluate(engine, school.urn, clock)
    case = session.exec(select(Case).where(Case.pupil_id == pupil.id)).one()
    officer = Actor("officer", "attendance_officer", "Dana Whitfield")
    move_case(CaseWorld.load(session, case, clock), "send_letter", officer, reason="below 90%")
    session.commit()
    trail = explain_case(session, case.id, clock)
    step = next(s for s in trail["steps"] if s["event"] == "send_letter")
    assert step["workflow"] == workflow_version(load("national"))
    assert step["figures"]["possible_sessions"] == 66 and step["figures"]["unauthorised"] == 10
    assert step["recomputed"]["matches"] and step["recomputed"]["figures"]["attendance_pct"] == round(100 * 52 / 66, 2)
    [letter] = [x for x in trail["letters"] if x["template"] == "attendance_concern"]
    assert "Send attendance letter" in letter["made_by"] and letter["trail"]["step"] == step["id"]


def test_cli_explain(db_url, engine, session, make_school, make_pupils, add_marks):
    school, pupil, cal, _ = _school(session, make_school, make_pupils, add_marks)
    evaluate(engine, school.urn, FixedClock(dt.datetime(2025, 10, 17, 18, 0, tzinfo=LONDON)))
    case = session.exec(select(Case).where(Case.pupil_id == pupil.id)).one()
    r = CliRunner().invoke(main, ["explain", str(case.id), "--db", db_url, "--as-of", "2025-10-20", "--json"])
    assert r.exit_code == 0, r.output
    data = json.loads(r.output)
    assert data["case"]["upn"] == pupil.upn and all(f["recomputed"]["matches"] for f in data["findings"])
    r = CliRunner().invoke(main, ["explain", str(case.id), "--db", db_url, "--as-of", "2025-10-20"])
    assert r.exit_code == 0, r.output
    assert "Attendance band" in r.output and "(the same)" in r.output and "national.yaml, sha256" in r.output
    r = CliRunner().invoke(main, ["explain", "999", "--db", db_url])
    assert r.exit_code == 1 and "no case 999" in r.output


def test_the_evidence_bundle_holds_the_trail(session, letter_world, letters_dir, tmp_path):  # noqa: F811
    school, pupil = letter_world()
    case, clock = penalty_case(session, school, pupil)
    trail = explain_case(session, case.id, clock)
    assert [s["label"] for s in trail["steps"] if s["formal"]] == ["Issue a notice to improve",
                                                                  "Request a penalty notice"]
    assert all(s["recomputed"]["matches"] for s in trail["steps"] if s["recomputed"])
    out = tmp_path / "bundle.pdf"
    evidence_bundle(session, case.id, clock, out)
    text = pdf_text(out)
    assert text.count("The evidence trail") >= 2  # in the contents and as a section
    sha = trail["workflow_now"]["sha256"][:16]
    assert text.count(sha) >= 1 + len(trail["steps"])  # the workflow now, then each step's version
    assert "Issue a notice to improve (formal)" in text and "the same" in text


def test_a_letter_a_rule_queued_carries_the_findings_trail(engine, session, make_school, make_pupils, add_marks,
                                                          tmp_path):
    wf_file = tmp_path / "letters-at-95.yaml"
    wf_file.write_text("extends: national\nname: Letters at 95%\nrules:\n  attendance_band:\n    opens: attendance\n"
                       "    min_possible_sessions: 20\n    bands:\n      - {name: letter, below_pct: 95}\n"
                       "    letters_by_level: {letter: attendance_concern}\n")
    school = make_school(session, workflow=str(wf_file))
    pupil = make_pupils(session, school)[0]
    cal = load_calendar(session, school.id)
    marks, _ = _marks(cal)
    add_marks(session, pupil, marks)
    session.commit()
    clock = FixedClock(dt.datetime(2025, 10, 17, 18, 0, tzinfo=LONDON))
    evaluate(engine, school.urn, clock)
    case = session.exec(select(Case).where(Case.pupil_id == pupil.id)).one()
    assert case.workflow == str(wf_file)  # the case finds its workflow again by the school's path to it
    trail = explain_case(session, case.id, clock)
    [letter] = trail["letters"]
    f = _attendance_finding(session, case.id)
    assert letter["made_by"] == "rule attendance_band (letter) as of 2025-10-17"
    assert letter["trail"]["figures"] == f.figures and letter["trail"]["marks"] == f.evidence
    assert letter["trail"]["rule_version"] == rule_version("attendance_band")
    assert letter["trail"]["workflow"]["name"] == "Letters at 95%"
    assert letter["trail"]["workflow"]["file"] == "letters-at-95.yaml"
