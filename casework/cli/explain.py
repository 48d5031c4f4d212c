"""``casework explain CASE_ID``: the evidence trail of a case (casework.cases.explain)."""

from __future__ import annotations

import click

from casework.cases.explain import explain_case
from casework.cli.common import common_options, console, ctx_of, emit_json, fail
from casework.store.db import session_scope

FIGURE_KEYS = ("possible_sessions", "attended_sessions", "present", "absent_sessions", "authorised",
               "unauthorised", "authorised_absence_sessions", "unauthorised_absence_sessions", "attendance_pct",
               "absence_pct", "sessions", "count", "days")


def _marks(marks) -> str:
    if not marks:
        return "none"
    return ", ".join(f"{m['date']} {m['session']} {m['code']}" for m in marks)


def _figures(figures: dict | None) -> str:
    if not figures:
        return "none"
    keys = [k for k in FIGURE_KEYS if k in figures] or [k for k, v in figures.items() if not isinstance(v, dict)]
    return ", ".join(f"{k.replace('_', ' ')} {figures[k]}" for k in keys)


def _workflow(w) -> str:
    if not isinstance(w, dict):
        return str(w)
    return f"{w['name']} ({w['file']}, sha256 {w['sha256'][:16]})"


def _recomputed(r: dict | None) -> list[str]:
    if r is None:
        return ["  recomputed: nothing kept to recompute"]
    verdict = "the same" if r["matches"] else "DIFFERENT"
    lines = [f"  recomputed from the marks as they stood: {_figures(r['figures'])} ({verdict})"]
    lines += [f"    {d}" for d in r["differences"]]
    if r.get("settings"):
        lines.append(f"    settings: {r['settings']}")
    for a in r.get("amended_since", []):
        lines.append(f"    amended since: {a['date']} {a['session']} {a['was']} -> {a['now']} ({a['reason']}, "
                     f"{a['at']}, {a['by']})")
    return lines


def _finding_lines(f: dict) -> list[str]:
    period = f["period"] if isinstance(f["period"], str) else f"{f['period'][0]} to {f['period'][1]}"
    lines = [f"Finding {f['id']}, {f['found_on']}: {f['rule_title']}{' (formal)' if f['formal'] else ''}",
             f"  {f['summary']}",
             f"  rule: {f['rule_version']} (today's code: {f['rule_version_now']})",
             f"  workflow: {_workflow(f['workflow'])}; period read: {period}",
             f"  figures stored: {_figures(f['figures'])}",
             f"  marks ({len(f['marks'])}): {_marks(f['marks'])}"]
    return lines + _recomputed(f["recomputed"])


def _step_lines(s: dict) -> list[str]:
    lines = [f"Step {s['id']}, {s['at']}: {s['label']}{' (formal)' if s['formal'] else ''}, "
             f"{s['from'] or '-'} -> {s['to']}, by {s['by']} ({s['role']})"]
    if s["reason"]:
        lines.append(f"  why: {s['reason']}")
    lines.append(f"  workflow: {_workflow(s['workflow'])}")
    if s["figures"]:
        lines.append(f"  figures kept ({s['figures'].get('from')} to {s['figures'].get('to')}): {_figures(s['figures'])}")
        lines.append(f"  marks ({len(s['marks'])}): {_marks(s['marks'])}")
        lines += _recomputed(s["recomputed"])
    lines += [f"  {'passed' if g['ok'] else 'failed'}: {g['reason']}" for g in s["guards"]]
    return lines


def _letter_lines(r: dict) -> list[str]:
    t = r["trail"]
    lines = [f"Letter {r['id']}: {r['label']} ({r['status']}), queued {r['queued_at']}, made by {r['made_by']}"]
    if r["sha256"]:
        lines.append(f"  kept as {r['file']} (sha256 {r['sha256']})")
    lines.append(f"  workflow: {_workflow(t.get('workflow'))}")
    if t.get("rule_version"):
        lines.append(f"  rule: {t['rule_version']}")
    if t.get("figures"):
        lines.append(f"  figures: {_figures(t['figures'])}")
    if t.get("marks") is not None:
        lines.append(f"  marks: {_marks(t['marks'])}")
    return lines


@click.command("explain")
@click.argument("case_id", type=int)
@common_options
def explain(case_id, db, as_of, as_json):
    """The evidence trail of a case: for each finding, letter and step, the exact marks, the
    figures (stored, and worked out again from the register), the rule version and the
    workflow version that produced it."""
    c = ctx_of(db, as_of)
    try:
        with session_scope(c.engine) as s:
            trail = explain_case(s, case_id, c.clock)
    except LookupError as exc:
        fail(str(exc).strip("'\""))
    if as_json:
        emit_json(trail)
        return
    k = trail["case"]
    out = [f"Case {k['id']}: {k['type_label']} for {k['pupil']} (UPN {k['upn']}), {k['school']} (URN {k['urn']}), "
           f"now at {k['state_label']}",
           f"Workflow now: {_workflow(trail['workflow_now'])}; casework {trail['casework_now']}", ""]
    for title, items, lines in (("Findings", trail["findings"], _finding_lines),
                                ("Letters", trail["letters"], _letter_lines),
                                ("Steps", trail["steps"], _step_lines)):
        out.append(f"{title} ({len(items)})")
        for item in items:
            out += lines(item)
        out.append("")
    console.print("\n".join(out), highlight=False, markup=False)
