"""Commands for the audit log: check that nothing in it was changed or removed."""

from __future__ import annotations

import sys

import click

from casework.cli.common import console, ctx_of, db_option, emit_json, err, json_option
from casework.store.audit import verify


@click.group()
def audit() -> None:
    """The audit log of amendments, moves, letters, notes, sign-ins and permission changes."""


@audit.command("verify")
@db_option
@json_option
def audit_verify(db, as_json):
    """Walk the hash chain: exit 0 if every event holds, 1 naming the first that does not."""
    result = verify(ctx_of(db).engine)
    if as_json:
        emit_json({"ok": result.ok, "events": result.events, "broken_at": result.broken_at, "reason": result.reason})
    elif result.ok:
        console.print(f"The audit log holds: {result.events:,} events, each following from the one before.")
    else:
        err.print(f"[bold red]The audit log was tampered with at event {result.broken_at}[/]: {result.reason} "
                  f"({result.events:,} events before it hold).", highlight=False)
    if not result.ok:
        sys.exit(1)
