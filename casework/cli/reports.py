"""Reports for governors: the termly attendance report, on screen or as CSV/Excel."""

from __future__ import annotations

from pathlib import Path

import click
from rich.table import Table

from casework.cli.common import common_options, console, ctx_of, emit_json, fail, school_option
from casework.figures.export import to_csv, to_xlsx
from casework.figures.governors import GovernorsReport, ReportError, governors_report
from casework.figures.national import NationalFiguresError
from casework.register import store as reg
from casework.register.terms import Term, TermError
from casework.store.db import session_scope
from casework.workflow import WorkflowError, for_school


@click.group("report")
def report() -> None:
    """School reports."""


@report.command("governors")
@school_option
@click.option("--term", "term", default=None,
              help="autumn-YYYY, spring-YYYY or summer-YYYY (default: the term holding today).")
@click.option("--out", "out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the report to this .csv or .xlsx file as well.")
@click.option("--show-small-groups", is_flag=True,
              help="Give figures for every group. By default a group smaller than the school's report_min_group_size "
                   "reads 'fewer than N', as governors see it: the report is for them.")
@common_options
def governors(urn, term, out, show_small_groups, db, as_of, as_json):
    """The governors' termly report: attendance, PA and SA by group, descriptive bands, cases,
    formal steps, and the DfE's national figures for the school's phase."""
    c = ctx_of(db, as_of)
    if out is not None and out.suffix.lower() not in (".csv", ".xlsx"):
        fail(f"{out}: the report is written as .csv or .xlsx")
    today = c.clock.today()
    try:
        chosen = Term.parse(term) if term else Term.of(today)
        with session_scope(c.engine) as s:
            school = reg.get_school(s, urn)
            rep = governors_report(s, school, for_school(school.workflow), chosen, today,
                                   see_small_groups=show_small_groups)
    except (TermError, ReportError, NationalFiguresError, WorkflowError) as exc:
        fail(str(exc))
    if out is not None:
        sheets = rep.sheets()
        if out.suffix.lower() == ".csv":
            out.write_text(to_csv(sheets))
        else:
            out.write_bytes(to_xlsx(sheets))
    if as_json:
        emit_json({sheet.name: {"title": sheet.title, "header": list(sheet.header), "rows": [list(r) for r in sheet.rows]}
                   for sheet in rep.sheets()})
        return
    _print(rep)
    if out is not None:
        console.print(f"Wrote {out}")


def _pct(v) -> str:
    return "—" if v is None else f"{v:.1f}%"


def _print(rep: GovernorsReport) -> None:
    span = f"{rep.start:%d %B %Y} to {rep.end:%d %B %Y}" + (" (term to date)" if rep.to_date else "")
    console.print(f"[bold]{rep.school}[/]: governors' report, {rep.term.label}, {span}", highlight=False)
    tab = Table("", "School", "National", "National figure", title="This term beside the national figures",
                title_justify="left")
    for c in rep.comparison():
        tab.add_row(c.measure, _pct(c.school), _pct(c.national), c.figure.describe() if c.figure else "not recorded")
    console.print(tab)
    tab = Table("Group", "Pupils", "Attendance", "PA", "SA", title="By year group and vulnerable group",
                title_justify="left")
    for r in rep.groups:
        g = r.group
        if r.suppressed:
            tab.add_row(r.label, f"fewer than {rep.min_group_size}", "", "", "")
        else:
            tab.add_row(r.label, str(g.pupils), _pct(g.figures.attendance_pct), f"{g.persistent_absentees} ({_pct(g.pa_rate)})",
                        f"{g.severe_absentees} ({_pct(g.sa_rate)})")
    console.print(tab)
    if rep.bands:
        console.print("Descriptive bands (attendance this term): "
                      + "; ".join(f"{b.name} {b.pupils}" for b in rep.bands), highlight=False)
    else:
        console.print("Descriptive bands: none in the school's workflow.")
    console.print("Cases opened / closed: " + ("; ".join(f"{c.label} {c.opened} / {c.closed}" for c in rep.cases)
                                              or "none"), highlight=False)
    console.print("Formal steps taken: " + ("; ".join(f"{s.label} ({s.case_type}) {s.taken}" for s in rep.steps)
                                           or "none"), highlight=False)
    tab = Table("Year", "Period", "Phase", "Attendance", "PA", "SA", "Source", title="National figures (DfE)",
                title_justify="left")
    for f in rep.national:
        tab.add_row(f.year, f.period_label, f.phase_label, _pct(f.attendance_pct), _pct(f.persistent_absence_pct),
                    _pct(f.severe_absence_pct), f.source)
    console.print(tab)
    for key in sorted({f.source for f in rep.national}):
        src = rep.sources[key]
        console.print(f"  {key}: {src.publication} ({src.published}) {src.url}", highlight=False)
