"""CSV imports, the way data arrives from an MIS export.

Each file imports all-or-nothing: every row is checked first and a bad file is
rejected with every problem listed as file, line, column and reason; only a clean
file is written, in one transaction. Re-importing the same file changes nothing; a
changed mark is recorded as a register amendment. Formats are documented in
``docs/import-formats.md``.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import os
import re
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import insert, select, update
from sqlmodel import Session

from casework.calendar import SESSIONS
from casework.clock import Clock
from casework.codes import CODES, LATE_AFTER_CLOSE, LATE_BEFORE_CLOSE, canonical
from casework.models import (
    PUPIL_FLAGS,
    RAG_RATINGS,
    CalendarDay,
    Contact,
    ImportRun,
    Mark,
    MarkAmendment,
    Pupil,
    School,
)
from casework.register import Amender, load_calendar
from casework.upn import upn_problem

KINDS = ("pupils", "contacts", "calendar", "marks")


@dataclass(frozen=True)
class Problem:
    file: str
    line: int
    column: str
    reason: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}"
        return f"{where}: {self.column}: {self.reason}" if self.column else f"{where}: {self.reason}"


class ImportRejected(Exception):
    """The file was not imported; nothing was written."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__(f"{len(problems)} problem(s); nothing was imported")


@dataclass
class ImportResult:
    kind: str
    file: str
    rows: int = 0
    added: int = 0
    changed: int = 0
    unchanged: int = 0
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {
            "kind": self.kind,
            "file": self.file,
            "rows": self.rows,
            "added": self.added,
            "changed": self.changed,
            "unchanged": self.unchanged,
            "notes": self.notes,
        }


# -- parsing helpers ----------------------------------------------------------

TRUE = {"y", "yes", "true", "1", "t"}
FALSE = {"n", "no", "false", "0", "f", ""}


_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def parse_date(text: str) -> dt.date:
    """ISO dates (2025-09-03) or the UK form MIS exports use (03/09/2025)."""
    text = text.strip()
    try:
        if "/" in text:
            d, m, y = text.split("/")
            if len(y) != 4:
                raise ValueError
            return dt.date(int(y), int(m), int(d))
        if not _ISO_DATE.fullmatch(text):
            raise ValueError  # fromisoformat would also take week dates such as 2025-W36-3
        return dt.date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"malformed date {text!r} (use YYYY-MM-DD or DD/MM/YYYY)") from None


def parse_bool(text: str) -> bool:
    t = text.strip().lower()
    if t in TRUE:
        return True
    if t in FALSE:
        return False
    raise ValueError(f"expected yes or no, not {text!r}")


def parse_year_group(text: str) -> int:
    t = text.strip().upper()
    if t in ("R", "REC", "RECEPTION"):
        return 0
    if t in ("N", "N1", "N2", "NURSERY"):
        return -1
    t = t.removeprefix("Y").removeprefix("EAR ").strip()
    try:
        n = int(t)
    except ValueError:
        raise ValueError(f"unknown year group {text!r} (use R, N or 1 to 14)") from None
    if not 1 <= n <= 14:
        raise ValueError(f"year group {n} is outside 1 to 14")
    return n


class _Reader:
    """Reads a CSV into rows, checking the header, collecting problems as it goes."""

    def __init__(self, path: Path, required: Iterable[str], optional: Iterable[str]):
        self.name = path.name
        self.problems: list[Problem] = []
        self.required = list(required)
        self.allowed = set(self.required) | set(optional)
        try:
            raw = path.read_bytes()
        except OSError as exc:
            raise ImportRejected([Problem(self.name, 0, "", f"cannot read the file: {exc.strerror}")]) from None
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            text = raw.decode("cp1252", errors="replace")  # older MIS exports
        reader = csv.reader(io.StringIO(text, newline=""))
        try:
            header = next(reader)
        except StopIteration:
            raise ImportRejected([Problem(self.name, 1, "", "the file is empty: expected a header row")]) from None
        self.header = [h.strip().lower() for h in header]
        missing = [c for c in self.required if c not in self.header]
        unknown = [h for h in self.header if h and h not in self.allowed]
        for c in missing:
            self.problems.append(Problem(self.name, 1, c, "required column is missing"))
        for c in unknown:
            self.problems.append(
                Problem(self.name, 1, c, f"unknown column (expected: {', '.join(sorted(self.allowed))})")
            )
        dup = {h for h in self.header if self.header.count(h) > 1}
        for c in sorted(dup):
            self.problems.append(Problem(self.name, 1, c, "column appears twice"))
        if self.problems:
            raise ImportRejected(self.problems)
        self.index = {h: i for i, h in enumerate(self.header)}
        self.rows: list[tuple[int, list[str]]] = []
        # A record's line is where it starts: a quoted field (an address) may span lines.
        start = reader.line_num + 1
        for row in reader:
            line, start = start, reader.line_num + 1
            if not "".join(row).strip():  # a blank row
                continue
            if len(row) != len(self.header):
                self.problem(line, "", f"has {len(row)} fields, the header has {len(self.header)}")
                continue
            self.rows.append((line, row))

    def get(self, row: list[str], column: str) -> str:
        i = self.index.get(column)
        return row[i].strip() if i is not None else ""

    def has(self, column: str) -> bool:
        return column in self.index

    def problem(self, line: int, column: str, reason: str) -> None:
        self.problems.append(Problem(self.name, line, column, reason))

    def check(self) -> None:
        if self.problems:
            raise ImportRejected(sorted(self.problems, key=lambda p: p.line))


def _progress(total: int, description: str):
    """A progress bar on a terminal for large files; silent otherwise."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    enabled = total >= 20_000 and sys.stderr.isatty() and not os.environ.get("CASEWORK_NO_PROGRESS")
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        disable=not enabled,
        transient=True,
        console=None,
    ), description


def _log_run(session: Session, school: School, result: ImportResult, clock: Clock, by: str) -> None:
    session.add(
        ImportRun(
            school_id=school.id,
            kind=result.kind,
            filename=result.file,
            imported_at=clock.now(),
            imported_by=by,
            rows=result.rows,
            added=result.added,
            changed=result.changed,
            unchanged=result.unchanged,
            summary=result.as_dict(),
        )
    )


# -- pupils -------------------------------------------------------------------

PUPIL_COLUMNS = ("upn", "forename", "surname", "date_of_birth", "year_group")
PUPIL_OPTIONAL = (*PUPIL_FLAGS, "vulnerability_rag", "on_roll")


def import_pupils(session: Session, school: School, path: Path, *, clock: Clock, by: str = "import") -> ImportResult:
    r = _Reader(path, PUPIL_COLUMNS, PUPIL_OPTIONAL)
    seen: dict[str, int] = {}
    parsed: list[dict] = []
    for line, row in r.rows:
        rec: dict = {}
        upn = r.get(row, "upn").upper()
        problem = upn_problem(upn)
        if problem:
            r.problem(line, "upn", problem)
        elif upn in seen:
            r.problem(line, "upn", f"UPN {upn} appears twice (first on line {seen[upn]})")
        seen.setdefault(upn, line)
        rec["upn"] = upn
        for col in ("forename", "surname"):
            rec[col] = r.get(row, col)
            if not rec[col]:
                r.problem(line, col, "is empty")
        try:
            rec["date_of_birth"] = parse_date(r.get(row, "date_of_birth"))
        except ValueError as exc:
            r.problem(line, "date_of_birth", str(exc))
        try:
            rec["year_group"] = parse_year_group(r.get(row, "year_group"))
        except ValueError as exc:
            r.problem(line, "year_group", str(exc))
        for flag in (*PUPIL_FLAGS, "on_roll"):
            if r.has(flag):
                try:
                    rec[flag] = parse_bool(r.get(row, flag)) if (flag != "on_roll" or r.get(row, flag)) else True
                except ValueError as exc:
                    r.problem(line, flag, str(exc))
        if r.has("vulnerability_rag"):
            rag = r.get(row, "vulnerability_rag").lower() or None
            if rag is not None and rag not in RAG_RATINGS:
                r.problem(line, "vulnerability_rag", f"expected red, amber, green or blank, not {rag!r}")
            rec["vulnerability_rag"] = rag
        parsed.append(rec)
    r.check()

    result = ImportResult("pupils", r.name, rows=len(parsed))
    existing = {p.upn: p for p in session.exec(select(Pupil).where(Pupil.school_id == school.id)).scalars()}
    for rec in parsed:
        pupil = existing.get(rec["upn"])
        if pupil is None:
            session.add(Pupil(school_id=school.id, **rec))
            result.added += 1
            continue
        changed = False
        for key, value in rec.items():
            if getattr(pupil, key) != value:
                setattr(pupil, key, value)
                changed = True
        if changed:
            session.add(pupil)
            result.changed += 1
        else:
            result.unchanged += 1
    _log_run(session, school, result, clock, by)
    session.flush()
    return result


# -- contacts -----------------------------------------------------------------

CONTACT_COLUMNS = ("upn", "name", "relationship")
CONTACT_OPTIONAL = (
    "parental_responsibility",
    "lives_with_pupil",
    "phone_mobile",
    "phone_home",
    "phone_work",
    "email",
    "address",
    "postcode",
    "call_priority",
)


def import_contacts(session: Session, school: School, path: Path, *, clock: Clock, by: str = "import") -> ImportResult:
    r = _Reader(path, CONTACT_COLUMNS, CONTACT_OPTIONAL)
    pupils = dict(session.execute(select(Pupil.upn, Pupil.id).where(Pupil.school_id == school.id)).all())
    seen: dict[tuple[str, str], int] = {}
    parsed: list[dict] = []
    for line, row in r.rows:
        upn = r.get(row, "upn").upper()
        rec: dict = {}
        if upn not in pupils:
            r.problem(line, "upn", f"unknown UPN {upn!r}: import the pupil first")
        rec["pupil_id"] = pupils.get(upn)
        for col in ("name", "relationship"):
            rec[col] = r.get(row, col)
            if not rec[col]:
                r.problem(line, col, "is empty")
        key = (upn, rec["name"].lower())
        if key in seen:
            r.problem(line, "name", f"{rec['name']} is listed twice for {upn} (first on line {seen[key]})")
        seen.setdefault(key, line)
        for col in ("parental_responsibility", "lives_with_pupil"):
            if r.has(col):
                try:
                    rec[col] = parse_bool(r.get(row, col) or "yes")
                except ValueError as exc:
                    r.problem(line, col, str(exc))
        for col in ("phone_mobile", "phone_home", "phone_work", "postcode"):
            if r.has(col):
                rec[col] = r.get(row, col)
        if r.has("address"):
            # MIS exports put the lines of an address in one field, separated by commas or newlines.
            parts = [p.strip() for p in r.get(row, "address").replace("\n", ",").split(",")]
            rec["address"] = "\n".join(p for p in parts if p)
        if r.has("email"):
            email = r.get(row, "email")
            if email and ("@" not in email or " " in email):
                r.problem(line, "email", f"{email!r} is not an email address")
            rec["email"] = email
        if r.has("call_priority"):
            text = r.get(row, "call_priority") or "1"
            if not text.isdigit() or int(text) < 1:
                r.problem(line, "call_priority", f"expected a whole number from 1, not {text!r}")
            else:
                rec["call_priority"] = int(text)
        parsed.append(rec)
    r.check()

    result = ImportResult("contacts", r.name, rows=len(parsed))
    ids = {rec["pupil_id"] for rec in parsed}
    existing = {
        (c.pupil_id, c.name.lower()): c
        for c in session.exec(select(Contact).where(Contact.pupil_id.in_(ids))).scalars()
    }
    for rec in parsed:
        contact = existing.get((rec["pupil_id"], rec["name"].lower()))
        if contact is None:
            session.add(Contact(**rec))
            result.added += 1
            continue
        changed = False
        for key, value in rec.items():
            if getattr(contact, key) != value:
                setattr(contact, key, value)
                changed = True
        result.changed += changed
        result.unchanged += not changed
    _log_run(session, school, result, clock, by)
    session.flush()
    return result


# -- calendar -----------------------------------------------------------------

CALENDAR_COLUMNS = ("start", "end", "kind")
CALENDAR_OPTIONAL = ("label", "session")


def import_calendar(session: Session, school: School, path: Path, *, clock: Clock, by: str = "import") -> ImportResult:
    r = _Reader(path, CALENDAR_COLUMNS, CALENDAR_OPTIONAL)
    parsed: list[dict] = []
    for line, row in r.rows:
        rec: dict = {"label": r.get(row, "label")}
        for col in ("start", "end"):
            try:
                rec[col] = parse_date(r.get(row, col))
            except ValueError as exc:
                r.problem(line, col, str(exc))
        if "start" in rec and "end" in rec and rec["end"] < rec["start"]:
            r.problem(line, "end", f"ends ({rec['end']}) before it starts ({rec['start']})")
        kind = r.get(row, "kind").lower()
        if kind not in ("term", "closure"):
            r.problem(line, "kind", f"expected term or closure, not {kind!r}")
        rec["kind"] = kind
        sess = r.get(row, "session").upper() or None
        if sess is not None and sess not in SESSIONS:
            r.problem(line, "session", f"expected AM, PM or blank, not {sess!r}")
        if sess is not None and kind == "term":
            r.problem(line, "session", "a term is whole days; give a session only for a closure")
        rec["session"] = sess
        parsed.append(rec)
    terms = sorted((rec["start"], rec["end"], line) for (line, _), rec in zip(r.rows, parsed) if rec.get("kind") == "term" and "start" in rec and "end" in rec)
    for (s1, e1, l1), (s2, e2, l2) in zip(terms, terms[1:]):
        if s2 <= e1:
            r.problem(l2, "start", f"this term overlaps the term on line {l1} ({s1} to {e1})")
    r.check()

    result = ImportResult("calendar", r.name, rows=len(parsed))
    existing = {
        (e.start, e.end, e.kind, e.session): e
        for e in session.exec(select(CalendarDay).where(CalendarDay.school_id == school.id)).scalars()
    }
    for rec in parsed:
        entry = existing.get((rec["start"], rec["end"], rec["kind"], rec["session"]))
        if entry is None:
            session.add(CalendarDay(school_id=school.id, **rec))
            result.added += 1
        elif entry.label != rec["label"]:
            entry.label = rec["label"]
            result.changed += 1
        else:
            result.unchanged += 1
    _log_run(session, school, result, clock, by)
    session.flush()
    return result


# -- marks --------------------------------------------------------------------

MARK_COLUMNS = ("upn", "date", "session", "code")
MARK_OPTIONAL = ("minutes_late", "recorded_by")
BATCH = 5_000


def _register_times(school: School) -> dict:
    """The school's register times from its workflow (none if the workflow cannot be read)."""
    from casework.workflow import WorkflowError, for_school

    try:
        return dict(for_school(school.workflow).register_times())
    except (WorkflowError, FileNotFoundError, KeyError):
        return {}


def import_marks(
    session: Session,
    school: School,
    path: Path,
    *,
    clock: Clock,
    by: Amender = Amender("MIS import", "Data import"),
    reason: str | None = None,
    progress: Callable | None = None,
) -> ImportResult:
    """Import marks set-wise: validate every row, then insert new marks and amend changed
    ones in bulk. A changed mark gets an amendment row naming the file as the reason."""
    r = _Reader(path, MARK_COLUMNS, MARK_OPTIONAL)
    pupils = dict(session.execute(select(Pupil.upn, Pupil.id).where(Pupil.school_id == school.id)).all())
    calendar = load_calendar(session, school.id)
    if calendar.first_day is None:
        raise ImportRejected([Problem(r.name, 0, "", f"{school.name} has no term dates yet: import its calendar first")])
    open_sessions = set(calendar.sessions(calendar.first_day, calendar.last_day))
    dates: dict[str, dt.date] = {}
    seen: dict[tuple[str, dt.date, str], int] = {}
    parsed: list[tuple[int, dt.date, str, str, int | None, str]] = []
    # Columns by position: this loop runs once per mark (380,000 a year for a large school).
    i_upn, i_date, i_sess, i_code = (r.index[c] for c in MARK_COLUMNS)
    i_min = r.index.get("minutes_late")
    i_by = r.index.get("recorded_by")
    late_codes = (LATE_BEFORE_CLOSE, LATE_AFTER_CLOSE)
    registers = _register_times(school)
    contradictions: list[str] = []
    for line, row in r.rows:
        ok = True
        upn = row[i_upn].strip().upper()
        pupil_id = pupils.get(upn)
        if pupil_id is None:
            r.problem(line, "upn", f"unknown UPN {upn!r}")
            ok = False
        date_text = row[i_date].strip()
        day = dates.get(date_text)
        if day is None:
            try:
                day = parse_date(date_text)
                dates[date_text] = day
            except ValueError as exc:
                r.problem(line, "date", str(exc))
                ok = False
        sess = row[i_sess].strip().upper()
        if sess not in SESSIONS:
            r.problem(line, "session", f"expected AM or PM, not {sess!r}")
            ok = False
        elif day is not None and (day, sess) not in open_sessions:
            if not calendar.covers(day):
                r.problem(line, "date", f"{day.isoformat()} is outside the calendar ({calendar.first_day} to {calendar.last_day})")
            else:
                r.problem(line, "date", f"{day.isoformat()} {sess} is not a school session ({calendar.why_closed(day)})")
            ok = False
        code = row[i_code].strip()
        if code not in CODES:
            r.problem(line, "code", f"unknown attendance code {code!r}")
            ok = False
        minutes = None
        if i_min is not None:
            text = row[i_min].strip()
            if text:
                if not text.isdigit():
                    r.problem(line, "minutes_late", f"expected a whole number of minutes, not {text!r}")
                    ok = False
                elif code not in late_codes:
                    r.problem(line, "minutes_late", f"minutes late given for code {code!r}; only L and U are late marks")
                    ok = False
                else:
                    minutes = int(text)
                    times = registers.get(sess)
                    if times is not None and times.expected_late_code(minutes) != canonical(code):
                        contradictions.append(
                            f"{r.name}:{line}: {upn} {date_text} {sess} is {code} but {minutes} minutes late is "
                            f"{'before' if times.expected_late_code(minutes) == LATE_BEFORE_CLOSE else 'after'} "
                            f"the school's L/U cut-off ({times.u_after:%H:%M}; register taken {times.open:%H:%M}): "
                            f"kept as {code}, check it")
        if ok:
            key = (upn, day, sess)
            if key in seen:
                r.problem(line, "session", f"duplicate mark: {upn} {day} {sess} is also on line {seen[key]}")
                continue
            seen[key] = line
            parsed.append((pupil_id, day, sess, code, minutes, row[i_by].strip() if i_by is not None else ""))
    r.check()

    result = ImportResult("marks", r.name, rows=len(parsed))
    if contradictions:
        result.notes.append(f"warning: {len(contradictions)} late mark(s) contradict the school's cut-off; "
                            "each is kept as recorded")
        result.notes.extend(f"warning: {c}" for c in contradictions[:50])
        if len(contradictions) > 50:
            result.notes.append(f"warning: ... and {len(contradictions) - 50} more")
    if not parsed:
        _log_run(session, school, result, clock, by.name)
        return result
    lo = min(p[1] for p in parsed)
    hi = max(p[1] for p in parsed)
    mark_t = Mark.__table__
    existing = {
        (pid, d, s): (mid, code, mins)
        for mid, pid, d, s, code, mins in session.execute(
            select(mark_t.c.id, mark_t.c.pupil_id, mark_t.c.date, mark_t.c.session, mark_t.c.code, mark_t.c.minutes_late).where(
                mark_t.c.school_id == school.id, mark_t.c.date >= lo, mark_t.c.date <= hi
            )
        )
    }
    now = clock.now()
    new_rows: list[tuple] = []
    amendments: list[dict] = []
    updates: list[dict] = []
    why = reason or f"corrected by MIS import of {r.name}"
    conn = session.connection()
    # New marks go straight to the driver as tuples (one executemany per batch): building
    # 380,000 parameter dicts through SQLAlchemy's compiler cost more than the validation.
    # Values are converted by the columns' own bind processors, so they are stored exactly
    # as the ORM would store them.
    bind_date = _binder(mark_t.c.date, conn.dialect)
    at = _binder(mark_t.c.recorded_at, conn.dialect)(now)
    bound_dates: dict[dt.date, object] = {}
    for pid, day, sess, code, minutes, recorded_by in parsed:
        old = existing.get((pid, day, sess))
        if old is None:
            d = bound_dates.get(day)
            if d is None:
                d = bound_dates[day] = bind_date(day)
            new_rows.append((school.id, pid, d, sess, code, minutes, recorded_by or by.name, at))
        elif old[1] == code and old[2] == minutes:
            result.unchanged += 1
        else:
            amendments.append(
                dict(mark_id=old[0], pupil_id=pid, date=day, session=sess, original_code=old[1],
                     original_minutes_late=old[2], amended_code=code, amended_minutes_late=minutes,
                     reason=why, amended_at=now, amended_by_name=by.name, amended_by_position=by.position)
            )
            updates.append({"mark_id": old[0], "new_code": code, "new_minutes": minutes})

    columns = ("school_id", "pupil_id", "date", "session", "code", "minutes_late", "recorded_by", "recorded_at")
    mark_insert = _insert_sql(conn.dialect, mark_t, columns)
    bar, _ = _progress(len(new_rows) + len(updates), f"importing {r.name}")
    with bar:
        task = bar.add_task(f"importing {r.name}", total=len(new_rows) + len(updates))
        if conn.dialect.name == "postgresql":
            # COPY is PostgreSQL's bulk path: about four times executemany's speed. It runs on
            # the session's own connection, so it is inside the same all-or-nothing transaction.
            quote = conn.dialect.identifier_preparer
            copy_sql = f"COPY {quote.format_table(mark_t)} ({', '.join(quote.quote(c) for c in columns)}) FROM STDIN"
            with conn.connection.driver_connection.cursor() as cur, cur.copy(copy_sql) as copy:
                for i in range(0, len(new_rows), BATCH):
                    chunk = new_rows[i : i + BATCH]
                    for row in chunk:
                        copy.write_row(row)
                    bar.advance(task, len(chunk))
        else:
            for i in range(0, len(new_rows), BATCH):
                chunk = new_rows[i : i + BATCH]
                conn.exec_driver_sql(mark_insert, chunk)
                bar.advance(task, len(chunk))
        if updates:
            from sqlalchemy import bindparam

            stmt = (
                update(mark_t)
                .where(mark_t.c.id == bindparam("mark_id"))
                .values(code=bindparam("new_code"), minutes_late=bindparam("new_minutes"))
            )
            for i in range(0, len(updates), BATCH):
                conn.execute(stmt, updates[i : i + BATCH])
                bar.advance(task, len(updates[i : i + BATCH]))
            conn.execute(insert(MarkAmendment.__table__), amendments)
    result.added = len(new_rows)
    result.changed = len(updates)
    _log_run(session, school, result, clock, by.name)
    session.flush()
    return result


def _binder(column, dialect) -> Callable:
    """The function that turns a Python value into what the driver gets for ``column``."""
    proc = column.type.dialect_impl(dialect).bind_processor(dialect)
    return proc or (lambda v: v)


def _insert_sql(dialect, table, columns: tuple[str, ...]) -> str:
    """A plain positional INSERT for the driver's executemany."""
    quote = dialect.identifier_preparer
    mark = "?" if dialect.paramstyle == "qmark" else "%s"
    return (
        f"INSERT INTO {quote.format_table(table)} ({', '.join(quote.quote(c) for c in columns)}) "
        f"VALUES ({', '.join([mark] * len(columns))})"
    )


IMPORTERS = {
    "pupils": import_pupils,
    "contacts": import_contacts,
    "calendar": import_calendar,
}
