"""The letters desk: what is waiting to be produced for a school, producing it, and handing
back a kept file only when it is still exactly what was produced.

Everything a letter says, and whether it can go, is the letters domain's
(``casework.letters``): this module lists its verdicts and keeps a record of each print
file (``LetterBatch``) with its SHA-256, as ``render_letter`` does for each letter.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from sqlmodel import Session, select

from casework.cases.withdrawal import letter_label, withdraw
from casework.clock import Clock
from casework.letters.fields import LetterProblems, prepare_letter
from casework.letters.pdf import LayoutPool
from casework.letters.render import (
    check_letter,
    keep_print_file,
    queue_data,
    queued_letters,
    render_letter,
    render_queued,
)
from casework.store.audit import record
from casework.store.casemodels import Case, LetterBatch, LetterRequest
from casework.store.models import Pupil, School

# Facts a letter may be missing that a person can give on the letters page: key -> (label, input type).
# A problem naming "key=" (e.g. "give leave_to=YYYY-MM-DD on the move") is put right by giving it.
FACTS = {"leave_from": ("First day of the leave", "date"), "leave_to": ("Last day of the leave", "date"),
         "meeting_at": ("Date and time of the meeting", "datetime-local")}


@dataclass
class QueuedLetter:
    request: LetterRequest
    case: Case
    pupil: Pupil
    label: str
    recipients: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def ready(self) -> bool:
        return not self.problems

    @property
    def problems_on_page(self) -> list[str]:
        """The problems as the letters page shows them: a missing fact without the CLI's hint of how
        to give it on a move (the page gives a form for it instead)."""
        return [p.split(" (", 1)[0] if any(f"{k}=" in p for k in FACTS) else p for p in self.problems]

    @property
    def missing(self) -> list[tuple[str, str, str]]:
        """The facts (key, label, input type) whose absence stops the letter and a person can give."""
        return [(k, *FACTS[k]) for k in FACTS if any(f"{k}=" in p for p in self.problems)]


class LetterError(ValueError):
    """A change to a queued letter that cannot be made, in words a person can act on."""


def supply_fact(session: Session, school_id: int, letter_id: int, key: str, value: str, *, by: str,
                now: dt.datetime) -> LetterRequest:
    """Record a fact the letter needs (kept on the letter, and in the audit log)."""
    req = school_letter(session, school_id, letter_id)
    if req.status != "queued":
        raise LetterError(f"the letter is {req.status}, not queued")
    if key not in FACTS:
        raise LetterError(f"{key!r} is not a fact a letter can be given here (one of: {', '.join(FACTS)})")
    label, kind = FACTS[key]
    try:
        parsed = dt.date.fromisoformat(value) if kind == "date" else dt.datetime.fromisoformat(value)
    except ValueError:
        raise LetterError(f"{label}: {value!r} is not a {'date' if kind == 'date' else 'date and time'}") from None
    req.facts = {**(req.facts or {}), key: parsed.isoformat()}
    session.add(req)
    record(session, now, by, "letter.fact", f"letter:{req.id}", school_id=school_id, case=req.case_id, key=key,
           value=parsed.isoformat())
    return req


def withdraw_letter(session: Session, school_id: int, letter_id: int, reason: str, *, by: str,
                    now: dt.datetime) -> LetterRequest:
    """Take a queued letter out of the queue for good (it should not go), with the reason on the case."""
    req = school_letter(session, school_id, letter_id)
    if req.status != "queued":
        raise LetterError(f"the letter is {req.status}, not queued")
    if not reason.strip():
        raise LetterError("say why the letter should not go: it is kept on the case")
    withdraw(session, req, session.get(Case, req.case_id), reason.strip(), by=by, now=now)
    return req


@dataclass
class LetterQueue:
    letters: list[QueuedLetter]  # this page of the queue, checked
    total: int  # letters queued in all
    with_problems: int = 0  # of all the letters queued, how many have a problem

    @property
    def ready(self) -> int:
        return self.total - self.with_problems


def letter_queue(session: Session, school: School, clock: Clock, *, limit: int | None = None,
                 offset: int = 0) -> LetterQueue:
    """Letters queued for the school up to today, oldest first (a page of them with ``limit``): who
    each goes to, or every problem that stops it, and how many of the whole queue have a problem.

    What the checks read is read once for the whole queue (``QueueData``). The page's letters are
    checked in full (their HTML rendered, never a PDF); the rest only for the facts they need,
    which is what stops a letter. Nothing is changed."""
    queued = queued_letters(session, school, clock)
    page = queued[offset: None if limit is None else offset + limit]
    data = queue_data(session, school, queued, clock)
    on_page = {req.id for req in page}
    with_problems = 0
    for req in queued:
        if req.id not in on_page:
            try:
                prepare_letter(session, req, clock, data)
            except LetterProblems:
                with_problems += 1
    out = []
    for req in page:
        case = session.get(Case, req.case_id)
        pupil = session.get(Pupil, case.pupil_id)
        item = QueuedLetter(req, case, pupil, letter_label(case, req.template))
        try:
            ready = check_letter(session, req, clock, data)
            item.recipients = [r.addressee for r in ready.job.recipients]
        except LetterProblems as exc:
            item.problems = list(exc.problems)
        out.append(item)
    return LetterQueue(out, len(queued), with_problems + sum(1 for x in out if not x.ready))


def school_letter(session: Session, school_id: int, letter_id: int) -> LetterRequest:
    req = session.get(LetterRequest, letter_id)
    if req is None or req.school_id != school_id:
        raise LookupError(f"no letter {letter_id}")
    return req


def produce_one(session: Session, school_id: int, letter_id: int, clock: Clock, by: str):
    """Produce one queued letter (``LetterProblems`` if it cannot go; ``LookupError`` if not this school's)."""
    school_letter(session, school_id, letter_id)
    return render_letter(session, letter_id, clock, by)


@dataclass
class BatchResult:
    batch: LetterBatch | None
    produced: list
    problems: dict[int, list[str]]
    remaining: int = 0  # ready letters still queued after a limited batch


def produce_print_batch(session: Session, school: School, clock: Clock, by: str,
                        limit: int | None = None, pool: LayoutPool | None = None) -> BatchResult:
    """Produce the ready letters (each kept on its own, as always) and one print file of them,
    kept and recorded with its SHA-256. Letters with problems stay queued and are listed.
    ``limit`` takes the oldest that many queued letters; ``remaining`` says how many are left."""
    produced, problems, _ = render_queued(session, school, clock, by, skip_problems=True, limit=limit, pool=pool)
    remaining = max(0, len(queued_letters(session, school, clock)) - len(problems))
    if not produced:
        return BatchResult(None, produced, problems, remaining)
    batch = keep_print_file(session, school, clock.now(), by, [p.letter_id for p in produced],
                            [Path(p.file).read_bytes() for p in produced])
    return BatchResult(batch, produced, problems, remaining)


def batches(session: Session, school_id: int, limit: int = 10) -> list[LetterBatch]:
    return list(session.exec(select(LetterBatch).where(LetterBatch.school_id == school_id)
                             .order_by(LetterBatch.produced_at.desc(), LetterBatch.id.desc()).limit(limit)))


def produced_letters(session: Session, school_id: int, limit: int = 25) -> list[tuple[LetterRequest, Case, Pupil, str]]:
    """The school's most recently produced letters, with each letter's label."""
    rows = session.exec(select(LetterRequest, Case, Pupil).join(Case, Case.id == LetterRequest.case_id)
                        .join(Pupil, Pupil.id == Case.pupil_id)
                        .where(LetterRequest.school_id == school_id, LetterRequest.status == "produced")
                        .order_by(LetterRequest.produced_at.desc(), LetterRequest.id.desc()).limit(limit)).all()
    return [(req, case, pupil, letter_label(case, req.template)) for req, case, pupil in rows]


class FileProblem(Exception):
    """A kept file is missing, or is no longer what was produced (its SHA-256 differs)."""


def verified_file(file: str, sha256: str) -> bytes:
    """The bytes of a kept file, only if they still hash to the recorded SHA-256."""
    if not file or not sha256:
        raise FileProblem("this letter has not been produced")
    path = Path(file)
    if not path.is_file():
        raise FileProblem(f"the kept file {path.name} is missing from the letters folder")
    data = path.read_bytes()
    if hashlib.sha256(data).hexdigest() != sha256:
        raise FileProblem(f"the kept file {path.name} has changed since it was produced (its SHA-256 does not "
                          "match the record), so it is not sent")
    return data


def letter_file(session: Session, school_id: int, letter_id: int) -> tuple[bytes, str]:
    req = school_letter(session, school_id, letter_id)
    if req.status != "produced":
        raise FileProblem("this letter has not been produced")
    return verified_file(req.file, req.sha256), Path(req.file).name


def batch_file(session: Session, school_id: int, batch_id: int) -> tuple[bytes, str]:
    b = session.get(LetterBatch, batch_id)
    if b is None or b.school_id != school_id:
        raise LookupError(f"no print file {batch_id}")
    return verified_file(b.file, b.sha256), Path(b.file).name

