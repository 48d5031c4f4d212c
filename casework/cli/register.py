"""Commands for the register: schools, imports, statistics, marks and amendments."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

import click
from rich.table import Table

from casework.cli.common import (
    as_of_option,
    common_options,
    console,
    ctx_of,
    db_option,
    emit_json,
    err,
    fail,
    json_option,
    output,
    parse_day,
    parse_moment,
    report_problems,
    school_option,
)
from casework.clock import LONDON, local
from casework.figures import stats as st
from casework.readiness import FAIL, school_checks
from casework.register import importer
from casework.register import store as reg
from casework.register.calendar import school_year_start
from casework.register.schools import add_school, list_schools, thresholds_for
from casework.store.db import session_scope


@click.group()
def school() -> None:
    """Add and list schools."""


@school.command("add")
@click.option("--urn", required=True, help="The school's DfE URN.")
@click.option("--name", required=True)
@click.option("--la", "local_authority", default="", help="Local authority.")
@click.option("--workflow", default="national", help="Workflow file the school follows (a name under workflows/ or a path).")
@click.option("--address", default="", help="Postal address for the letterhead (lines separated by commas).")
@click.option("--phone", default="", help="Office phone number for letters.")
@click.option("--email", default="", help="Office email address for letters.")
@click.option("--head", "headteacher_name", default="", help="The headteacher's name, as letters sign it.")
@db_option
@json_option
def school_add(urn, name, local_authority, workflow, address, phone, email, headteacher_name, db, as_json):
    """Add a school (register times come from its workflow)."""

    c = ctx_of(db, creates=True)
    try:
        with session_scope(c.engine) as s:
            sch = add_school(s, urn=urn, name=name, local_authority=local_authority, workflow=workflow)
            sch.address = "\n".join(x.strip() for x in address.split(",") if x.strip())
            sch.phone, sch.email, sch.headteacher_name = phone.strip(), email.strip(), headteacher_name.strip()
            s.add(sch)
            out = {"id": sch.id, "urn": sch.urn, "name": sch.name, "workflow": sch.workflow}
    except ValueError as exc:  # includes WorkflowError, which lists every problem
        fail(str(exc))
    output(out, as_json, f"Added {out['name']} (URN {out['urn']}), following workflow {out['workflow']}.")


@school.command("check")
@click.argument("urn")
@common_options
def school_check(urn, db, as_of, as_json):
    """Is the school ready for tomorrow morning? Each item pass, warn or fail, with what to do."""
    c = ctx_of(db, as_of)
    with session_scope(c.engine) as s:
        sch = reg.get_school(s, urn)
        checks = school_checks(s, sch, c.clock.today())
        name = sch.name
    failed = [x for x in checks if x.status == FAIL]
    if as_json:
        emit_json({"urn": urn, "ready": not failed, "checks": [x.as_dict() for x in checks]})
    else:
        marks = {"pass": "[green]pass[/]", "warn": "[yellow]warn[/]", "fail": "[bold red]FAIL[/]"}
        t = Table("Check", "", "What we found", "What to do", title=f"{name} (URN {urn})")
        for x in checks:
            t.add_row(x.name, marks[x.status], x.detail, x.todo)
        console.print(t)
        console.print(f"{len(failed)} item(s) to fix before tomorrow morning." if failed else "Ready for tomorrow morning.")
    if failed:
        sys.exit(1)


@school.command("list")
@db_option
@json_option
def school_list(db, as_json):
    """List the schools in the database."""
    c = ctx_of(db)
    with session_scope(c.engine) as s:
        rows = [
            {"urn": x.urn, "name": x.name, "local_authority": x.local_authority, "workflow": x.workflow}
            for x in list_schools(s)
        ]
    if as_json:
        emit_json(rows)
        return
    t = Table("URN", "Name", "Local authority", "Workflow")
    for r in rows:
        t.add_row(r["urn"], r["name"], r["local_authority"], r["workflow"])
    console.print(t)


@click.command("import")
@click.argument("kind", type=click.Choice(["pupils", "contacts", "calendar", "marks"]))
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--school", "urn", required=True, help="URN of the school the data belongs to.")
@click.option("--by", "by_name", default="MIS import", show_default=True, help="Name recorded on register amendments.")
@click.option("--position", default="Data import", show_default=True, help="Position recorded on register amendments.")
@click.option("--reason", default=None, help="Reason recorded on register amendments (default names the file).")
@common_options
def import_cmd(kind, file, urn, by_name, position, reason, db, as_of, as_json):
    """Import a CSV file: all of it, or nothing with every problem listed."""

    c = ctx_of(db, as_of)
    try:
        with session_scope(c.engine) as s:
            sch = reg.get_school(s, urn)
            if kind == "marks":
                result = importer.import_marks(
                    s, sch, file, clock=c.clock, by=reg.Amender(by_name, position), reason=reason
                )
            else:
                result = importer.IMPORTERS[kind](s, sch, file, clock=c.clock, by=by_name)
    except importer.ImportRejected as exc:
        report_problems(file, exc.problems, as_json, "imported", "not imported", "; nothing was written")
    if as_json:
        emit_json({"imported": True, **result.as_dict()})
    else:
        console.print(
            f"{file}: {result.rows} row(s): {result.added} added, {result.changed} changed, "
            f"{result.unchanged} unchanged."
        )
        for note in result.notes:
            err.print(f"  {note}", highlight=False, markup=False)


@click.command()
@school_option
@click.option("--from", "start", default=None, help="First date (default: start of the school year).")
@click.option("--to", "end", default=None, help="Last date (default: today, or --as-of).")
@click.option("--year-group", type=int, default=None)
@click.option("--group", "flag", default=None, help="A vulnerable group: fsm, pupil_premium, send, ehc_plan, eal, ...")
@click.option("--upn", default=None, help="One pupil.")
@click.option("--summary", is_flag=True, help="Group figures (school, year groups, vulnerable groups) instead of pupils.")
@common_options
def stats(urn, start, end, year_group, flag, upn, summary, db, as_of, as_json):
    """Attendance figures per pupil, or by group with --summary."""

    c = ctx_of(db, as_of)
    end_d = parse_day(end) or c.clock.today()
    start_d = parse_day(start) or school_year_start(end_d)
    if start_d > end_d:
        fail(f"--from {start_d} is after --to {end_d}")
    try:
        with session_scope(c.engine) as s:
            sch = reg.get_school(s, urn)
            t = thresholds_for(sch)
            ids = [reg.get_pupil(s, sch, upn.upper()).id] if upn else None
            rows = st.pupil_figures(s, sch.id, start_d, end_d, year_group=year_group, flag=flag, pupil_ids=ids)
            flags = st.pupil_flags(s, sch.id) if summary else {}
    except ValueError as exc:
        fail(str(exc))
    period = {"school": urn, "from": start_d.isoformat(), "to": end_d.isoformat()}
    if summary:
        groups = st.breakdown(rows, flags, t)
        if as_json:
            emit_json({**period, "groups": [g.as_dict(t) for g in groups]})
            return
        tab = Table("Group", "Pupils", "Attendance %", "Authorised", "Unauthorised", "PA", "PA %", "SA", "SA %",
                    title=f"{urn}: {start_d} to {end_d}")
        for g in groups:
            f = g.figures
            tab.add_row(g.label, str(g.pupils), _pct(f.attendance_pct), str(f.authorised), str(f.unauthorised),
                        str(g.persistent_absentees), _pct(g.pa_rate), str(g.severe_absentees), _pct(g.sa_rate))
        console.print(tab)
        return
    if as_json:
        emit_json({**period, "pupils": [
            {"upn": r.upn, "name": r.name, "year_group": r.year_group, **r.figures.as_dict(t)} for r in rows
        ]})
        return
    tab = Table("UPN", "Name", "Year", "Possible", "Present", "Auth", "Unauth", "Attendance %", "PA", "SA", "Lates L/U",
                title=f"{urn}: {start_d} to {end_d}")
    for r in rows:
        f = r.figures
        tab.add_row(r.upn, r.name, st.year_group_label(r.year_group), str(f.possible_sessions), str(f.present),
                    str(f.authorised), str(f.unauthorised), _pct(f.attendance_pct),
                    "PA" if f.persistent_absence(t) else "", "SA" if f.severe_absence(t) else "",
                    f"{f.lates_before_close}/{f.lates_after_close}")
    console.print(tab)


def _pct(v: float | None) -> str:
    return "—" if v is None else f"{v:.1f}"


@click.group()
def register() -> None:
    """Show and amend a pupil's register."""


@register.command("show")
@school_option
@click.option("--upn", required=True)
@click.option("--at", "at", default=None, help="Show the register as it stood at this moment (YYYY-MM-DDTHH:MM).")
@click.option("--from", "start", default=None)
@click.option("--to", "end", default=None)
@db_option
@json_option
def register_show(urn, upn, at, start, end, db, as_json):
    """A pupil's marks, now or as they stood at any past moment, with amendments."""

    c = ctx_of(db)
    moment = parse_moment(at) if at else c.clock.now()
    if isinstance(moment, dt.date) and not isinstance(moment, dt.datetime):
        moment = dt.datetime.combine(moment, dt.time(23, 59, 59), tzinfo=LONDON)
    start_d, end_d = parse_day(start), parse_day(end)
    with session_scope(c.engine) as s:
        sch = reg.get_school(s, urn)
        p = reg.get_pupil(s, sch, upn.upper())
        marks = [m for m in reg.register_as_of(s, p.id, moment)
                 if (start_d is None or m.date >= start_d) and (end_d is None or m.date <= end_d)]
        amendments = [a for a in reg.amendments_for(s, p.id)
                      if (start_d is None or a.date >= start_d) and (end_d is None or a.date <= end_d)]
    if as_json:
        emit_json({
            "upn": p.upn, "as_at": moment.isoformat(),
            "marks": [m.__dict__ for m in marks],
            "amendments": [{
                "date": a.date, "session": a.session, "original": a.original_code, "amended": a.amended_code,
                "reason": a.reason, "amended_at": a.amended_at, "by": a.amended_by_name,
                "position": a.amended_by_position} for a in amendments],
        })
        return
    console.print(f"[bold]{p.name}[/] ({p.upn}) register as at {local(moment):%d %b %Y %H:%M}")
    week: dict[dt.date, dict[str, str]] = {}
    for m in marks:
        week.setdefault(m.date, {})[m.session] = m.code
    tab = Table("Date", "Day", "AM", "PM")
    for d, ss in week.items():
        tab.add_row(d.isoformat(), d.strftime("%a"), ss.get("AM", ""), ss.get("PM", ""))
    console.print(tab)
    if amendments:
        at_tab = Table("Session", "Was", "Now", "Reason", "When", "By", title="Amendments")
        for a in amendments:
            at_tab.add_row(f"{a.date} {a.session}", a.original_code, a.amended_code, a.reason,
                           f"{local(a.amended_at):%d %b %Y %H:%M}", f"{a.amended_by_name} ({a.amended_by_position})")
        console.print(at_tab)


@register.command("amend")
@school_option
@click.option("--upn", required=True)
@click.option("--date", "day", required=True)
@click.option("--session", "sess", type=click.Choice(["AM", "PM"]), required=True)
@click.option("--code", required=True)
@click.option("--minutes-late", type=int, default=None)
@click.option("--reason", required=True, help="Why the entry is changed: kept with the register.")
@click.option("--by", "by_name", required=True, help="Your name.")
@click.option("--position", required=True, help="Your position (e.g. Attendance officer).")
@db_option
@as_of_option
def register_amend(urn, upn, day, sess, code, minutes_late, reason, by_name, position, db, as_of):
    """Take or amend one mark (an amendment keeps the original entry)."""
    c = ctx_of(db, as_of)
    try:
        with session_scope(c.engine) as s:
            sch = reg.get_school(s, urn)
            p = reg.get_pupil(s, sch, upn.upper())
            cal = reg.load_calendar(s, sch.id)
            m = reg.record_mark(s, p, parse_day(day), sess, code, calendar=cal, clock=c.clock,
                                by=reg.Amender(by_name, position), minutes_late=minutes_late, reason=reason)
            console.print(f"{p.name}: {m.date} {m.session} is now {m.code}.")
    except (reg.RegisterError, KeyError) as exc:
        fail(str(exc).strip("'\""))
