"""Import throughput: a day's marks across a local authority through the real import path.

    .venv/bin/python benchmarks/bench_import_day.py [--pupils 100000] [--schools 200] \\
        [--history-weeks 4] [--db sqlite|postgres|both] [--postgres URL] [--repeat 2] [--jobs 1]

Builds the schools of ``la_generator`` (Kent's term dates, 500 pupils a school) with
``--history-weeks`` of marks already in the register (building a whole year for 100,000 pupils
takes longer than the import it is there for), then imports the next school day's marks
(AM and PM: 200,000 marks at 100,000 pupils) one CSV per school through
``casework.register.importer.import_marks``, each school in its own transaction as
``casework import marks`` does: reading and checking every row, planning against the marks
already there, writing, the audit record and the import log. Before the import the database
is put at rest (checkpointed; on PostgreSQL vacuumed and analysed) and the workflow read, as
in a server that has been running. It prints seconds, marks per second and the importing
processes' CPU seconds (on a shared machine the wall time includes waiting for a core; on
PostgreSQL the server's own work is not in it).

``--repeat 2`` then imports the same day again (every mark unchanged: the cost of checking
alone) and a copy with one mark in 50 changed (amendments written and audited). ``--jobs 2``
shares the schools between two processes, as two ``casework import marks`` running side by
side would (each school still one transaction). ``--history-weeks 46`` is a whole year.
Target: 200,000 marks in < 5 s.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import datetime as dt
import multiprocessing
import os
import platform
import shutil
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import la_generator as gen  # noqa: E402
from pg_throwaway import throwaway_postgres  # noqa: E402

from casework.clock import FixedClock, at  # noqa: E402
from casework.register.importer import import_marks  # noqa: E402
from casework.register.store import get_school  # noqa: E402
from casework.store.db import make_engine, session_scope  # noqa: E402
from casework.workflow import for_school  # noqa: E402


def changed_copies(csvs: list, folder: Path, every: int = 50) -> list:
    """Each school's CSV with one mark in ``every`` recoded (present becomes illness, or back)."""
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for sd, path in csvs:
        with path.open(newline="") as f:
            rows = list(csv.reader(f))
        for i, row in enumerate(rows[1:], start=1):
            if i % every == 0:
                row[3] = "I" if row[3] != "I" else ("/" if row[2] == "AM" else "\\")
        copy = folder / path.name
        with copy.open("w", newline="") as f:
            csv.writer(f).writerows(rows)
        out.append((sd, copy))
    return out


def settle(engine) -> None:
    """The database at rest before the day arrives, as it would be after a night: the bulk
    load's write-ahead log checkpointed (SQLite), vacuumed and analysed (PostgreSQL)."""
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        else:
            conn.connection.driver_connection.autocommit = True
            conn.exec_driver_sql("VACUUM ANALYZE")
            conn.exec_driver_sql("CHECKPOINT")
            conn.connection.driver_connection.autocommit = False
    engine.dispose()


def import_all(world, csvs: list, day: dt.date, jobs: int = 1) -> tuple[float, dict]:
    """Seconds (wall) and the import's totals, with the importing processes' CPU seconds as
    ``cpu``. With ``jobs`` > 1 the schools are shared among that many processes, each importing
    its schools one after another (as that many ``casework import marks`` run side by side)."""
    files = [(sd.urn, path) for sd, path in csvs]
    t0 = time.perf_counter()
    if jobs <= 1:
        totals = _import_files(world.engine, files, day)
    else:
        world.engine.dispose()  # no connection of this process is carried into the forked ones
        with ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("fork")) as pool:
            parts = list(pool.map(_import_in_process, [(world.url, files[i::jobs], day) for i in range(jobs)]))
        totals = {k: sum(p[k] for p in parts) for k in parts[0]}
    return time.perf_counter() - t0, totals


def _import_files(engine, files: list, day: dt.date) -> dict:
    clock = FixedClock(at(day, dt.time(16, 0)))
    totals = {"rows": 0, "added": 0, "changed": 0, "unchanged": 0}
    cpu = time.process_time()
    for urn, path in files:
        with session_scope(engine) as s:
            r = import_marks(s, get_school(s, urn), path, clock=clock)
        for k in totals:
            totals[k] += getattr(r, k)
    totals["cpu"] = time.process_time() - cpu
    return totals


def _import_in_process(job: tuple) -> dict:
    url, files, day = job
    engine = make_engine(url)
    try:
        return _import_files(engine, files, day)
    finally:
        engine.dispose()


def run(label: str, url: str, a) -> list[tuple]:
    t0 = time.perf_counter()
    gen.YEAR_START = gen.TODAY - dt.timedelta(weeks=a.history_weeks)  # only the last weeks as history
    world = gen.build(url, a.pupils, a.schools)
    # the generator's own connections may have foreign-key checks off (PostgreSQL, for the history's
    # COPY): the import gets fresh ones, checking everything as casework always does
    world.engine.dispose()
    settle(world.engine)
    print(f"{label}: built {len(world.schools)} schools, {world.n_pupils:,} pupils, {world.history_marks:,} marks "
          f"of history in {time.perf_counter() - t0:.0f} s", flush=True)
    day = world.held_back[0]
    for_school("national")  # the workflow read once, as by any process that has imported before
    tmp = Path(tempfile.mkdtemp(prefix="bench-import-"))
    rows = []
    try:
        csvs = gen.day_csvs(world, tmp / "day", day)
        runs = [("a new day", csvs)] + [("the same again", csvs)] * (a.repeat > 1)
        runs += [("1 in 50 changed", changed_copies(csvs, tmp / "changed"))] * (a.repeat > 1)
        for what, files in runs:
            secs, totals = import_all(world, files, day, a.jobs)
            rate = totals["rows"] / secs
            ok = "yes" if secs * 200_000 / max(1, totals["rows"]) < 5 else "NO"
            print(f"  {what:16s} {totals['rows']:8,d} marks in {secs:6.2f} s  {rate:9,.0f} marks/s  "
                  f"({a.jobs} importing process{'es' if a.jobs > 1 else ''}, CPU {totals['cpu']:.2f} s)  "
                  f"(added {totals['added']:,}, changed {totals['changed']:,}, unchanged {totals['unchanged']:,})"
                  f"  200,000 < 5 s: {ok}  (load avg {os.getloadavg()[0]:.1f})", flush=True)
            rows.append((label, what, totals["rows"], secs, rate))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        world.engine.dispose()
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pupils", type=int, default=100_000)
    ap.add_argument("--schools", type=int, default=None, help="Default: one per 500 pupils.")
    ap.add_argument("--history-weeks", type=int, default=4, help="Weeks of marks already in the register.")
    ap.add_argument("--db", choices=("sqlite", "postgres", "both"), default="both")
    ap.add_argument("--postgres", default=None, help="An empty PostgreSQL database URL (else a throwaway server).")
    ap.add_argument("--jobs", type=int, default=1,
                    help="Processes importing schools side by side (PostgreSQL takes them at once; SQLite one at a time).")
    ap.add_argument("--repeat", type=int, default=2, help="2: also the same day again, and with changes.")
    a = ap.parse_args()
    a.history_weeks = max(3, a.history_weeks)  # the generator's spread needs a few weeks
    os.environ["CASEWORK_NO_PROGRESS"] = "1"
    print(f"{dt.date.today()} {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs "
          f"(load avg {os.getloadavg()[0]:.1f} at the start)")
    with contextlib.ExitStack() as stack:
        if a.db in ("sqlite", "both"):
            tmp = Path(tempfile.mkdtemp(prefix="bench-import-db-"))
            stack.callback(shutil.rmtree, tmp, True)
            run("SQLite", f"sqlite:///{tmp / 'la.db'}", a)
        if a.db in ("postgres", "both"):
            run("PostgreSQL", a.postgres or stack.enter_context(throwaway_postgres()), a)


if __name__ == "__main__":
    main()
