"""Attendance bands, persistent and severe absence."""

from __future__ import annotations

import pytest
from test_rules_helpers import GREAT_CHART, D, by_pupil, on, pupil, register

from casework.rules import RULES

AS_OF = D("2025-10-14")  # Great Chart: 30 school days (60 sessions) since term began on Wed 3 Sep
STAPLEHURST_BANDS = [
    {"name": "office investigates", "below_pct": 95},
    {"name": "intervention letters", "below_pct": 90},
    {"name": "referral to the EWO", "below_pct": 85},
]


def days(n, start="2025-09-03"):
    return GREAT_CHART.school_days(D(start), AS_OF)[:n]


def sessions(n, code, pid):
    """``n`` sessions of ``code``: whole days, then an AM."""
    ds = days((n + 1) // 2)
    marks = on(pid, ds[: n // 2], code)
    if n % 2:
        marks += on(pid, [ds[-1]], code, ["AM"])
    return marks


def evaluate(rule, reg, as_of=AS_OF, **params):
    r = RULES[rule]
    return r.evaluate(reg, GREAT_CHART, r.Params(**params), as_of)


def test_sixty_sessions_to_date():
    assert GREAT_CHART.session_count(D("2025-09-01"), AS_OF) == 60


@pytest.mark.parametrize("absent, band", [
    (3, None),                      # 95.0% exactly: not under 95
    (4, "office investigates"),     # 93.3%
    (6, "office investigates"),     # 90.0% exactly: not under 90
    (7, "intervention letters"),    # 88.3%
    (9, "intervention letters"),    # 85.0% exactly
    (10, "referral to the EWO"),    # 83.3%
])
def test_a_pupil_falls_in_the_lowest_band_their_attendance_is_under(absent, band):
    reg = register(GREAT_CHART, D("2025-09-01"), AS_OF, sessions(absent, "I", 1))
    found = evaluate("attendance_band", reg, bands=STAPLEHURST_BANDS)
    if band is None:
        assert found == []
        return
    [f] = found
    assert f.level == band and f.concern == "attendance" and f.formal is False
    assert f.figures["possible_sessions"] == 60
    assert f.figures["attended_sessions"] == 60 - absent
    assert f.figures["absent_sessions"] == absent == len(f.evidence)
    assert f"{100 * (60 - absent) / 60:.1f}%" in f.summary and f"{60 - absent} of 60" in f.summary
    assert f"'{band}'" in f.summary


def test_codes_count_in_the_right_column():
    # 6 sessions each of: an educational visit (attending), dual registration and not required
    # (not possible), then 6 unauthorised absences.
    marks = sessions(6, "V", 1)
    marks += on(1, days(3, "2025-09-15"), "D") + on(1, days(3, "2025-09-22"), "X")
    marks += on(1, days(3, "2025-10-01"), "O")
    reg = register(GREAT_CHART, D("2025-09-01"), AS_OF, marks)
    [f] = evaluate("attendance_band", reg, bands=STAPLEHURST_BANDS)
    assert f.figures["possible_sessions"] == 48
    assert f.figures["attended_sessions"] == 42
    assert f.figures["unauthorised_absence_sessions"] == 6
    assert f.figures["authorised_absence_sessions"] == 0
    assert f.level == "intervention letters"  # 87.5%
    assert {c for _, _, c in f.evidence} == {"O"}


def test_sessions_not_yet_marked_are_not_possible_sessions():
    reg = register(GREAT_CHART, D("2025-09-01"), AS_OF, sessions(6, "I", 1), marked_until=D("2025-10-13"))
    [f] = evaluate("attendance_band", reg, bands=STAPLEHURST_BANDS)
    assert f.figures["possible_sessions"] == 58


def test_min_possible_sessions():
    early = D("2025-09-16")  # 10 school days, 20 sessions
    reg = register(GREAT_CHART, D("2025-09-01"), early, on(1, [D("2025-09-03")], "O"))
    assert evaluate("attendance_band", reg, early, min_possible_sessions=21) == []
    assert len(evaluate("attendance_band", reg, early, min_possible_sessions=20)) == 1


def test_rolling_period_counts_only_the_last_school_weeks():
    # absent all of the week of 8 Sep; the last 4 school weeks to 14 Oct start on 22 Sep
    reg = register(GREAT_CHART, D("2025-09-01"), AS_OF, on(1, days(5, "2025-09-08"), "I"))
    assert len(evaluate("attendance_band", reg, period="school_year")) == 1
    assert evaluate("attendance_band", reg, period="rolling_school_weeks", school_weeks=4) == []
    [f] = evaluate("attendance_band", reg, period="rolling_school_weeks", school_weeks=6)
    assert f.period == (D("2025-09-08"), AS_OF)


@pytest.mark.parametrize("absent, pa", [(5, False), (6, True)])
def test_persistent_absence_at_ten_percent(absent, pa):
    reg = register(GREAT_CHART, D("2025-09-01"), AS_OF, sessions(absent, "I", 1))
    found = evaluate("persistent_absence", reg)
    assert bool(found) is pa
    if pa:
        assert found[0].figures["absence_pct"] == 10.0 and "at or over 10%" in found[0].summary
        assert found[0].concern == "attendance" and found[0].level == "persistent_absence"


@pytest.mark.parametrize("absent, sa", [(29, False), (30, True)])
def test_severe_absence_at_fifty_percent(absent, sa):
    reg = register(GREAT_CHART, D("2025-09-01"), AS_OF, sessions(absent, "N", 1))
    assert bool(evaluate("severe_absence", reg)) is sa
    assert len(evaluate("persistent_absence", reg)) == 1


def test_absence_is_counted_over_the_school_year_only():
    # the demo calendar spans two school years; last year's absence does not count
    from test_rules_helpers import DEMO

    marks = on(1, DEMO.school_days(D("2026-06-01"), D("2026-07-22")), "O")
    reg = register(DEMO, D("2026-06-01"), D("2026-10-16"), marks)
    assert RULES["persistent_absence"].evaluate(reg, DEMO, RULES["persistent_absence"].Params(),
                                                D("2026-10-16")) == []


def test_every_pupil_is_evaluated_at_once():
    pupils = [pupil(i) for i in range(1, 6)]
    marks = sessions(7, "O", 2) + sessions(12, "I", 4)
    reg = register(GREAT_CHART, D("2025-09-01"), AS_OF, marks, pupils=pupils)
    found = by_pupil(evaluate("attendance_band", reg, bands=STAPLEHURST_BANDS))
    assert set(found) == {2, 4}
    assert found[2][0].level == "intervention letters" and found[4][0].level == "referral to the EWO"
    assert found[4][0].upn == "T000000000004"
