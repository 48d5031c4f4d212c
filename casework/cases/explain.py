"""The evidence trail of a case as one artefact: for each finding, letter and step, the exact
marks, the figures, the rule and its version, and the workflow version that produced it.

``explain_case`` also works a finding's figures out again from the stored marks: it runs the
rule (with the settings it ran with) over the pupil's register for the dates the rule read,
with any amendment made since the finding undone, so the figures come out as they were; the
stored and recomputed figures are shown side by side, with whether they agree. The figures
kept with a step (the school year to date) are worked out again the same way. Amendments
made since are listed: they are why today's register may say something else.

Findings, letters and steps recorded before provenance was kept say "not recorded" for the
versions; their figures are still recomputed, with the workflow's settings as they are now.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlmodel import Session, select

from casework.cases.evidence import rule_params
from casework.cases.provenance import NOT_RECORDED, casework_release, rule_version, workflow_version
from casework.clock import Clock, at, local
from casework.figures.stats import Figures
from casework.register.store import load_calendar
from casework.rules import RULES, register_from_marks
from casework.rules.findings import Finding
from casework.store.casemodels import Case, CaseFinding, CaseMove, LetterRequest
from casework.store.models import PUPIL_FLAGS, Mark, MarkAmendment, Pupil, School
from casework.workflow import Workflow, for_school

AS_AT_DAY_END = dt.time(23, 59)  # a figure as it stood once the day's registers were all in


@dataclass
class _Context:
    session: Session
    case: Case
    pupil: Pupil
    school: School
    workflow: Workflow
    calendar: object


def _moment(text: str | None, day: dt.date) -> dt.datetime:
    return dt.datetime.fromisoformat(text) if text else at(day, AS_AT_DAY_END)


def register_then(cx: _Context, start: dt.date, end: dt.date, moment: dt.datetime) -> tuple[list, list[dict]]:
    """The pupil's marks from ``start`` to ``end`` as they stood at ``moment`` (each amendment made
    since undone: the earliest one after it holds the entry as it was), and those amendments."""
    marks = cx.session.exec(select(Mark).where(Mark.pupil_id == cx.pupil.id, Mark.date >= start, Mark.date <= end)
                            .order_by(Mark.date, Mark.session)).all()
    later = cx.session.exec(select(MarkAmendment).where(
        MarkAmendment.pupil_id == cx.pupil.id, MarkAmendment.date >= start, MarkAmendment.date <= end,
        MarkAmendment.amended_at > moment).order_by(MarkAmendment.amended_at, MarkAmendment.id)).all()
    first_later: dict[int, MarkAmendment] = {}
    for a in later:
        first_later.setdefault(a.mark_id, a)
    then = [(m.date, m.session, first_later[m.id].original_code if m.id in first_later else m.code) for m in marks]
    since = [{"date": a.date.isoformat(), "session": a.session, "was": a.original_code, "now": a.amended_code,
              "reason": a.reason, "at": local(a.amended_at).isoformat(timespec="minutes"),
              "by": f"{a.amended_by_name} ({a.amended_by_position})"} for a in later]
    return then, since


def _differences(stored: dict, again: dict) -> list[str]:
    out = []
    for k in sorted(set(stored) | set(again)):
        if k in stored and k in again and stored[k] != again[k]:
            out.append(f"{k}: stored {stored[k]!r}, recomputed {again[k]!r}")
        elif k in again and k not in stored:
            out.append(f"{k}: not stored, recomputed {again[k]!r}")
        elif k in stored and k not in again:
            out.append(f"{k}: stored {stored[k]!r}, not recomputed")
    return out


def _pupil_row(p: Pupil) -> dict:
    return {"id": p.id, "upn": p.upn, "name": p.name, "year_group": p.year_group,
            **{f: bool(getattr(p, f)) for f in PUPIL_FLAGS}}


def recompute_finding(cx: _Context, f: CaseFinding) -> dict:
    """Run the finding's rule again over the marks as they stood, with the settings it ran with."""
    prov = f.provenance or {}
    rule = RULES.get(f.rule)
    if rule is None:
        return {"figures": None, "matches": False, "differences": [f"casework no longer has a rule {f.rule!r}"],
                "settings": NOT_RECORDED, "amended_since": []}
    recorded = "params" in prov
    params = rule.Params(**(prov["params"] if recorded else rule_params(cx.workflow, f.rule)))
    as_of = dt.date.fromisoformat(prov["as_of"]) if prov.get("as_of") else f.found_on
    start = rule.reads_from(cx.calendar, params, as_of)
    marks, since = register_then(cx, start, as_of, _moment(prov.get("at"), f.found_on))
    reg = register_from_marks(cx.calendar, start, as_of, [_pupil_row(cx.pupil)],
                              [(cx.pupil.id, d, s, c) for d, s, c in marks])
    found: list[Finding] = [x for x in rule.evaluate(reg, cx.calendar, params, as_of) if x.pupil_id == cx.pupil.id]
    same = [x for x in found if x.concern == f.key] or found
    base = {"as_of": as_of.isoformat(), "read_from": start.isoformat(),
            "settings": "as recorded" if recorded else "the workflow's settings now (not recorded with the finding)",
            "amended_since": since}
    if not same:
        return {**base, "figures": None, "matches": False,
                "differences": ["the rule does not find this from the marks as they stood"]}
    again = same[0].as_dict()
    diffs = _differences(f.figures, again["figures"])
    return {**base, "figures": again["figures"], "marks": again["evidence"], "matches": not diffs,
            "differences": diffs, "marks_match": again["evidence"] == f.evidence}


def _finding_item(cx: _Context, f: CaseFinding) -> dict:
    prov = f.provenance or {}
    rule = RULES.get(f.rule)
    return {
        "id": f.id, "rule": f.rule, "rule_title": rule.title if rule else f.rule, "found_on": f.found_on.isoformat(),
        "summary": f.summary, "formal": f.formal, "marks": f.evidence, "figures": f.figures,
        "period": prov.get("period") or NOT_RECORDED,
        "rule_version": prov.get("rule_version", NOT_RECORDED),
        "rule_version_now": rule_version(f.rule) if rule else NOT_RECORDED,
        "settings": prov.get("params", NOT_RECORDED),
        "workflow": prov.get("workflow", NOT_RECORDED),
        "casework": prov.get("casework", NOT_RECORDED),
        "recomputed": recompute_finding(cx, f),
    }


def recompute_step_figures(cx: _Context, m: CaseMove) -> dict | None:
    """The school-year figures kept with a step, worked out again from the marks as they stood."""
    year = (m.evidence or {}).get("school_year")
    if not year or not year.get("from"):
        return None
    start, end = dt.date.fromisoformat(year["from"]), dt.date.fromisoformat(year["to"])
    marks, since = register_then(cx, start, end, m.at)
    fig = Figures()
    for d, _s, c in marks:
        fig.add(c, d.weekday(), 1)
    again = fig.as_dict()
    stored = {k: v for k, v in year.items() if k in again}
    diffs = _differences(stored, {k: v for k, v in again.items() if k in stored})
    return {"figures": again, "matches": not diffs, "differences": diffs, "amended_since": since}


def _step_item(cx: _Context, m: CaseMove) -> dict:
    ct = cx.workflow.case_type(cx.case.case_type)
    mv = ct.moves.get(m.event)
    ev = m.evidence or {}
    prov = ev.get("provenance") or {}
    finding = ev.get("finding")
    return {
        "id": m.id, "event": m.event,
        "label": "Case opened" if m.event == "open" else (mv.label if mv and mv.label else m.event.replace("_", " ")),
        "formal": bool(mv and mv.formal), "from": m.from_state, "to": m.to_state,
        "at": local(m.at).isoformat(timespec="minutes"), "by": m.actor, "role": m.actor_role, "reason": m.reason,
        "params": m.params, "figures": ev.get("school_year"), "window": ev.get("rolling_window"),
        "marks": [{"date": d, "session": s, "code": c} for d, s, c in ev.get("absences", [])],
        "guards": ev.get("guards", []),
        "finding": None if finding is None else {"rule": finding.get("rule"), "summary": finding.get("summary"),
                                                 "figures": finding.get("figures"), "marks": finding.get("evidence")},
        "rule_version": prov.get("rule_version", NOT_RECORDED) if finding else None,
        "workflow": prov.get("workflow", NOT_RECORDED),
        "casework": prov.get("casework", NOT_RECORDED),
        "recomputed": recompute_step_figures(cx, m),
    }


def _letter_item(cx: _Context, r: LetterRequest, steps: dict[int, dict]) -> dict:
    label = cx.workflow.model.letters[r.template].label if r.template in cx.workflow.model.letters else r.template
    prov = r.provenance or {}
    if r.move_id is not None and r.move_id in steps:
        step = steps[r.move_id]
        made_by = f"the step '{step['label']}' on {step['at'][:10]} (step {r.move_id})"
        trail = {"step": r.move_id, "workflow": step["workflow"], "figures": step["figures"], "marks": step["marks"]}
    elif prov:
        made_by = f"rule {prov.get('rule')} ({prov.get('level')}) as of {prov.get('as_of')}"
        trail = {"rule": prov.get("rule"), "rule_version": prov.get("rule_version"), "settings": prov.get("params"),
                 "workflow": prov.get("workflow"), "summary": prov.get("summary"), "figures": prov.get("figures"),
                 "marks": prov.get("evidence")}
    else:
        made_by = "a rule (" + NOT_RECORDED + ")"
        trail = {"workflow": NOT_RECORDED, "rule_version": NOT_RECORDED}
    return {"id": r.id, "template": r.template, "label": label, "status": r.status,
            "queued_at": local(r.queued_at).isoformat(timespec="minutes"),
            "produced_at": local(r.produced_at).isoformat(timespec="minutes") if r.produced_at else None,
            "file": r.file or None, "sha256": r.sha256 or None, "made_by": made_by, "trail": trail}


def explain_case(session: Session, case_id: int, clock: Clock) -> dict:
    """The whole trail of a case (see the module docstring), as plain data for JSON, text or a PDF."""
    case = session.get(Case, case_id)
    if case is None:
        raise LookupError(f"no case {case_id}")
    school = session.get(School, case.school_id)
    pupil = session.get(Pupil, case.pupil_id)
    wf = for_school(case.workflow)
    cx = _Context(session, case, pupil, school, wf, load_calendar(session, school.id))
    ct = wf.case_type(case.case_type)
    moves = session.exec(select(CaseMove).where(CaseMove.case_id == case.id).order_by(CaseMove.at, CaseMove.id)).all()
    steps = [_step_item(cx, m) for m in moves]
    by_id = {s["id"]: s for s in steps}
    found = session.exec(select(CaseFinding).where(CaseFinding.case_id == case.id)
                         .order_by(CaseFinding.found_on, CaseFinding.id)).all()
    letters = session.exec(select(LetterRequest).where(LetterRequest.case_id == case.id)
                           .order_by(LetterRequest.queued_at, LetterRequest.id)).all()
    return {
        "case": {"id": case.id, "type": case.case_type, "type_label": ct.label, "state": case.state,
                 "state_label": ct.states[case.state].label if case.state in ct.states else case.state,
                 "pupil": pupil.name, "upn": pupil.upn, "school": school.name, "urn": school.urn,
                 "opened_at": local(case.opened_at).isoformat(timespec="minutes"), "workflow": case.workflow},
        "explained_at": clock.now().isoformat(timespec="minutes"),
        "workflow_now": workflow_version(wf), "casework_now": casework_release(),
        "findings": [_finding_item(cx, f) for f in found],
        "letters": [_letter_item(cx, r, by_id) for r in letters],
        "steps": steps,
    }


__all__ = ["explain_case", "recompute_finding", "register_then"]
