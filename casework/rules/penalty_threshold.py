"""``penalty_threshold``: the national threshold for a penalty notice (docs/domain.md §2).

At least ``sessions`` (10) sessions of unauthorised absence — every code
``casework.register.codes`` counts as unauthorised: ``G``, ``O``, ``U`` and an ``N`` not yet
resolved — within a rolling period of ``school_weeks`` (10) *school* weeks. A week with
no session (half terms, holidays) is not a school week and does not count, so the
window spans half terms, terms and school years. Any combination of codes counts,
consecutive or spread out.

As of a date D the rule looks at the window of 10 school weeks ending with the school
week holding D (with ``lookback_school_weeks`` = k, also the windows ending in the k
school weeks before it). When one meets the threshold it reports the first window of
that unbroken run of windows meeting it — the point at which the threshold was met —
with exactly the qualifying sessions in it as evidence. The concern key carries that
window's first day, so the same episode keeps one key from week to week.

Meeting the threshold is the legal condition for a notice to improve or a penalty
notice; issuing either is for the headteacher (or someone they authorise) to decide, so
the finding is ``formal`` and takes no step itself.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter

import numpy as np
from pydantic import Field

from casework.register import codes as C
from casework.register.calendar import SchoolCalendar

from .base import Rule, RuleParams, weeks_back
from .findings import Finding, fmt_date, plural
from .register_data import RegisterMatrix

RULE_ID = "penalty_threshold"
QUALIFYING_CODES = C.UNAUTHORISED_CODES


class Params(RuleParams):
    sessions: int = Field(10, ge=1, description="Sessions of unauthorised absence (G, O, U, unresolved N) "
                          "that meet the threshold. National framework: 10.")
    school_weeks: int = Field(10, ge=1, le=52, description="Length of the rolling period in school weeks "
                              "(weeks without a session are skipped). National framework: 10.")
    lookback_school_weeks: int = Field(0, ge=0, le=52, description="Also consider windows ending this many "
                                       "school weeks before the week of the evaluation date (0 = only the "
                                       "window ending this week). Useful when evaluation runs less than weekly.")
    decision: str = Field("A notice to improve or a penalty notice is for the headteacher to decide.",
                          description="Who decides what follows. Filled from the workflow's penalties.route "
                          "and amounts (a school route or a named LA team); give it only to word it yourself.")


def weekly_counts(reg: RegisterMatrix, codes, as_of: dt.date) -> tuple[np.ndarray, slice]:
    """(P, W) counts of marks in ``codes`` per loaded school week, up to ``as_of``."""
    cols = reg.slot_slice(None, as_of)
    n_weeks = reg.week_index(as_of) + 1
    if n_weeks <= 0 or cols.stop == 0:
        return np.zeros((reg.n_pupils, 0), dtype=np.int32), cols
    m = reg.mask(codes, cols).astype(np.int32)
    first = np.searchsorted(reg.slot_week[cols], np.arange(n_weeks), "left")
    return np.add.reduceat(m, first, axis=1), cols


def window_sums(weekly: np.ndarray, n: int) -> np.ndarray:
    """(P, W): the sum of the ``n`` weeks ending at each week (fewer at the start of the data)."""
    c = np.concatenate([np.zeros((weekly.shape[0], 1), dtype=np.int64), np.cumsum(weekly, axis=1)], axis=1)
    ends = np.arange(1, weekly.shape[1] + 1)
    starts = np.maximum(0, ends - n)
    return c[:, ends] - c[:, starts]


def evaluate(reg: RegisterMatrix, calendar: SchoolCalendar, params: Params, as_of: dt.date) -> list[Finding]:
    weekly, cols = weekly_counts(reg, QUALIFYING_CODES, as_of)
    n_weeks = weekly.shape[1]
    if n_weeks == 0:
        return []
    sums = window_sums(weekly, params.school_weeks)
    met = sums >= params.sessions
    lo = max(0, n_weeks - 1 - params.lookback_school_weeks)
    fire = met[:, lo:].any(axis=1)
    out = []
    for p in np.flatnonzero(fire):
        latest = lo + int(np.flatnonzero(met[p, lo:])[-1])
        first = latest
        while first > 0 and met[p, first - 1]:
            first -= 1
        w0 = max(0, first - params.school_weeks + 1)
        wcols = _week_cols(reg, w0, first, cols)
        evidence = reg.marks_where(p, QUALIFYING_CODES, wcols)
        start, end = evidence_period(reg, wcols)
        by_code = dict(sorted(Counter(c for _, _, c in evidence).items()))
        breakdown = ", ".join(f"{n} {c}" for c, n in by_code.items())
        figures = {
            "sessions": len(evidence),
            "by_code": by_code,
            "threshold_sessions": params.sessions,
            "threshold_school_weeks": params.school_weeks,
            "school_weeks_in_window": first - w0 + 1,
            "window_start": start,
            "window_end": end,
            "sessions_in_current_window": int(sums[p, n_weeks - 1]),
        }
        held = first - w0 + 1
        window = (f"the {params.school_weeks} school weeks" if held == params.school_weeks else
                  f"{plural(held, 'school week')} (within a rolling period of {params.school_weeks})")
        since = ""
        if first != n_weeks - 1:
            since = (f" The threshold has been met since then; the current {params.school_weeks} school weeks "
                     f"hold {plural(int(sums[p, n_weeks - 1]), 'such session')}.")
        out.append(reg.finding(p, RULE_ID, about=start, summary=(
                f"{plural(len(evidence), 'session')} of unauthorised absence ({breakdown}) in "
                f"{window} from {fmt_date(start)} to {fmt_date(end)}: the national "
                f"threshold for a penalty notice ({params.sessions} sessions in {params.school_weeks} school "
                f"weeks) is met. {params.decision}{since}"
            ),
            figures=figures, evidence=evidence, period=(start, end), level="threshold met", formal=True,
        ))
    return out


def _week_cols(reg: RegisterMatrix, w_first: int, w_last: int, cols: slice) -> slice:
    sw = reg.slot_week[cols]
    lo = int(np.searchsorted(sw, w_first, "left"))
    hi = int(np.searchsorted(sw, w_last, "right"))
    return slice(lo, hi)


def evidence_period(reg: RegisterMatrix, wcols: slice) -> tuple[dt.date, dt.date]:
    return reg.slots[wcols.start][0], reg.slots[wcols.stop - 1][0]


def reads_from(calendar: SchoolCalendar, params: Params, as_of: dt.date) -> dt.date:
    # the windows considered, and as many again so an episode's first window is seen
    return weeks_back(calendar, as_of, 2 * params.school_weeks + params.lookback_school_weeks)


RULE = Rule(RULE_ID, "National threshold for a penalty notice", Params, evaluate, reads_from, __doc__)
