"""`casework` commands for the letters area (registered on the main group): ``letters queue|render|print``."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from rich.table import Table

from casework.cli import common as cli
from casework.letters.queue import letter_queue
from casework.letters.render import BatchProblems, letters_dir, render_queued
from casework.register import store as reg
from casework.store.db import session_scope


@click.group()
def letters() -> None:
    """Queued letters: list them, produce them as PDFs, print the day's batch."""


def _by_option(f):
    return click.option("--by", "by", required=True, help="Your name: recorded as who produced the letters.")(f)


@letters.command("queue")
@cli.school_option
@cli.common_options
def letters_queue(urn, db, as_of, as_json):
    """Letters waiting to be produced, and anything that stops one going out."""

    c = cli.ctx_of(db, as_of)
    with session_scope(c.engine) as s:
        try:
            sch = reg.get_school(s, urn)
        except reg.NotFound as exc:
            cli.fail(str(exc))
        rows = [{"id": q.request.id, "case_id": q.case.id, "upn": q.pupil.upn, "pupil": q.pupil.name,
                 "letter": q.request.template, "label": q.label, "queued_at": q.request.queued_at,
                 "to": q.recipients, "problems": q.problems} for q in letter_queue(s, sch, c.clock).letters]
        s.rollback()
    if as_json:
        cli.emit_json(rows)
        return
    tab = Table("ID", "Case", "Pupil", "Letter", "Queued", "To / problems")
    for r in rows:
        who = "; ".join(r["to"]) if not r["problems"] else "[red]" + "; ".join(r["problems"]) + "[/]"
        tab.add_row(str(r["id"]), str(r["case_id"]), r["pupil"], r["label"], f"{r['queued_at']:%d %b %Y}", who)
    cli.console.print(tab)
    cli.console.print(f"{len(rows)} letter(s) queued, {sum(1 for r in rows if r['problems'])} with problems.")


def _report_problems(problems: dict[int, list[str]], as_json: bool, produced: bool) -> None:
    if as_json:
        return
    head = "not produced" if produced else "nothing was produced"
    cli.err.print(f"[bold red]{len(problems)} letter(s) cannot be produced[/] ({head}):", highlight=False)
    for lid, ps in problems.items():
        for p in ps:
            cli.err.print(f"  letter {lid}: {p}", highlight=False, markup=False)


def _run_batch(urn, db, as_of, by, skip_problems, as_json, print_file: Path | None):

    c = cli.ctx_of(db, as_of)
    try:
        with session_scope(c.engine) as s:
            sch = reg.get_school(s, urn)
            produced, problems, written = render_queued(s, sch, c.clock, by, skip_problems=skip_problems,
                                                        print_file=print_file)
    except reg.NotFound as exc:
        cli.fail(str(exc))
    except BatchProblems as exc:
        if as_json:
            cli.emit_json({"produced": [], "problems": exc.problems})
        _report_problems(exc.problems, as_json, produced=False)
        sys.exit(1)
    if as_json:
        cli.emit_json({"produced": [p.as_dict() for p in produced], "problems": problems,
                       "print_file": str(written) if written else None})
    else:
        for p in produced:
            cli.console.print(f"letter {p.letter_id}: {p.label} for {p.pupil} to {'; '.join(p.recipients)} -> {p.file}",
                              highlight=False)
        if written:
            cli.console.print(f"Print file: {written} ({len(produced)} letter(s)).")
        elif not produced:
            cli.console.print("No letters queued.")
        if problems:
            _report_problems(problems, as_json, produced=True)
    if problems:
        sys.exit(1)


@letters.command("render")
@cli.school_option
@_by_option
@click.option("--skip-problems", is_flag=True, help="Produce the letters that are ready; list the others.")
@cli.common_options
def letters_render(urn, by, skip_problems, db, as_of, as_json):
    """Produce each queued letter as its own PDF, kept under $CASEWORK_LETTERS_DIR (default ./letters).

    Every letter is checked first: if any has a problem, nothing is produced (unless --skip-problems)."""
    _run_batch(urn, db, as_of, by, skip_problems, as_json, None)


@letters.command("print")
@cli.school_option
@_by_option
@click.option("--out", "out", type=click.Path(path_type=Path), default=None,
              help="The print file (default: <letters dir>/<URN>/print-<date>.pdf).")
@click.option("--skip-problems", is_flag=True, help="Print the letters that are ready; list the others.")
@cli.common_options
def letters_print(urn, by, out, skip_problems, db, as_of, as_json):
    """Produce today's queued letters and put them all in one PDF to print (each is also kept on its own)."""

    c = cli.ctx_of(db, as_of)
    out = out or letters_dir() / urn / f"print-{c.clock.now():%Y-%m-%d-%H%M}.pdf"
    _run_batch(urn, db, as_of, by, skip_problems, as_json, out)
