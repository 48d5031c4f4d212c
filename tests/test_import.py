"""CSV import: each kind imports; a bad file is rejected whole with every problem named
(file, line, column, reason) and nothing written; re-import changes nothing; a changed
mark becomes an amendment that keeps the original entry."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select, text

from casework.clock import FixedClock
from casework.register.importer import (
    ImportRejected,
    import_calendar,
    import_contacts,
    import_marks,
    import_pupils,
)
from casework.register.rows import parse_bool, parse_date, parse_year_group
from casework.register.store import Amender, get_school
from casework.register.upn import make_upn
from casework.store.db import session_scope
from casework.store.models import CalendarDay, Contact, Mark, MarkAmendment, Pupil

URN = "118000"
UPN1 = make_upn(886, 2999, 2020, 1)  # V886299920001 (worked by hand in test_upn.py)
UPN2 = make_upn(886, 2999, 2020, 2)
UPN3 = make_upn(886, 2999, 2020, 3)
UNKNOWN_UPN = make_upn(886, 2999, 2020, 999)  # valid, but not on roll
DATA_TABLES = ("school", "calendar_entry", "pupil", "contact", "mark", "mark_amendment", "staff_user")

PUPILS_HEADER = "upn,forename,surname,date_of_birth,year_group,fsm,send,eal,traveller,vulnerability_rag"
PUPILS_ROWS = [
    f"{UPN1},Amelia,Smith,2016-10-04,4,Y,N,,no,",
    f"{UPN2},Noah,Patel,14/02/2020,R,yes,1,true,N,amber",
    f"{UPN3},Isla,Nowak,2021-06-30,N,n,0,false,y,red",
]


def snapshot(engine) -> dict[str, list[tuple]]:
    """Every row of every data table, for before/after comparisons."""
    with engine.connect() as conn:
        return {t: sorted(map(tuple, conn.execute(text(f"SELECT * FROM {t}"))), key=repr) for t in DATA_TABLES}


def counts(engine) -> dict[str, int]:
    return {t: len(rows) for t, rows in snapshot(engine).items()}


def run(engine, importer, path, clock, **kw):
    with session_scope(engine) as s:
        return importer(s, get_school(s, URN), path, clock=clock, **kw)


def rejected(engine, importer, path, clock, **kw) -> list[tuple[str, int, str, str]]:
    """Import expecting rejection; check nothing was written; return the problems."""
    before = snapshot(engine)
    with pytest.raises(ImportRejected) as exc:
        run(engine, importer, path, clock, **kw)
    assert snapshot(engine) == before, "a rejected file must write nothing"
    assert "nothing was imported" in str(exc.value)
    return [(p.file, p.line, p.column, p.reason) for p in exc.value.problems]


def has(problems, line, column, *words) -> bool:
    return any(
        ln == line and col == column and all(w.lower() in reason.lower() for w in words)
        for _, ln, col, reason in problems
    )


def assert_problems(problems, *expected) -> None:
    """Exactly these problems, each (line, column, *words in its reason): no more, none missing."""
    missing = [e for e in expected if not has(problems, *e)]
    assert not missing, f"not reported: {missing}; reported: {problems}"
    assert len(problems) == len(expected), problems


@pytest.fixture
def school_db(engine, make_school, clock):
    """A Great Chart school with its calendar, and three pupils imported from CSV."""
    with session_scope(engine) as s:
        make_school(s, "great-chart", urn=URN)
    return engine


@pytest.fixture
def pupils_csv(write_csv):
    return write_csv("pupils.csv", PUPILS_HEADER, PUPILS_ROWS)


@pytest.fixture
def with_pupils(school_db, pupils_csv, clock):
    run(school_db, import_pupils, pupils_csv, clock)
    return school_db


# -- parsing ------------------------------------------------------------------


@pytest.mark.parametrize("text,expected", [
    ("2025-09-03", dt.date(2025, 9, 3)),
    ("03/09/2025", dt.date(2025, 9, 3)),   # UK day/month/year, as MIS exports write it
    ("3/9/2025", dt.date(2025, 9, 3)),
    (" 2025-09-03 ", dt.date(2025, 9, 3)),
])
def test_accepted_dates(text, expected):
    assert parse_date(text) == expected


@pytest.mark.parametrize("text", ["2025-9-3", "3/9/25", "2025-02-30", "31/02/2026", "09/03", "", "tomorrow",
                                  "20250903", "2025-W36-3"])
def test_malformed_dates(text):
    with pytest.raises(ValueError, match="malformed date"):
        parse_date(text)


@pytest.mark.parametrize("text,expected", [("R", 0), ("Reception", 0), ("N", -1), ("Nursery", -1), ("1", 1),
                                           ("6", 6), ("Y6", 6), ("Year 6", 6), ("14", 14)])
def test_year_groups(text, expected):
    assert parse_year_group(text) == expected


@pytest.mark.parametrize("text", ["0", "15", "-1", "P", "six"])
def test_bad_year_groups(text):
    with pytest.raises(ValueError):
        parse_year_group(text)


def test_booleans():
    assert all(parse_bool(t) for t in ("Y", "yes", "TRUE", "1", "t"))
    assert not any(parse_bool(t) for t in ("N", "no", "false", "0", "f", ""))
    with pytest.raises(ValueError):
        parse_bool("maybe")


# -- each kind imports ---------------------------------------------------------


def test_pupils_import(with_pupils):
    with session_scope(with_pupils) as s:
        got = {p.upn: p for p in s.exec(select(Pupil)).scalars()}
    assert set(got) == {UPN1, UPN2, UPN3}
    a, n, i = got[UPN1], got[UPN2], got[UPN3]
    assert (a.forename, a.surname, a.date_of_birth, a.year_group) == ("Amelia", "Smith", dt.date(2016, 10, 4), 4)
    assert (a.fsm, a.send, a.eal, a.traveller, a.vulnerability_rag) == (True, False, False, False, None)
    assert (n.date_of_birth, n.year_group, n.fsm, n.send, n.eal, n.vulnerability_rag) == (
        dt.date(2020, 2, 14), 0, True, True, True, "amber")
    assert (i.year_group, i.traveller, i.vulnerability_rag, i.on_roll) == (-1, True, "red", True)
    # Flags not in the file keep their defaults.
    assert not a.looked_after and not a.ehc_plan


def test_contacts_import(with_pupils, write_csv, clock):
    path = write_csv("contacts.csv", ["upn", "name", "relationship", "parental_responsibility", "lives_with_pupil",
                                      "phone_mobile", "email", "address", "postcode", "call_priority"], [
        [UPN1, "Sarah Smith", "Mother", "Y", "Y", "07700 900001", "sarah@example.com",
         "12 Mill Lane\nGreat Chart\nKent", "TN23 3AA", "1"],
        [UPN1, "Pat Jones", "Grandparent", "N", "N", "07700 900002", "", "3 Bell Lane, Ashford", "TN23 1AB", "2"],
        [UPN2, "Imran Patel", "Father", "", "", "", "", "", "", ""],
    ])
    r = run(with_pupils, import_contacts, path, clock)
    assert (r.rows, r.added) == (3, 3)
    with session_scope(with_pupils) as s:
        got = {c.name: c for c in s.exec(select(Contact)).scalars()}
    assert got["Sarah Smith"].address == "12 Mill Lane\nGreat Chart\nKent"
    assert got["Pat Jones"].address == "3 Bell Lane\nAshford"   # commas become lines
    assert (got["Pat Jones"].parental_responsibility, got["Pat Jones"].lives_with_pupil) == (False, False)
    assert got["Pat Jones"].call_priority == 2
    # Blank booleans mean yes; blank priority means 1.
    assert (got["Imran Patel"].parental_responsibility, got["Imran Patel"].call_priority) == (True, 1)


def test_calendar_import_and_reimport(school_db, clock):
    from pathlib import Path

    path = Path(__file__).parent / "data" / "kent-great-chart-2025-26.csv"
    with session_scope(school_db) as s:
        assert len(s.exec(select(CalendarDay)).scalars().all()) == 9  # 6 terms and 3 closures
    before = snapshot(school_db)
    r = run(school_db, import_calendar, path, clock)
    assert (r.rows, r.added, r.changed, r.unchanged) == (9, 0, 0, 9)
    assert snapshot(school_db) == before


def test_calendar_import_half_day_closure(school_db, write_csv, clock):
    path = write_csv("closures.csv", "start,end,kind,label,session",
                     ["2025-11-20,2025-11-20,closure,Parents' evening,PM"])
    r = run(school_db, import_calendar, path, clock)
    assert r.added == 1
    from casework.register.store import load_calendar

    with session_scope(school_db) as s:
        cal = load_calendar(s, get_school(s, URN).id)
    assert cal.sessions_on(dt.date(2025, 11, 20)) == ("AM",)
    assert cal.session_count(dt.date(2025, 9, 1), dt.date(2026, 8, 31)) == 379


MARKS_HEADER = "upn,date,session,code,minutes_late"
MARKS_ROWS = [
    f"{UPN1},2025-09-03,AM,/,",
    f"{UPN1},2025-09-03,PM,\\,",
    f"{UPN1},04/09/2025,AM,L,12",
    f"{UPN1},2025-09-04,PM,N,",
    f"{UPN2},2025-09-03,am,I,",   # session case does not matter
    f"{UPN2},2025-09-03,PM,I,",
    f"{UPN3},2025-09-03,AM,X,",
    f"{UPN3},2025-09-03,PM,F,",   # a legacy code is kept as given
]


@pytest.fixture
def marks_csv(write_csv):
    return write_csv("marks.csv", MARKS_HEADER, MARKS_ROWS)


def test_marks_import(with_pupils, marks_csv, clock):
    r = run(with_pupils, import_marks, marks_csv, clock)
    assert (r.rows, r.added, r.changed, r.unchanged) == (8, 8, 0, 0)
    with session_scope(with_pupils) as s:
        rows = {(m.date, m.session, m.code, m.minutes_late) for m in s.exec(select(Mark)).scalars()}
        assert (dt.date(2025, 9, 4), "AM", "L", 12) in rows
        assert (dt.date(2025, 9, 3), "PM", "F", None) in rows
        assert {m.recorded_by for m in s.exec(select(Mark)).scalars()} == {"MIS import"}
        assert {m.recorded_at for m in s.exec(select(Mark)).scalars()} == {clock.now()}


# -- re-import -----------------------------------------------------------------


def test_reimporting_every_kind_changes_nothing(with_pupils, write_csv, pupils_csv, marks_csv, clock):
    contacts = write_csv("contacts.csv", "upn,name,relationship,address",
                         [f'{UPN1},Sarah Smith,Mother,"1 Mill Lane, Ashford"'])
    run(with_pupils, import_contacts, contacts, clock)
    run(with_pupils, import_marks, marks_csv, clock)
    before = snapshot(with_pupils)
    later = FixedClock(clock.now() + dt.timedelta(days=3))
    for importer, path in ((import_pupils, pupils_csv), (import_contacts, contacts), (import_marks, marks_csv)):
        r = run(with_pupils, importer, path, later)
        assert (r.added, r.changed) == (0, 0)
        assert r.unchanged == r.rows > 0
    assert snapshot(with_pupils) == before
    assert before["mark_amendment"] == []


def test_changed_mark_on_reimport_is_an_amendment_with_the_original(with_pupils, marks_csv, write_csv, clock):
    run(with_pupils, import_marks, marks_csv, clock)
    changed_rows = [r.replace("2025-09-04,PM,N,", "2025-09-04,PM,I,") for r in MARKS_ROWS]
    changed_rows = [r.replace("04/09/2025,AM,L,12", "04/09/2025,AM,L,25") for r in changed_rows]
    path = write_csv("marks-week1.csv", MARKS_HEADER, changed_rows)
    later = FixedClock(clock.now() + dt.timedelta(days=1))
    r = run(with_pupils, import_marks, path, later)
    assert (r.rows, r.added, r.changed, r.unchanged) == (8, 0, 2, 6)
    with session_scope(with_pupils) as s:
        amendments = {(a.date, a.session): a for a in s.exec(select(MarkAmendment)).scalars()}
        marks = {(m.pupil_id, m.date, m.session): m for m in s.exec(select(Mark)).scalars()}
        pupil1 = s.exec(select(Pupil).where(Pupil.upn == UPN1)).scalar_one()
    assert len(marks) == 8
    a = amendments[(dt.date(2025, 9, 4), "PM")]
    assert (a.original_code, a.amended_code) == ("N", "I")
    assert a.reason == "corrected by MIS import of marks-week1.csv"
    assert (a.amended_by_name, a.amended_by_position, a.amended_at) == ("MIS import", "Data import", later.now())
    late = amendments[(dt.date(2025, 9, 4), "AM")]
    assert (late.original_code, late.original_minutes_late, late.amended_minutes_late) == ("L", 12, 25)
    assert marks[(pupil1.id, dt.date(2025, 9, 4), "PM")].code == "I"
    assert marks[(pupil1.id, dt.date(2025, 9, 4), "PM")].recorded_at == clock.now()  # first taken, not re-taken


def test_reimport_amendment_reason_and_who_can_be_given(with_pupils, marks_csv, write_csv, clock):
    run(with_pupils, import_marks, marks_csv, clock)
    path = write_csv("fix.csv", "upn,date,session,code", [f"{UPN3},2025-09-03,PM,C"])
    run(with_pupils, import_marks, path, clock, by=Amender("Dana Whitfield", "Attendance officer"),
        reason="Leave agreed by the head on 1 Sep")
    with session_scope(with_pupils) as s:
        (a,) = s.exec(select(MarkAmendment)).scalars().all()
    assert (a.original_code, a.amended_code, a.reason, a.amended_by_name, a.amended_by_position) == (
        "F", "C", "Leave agreed by the head on 1 Sep", "Dana Whitfield", "Attendance officer")


# -- malformed files: every problem named, nothing written ----------------------


def test_bad_pupils_file(with_pupils, write_csv, clock):
    bad_check = "A" + UPN1[1:].replace("0001", "0004")  # valid digits, wrong check letter
    path = write_csv("pupils-bad.csv", PUPILS_HEADER, [
        f"{make_upn(886, 2999, 2020, 10)},Ok,Pupil,2016-01-01,3,,,,,",        # line 2: fine
        f"{bad_check},Bad,Check,2016-01-01,3,,,,,",                            # line 3
        f"{make_upn(886, 2999, 2020, 11)},Bad,Date,2016-13-01,3,,,,,",         # line 4
        f"{make_upn(886, 2999, 2020, 12)},Bad,Year,2016-01-01,15,,,,,",        # line 5
        f"{make_upn(886, 2999, 2020, 13)},,Surname,2016-01-01,3,maybe,,,,",    # line 6: empty forename, bad flag
        f"{make_upn(886, 2999, 2020, 10)},Dup,Licate,2016-01-01,3,,,,,",       # line 7: duplicate of line 2
        f"{make_upn(886, 2999, 2020, 14)},Bad,Rag,2016-01-01,3,,,,,purple",    # line 8
        f"{make_upn(886, 2999, 2020, 15)},Too,Short,2016-01-01",               # line 9: wrong field count
        "V88629992001,Short,Upn,2016-01-01,3,,,,,",                            # line 10: 12 characters
    ])
    problems = rejected(with_pupils, import_pupils, path, clock)
    assert {f for f, *_ in problems} == {"pupils-bad.csv"}
    assert_problems(problems,
        (3, "upn", "check letter"),
        (4, "date_of_birth", "malformed date"),
        (5, "year_group", "15"),
        (6, "forename", "empty"),
        (6, "fsm", "maybe"),
        (7, "upn", "twice", "line 2"),
        (8, "vulnerability_rag", "purple"),
        (9, "", "4 fields", "10"),
        (10, "upn", "13 characters"),
    )


def test_bad_contacts_file(with_pupils, write_csv, clock):
    path = write_csv("contacts-bad.csv", ["upn", "name", "relationship", "email", "address", "call_priority"], [
        [UPN1, "Sarah Smith", "Mother", "sarah@example.com", "12 Mill Lane\nGreat Chart\nKent", "1"],  # lines 2-4
        [UNKNOWN_UPN, "Nobody", "Mother", "", "", "1"],                    # line 5
        [UPN1, "Pat Jones", "Grandparent", "pat at example", "", "first"],  # line 6
        [UPN1, "sarah smith", "Mother", "", "", "1"],                       # line 7: same contact twice
        [UPN2, "", "", "", "", ""],                                         # line 8
        [UPN2, "Imran Patel", "Father"],                                    # line 9
    ])
    problems = rejected(with_pupils, import_contacts, path, clock)
    assert_problems(problems,
        (5, "upn", "unknown UPN", UNKNOWN_UPN),
        (6, "email", "not an email"),
        (6, "call_priority", "first"),
        (7, "name", "twice", "line 2"),
        (8, "name", "empty"),
        (8, "relationship", "empty"),
        (9, "", "3 fields"),
    )


def test_bad_calendar_file(school_db, write_csv, clock):
    path = write_csv("calendar-bad.csv", "start,end,kind,label,session", [
        "2026-09-02,2026-10-16,term,Autumn 1,",       # line 2: fine
        "2026-31-10,2026-12-18,term,Autumn 2,",       # line 3: malformed start
        "2027-01-05,2027-01-04,term,Backwards,",      # line 4: ends before it starts
        "2027-02-01,2027-02-01,holiday,Snow,",        # line 5: bad kind
        "2027-02-02,2027-02-02,closure,Half day,EV",  # line 6: bad session
        "2027-03-01,2027-03-26,term,Spring,AM",       # line 7: a term with a session
        "2026-10-01,2026-10-20,term,Overlap,",        # line 8: overlaps line 2
        "2027-04-01,2027-04-02,closure",              # line 9: wrong field count
    ])
    problems = rejected(school_db, import_calendar, path, clock)
    assert_problems(problems,
        (3, "start", "malformed date"),
        (4, "end", "before it starts"),
        (5, "kind", "holiday"),
        (6, "session", "EV"),
        (7, "session", "whole days"),
        (8, "start", "overlaps", "line 2"),
        (9, "", "3 fields", "5"),
    )


def test_bad_marks_file(with_pupils, marks_csv, write_csv, clock):
    run(with_pupils, import_marks, marks_csv, clock)  # some marks exist already: nothing must change them
    path = write_csv("marks-bad.csv", MARKS_HEADER, [
        f"{UPN1},2025-09-05,AM,/,",            # line 2: fine
        f"{UPN1},2025-09-05,PM,Q9,",           # line 3: unknown code
        f"{UNKNOWN_UPN},2025-09-05,AM,/,",     # line 4: unknown UPN
        f"{UPN1},2026-09-07,AM,/,",            # line 5: outside the calendar
        f"{UPN1},2025-08-29,AM,/,",            # line 6: before the calendar
        f"{UPN1},2025-09-06,AM,/,",            # line 7: Saturday
        f"{UPN1},2025-09-01,AM,/,",            # line 8: INSET day
        f"{UPN1},2026-05-04,PM,/,",            # line 9: bank holiday
        f"{UPN1},2025-10-22,AM,/,",            # line 10: half term
        f"{UPN1},2025-09-05,AM,L,5",           # line 11: duplicate of line 2
        f"{UPN2},2025-9-5,AM,/,",              # line 12: malformed date
        f"{UPN2},2025-09-05,EV,/,",            # line 13: bad session
        f"{UPN2},2025-09-05,PM,I,10",          # line 14: minutes late on an absence
        f"{UPN2},2025-09-08,AM,L,ten",         # line 15: minutes not a number
        f"{UPN2},2025-09-08,PM",               # line 16: wrong field count
        f"{UPN2},2025-09-03,AM,/,",            # line 17: a change to an existing mark (fine alone)
    ])
    problems = rejected(with_pupils, import_marks, path, clock)
    assert {f for f, *_ in problems} == {"marks-bad.csv"}
    assert_problems(problems,
        (3, "code", "unknown attendance code", "Q9"),
        (4, "upn", "unknown UPN", UNKNOWN_UPN),
        (5, "date", "outside the calendar"),
        (6, "date", "outside the calendar"),
        (7, "date", "not a school session", "weekend"),
        (8, "date", "not a school session", "closure"),
        (9, "date", "not a school session", "bank holiday"),
        (10, "date", "not a school session", "outside term"),
        (11, "session", "duplicate mark", "line 2"),
        (12, "date", "malformed date"),
        (13, "session", "EV"),
        (14, "minutes_late", "only L and U"),
        (15, "minutes_late", "ten"),
        (16, "", "3 fields", "5"),
    )


def test_one_row_can_have_several_problems(with_pupils, write_csv, clock):
    path = write_csv("marks-bad.csv", MARKS_HEADER, [f"{UNKNOWN_UPN},2025-09-05,AM,Q9,"])
    problems = rejected(with_pupils, import_marks, path, clock)
    assert has(problems, 2, "upn", "unknown UPN") and has(problems, 2, "code", "Q9")


@pytest.mark.parametrize("importer,header,missing", [
    (import_pupils, "upn,forename,surname,year_group", "date_of_birth"),
    (import_contacts, "upn,relationship", "name"),
    (import_calendar, "start,kind,label", "end"),
    (import_marks, "upn,date,code", "session"),
])
def test_missing_column(with_pupils, write_csv, clock, importer, header, missing):
    path = write_csv("missing.csv", header, [",".join(["x"] * len(header.split(",")))])
    problems = rejected(with_pupils, importer, path, clock)
    assert ("missing.csv", 1, missing, "required column is missing") in problems


def test_unknown_and_repeated_columns(with_pupils, write_csv, clock):
    path = write_csv("marks.csv", "upn,date,session,code,code,teacher", [])
    problems = rejected(with_pupils, import_marks, path, clock)
    assert has(problems, 1, "teacher", "unknown column")
    assert has(problems, 1, "code", "twice")


def test_empty_file(with_pupils, write_csv, clock):
    path = write_csv("empty.csv", "", [])
    path.write_text("")
    problems = rejected(with_pupils, import_marks, path, clock)
    assert has(problems, 1, "", "empty")


def test_marks_before_a_calendar_are_refused(engine, make_school, write_csv, clock):
    with session_scope(engine) as s:
        make_school(s, None, urn=URN)
    path = write_csv("marks.csv", MARKS_HEADER, MARKS_ROWS)
    problems = rejected(engine, import_marks, path, clock)
    assert any("calendar first" in reason for *_, reason in problems)


def test_excel_export_with_bom_and_windows_line_ends(with_pupils, tmp_path, clock):
    path = tmp_path / "marks.csv"
    path.write_bytes(("\ufeff" + MARKS_HEADER + "\r\n" + "\r\n".join(MARKS_ROWS) + "\r\n").encode("utf-8"))
    r = run(with_pupils, import_marks, path, clock)
    assert r.added == 8


def test_a_term_overlapping_one_already_entered_is_refused(school_db, write_csv, clock):
    # Great Chart's autumn 1 term is entered as 1 Sep to 17 Oct 2025 (kent-great-chart-2025-26.csv).
    path = write_csv("terms.csv", "start,end,kind,label", ["2025-10-13,2025-10-24,term,Autumn 1 (typed twice)"])
    problems = rejected(school_db, import_calendar, path, clock)
    assert has(problems, 2, "start", "overlaps a term already entered", "2025-09-01 to 2025-10-17")
    # next year's terms, after the last one entered, are taken
    later = write_csv("next.csv", "start,end,kind,label", ["2026-09-02,2026-10-23,term,Autumn 1"])
    assert run(school_db, import_calendar, later, clock).added == 1


def test_marks_for_a_pupil_who_has_left_are_refused(with_pupils, marks_csv, clock):
    from casework.store.models import Pupil

    with session_scope(with_pupils) as s:
        pupil = s.exec(select(Pupil).where(Pupil.upn == UPN1)).scalars().one()
        pupil.on_roll = False
        s.add(pupil)
    problems = rejected(with_pupils, import_marks, marks_csv, clock)
    assert has(problems, 2, "upn", "not on roll")
