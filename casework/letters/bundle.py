"""The evidence bundle for a penalty notice request or a prosecution referral.

One PDF holding what an LA attendance service asks for before it issues a notice or
prosecutes (s.444 Education Act 1996): who the pupil and parents are, the findings, the
case history (every move with who, when, why and the evidence kept with it), the
meetings and support offered and what came of them, notices to improve and penalty
notices, every letter sent (the exact files kept, checked against their SHA-256), the
register extract with any amendments, and the registration certificate. The section
list comes first, with page numbers. Safeguarding notes are never included.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
from dataclasses import dataclass
from pathlib import Path

from sqlmodel import Session, select

from casework.cases.explain import explain_case
from casework.cases.moves import findings
from casework.clock import Clock, local
from casework.figures import stats
from casework.letters.certificate import registration_certificate
from casework.letters.fields import (
    LETTER_LOG_PREFIX,
    TEMPLATES_DIR,
    Problems,
    address_lines,
    long_date,
    period_for,
    pupil_marks,
)
from casework.letters.render import _write_atomically, environment
from casework.register.codes import ATTENDING_CODES, LATE_BEFORE_CLOSE, canonical, meaning
from casework.register.store import load_calendar
from casework.store.casemodels import Case, CaseMove, CaseNote, LetterRequest, PenaltyNotice, Timer
from casework.store.models import PUPIL_FLAGS, Contact, MarkAmendment, Pupil, School
from casework.workflow import for_school

SECTIONS = [
    ("summary", "Summary: pupil, parents and attendance"),
    ("findings", "Findings"),
    ("history", "Case history: every step, who took it, when and why"),
    ("support", "Meetings and support offered, and their outcomes"),
    ("notices", "Notices to improve and penalty notices"),
    ("letters", "Letters sent"),
    ("register", "Register extract: absences, late arrivals and amendments"),
    ("certificate", "Registration certificate"),
    ("trail", "The evidence trail: the marks, figures and versions behind each finding, letter and step"),
]


class BundleProblems(Problems):
    """Why an evidence bundle cannot be made."""


@dataclass
class Bundle:
    file: Path
    pages: int
    sections: list[str]
    letters: int
    sha256: str


def _state_label(ct, state: str | None) -> str:
    if state is None:
        return "—"
    return ct.states[state].label if state in ct.states else state


def bundle_context(session: Session, case: Case, clock: Clock) -> dict:
    school = session.get(School, case.school_id)
    pupil = session.get(Pupil, case.pupil_id)
    wf = for_school(case.workflow)
    ct = wf.case_type(case.case_type)
    cal = load_calendar(session, school.id)
    today = clock.today()
    start, end = period_for(cal, today)
    rows = stats.pupil_figures(session, school.id, start, end, pupil_ids=[pupil.id])
    figures = rows[0].figures if rows else stats.Figures()
    moves = list(session.exec(select(CaseMove).where(CaseMove.case_id == case.id).order_by(CaseMove.at, CaseMove.id)))
    history = []
    for m in moves:
        label = ct.moves[m.event].label if m.event in ct.moves and ct.moves[m.event].label else m.event.replace("_", " ")
        ev = m.evidence or {}
        history.append({
            "at": local(m.at), "label": "Case opened" if m.event == "open" else label,
            "from": _state_label(ct, m.from_state), "to": _state_label(ct, m.to_state),
            "by": m.actor, "role": m.actor_role.replace("_", " "), "reason": m.reason, "params": m.params,
            "year": ev.get("school_year"), "window": ev.get("rolling_window"),
            "absences": ev.get("absences", []), "guards": ev.get("guards", []),
        })
    support = [h for h, m in zip(history, moves) if m.to_state in ct.support_states]
    timers = list(session.exec(select(Timer).where(Timer.case_id == case.id).order_by(Timer.started_at, Timer.id)))
    notes = [n for n in session.exec(select(CaseNote).where(CaseNote.case_id == case.id,
                                                            CaseNote.safeguarding.is_(False)).order_by(CaseNote.at))
             if not n.text.startswith(LETTER_LOG_PREFIX)]
    letters = list(session.exec(select(LetterRequest).where(LetterRequest.case_id == case.id)
                                .order_by(LetterRequest.queued_at, LetterRequest.id)))
    contacts = list(session.exec(select(Contact).where(Contact.pupil_id == pupil.id)
                                 .order_by(Contact.call_priority, Contact.id)))
    marks = pupil_marks(session, pupil.id, start, end)
    extract = [(d, s, c, m, meaning(c).description) for d, s, c, m in marks
               if c not in ATTENDING_CODES or canonical(c) == LATE_BEFORE_CLOSE]
    amendments = list(session.exec(select(MarkAmendment).where(
        MarkAmendment.pupil_id == pupil.id, MarkAmendment.date >= start, MarkAmendment.date <= end)
        .order_by(MarkAmendment.date, MarkAmendment.session, MarkAmendment.amended_at)))

    return {
        "school": {"name": wf.model.school.name or school.name, "urn": school.urn,
                   "colour": wf.model.school.letterhead.colour,
                   "local_authority": wf.model.school.local_authority or school.local_authority},
        "pupil": pupil, "flags": [label for flag, label in PUPIL_FLAGS.items() if getattr(pupil, flag)],
        "case": case, "case_label": ct.label, "state_label": _state_label(ct, case.state),
        "today": today, "period": {"from": long_date(start), "to": long_date(end), "start": start, "end": end},
        "figures": figures, "contacts": [(c, ", ".join(address_lines(c))) for c in contacts],
        "findings": findings(session, case.id), "history": history, "support": support, "timers": timers,
        "notes": notes, "letters": letters, "letter_labels": {k: v.label for k, v in wf.model.letters.items()},
        "notices": list(session.exec(select(PenaltyNotice).where(PenaltyNotice.case_id == case.id))),
        "nti": [t for t in timers if t.kind == "improvement_period"],
        "extract": extract, "amendments": amendments,
        "certificate": registration_certificate(session, school.id, pupil, cal, start, end),
        "sections": SECTIONS, "long_date": long_date, "local": local, "workflow": wf,
        "trail": explain_case(session, case.id, clock),
    }


def evidence_bundle(session: Session, case_id: int, clock: Clock, out: Path) -> Bundle:
    """Write the evidence bundle for a case to ``out``; refuses (listing why) if a kept letter is
    missing or no longer matches its SHA-256."""
    from pypdf import PdfReader, PdfWriter
    from weasyprint import HTML


    case = session.get(Case, case_id)
    if case is None:
        raise LookupError(f"no case {case_id}")
    ctx = bundle_context(session, case, clock)
    problems, sent = [], []
    for r in ctx["letters"]:
        if r.status != "produced":
            continue
        path = Path(r.file)
        if not path.exists():
            problems.append(f"letter {r.id} ({r.template}) was kept as {path}, which no longer exists")
            continue
        data = path.read_bytes()
        if hashlib.sha256(data).hexdigest() != r.sha256:
            problems.append(f"letter {r.id} ({r.template}): {path} has changed since it was produced "
                            f"(its SHA-256 no longer matches)")
            continue
        sent.append((r, data, len(PdfReader(io.BytesIO(data)).pages)))
    if problems:
        raise BundleProblems(problems)
    env = environment(ctx["workflow"])
    template = env.get_template("bundle.html")

    def render(first_letter_page: int):
        starts, page = [], first_letter_page
        for r, _data, n in sent:
            starts.append(page)
            page += n
        ctx["sent"] = [{"r": r, "pages": n, "start": s} for (r, _d, n), s in zip(sent, starts)]
        ctx["total_pages"] = page - 1
        return HTML(string=template.render(**ctx), base_url=str(TEMPLATES_DIR)).render()

    doc = render(1)
    doc = render(len(doc.pages) + 1)  # now the appendix page numbers are known
    main_pages = len(doc.pages)
    if main_pages + sum(n for *_x, n in sent) != ctx["total_pages"]:
        doc = render(main_pages + 1)
    writer = PdfWriter()
    writer.append(io.BytesIO(doc.write_pdf()))
    for _r, data, _n in sent:
        writer.append(io.BytesIO(data))
    buf = io.BytesIO()
    writer.write(buf)
    digest = _write_atomically(Path(out), buf.getvalue())
    return Bundle(Path(out), len(writer.pages), [title for _k, title in SECTIONS], len(sent), digest)


__all__ = ["Bundle", "BundleProblems", "bundle_context", "evidence_bundle", "dt"]
