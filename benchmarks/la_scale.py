"""Benchmark: a local authority's schools on one database, measured beside DuckDB in the same run.

    .venv/bin/python benchmarks/la_scale.py --pupils 20000 --db both --json la.json
    .venv/bin/python benchmarks/la_scale.py --pupils 100000 --db postgres --postgres postgresql://...

Builds the world with ``la_generator`` (schools of about 500 pupils on Kent's real calendar, a
school year of marks; written in bulk, not a figure of casework), then measures, on each
database:

- **import a day**: every school's marks for the last day through ``import_marks`` (the
  ``casework import marks`` path: validation, amendments, audit), marks per second;
- **rules, every school**: ``load_register`` and every rule of the national workflow, one school
  at a time (load and rules given apart);
- **aggregates**: each pupil's attendance % over the year and each school's persistent absence
  count, by casework (``load_register`` + numpy) and by DuckDB over the same marks in memory
  (its query alone; loading DuckDB is given apart). The two answers are compared;
- **nightly, full**: ``casework nightly`` over every school (rules, cases opened, letters queued,
  deadlines), the first night after the year's history arrived;
- **incremental day**: the next day's import, then ``casework nightly`` again;
- **timer sweep**: ``--timers`` deadlines due at once, lapsed by ``casework.timers.sweep``.

Each figure comes with the peak resident memory of the process during the step (sampled every
5 ms) and, where one exists, the DuckDB figure and the ratio. The machine is shared and noisy:
the ratio is the figure to compare between runs. Nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import platform
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
from sqlalchemy import func, insert, select

sys.path.insert(0, str(Path(__file__).resolve().parent))

import la_generator as gen  # noqa: E402
from pg_throwaway import throwaway_postgres  # noqa: E402

from casework.cases.evidence import rule_config  # noqa: E402
from casework.clock import FixedClock, at  # noqa: E402
from casework.jobs import nightly  # noqa: E402
from casework.register import codes as C  # noqa: E402
from casework.register.importer import import_marks  # noqa: E402
from casework.register.store import get_school  # noqa: E402
from casework.rules import evaluate_all, evaluation_start, load_register  # noqa: E402
from casework.rules._attendance import counts  # noqa: E402
from casework.rules.register_data import CODE_TABLE  # noqa: E402
from casework.store.casemodels import Case, Timer  # noqa: E402
from casework.store.db import session_scope  # noqa: E402
from casework.timers import keep_next_deadlines, sweep  # noqa: E402
from casework.workflow import for_school  # noqa: E402

PAGE = os.sysconf("SC_PAGE_SIZE")


class PeakRSS:
    """The highest resident set size of this process while the block runs (MiB), sampled."""

    def __enter__(self):
        self.peak, self._stop = self._rss(), threading.Event()
        self.start = self.peak
        self._t = threading.Thread(target=self._watch, daemon=True)
        self._t.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._t.join()
        self.peak = max(self.peak, self._rss())

    def _watch(self):
        while not self._stop.wait(0.005):
            self.peak = max(self.peak, self._rss())

    @staticmethod
    def _rss() -> float:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * PAGE / 2**20


@contextlib.contextmanager
def measured(results: list, db: str, step: str, **extra):
    row = {"db": db, "step": step, **extra}
    with PeakRSS() as mem:
        t0 = time.perf_counter()
        yield row
        row["seconds"] = round(time.perf_counter() - t0, 3)
    row["peak_rss_mib"] = round(mem.peak)
    row["rss_growth_mib"] = round(mem.peak - mem.start)
    results.append(row)
    print(f"  {step:28s} {row['seconds']:8.2f} s  peak RSS {row['peak_rss_mib']:5d} MiB"
          + (f"  {row['rate']}" if "rate" in row else ""), flush=True)


def evening(day: dt.date) -> FixedClock:
    return FixedClock(at(day, dt.time(19, 0)))


# -- the steps ------------------------------------------------------------------------------


def import_day(world, folder: Path, day: dt.date, results: list, db: str, step: str) -> None:
    csvs = gen.day_csvs(world, folder, day)
    n = sum(len(sd.pupil_ids) for sd, _ in csvs) * sum(1 for d, _ in world.slots if d == day)
    clock = FixedClock(at(day, dt.time(16, 0)))
    with measured(results, db, step, marks=n) as row:
        for sd, path in csvs:
            with session_scope(world.engine) as s:
                import_marks(s, get_school(s, sd.urn), path, clock=clock)
    row["rate"] = f"{n / row['seconds']:,.0f} marks/s"


def rules_every_school(world, as_of: dt.date, results: list, db: str) -> None:
    config = rule_config(for_school("national"))
    start = evaluation_start(world.calendar, config, as_of)
    load = rules = 0.0
    findings = 0
    with measured(results, db, "rules, every school", pupils=world.n_pupils) as row:
        for sd in world.schools:
            t0 = time.perf_counter()
            with world.engine.connect() as conn:
                reg = load_register(conn, sd.id, world.calendar, start, as_of)
            t1 = time.perf_counter()
            findings += len(evaluate_all(reg, world.calendar, config, as_of))
            load, rules = load + t1 - t0, rules + time.perf_counter() - t1
            del reg
    row.update(load_seconds=round(load, 3), rules_seconds=round(rules, 3), findings=findings,
               rate=f"load {load:.2f} s + rules {rules:.2f} s, {findings:,} findings")


def casework_aggregates(world, as_of: dt.date, results: list, db: str) -> dict:
    pct, pa = {}, {}
    with measured(results, db, "aggregates, casework") as row:
        for sd in world.schools:
            with world.engine.connect() as conn:
                reg = load_register(conn, sd.id, world.calendar, gen.YEAR_START, as_of)
            c = counts(reg, gen.YEAR_START, as_of)
            with np.errstate(invalid="ignore", divide="ignore"):
                pct.update(zip(reg.pupil_ids.tolist(), (100.0 * c.attending / c.possible).tolist()))
            pa[sd.id] = int(np.count_nonzero((c.possible > 0) & (c.absent * 10 >= c.possible)))
    row.update(pupils=len(pct), persistent_absentees=sum(pa.values()),
               rate=f"{len(pct):,} pupils, {sum(pa.values()):,} persistent absentees")
    return {"pct": pct, "pa": pa}


def duckdb_aggregates(world, columns: int, results: list, db: str) -> dict | None:
    try:
        import duckdb
    except ImportError:
        print("  (DuckDB is not installed: pip install -e '.[bench]')")
        return None
    meaning = [C.meaning(c) for c in CODE_TABLE]
    code_table = {"idx": np.arange(len(CODE_TABLE), dtype=np.int16),  # noqa: F841 (read by DuckDB by name)
                  "possible": np.array([m.possible for m in meaning]),
                  "attending": np.array([m.attending for m in meaning]),
                  "absent": np.array([m.absent for m in meaning])}
    con = duckdb.connect()
    with measured(results, db, "DuckDB load (not compared)"):
        for k, sd in enumerate(world.schools):
            P = len(sd.pupil_ids)
            batch = {"school": np.full(P * columns, sd.id, dtype=np.int32),  # noqa: F841 (read by DuckDB by name)
                     "pupil": np.repeat(sd.pupil_ids, columns),
                     "code": sd.codes[:, :columns].ravel()}
            con.execute(("CREATE TABLE marks AS" if k == 0 else "INSERT INTO marks") + " SELECT * FROM batch")
        con.execute("CREATE TABLE codes AS SELECT * FROM code_table")
    query = """
        WITH per_pupil AS (
          SELECT m.school, m.pupil, sum(c.possible::int) AS possible, sum(c.attending::int) AS attending,
                 sum(c.absent::int) AS absent
          FROM marks m JOIN codes c ON c.idx = m.code GROUP BY m.school, m.pupil)
        SELECT school, pupil, 100.0 * attending / nullif(possible, 0) AS pct,
               possible > 0 AND absent * 10 >= possible AS pa FROM per_pupil"""
    with measured(results, db, "aggregates, DuckDB") as row:
        got = con.execute(query).fetchnumpy()
    con.close()
    pa: dict[int, int] = {}
    for school, is_pa in zip(got["school"].tolist(), got["pa"].tolist()):
        pa[school] = pa.get(school, 0) + int(bool(is_pa))
    row.update(pupils=len(got["pupil"]), persistent_absentees=sum(pa.values()),
               rate=f"{len(got['pupil']):,} pupils, {sum(pa.values()):,} persistent absentees")
    return {"pct": dict(zip(got["pupil"].tolist(), [float(x) for x in got["pct"].tolist()])), "pa": pa}


def same_answer(ours: dict, theirs: dict) -> str:
    if ours["pa"] != theirs["pa"]:
        return "DIFFERENT persistent absence counts"
    keys = ours["pct"].keys()
    if keys != theirs["pct"].keys():
        return "DIFFERENT pupils"
    diff = max((abs(ours["pct"][k] - theirs["pct"][k]) for k in keys if ours["pct"][k] == ours["pct"][k]), default=0)
    return f"same answer (attendance % differs by at most {diff:.1e})"


def nightly_run(world, day: dt.date, results: list, db: str, step: str) -> None:
    with measured(results, db, step, schools=len(world.schools)) as row:
        report = nightly.run(world.engine, evening(day), worker="bench", progress=False)
    opened = sum(r.detail.get("cases_opened", 0) for r in report.runs)
    added = sum(r.detail.get("findings_added", 0) for r in report.runs)
    failed = len(report.failed)
    row.update(cases_opened=opened, findings_added=added, failed=failed,
               rate=f"{opened:,} cases opened, {added:,} findings added" + (f", {failed} FAILED" if failed else ""))
    if failed:
        print("   first failure:", report.failed[0].detail)


def timer_sweep(world, n: int, day: dt.date, results: list, db: str) -> None:
    """``n`` open deadlines (``hang_timers``), all due, then one sweep."""
    clock = evening(day)
    if not hang_timers(world, n, clock):
        print("  (no open case to hang deadlines on: sweep skipped)")
        return
    with measured(results, db, "timer sweep", timers=n) as row:
        report = sweep(world.engine, clock, worker="bench")
    with session_scope(world.engine) as s:
        still = s.execute(select(func.count()).select_from(Timer).where(Timer.status == "open",
                                                                         Timer.due_at <= clock.now())).scalar_one()
    done = len(report.lapsed) + len(report.met)
    row.update(lapsed=len(report.lapsed), met=len(report.met), still_due=still,
               rate=f"{done / row['seconds']:,.0f} timers/s ({done:,} swept, {still} still due)")


def hang_timers(world, n: int, clock) -> bool:
    """``n`` open deadlines (review after a letter: a notification and a proposed meeting), all
    due an hour ago, one on each of ``n`` open cases. A case has at most one open deadline of a
    kind (``casework.cases.moves.start_timer``), so where the LA has fewer open cases than ``n``,
    copies of its open cases (each under a concern of its own) carry the rest. False if no case
    is open."""
    with session_scope(world.engine) as s:
        conn = s.connection()
        open_cases = select(Case.__table__).where(Case.closed_at.is_(None)).order_by(Case.id)
        cases = conn.execute(open_cases).mappings().all()
        if not cases:
            return False
        if len(cases) < n:
            conn.execute(insert(Case.__table__), [
                {**{k: v for k, v in cases[i % len(cases)].items() if k != "id"}, "concern": f"bench-sweep-{i}"}
                for i in range(n - len(cases))])
            cases = conn.execute(open_cases).mappings().all()
        due = clock.now() - dt.timedelta(hours=1)
        rows = [dict(school_id=c["school_id"], case_id=c["id"], kind="letter_review",
                     label="Review attendance after the letter", role="office", state=c["state"],
                     started_at=due - dt.timedelta(days=28), due_at=due, status="open", outcome="")
                for c in cases[:n]]
        conn.execute(insert(Timer.__table__), rows)
        keep_next_deadlines(s, [r["case_id"] for r in rows])  # bulk inserts: the flush hook does not see them
    return True


# -- one database ---------------------------------------------------------------------------


def run_on(url: str, db: str, args, results: list) -> None:
    print(f"{db}: building {args.pupils:,} pupils ...", flush=True)
    t0 = time.perf_counter()
    world = gen.build(url, args.pupils, args.schools)
    built = time.perf_counter() - t0
    results.append({"db": db, "step": "build (bulk, not casework)", "seconds": round(built, 3),
                    "marks": world.history_marks, "schools": len(world.schools)})
    print(f"  built {len(world.schools)} schools, {world.n_pupils:,} pupils, {world.history_marks:,} marks "
          f"in {built:.1f} s ({world.history_marks / built:,.0f} marks/s)", flush=True)
    as_of, today = world.held_back
    with tempfile.TemporaryDirectory() as tmp:
        import_day(world, Path(tmp), as_of, results, db, "import a day")
        rules_every_school(world, as_of, results, db)
        ours = casework_aggregates(world, as_of, results, db)
        theirs = duckdb_aggregates(world, sum(1 for d, _ in world.slots if d <= as_of), results, db)
        if theirs is not None:
            verdict = same_answer(ours, theirs)
            results[-1]["check"] = verdict
            print(f"  casework and DuckDB: {verdict}")
        nightly_run(world, as_of, results, db, "nightly, full")
        import_day(world, Path(tmp), today, results, db, "import the next day")
        nightly_run(world, today, results, db, "nightly, next day")
        timer_sweep(world, args.timers, today, results, db)
    world.engine.dispose()


def ratio_rows(results: list) -> None:
    """Beside each casework aggregate, DuckDB's figure from the same database's run and the ratio."""
    duck = {r["db"]: r["seconds"] for r in results if r["step"] == "aggregates, DuckDB"}
    for r in results:
        if r["db"] in duck and r["step"] in ("aggregates, casework", "rules, every school"):
            r["duckdb_seconds"] = duck[r["db"]]
            r["ratio_to_duckdb"] = round(r["seconds"] / duck[r["db"]], 1) if duck[r["db"]] else None


def machine() -> dict:
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as f:
        cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), cpu)
    return {"date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"), "cpu": cpu,
            "cores": os.cpu_count(), "memory_gib": round(mem, 1), "load_average": os.getloadavg(),
            "python": platform.python_version(), "system": platform.platform()}


def print_table(meta: dict, results: list) -> None:
    print(f"\n{meta['date']}, {meta['cores']} cores ({meta['cpu']}), {meta['memory_gib']} GiB, "
          f"load average at the start {meta['load_average'][0]:.1f}")
    print(f"{'step':28s} {'db':9s} {'seconds':>8s} {'peak RSS':>9s} {'DuckDB s':>9s} {'ratio':>6s}  detail")
    for r in results:
        duck = f"{r['duckdb_seconds']:9.2f}" if "duckdb_seconds" in r else " " * 9
        ratio = f"{r['ratio_to_duckdb']:5.1f}x" if r.get("ratio_to_duckdb") else " " * 6
        rss = f"{r['peak_rss_mib']:5d} MiB" if "peak_rss_mib" in r else " " * 9
        print(f"{r['step']:28s} {r['db']:9s} {r['seconds']:8.2f} {rss} {duck} {ratio}  "
              f"{r.get('rate', '')} {r.get('check', '')}".rstrip())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pupils", type=int, default=20_000)
    ap.add_argument("--schools", type=int, help="default: one per 500 pupils")
    ap.add_argument("--db", choices=["sqlite", "postgres", "both"], default="sqlite")
    ap.add_argument("--postgres", metavar="URL", help="an empty PostgreSQL database (default: a throwaway cluster)")
    ap.add_argument("--timers", type=int, default=2000, help="deadlines for the sweep (default: 2,000)")
    ap.add_argument("--json", type=Path, help="write the figures here as JSON")
    args = ap.parse_args()
    meta = {**machine(), "pupils": args.pupils, "argv": sys.argv[1:]}
    results: list[dict] = []
    t0 = time.perf_counter()
    if args.db in ("sqlite", "both"):
        with tempfile.TemporaryDirectory() as tmp:
            run_on(f"sqlite:///{tmp}/la.db", "SQLite", args, results)
    if args.db in ("postgres", "both"):
        if args.postgres:
            run_on(args.postgres, "PostgreSQL", args, results)
        else:
            with throwaway_postgres() as url:
                run_on(url, "PostgreSQL", args, results)
    meta["total_seconds"] = round(time.perf_counter() - t0, 1)
    ratio_rows(results)
    print_table(meta, results)
    print(f"whole run {meta['total_seconds']:.0f} s")
    if args.json:
        args.json.write_text(json.dumps({"machine": meta, "results": results}, indent=2))
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
