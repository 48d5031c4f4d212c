"""My caseload, a case, its moves and notes, and the decisions waiting for the head."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user

from casework.cases.assignment import AssignmentError, may_own, reassign
from casework.cases.casefile import case_file
from casework.cases.caseload import SORTS, caseload_filters, decisions_waiting, open_caseload
from casework.cases.early_warnings import early_warnings
from casework.cases.moves import Actor, MoveRefused, findings, history, move_case, move_options
from casework.cases.world import CaseWorld
from casework.figures import stats
from casework.figures.bands import pupil_bands
from casework.notify.notifications import case_timeline
from casework.register.calendar import school_year_start
from casework.register.store import year_so_far_from
from casework.store.audit import record
from casework.store.casemodels import Case, CaseNote
from casework.store.models import User
from casework.timers import provisional
from casework.web.context import YEAR_GROUPS, clock, current_school, db, int_arg, school_row
from casework.web.permissions import can, requires
from casework.workflow import for_school

bp = Blueprint("cases", __name__)
PAGE = 50
# Where a move form may send the person back to (never an address from the request).
RETURN_TO = {"case": None, "dsl": "dsl.index", "approvals": "cases.approvals", "today": "today.index"}


def perform_move(case_id: int, event: str, reason: str, params: dict | None = None,
                 expect_type: str | None = None) -> tuple[bool, str]:
    case = school_row(Case, case_id)
    if expect_type and case.case_type != expect_type:
        abort(400)
    world = CaseWorld.load(db(), case, clock())
    seen = request.form.get("version", "")
    try:
        move = move_case(world, event, Actor.of(current_user), reason=reason, params=params,
                         expected_version=int(seen) if seen.isdigit() and len(seen) < 12 else None)
    except MoveRefused as exc:
        db().rollback()
        return False, f"Not done — {exc.event.replace('_', ' ')}: " + "; ".join(exc.reasons) + "."
    ct = world.workflow.case_type(case.case_type)
    label = ct.moves[event].label or event.replace("_", " ")
    return True, f"{world.pupil.name}: {label} — recorded. The case is now at {ct.states[move.to_state].label}."


@bp.route("/caseload")
@requires("caseload.view")
def caseload():
    school = current_school()
    args = request.args
    year = int_arg("year", lo=YEAR_GROUPS[0], hi=YEAR_GROUPS[1])
    page = int_arg("page", 1)
    filters = caseload_filters(db(), school.id)
    flag = args.get("flag") or None
    if flag and flag not in filters["flags"]:
        abort(400)
    sort = args.get("sort", "due")
    who = args.get("who", "")
    if sort not in SORTS or who not in ("", "mine", "team", "unassigned"):
        abort(400)
    query = dict(state=args.get("state") or None, case_type=args.get("type") or None, year_group=year, flag=flag,
                 user_id=current_user.id, sort=sort, limit=PAGE, offset=(page - 1) * PAGE)
    # no tab chosen: one's own cases, or the team's when nothing is one's own (a head, a DSL)
    load = open_caseload(db(), school.id, clock().now(), who=who, **query)
    who = load.who
    # the school's descriptive band for each pupil this school year: a label beside the case, never a step
    model = for_school(school.workflow).model
    bands = model.descriptive_bands
    today = clock().today()
    labels = pupil_bands(db(), school.id, list({r.pupil.id for r in load.rows}), school_year_start(today), today,
                         bands) if bands.bands else None
    warned = {w.pupil_id: w for w in early_warnings(db(), school, today)}
    return render_template("caseload.html", load=load, filters=filters, args=args, page=page, who=who or "mine",
                           sort=sort, pages=max(1, -(-load.total // PAGE)), bands=labels, warned=warned,
                           recent_weeks=model.thresholds.recent_school_weeks)


@bp.route("/cases/<int:case_id>/owner", methods=["POST"])
@requires("case.move")
def assign(case_id: int):
    case = school_row(Case, case_id)
    wf = CaseWorld.load(db(), case, clock()).workflow
    username = request.form.get("owner", "").strip() or None
    try:
        new = reassign(db(), case, wf, username, by=current_user.username, now=clock().now())
    except AssignmentError as exc:
        flash(f"Not reassigned: {exc}.", "error")
    else:
        flash(f"This case is now {new.name}'s." if new else "This case is now unassigned.", "success")
    return redirect(url_for("cases.show", case_id=case_id))


def group_findings(rows) -> list[dict]:
    """Findings of one rule collapse to the latest (its current figure) with the earlier ones as
    its history, latest rule first; a case re-found every week reads as one line, not seventeen."""
    groups: dict[str, dict] = {}
    for f in sorted(rows, key=lambda f: (f.found_on, f.id), reverse=True):
        g = groups.setdefault(f.rule, {"latest": f, "history": []})
        if g["latest"] is not f:
            g["history"].append(f)
    return list(groups.values())


@bp.route("/cases/<int:case_id>")
@requires("case.view")
def show(case_id: int):
    case = school_row(Case, case_id)
    s = db()
    world = CaseWorld.load(s, case, clock())
    ct = world.workflow.case_type(case.case_type)
    options = move_options(world, Actor.of(current_user))
    f = case_file(s, case, safeguarding_notes=can("case.note.safeguarding"))
    # a proposal is shown only while its step can be taken from where the case is: with the step's
    # button (below) when this person may take it, or with the reasons it cannot be taken yet
    by_event = {o.event: o for o in options}
    proposals = [{**p, "label": by_event[p["event"]].label, "option": by_event[p["event"]]}
                 for p in case.proposals if p.get("event") in by_event]
    finding_groups = group_findings(findings(s, case.id))
    today = clock().today()
    year_start = year_so_far_from(s, case.school_id, today)
    figures = stats.pupil_figures(s, case.school_id, year_start, today, pupil_ids=[case.pupil_id])
    timeline = case_timeline(s, history(s, case.id), case.id, with_alerts=can("dsl.view"))
    return render_template("case.html", case=case, world=world, ct=ct, options=options, timeline=timeline,
                           findings=finding_groups, notes=f.notes, year_start=year_start,
                           attendance=figures[0].figures.attendance_pct if figures else None, letters=f.letters,
                           timers=f.timers, contacts=f.contacts, proposals=proposals, letter_defs=world.workflow.model.letters,
                           now=clock().now(), provisional={t.id for t in f.timers if provisional(t, world.calendar)},
                           owner=s.get(User, case.owner_id) if case.owner_id else None,
                           staff=may_own(s, world.workflow, case.school_id) if can("case.move") else [])


@bp.route("/cases/<int:case_id>/move", methods=["POST"])
@requires("case.move")
def move(case_id: int):
    event = request.form.get("event", "")
    params = {}
    if request.form.get("improvement_weeks"):
        try:
            params["improvement_weeks"] = int(request.form["improvement_weeks"])
        except ValueError:
            abort(400)
    ok, message = perform_move(case_id, event, request.form.get("reason", "").strip(), params)
    flash(message, "success" if ok else "error")
    back = RETURN_TO.get(request.form.get("back", "case"), None)
    return redirect(url_for(back) if back else url_for("cases.show", case_id=case_id))


@bp.route("/cases/<int:case_id>/notes", methods=["POST"])
@requires("case.note")
def add_note(case_id: int):
    case = school_row(Case, case_id)
    text = request.form.get("text", "").strip()
    safeguarding = request.form.get("safeguarding") == "1"
    if safeguarding and not can("case.note.safeguarding"):
        abort(403)
    if not text:
        flash("A note needs some text.", "error")
    else:
        db().add(CaseNote(case_id=case.id, author=current_user.username, at=clock().now(), text=text[:10000],
                          safeguarding=safeguarding))
        record(db(), clock().now(), current_user.username, "case.note", f"case:{case.id}", school_id=case.school_id,
               safeguarding=safeguarding, characters=len(text[:10000]))
        flash("Safeguarding note added (seen by the DSL and deputies only)." if safeguarding else "Note added.",
              "success")
    back = RETURN_TO.get(request.form.get("back", "case"), None)
    return redirect(url_for(back) if back else url_for("cases.show", case_id=case_id) + "#notes")


@bp.route("/approvals")
@requires("approvals.view")
def approvals():
    school = current_school()
    return render_template("approvals.html",
                           decisions=decisions_waiting(db(), school.id, Actor.of(current_user), clock()))
