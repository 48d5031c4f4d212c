"""Work lists at demo scale: each page's p95 as the officer, DSL and head see it, and the time
`casework letters queue` takes. Targets (issue 13): every page p95 < 150 ms; letters queue < 1 s.

    .venv/bin/casework demo                                  # builds sqlite:///casework-demo.db
    .venv/bin/python benchmarks/bench_worklists.py [--db sqlite:///casework-demo.db] [--requests 30]

Pages are served in-process by the Flask app (no network), so the figures are the server's own
time for a page: queries, checks and rendering. The letters queue is timed as a person runs it,
as a separate process, start-up included.
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

PAGES = {
    "officer": ["/today", "/caseload", "/letters", "/cases/{case}", "/pupils"],
    "dsl": ["/dsl", "/today"],
    "head": ["/approvals", "/today"],
}
PASSWORD = "casework-demo"


def p95(xs: list[float]) -> float:
    return statistics.quantiles(xs, n=20)[18] if len(xs) >= 2 else xs[0]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--db", default="sqlite:///casework-demo.db")
    ap.add_argument("--requests", type=int, default=30)
    ap.add_argument("--school", default="999001")
    args = ap.parse_args()

    from casework.cli.common import ctx_of
    from casework.web import create_app

    c = ctx_of(args.db)
    app = create_app({"ENGINE": c.engine, "CLOCK": c.clock, "WTF_CSRF_ENABLED": False, "TESTING": True})
    print(f"{'who':8} {'page':20} {'p50 ms':>8} {'p95 ms':>8}")
    for who, pages in PAGES.items():
        client = app.test_client()
        r = client.post("/login", data={"username": who, "password": PASSWORD})
        if r.status_code not in (302, 303):
            sys.exit(f"could not sign in as {who} (is {args.db} the demo?)")
        case = re.search(r"/cases/(\d+)", client.get("/caseload").get_data(as_text=True))
        for page in pages:
            url = page.format(case=case.group(1) if case else 1)
            times = []
            for _ in range(args.requests):
                t = time.perf_counter()
                resp = client.get(url)
                times.append((time.perf_counter() - t) * 1000)
                if resp.status_code != 200:
                    sys.exit(f"{url} as {who}: HTTP {resp.status_code}")
            print(f"{who:8} {page:20} {statistics.median(times):8.1f} {p95(times):8.1f}")

    exe = Path(sys.executable).with_name("casework")
    t = time.perf_counter()
    subprocess.run([str(exe), "letters", "queue", "--school", args.school, "--db", args.db, "--json"],
                   check=True, capture_output=True)
    print(f"letters queue (whole queue, a fresh process): {time.perf_counter() - t:.2f} s")


if __name__ == "__main__":
    main()
