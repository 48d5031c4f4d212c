"""``casework nightly``: evaluate every school on the database, shared with other workers."""

from __future__ import annotations

import click

from casework.cli.common import as_of_option, console, ctx_of, db_option, emit_json, json_option
from casework.jobs import nightly as n
from casework.jobs.scheduler import default_worker


@click.command()
@db_option
@as_of_option
@json_option
@click.option("--worker", default=None, help="Name recorded on each school claimed (default: host:pid).")
@click.option("--retries", default=2, show_default=True, help="Times this worker tries a failing school again.")
def nightly(db, as_of, as_json, worker, retries):
    """Evaluate every school for tonight; run it on several machines to share the schools."""

    c = ctx_of(db, as_of)
    rep = n.run(c.engine, c.clock, worker=worker or default_worker(), retries=retries)
    if as_json:
        emit_json(rep.as_dict())
    else:
        ok = sum(1 for r in rep.runs if r.outcome == "ok")
        console.print(f"Night of {rep.period}: this worker evaluated {ok} school(s); all workers: "
                      + ", ".join(f"{v} {k}" for k, v in sorted(rep.remaining.items())) + ".")
        for r in rep.failed:
            console.print(f"  failed: {r.urn} after {r.attempts} attempt(s): {r.detail.get('error')}")
    if rep.failed:
        raise SystemExit(1)
