"""Benchmark: a what-if for a 1,000-pupil school over a term.

    .venv/bin/python benchmarks/bench_whatif.py [--pupils 1000] [--from 2025-11-03 --to 2025-12-19]

Builds a throwaway school (the synthetic register of bench_rules.py on the demo calendar,
following the Staplehurst workflow; not timed), writes a copy of that workflow with its first
band moved from 95% to 96%, then times ``casework.jobs.whatif.whatif`` over the term (both
replays, day by day, on copies of the register) and prints the seconds and what it found.
Target: under 30 s.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.util
import os
import resource
import tempfile
import time
from pathlib import Path

from sqlmodel import Session

from casework.jobs.whatif import whatif
from casework.store.models import School

HERE = Path(__file__).resolve().parent
_spec = importlib.util.spec_from_file_location("bench_rules", HERE / "bench_rules.py")
bench_rules = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench_rules)

BAND_96 = """\
extends: staplehurst
name: Staplehurst School, first band at 96%
rules:
  attendance_band:
    bands:
      - {name: 90-95% - intervention letters, below_pct: 96}
      - {name: below 90% - referral to the in-house EWO, below_pct: 90}
"""


def _cpu() -> float:
    """CPU seconds used by this process and the worker processes it has waited for."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pupils", type=int, default=1000)
    ap.add_argument("--workers", type=int, default=1, help="1: one replay after the other; 2: side by side")
    ap.add_argument("--from", dest="start", default="2025-11-03", help="first day (default: Term 2 2025 begins)")
    ap.add_argument("--to", dest="end", default="2025-12-19", help="last day (default: Term 2 2025 ends)")
    args = ap.parse_args()
    start, end = dt.date.fromisoformat(args.start), dt.date.fromisoformat(args.end)
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        engine, sid, calendar, n_marks = bench_rules.build(Path(tmp) / "school.db", args.pupils)
        with Session(engine) as s:
            school = s.get(School, sid)
            school.workflow = "staplehurst"
            s.add(school)
            s.commit()
            urn = school.urn
        other = Path(tmp) / "staplehurst-96.yaml"
        other.write_text(BAND_96)
        built = time.perf_counter() - t0
        days = {"own": 0, "other": 0}
        t1, cpu0 = time.perf_counter(), _cpu()
        result = whatif(engine, urn, other, start, end, on_day=lambda label, d: days.__setitem__(label, days[label] + 1),
                        workers=args.workers)
        took, cpu = time.perf_counter() - t1, _cpu() - cpu0
    print(f"school: {args.pupils} pupils, {n_marks:,} marks (built in {built:.1f} s, not timed)")
    print(f"period: {start} to {end}, {len(calendar.school_days(start, end))} school days, "
          f"{days['own']} days replayed under each workflow")
    for label, own, oth in result.rows():
        print(f"  {label:<48} {own:>6} {oth:>6} {oth - own:>+6}")
    print(f"pupils who differ: {len(result.differing)}")
    print(f"what-if: {took:.1f} s wall, {cpu:.1f} s of CPU in all ({args.workers} worker(s); "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores) (target < 30 s)")


if __name__ == "__main__":
    main()
