"""``casework whatif``: what another workflow would have done with a school's register
(casework.jobs.whatif)."""

from __future__ import annotations

import click
from rich.table import Table

from casework.cli.common import (
    common_options,
    console,
    ctx_of,
    emit_json,
    err,
    fail,
    parse_day,
    school_option,
)
from casework.jobs.whatif import WhatIfError, whatif
from casework.workflow import WorkflowError


@click.command("whatif")
@school_option
@click.option("--workflow", "other", required=True, help="The other workflow: a file (OTHER.yaml) or a name in workflows/.")
@click.option("--from", "start", required=True, help="First day to replay (YYYY-MM-DD).")
@click.option("--to", "end", required=True, help="Last day to replay (YYYY-MM-DD).")
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 2),
              help="2: the two replays side by side in two processes; 1: one after the other.")
@common_options
def whatif_cmd(urn, other, start, end, workers, db, as_of, as_json):
    """Replay --from to --to under the school's own workflow and under another one, on a
    throwaway copy of the register (nothing is written to the school's data), and compare:
    cases opened by type, letters, meetings, notices to improve, penalty notice proposals,
    CME referrals, deadlines missed, and the pupils for whom they differ."""
    c = ctx_of(db, as_of)
    first, last = parse_day(start), parse_day(end)
    if not as_json:
        err.print(f"Replaying {first} to {last} twice on copies of school {urn}'s register...", highlight=False)
    try:
        r = whatif(c.engine, urn, other, first, last, workers=workers)
    except WorkflowError as exc:
        fail("the other workflow has problems:\n" + "\n".join(f"  {p}" for p in exc.problems))
    except WhatIfError as exc:
        fail(str(exc))
    if as_json:
        emit_json(r.as_dict())
        return
    t = Table(title=f"{r.school} (URN {r.urn}), {r.start} to {r.end}, {r.pupils} pupils", title_justify="left")
    t.add_column("What")
    t.add_column(f"{r.own.workflow}\n({r.own.file})", justify="right")
    t.add_column(f"{r.other.workflow}\n({r.other.file})", justify="right")
    t.add_column("Difference", justify="right")
    for label, a, b in r.rows():
        t.add_row(label, str(a), str(b), f"{b - a:+d}" if b != a else "")
    console.print(t)
    console.print(f"Pupils for whom the two differ: {len(r.differing)}", highlight=False)
    for d in r.differing:
        console.print(f"  {d['name']} ({d['upn']}): {', '.join(d['own']) or 'nothing'}  ->  "
                      f"{', '.join(d['other']) or 'nothing'}", highlight=False, markup=False)
    console.print(f"Both copies start with no open cases on {r.start}; nobody acts in a what-if, so every "
                  f"deadline that falls due is missed. Took {r.seconds:.1f} s.", highlight=False)
