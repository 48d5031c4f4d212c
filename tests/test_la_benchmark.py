"""The LA-scale benchmark runs with one command and says what it measured (no time is
asserted: figures depend on the machine). Small: 300 pupils in 2 schools, on SQLite."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_la_scale_runs_and_agrees_with_duckdb(tmp_path):
    out = tmp_path / "la.json"
    env = {**os.environ, "CASEWORK_NO_PROGRESS": "1"}
    run = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "la_scale.py"), "--pupils", "300", "--schools", "2",
                          "--timers", "20", "--db", "sqlite", "--json", str(out)],
                         capture_output=True, text=True, timeout=600, env=env, cwd=tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
    figures = json.loads(out.read_text())
    steps = {r["step"]: r for r in figures["results"]}
    assert {"import a day", "rules, every school", "aggregates, casework", "nightly, full", "import the next day",
            "nightly, next day", "timer sweep"} <= steps.keys()
    assert all(r["seconds"] >= 0 and r.get("peak_rss_mib", 1) > 0 for r in figures["results"])
    assert steps["import a day"]["marks"] == 600  # two sessions for each of 300 pupils
    ours = steps["aggregates, casework"]
    assert ours["pupils"] == 300
    assert 0.05 <= ours["persistent_absentees"] / 300 <= 0.25  # the generator's persistent absentees, and a few more
    assert steps["nightly, full"]["cases_opened"] > 0 and steps["nightly, full"]["failed"] == 0
    assert steps["timer sweep"]["lapsed"] + steps["timer sweep"]["met"] == 20 and steps["timer sweep"]["still_due"] == 0
    assert figures["machine"]["cores"] and figures["machine"]["date"]
    # DuckDB is in the test extra: a run that made no comparison is a failure, not a skip
    assert "aggregates, DuckDB" in steps, "DuckDB did not run (pip install -e '.[test]')"
    duck = steps["aggregates, DuckDB"]
    assert duck["persistent_absentees"] == ours["persistent_absentees"] and duck["pupils"] == 300
    assert duck["check"].startswith("same answer")
    assert steps["aggregates, casework"]["ratio_to_duckdb"] > 0
