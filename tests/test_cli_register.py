"""The register's CLI: school add, import, stats --json, register show --at, and the demo."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner
from register_helpers import first_sessions

from casework.cli import main
from casework.register.upn import make_upn

URN = "118000"
UPN1 = make_upn(886, 2999, 2020, 1)
UPN2 = make_upn(886, 2999, 2020, 2)
GREAT_CHART = Path(__file__).parent / "data" / "kent-great-chart-2025-26.csv"
STATS_KEYS = {"upn", "possible_sessions", "present", "authorised", "unauthorised", "attendance_pct",
              "persistent_absence", "severe_absence"}


@pytest.fixture
def cli(db_url, monkeypatch):
    """``cli(*args)``: run casework with --db pointing at the test database; returns the result."""
    monkeypatch.setenv("COLUMNS", "250")  # rich wraps at 80 columns otherwise
    monkeypatch.setenv("CASEWORK_NO_PROGRESS", "1")
    runner = CliRunner()

    def invoke(*args: str, db: bool = True):
        return runner.invoke(main, [*args, *(["--db", db_url] if db else [])], catch_exceptions=False)

    return invoke


@pytest.fixture
def school(cli, write_csv):
    assert cli("school", "add", "--urn", URN, "--name", "Great Chart Primary").exit_code == 0
    assert cli("import", "calendar", str(GREAT_CHART), "--school", URN).exit_code == 0
    pupils = write_csv("pupils.csv", "upn,forename,surname,date_of_birth,year_group,fsm",
                       [f"{UPN1},Amelia,Smith,2016-10-04,4,Y", f"{UPN2},Noah,Patel,2015-02-14,5,N"])
    assert cli("import", "pupils", str(pupils), "--school", URN).exit_code == 0
    # The worked example of test_stats.py for UPN1 (20 sessions from Wed 3 Sep: 14 '/', 2 L, V, I, G, X);
    # UPN2 present at all 20.
    codes1 = ["L", "/", "I", "/", "/", "/", "/", "V", "L", "/", "/", "/", "/", "/", "/", "G", "/", "/", "/", "X"]
    rows = [f"{UPN1},{d.isoformat()},{s},{c}" for (d, s), c in zip(first_sessions(20), codes1)]
    rows += [f"{UPN2},{d.isoformat()},{s},/" for d, s in first_sessions(20)]
    marks = write_csv("marks.csv", "upn,date,session,code", rows)
    r = cli("import", "marks", str(marks), "--school", URN, "--as-of", "2025-09-16T18:00")
    assert r.exit_code == 0, r.output
    assert "40 row(s): 40 added, 0 changed, 0 unchanged" in r.output
    return URN


def test_school_add(cli):
    r = cli("school", "add", "--urn", "123456", "--name", "Example Primary", "--json")
    assert r.exit_code == 0
    assert json.loads(r.output) == {"id": 1, "urn": "123456", "name": "Example Primary", "workflow": "national"}
    r = cli("school", "add", "--urn", "123456", "--name", "Again")
    assert r.exit_code == 1 and "already exists" in r.stderr
    r = cli("school", "add", "--urn", "12AB", "--name", "Bad URN")
    assert r.exit_code == 1 and "URN" in r.stderr
    r = cli("school", "list", "--json")
    assert [s["urn"] for s in json.loads(r.output)] == ["123456"]


def test_stats_json(cli, school):
    r = cli("stats", "--school", URN, "--from", "2025-09-01", "--to", "2025-09-30", "--json")
    assert r.exit_code == 0, r.stderr
    data = json.loads(r.output)
    assert (data["from"], data["to"]) == ("2025-09-01", "2025-09-30")
    pupils = {p["upn"]: p for p in data["pupils"]}
    assert set(pupils) == {UPN1, UPN2}
    for p in pupils.values():
        assert STATS_KEYS <= set(p)
    # Worked by hand in test_stats.py: possible 19, present 17, auth 1, unauth 1, 89.47 %, PA, not SA.
    p1 = pupils[UPN1]
    assert {k: p1[k] for k in STATS_KEYS} == {
        "upn": UPN1, "possible_sessions": 19, "present": 17, "authorised": 1, "unauthorised": 1,
        "attendance_pct": 89.47, "persistent_absence": True, "severe_absence": False}
    assert {k: pupils[UPN2][k] for k in ("possible_sessions", "attendance_pct", "persistent_absence")} == {
        "possible_sessions": 20, "attendance_pct": 100.0, "persistent_absence": False}


def test_stats_filters_and_summary(cli, school):
    r = cli("stats", "--school", URN, "--from", "2025-09-01", "--to", "2025-09-30", "--year-group", "5", "--json")
    assert [p["upn"] for p in json.loads(r.output)["pupils"]] == [UPN2]
    r = cli("stats", "--school", URN, "--from", "2025-09-01", "--to", "2025-09-30", "--group", "fsm", "--json")
    assert [p["upn"] for p in json.loads(r.output)["pupils"]] == [UPN1]
    r = cli("stats", "--school", URN, "--from", "2025-09-01", "--to", "2025-09-30", "--summary", "--json")
    groups = {g["group"]: g for g in json.loads(r.output)["groups"]}
    # 2 pupils, 1 PA; possible 19 + 20 = 39, present 17 + 20 = 37 -> 94.87 %
    assert (groups["Whole school"]["pupils"], groups["Whole school"]["persistent_absentees"]) == (2, 1)
    assert groups["Whole school"]["attendance_pct"] == 94.87
    # The table form prints too.
    r = cli("stats", "--school", URN, "--from", "2025-09-01", "--to", "2025-09-30")
    assert r.exit_code == 0 and UPN1 in r.output and "89.5" in r.output
    r = cli("stats", "--school", "999999", "--json")
    assert r.exit_code == 1 and "no school with URN 999999" in r.stderr
    r = cli("stats", "--school", URN, "--from", "2025-10-01", "--to", "2025-09-01")
    assert r.exit_code == 1


def test_import_of_a_bad_file_exits_non_zero_and_lists_every_problem(cli, school, write_csv, db_url):
    bad = write_csv("bad-marks.csv", "upn,date,session,code", [
        f"{UPN1},2025-09-17,AM,/",     # line 2: fine
        f"{UPN1},2025-09-17,PM,ZZ",    # line 3: unknown code
        f"{UPN1},2025-09-20,AM,/",     # line 4: Saturday
        f"{UPN1},17/09/25,AM,/",       # line 5: malformed date
        f"{make_upn(886, 2999, 2020, 999)},2025-09-17,AM,/",  # line 6: unknown UPN
        f"{UPN1},2025-09-17,AM,L",     # line 7: duplicate of line 2
    ])
    r = cli("import", "marks", str(bad), "--school", URN)
    assert r.exit_code == 1
    assert "5 problem(s); nothing was written" in r.stderr
    for expected in ("bad-marks.csv:3: code: unknown attendance code 'ZZ'",
                     "bad-marks.csv:4: date: 2025-09-20 AM is not a school session (weekend)",
                     "bad-marks.csv:5: date: malformed date '17/09/25'",
                     "bad-marks.csv:6: upn: unknown UPN",
                     "bad-marks.csv:7: session: duplicate mark"):
        assert expected in r.stderr
    r = cli("import", "marks", str(bad), "--school", URN, "--json")
    assert r.exit_code == 1
    data = json.loads(r.output)
    assert data["imported"] is False
    assert [p["line"] for p in data["problems"]] == [3, 4, 5, 6, 7]
    assert {"file", "line", "column", "reason"} <= set(data["problems"][0])
    # Nothing was written: the good row on line 2 is not in the register.
    r = cli("register", "show", "--school", URN, "--upn", UPN1, "--from", "2025-09-17", "--json")
    assert json.loads(r.output)["marks"] == []


def test_import_to_an_unknown_school(cli, write_csv):
    assert cli("school", "add", "--urn", "118001", "--name", "Another School").exit_code == 0
    path = write_csv("pupils.csv", "upn,forename,surname,date_of_birth,year_group", [])
    r = cli("import", "pupils", str(path), "--school", "424242")
    assert r.exit_code == 1 and "no school with URN 424242" in r.stderr


def test_register_amend_and_show_at(cli, school, write_csv):
    # Marks were imported as of 16 Sep 18:00. Thu 4 Sep AM was I; the office amends it to M on 17 Sep.
    r = cli("register", "amend", "--school", URN, "--upn", UPN1, "--date", "2025-09-04", "--session", "AM",
            "--code", "M", "--reason", "Dentist letter brought in", "--by", "Dana Whitfield",
            "--position", "Attendance officer", "--as-of", "2025-09-17T10:00")
    assert r.exit_code == 0, r.stderr
    # An amendment needs a reason: click refuses without one.
    r = cli("register", "amend", "--school", URN, "--upn", UPN1, "--date", "2025-09-04", "--session", "AM",
            "--code", "O", "--by", "X", "--position", "Y")
    assert r.exit_code != 0

    def am_4_sep(at: str | None):
        args = ["register", "show", "--school", URN, "--upn", UPN1, "--from", "2025-09-04", "--to", "2025-09-04",
                "--json"] + (["--at", at] if at else [])
        data = json.loads(cli(*args).output)
        return {m["session"]: m["code"] for m in data["marks"]}, data

    assert am_4_sep("2025-09-16T12:00")[0] == {}                       # before the import
    assert am_4_sep("2025-09-17T09:59")[0] == {"AM": "I", "PM": "/"}   # before the amendment
    assert am_4_sep("2025-09-17T10:00")[0] == {"AM": "M", "PM": "/"}
    now, data = am_4_sep(None)
    assert now == {"AM": "M", "PM": "/"}
    (a,) = data["amendments"]
    assert (a["original"], a["amended"], a["reason"], a["by"], a["position"]) == (
        "I", "M", "Dentist letter brought in", "Dana Whitfield", "Attendance officer")
    assert a["amended_at"].startswith("2025-09-17T09:00")  # 10:00 BST stored as UTC
    # The table form shows the amendment too.
    r = cli("register", "show", "--school", URN, "--upn", UPN1, "--at", "2025-09-17T09:00")
    assert r.exit_code == 0 and "2025-09-04" in r.output


def test_import_reason_and_who_options(cli, school, write_csv):
    fix = write_csv("fix.csv", "upn,date,session,code", [f"{UPN1},2025-09-12,PM,C"])
    r = cli("import", "marks", str(fix), "--school", URN, "--by", "Helen Carter", "--position", "Headteacher",
            "--reason", "Leave for a funeral agreed", "--as-of", "2025-09-18T12:00")
    assert r.exit_code == 0 and "1 changed" in r.output
    data = json.loads(cli("register", "show", "--school", URN, "--upn", UPN1, "--json").output)
    (a,) = data["amendments"]
    assert (a["original"], a["amended"], a["reason"], a["by"], a["position"]) == (
        "G", "C", "Leave for a funeral agreed", "Helen Carter", "Headteacher")


def test_reimport_via_cli_changes_nothing(cli, school, tmp_path):
    r = cli("import", "marks", str(tmp_path / "marks.csv"), "--school", URN, "--json")
    assert r.exit_code == 0
    out = json.loads(r.output)
    assert (out["rows"], out["added"], out["changed"], out["unchanged"]) == (40, 0, 0, 40)


def test_demo_builds_a_believable_school(tmp_path, monkeypatch, clock):
    """A small demo (60 pupils) marked to the end of 2025-26: every flag, a traveller, PA and SA."""
    from sqlmodel import Session, select

    from casework.demo import build_demo
    from casework.figures.stats import pupil_figures
    from casework.store.casemodels import Case, LetterRequest
    from casework.store.db import make_engine
    from casework.store.models import PUPIL_FLAGS, Pupil

    monkeypatch.setenv("CASEWORK_NO_PROGRESS", "1")
    monkeypatch.setenv("CASEWORK_LETTERS_DIR", str(tmp_path / "letters"))
    engine = make_engine(f"sqlite:///{tmp_path / 'demo.db'}")
    report = build_demo(engine, clock=clock, pupils=60, seed=2026, out_dir=tmp_path / "demo", past_letters="keep")
    assert report.pupils == 60
    with Session(engine) as s:
        pupils = s.exec(select(Pupil)).all()
        assert len(pupils) == 60
        flags_seen = {f for p in pupils for f in PUPIL_FLAGS if getattr(p, f)}
        rows = pupil_figures(s, pupils[0].school_id, dt.date(2025, 9, 1), dt.date(2026, 8, 31))
    missing = set(PUPIL_FLAGS) - flags_seen
    assert not missing, f"no demo pupil has {missing}"
    assert sum(p.traveller for p in pupils) >= 1
    pa = [r for r in rows if r.figures.persistent_absence()]
    sa = [r for r in rows if r.figures.severe_absence()]
    assert pa and sa
    assert len(pa) < len(rows) / 2  # most pupils attend well
    good = [r for r in rows if r.figures.attendance_pct and r.figures.attendance_pct >= 95]
    assert len(good) > len(rows) / 2
    # Marked to the end of the year on the real calendar: 189 days of the demo calendar.
    assert max(r.figures.possible_sessions + r.figures.not_possible for r in rows) == 378
    # The office's queue is today's work: nothing queued for a case that has closed. Leave taken
    # without permission waits on the head's decision, with a deadline, and the head decided.
    with Session(engine) as s:
        stale = s.exec(select(LetterRequest).join(Case, Case.id == LetterRequest.case_id)
                       .where(LetterRequest.status == "queued", Case.closed_at.is_not(None))).all()
        leave = s.exec(select(Case).where(Case.case_type == "leave")).all()
    assert stale == []
    assert all(c.next_due_at is not None for c in leave if c.state == "leave_taken" and c.closed_at is None)
    steps = report.extra["casework"]["steps_taken"]
    assert steps.get("request_penalty_notice", 0) + steps.get("decide_no_penalty", 0) > 0, steps


UNKNOWN_SCHOOL_COMMANDS = [
    ["evaluate"], ["cases"], ["timers"], ["stats"], ["school", "check", "999999"],
    ["case", "open", "--upn", UPN1, "--type", "attendance", "--as", "officer", "--reason", "worried"],
    ["register", "show", "--upn", UPN1], ["register", "amend", "--upn", UPN1, "--date", "2025-09-17",
                                          "--session", "AM", "--code", "/", "--reason", "typo", "--by", "Ann",
                                          "--position", "Office"],
    ["letters", "queue"], ["report", "governors"], ["replay", "--from", "2025-09-03", "--to", "2025-09-04"],
    ["user", "add", "newperson", "--role", "office", "--name", "New Person"], ["user", "list"],
    ["export", "pupil", UPN1, "--out", "sar.json"], ["retention", "purge", "--by", "Ann"],
    ["whatif", "--workflow", "frisby", "--from", "2025-09-03", "--to", "2025-09-04"],
]


@pytest.mark.parametrize("args", UNKNOWN_SCHOOL_COMMANDS, ids=lambda a: " ".join(a[:2]))
def test_every_command_names_a_school_that_is_not_there_in_one_line(cli, args):
    """No traceback anywhere: the one ``casework`` group turns a missing school into an error line."""
    assert cli("school", "add", "--urn", URN, "--name", "Great Chart Primary").exit_code == 0
    school = [] if "check" in args else ["--school", "999999"]
    r = cli(*args, *school)
    assert r.exit_code == 1, r.output + r.stderr
    [line] = [ln for ln in r.stderr.splitlines() if ln.startswith("error:")]
    assert "Traceback" not in r.stderr and line.startswith("error: no school with URN 999999 (add it with: casework school add")


def test_the_demo_office_produced_its_past_letters(tmp_path, monkeypatch):
    """Each school day at OFFICE_PRINTS_AT the office produced the letters queued before then: what is
    left queued is from the last school day and today (or has a problem), and each produced letter is a
    real PDF, dated the day it was printed, in that day's print file."""
    import hashlib
    import subprocess

    from sqlmodel import Session, select

    from casework.clock import LONDON, FixedClock, local
    from casework.demo import OFFICE_PRINTS_AT, build_demo
    from casework.letters.fields import long_date
    from casework.register.store import load_calendar
    from casework.store.casemodels import LetterBatch, LetterRequest, PrintJob
    from casework.store.db import make_engine

    monkeypatch.setenv("CASEWORK_NO_PROGRESS", "1")
    monkeypatch.setenv("CASEWORK_LETTERS_DIR", str(tmp_path / "letters"))
    engine = make_engine(f"sqlite:///{tmp_path / 'demo.db'}")
    clock = FixedClock(dt.datetime(2025, 10, 17, 7, 30, tzinfo=LONDON))  # seven weeks into the year
    report = build_demo(engine, clock=clock, pupils=60, seed=2026, out_dir=tmp_path / "demo")

    with Session(engine) as s:
        letters = s.exec(select(LetterRequest)).all()
        batches = s.exec(select(LetterBatch)).all()
        job = s.exec(select(PrintJob)).one()
        calendar = load_calendar(s, letters[0].school_id)
    produced = [r for r in letters if r.status == "produced"]
    queued = [r for r in letters if r.status == "queued"]
    assert report.extra["past_letters"]["letters"] == len(produced) == job.produced == job.total > 0
    assert job.status == "done" and len(queued) < len(produced) / 5
    last_day = calendar.previous_school_day(clock.today())
    for r in produced:
        made = local(r.produced_at)
        assert made.time() == OFFICE_PRINTS_AT and local(r.queued_at) < made
        assert made.date() <= last_day
    for r in produced[:: max(1, len(produced) // 6)]:  # a few of them, opened and read
        data = open(r.file, "rb").read()
        assert hashlib.sha256(data).hexdigest() == r.sha256
        text = subprocess.run(["pdftotext", r.file, "-"], capture_output=True, text=True, check=True).stdout
        assert long_date(local(r.produced_at).date()) in text and r.recipients[0]["addressee"] in text
        # signed by a person, not a bare title: the Family Liaison Officer, or the head for her own decisions
        # (to a family "sincerely", to the LA asking for a penalty notice "faithfully")
        signed = re.search(r"Yours (?:sincerely|faithfully)\n+(.+)\n(Family Liaison Officer|Headteacher), Oakfield", text)
        assert signed and signed.group(1) in ("Priya Natarajan", "Mrs H. Carter", "Helen Carter"), text[-400:]
    assert sorted(i for b in batches for i in b.letter_ids) == sorted(r.id for r in produced)
    assert all(len({local(r.produced_at).date() for r in produced if r.id in b.letter_ids}) == 1 for b in batches)
