"""Early warning on hand-made trajectories, on the real Great Chart (Kent) 2025-26 calendar:
a pupil whose attendance falls away is flagged weeks before persistent absence is reached;
pupils whose attendance is steady (at 100%, 95% and 91%) never are."""

from __future__ import annotations

import datetime as dt

from test_rules_helpers import GREAT_CHART, D, pupil, register_from_marks

from casework.rules import RULES
from casework.rules.early_warning import term_end

YEAR_START = D("2025-09-01")
AUTUMN2_START, AUTUMN2_END = D("2025-10-28"), D("2025-12-19")  # 27 Oct is a staff day
SESSIONS = GREAT_CHART.sessions(YEAR_START, AUTUMN2_END)


def trajectory(pid: int, missed) -> list:
    """Every session to the end of Autumn 2: ``missed(i, date)`` says which are absences (O)."""
    out = []
    for i, (d, s) in enumerate(SESSIONS):
        out.append((pid, d, s, "O" if missed(i, d) else ("/" if s == "AM" else "\\")))
    return out


DECLINING, STEADY_100, STEADY_95, STEADY_91, ALREADY_PA = 1, 2, 3, 4, 5
PUPILS = {
    # perfect in Autumn 1, then one session in four missed from Autumn 2
    DECLINING: lambda i, d: d >= AUTUMN2_START and i % 4 == 3,
    STEADY_100: lambda i, d: False,
    STEADY_95: lambda i, d: i % 20 == 19,
    STEADY_91: lambda i, d: i % 11 == 10,  # 90.9% all the way: just above the line, and stays there
    ALREADY_PA: lambda i, d: i % 5 == 2,  # 80%: already under the line, nothing to warn of
}
MARKS = [m for pid, f in PUPILS.items() for m in trajectory(pid, f)]


def register_until(day: dt.date):
    return register_from_marks(GREAT_CHART, YEAR_START, day, [pupil(p) for p in PUPILS],
                               [m for m in MARKS if m[1] <= day])


def run(rule: str, day: dt.date, **params):
    r = RULES[rule]
    return r.evaluate(register_until(day), GREAT_CHART, r.Params(**params), day)


def attendance(pid: int, day: dt.date) -> float:
    ms = [m for m in MARKS if m[0] == pid and m[1] <= day]
    return 100.0 * sum(m[3] != "O" for m in ms) / len(ms)


DAYS = GREAT_CHART.school_days(D("2025-10-01"), AUTUMN2_END)


def test_term_end_comes_from_the_calendar():
    assert term_end(GREAT_CHART, D("2025-11-12")) == AUTUMN2_END
    assert term_end(GREAT_CHART, D("2025-10-22")) == AUTUMN2_END  # half-term holiday: the coming term
    assert term_end(GREAT_CHART, D("2025-10-01")) == D("2025-10-17")
    assert term_end(GREAT_CHART, D("2026-07-17")) == D("2026-07-17")  # last two days are staff days


def test_the_declining_pupil_is_flagged_weeks_before_persistent_absence_and_the_steady_ones_never():
    flagged: dict[int, list[dt.date]] = {p: [] for p in PUPILS}
    first_pa = None
    for day in DAYS:
        for f in run("early_warning", day, persistent_absence_pct=10):
            flagged[f.pupil_id].append(day)
        if first_pa is None and any(f.pupil_id == DECLINING for f in run("persistent_absence", day, pct=10)):
            first_pa = day
    assert flagged[STEADY_100] == flagged[STEADY_95] == flagged[STEADY_91] == flagged[ALREADY_PA] == []
    assert first_pa is not None and flagged[DECLINING]
    first_flag = flagged[DECLINING][0]
    lead = len(GREAT_CHART.school_days(first_flag, first_pa)) - 1
    assert lead >= 10, (first_flag, first_pa)  # two school weeks' notice or more
    assert attendance(DECLINING, first_flag) >= 90.0  # nothing was met when it was flagged
    # once flagged, it stays flagged until the line is actually crossed
    until_pa = [d for d in DAYS if first_flag <= d < first_pa]
    assert flagged[DECLINING][: len(until_pa)] == until_pa


def test_the_finding_states_the_projection_its_basis_and_a_confidence():
    day = D("2025-11-21")
    [f] = run("early_warning", day, persistent_absence_pct=10)
    g = f.figures
    assert f.pupil_id == DECLINING and f.level == "persistent absence" and not f.formal
    # basis: the last 4 school weeks (27 Oct to 21 Nov; 27 Oct a staff day): one session in four missed
    assert g["basis_from"] == D("2025-10-27") and g["basis_school_weeks"] == 4
    basis = [m for m in MARKS if m[0] == DECLINING and D("2025-10-27") <= m[1] <= day]
    assert g["basis_possible_sessions"] == len(basis) == 38
    assert g["basis_attended_sessions"] == sum(m[3] != "O" for m in basis)
    # the projection: the year so far plus the basis rate over every session left in the term
    year = [m for m in MARKS if m[0] == DECLINING and m[1] <= day]
    left = GREAT_CHART.session_count(day + dt.timedelta(days=1), AUTUMN2_END)
    rate = g["basis_attended_sessions"] / g["basis_possible_sessions"]
    expected = 100 * (sum(m[3] != "O" for m in year) + rate * left) / (len(year) + left)
    assert g["remaining_sessions"] == left and g["term_end"] == AUTUMN2_END
    assert abs(g["projected_pct"] - expected) < 0.01 and g["projected_pct"] < 90 <= g["attendance_pct"]
    # when the line would be crossed at that rate: before the term ends, and when it really was
    assert day < g["crossing_date"] < AUTUMN2_END
    first_pa = next(d for d in DAYS if d > day and any(
        x.pupil_id == DECLINING for x in run("persistent_absence", d, pct=10)))
    assert abs(len(GREAT_CHART.school_days(min(first_pa, g["crossing_date"]),
                                           max(first_pa, g["crossing_date"]))) - 1) <= 2
    assert g["confidence"] == "high"  # every basis week under 90%, and well under the line by term's end
    assert "by the end of term on Fri 19 Dec 2025" in f.summary and "Confidence: high" in f.summary
    assert "over the last 4 school weeks" in f.summary


def test_a_school_band_is_a_line_too():
    # a 94% band: the steady 95% pupil stays above it
    bands = [{"name": "under 94%: letters", "below_pct": 94}]
    day = D("2025-11-21")
    found = run("early_warning", day, persistent_absence_pct=10, bands=bands)
    assert {f.pupil_id for f in found} == {DECLINING}
    # the declining pupil crosses 94% before 90%: the most serious line crossed is the one reported
    assert [f.level for f in found] == ["persistent absence"]
    early = run("early_warning", D("2025-11-05"), persistent_absence_pct=10, bands=bands)
    assert [(f.pupil_id, f.level) for f in early] == [(DECLINING, "under 94%: letters")]
    # without the school's bands, only the persistent absence line is watched
    assert run("early_warning", D("2025-11-05"), persistent_absence_pct=10, bands=bands, school_bands=False) == []


def test_a_single_bad_week_is_low_confidence():
    # present every session, except half of the week of 17 Nov
    marks = trajectory(9, lambda i, d: D("2025-11-17") <= d <= D("2025-11-21") and i % 2 == 0)
    reg = register_from_marks(GREAT_CHART, YEAR_START, D("2025-11-21"), [pupil(9)], [m for m in marks if m[1] <= D("2025-11-21")])
    r = RULES["early_warning"]

    def confidence(weeks):
        p = r.Params(persistent_absence_pct=10, school_weeks=weeks, min_basis_sessions=10)
        return [f.figures["confidence"] for f in r.evaluate(reg, GREAT_CHART, p, D("2025-11-21"))]

    assert confidence(1) == ["low"]  # a basis of that one week projects far under the line, but it is one week
    assert confidence(2) == ["low"]
    assert confidence(4) == []  # over four weeks the bad one does not take the projection under 90%


def test_two_bad_weeks_of_four_are_medium_confidence_as_the_workflow_sets_it():
    # present every session, except half of the weeks of 10 and 17 Nov: 2 of the 4 basis weeks under 90%
    marks = trajectory(9, lambda i, d: D("2025-11-10") <= d <= D("2025-11-21") and i % 2 == 0)
    reg = register_from_marks(GREAT_CHART, YEAR_START, D("2025-11-21"), [pupil(9)], [m for m in marks if m[1] <= D("2025-11-21")])
    r = RULES["early_warning"]

    def confidence(**params):
        p = r.Params(persistent_absence_pct=10, **params)
        return [f.figures["confidence"] for f in r.evaluate(reg, GREAT_CHART, p, D("2025-11-21"))]

    assert confidence() == ["medium"]  # national.yaml's defaults: 2 weeks, half of them
    assert confidence(medium_min_weeks=3) == ["low"]
    assert confidence(medium_share_of_weeks=0.75) == ["low"]
    assert confidence(high_min_weeks=2, high_share_of_weeks=0.5, high_margin_points=0.0) == ["high"]
