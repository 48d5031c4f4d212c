"""Calendar arithmetic on real calendars, every expected date worked out by hand.

Great Chart Primary (Kent) 2025-26, tests/data/kent-great-chart-2025-26.csv:
  Autumn 1  Mon 1 Sep - Fri 17 Oct 2025, INSET Mon 1 + Tue 2 Sep   35 - 2 = 33 days
  half term Mon 20 - Fri 24 Oct
  Autumn 2  Mon 27 Oct - Fri 19 Dec, INSET Mon 27 Oct              40 - 1 = 39
  Spring 1  Mon 5 Jan - Fri 13 Feb 2026                                    30
  half term Mon 16 - Fri 20 Feb
  Spring 2  Mon 23 Feb - Thu 2 Apr (Good Friday 3 Apr is in the holiday)   25 + 4 = 29
  Summer 1  Mon 20 Apr - Fri 22 May, bank holiday Mon 4 May                25 - 1 = 24
  half term Mon 25 - Fri 29 May (25 May is also a bank holiday)
  Summer 2  Mon 1 Jun - Tue 21 Jul, INSET Mon 20 + Tue 21 Jul      35 + 2 - 2 = 35
  total 33 + 39 + 30 + 29 + 24 + 35 = 190 days, 380 sessions.
"""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path

import pytest

from casework.register.calendar import (
    CalendarEntry,
    CalendarError,
    SchoolCalendar,
    school_year_label,
    week_start,
)

D = dt.date
GREAT_CHART_CSV = Path(__file__).parent / "data" / "kent-great-chart-2025-26.csv"
DEMO_CALENDAR_CSV = Path(__file__).parent.parent / "casework" / "data" / "demo-calendar.csv"


def calendar_from_csv(path: Path) -> SchoolCalendar:
    with path.open(newline="") as f:
        return SchoolCalendar([
            CalendarEntry(D.fromisoformat(r["start"]), D.fromisoformat(r["end"]), r["kind"], r.get("label", ""),
                          r.get("session") or None)
            for r in csv.DictReader(f)
        ])


@pytest.fixture(scope="module")
def gc() -> SchoolCalendar:
    return calendar_from_csv(GREAT_CHART_CSV)


@pytest.fixture(scope="module")
def demo() -> SchoolCalendar:
    return calendar_from_csv(DEMO_CALENDAR_CSV)


# -- school days --------------------------------------------------------------


def test_great_chart_has_190_days_and_380_sessions(gc):
    year = (D(2025, 9, 1), D(2026, 8, 31))
    assert len(gc.school_days(*year)) == 190
    assert gc.session_count(*year) == 380
    assert len(gc.sessions(*year)) == 380
    assert len(gc.school_year_days(D(2026, 3, 1))) == 190
    assert gc.first_day == D(2025, 9, 3)  # 1 and 2 Sep are INSET
    assert gc.last_day == D(2026, 7, 17)  # 20 and 21 Jul are INSET


def test_great_chart_days_per_half_term(gc):
    counts = [len(gc.school_days(s, e)) for s, e in gc.half_terms]
    assert counts == [33, 39, 30, 29, 24, 35]


def test_demo_calendar_2025_26_has_189_days():
    # Term 1 33 (INSET 1-2 Sep), Term 2 3 Nov-19 Dec 35, Term 3 30, Term 4 29,
    # Term 5 25 - 1 (4 May) = 24, Term 6 1 Jun-Wed 22 Jul 35 + 3 = 38: 189.
    cal = calendar_from_csv(DEMO_CALENDAR_CSV)
    assert len(cal.school_year_days(D(2025, 10, 1))) == 189
    assert cal.first_day == D(2025, 9, 3)
    assert cal.last_day == D(2027, 7, 22)


@pytest.mark.parametrize("day,open_,why", [
    (D(2025, 9, 3), True, "open"),              # first day for pupils
    (D(2025, 9, 1), False, "closure"),          # INSET
    (D(2025, 9, 2), False, "closure"),          # INSET
    (D(2025, 9, 6), False, "weekend"),          # Saturday
    (D(2025, 9, 7), False, "weekend"),          # Sunday
    (D(2025, 10, 17), True, "open"),            # last day before half term
    (D(2025, 10, 22), False, "outside term"),   # October half term
    (D(2025, 10, 27), False, "closure"),        # INSET after half term
    (D(2025, 10, 28), True, "open"),
    (D(2025, 12, 25), False, "bank holiday"),   # Christmas Day (holiday anyway)
    (D(2026, 1, 2), False, "outside term"),
    (D(2026, 2, 18), False, "outside term"),    # February half term
    (D(2026, 4, 2), True, "open"),              # Thursday before Good Friday
    (D(2026, 4, 3), False, "bank holiday"),     # Good Friday
    (D(2026, 5, 1), True, "open"),
    (D(2026, 5, 4), False, "bank holiday"),     # Early May bank holiday, inside Summer 1
    (D(2026, 5, 5), True, "open"),
    (D(2026, 5, 27), False, "outside term"),    # May half term
    (D(2026, 7, 17), True, "open"),
    (D(2026, 7, 20), False, "closure"),         # INSET
    (D(2026, 7, 21), False, "closure"),         # INSET
    (D(2026, 7, 22), False, "outside term"),
])
def test_is_school_day(gc, day, open_, why):
    assert gc.is_school_day(day) is open_
    assert gc.why_closed(day).startswith(why)
    assert gc.sessions_on(day) == (("AM", "PM") if open_ else ())


def test_a_bank_holiday_inside_a_term_is_not_typed_in_but_excluded():
    # A term across Easter 2026: Good Friday 3 Apr and Easter Monday 6 Apr fall inside it.
    # Mon 30 Mar - Fri 10 Apr is 10 weekdays; less the two bank holidays: 8 school days.
    cal = SchoolCalendar([CalendarEntry(D(2026, 3, 30), D(2026, 4, 10), "term")])
    assert not cal.is_school_day(D(2026, 4, 3))
    assert not cal.is_school_day(D(2026, 4, 6))
    assert "Good Friday" in cal.why_closed(D(2026, 4, 3))
    assert cal.school_days(D(2026, 3, 30), D(2026, 4, 10)) == [
        D(2026, 3, 30), D(2026, 3, 31), D(2026, 4, 1), D(2026, 4, 2),
        D(2026, 4, 7), D(2026, 4, 8), D(2026, 4, 9), D(2026, 4, 10),
    ]


def test_half_day_closure_leaves_the_other_session():
    cal = SchoolCalendar([
        CalendarEntry(D(2025, 9, 1), D(2025, 9, 5), "term"),
        CalendarEntry(D(2025, 9, 3), D(2025, 9, 3), "closure", "staff training", "PM"),
    ])
    assert cal.sessions_on(D(2025, 9, 3)) == ("AM",)
    assert cal.is_session(D(2025, 9, 3), "AM")
    assert not cal.is_session(D(2025, 9, 3), "PM")
    assert cal.is_school_day(D(2025, 9, 3))
    assert cal.session_count(D(2025, 9, 1), D(2025, 9, 5)) == 9  # 5 days x 2 - 1


# -- n-th school day after ------------------------------------------------------


@pytest.mark.parametrize("start,n,expected", [
    (D(2025, 9, 3), 3, D(2025, 9, 8)),      # Thu 4, Fri 5, Mon 8
    (D(2025, 9, 6), 0, D(2025, 9, 8)),      # n = 0 on a Saturday: the next school day
    (D(2025, 9, 3), 0, D(2025, 9, 3)),      # n = 0 on a school day: the day itself
    (D(2025, 8, 20), 1, D(2025, 9, 3)),     # from the summer holiday past two INSET days
    (D(2025, 10, 17), 1, D(2025, 10, 28)),  # half term, then the INSET Monday
    (D(2025, 10, 16), 2, D(2025, 10, 28)),  # Fri 17 Oct, then Tue 28 Oct
    (D(2025, 10, 22), 1, D(2025, 10, 28)),  # from inside half term
    (D(2025, 12, 19), 1, D(2026, 1, 5)),    # Christmas
    (D(2025, 12, 18), 3, D(2026, 1, 6)),    # Fri 19 Dec, Mon 5 Jan, Tue 6 Jan
    (D(2026, 5, 1), 1, D(2026, 5, 5)),      # over the 4 May bank holiday
    (D(2026, 4, 30), 3, D(2026, 5, 6)),     # Fri 1 May, Tue 5 May, Wed 6 May
    (D(2026, 5, 21), 2, D(2026, 6, 1)),     # Fri 22 May, then half term and the 25 May bank holiday
    (D(2026, 1, 5), -1, D(2025, 12, 19)),   # backwards over Christmas
    (D(2025, 10, 28), -1, D(2025, 10, 17)),
])
def test_add_school_days_great_chart(gc, start, n, expected):
    assert gc.add_school_days(start, n) == expected


def test_add_school_days_counts_school_days_between_consistently(gc):
    # Whatever the holidays in between, n school days on lands n school days later.
    for start in (D(2025, 9, 3), D(2025, 10, 10), D(2025, 12, 15), D(2026, 3, 30), D(2026, 5, 20)):
        for n in (1, 5, 10, 20):
            assert gc.school_days_between(start, gc.add_school_days(start, n)) == n


@pytest.mark.parametrize("start,n,expected", [
    (D(2026, 7, 21), 1, D(2026, 7, 22)),  # the demo school's last day of 2025-26 is Wed 22 Jul
    (D(2026, 7, 21), 2, D(2026, 9, 2)),   # across the summer; Tue 1 Sep 2026 is INSET
    (D(2026, 7, 21), 3, D(2026, 9, 3)),
    (D(2026, 7, 22), 1, D(2026, 9, 2)),
    (D(2026, 9, 2), -1, D(2026, 7, 22)),
    (D(2026, 9, 2), -2, D(2026, 7, 21)),
])
def test_add_school_days_across_school_years(demo, start, n, expected):
    assert demo.add_school_days(start, n) == expected


def test_asking_beyond_the_calendar_is_an_error(gc):
    with pytest.raises(CalendarError, match="2026-07-17"):
        gc.add_school_days(D(2026, 7, 16), 2)
    with pytest.raises(CalendarError):
        gc.subtract_school_days(D(2025, 9, 4), 2)
    assert gc.add_school_days(D(2026, 7, 16), 1) == D(2026, 7, 17)


# -- school weeks ---------------------------------------------------------------


def test_school_weeks_skip_half_term(gc):
    # 13 Oct week is open, 20 Oct is half term, 27 Oct week opens on Tue 28 Oct.
    assert gc.school_weeks(D(2025, 10, 13), D(2025, 11, 7)) == [D(2025, 10, 13), D(2025, 10, 27), D(2025, 11, 3)]
    assert not gc.is_school_week(D(2025, 10, 22))
    assert gc.is_school_week(D(2025, 10, 27))  # only INSET on the Monday; Tue-Fri open


def test_a_week_of_only_inset_days_is_not_a_school_week(gc):
    # Mon 20 and Tue 21 Jul 2026 are INSET and the term ends: no session that week.
    assert not gc.is_school_week(D(2026, 7, 20))
    assert gc.school_weeks_all[-1] == D(2026, 7, 13)
    # The first week has sessions Wed-Fri, so it counts.
    assert gc.school_weeks_all[0] == D(2025, 9, 1)


def test_great_chart_school_weeks(gc):
    # Autumn 1: 7 weeks; Autumn 2: 8; Spring 1: 6; Spring 2: 6 (23 Feb .. 30 Mar);
    # Summer 1: 5; Summer 2: 7 (1 Jun .. 13 Jul; 20 Jul is INSET only) = 39.
    assert len(gc.school_weeks_all) == 39


def test_school_weeks_spanning_the_summer_holiday(demo):
    assert demo.school_weeks(D(2026, 7, 13), D(2026, 9, 11)) == [
        D(2026, 7, 13), D(2026, 7, 20), D(2026, 8, 31), D(2026, 9, 7)
    ]


def test_rolling_ten_school_weeks_across_the_summer(demo):
    # Up to Fri 18 Sep 2026: three weeks of 2026-27 (31 Aug, 7 Sep, 14 Sep) and the last
    # seven school weeks of 2025-26 (8 Jun .. 20 Jul); the six holiday weeks do not count.
    weeks = demo.rolling_school_weeks(D(2026, 9, 18), 10)
    assert weeks == [D(2026, 6, 8), D(2026, 6, 15), D(2026, 6, 22), D(2026, 6, 29), D(2026, 7, 6),
                     D(2026, 7, 13), D(2026, 7, 20), D(2026, 8, 31), D(2026, 9, 7), D(2026, 9, 14)]
    assert demo.window_start_for(D(2026, 9, 18), 10) == D(2026, 6, 8)
    assert all(w == week_start(w) for w in weeks)


def test_rolling_weeks_ending_in_a_holiday_end_with_the_last_school_week(demo, gc):
    assert demo.rolling_school_weeks(D(2026, 8, 10), 2) == [D(2026, 7, 13), D(2026, 7, 20)]
    # Over October half term at Great Chart.
    assert gc.rolling_school_weeks(D(2025, 11, 7), 3) == [D(2025, 10, 13), D(2025, 10, 27), D(2025, 11, 3)]
    # Near the start of the calendar the window is shorter.
    assert gc.rolling_school_weeks(D(2025, 9, 10), 10) == [D(2025, 9, 1), D(2025, 9, 8)]


# -- half terms -----------------------------------------------------------------


def test_half_terms(gc):
    assert gc.half_terms == [
        (D(2025, 9, 3), D(2025, 10, 17)),
        (D(2025, 10, 28), D(2025, 12, 19)),
        (D(2026, 1, 5), D(2026, 2, 13)),
        (D(2026, 2, 23), D(2026, 4, 2)),
        (D(2026, 4, 20), D(2026, 5, 22)),
        (D(2026, 6, 1), D(2026, 7, 17)),
    ]
    assert gc.half_term_of(D(2026, 5, 4)) == (D(2026, 4, 20), D(2026, 5, 22))
    assert gc.half_term_of(D(2026, 2, 18)) == (D(2026, 1, 5), D(2026, 2, 13))  # in the holiday: the one just ended
    assert gc.half_term_of(D(2025, 8, 1)) is None


def test_school_year_label():
    assert school_year_label(D(2025, 9, 1)) == "2025-26"
    assert school_year_label(D(2026, 8, 31)) == "2025-26"
    assert school_year_label(D(2026, 9, 1)) == "2026-27"


def test_calendar_loaded_through_the_database_matches(session, make_school):
    from casework.register.store import load_calendar

    school = make_school(session, "great-chart")
    cal = load_calendar(session, school.id)
    assert len(cal.school_days(D(2025, 9, 1), D(2026, 8, 31))) == 190
    assert not cal.is_school_day(D(2026, 5, 4))


def test_covers_is_the_span_of_the_term_dates(gc):
    assert gc.covers(D(2025, 9, 1))       # an INSET day, but inside the term dates
    assert gc.covers(D(2026, 7, 21))
    assert not gc.covers(D(2025, 8, 31))
    assert not gc.covers(D(2026, 7, 22))
