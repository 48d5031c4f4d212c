"""Producing letters: HTML templates to print-ready A4 PDF (WeasyPrint), kept and logged.

Templates are Jinja2 files named by letter id. A school overrides any of them by putting
a file of the same name in ``templates/<workflow key>/`` (e.g. ``templates/staplehurst/
late_before_close.html``), or by naming another template in its workflow
(``letters: {late_before_close: {template: late_letter_l}}``); everything else comes from
``templates/national/``. Every letter produced is kept as a file under the letters
folder (``$CASEWORK_LETTERS_DIR``, default ``./letters``) with its SHA-256, marked
produced on its ``letter`` row, and logged on the case: what, to whom, when, by whom,
the exact file.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

from jinja2 import (
    ChoiceLoader,
    Environment,
    FileSystemLoader,
    StrictUndefined,
    TemplateNotFound,
    UndefinedError,
)
from markupsafe import Markup
from sqlmodel import Session, select

from casework.clock import Clock, local
from casework.letters.certificate import registration_certificate
from casework.letters.data import LetterData, QueueData
from casework.letters.fields import (
    LETTER_LOG_PREFIX,
    TEMPLATES_DIR,
    LetterJob,
    LetterProblems,
    long_date,
    period_for,
    prepare_letter,
    school_calendar,
    window_start,
)
from casework.letters.pdf import LayoutPool, LetterPdf, render_pdfs
from casework.plain import Plain
from casework.store.audit import record
from casework.store.casemodels import Case, CaseNote, LetterBatch, LetterRequest
from casework.store.models import School
from casework.workflow import Workflow, for_school


def letters_dir() -> Path:
    return Path(os.environ.get("CASEWORK_LETTERS_DIR", "letters"))


def template_dirs(workflow: Workflow) -> list[Path]:
    """Where a school's templates are looked for: beside its workflow file
    (``myschool/letters/``), then the package's set for it, then the national set."""
    own = TEMPLATES_DIR / workflow.key
    return [d for d in (workflow.letters_dir, own, TEMPLATES_DIR / "national") if d.is_dir()]


_ENVIRONMENTS: dict[tuple[str, ...], Environment] = {}


def environment(workflow: Workflow | None = None) -> Environment:
    """The template environment for a workflow's letter folders. One per set of folders, kept
    for the process, so each template is compiled once (Jinja still reloads a template whose
    file has changed)."""
    dirs = template_dirs(workflow) if workflow else [TEMPLATES_DIR / "national"]
    key = tuple(str(d) for d in dirs)
    if key not in _ENVIRONMENTS:
        _ENVIRONMENTS[key] = _new_environment(dirs)
    return _ENVIRONMENTS[key]


def _new_environment(dirs) -> Environment:
    env = Environment(loader=ChoiceLoader([FileSystemLoader(str(d)) for d in dirs]), undefined=StrictUndefined,
                      autoescape=True, trim_blocks=True, lstrip_blocks=True)
    env.filters["date"] = lambda d: long_date(d) if isinstance(d, dt.date) else d
    env.filters["plural"] = lambda n, word, many=None: f"{n} {word if n == 1 else (many or word + 's')}"
    env.filters["pct"] = lambda v: "—" if v is None else f"{v:.1f}%"
    env.filters["sentence"] = lambda t: (t or "").strip() + ("" if (t or "").strip()[-1:] in ".!?" else ".")
    env.filters["css"] = css_string
    env.filters["colour"] = css_colour
    return env


def css_string(text: str) -> Markup:
    """Text as a quoted CSS string (for page headers and footers inside <style>)."""
    escaped = (str(text).replace("\\", "\\\\").replace('"', '\\"').replace("<", "\\3C ")
               .replace("\n", "\\A ").replace("\r", ""))
    # Every character that could end the string or the style element is escaped above.
    return Markup('"' + escaped + '"')  # nosec B704


def css_colour(value: str) -> Markup:
    """The letterhead colour, if it is a plain CSS colour (a hex value or a colour name)."""
    ok = re.fullmatch(r"#[0-9a-fA-F]{3,8}|[a-zA-Z]{3,20}", str(value or ""))
    # Only a hex value or a plain colour name passes the pattern.
    return Markup(value if ok else "#1d3557")  # nosec B704


def render_html(job: LetterJob, recipient_index: int, env: Environment | None = None) -> str:
    env = env or environment(job.workflow)
    try:
        template = env.get_template(f"{job.template}.html")
    except TemplateNotFound:
        raise LetterProblems([f"no template {job.template}.html for letter {job.letter_id!r} (looked in "
                              + ", ".join(str(d) for d in template_dirs(job.workflow)) + ")"]) from None
    try:
        return template.render(**job.fields, recipient=job.recipients[recipient_index],
                               letter_def=job.definition)
    except UndefinedError as exc:
        raise LetterProblems([f"letter {job.letter_id!r} needs a field the case does not hold: {exc.message}"]) from None


def _attach_certificate(session: Session, job: LetterJob, data: LetterData | None) -> None:
    if job.definition.certificate and "certificate" not in job.fields:
        cal = school_calendar(session, job.school.id)
        p = job.fields["period"]
        job.fields["certificate"] = registration_certificate(session, job.school.id, job.pupil, cal,
                                                             p["start"], p["end"], data)


def _write_atomically(path: Path, data: bytes) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".pdf")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return hashlib.sha256(data).hexdigest()


@dataclass
class ProducedLetter(Plain):
    letter_id: int
    case_id: int
    pupil: str
    template: str
    label: str
    recipients: list[str]
    file: str
    sha256: str
    pages: int


@dataclass
class _Ready:
    job: LetterJob
    html: list[str]


def check_letter(session: Session, request: LetterRequest, clock: Clock, data: LetterData | None = None) -> _Ready:
    """Prepare and render the HTML of a queued letter; raises ``LetterProblems`` with every gap.
    ``data`` is what a whole queue's checks read at once (``queue_data``)."""
    if request.status != "queued":
        when = f" on {local(request.produced_at):%d %B %Y at %H:%M}" if request.produced_at else ""
        raise LetterProblems([f"letter {request.id} is {request.status}{when}, not queued"])
    job = prepare_letter(session, request, clock, data)
    _attach_certificate(session, job, data)
    env = environment(job.workflow)
    return _Ready(job, [render_html(job, i, env) for i in range(len(job.recipients))])


def _produce(session: Session, ready: _Ready, pdf: LetterPdf, clock: Clock, by: str) -> tuple[ProducedLetter, bytes]:
    job = ready.job
    checked = CheckedLetter.of(ready, clock.now())
    return keep_letter(session, job.request, checked, pdf, by, job.school), pdf.data


@dataclass
class CheckedLetter:
    """A queued letter as it was checked at a moment, ready to lay out and keep (plain data, so it
    can be laid out later or in another process)."""

    request_id: int
    case_id: int
    pupil: str
    letter_id: str
    label: str
    recipients: list[dict]
    html: list[str]
    at: dt.datetime

    @classmethod
    def of(cls, ready: _Ready, at: dt.datetime) -> CheckedLetter:
        job = ready.job
        return cls(job.request.id, job.case.id, job.pupil.name, job.letter_id, job.definition.label,
                   [r.as_dict() for r in job.recipients], ready.html, at)


def keep_letter(session: Session, req: LetterRequest, letter: CheckedLetter, pdf: LetterPdf, by: str,
                school: School) -> ProducedLetter:
    """Keep a letter's PDF in the letters folder, mark it produced at ``letter.at`` and log it on the case."""
    now = letter.at
    path = (letters_dir() / school.urn / f"{local(now):%Y-%m-%d}"
            / f"case{letter.case_id}-{letter.letter_id}-letter{req.id}.pdf")
    digest = _write_atomically(path, pdf.data)
    record(session, now, by, "letter.produce", f"letter:{req.id}", school_id=school.id, case=letter.case_id,
           template=letter.letter_id, sha256=digest)
    req.status, req.produced_at, req.produced_by = "produced", now, by
    req.recipients, req.file, req.sha256 = letter.recipients, str(path), digest
    session.add(req)
    to = "; ".join(r["addressee"] for r in letter.recipients)
    session.add(CaseNote(case_id=letter.case_id, author=by, at=now,
                         text=f"{LETTER_LOG_PREFIX} {letter.label} ({letter.letter_id}), to {to}, "
                              f"by {by} on {local(now):%d %B %Y at %H:%M}; kept as {path} (sha256 {digest})"))
    session.flush()
    return ProducedLetter(req.id, letter.case_id, letter.pupil, letter.letter_id, letter.label,
                          [r["addressee"] for r in letter.recipients], str(path), digest, pdf.pages)


def render_letter(session: Session, letter_request_id: int, clock: Clock, by: str) -> ProducedLetter:
    """Produce one queued letter as its own PDF (one letter per recipient), kept and logged on the case."""
    req = session.get(LetterRequest, letter_request_id)
    if req is None:
        raise LookupError(f"no letter {letter_request_id}")
    ready = check_letter(session, req, clock)
    produced, _ = _produce(session, ready, render_pdfs([ready.html])[0], clock, by)
    return produced


class BatchProblems(ValueError):
    def __init__(self, problems: dict[int, list[str]]):
        self.problems = problems
        super().__init__("; ".join(f"letter {k}: {'; '.join(v)}" for k, v in problems.items()))


def queue_data(session: Session, school: School, requests: list[LetterRequest], clock: Clock) -> QueueData:
    """What checking these letters reads, read once for them all: the school year so far, and the
    marks back to the start of the longest rolling penalty window of the workflows involved."""
    today = clock.today()
    cal = school_calendar(session, school.id)
    start, end = period_for(cal, today)
    case_ids = sorted({r.case_id for r in requests})
    workflows = {w for k in range(0, len(case_ids), 500)
                 for w in session.exec(select(Case.workflow).where(Case.id.in_(case_ids[k:k + 500])).distinct())}
    first = min((window_start(cal, for_school(w).model.thresholds.penalty_school_weeks, today, start, end)
                 for w in workflows), default=start)
    return QueueData(session, school.id, requests, start, end, marks_from=first)


def queued_letters(session: Session, school: School, clock: Clock) -> list[LetterRequest]:
    """Letters queued for a school up to the end of today."""
    end = dt.datetime.combine(clock.today() + dt.timedelta(days=1), dt.time(0), tzinfo=clock.now().tzinfo)
    return list(session.exec(select(LetterRequest).where(
        LetterRequest.school_id == school.id, LetterRequest.status == "queued", LetterRequest.queued_at < end)
        .order_by(LetterRequest.queued_at, LetterRequest.id)))


def render_queued(session: Session, school: School, clock: Clock, by: str, *, skip_problems: bool = False,
                  print_file: Path | None = None,
                  limit: int | None = None,
                  pool: LayoutPool | None = None) -> tuple[list[ProducedLetter], dict[int, list[str]], Path | None]:
    """Produce every queued letter for a school (each its own kept file), optionally also one print file.

    Every letter is checked first. If any has a problem nothing is produced and ``BatchProblems``
    lists them all, unless ``skip_problems``: then the others are produced and the problems returned.
    ``limit`` takes only the oldest that many queued letters (a batch a person can wait for).
    The letters are laid out together (``casework.letters.pdf``), in the ``pool``'s processes if given.
    """
    ready, problems = [], {}
    queued = queued_letters(session, school, clock)
    queued = queued[:limit] if limit is not None else queued
    data = queue_data(session, school, queued, clock)
    for req in queued:
        try:
            ready.append(check_letter(session, req, clock, data))
        except LetterProblems as exc:
            problems[req.id] = exc.problems
    if problems and not skip_problems:
        raise BatchProblems(problems)
    produced, files = [], []
    for r, pdf in zip(ready, render_pdfs([r.html for r in ready], pool)):
        p, data = _produce(session, r, pdf, clock, by)
        produced.append(p)
        files.append(data)
    written = None
    if print_file is not None and files:
        _write_atomically(print_file, _joined(files))
        written = print_file
    return produced, problems, written


def keep_print_file(session: Session, school: School, at: dt.datetime, by: str, letter_ids: list[int],
                    pdfs: list[bytes]) -> LetterBatch:
    """One print file of letters already kept on their own: their PDFs joined in order, written
    under the day it was made and recorded (``LetterBatch``) with its SHA-256."""
    day = local(at)
    path = letters_dir() / school.urn / f"{day:%Y-%m-%d}" / f"print-{day:%H%M%S}-{letter_ids[0]}.pdf"
    batch = LetterBatch(school_id=school.id, produced_at=at, produced_by=by, letter_ids=letter_ids, file=str(path),
                        sha256=_write_atomically(path, _joined(pdfs)))
    session.add(batch)
    session.flush()
    return batch


def _joined(pdfs: list[bytes]) -> bytes:
    """The letters' own PDFs one after another as one print file (joined as they are, not drawn again)."""
    from pypdf import PdfReader, PdfWriter

    out = PdfWriter()
    for data in pdfs:
        out.append(PdfReader(io.BytesIO(data)))
    buf = io.BytesIO()
    out.write(buf)
    return buf.getvalue()
