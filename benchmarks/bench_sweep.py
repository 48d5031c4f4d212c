"""Benchmark: the deadline sweep with many timers due at once, on SQLite and PostgreSQL.

    .venv/bin/python benchmarks/bench_sweep.py --timers 100000 --db both

Builds a small LA with ``la_generator`` (``--pupils``, default 2,000), runs the first night so
cases are open, then hangs ``--timers`` deadlines on those cases (a review after a letter: a
notification to the office and a proposed meeting), all due, and times one
``casework.timers.sweep``. ``--sweepers 2`` runs two sweeps at once (threads, each with its own
engine and connections: they share the work, not the GIL) and checks no timer was lapsed twice.
Nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from pathlib import Path

from sqlalchemy import func, select

sys.path.insert(0, str(Path(__file__).resolve().parent))

import la_generator as gen  # noqa: E402
import la_scale  # noqa: E402
from pg_throwaway import throwaway_postgres  # noqa: E402

from casework.store.casemodels import Notification, Timer  # noqa: E402
from casework.store.db import make_engine, session_scope  # noqa: E402
from casework.timers import sweep  # noqa: E402


def concurrent_sweeps(url: str, n: int, clock) -> tuple[float, list]:
    engines = [make_engine(url) for _ in range(n)]
    reports: list = [None] * n

    def one(k: int) -> None:
        reports[k] = sweep(engines[k], clock, worker=f"sweeper-{k}")

    threads = [threading.Thread(target=one, args=(k,)) for k in range(n)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    took = time.perf_counter() - t0
    for e in engines:
        e.dispose()
    return took, reports


def run_on(url: str, db: str, args, results: list) -> None:
    print(f"{db}: building {args.pupils:,} pupils ...", flush=True)
    world = gen.build(url, args.pupils, args.schools)
    as_of, today = world.held_back
    la_scale.nightly_run(world, as_of, results, db, "nightly, full (to open cases)")
    if args.sweepers == 1:
        la_scale.timer_sweep(world, args.timers, today, results, db)
    else:
        clock = la_scale.evening(today)
        la_scale.hang_timers(world, args.timers, clock)
        took, reports = concurrent_sweeps(url, args.sweepers, clock)
        ids = [d["timer_id"] for r in reports for d in r.lapsed + r.met]
        with session_scope(world.engine) as s:
            notes = s.execute(select(func.count()).select_from(Notification)
                              .where(Notification.dedupe_key.like("%:timer:%"))).scalar_one()
            still = s.execute(select(func.count()).select_from(Timer).where(Timer.status == "open",
                                                                             Timer.due_at <= clock.now())).scalar_one()
        row = {"db": db, "step": f"timer sweep, {args.sweepers} at once", "timers": args.timers, "seconds": round(took, 3),
               "swept": len(ids), "twice": len(ids) - len(set(ids)), "notifications": notes, "still_due": still,
               "by_sweeper": [len(r.lapsed) + len(r.met) for r in reports]}
        results.append(row)
        print(f"  {row['step']:28s} {took:8.2f} s  {len(ids) / took:,.0f} timers/s, shared {row['by_sweeper']}, "
              f"{row['twice']} swept twice, {still} still due, {notes:,} notifications", flush=True)
    world.engine.dispose()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--timers", type=int, default=100_000)
    ap.add_argument("--pupils", type=int, default=2_000)
    ap.add_argument("--schools", type=int, help="default: one per 500 pupils")
    ap.add_argument("--sweepers", type=int, default=1, help="sweeps running at once (default 1)")
    ap.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    args = ap.parse_args()
    results: list[dict] = []
    if args.db in ("sqlite", "both"):
        with tempfile.TemporaryDirectory() as tmp:
            run_on(f"sqlite:///{tmp}/sweep.db", "SQLite", args, results)
    if args.db in ("postgres", "both"):
        with throwaway_postgres() as url:
            run_on(url, "PostgreSQL", args, results)


if __name__ == "__main__":
    main()
