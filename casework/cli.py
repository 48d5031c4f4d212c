"""The ``casework`` command: parse, call the domain, print. No rule lives here."""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from casework import register as reg
from casework.clock import LONDON, Clock, FixedClock
from casework.db import make_engine, session_scope

console = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)


class Ctx:
    def __init__(self, db: str | None, as_of: str | None):
        self.db = db
        self.clock: Clock = FixedClock(parse_moment(as_of)) if as_of else Clock()
        self._engine = None

    @property
    def engine(self):
        if self._engine is None:
            self._engine = make_engine(self.db)
        return self._engine


def parse_moment(text: str) -> dt.datetime | dt.date:
    try:
        if "T" in text or " " in text.strip():
            m = dt.datetime.fromisoformat(text)
            return m if m.tzinfo else m.replace(tzinfo=LONDON)
        return dt.date.fromisoformat(text)
    except ValueError:
        raise click.BadParameter(f"{text!r} is not a date (YYYY-MM-DD) or a moment (YYYY-MM-DDTHH:MM)") from None


def parse_day(text: str | None) -> dt.date | None:
    if text is None:
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise click.BadParameter(f"{text!r} is not a date (YYYY-MM-DD)") from None


def db_option(f):
    return click.option(
        "--db", "db", envvar="CASEWORK_DATABASE_URL", default=None,
        help="SQLAlchemy database URL (default sqlite:///casework.db, or $CASEWORK_DATABASE_URL).",
    )(f)


def as_of_option(f):
    return click.option(
        "--as-of", "as_of", default=None,
        help="Act as if it were this date or moment (YYYY-MM-DD or YYYY-MM-DDTHH:MM, Europe/London).",
    )(f)


json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")


def ctx_of(db, as_of=None) -> Ctx:
    return Ctx(db, as_of)


def emit_json(data) -> None:
    click.echo(json.dumps(data, indent=2, default=_json_default))


def _json_default(o):
    if isinstance(o, (dt.date, dt.datetime, dt.time)):
        return o.isoformat()
    raise TypeError(f"cannot serialise {type(o).__name__}")


def fail(message: str, code: int = 1):
    err.print(f"[bold red]error:[/] {message}", highlight=False)
    sys.exit(code)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="casework")
def main() -> None:
    """casework: attendance and safeguarding casework for schools."""


# -- school -------------------------------------------------------------------


@main.group()
def school() -> None:
    """Add and list schools."""


@school.command("add")
@click.option("--urn", required=True, help="The school's DfE URN.")
@click.option("--name", required=True)
@click.option("--la", "local_authority", default="", help="Local authority.")
@click.option("--workflow", default="national", help="Workflow file the school follows (a name under workflows/ or a path).")
@db_option
@json_option
def school_add(urn, name, local_authority, workflow, db, as_json):
    """Add a school (register times come from its workflow)."""
    from casework.schools import add_school

    c = ctx_of(db)
    try:
        with session_scope(c.engine) as s:
            sch = add_school(s, urn=urn, name=name, local_authority=local_authority, workflow=workflow)
            out = {"id": sch.id, "urn": sch.urn, "name": sch.name, "workflow": sch.workflow}
    except ValueError as exc:  # includes WorkflowError, which lists every problem
        fail(str(exc))
    if as_json:
        emit_json(out)
    else:
        console.print(f"Added {out['name']} (URN {out['urn']}), following workflow {out['workflow']}.")


@school.command("list")
@db_option
@json_option
def school_list(db, as_json):
    """List the schools in the database."""
    from sqlmodel import select

    from casework.models import School

    c = ctx_of(db)
    with session_scope(c.engine) as s:
        rows = [
            {"urn": x.urn, "name": x.name, "local_authority": x.local_authority, "workflow": x.workflow}
            for x in s.exec(select(School).order_by(School.name))
        ]
    if as_json:
        emit_json(rows)
        return
    t = Table("URN", "Name", "Local authority", "Workflow")
    for r in rows:
        t.add_row(r["urn"], r["name"], r["local_authority"], r["workflow"])
    console.print(t)


# -- import -------------------------------------------------------------------


@main.command("import")
@click.argument("kind", type=click.Choice(["pupils", "contacts", "calendar", "marks"]))
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--school", "urn", required=True, help="URN of the school the data belongs to.")
@click.option("--by", "by_name", default="MIS import", show_default=True, help="Name recorded on register amendments.")
@click.option("--position", default="Data import", show_default=True, help="Position recorded on register amendments.")
@click.option("--reason", default=None, help="Reason recorded on register amendments (default names the file).")
@db_option
@as_of_option
@json_option
def import_cmd(kind, file, urn, by_name, position, reason, db, as_of, as_json):
    """Import a CSV file: all of it, or nothing with every problem listed."""
    from casework import importer

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
        if as_json:
            emit_json({"imported": False, "problems": [p.__dict__ for p in exc.problems]})
        else:
            err.print(f"[bold red]{file}: not imported[/] ({len(exc.problems)} problem(s); nothing was written)", highlight=False)
            for p in exc.problems:
                err.print(f"  {p}", highlight=False, markup=False)
        sys.exit(1)
    except reg.NotFound as exc:
        fail(str(exc))
    if as_json:
        emit_json({"imported": True, **result.as_dict()})
    else:
        console.print(
            f"{file}: {result.rows} row(s): {result.added} added, {result.changed} changed, "
            f"{result.unchanged} unchanged."
        )


# -- stats --------------------------------------------------------------------


@main.command()
@click.option("--school", "urn", required=True)
@click.option("--from", "start", default=None, help="First date (default: start of the school year).")
@click.option("--to", "end", default=None, help="Last date (default: today, or --as-of).")
@click.option("--year-group", type=int, default=None)
@click.option("--group", "flag", default=None, help="A vulnerable group: fsm, pupil_premium, send, ehc_plan, eal, ...")
@click.option("--upn", default=None, help="One pupil.")
@click.option("--summary", is_flag=True, help="Group figures (school, year groups, vulnerable groups) instead of pupils.")
@db_option
@as_of_option
@json_option
def stats(urn, start, end, year_group, flag, upn, summary, db, as_of, as_json):
    """Attendance figures per pupil, or by group with --summary."""
    from casework import stats as st
    from casework.calendar import school_year_start
    from casework.schools import thresholds_for

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
    except (reg.NotFound, ValueError) as exc:
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


# -- register -----------------------------------------------------------------


@main.group()
def register() -> None:
    """Show and amend a pupil's register."""


@register.command("show")
@click.option("--school", "urn", required=True)
@click.option("--upn", required=True)
@click.option("--at", "at", default=None, help="Show the register as it stood at this moment (YYYY-MM-DDTHH:MM).")
@click.option("--from", "start", default=None)
@click.option("--to", "end", default=None)
@db_option
@json_option
def register_show(urn, upn, at, start, end, db, as_json):
    """A pupil's marks, now or as they stood at any past moment, with amendments."""
    from casework.clock import local

    c = ctx_of(db)
    moment = parse_moment(at) if at else c.clock.now()
    if isinstance(moment, dt.date) and not isinstance(moment, dt.datetime):
        moment = dt.datetime.combine(moment, dt.time(23, 59, 59), tzinfo=LONDON)
    start_d, end_d = parse_day(start), parse_day(end)
    with session_scope(c.engine) as s:
        try:
            sch = reg.get_school(s, urn)
            p = reg.get_pupil(s, sch, upn.upper())
        except reg.NotFound as exc:
            fail(str(exc))
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
@click.option("--school", "urn", required=True)
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
    except (reg.NotFound, reg.RegisterError, KeyError) as exc:
        fail(str(exc).strip("'\""))


# -- workflows ----------------------------------------------------------------


@main.group()
def workflow() -> None:
    """Check and draw workflow files."""


@workflow.command("check")
@click.argument("file")
@click.option("--db", "db", default=None, help="Also list the schools in this database that follow the workflow.")
@json_option
def workflow_check(file, db, as_json):
    """Validate a workflow file; print every problem, or a summary of the policy."""
    from casework.workflow import WorkflowError, load

    try:
        wf = load(file)
    except WorkflowError as exc:
        if as_json:
            emit_json({"valid": False, "problems": [p.__dict__ for p in exc.problems]})
        else:
            err.print(f"[bold red]{file}: {len(exc.problems)} problem(s)[/]", highlight=False)
            for p in exc.problems:
                err.print(f"  {p}", highlight=False, markup=False)
        sys.exit(1)
    m = wf.model
    summary = {
        "valid": True, "name": m.name, "file": str(wf.path),
        "register": {k: {"open": v.open.strftime("%H:%M"), "close": v.close.strftime("%H:%M")} for k, v in m.school.registers.items()},
        "target_attendance_pct": m.school.target_attendance_pct,
        "thresholds": m.thresholds.model_dump(),
        "penalties": m.penalties.model_dump(),
        "rules": {k: {"opens": r.opens, "proposes": r.proposes, **r.params} for k, r in m.rules.items() if r.enabled},
        "case_types": {k: {"states": list(c.states), "moves": list(c.moves)} for k, c in m.case_types.items()},
        "timers": {k: t.label for k, t in m.timers.items()},
        "letters": {k: v.label for k, v in m.letters.items()},
    }
    if db:
        from sqlmodel import select

        from casework.models import School

        with session_scope(ctx_of(db).engine) as s:
            summary["schools"] = [{"urn": x.urn, "name": x.name} for x in s.exec(select(School).order_by(School.name))
                                  if x.workflow in (wf.key, file, str(wf.path))]
    if as_json:
        emit_json(summary)
        return
    console.print(f"[bold green]{file}: valid[/] — {m.name}", highlight=False)
    reg_times = ", ".join(f"{k} {v['open']}–{v['close']}" for k, v in summary["register"].items())
    console.print(f"Registers: {reg_times}" + (f"; target {m.school.target_attendance_pct}%" if m.school.target_attendance_pct else ""))
    t = m.thresholds
    console.print(f"PA ≥ {t.persistent_absence_pct:g}%, SA ≥ {t.severe_absence_pct:g}%; penalty threshold "
                  f"{t.penalty_sessions} unauthorised sessions in {t.penalty_school_weeks} school weeks")
    p = m.penalties
    first = f"£{p.first.reduced_amount} within {p.first.reduced_days} days, " if p.first.reduced_amount else ""
    console.print(f"Penalty notices: first {first}£{p.first.amount} within {p.first.days} days; second £{p.second.amount} "
                  f"within {p.second.days} days; at most {p.max_notices} in {p.within_years} years")
    tab = Table("Rule", "Opens", "Proposes", "Settings", title="Rules")
    for k, r in summary["rules"].items():
        settings = {kk: vv for kk, vv in r.items() if kk not in ("opens", "proposes")}
        tab.add_row(k, r["opens"] or "—", r["proposes"] or "—", json.dumps(settings, default=str) if settings else "")
    console.print(tab)
    tab = Table("Case type", "States", "Moves", title="Case types")
    for k, c in m.case_types.items():
        tab.add_row(f"{k}\n({c.label})", ", ".join(c.states), ", ".join(c.moves))
    console.print(tab)
    console.print(f"{len(m.timers)} timers, {len(m.letters)} letters.")
    if "schools" in summary:
        names = ", ".join(f"{x['name']} ({x['urn']})" for x in summary["schools"]) or "none"
        console.print(f"Schools following it: {names}")


@workflow.command("diagram")
@click.argument("file")
@click.option("--out", "out_dir", type=click.Path(path_type=Path), default=Path("diagrams"), show_default=True,
              help="Folder for the pictures (one per case type).")
@click.option("--format", "fmt", type=click.Choice(["svg", "png", "mermaid"]), default="svg", show_default=True)
@click.option("--case-type", default=None, help="Only this case type.")
def workflow_diagram(file, out_dir, fmt, case_type):
    """Draw each case type's states and moves (SVG or PNG via Graphviz, or Mermaid text)."""
    from casework.states.machine import diagram
    from casework.workflow import WorkflowError, load

    try:
        wf = load(file)
    except WorkflowError as exc:
        fail(str(exc))
    out_dir.mkdir(parents=True, exist_ok=True)
    for ct in wf.model.case_types:
        if case_type and ct != case_type:
            continue
        data = diagram(wf, ct, fmt)
        path = out_dir / f"{wf.key}-{ct}.{'mmd' if fmt == 'mermaid' else fmt}"
        path.write_bytes(data if isinstance(data, bytes) else data.encode())
        console.print(f"wrote {path}")


# -- cases --------------------------------------------------------------------


@main.command()
@click.option("--school", "urn", required=True)
@db_option
@as_of_option
@json_option
def evaluate(urn, db, as_of, as_json):
    """Run the rules and timers as of a date: open or add to cases, propose formal steps."""
    from casework.evaluate import evaluate as run

    c = ctx_of(db, as_of)
    try:
        report = run(c.engine, urn, c.clock)
    except reg.NotFound as exc:
        fail(str(exc))
    if as_json:
        emit_json(report.as_dict())
        return
    console.print(f"Evaluated {urn} as of {report.as_of:%A %d %B %Y}.")
    if report.findings:
        console.print("Findings: " + ", ".join(f"{k} {v}" for k, v in sorted(report.findings.items())))
    console.print(f"{len(report.opened)} case(s) opened, {report.attached} finding(s) added to cases, "
                  f"{len(report.proposed)} step(s) proposed, {report.notified} notification(s), "
                  f"{len(report.timers)} deadline(s) lapsed.")
    for p in report.proposed:
        console.print(f"  proposed: case {p['case_id']} ({p['upn']}): {p['event'].replace('_', ' ')} [{p['rule']}]")


def _case_dict(s, case, clock, actor=None, full=False) -> dict:
    from sqlmodel import select

    from casework import cases as cs
    from casework.casemodels import Timer
    from casework.models import Pupil

    world = cs.CaseWorld.load(s, case, clock)
    ct = world.workflow.case_type(case.case_type)
    pupil = s.get(Pupil, case.pupil_id)
    def ldn(moment):
        return moment.astimezone(LONDON) if moment is not None else None

    d = {
        "id": case.id, "upn": pupil.upn, "pupil": pupil.name, "year_group": pupil.year_group,
        "type": case.case_type, "type_label": ct.label, "state": case.state, "state_label": ct.states[case.state].label,
        "concern": case.concern, "opened_at": ldn(case.opened_at), "closed_at": ldn(case.closed_at),
        "safeguarding": case.safeguarding,
        "findings": [{"rule": f.rule, "explanation": f.summary, "found_on": f.found_on, "figures": f.figures,
                      **({"evidence": f.evidence} if full else {})} for f in cs.findings(s, case.id)],
        "proposed": case.proposals,
        "moves_allowed": [o.as_dict() for o in cs.move_options(world, actor) if o.allowed],
        "timers": [{"id": t.id, "kind": t.kind, "label": t.label, "due": ldn(t.due_at), "status": t.status}
                   for t in s.exec(select(Timer).where(Timer.case_id == case.id).order_by(Timer.due_at))],
    }
    if full:
        d["moves_not_allowed"] = [o.as_dict() for o in cs.move_options(world, actor) if not o.allowed]
        d["history"] = [{"event": m.event, "from": m.from_state, "to": m.to_state, "by": m.actor, "role": m.actor_role,
                         "at": ldn(m.at), "reason": m.reason, "evidence": m.evidence} for m in cs.history(s, case.id)]
    return d


@main.command("cases")
@click.option("--school", "urn", default=None)
@click.option("--state", default=None)
@click.option("--type", "case_type", default=None)
@click.option("--all", "include_closed", is_flag=True, help="Include closed cases.")
@db_option
@as_of_option
@json_option
def cases_cmd(urn, state, case_type, include_closed, db, as_of, as_json):
    """List cases, with their findings and the moves allowed now."""
    from sqlmodel import select

    from casework.casemodels import Case

    c = ctx_of(db, as_of)
    with session_scope(c.engine) as s:
        q = select(Case)
        if urn:
            try:
                q = q.where(Case.school_id == reg.get_school(s, urn).id)
            except reg.NotFound as exc:
                fail(str(exc))
        if state:
            q = q.where(Case.state == state)
        if case_type:
            q = q.where(Case.case_type == case_type)
        if not include_closed:
            q = q.where(Case.closed_at.is_(None))
        rows = [_case_dict(s, case, c.clock) for case in s.exec(q.order_by(Case.opened_at, Case.id))]
    if as_json:
        emit_json(rows)
        return
    tab = Table("ID", "Pupil", "UPN", "Type", "State", "Opened", "Findings", "Proposed")
    for r in rows:
        tab.add_row(str(r["id"]), r["pupil"], r["upn"], r["type_label"], r["state_label"], f"{r['opened_at']:%d %b %Y}",
                    ", ".join(sorted({f["rule"] for f in r["findings"]})),
                    ", ".join(p["event"].replace("_", " ") for p in r["proposed"]))
    console.print(tab)
    console.print(f"{len(rows)} case(s).")


@main.group()
def case() -> None:
    """Show, open and move one case."""


@case.command("show")
@click.argument("case_id", type=int)
@click.option("--as", "username", default=None, help="Show the moves this user may take.")
@db_option
@as_of_option
@json_option
def case_show(case_id, username, db, as_of, as_json):
    """A case: state, findings with their evidence, timers, history, and what can be done now."""
    from casework import cases as cs

    c = ctx_of(db, as_of)
    with session_scope(c.engine) as s:
        try:
            case_row = cs.get_case(s, case_id)
            actor = _actor(s, username) if username else None
        except LookupError as exc:
            fail(str(exc).strip("'\""))
        d = _case_dict(s, case_row, c.clock, actor, full=True)
    if as_json:
        emit_json(d)
        return
    console.print(f"[bold]Case {d['id']}[/]: {d['pupil']} ({d['upn']}), {d['type_label']} — [bold]{d['state_label']}[/]"
                  + (" [red](safeguarding)[/]" if d["safeguarding"] else ""))
    console.print(f"Opened {d['opened_at']:%d %b %Y}" + (f", closed {d['closed_at']:%d %b %Y}" if d["closed_at"] else ""))
    for f in d["findings"]:
        console.print(f"  • [{f['rule']}] {f['explanation']}", highlight=False)
    for p in d["proposed"]:
        console.print(f"  Proposed: {p['event'].replace('_', ' ')} — {p['reason']}", highlight=False)
    if d["timers"]:
        tab = Table("Deadline", "Due", "Status", title="Timers")
        for t in d["timers"]:
            tab.add_row(t["label"], f"{t['due']:%a %d %b %Y %H:%M}", t["status"])
        console.print(tab)
    console.print("[bold]History[/]")
    for m in d["history"]:
        step = f"{m['from']} → {m['to']}" if m["from"] else f"opened at {m['to']}"
        console.print(f"  {m['at']:%d %b %Y %H:%M}  {m['event'].replace('_', ' ')} ({step}) by {m['by']}"
                      + (f": {m['reason']}" if m["reason"] else ""), highlight=False, markup=False)
    for o in d["moves_allowed"]:
        console.print(f"  [green]can[/] {o['event']}: {o['label']}")
    for o in d["moves_not_allowed"]:
        console.print(f"  [red]cannot[/] {o['event']}: " + "; ".join(o["reasons"]), highlight=False)


def _actor(s, username):
    from sqlmodel import select

    from casework.cases import Actor
    from casework.models import User

    user = s.exec(select(User).where(User.username == username)).first()
    if user is None or not user.active:
        raise LookupError(f"no active user {username!r}")
    return Actor.of(user)


@case.command("move")
@click.argument("case_id", type=int)
@click.argument("event")
@click.option("--as", "username", required=True, help="The user taking the step.")
@click.option("--reason", default="", help="Why: kept on the case.")
@click.option("--param", "params", multiple=True, help="KEY=VALUE for the move (e.g. improvement_weeks=4, parents=Name).")
@db_option
@as_of_option
@json_option
def case_move(case_id, event, username, reason, params, db, as_of, as_json):
    """Take a step on a case (refused, with every reason, if the rules or your role forbid it)."""
    from casework import cases as cs

    c = ctx_of(db, as_of)
    p: dict = {}
    for item in params:
        k, _, v = item.partition("=")
        if not _:
            fail(f"--param {item!r} should be KEY=VALUE")
        p[k] = [x.strip() for x in v.split(";")] if k == "parents" else (int(v) if v.isdigit() else v)
    try:
        with session_scope(c.engine) as s:
            case_row = cs.get_case(s, case_id)
            actor = _actor(s, username)
            world = cs.CaseWorld.load(s, case_row, c.clock)
            move = cs.move_case(world, event, actor, reason=reason, params=p)
            out = {"case_id": case_id, "event": event, "from": move.from_state, "to": move.to_state, "at": move.at}
    except cs.MoveRefused as exc:
        if as_json:
            emit_json({"moved": False, "event": event, "reasons": exc.reasons})
        else:
            err.print(f"[bold red]{event.replace('_', ' ')} refused[/] on case {case_id}:", highlight=False)
            for r in exc.reasons:
                err.print(f"  - {r}", highlight=False, markup=False)
        sys.exit(1)
    except LookupError as exc:
        fail(str(exc).strip("'\""))
    if as_json:
        emit_json({"moved": True, **out})
    else:
        console.print(f"Case {case_id}: {out['from']} → {out['to']}.")


@case.command("open")
@click.option("--school", "urn", required=True)
@click.option("--upn", required=True)
@click.option("--type", "case_type", required=True)
@click.option("--start", default=None, help="First day of the concern (e.g. first day of requested leave).")
@click.option("--as", "username", required=True)
@click.option("--reason", required=True)
@db_option
@as_of_option
@json_option
def case_open(urn, upn, case_type, start, username, reason, db, as_of, as_json):
    """Open a case by hand (e.g. a leave request, a concern raised by a teacher)."""
    from casework import cases as cs
    from casework.workflow import for_school

    c = ctx_of(db, as_of)
    try:
        with session_scope(c.engine) as s:
            sch = reg.get_school(s, urn)
            pupil = reg.get_pupil(s, sch, upn.upper())
            actor = _actor(s, username)
            wf = for_school(sch.workflow)
            if case_type not in wf.model.case_types:
                fail(f"unknown case type {case_type!r} (types: {', '.join(wf.model.case_types)})")
            start_d = parse_day(start)
            ct = wf.case_type(case_type)
            concern = cs.concern_key(wf, case_type, start_d)
            existing = cs.find_open_case(s, pupil.id, case_type, concern)
            if existing is not None:
                fail(f"{pupil.name} already has an open {ct.label.lower()} case for this concern: case {existing.id}")
            case_row = cs.open_case(s, sch, pupil, wf, case_type, concern=concern, concern_start=start_d,
                                    clock=c.clock, actor=actor, reason=reason)
            out = {"case_id": case_row.id, "state": case_row.state}
    except (reg.NotFound, LookupError) as exc:
        fail(str(exc).strip("'\""))
    if as_json:
        emit_json(out)
    else:
        console.print(f"Opened case {out['case_id']} at {out['state']}.")


@main.command("timers")
@click.option("--school", "urn", default=None)
@click.option("--due-before", default=None, help="Only timers due before this date.")
@click.option("--status", default="open", show_default=True, help="open, met, lapsed, cancelled or all.")
@click.option("--role", default=None, help="Only deadlines this role is responsible for (e.g. dsl, attendance_officer).")
@db_option
@as_of_option
@json_option
def timers_cmd(urn, due_before, status, role, db, as_of, as_json):
    """Deadlines on cases."""
    from sqlmodel import select

    from casework.casemodels import Case, Timer
    from casework.models import Pupil
    from casework.workflow import for_school

    c = ctx_of(db, as_of)
    with session_scope(c.engine) as s:
        q = select(Timer, Case, Pupil).join(Case, Case.id == Timer.case_id).join(Pupil, Pupil.id == Case.pupil_id)
        if urn:
            try:
                q = q.where(Timer.school_id == reg.get_school(s, urn).id)
            except reg.NotFound as exc:
                fail(str(exc))
        if status != "all":
            q = q.where(Timer.status == status)
        if due_before:
            q = q.where(Timer.due_at < dt.datetime.combine(parse_day(due_before), dt.time(0), tzinfo=LONDON))
        rows = [{"id": t.id, "case_id": t.case_id, "upn": p.upn, "pupil": p.name, "kind": t.kind, "label": t.label,
                 "role": t.role, "due": t.due_at.astimezone(LONDON), "status": t.status, "outcome": t.outcome}
                for t, cs_, p in s.exec(q.order_by(Timer.due_at, Timer.id))
                if role is None or role == t.role or role in for_school(cs_.workflow).roles_for([t.role])]
    if as_json:
        emit_json(rows)
        return
    tab = Table("ID", "Case", "Pupil", "Deadline", "Due", "Who", "Status")
    for r in rows:
        overdue = r["status"] == "open" and r["due"] <= c.clock.now()
        tab.add_row(str(r["id"]), str(r["case_id"]), r["pupil"], r["label"],
                    ("[red]" if overdue else "") + f"{r['due']:%a %d %b %H:%M}", r["role"], r["status"])
    console.print(tab)


# -- demo ---------------------------------------------------------------------


@main.command()
@click.option("--db", "db", default=None, help="Database URL (default: sqlite:///casework-demo.db, rebuilt each run).")
@click.option("--pupils", default=400, show_default=True)
@click.option("--seed", default=2026, show_default=True)
@as_of_option
@json_option
def demo(db, pupils, seed, as_of, as_json):
    """Build a realistic demo school and run the day's work on it."""
    from casework.demo import build_demo

    c = ctx_of(db or "sqlite:///casework-demo.db", as_of)
    if db is None:
        Path("casework-demo.db").unlink(missing_ok=True)
        for suffix in ("-wal", "-shm"):
            Path("casework-demo.db" + suffix).unlink(missing_ok=True)
    report = build_demo(c.engine, clock=c.clock, pupils=pupils, seed=seed,
                        db_url=db or "sqlite:///casework-demo.db")
    if as_json:
        emit_json(report.as_dict())
    else:
        report.print(console)


# Commands of other areas live in their own modules and register themselves on ``main``.
from casework import cli_letters, cli_nightly, cli_scheduler, cli_web  # noqa: E402, F401

if __name__ == "__main__":
    main()
