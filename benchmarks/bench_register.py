"""Benchmark: a year of marks for a 1,000-pupil school, imported and counted.

    .venv/bin/python benchmarks/bench_register.py [--pupils 1000] [--postgres postgresql://...]

Generates, in a temporary directory, a school on Great Chart's real 2025-26 calendar
(190 days, 380 sessions), N pupils and a marks CSV of N x 380 rows, then times:

- ``import_marks`` of the whole file into an empty register (targets: < 10 s for 380,000 rows);
- re-importing the same file (every row unchanged);
- whole-school statistics, ``pupil_figures`` for the year (target: < 1 s), and the group breakdown.

It prints seconds, rows per second and peak memory (the process's peak resident set, and
with --tracemalloc the peak of Python allocations during the import, which slows it down).
Not a test: nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import os
import random
import resource
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from casework.clock import LONDON, FixedClock  # noqa: E402
from casework.figures.stats import breakdown, pupil_figures, pupil_flags  # noqa: E402
from casework.register.importer import import_calendar, import_marks, import_pupils  # noqa: E402
from casework.register.schools import add_school  # noqa: E402
from casework.register.store import get_school, load_calendar  # noqa: E402
from casework.register.upn import make_upn  # noqa: E402
from casework.store.db import make_engine, session_scope  # noqa: E402

CALENDAR = ROOT / "tests" / "data" / "kent-great-chart-2025-26.csv"
URN = "118000"
# A believable spread of codes: mostly present, some illness, lates, holidays, unauthorised.
CODES = ["/"] * 900 + ["L"] * 20 + ["I"] * 35 + ["M"] * 5 + ["G"] * 10 + ["O"] * 10 + ["U"] * 5 + ["N"] * 2 + \
        ["V"] * 5 + ["C"] * 3 + ["E"] * 1 + ["B"] * 2 + ["X"] * 2


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kilobytes on Linux


def generate(out: Path, pupils: int, seed: int = 2026) -> tuple[Path, Path, int]:
    from casework.register.calendar import CalendarEntry, SchoolCalendar

    rng = random.Random(seed)
    with CALENDAR.open(newline="") as f:
        cal = SchoolCalendar([CalendarEntry(dt.date.fromisoformat(r["start"]), dt.date.fromisoformat(r["end"]),
                                            r["kind"], r["label"]) for r in csv.DictReader(f)])
    sessions = cal.sessions(dt.date(2025, 9, 1), dt.date(2026, 8, 31))
    upns = [make_upn(886, 3000 + i // 1000, 2018, i % 1000) for i in range(pupils)]
    pupils_csv = out / "pupils.csv"
    with pupils_csv.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["upn", "forename", "surname", "date_of_birth", "year_group", "fsm", "send"])
        for i, upn in enumerate(upns):
            w.writerow([upn, f"Child{i}", "Bench", "2016-05-01", 1 + i % 6, "Y" if i % 5 == 0 else "N",
                        "Y" if i % 7 == 0 else "N"])
    marks_csv = out / "marks.csv"
    n = 0
    with marks_csv.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["upn", "date", "session", "code", "minutes_late"])
        for upn in upns:
            for day, sess in sessions:
                code = rng.choice(CODES)
                if code == "/" and sess == "PM":
                    code = "\\"
                minutes = rng.randrange(1, 25) if code == "L" else rng.randrange(31, 60) if code == "U" else ""
                w.writerow([upn, day.isoformat(), sess, code, minutes])
                n += 1
    return pupils_csv, marks_csv, n


def bench(url: str, label: str, pupils_csv: Path, marks_csv: Path, rows: int, use_tracemalloc: bool) -> dict:
    engine = make_engine(url)
    clock = FixedClock(dt.datetime(2026, 7, 22, 18, 0, tzinfo=LONDON))
    with session_scope(engine) as s:
        school = add_school(s, urn=URN, name="Benchmark Primary")
        import_calendar(s, school, CALENDAR, clock=clock)
        import_pupils(s, school, pupils_csv, clock=clock)
    out: dict = {"database": label}

    if use_tracemalloc:
        tracemalloc.start()
    t = time.perf_counter()
    with session_scope(engine) as s:
        result = import_marks(s, get_school(s, URN), marks_csv, clock=clock)
    out["import_s"] = time.perf_counter() - t
    if use_tracemalloc:
        out["import_python_peak_mb"] = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
    assert result.added == rows, result.as_dict()
    out["import_rows_per_s"] = rows / out["import_s"]
    out["peak_rss_after_import_mb"] = peak_rss_mb()

    t = time.perf_counter()
    with session_scope(engine) as s:
        again = import_marks(s, get_school(s, URN), marks_csv, clock=clock)
    out["reimport_unchanged_s"] = time.perf_counter() - t
    assert again.unchanged == rows and again.added == again.changed == 0

    with session_scope(engine) as s:
        school = get_school(s, URN)
        cal = load_calendar(s, school.id)
        start, end = cal.first_day, cal.last_day
        t = time.perf_counter()
        figures = pupil_figures(s, school.id, start, end)
        out["stats_s"] = time.perf_counter() - t
        t = time.perf_counter()
        groups = breakdown(figures, pupil_flags(s, school.id))
        out["breakdown_s"] = time.perf_counter() - t
    whole = groups[0]
    assert sum(f.figures.possible_sessions + f.figures.not_possible for f in figures) == rows
    out["whole_school"] = (f"{whole.pupils} pupils, attendance {whole.figures.attendance_pct:.2f} %, "
                           f"PA {whole.persistent_absentees}, SA {whole.severe_absentees}")
    out["peak_rss_mb"] = peak_rss_mb()
    engine.dispose()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pupils", type=int, default=1000)
    ap.add_argument("--postgres", default=None, help="Also run on this (empty) PostgreSQL database URL.")
    ap.add_argument("--tracemalloc", action="store_true", help="Measure the import's peak Python allocations (slower).")
    args = ap.parse_args()
    os.environ.setdefault("CASEWORK_NO_PROGRESS", "1")

    with tempfile.TemporaryDirectory(prefix="casework-bench-") as tmp:
        out = Path(tmp)
        t = time.perf_counter()
        pupils_csv, marks_csv, rows = generate(out, args.pupils)
        print(f"generated {args.pupils:,} pupils and {rows:,} marks ({marks_csv.stat().st_size / 2**20:.1f} MiB CSV) "
              f"in {time.perf_counter() - t:.1f} s; {os.cpu_count()} CPU(s), Python {sys.version.split()[0]}")
        runs = [("SQLite", f"sqlite:///{out / 'bench.db'}")]
        if args.postgres:
            runs.append(("PostgreSQL", args.postgres))
        for label, url in runs:
            r = bench(url, label, pupils_csv, marks_csv, rows, args.tracemalloc)
            print(f"\n{label}")
            print(f"  import {rows:,} marks        {r['import_s']:7.2f} s  ({r['import_rows_per_s']:,.0f} rows/s; target < 10 s)")
            if "import_python_peak_mb" in r:
                print(f"  import peak Python memory  {r['import_python_peak_mb']:7.1f} MiB (tracemalloc)")
            print(f"  re-import, all unchanged   {r['reimport_unchanged_s']:7.2f} s")
            print(f"  whole-school statistics    {r['stats_s']:7.2f} s  (target < 1 s)")
            print(f"  group breakdown            {r['breakdown_s']:7.3f} s")
            print(f"  peak RSS after import      {r['peak_rss_after_import_mb']:7.0f} MiB; at the end {r['peak_rss_mb']:.0f} MiB")
            print(f"  {r['whole_school']}")


if __name__ == "__main__":
    main()
