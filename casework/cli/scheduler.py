"""`casework` commands for the scheduler area: `scheduler`, `replay`, `jobs`, `outbox`."""

from __future__ import annotations

import logging

import click
from rich.table import Table

from casework.cli.common import (
    common_options,
    console,
    ctx_of,
    db_option,
    emit_json,
    fail,
    json_option,
    parse_day,
    school_option,
)
from casework.clock import local
from casework.jobs.replay import replay
from casework.jobs.scheduler import build_scheduler, default_worker, job_runs, run_due_jobs
from casework.notify.mail import MailSettings, outbox
from casework.store.db import session_scope


@click.command("scheduler")
@click.option("--once", is_flag=True, help="Run what is due now (and any missed work) once, then exit.")
@click.option("--worker", default=None, help="Name recorded on the runs this process claims (default host:pid).")
@click.option("--tick", default=60, show_default=True, help="Seconds between wake-ups.")
@common_options
def scheduler_cmd(once, worker, tick, db, as_of, as_json):
    """Run the scheduled jobs as their own process: the deadline sweep every few minutes, the
    first-day contact list as each AM register closes, the morning digest emails and the
    nightly evaluation. Missed work runs once at start-up; several schedulers may share one
    database (each period runs once). Email is sent when CASEWORK_SMTP_HOST is set."""

    c = ctx_of(db, as_of)
    worker = worker or default_worker()
    try:
        mail = MailSettings.from_env()
    except ValueError as exc:
        fail(str(exc))
    if as_of and not once:
        fail("--as-of needs --once: a running scheduler follows the real clock")
    if once:
        runs = run_due_jobs(c.engine, c.clock, worker=worker, mail=mail)
        if as_json:
            emit_json({"worker": worker, "at": c.clock.now(), "runs": runs})
            return
        for r in runs:
            console.print(f"{r['job']} {r['scope']} {r['period']}: {r['outcome']}", highlight=False)
        console.print(f"{len(runs)} job run(s) by {worker}.")
        failed = [r for r in runs if r["outcome"] != "ok"]
        if failed:
            fail(f"{len(failed)} job run(s) failed: " + "; ".join(f"{r['job']} {r['scope']}: {r['detail'].get('error')}"
                                                                  for r in failed))
        return
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    console.print(f"casework scheduler {worker}: waking every {tick}s (Europe/London); "
                  + ("email on" if mail else "email off (CASEWORK_SMTP_HOST not set)") + ". Ctrl-C stops.")
    sched = build_scheduler(c.engine, worker=worker, mail=mail, tick_seconds=tick)
    try:
        sched.start()
    except (KeyboardInterrupt, SystemExit):
        pass


@click.command("replay")
@school_option
@click.option("--from", "start", required=True, help="First day (YYYY-MM-DD).")
@click.option("--to", "end", required=True, help="Last day (YYYY-MM-DD).")
@db_option
@json_option
def replay_cmd(urn, start, end, db, as_json):
    """Evaluate a school day by day (at AM register close and in the evening) with the clock
    set to each moment, printing what happened: cases opened, timers started and lapsed,
    nudges and safeguarding escalations."""

    c = ctx_of(db)
    start_d, end_d = parse_day(start), parse_day(end)

    def show(day: dict) -> None:
        if as_json:
            return
        head = f"[bold]{day['date']}[/]" + ("" if day["school_day"] else f" ({day['why_closed']})")
        lines = []
        for st in day["steps"]:
            for o in st["cases_opened"]:
                lines.append(f"  {st['step']}: opened {o['type']} case {o['case_id']} for {o['upn']}")
            for t in st["timers_started"]:
                lines.append(f"  {st['step']}: timer {t['kind']} on case {t['case_id']}, due {t['due'][:16]}")
            for t in st["timers_lapsed"]:
                lines.append(f"  {st['step']}: [red]lapsed[/] {t['kind']} on case {t['case_id']} ({t['upn']}): "
                             + ", ".join(t["actions"]))
            for n in st["notifications"]:
                lines.append(f"  {st['step']}: {'safeguarding' if n['queue'] == 'safeguarding' else 'nudge'} "
                             f"to {n['role']}: {n['message']}")
        console.print(head + ("" if lines else ": nothing new"), highlight=False)
        for ln in lines:
            console.print(ln, highlight=False, markup=True)

    try:
        days = replay(c.engine, urn, start_d, end_d, on_day=show)
    except ValueError as exc:
        fail(str(exc))
    if as_json:
        emit_json({"school": urn, "from": start_d, "to": end_d, "days": days})


@click.command("jobs")
@click.option("--limit", default=30, show_default=True)
@common_options
def jobs_cmd(limit, db, as_of, as_json):
    """The latest scheduled job runs: what ran, for which period, who claimed it, what came of it."""

    c = ctx_of(db, as_of)
    with session_scope(c.engine) as s:
        rows = [{"id": r.id, "job": r.job, "scope": r.scope, "period": r.period, "claimed_by": r.claimed_by,
                 "started_at": r.started_at, "finished_at": r.finished_at, "outcome": r.outcome,
                 "attempts": r.attempts, "detail": r.detail} for r in job_runs(s, limit)]
    if as_json:
        emit_json(rows)
        return
    tab = Table("ID", "Job", "School", "Period", "Claimed by", "Started", "Finished", "Outcome")
    for r in rows:
        tab.add_row(str(r["id"]), r["job"], r["scope"], r["period"], r["claimed_by"],
                    f"{local(r['started_at']):%d %b %H:%M}",
                    f"{local(r['finished_at']):%H:%M}" if r["finished_at"] else "—", r["outcome"])
    console.print(tab)


@click.command("outbox")
@click.option("--status", default=None, help="pending, sending, sent, failed or skipped.")
@click.option("--limit", default=50, show_default=True)
@db_option
@json_option
def outbox_cmd(status, limit, db, as_json):
    """Emails queued and sent (nudges and digests), with their Message-IDs."""
    c = ctx_of(db)
    with session_scope(c.engine) as s:
        rows = [{"id": r.id, "key": r.key, "message_id": r.message_id, "to": r.recipients, "subject": r.subject,
                 "status": r.status, "attempts": r.attempts, "sent_at": r.sent_at, "error": r.error}
                for r in outbox(s, status, limit)]
    if as_json:
        emit_json(rows)
        return
    tab = Table("ID", "Key", "To", "Subject", "Status", "Tries")
    for r in rows:
        tab.add_row(str(r["id"]), r["key"], ", ".join(r["to"]), r["subject"], r["status"], str(r["attempts"]))
    console.print(tab)
