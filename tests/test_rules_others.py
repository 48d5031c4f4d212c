"""Lateness, unexplained absence, illness, Travellers, refused leave, stale N, weekday patterns."""

from __future__ import annotations

import pytest
from test_rules_helpers import GREAT_CHART, D, on, pupil, register

from casework.rules import RULES

START = D("2025-09-01")


def evaluate(rule, reg, as_of, cal=GREAT_CHART, **params):
    r = RULES[rule]
    return r.evaluate(reg, cal, r.Params(**params), as_of)


# -- lateness ----------------------------------------------------------------------
# Great Chart: Autumn 1 ends Fri 17 Oct 2025; Autumn 2 starts Tue 28 Oct (27 Oct is an INSET day).
LATE_A1 = [D(x) for x in ("2025-10-13", "2025-10-14", "2025-10-15", "2025-10-16")]


def test_five_lates_in_a_half_term():
    marks = on(1, LATE_A1 + [D("2025-10-17")], "L", ["AM"]) + on(1, [D("2025-10-10")], "U", ["AM"])
    reg = register(GREAT_CHART, START, D("2025-10-17"), marks)
    [f] = evaluate("lateness", reg, D("2025-10-17"))
    assert f.figures["lates"] == 5 and f.figures["late_before_close"] == 5 and f.figures["late_after_close"] == 1
    assert [c for _, _, c in f.evidence] == ["L"] * 5
    assert f.period == (D("2025-09-03"), D("2025-10-17"))
    assert "Late 5 times" in f.summary and "1 after it closed (U)" in f.summary
    assert f.concern == "punctuality"


def test_lates_do_not_carry_over_the_half_term_boundary():
    marks = on(1, LATE_A1, "L", ["AM"]) + on(1, [D("2025-10-28")], "L", ["AM"])
    reg = register(GREAT_CHART, START, D("2025-10-31"), marks)
    assert evaluate("lateness", reg, D("2025-10-17")) == []  # 4 in Autumn 1
    assert evaluate("lateness", reg, D("2025-10-31")) == []  # 1 in Autumn 2
    # over a rolling 3 school weeks they do add up (the half-term week is not a school week)
    [f] = evaluate("lateness", reg, D("2025-10-31"), per="rolling_school_weeks", school_weeks=3)
    assert f.figures["lates"] == 5


def test_during_the_holiday_the_half_term_just_ended_counts():
    reg = register(GREAT_CHART, START, D("2025-10-17"), on(1, LATE_A1 + [D("2025-10-17")], "L", ["AM"]))
    assert len(evaluate("lateness", reg, D("2025-10-22"))) == 1


def test_late_after_close_counts_only_when_asked():
    marks = on(1, LATE_A1, "L", ["AM"]) + on(1, [D("2025-10-17")], "U", ["AM"])
    reg = register(GREAT_CHART, START, D("2025-10-17"), marks)
    assert evaluate("lateness", reg, D("2025-10-17")) == []
    [f] = evaluate("lateness", reg, D("2025-10-17"), codes=["L", "U"])
    assert f.figures["lates"] == 5 and {c for _, _, c in f.evidence} == {"L", "U"}


# -- unexplained absence --------------------------------------------------------------
def test_consecutive_school_days_with_n_across_a_weekend():
    # N on Thu 6, Fri 7 and Mon 10 Nov; the register for Tue 11 Nov not yet taken
    marks = on(1, [D("2025-11-06"), D("2025-11-07")], "N") + on(1, [D("2025-11-10")], "N", ["AM"])
    marks += on(2, [D("2025-11-05"), D("2025-11-07"), D("2025-11-10")], "N")  # present Thu 6
    reg = register(GREAT_CHART, START, D("2025-11-11"), marks, marked_until=D("2025-11-10"),
                   pupils=[pupil(1), pupil(2), pupil(3)])
    found = {f.pupil_id: f for f in evaluate("unexplained_absence", reg, D("2025-11-11"))}
    assert set(found) == {1, 2}
    assert found[1].figures["consecutive_school_days"] == 3
    assert found[1].concern == "unexplained_absence:2025-11-06"
    assert len(found[1].evidence) == 5 and found[1].period == (D("2025-11-06"), D("2025-11-10"))
    assert "3 consecutive school days" in found[1].summary
    assert found[2].figures["consecutive_school_days"] == 2
    assert found[2].concern == "unexplained_absence:2025-11-07"
    assert evaluate("unexplained_absence", reg, D("2025-11-11"), min_consecutive_days=3)[0].pupil_id == 1


def test_a_pupil_back_in_school_is_no_longer_unexplained():
    marks = on(1, [D("2025-11-06"), D("2025-11-07")], "N")
    reg = register(GREAT_CHART, START, D("2025-11-10"), marks)
    assert evaluate("unexplained_absence", reg, D("2025-11-10")) == []
    assert len(evaluate("unexplained_absence", reg, D("2025-11-07"))) == 1


def test_an_inset_day_does_not_break_a_run():
    # Fri 17 Oct, then (half term, INSET Mon 27 Oct) Tue 28 Oct
    reg = register(GREAT_CHART, START, D("2025-10-28"), on(1, [D("2025-10-17"), D("2025-10-28")], "N"))
    [f] = evaluate("unexplained_absence", reg, D("2025-10-28"))
    assert f.figures["consecutive_school_days"] == 2


# -- sickness return ----------------------------------------------------------------------
@pytest.mark.parametrize("sessions, fires", [(29, False), (30, True)])
def test_sickness_return_at_exactly_fifteen_days(sessions, fires):
    days = GREAT_CHART.school_days(D("2025-11-03"), D("2025-12-19"))
    marks = on(1, days[: sessions // 2], "I") + on(1, days[sessions // 2 : sessions // 2 + sessions % 2], "I", ["AM"])
    marks += on(1, days[20:25], "M")  # medical appointments are not illness
    reg = register(GREAT_CHART, START, D("2025-12-19"), marks)
    found = evaluate("sickness_return", reg, D("2025-12-19"))
    assert bool(found) is fires
    if fires:
        [f] = found
        assert f.figures["illness_sessions"] == 30 and f.figures["illness_days"] == 15
        assert "15 school days" in f.summary and "local authority" in f.summary
        assert f.concern == "sickness_return:2025-26" and f.formal is True
        assert {c for _, _, c in f.evidence} == {"I"} and len(f.evidence) == 30


def test_sickness_return_counts_the_school_year_only():
    from test_rules_helpers import DEMO

    marks = on(1, DEMO.school_days(D("2026-07-01"), D("2026-07-22"))[:10], "I")
    marks += on(1, DEMO.school_days(D("2026-09-02"), D("2026-10-16"))[:10], "I")
    reg = register(DEMO, D("2026-06-01"), D("2026-10-16"), marks)
    assert evaluate("sickness_return", reg, D("2026-10-16"), cal=DEMO) == []
    assert len(evaluate("sickness_return", reg, D("2026-10-16"), cal=DEMO, days=10)) == 1


# -- medical evidence ---------------------------------------------------------------------
def test_three_separate_occasions():
    marks = on(1, [D("2025-09-10")], "I") + on(1, [D("2025-09-24")], "I", ["PM"])
    reg2 = register(GREAT_CHART, START, D("2025-10-17"), marks)
    assert evaluate("medical_evidence", reg2, D("2025-10-17")) == []
    reg3 = register(GREAT_CHART, START, D("2025-10-17"), marks + on(1, [D("2025-10-08")], "I"))
    [f] = evaluate("medical_evidence", reg3, D("2025-10-17"))
    assert f.figures["occasions"] == 3 and f.figures["longest_run_days"] == 1
    assert "3 separate occasions" in f.summary and f.concern == "medical_evidence:2025-26"
    assert len(f.evidence) == 5


def test_friday_and_monday_are_one_occasion():
    marks = on(1, [D("2025-09-12"), D("2025-09-15")], "I") + on(1, [D("2025-10-08")], "I")
    reg = register(GREAT_CHART, START, D("2025-10-17"), marks)
    assert evaluate("medical_evidence", reg, D("2025-10-17")) == []
    [f] = evaluate("medical_evidence", reg, D("2025-10-17"), occasions=2)
    assert f.figures["spells"][0] == {"start": D("2025-09-12"), "end": D("2025-09-15"), "school_days": 2}


@pytest.mark.parametrize("n, fires", [(4, False), (5, True)])
def test_consecutive_days_of_illness(n, fires):
    days = GREAT_CHART.school_days(D("2025-09-18"), D("2025-10-17"))[:n]  # Thu 18 Sep onwards
    reg = register(GREAT_CHART, START, D("2025-10-17"), on(1, days, "I"))
    found = evaluate("medical_evidence", reg, D("2025-10-17"))
    assert bool(found) is fires
    if fires:
        assert "5 consecutive school days ill from Thu 18 Sep 2025 to Wed 24 Sep 2025" in found[0].summary
    assert evaluate("medical_evidence", reg, D("2025-10-17"), consecutive_days=None, occasions=2) == []


# -- Travellers -----------------------------------------------------------------------------
def test_traveller_t_sessions_and_projection():
    year = GREAT_CHART.school_days(START, D("2026-08-31"))
    assert len(year) == 190
    pupils = [pupil(1, traveller=True), pupil(2, traveller=True), pupil(3), pupil(4, traveller=True)]
    marks = on(1, year[:90], "T") + on(1, [year[90]], "T", ["AM"])  # 181
    marks += on(2, year[:90], "T")  # 180
    marks += on(3, year[:91], "T")  # not flagged as a Traveller
    reg = register(GREAT_CHART, START, D("2026-07-17"), marks, pupils=pupils)
    found = {f.pupil_id: f for f in evaluate("traveller_sessions", reg, D("2026-07-17"))}
    assert set(found) == {1}
    f = found[1]
    assert f.figures["t_sessions"] == 181 and f.figures["too_many_t"]
    assert f.figures["attended_sessions"] == 199 and f.figures["projected_short"]
    assert "181 sessions of Traveller absence" in f.summary and "under the 200 expected" in f.summary
    # mid-year: pupil 2 has attended nothing yet of 160 possible, so the projection falls short
    found = {f.pupil_id: f for f in evaluate("traveller_sessions", reg, D("2026-01-16"))}
    assert set(found) == {1, 2} and not found[2].figures["too_many_t"]
    assert found[2].figures["projected_short"]


# -- leave refused, taken --------------------------------------------------------------------
def test_holiday_not_granted_within_the_window():
    marks = on(1, [D("2025-09-22"), D("2025-09-23")], "G")
    marks += on(1, GREAT_CHART.school_days(D("2025-11-17"), D("2025-11-21")), "G")
    reg = register(GREAT_CHART, START, D("2025-12-19"), marks, pupils=[pupil(1), pupil(2)])
    [f] = evaluate("leave_refused_taken", reg, D("2025-11-28"))
    assert f.formal is True and f.figures["g_sessions"] == 14 and f.figures["runs"] == 2
    assert f.concern == "leave_refused_taken:2025-11-17"
    assert f.figures["latest_run_school_days"] == 5
    assert "14 sessions of holiday not granted" in f.summary
    # 10 school weeks from the week of 8 Dec start on 29 Sep: the September days are out
    [g] = evaluate("leave_refused_taken", reg, D("2025-12-08"))
    assert g.figures["g_sessions"] == 10 and g.concern == f.concern
    assert evaluate("leave_refused_taken", reg, D("2025-12-08"), school_weeks=11)[0].figures["g_sessions"] == 14
    # before the November holiday, the September one is the concern
    [h] = evaluate("leave_refused_taken", reg, D("2025-11-14"))
    assert h.concern == "leave_refused_taken:2025-09-22" and h.figures["g_sessions"] == 4
    assert evaluate("leave_refused_taken", reg, D("2025-09-19")) == []
    assert evaluate("leave_refused_taken", reg, D("2025-11-28"), min_sessions=15) == []


# -- stale N ------------------------------------------------------------------------------------
@pytest.mark.parametrize("as_of, stale", [
    ("2025-11-10", False),  # Mon: the 5th school day after Mon 3 Nov, still in time
    ("2025-11-11", True),
])
def test_n_is_stale_after_five_school_days(as_of, stale):
    reg = register(GREAT_CHART, START, D(as_of), on(1, [D("2025-11-03")], "N", ["AM"]))
    found = evaluate("stale_n", reg, D(as_of))
    assert bool(found) is stale
    if stale:
        assert found[0].evidence == [(D("2025-11-03"), "AM", "N")]
        assert found[0].figures["oldest_deadline"] == D("2025-11-10")
        assert "Mon 3 Nov 2025" in found[0].summary and found[0].concern == "stale_n"


def test_stale_n_counts_school_days_over_the_half_term():
    # Thu 16 Oct: then Fri 17, Tue 28 (INSET Mon 27), Wed 29, Thu 30, Fri 31 Oct
    reg = register(GREAT_CHART, START, D("2025-11-03"), on(1, [D("2025-10-16")], "N", ["PM"]))
    assert evaluate("stale_n", reg, D("2025-10-31")) == []
    assert len(evaluate("stale_n", reg, D("2025-11-01"))) == 1
    assert len(evaluate("stale_n", reg, D("2025-11-03"))) == 1


# -- weekday pattern -----------------------------------------------------------------------------
FRIDAYS = [D(x) for x in ("2025-11-07", "2025-11-14", "2025-11-21", "2025-11-28")]


def test_every_friday():
    marks = on(1, FRIDAYS, "I") + on(1, [D("2025-11-12")], "O", ["AM"])
    marks += on(2, FRIDAYS[:3], "I")  # 3 Fridays: not enough
    marks += on(3, FRIDAYS, "I") + on(3, GREAT_CHART.school_days(D("2025-11-03"), D("2025-11-06")) + [D("2025-11-10")], "I")  # 4 of 9
    reg = register(GREAT_CHART, START, D("2025-11-28"), marks, pupils=[pupil(1), pupil(2), pupil(3)])
    [f] = evaluate("weekday_pattern", reg, D("2025-11-28"))
    assert f.pupil_id == 1 and f.concern == "weekday_pattern:friday"
    assert f.figures["weekday_days"] == 4 and f.figures["all_days"] == 5 and f.figures["share"] == 0.8
    assert {d for d, _, _ in f.evidence} == set(FRIDAYS) and len(f.evidence) == 8
    assert "4 of the 12 Fridays" in f.summary


def test_a_late_pattern_with_late_codes():
    marks = on(1, FRIDAYS, "L", ["AM"])
    reg = register(GREAT_CHART, START, D("2025-11-28"), marks)
    assert evaluate("weekday_pattern", reg, D("2025-11-28")) == []
    [f] = evaluate("weekday_pattern", reg, D("2025-11-28"), codes=["L", "U"])
    assert f.figures["weekday"] == "Friday"
    # outside the last 3 school weeks only 3 Fridays remain
    assert evaluate("weekday_pattern", reg, D("2025-11-28"), codes=["L", "U"], school_weeks=3) == []


# -- absent today ------------------------------------------------------------------------------
def test_absent_on_the_latest_register_taken():
    marks = on(1, [D("2025-11-10")], "I", ["PM"]) + on(2, [D("2025-11-07")], "O") + on(3, [D("2025-11-10")], "L")
    reg = register(GREAT_CHART, START, D("2025-11-11"), marks, marked_until=D("2025-11-10"),
                   pupils=[pupil(1), pupil(2), pupil(3)])
    [f] = evaluate("absent_today", reg, D("2025-11-11"))  # Tue's register not yet taken: Mon counts
    assert f.pupil_id == 1 and f.concern == "absent_today:2025-11-10"
    assert f.evidence == [(D("2025-11-10"), "PM", "I")]
    assert [g.pupil_id for g in evaluate("absent_today", reg, D("2025-11-07"))] == [2]
    assert evaluate("absent_today", reg, D("2025-11-11"), codes=["O"]) == []
