"""The national penalty-notice threshold, exactly as docs/domain.md §2 states it."""

from __future__ import annotations

import datetime as dt

import pytest
from test_rules_helpers import DEMO, GREAT_CHART, D, on, register, school_week_days

from casework.rules import RULES
from casework.rules import penalty_threshold as pt

RULE = RULES["penalty_threshold"]


def run(reg, cal, as_of, **params):
    return RULE.evaluate(reg, cal, RULE.Params(**params), as_of)


def four_g_six_u():
    """4 G (Mon-Tue 12-13 Jan) + 6 U, one a week, across the February half term:
    10 sessions within the 10 school weeks 12 Jan - 27 Mar 2026 (11 calendar weeks)."""
    g = on(1, [D("2026-01-12"), D("2026-01-13")], "G")
    u = on(1, [D(x) for x in ("2026-01-19", "2026-01-26", "2026-02-02", "2026-02-09", "2026-02-23",
                               "2026-03-23")], "U", ["AM"])
    return g + u


def test_four_holiday_and_six_late_after_close_meet_the_threshold():
    reg = register(GREAT_CHART, D("2025-09-01"), D("2026-03-27"), four_g_six_u())
    [f] = run(reg, GREAT_CHART, D("2026-03-27"))
    assert f.rule == "penalty_threshold" and f.formal is True and f.pupil_id == 1
    assert f.figures["sessions"] == 10
    assert f.figures["by_code"] == {"G": 4, "U": 6}
    assert f.period == (D("2026-01-12"), D("2026-03-27"))
    assert f.concern == "penalty_threshold:2026-01-12"
    assert sorted(f.evidence) == sorted((d, s, c) for _, d, s, c in four_g_six_u())
    assert "10 sessions of unauthorised absence (4 G, 6 U)" in f.summary
    assert "10 school weeks" in f.summary and "Mon 12 Jan 2026" in f.summary
    assert "headteacher" in f.summary


@pytest.mark.parametrize("as_of, fires", [
    ("2026-03-20", False),  # the 10th session (Mon 23 Mar) not yet
    ("2026-03-23", True),   # the day of the 10th session
    ("2026-03-29", True),   # Sunday: the school week holding it still ends the window
    ("2026-03-30", False),  # the window has moved on a school week: the G days fall out
])
def test_window_is_exactly_ten_school_weeks_ending_this_week(as_of, fires):
    reg = register(GREAT_CHART, D("2025-09-01"), D("2026-03-31"), four_g_six_u())
    assert bool(run(reg, GREAT_CHART, D(as_of))) is fires


def test_two_in_summer_term_and_eight_in_autumn_term_meet_it_across_the_summer_holiday():
    # 2 sessions on Mon 13 Jul 2026, 8 in the autumn term of the next school year. The 10
    # school weeks ending with the week of Mon 2 Nov: 13 Jul, 20 Jul, then 31 Aug (term starts
    # Wed 2 Sep) to 12 Oct, then 2 Nov (after the autumn half term) - 17 calendar weeks.
    assert DEMO.rolling_school_weeks(D("2026-11-06"), 10)[0] == D("2026-07-13")
    marks = on(1, [D("2026-07-13")], "G")
    marks += on(1, [D("2026-09-14"), D("2026-09-15"), D("2026-10-05")], "O")
    marks += on(1, [D("2026-11-02")], "N")
    reg = register(DEMO, D("2026-04-20"), D("2026-11-13"), marks)
    [f] = run(reg, DEMO, D("2026-11-06"))
    assert f.figures["sessions"] == 10 and f.figures["by_code"] == {"G": 2, "N": 2, "O": 6}
    assert f.period == (D("2026-07-13"), D("2026-11-06"))
    assert sorted(f.evidence) == sorted((d, s, c) for _, d, s, c in marks)
    assert "summer" not in f.summary and "Mon 13 Jul 2026" in f.summary
    # before the 10th session, and one school week later (the summer sessions drop out): not met
    assert run(reg, DEMO, D("2026-10-16")) == []
    assert run(reg, DEMO, D("2026-11-09")) == []


def test_ten_sessions_spread_over_eleven_school_weeks_do_not_meet_it():
    weeks = GREAT_CHART.school_weeks(D("2025-09-08"), D("2025-12-19"))
    # a session on the first school day of school weeks 0..8 and 10: never 10 in any 10 weeks
    chosen = [school_week_days(GREAT_CHART, weeks[i])[0] for i in (*range(9), 10)]
    reg = register(GREAT_CHART, D("2025-09-01"), D("2025-12-19"), on(1, chosen, "U", ["AM"]))
    for day in GREAT_CHART.school_days(D("2025-09-08"), D("2025-12-19")):
        assert run(reg, GREAT_CHART, day) == [], day
    assert run(reg, GREAT_CHART, D("2025-12-19"), lookback_school_weeks=20) == []
    # ...while the same ten within ten school weeks do
    chosen[-1] = school_week_days(GREAT_CHART, weeks[9])[0]
    reg = register(GREAT_CHART, D("2025-09-01"), D("2025-12-19"), on(1, chosen, "U", ["AM"]))
    assert len(run(reg, GREAT_CHART, chosen[-1])) == 1


def test_half_term_weeks_do_not_count_as_school_weeks():
    # Great Chart: half term 20-24 Oct 2025. 5 sessions in the week of 15 Sep and 5 in the
    # week of 24 Nov are 10 school weeks apart inclusive (11 calendar weeks): they meet it.
    marks = on(1, [D("2025-09-15"), D("2025-09-16")], "O") + on(1, [D("2025-09-17")], "O", ["AM"])
    marks += on(1, [D("2025-11-24"), D("2025-11-25")], "O") + on(1, [D("2025-11-26")], "O", ["AM"])
    reg = register(GREAT_CHART, D("2025-09-01"), D("2025-12-19"), marks)
    [f] = run(reg, GREAT_CHART, D("2025-11-28"))
    assert f.period == (D("2025-09-15"), D("2025-11-28"))
    assert f.figures["school_weeks_in_window"] == 10
    # one school week later, the September sessions are out of the window
    assert run(reg, GREAT_CHART, D("2025-12-01")) == []


@pytest.mark.parametrize("n, fires", [(9, False), (10, True)])
def test_nine_sessions_do_not_meet_it_ten_do(n, fires):
    days = GREAT_CHART.school_days(D("2026-01-05"), D("2026-01-30"))[:n]
    reg = register(GREAT_CHART, D("2025-09-01"), D("2026-01-30"), on(1, days, "U", ["AM"]))
    assert bool(run(reg, GREAT_CHART, D("2026-01-30"))) is fires


@pytest.mark.parametrize("tenth, counts", [
    ("G", True), ("O", True), ("U", True), ("N", True),  # unauthorised, an unresolved N included
    ("L", False), ("I", False), ("C", False), ("M", False), ("T", False), ("X", False),
    ("H", False),  # a pre-2024 authorised holiday counts as C
])
def test_only_unauthorised_codes_count(tenth, counts):
    days = GREAT_CHART.school_days(D("2026-01-05"), D("2026-01-30"))
    marks = on(1, days[:9], "U", ["AM"]) + on(1, [days[9]], tenth, ["AM"])
    reg = register(GREAT_CHART, D("2025-09-01"), D("2026-01-30"), marks)
    assert bool(run(reg, GREAT_CHART, D("2026-01-30"))) is counts


def test_lookback_and_the_concern_key_stay_on_the_episode():
    reg = register(GREAT_CHART, D("2025-09-01"), D("2026-03-31"), four_g_six_u())
    assert run(reg, GREAT_CHART, D("2026-04-02")) == []
    [late] = run(reg, GREAT_CHART, D("2026-04-02"), lookback_school_weeks=1)
    [now] = run(reg, GREAT_CHART, D("2026-03-27"))
    assert late.concern == now.concern == "penalty_threshold:2026-01-12"
    assert late.evidence == now.evidence
    assert late.figures["sessions_in_current_window"] == 6  # the G days are out


def test_a_run_of_met_windows_reports_the_first():
    # 10 U in the week of 5 Jan, then more each week: the threshold stays met; the finding
    # keeps pointing at the window in which it was first met.
    days = GREAT_CHART.school_days(D("2026-01-05"), D("2026-01-09"))
    marks = on(1, days, "U")
    marks += on(1, GREAT_CHART.school_days(D("2026-01-12"), D("2026-02-13")), "O", ["PM"])
    reg = register(GREAT_CHART, D("2025-09-01"), D("2026-02-13"), marks)
    first = run(reg, GREAT_CHART, D("2026-01-09"))[0]
    later = run(reg, GREAT_CHART, D("2026-02-13"))[0]
    assert first.concern == later.concern
    # 10 school weeks ending with the week of 5 Jan reach back over Christmas and half term
    assert first.period == (D("2025-10-13"), D("2026-01-09"))
    assert later.figures["sessions_in_current_window"] > 10
    assert "current 10 school weeks" in later.summary


def test_evidence_holds_exactly_the_sessions_in_the_window():
    # an older unauthorised session, 12 school weeks back, is not evidence
    marks = on(1, [D("2025-10-01")], "O", ["AM"])
    marks += on(1, GREAT_CHART.school_days(D("2026-01-05"), D("2026-01-09")), "U")
    reg = register(GREAT_CHART, D("2025-09-01"), D("2026-01-09"), marks)
    [f] = run(reg, GREAT_CHART, D("2026-01-09"))
    assert all(d >= D("2026-01-05") for d, _, _ in f.evidence) and len(f.evidence) == 10


def test_custom_figures_are_params_not_constants():
    days = GREAT_CHART.school_days(D("2026-01-05"), D("2026-01-09"))
    reg = register(GREAT_CHART, D("2025-09-01"), D("2026-01-09"), on(1, days[:3], "G"))
    assert run(reg, GREAT_CHART, D("2026-01-09")) == []
    [f] = run(reg, GREAT_CHART, D("2026-01-09"), sessions=6, school_weeks=2)
    assert "6 sessions in 2 school weeks" in f.summary


def test_window_sums_helper():
    import numpy as np

    w = np.array([[1, 2, 3, 4]])
    assert pt.window_sums(w, 2).tolist() == [[1, 3, 5, 7]]
    assert isinstance(dt.date.today(), dt.date)
