"""Benchmark: load a 2,000-pupil school's year of marks and evaluate every rule.

    .venv/bin/python benchmarks/bench_rules.py [--pupils 2000] [--db PATH]

Builds a throwaway SQLite database (bulk inserts, not timed), then times
``load_register`` and ``evaluate_all`` of every rule with realistic settings, and
prints the seconds for each and the peak memory they allocated. Target: under 2 s.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import gc
import resource
import tempfile
import time
import tracemalloc
from collections import Counter
from pathlib import Path

import numpy as np
from sqlalchemy import insert

from casework.register.calendar import CalendarEntry, SchoolCalendar
from casework.rules import RULES, evaluate_all, evaluation_start, load_register
from casework.store.db import make_engine, session_scope
from casework.store.models import CalendarDay, Pupil, School

CALENDAR_CSV = Path(__file__).resolve().parent.parent / "casework" / "data" / "demo-calendar.csv"

CONFIG = {
    "attendance_band": {"bands": [{"name": "office investigates", "below_pct": 95},
                                  {"name": "intervention letters", "below_pct": 90},
                                  {"name": "referral to the EWO", "below_pct": 85}]},
    "persistent_absence": {"pct": 10},
    "severe_absence": {"pct": 50},
    "penalty_threshold": {"sessions": 10, "school_weeks": 10, "lookback_school_weeks": 2},
    "lateness": {"count": 5, "codes": ["L"], "per": "half_term"},
    "unexplained_absence": {"min_consecutive_days": 1},
    "sickness_return": {"days": 15},
    "medical_evidence": {"occasions": 3, "consecutive_days": 5},
    "traveller_sessions": {"max_t_sessions": 180, "expected_sessions": 200},
    "leave_refused_taken": {"school_weeks": 10, "min_sessions": 1},
    "stale_n": {"school_days": 5},
    "weekday_pattern": {"school_weeks": 12, "min_absences": 4, "share": 0.5},
}


def read_calendar() -> list[CalendarEntry]:
    with CALENDAR_CSV.open() as f:
        return [CalendarEntry(dt.date.fromisoformat(r["start"]), dt.date.fromisoformat(r["end"]), r["kind"],
                              r["label"]) for r in csv.DictReader(f)]


def synthetic_codes(rng: np.random.Generator, n_pupils: int, slots: list[tuple[dt.date, str]]) -> np.ndarray:
    """A believable spread: most pupils present, some lates, illness spells, holidays, N, U."""
    S = len(slots)
    present = np.array(["/" if s == "AM" else "\\" for _, s in slots], dtype=object)
    out = np.tile(present, (n_pupils, 1))
    # lates, unauthorised lates and odd absences scattered
    for code, p in (("L", 0.02), ("U", 0.004), ("O", 0.003), ("M", 0.004), ("N", 0.002), ("C", 0.002)):
        out[rng.random((n_pupils, S)) < p] = code
    # illness spells: 0-4 per pupil, 1-6 days each
    n_days = S // 2
    for pupil in range(n_pupils):
        for _ in range(rng.poisson(1.5)):
            start = int(rng.integers(0, n_days)) * 2
            out[pupil, start : min(S, start + 2 * int(rng.integers(1, 7)))] = "I"
    # term-time holidays for 8 % of pupils: 5-10 days of G
    for pupil in rng.choice(n_pupils, n_pupils * 8 // 100, replace=False):
        start = int(rng.integers(0, n_days - 10)) * 2
        out[pupil, start : start + 2 * int(rng.integers(5, 11))] = "G"
    # persistent absentees: 6 % miss a day a week at random, 1 % miss half the time
    for pupil in rng.choice(n_pupils, n_pupils * 6 // 100, replace=False):
        out[pupil, rng.random(S) < 0.12] = "O"
    for pupil in rng.choice(n_pupils, n_pupils // 100, replace=False):
        out[pupil, rng.random(S) < 0.5] = "N"
    # Friday pattern for 1 %
    fridays = np.array([d.weekday() == 4 for d, _ in slots])
    for pupil in rng.choice(n_pupils, n_pupils // 100, replace=False):
        out[pupil, fridays & (rng.random(S) < 0.8)] = "I"
    return out


def build(db_path: Path, n_pupils: int, seed: int = 7):
    engine = make_engine(f"sqlite:///{db_path}")
    entries = read_calendar()
    calendar = SchoolCalendar(entries)
    year_start, year_end = dt.date(2025, 9, 1), dt.date(2026, 7, 31)
    slots = calendar.sessions(year_start, year_end)
    rng = np.random.default_rng(seed)
    with session_scope(engine) as s:
        school = School(urn="999100", name="Benchmark Academy")
        s.add(school)
        s.flush()
        sid = school.id
        for e in entries:
            s.add(CalendarDay(school_id=sid, start=e.start, end=e.end, kind=e.kind, label=e.label))
        conn = s.connection()
        conn.execute(insert(Pupil.__table__), [
            dict(school_id=sid, upn=f"B{sid:03d}{i:09d}", forename=f"Pupil{i}", surname="Bench",
                 date_of_birth=dt.date(2015, 1, 1), year_group=i % 7, fsm=False, pupil_premium=False,
                 send=False, ehc_plan=False, eal=False, social_worker=False, child_in_need=False,
                 child_protection_plan=False, looked_after=False, young_carer=False,
                 traveller=(i % 100 == 0), on_roll=True)
            for i in range(n_pupils)
        ])
        pupil_ids = [r[0] for r in conn.exec_driver_sql(
            "SELECT id FROM pupil WHERE school_id = ? ORDER BY id", (sid,))]
    codes = synthetic_codes(rng, n_pupils, slots)
    for i in range(0, n_pupils, 100):  # traveller families away in the autumn
        codes[i, 40:240] = "T"
    stamp = "2025-09-01 09:00:00.000000"
    slot_text = [(d.isoformat(), sess) for d, sess in slots]
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        for pi, pid in enumerate(pupil_ids):
            cur.executemany(
                "INSERT INTO mark (school_id, pupil_id, date, session, code, minutes_late, recorded_by, "
                "recorded_at) VALUES (?, ?, ?, ?, ?, NULL, '', ?)",
                [(sid, pid, d, sess, codes[pi, si], stamp) for si, (d, sess) in enumerate(slot_text)],
            )
        raw.commit()
    finally:
        raw.close()
    return engine, sid, calendar, len(pupil_ids) * len(slots)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pupils", type=int, default=2000)
    ap.add_argument("--as-of", default="2026-07-17", help="evaluation date (default: the last week of the year)")
    ap.add_argument("--db", help="SQLite file to build (default: a temporary one)")
    args = ap.parse_args()
    as_of = dt.date.fromisoformat(args.as_of)
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(args.db) if args.db else Path(tmp) / "bench.db"
        t0 = time.perf_counter()
        engine, sid, calendar, n_marks = build(db, args.pupils)
        print(f"built {args.pupils} pupils, {n_marks:,} marks in {time.perf_counter() - t0:.1f} s (not timed)")

        start = evaluation_start(calendar, CONFIG, as_of)
        gc.collect()
        with engine.connect() as conn:  # timed pass
            t1 = time.perf_counter()
            reg = load_register(conn, sid, calendar, start, as_of)
            t2 = time.perf_counter()
        t3 = time.perf_counter()
        findings = evaluate_all(reg, calendar, CONFIG, as_of)
        t4 = time.perf_counter()
        del reg
        gc.collect()
        tracemalloc.start()  # memory pass (tracemalloc slows allocation, so not timed)
        with engine.connect() as conn:
            reg = load_register(conn, sid, calendar, start, as_of)
        _, peak_load = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        evaluate_all(reg, calendar, CONFIG, as_of)
        _, peak_eval = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

        per_rule = {}
        for rid in CONFIG:
            r0 = time.perf_counter()
            RULES[rid].evaluate(reg, calendar, RULES[rid].Params.model_validate(CONFIG[rid]), as_of)
            per_rule[rid] = time.perf_counter() - r0
        engine.dispose()

    print(f"register {reg.n_pupils} pupils x {reg.n_slots} sessions from {start} to {as_of} "
          f"({int((reg.codes >= 0).sum()):,} marks)")
    print(f"load_register : {t2 - t1:.3f} s   peak memory {peak_load / 2**20:.1f} MiB")
    print(f"evaluate_all  : {t4 - t3:.3f} s   peak memory {peak_eval / 2**20:.1f} MiB   "
          f"({len(findings)} findings)")
    print(f"total         : {t2 - t1 + t4 - t3:.3f} s (target < 2 s); process peak RSS {rss:.0f} MiB "
          "(includes building the database)")
    counts = Counter(f.rule for f in findings)
    for rid in CONFIG:
        print(f"  {rid:22s} {counts.get(rid, 0):5d} findings  {per_rule[rid] * 1000:7.1f} ms")


if __name__ == "__main__":
    main()
