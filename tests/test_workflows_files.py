"""Workflow files: every file under workflows/ loads and validates; malformed files are
rejected with the file, the line and the key of each problem."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from casework.workflow import WORKFLOWS_DIR, WorkflowError, load

FILES = sorted(WORKFLOWS_DIR.glob("*.yaml"))
SCHOOLS = ["thomas-russell-junior", "staplehurst", "frisby", "mason-moor"]


def test_the_four_schools_and_national_are_there():
    names = {f.stem for f in FILES}
    assert {"national", *SCHOOLS} <= names


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_every_workflow_file_loads_and_validates(path: Path):
    wf = load(path)
    assert wf.model.case_types and wf.model.rules
    assert set(wf.model.school.registers) == {"AM", "PM"}


@pytest.mark.parametrize("name,am,pm,target,la", [
    ("thomas-russell-junior", ("08:50", "09:20"), ("13:15", "13:30"), 97.5, "Staffordshire"),
    ("staplehurst", ("08:50", "09:20"), ("13:30", "13:45"), 99, "Kent"),
    ("frisby", ("09:00", "09:30"), ("13:15", "13:30"), 95, "Leicestershire"),
    ("mason-moor", ("09:00", "09:30"), ("13:00", "14:00"), None, "Southampton"),
])
def test_school_settings_come_from_the_policy(name, am, pm, target, la):
    s = load(name).model.school
    times = {k: (v.open.strftime("%H:%M"), v.close.strftime("%H:%M")) for k, v in s.registers.items()}
    assert times == {"AM": am, "PM": pm}
    assert s.target_attendance_pct == target and s.local_authority == la


def test_school_specific_figures():
    med = {n: load(n).model.rules["medical_evidence"].params for n in ("thomas-russell-junior", "staplehurst", "mason-moor")}
    assert med["staplehurst"] == {"occasions": 3, "consecutive_days": 5}
    assert med["thomas-russell-junior"]["consecutive_days"] == 6  # "more than 5 days"
    assert med["mason-moor"]["consecutive_days"] == 4  # "longer than 3 days"
    assert load("staplehurst").model.rules["lateness"].params["count"] == 5
    assert load("staplehurst").model.school.letterhead.signatory == "Family Liaison Officer"
    ex = load("mason-moor").model.penalties.exclusion
    assert (ex.reduced_amount, ex.reduced_days, ex.amount, ex.days) == (60, 21, 120, 28)
    assert "home_visit_if_no_contact" not in load("frisby").model.timers  # replaced by the 2-day referral
    assert load("thomas-russell-junior").model.timers["weekly_sight"].repeat is True


def test_the_demo_school_workflow_loads():
    from casework.demo import DEMO_URN  # noqa: F401  (the demo follows "staplehurst")

    assert load("staplehurst").key == "staplehurst"


# -- malformed files ----------------------------------------------------------------

BASE = """\
extends: national
name: Test school
"""

BAD = {
    "unknown state": ("""\
case_types:
  attendance:
    moves:
      send_letter: {to: nowhere}
""", 6, "case_types.attendance.moves.send_letter.to", "unknown state 'nowhere'"),
    "dangling move": ("""\
case_types:
  attendance:
    moves:
      go_nowhere: {from: limbo, to: letter, roles: casework}
""", 6, "case_types.attendance.moves.go_nowhere.from.0", "unknown state 'limbo'"),
    "unknown role": ("""\
case_types:
  attendance:
    moves:
      send_letter:
        roles: [caretaker]
""", 7, "case_types.attendance.moves.send_letter.roles.0", "unknown role 'caretaker'"),
    "unknown guard": ("""\
case_types:
  attendance:
    moves:
      send_letter:
        guards: [moon_is_full]
""", 7, "case_types.attendance.moves.send_letter.guards.0", "unknown guard 'moon_is_full'"),
    "guard missing its figure": ("""\
case_types:
  attendance:
    moves:
      send_letter:
        guards: [absence_days_under]
""", 7, "case_types.attendance.moves.send_letter.guards.0", "guard 'absence_days_under' needs a number"),
    "guard naming an unknown timer": ("""\
case_types:
  traveller:
    moves:
      refer_cme:
        guards: ["timer_lapsed:no_such_timer"]
""", 7, "case_types.traveller.moves.refer_cme.guards.0", "names unknown timer 'no_such_timer'"),
    "unknown rule": ("""\
rules:
  full_moon_absence: {opens: attendance}
""", 4, "rules.full_moon_absence", "unknown rule 'full_moon_absence'"),
    "unknown code": ("""\
rules:
  lateness:
    opens: punctuality
    codes: [L, ZZ]
""", 6, "rules.lateness.codes", "unknown attendance code 'ZZ'"),
    "unknown letter": ("""\
case_types:
  attendance:
    states:
      letter:
        on_enter: [{letter: poem}]
""", 7, "case_types.attendance.states.letter.on_enter.0.letter", "unknown letter 'poem'"),
    "unknown timer": ("""\
case_types:
  attendance:
    states:
      letter:
        on_enter:
          - {timer: egg_timer}
""", 8, "case_types.attendance.states.letter.on_enter.0.timer", "unknown timer 'egg_timer'"),
    "unknown key": ("""\
school:
  register:
    AM: {open: "08:50", close: "09:20"}
  favourite_colour: blue
""", 6, "school.favourite_colour", "unknown key"),
    "bad time": ("""\
school:
  register:
    AM: {open: "08:50", close: "09:75"}
""", 5, "school.register.AM.close", "not a time"),
    "unreachable state": ("""\
case_types:
  attendance:
    states:
      limbo: {label: Nowhere}
""", 6, "case_types.attendance.states.limbo", "cannot be reached"),
    "unknown band in proposes_by_level": ("""\
rules:
  attendance_band:
    bands: [{name: low, below_pct: 90}]
    proposes_by_level: {very low: send_letter}
""", 6, "rules.attendance_band.proposes_by_level.very low", "no band is called 'very low'"),
    "unknown pupil flag": ("""\
rules:
  stale_n:
    pupils: [left_handed]
""", 5, "rules.stale_n.pupils.0", "unknown pupil flag or RAG rating 'left_handed'"),
    "unknown rule parameter": ("""\
rules:
  medical_evidence:
    opens: illness
    fortnights: 2
""", 6, "rules.medical_evidence.fortnights", "unknown key"),
}


@pytest.mark.parametrize("case", BAD, ids=list(BAD))
def test_malformed_workflow_is_rejected_naming_file_line_and_key(tmp_path, case):
    body, line, key, message = BAD[case]
    path = tmp_path / "broken.yaml"
    path.write_text(BASE + textwrap.dedent(body))
    with pytest.raises(WorkflowError) as exc:
        load(path)
    problems = exc.value.problems
    match = [p for p in problems if p.key == key]
    assert match, f"no problem at {key}: {[str(p) for p in problems]}"
    p = match[0]
    assert p.file.endswith("broken.yaml")
    assert p.line == line, str(p)
    assert message in p.message, str(p)
    assert f"broken.yaml:{line}: {key}:" in str(exc.value)


def test_every_problem_is_listed_not_just_the_first(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text(BASE + textwrap.dedent(BAD["unknown guard"][0]) + textwrap.dedent(BAD["unknown rule"][0]))
    with pytest.raises(WorkflowError) as exc:
        load(path)
    keys = {p.key for p in exc.value.problems}
    assert {"case_types.attendance.moves.send_letter.guards.0", "rules.full_moon_absence"} <= keys


def test_null_removes_an_inherited_key_and_lists_replace(tmp_path):
    path = tmp_path / "school.yaml"
    path.write_text(BASE + textwrap.dedent("""\
    rules:
      stale_n: null
    roles:
      issuers: [headteacher]
    """))
    wf = load(path)
    assert "stale_n" not in wf.model.rules
    assert wf.model.roles["issuers"] == ["headteacher"]
    assert "penalty_threshold" in wf.model.rules  # everything else inherited


def test_workflow_check_cli_prints_summary_or_problems(tmp_path):
    from click.testing import CliRunner

    from casework.cli import main

    ok = CliRunner().invoke(main, ["workflow", "check", str(WORKFLOWS_DIR / "staplehurst.yaml")])
    assert ok.exit_code == 0 and "valid" in ok.output and "08:50" in ok.output
    path = tmp_path / "broken.yaml"
    path.write_text(BASE + textwrap.dedent(BAD["unknown role"][0]))
    bad = CliRunner().invoke(main, ["workflow", "check", str(path)])
    assert bad.exit_code == 1
    assert "broken.yaml:7: case_types.attendance.moves.send_letter.roles.0" in bad.output
