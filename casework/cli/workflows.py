"""Commands for workflow files: check and diagram."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
from rich.table import Table

from casework.cli.common import (
    console,
    ctx_of,
    emit_json,
    err,
    fail,
    json_option,
    report_problems,
)
from casework.letters.check import letter_problems
from casework.register.schools import list_schools
from casework.states.machine import diagram
from casework.store.db import session_scope
from casework.workflow import WorkflowError, load


@click.group()
def workflow() -> None:
    """Check and draw workflow files."""


@workflow.command("check")
@click.argument("file")
@click.option("--db", "db", default=None, help="Also list the schools in this database that follow the workflow.")
@json_option
def workflow_check(file, db, as_json):
    """Validate a workflow file; print every problem, or a summary of the policy."""

    try:
        wf = load(file)
    except WorkflowError as exc:
        report_problems(file, exc.problems, as_json, "valid", "not valid")
    _refuse_letter_problems(file, wf, as_json)
    m = wf.model
    summary = {
        "valid": True, "name": m.name, "file": str(wf.path),
        "register": {k: {"open": v.open.strftime("%H:%M"), "close": v.close.strftime("%H:%M"),
                         "u_after": v.u_after.strftime("%H:%M")} for k, v in m.school.registers.items()},
        "target_attendance_pct": m.school.target_attendance_pct,
        "thresholds": m.thresholds.model_dump(),
        "penalties": m.penalties.model_dump(),
        "rules": {k: {"opens": r.opens, "proposes": r.proposes, "proposes_by_level": r.proposes_by_level,
                      "letters_by_level": r.letters_by_level, **r.params} for k, r in m.rules.items() if r.enabled},
        "case_types": {k: {"states": list(c.states), "moves": list(c.moves)} for k, c in m.case_types.items()},
        "timers": {k: t.label for k, t in m.timers.items()},
        "letters": {k: v.label for k, v in m.letters.items()},
        "roles": m.roles,
        "phase": m.school.phase,
        "descriptive_bands": m.descriptive_bands.model_dump(),
        "codes": m.codes,
        "retention": m.retention.model_dump(),
    }
    if db:
        with session_scope(ctx_of(db).engine) as s:
            summary["schools"] = [{"urn": x.urn, "name": x.name} for x in list_schools(s, wf, file)]
    if as_json:
        emit_json(summary)
        return
    _print_policy(file, m, summary)


def _refuse_letter_problems(file: str, wf, as_json: bool) -> None:
    """Every letter's template and merge fields are checked now, not found missing at print time."""
    if problems := letter_problems(wf):
        if as_json:
            emit_json({"valid": False, "problems": [{"message": p} for p in problems]})
        else:
            err.print(f"[bold red]{file}: {len(problems)} problem(s) in its letters[/]", highlight=False)
            for p in problems:
                err.print(f"  {wf.path}: {p}", highlight=False, markup=False)
        sys.exit(1)


def _print_policy(file: str, m, summary: dict) -> None:
    """What the workflow says, as a person reads it."""
    console.print(f"[bold green]{file}: valid[/] — {m.name}", highlight=False)
    reg_times = "; ".join(
        f"{k} taken {v.open:%H:%M}, closes {v.close:%H:%M}, "
        + (f"L until {v.late_until:%H:%M} then U" if v.late_until else f"U after {v.close:%H:%M}")
        for k, v in m.school.registers.items())
    console.print(f"Registers: {reg_times}" + (f"; target {m.school.target_attendance_pct}%" if m.school.target_attendance_pct else ""))
    t = m.thresholds
    console.print(f"PA ≥ {t.persistent_absence_pct:g}%, SA ≥ {t.severe_absence_pct:g}%; penalty threshold "
                  f"{t.penalty_sessions} unauthorised sessions in {t.penalty_school_weeks} school weeks")
    p = m.penalties
    first = f"£{p.first.reduced_amount} within {p.first.reduced_days} days, " if p.first.reduced_amount else ""
    console.print(f"Penalty notices: first {first}£{p.first.amount} within {p.first.days} days; second £{p.second.amount} "
                  f"within {p.second.days} days{' (no reduced rate)' if not p.second.reduced_amount else ''}; "
                  f"at most {p.max_notices} in {p.within_years} years")
    received = ", ".join(f"{how} {n} working day{'s' if n != 1 else ''}" for how, n in p.received_after_working_days.items())
    console.print(f"Payment periods run from receipt: {received} after serving")
    console.print(f"Who decides: {p.route.decision(p)}" + (f" Signed by {p.route.signed_by}." if p.route.signed_by else ""))
    tab = Table("Rule", "Opens", "Proposes", "Settings", title="Rules")
    for k, r in summary["rules"].items():
        settings = {kk: vv for kk, vv in r.items()
                    if kk not in ("opens", "proposes", "proposes_by_level", "letters_by_level")}
        again = _again(m.rules[k].letter_again)
        proposes = "\n".join([r["proposes"] or "—"] + [f"{lvl}: {ev}" for lvl, ev in r["proposes_by_level"].items()]
                             + [f"{lvl}: letter {lt} (automatic, {again})" for lvl, lt in r["letters_by_level"].items()])
        tab.add_row(k, r["opens"] or "—", proposes, json.dumps(settings, default=str) if settings else "")
    console.print(tab)
    _print_case_types(m)
    _print_timers(m)
    _print_letters(m)
    _print_more(m)
    console.print(f"{len(m.timers)} timers, {len(m.letters)} letters (every template and merge field checked).")
    if "schools" in summary:
        names = ", ".join(f"{x['name']} ({x['urn']})" for x in summary["schools"]) or "none"
        console.print(f"Schools following it: {names}")


def _again(again) -> str:
    return {"half_term": "once a half term", "school_year": "once a school year"}.get(
        again, f"again after {again} school weeks")


def _print_case_types(m) -> None:
    tab = Table("Case type", "States", "Moves", title="Case types")
    for k, c in m.case_types.items():
        tab.add_row(f"{k}\n({c.label})", ", ".join(c.states), ", ".join(c.moves))
    console.print(tab)


def _print_timers(m) -> None:
    tab = Table("Timer", "Due", "Met by", "Ends when the pupil returns", title="Timers")
    for k, t in m.timers.items():
        due = ", ".join(f"{kk.replace('_', ' ')} {vv}" for kk, vv in t.due.model_dump().items() if vv is not None)
        tab.add_row(f"{k}\n({t.label})", f"{due} from {t.from_.replace('_', ' ')}", ", ".join(t.met_by) or "—",
                    {"any": "yes", "unauthorised": "yes, or on authorised absence"}.get(t.while_absent or "", ""))
    console.print(tab)


def _print_letters(m) -> None:
    tab = Table("Letter", "To", "Template", "Certificate", title="Letters")
    for k, v in m.letters.items():
        tab.add_row(f"{k}\n({v.label})", v.to.replace("_", " "), v.template or k, "yes" if v.certificate else "")
    console.print(tab)


def _print_more(m) -> None:
    """The rest of what the file says: role groups, bands, code notes, notices to improve, retention."""
    console.print("Role groups: " + "; ".join(f"{g} = {', '.join(r)}" for g, r in m.roles.items()), highlight=False)
    nti, p = m.penalties.notice_to_improve, m.penalties
    console.print(f"Notice to improve: improvement period {nti.weeks} weeks (between {nti.min_weeks} and "
                  f"{nti.max_weeks})", highlight=False)
    if p.exclusion:
        e = p.exclusion
        reduced = f"£{e.reduced_amount} within {e.reduced_days} days, " if e.reduced_amount else ""
        console.print(f"Exclusion penalty: {reduced}£{e.amount} within {e.days} days", highlight=False)
    bands = m.descriptive_bands
    if bands.bands:
        tops = [None] + [b.at_least_pct for b in bands.bands[:-1]]
        words = [f"{b.name} " + (f"{b.at_least_pct:g}% and above" if top is None else f"under {top:g}%"
                                 if not b.at_least_pct else f"{b.at_least_pct:g}% to under {top:g}%")
                 for b, top in zip(bands.bands, tops)]
        console.print(f"Descriptive bands (labels in reports; they never open a case): {'; '.join(words)}; "
                      f"none before {bands.min_possible_sessions} possible sessions", highlight=False)
    else:
        console.print("Descriptive bands: none")
    if m.codes:
        console.print("Code notes:", highlight=False)
        for code, note in m.codes.items():
            console.print(f"  {code}: {note}", highlight=False, markup=False)
    else:
        console.print("Code notes: none")
    console.print(f"Phase: {m.school.phase or 'not given (governors see every phase’s national figures)'}; "
                  f"governors' reports hide groups under {m.school.report_min_group_size} pupils", highlight=False)
    console.print(f"Retention: registers {m.retention.register_years} years, closed cases "
                  f"{m.retention.closed_case_years} years", highlight=False)


@workflow.command("diagram")
@click.argument("file")
@click.option("--out", "out_dir", type=click.Path(path_type=Path), default=Path("diagrams"), show_default=True,
              help="Folder for the pictures (one per case type).")
@click.option("--format", "fmt", type=click.Choice(["svg", "png", "mermaid"]), default="svg", show_default=True)
@click.option("--case-type", default=None, help="Only this case type.")
def workflow_diagram(file, out_dir, fmt, case_type):
    """Draw each case type's states and moves (SVG or PNG via Graphviz, or Mermaid text)."""

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
