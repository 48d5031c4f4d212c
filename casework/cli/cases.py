"""Commands for cases: the daily evaluation, the caseload, one case, its moves, deadlines."""

from __future__ import annotations

import datetime as dt
import sys

import click
from rich.table import Table

from casework.cases import moves as cs
from casework.cases.assignment import AssignmentError, reassign
from casework.cases.casefile import case_timers
from casework.cases.caseload import list_cases
from casework.cases.evaluate import evaluate as run
from casework.cases.moves import Actor
from casework.cases.world import CaseWorld
from casework.cli import common as cli
from casework.clock import LONDON
from casework.register import store as reg
from casework.register.store import active_user
from casework.store.db import session_scope
from casework.store.models import Pupil, User
from casework.timers import caseload_deadlines, timer_history
from casework.workflow import for_school
from casework.workflow.model import ROLE_NAMES


@click.command()
@cli.school_option
@cli.common_options
def evaluate(urn, db, as_of, as_json):
    """Run the rules and timers as of a date: open or add to cases, propose formal steps."""

    c = cli.ctx_of(db, as_of)
    report = run(c.engine, urn, c.clock)
    if as_json:
        cli.emit_json(report.as_dict())
        return
    cli.console.print(f"Evaluated {urn} as of {report.as_of:%A %d %B %Y}.")
    if report.findings:
        cli.console.print("Findings: " + ", ".join(f"{k} {v}" for k, v in sorted(report.findings.items())))
    cli.console.print(f"{len(report.opened)} case(s) opened, {report.attached} finding(s) added to cases, "
                      f"{len(report.proposed)} step(s) proposed, {report.notified} notification(s), "
                      f"{len(report.timers)} deadline(s) lapsed.")
    for p in report.proposed:
        cli.console.print(f"  proposed: case {p['case_id']} ({p['upn']}): {p['event'].replace('_', ' ')} [{p['rule']}]")


def _case_dict(s, case, clock, actor=None, full=False) -> dict:
    world = CaseWorld.load(s, case, clock)
    ct = world.workflow.case_type(case.case_type)
    pupil = s.get(Pupil, case.pupil_id)
    def ldn(moment):
        return moment.astimezone(LONDON) if moment is not None else None

    d = {
        "id": case.id, "upn": pupil.upn, "pupil": pupil.name, "year_group": pupil.year_group,
        "type": case.case_type, "type_label": ct.label, "state": case.state, "state_label": ct.states[case.state].label,
        "concern": case.concern, "opened_at": ldn(case.opened_at), "closed_at": ldn(case.closed_at),
        "safeguarding": case.safeguarding,
        "owner": owner.username if (owner := s.get(User, case.owner_id) if case.owner_id else None) else None,
        "findings": [{"rule": f.rule, "explanation": f.summary, "found_on": f.found_on, "figures": f.figures,
                      **({"evidence": f.evidence} if full else {})} for f in cs.findings(s, case.id)],
        "proposed": case.proposals,
        "moves_allowed": [o.as_dict() for o in cs.move_options(world, actor) if o.allowed],
        "timers": [{"id": t.id, "kind": t.kind, "label": t.label, "due": ldn(t.due_at), "status": t.status}
                   for t in case_timers(s, case.id)],
    }
    if full:
        d["moves_not_allowed"] = [o.as_dict() for o in cs.move_options(world, actor) if not o.allowed]
        d["history"] = [{"event": m.event, "from": m.from_state, "to": m.to_state, "by": m.actor, "role": m.actor_role,
                         "at": ldn(m.at), "reason": m.reason, "evidence": m.evidence} for m in cs.history(s, case.id)]
    return d


@click.command("cases")
@click.option("--school", "urn", default=None)
@click.option("--state", default=None)
@click.option("--type", "case_type", default=None)
@click.option("--all", "include_closed", is_flag=True, help="Include closed cases.")
@cli.common_options
def cases_cmd(urn, state, case_type, include_closed, db, as_of, as_json):
    """List cases, with their findings and the moves allowed now."""
    c = cli.ctx_of(db, as_of)
    with session_scope(c.engine) as s:
        school_id = _school_id(s, urn)
        rows = [_case_dict(s, case, c.clock)
                for case in list_cases(s, school_id, state=state, case_type=case_type, include_closed=include_closed)]
    if as_json:
        cli.emit_json(rows)
        return
    tab = Table("ID", "Pupil", "UPN", "Type", "State", "Opened", "Findings", "Proposed")
    for r in rows:
        tab.add_row(str(r["id"]), r["pupil"], r["upn"], r["type_label"], r["state_label"], f"{r['opened_at']:%d %b %Y}",
                    ", ".join(sorted({f["rule"] for f in r["findings"]})),
                    ", ".join(p["event"].replace("_", " ") for p in r["proposed"]))
    cli.console.print(tab)
    cli.console.print(f"{len(rows)} case(s).")


@click.group()
def case() -> None:
    """Show, open and move one case."""


@case.command("show")
@click.argument("case_id", type=int)
@click.option("--as", "username", default=None, help="Show the moves this user may take.")
@cli.common_options
def case_show(case_id, username, db, as_of, as_json):
    """A case: state, findings with their evidence, timers, history, and what can be done now."""

    c = cli.ctx_of(db, as_of)
    with session_scope(c.engine) as s:
        try:
            case_row = cs.get_case(s, case_id)
            actor = _actor(s, username) if username else None
        except LookupError as exc:
            cli.fail(str(exc).strip("'\""))
        d = _case_dict(s, case_row, c.clock, actor, full=True)
    if as_json:
        cli.emit_json(d)
        return
    cli.console.print(f"[bold]Case {d['id']}[/]: {d['pupil']} ({d['upn']}), {d['type_label']} — [bold]{d['state_label']}[/]"
                      + (" [red](safeguarding)[/]" if d["safeguarding"] else ""))
    cli.console.print(f"Opened {d['opened_at']:%d %b %Y}" + (f", closed {d['closed_at']:%d %b %Y}" if d["closed_at"] else "")
                      + f"; owner: {d['owner'] or 'unassigned'}")
    if d["findings"]:
        cli.console.print("[bold]Findings[/] (the latest of each; --json lists them all)")
    latest: dict[str, tuple[dict, int]] = {}
    for f in d["findings"]:  # oldest first: the last of a rule is its current figure
        latest[f["rule"]] = (f, latest.get(f["rule"], (None, -1))[1] + 1)
    for f, earlier in reversed(latest.values()):
        cli.console.print(f"  • {f['rule'].replace('_', ' ').capitalize()}, {f['found_on']:%d %b %Y}: {f['explanation']}"
                          + (f" ({earlier} earlier)" if earlier else ""), highlight=False, markup=False)
    steps = {o["event"] for o in d["moves_allowed"] + d["moves_not_allowed"]}
    for p in [p for p in d["proposed"] if p["event"] in steps]:  # a step no longer open from here is stale
        cli.console.print(f"  Proposed: {p['event'].replace('_', ' ')} — {p['reason']}", highlight=False)
    if d["timers"]:
        tab = Table("Deadline", "Due", "Status", title="Timers")
        for t in d["timers"]:
            tab.add_row(t["label"], f"{t['due']:%a %d %b %Y %H:%M}", t["status"])
        cli.console.print(tab)
    cli.console.print("[bold]History[/]")
    for m in d["history"]:
        step = f"{m['from']} → {m['to']}" if m["from"] else f"opened at {m['to']}"
        cli.console.print(f"  {m['at']:%d %b %Y %H:%M}  {m['event'].replace('_', ' ')} ({step}) by {m['by']}"
                          + (f": {m['reason']}" if m["reason"] else ""), highlight=False, markup=False)
    if d["moves_allowed"]:
        cli.console.print("[bold]Steps open now[/]" + (" (to you)" if actor else ""))
    for o in d["moves_allowed"]:
        cli.console.print(f"  [green]can[/] {o['event']}: {o['label']}")
    if d["moves_not_allowed"]:
        cli.console.print("[bold]Not open now[/]")
    for o in d["moves_not_allowed"]:
        cli.console.print(f"  [red]cannot[/] {o['event']}: " + "; ".join(o["reasons"]), highlight=False)


def _school_id(s, urn: str | None) -> int | None:
    """The id of the school with ``urn`` (None for every school); an unknown URN is an error."""
    if not urn:
        return None
    return reg.get_school(s, urn).id


def _actor(s, username):
    return Actor.of(active_user(s, username))


@case.command("move")
@click.argument("case_id", type=int)
@click.argument("event")
@click.option("--as", "username", required=True, help="The user taking the step.")
@click.option("--reason", default="", help="Why: kept on the case.")
@click.option("--param", "params", multiple=True, help="KEY=VALUE for the move (e.g. improvement_weeks=4, parents=Name).")
@cli.common_options
def case_move(case_id, event, username, reason, params, db, as_of, as_json):
    """Take a step on a case (refused, with every reason, if the rules or your role forbid it)."""

    c = cli.ctx_of(db, as_of)
    p: dict = {}
    for item in params:
        k, _, v = item.partition("=")
        if not _:
            cli.fail(f"--param {item!r} should be KEY=VALUE")
        p[k] = [x.strip() for x in v.split(";")] if k == "parents" else (int(v) if v.isdigit() else v)
    try:
        with session_scope(c.engine) as s:
            case_row = cs.get_case(s, case_id)
            actor = _actor(s, username)
            world = CaseWorld.load(s, case_row, c.clock)
            move = cs.move_case(world, event, actor, reason=reason, params=p)
            out = {"case_id": case_id, "event": event, "from": move.from_state, "to": move.to_state, "at": move.at}
    except cs.MoveRefused as exc:
        if as_json:
            cli.emit_json({"moved": False, "event": event, "reasons": exc.reasons})
        else:
            cli.err.print(f"[bold red]{event.replace('_', ' ')} refused[/] on case {case_id}:", highlight=False)
            for r in exc.reasons:
                cli.err.print(f"  - {r}", highlight=False, markup=False)
        sys.exit(1)
    except LookupError as exc:
        cli.fail(str(exc).strip("'\""))
    cli.output({"moved": True, **out}, as_json, f"Case {case_id}: {out['from']} → {out['to']}.")


@case.command("assign")
@click.argument("case_id", type=int)
@click.option("--to", "owner", default=None, help="Username of the new owner (omit to leave the case unassigned).")
@click.option("--as", "username", required=True, help="The user making the change.")
@click.option("--reason", default="", help="Why: kept in the audit log.")
@cli.common_options
def case_assign(case_id, owner, username, reason, db, as_of, as_json):
    """Give a case to a colleague (someone with a casework role at the school)."""
    c = cli.ctx_of(db, as_of)
    try:
        with session_scope(c.engine) as s:
            actor = _actor(s, username)
            case_row = cs.get_case(s, case_id)
            wf = CaseWorld.load(s, case_row, c.clock).workflow
            new = reassign(s, case_row, wf, owner, by=actor.username, now=c.clock.now(), reason=reason)
            out = {"case_id": case_id, "owner": new.username if new else None}
    except (AssignmentError, LookupError) as exc:
        cli.fail(str(exc).strip("'\""))
    cli.output(out, as_json, f"Case {case_id}: now {out['owner'] or 'unassigned'}.")


@case.command("open")
@cli.school_option
@click.option("--upn", required=True)
@click.option("--type", "case_type", required=True)
@click.option("--start", default=None, help="First day of the concern (e.g. first day of requested leave).")
@click.option("--as", "username", required=True)
@click.option("--reason", required=True)
@cli.common_options
def case_open(urn, upn, case_type, start, username, reason, db, as_of, as_json):
    """Open a case by hand (e.g. a leave request, a concern raised by a teacher)."""

    c = cli.ctx_of(db, as_of)
    try:
        with session_scope(c.engine) as s:
            sch = reg.get_school(s, urn)
            pupil = reg.get_pupil(s, sch, upn.upper())
            actor = _actor(s, username)
            wf = for_school(sch.workflow)
            if case_type not in wf.model.case_types:
                cli.fail(f"unknown case type {case_type!r} (types: {', '.join(wf.model.case_types)})")
            start_d = cli.parse_day(start)
            ct = wf.case_type(case_type)
            concern = cs.concern_key(wf, case_type, start_d)
            existing = cs.find_open_case(s, pupil.id, case_type, concern)
            if existing is not None:
                cli.fail(f"{pupil.name} already has an open {ct.label.lower()} case for this concern: case {existing.id}")
            case_row = cs.open_case(s, sch, pupil, wf, case_type, concern=concern, concern_start=start_d,
                                    clock=c.clock, actor=actor, reason=reason)
            out = {"case_id": case_row.id, "state": case_row.state}
    except LookupError as exc:
        cli.fail(str(exc).strip("'\""))
    cli.output(out, as_json, f"Opened case {out['case_id']} at {out['state']}.")


@click.command("timers")
@click.option("--school", "urn", default=None)
@click.option("--due-before", default=None, help="Only timers due before this date.")
@click.option("--status", default="open", show_default=True,
              help="open (outstanding: the work still to do, overdue or not, as Today and the caseload show it), "
                   "or every timer that was met, lapsed, cancelled, or all.")
@click.option("--role", default=None, help="Only deadlines this role is responsible for (e.g. dsl, attendance_officer).")
@click.option("--wide", is_flag=True, help="Every column (the default fits 80 columns).")
@cli.common_options
def timers_cmd(urn, due_before, status, role, wide, db, as_of, as_json):
    """Deadlines on cases."""
    if role is not None and role not in ROLE_NAMES:
        cli.fail(f"--role: unknown role {role!r} (one of {', '.join(sorted(ROLE_NAMES))})")
    c = cli.ctx_of(db, as_of)
    before = dt.datetime.combine(cli.parse_day(due_before), dt.time(0), tzinfo=LONDON) if due_before else None
    now = c.clock.now()
    with session_scope(c.engine) as s:
        school_id = _school_id(s, urn)
        if status in ("open", "outstanding"):
            rows = [{"id": d.id, "case_id": d.case_id, "upn": d.upn, "pupil": d.pupil, "kind": d.kind, "label": d.label,
                     "role": d.role, "due": d.due, "status": d.status, "overdue": d.overdue, "outcome": None}
                    for d in caseload_deadlines(s, school_id, role, now=now, due_before=before)]
        else:
            rows = timer_history(s, school_id, status, role, before, now)
    if as_json:
        cli.emit_json(rows)
        return
    tab = Table("ID", "Case", "Pupil", "Deadline", "Due", "Who", "Status") if wide else Table("Case", "Pupil", "Deadline", "Due")
    for r in rows:
        due = ("[red]Overdue · " if r["overdue"] else "") + f"{r['due']:%a %d %b %H:%M}"
        if wide:
            tab.add_row(str(r["id"]), str(r["case_id"]), r["pupil"], r["label"], due, r["role"], r["status"])
        else:
            tab.add_row(str(r["case_id"]), r["pupil"], r["label"], due)
    cli.console.print(tab)
