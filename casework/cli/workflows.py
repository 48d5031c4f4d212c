"""Commands for workflow files: check and diagram."""

from __future__ import annotations

import json
from pathlib import Path

import click
from rich.table import Table

from casework.cli.common import (
    console,
    ctx_of,
    emit_json,
    fail,
    json_option,
    report_problems,
)
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
        with session_scope(ctx_of(db).engine) as s:
            summary["schools"] = [{"urn": x.urn, "name": x.name} for x in list_schools(s, wf, file)]
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
