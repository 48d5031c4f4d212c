"""Statistics from hand-worked examples (docs/domain.md §1). Every figure is worked out in the comments.

Marks are taken on Great Chart's calendar from Wed 3 Sep 2025 (the first day for pupils):
  Wed 3, Thu 4, Fri 5, Mon 8, Tue 9, Wed 10, Thu 11, Fri 12, Mon 15, Tue 16 Sep ... (2 sessions each).
"""

from __future__ import annotations

import datetime as dt

import pytest
from register_helpers import first_sessions

from casework.figures.stats import Figures, Thresholds, breakdown, group_figures, pupil_figures, pupil_flags

D = dt.date
YEAR = (D(2025, 9, 1), D(2026, 8, 31))


def marks_from(codes: list[str], start: D = D(2025, 9, 3)) -> list[tuple]:
    return [(d, s, c) for (d, s), c in zip(first_sessions(len(codes), start), codes)]


@pytest.fixture
def school(session, make_school):
    return make_school(session, "great-chart")


def figures_of(session, school, pupil, start=YEAR[0], end=YEAR[1]) -> Figures:
    (pf,) = pupil_figures(session, school.id, start, end, pupil_ids=[pupil.id])
    return pf.figures


def test_worked_example_twenty_sessions(session, school, make_pupils, add_marks):
    (p,) = make_pupils(session, school)
    # 20 sessions, 3 Sep (Wed) to 16 Sep (Tue):
    #   Wed 3 AM L (5 min), Thu 4 AM I, Mon 8 PM V, Tue 9 AM L (10 min), Fri 12 PM G, Tue 16 PM X;
    #   the other 14 are '/'.
    special = {
        (D(2025, 9, 3), "AM"): ("L", 5), (D(2025, 9, 4), "AM"): ("I", None), (D(2025, 9, 8), "PM"): ("V", None),
        (D(2025, 9, 9), "AM"): ("L", 10), (D(2025, 9, 12), "PM"): ("G", None), (D(2025, 9, 16), "PM"): ("X", None),
    }
    marks = [(d, s, *special.get((d, s), ("/", None))) for d, s in first_sessions(20)]
    assert sum(1 for m in marks if m[2] == "/") == 14
    add_marks(session, p, marks)
    f = figures_of(session, school, p)
    # possible: 20 sessions less the X (not required to attend) = 19
    assert f.possible_sessions == 19
    assert f.not_possible == 1
    # present: 14 '/' + 2 L = 16 in school, + 1 V approved activity = 17
    assert (f.present_in_school, f.approved_activity, f.present) == (16, 1, 17)
    # authorised: I; unauthorised: G
    assert (f.authorised, f.unauthorised, f.absent) == (1, 1, 2)
    # attendance 17 / 19 = 89.47 %; absence 2 / 19 = 10.53 % >= 10 %: PA, < 50 %: not SA
    assert f.attendance_pct == pytest.approx(89.4737, abs=1e-4)
    assert f.absence_pct == pytest.approx(10.5263, abs=1e-4)
    assert f.persistent_absence() and not f.severe_absence()
    assert (f.lates_before_close, f.lates_after_close) == (2, 0)
    assert (f.illness_sessions, f.illness_days) == (1, 0.5)
    # The I was on a Thursday, the G on a Friday.
    assert f.absence_by_weekday == {"Mon": 0, "Tue": 0, "Wed": 0, "Thu": 1, "Fri": 1}
    assert f.by_code == {"/": 14, "L": 2, "V": 1, "I": 1, "G": 1, "X": 1}
    d = f.as_dict()
    assert (d["attendance_pct"], d["persistent_absence"], d["severe_absence"]) == (89.47, True, False)


@pytest.mark.parametrize("absent,possible,pa,sa", [
    (1, 20, False, False),   # 5 %
    (2, 20, True, False),    # exactly 10 %: PA (missed >= 10 %)
    (9, 20, True, False),    # 45 %
    (10, 20, True, True),    # exactly 50 %: SA (missed >= 50 %)
    (20, 20, True, True),    # 100 %
])
def test_pa_and_sa_boundaries(session, school, make_pupils, add_marks, absent, possible, pa, sa):
    (p,) = make_pupils(session, school)
    # Mix authorised and unauthorised absence: both count towards PA and SA.
    absences = ["O" if i % 2 else "M" for i in range(absent)]
    add_marks(session, p, marks_from(absences + ["/"] * (possible - absent)))
    f = figures_of(session, school, p)
    assert f.possible_sessions == possible
    assert f.absence_pct == 100.0 * absent / possible
    assert (f.persistent_absence(), f.severe_absence()) == (pa, sa)


def test_just_under_ten_percent_is_not_pa():
    # 999 absent of 10,000 possible = 9.99 %
    f = Figures()
    f.add("I", 0, 999)
    f.add("/", 0, 9001)
    assert not f.persistent_absence()
    f.add("I", 0, 1)  # 1,000 of 10,001 = 9.999 %: still not
    assert not f.persistent_absence()


def test_thresholds_can_be_set():
    f = Figures()
    f.add("/", 0, 92)
    f.add("O", 0, 8)  # 8 %
    assert not f.persistent_absence()
    assert f.persistent_absence(Thresholds(persistent_absence_pct=8.0))


def test_dual_registered_not_required_and_unavoidable_are_not_possible(session, school, make_pupils, add_marks):
    (p,) = make_pupils(session, school)
    codes = ["/"] * 4 + ["D", "D", "X", "X", "Y", "Y1", "Y7", "Q", "Z", "#"]
    add_marks(session, p, marks_from(codes))
    f = figures_of(session, school, p)
    # possible: only the four '/' ; the ten others count for nothing
    assert (f.possible_sessions, f.not_possible, f.present, f.absent) == (4, 10, 4, 0)
    assert f.attendance_pct == 100.0
    assert f.absence_by_weekday == {"Mon": 0, "Tue": 0, "Wed": 0, "Thu": 0, "Fri": 0}


def test_legacy_codes_count_as_their_2024_code(session, school, make_pupils, add_marks):
    (p,) = make_pupils(session, school)
    add_marks(session, p, marks_from(["F", "H", "J", "/"]))
    f = figures_of(session, school, p)
    # F, H -> C and J -> J1 are authorised: possible 4, authorised 3, attendance 25 %
    assert (f.possible_sessions, f.authorised, f.present) == (4, 3, 1)
    assert f.by_code == {"F": 1, "H": 1, "J": 1, "/": 1}


def test_lates_before_and_after_close(session, school, make_pupils, add_marks):
    (p,) = make_pupils(session, school)
    add_marks(session, p, [(d, s, c, m) for (d, s, c), m in zip(
        marks_from(["L", "/", "L", "\\", "U", "/", "L", "U", "/", "\\"]), [3, None, 10, None, 40, None, 1, 55, None, None])])
    f = figures_of(session, school, p)
    # 3 L (present, late before close), 2 U (unauthorised, after close), 5 on time
    assert (f.lates_before_close, f.lates_after_close) == (3, 2)
    assert (f.possible_sessions, f.present, f.unauthorised) == (10, 8, 2)
    assert f.attendance_pct == 80.0   # 8 / 10
    assert f.persistent_absence()     # 2 / 10 = 20 %: a pupil late after close often enough is PA


def test_illness_days(session, school, make_pupils, add_marks):
    (p,) = make_pupils(session, school)
    # 7 sessions of I = 3.5 days; an M (appointment) is not illness
    add_marks(session, p, marks_from(["I"] * 7 + ["M", "/", "\\"]))
    f = figures_of(session, school, p)
    assert (f.illness_sessions, f.illness_days, f.authorised) == (7, 3.5, 8)


def test_absence_by_weekday(session, school, make_pupils, add_marks):
    (p,) = make_pupils(session, school)
    # Off every Friday for three weeks (5, 12, 19 Sep, both sessions, O), ill on Mon 8 Sep AM,
    # late after close on Wed 17 Sep AM; every other session of 3-19 Sep present.
    marks = []
    for d, s in first_sessions(26):  # 3 Sep .. 19 Sep: 13 days
        if d.weekday() == 4:
            marks.append((d, s, "O"))
        elif (d, s) == (D(2025, 9, 8), "AM"):
            marks.append((d, s, "I"))
        elif (d, s) == (D(2025, 9, 17), "AM"):
            marks.append((d, s, "U"))
        else:
            marks.append((d, s, "/"))
    add_marks(session, p, marks)
    f = figures_of(session, school, p)
    assert f.absence_by_weekday == {"Mon": 1, "Tue": 0, "Wed": 1, "Thu": 0, "Fri": 6}
    # possible 26; absent 6 + 1 + 1 = 8
    assert (f.possible_sessions, f.absent) == (26, 8)


def test_date_range(session, school, make_pupils, add_marks):
    (p,) = make_pupils(session, school)
    add_marks(session, p, marks_from(["O", "O", "/", "/", "/", "/"]))  # Wed 3 O O, Thu 4 / /, Fri 5 / /
    f = figures_of(session, school, p, D(2025, 9, 4), D(2025, 9, 5))
    assert (f.possible_sessions, f.absent) == (4, 0)
    f = figures_of(session, school, p, D(2025, 9, 3), D(2025, 9, 3))
    assert (f.possible_sessions, f.absent) == (2, 2)


@pytest.fixture
def four_pupils(session, school, make_pupils, add_marks):
    """A: Y4 FSM, 18 '/' + 2 O   -> 10 % absent: PA
       B: Y4 SEND, 10 '/' + 10 I -> 50 % absent: PA and SA
       C: Y5 FSM, 20 '/'         -> 100 %
       D: Y5, no marks yet       -> no possible sessions: not counted in any group's pupils."""
    (a,) = make_pupils(session, school, year_group=4, fsm=True)
    (b,) = make_pupils(session, school, year_group=4, send=True)
    (c,) = make_pupils(session, school, year_group=5, fsm=True)
    (d,) = make_pupils(session, school, year_group=5)
    add_marks(session, a, marks_from(["/"] * 18 + ["O"] * 2))
    add_marks(session, b, marks_from(["I"] * 10 + ["/"] * 10))
    add_marks(session, c, marks_from(["/"] * 20))
    return a, b, c, d


def test_year_group_and_flag_filters(session, school, four_pupils):
    a, b, c, d = four_pupils
    ids = lambda rows: {r.pupil_id for r in rows}  # noqa: E731
    assert ids(pupil_figures(session, school.id, *YEAR)) == {a.id, b.id, c.id, d.id}
    assert ids(pupil_figures(session, school.id, *YEAR, year_group=4)) == {a.id, b.id}
    assert ids(pupil_figures(session, school.id, *YEAR, flag="fsm")) == {a.id, c.id}
    assert ids(pupil_figures(session, school.id, *YEAR, year_group=5, flag="fsm")) == {c.id}
    assert pupil_figures(session, school.id, *YEAR, year_group=6) == []
    with pytest.raises(ValueError, match="unknown group"):
        pupil_figures(session, school.id, *YEAR, flag="tall")
    # Filtering does not change a pupil's own figures.
    (fa,) = pupil_figures(session, school.id, *YEAR, year_group=4, flag="fsm")
    assert (fa.figures.possible_sessions, fa.figures.unauthorised) == (20, 2)


def test_group_breakdown(session, school, four_pupils):
    rows = pupil_figures(session, school.id, *YEAR)
    groups = {g.label: g for g in breakdown(rows, pupil_flags(session, school.id))}
    assert list(groups) == ["Whole school", "Year 4", "Year 5", "Free school meals", "SEND"]
    whole = groups["Whole school"]
    # 3 pupils with sessions; A and B are PA, B is SA; PA rate 2/3, SA rate 1/3
    assert (whole.pupils, whole.persistent_absentees, whole.severe_absentees) == (3, 2, 1)
    assert whole.pa_rate == pytest.approx(66.6667, abs=1e-4)
    assert whole.sa_rate == pytest.approx(33.3333, abs=1e-4)
    # sessions: possible 60; present 18 + 10 + 20 = 48 -> 80 %; authorised 10 (B's I); unauthorised 2 (A's O)
    f = whole.figures
    assert (f.possible_sessions, f.present, f.authorised, f.unauthorised) == (60, 48, 10, 2)
    assert f.attendance_pct == 80.0
    y4 = groups["Year 4"]
    # A and B: possible 40, present 28 -> 70 %
    assert (y4.pupils, y4.persistent_absentees, y4.severe_absentees, y4.figures.attendance_pct) == (2, 2, 1, 70.0)
    y5 = groups["Year 5"]
    assert (y5.pupils, y5.persistent_absentees, y5.severe_absentees, y5.figures.attendance_pct) == (1, 0, 0, 100.0)
    fsm = groups["Free school meals"]
    # A and C: possible 40, present 38 -> 95 %; A is PA
    assert (fsm.pupils, fsm.persistent_absentees, fsm.severe_absentees, fsm.figures.attendance_pct) == (2, 1, 0, 95.0)
    send = groups["SEND"]
    assert (send.pupils, send.persistent_absentees, send.severe_absentees) == (1, 1, 1)
    d = whole.as_dict()
    assert (d["pa_rate"], d["sa_rate"], d["attendance_pct"]) == (66.67, 33.33, 80.0)
    assert "persistent_absence" not in d


def test_empty_group_has_no_percentages():
    g = group_figures("Nobody", [])
    assert (g.pupils, g.pa_rate, g.sa_rate, g.figures.attendance_pct) == (0, None, None, None)
    assert Figures().as_dict()["attendance_pct"] is None
    assert not Figures().persistent_absence()
