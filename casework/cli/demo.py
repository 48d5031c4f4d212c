"""The demo school."""

from __future__ import annotations

from pathlib import Path

import click

from casework.cli.common import (
    as_of_option,
    console,
    ctx_of,
    emit_json,
    json_option,
)
from casework.demo import build_demo


@click.command()
@click.option("--db", "db", default=None, help="Database URL (default: sqlite:///casework-demo.db, rebuilt each run).")
@click.option("--pupils", default=400, show_default=True)
@click.option("--seed", default=2026, show_default=True)
@click.option("--letters-now", is_flag=True, help="Lay out the letters of past mornings before returning "
              "(slower), rather than in the background.")
@as_of_option
@json_option
def demo(db, pupils, seed, as_of, as_json, letters_now):
    """Build a realistic demo school and run the day's work on it."""

    c = ctx_of(db or "sqlite:///casework-demo.db", as_of, creates=True)
    if db is None:
        Path("casework-demo.db").unlink(missing_ok=True)
        for suffix in ("-wal", "-shm"):
            Path("casework-demo.db" + suffix).unlink(missing_ok=True)
    report = build_demo(c.engine, clock=c.clock, pupils=pupils, seed=seed,
                        db_url=db or "sqlite:///casework-demo.db", past_letters="now" if letters_now else "background")
    if as_json:
        emit_json(report.as_dict())
    else:
        report.print(console)
