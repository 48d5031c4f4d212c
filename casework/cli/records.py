"""Commands for a school's records: backup and restore, a subject access export, and the
retention purge."""

from __future__ import annotations

from pathlib import Path

import click

from casework.cli import common as cli
from casework.register import store as reg
from casework.store.backup import BackupError, backup, restore
from casework.store.db import session_scope
from casework.store.retention import purge
from casework.store.subject_access import export_pupil


@click.command("backup")
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="The backup file to write (gzip'd JSON lines).")
@cli.db_option
@cli.json_option
def backup_cmd(out, db, as_json):
    """Write every row of every table to one file (portable between SQLite and PostgreSQL)."""
    report = backup(cli.ctx_of(db).engine, out)
    if as_json:
        cli.emit_json(report.as_dict())
    else:
        cli.console.print(f"Backed up {report.total:,} rows from {len(report.rows)} tables to {out} "
                          f"(schema {report.revision}).")


@click.command("restore")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@cli.db_option
@cli.json_option
def restore_cmd(file, db, as_json):
    """Load a backup into a new, empty database (all of it, or nothing)."""
    try:
        report = restore(cli.ctx_of(db, creates=True).engine, file)
    except BackupError as exc:
        cli.fail(str(exc))
    cli.output(report.as_dict(), as_json, f"Restored {report.total:,} rows into {len(report.rows)} tables from {file}.")


@click.group("export")
def export() -> None:
    """Exports for data protection."""


@export.command("pupil")
@click.argument("upn")
@cli.school_option
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False, path_type=Path))
@cli.common_options
def export_pupil_cmd(upn, urn, out, db, as_of, as_json):
    """Everything held about one pupil, in one JSON file (a subject access request)."""
    c = cli.ctx_of(db, as_of)
    try:
        with session_scope(c.engine) as s:
            counts = export_pupil(s, reg.get_school(s, urn), upn.strip().upper(), out, c.clock.now())
    except LookupError as exc:
        cli.fail(str(exc))
    if as_json:
        cli.emit_json({"file": str(out), "items": counts})
    else:
        cli.console.print(f"Wrote {out}: " + ", ".join(f"{n} {k.replace('_', ' ')}" for k, n in counts.items() if n))


@click.group("retention")
def retention() -> None:
    """Records past the workflow's retention periods."""


@retention.command("purge")
@cli.school_option
@click.option("--dry-run", is_flag=True, help="Say what would be removed; remove nothing.")
@click.option("--by", "by", required=True, help="Your name, recorded in the audit log.")
@cli.db_option
@cli.as_of_option
@cli.json_option
def purge_cmd(urn, dry_run, by, db, as_of, as_json):
    """Remove marks and closed cases older than the workflow's retention periods."""
    c = cli.ctx_of(db, as_of)
    with session_scope(c.engine) as s:
        report = purge(s, reg.get_school(s, urn), c.clock.now(), by=by, dry_run=dry_run)
    if as_json:
        cli.emit_json(report.as_dict())
        return
    verb = "Would remove" if dry_run else "Removed"
    gone = ", ".join(f"{n:,} {t}" for t, n in report.removed.items() if n) or "nothing"
    cli.console.print(f"{verb}: {gone} (registers before {report.registers_before:%d %B %Y}; cases closed before "
                      f"{report.cases_closed_before:%d %B %Y}).")
