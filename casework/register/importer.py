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
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import ValidationError
from sqlalchemy import bindparam, insert, select, update
from sqlmodel import Session

from casework.clock import LONDON, Clock, at
from casework.plain import Plain
from casework.register.calendar import SESSIONS, SchoolCalendar
from casework.register.codes import CODES, LATE_AFTER_CLOSE, LATE_BEFORE_CLOSE, canonical
from casework.register.rows import CalendarRow, ContactRow, PupilRow, Row, parse_date, row_problems
from casework.register.store import Amender, load_calendar
from casework.store.audit import record
from casework.store.casemodels import Timer
from casework.store.models import (
    PUPIL_FLAGS,
    CalendarDay,
    Contact,
    ImportRun,
    Mark,
    MarkAmendment,
    Pupil,
    School,
)
from casework.workflow import WorkflowError, for_school

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
class ImportResult(Plain):
    kind: str
    file: str
    rows: int = 0
    added: int = 0
    changed: int = 0
    unchanged: int = 0
    notes: list[str] = field(default_factory=list)


# -- parsing helpers ----------------------------------------------------------

MAX_FIELD = 131_072  # the csv module's own limit on one field: no register column comes near it


def _numbered_rows(reader, name: str):
    """(line, row) for each record, its line being where it starts (a quoted address may span
    lines). A field the csv module cannot take (a 10 MB line, a quote never closed) is a
    refusal naming its line, not a traceback."""
    start = reader.line_num + 1
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            reason = (f"a field is too long (over {MAX_FIELD:,} characters): this is not a register export"
                      if "field larger than field limit" in str(exc) else f"cannot be read as CSV ({exc})")
            raise ImportRejected([Problem(name, start, "", reason)]) from None
        yield start, row
        start = reader.line_num + 1


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
        numbered = _numbered_rows(reader, self.name)
        try:
            _, header = next(numbered)
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
        for line, row in numbered:
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

    def validated(self, line: int, row: list[str], model: type[Row], *, every_field: bool = False) -> dict | None:
        """The row's columns checked by ``model``: the values (only the columns the file has,
        unless ``every_field``), or None with each problem recorded against its column."""
        data = {c: row[i] for c, i in self.index.items() if c in model.model_fields}
        try:
            return model.model_validate(data).model_dump(exclude_unset=not every_field)
        except ValidationError as exc:
            for column, reason in row_problems(exc):
                self.problem(line, column, reason)
            return None

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
    record(session, clock.now(), by, f"import.{result.kind}", result.file, school_id=school.id,
           rows=result.rows, added=result.added, changed=result.changed)
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


def _upsert(session: Session, result: ImportResult, row, make: Callable, rec: dict) -> None:
    """Add a new row, or change an existing one where the file differs; count which."""
    if row is None:
        session.add(make())
        result.added += 1
        return
    changed = False
    for key, value in rec.items():
        if getattr(row, key) != value:
            setattr(row, key, value)
            changed = True
    if changed:
        session.add(row)
    result.changed += changed
    result.unchanged += not changed


def import_pupils(session: Session, school: School, path: Path, *, clock: Clock, by: str = "import") -> ImportResult:
    r = _Reader(path, PUPIL_COLUMNS, PUPIL_OPTIONAL)
    seen: dict[str, int] = {}
    parsed: list[dict] = []
    for line, row in r.rows:
        rec = r.validated(line, row, PupilRow)
        upn = r.get(row, "upn").upper()
        if upn in seen:
            r.problem(line, "upn", f"UPN {upn} appears twice (first on line {seen[upn]})")
        seen.setdefault(upn, line)
        if rec is not None:
            parsed.append(rec)
    r.check()

    result = ImportResult("pupils", r.name, rows=len(parsed))
    existing = {p.upn: p for p in session.exec(select(Pupil).where(Pupil.school_id == school.id)).scalars()}
    for rec in parsed:
        _upsert(session, result, existing.get(rec["upn"]), lambda rec=rec: Pupil(school_id=school.id, **rec), rec)
    _log_run(session, school, result, clock, by)
    session.flush()
    return result


# -- contacts -----------------------------------------------------------------

CONTACT_COLUMNS = ("upn", "name", "relationship")
CONTACT_OPTIONAL = tuple(f for f in ContactRow.model_fields if f not in CONTACT_COLUMNS)


def import_contacts(session: Session, school: School, path: Path, *, clock: Clock, by: str = "import") -> ImportResult:
    r = _Reader(path, CONTACT_COLUMNS, CONTACT_OPTIONAL)
    pupils = dict(session.execute(select(Pupil.upn, Pupil.id).where(Pupil.school_id == school.id)).all())
    seen: dict[tuple[str, str], int] = {}
    parsed: list[dict] = []
    for line, row in r.rows:
        upn = r.get(row, "upn").upper()
        rec = r.validated(line, row, ContactRow)
        if upn not in pupils:
            r.problem(line, "upn", f"unknown UPN {upn!r}: import the pupil first")
        key = (upn, r.get(row, "name").lower())
        if key in seen:
            r.problem(line, "name", f"{r.get(row, 'name')} is listed twice for {upn} (first on line {seen[key]})")
        seen.setdefault(key, line)
        if rec is not None:
            rec["pupil_id"] = pupils.get(rec.pop("upn"))
            parsed.append(rec)
    r.check()

    result = ImportResult("contacts", r.name, rows=len(parsed))
    ids = {rec["pupil_id"] for rec in parsed}
    existing = {
        (c.pupil_id, c.name.lower()): c
        for c in session.exec(select(Contact).where(Contact.pupil_id.in_(ids))).scalars()
    }
    for rec in parsed:
        _upsert(session, result, existing.get((rec["pupil_id"], rec["name"].lower())), lambda rec=rec: Contact(**rec), rec)
    _log_run(session, school, result, clock, by)
    session.flush()
    return result


# -- calendar -----------------------------------------------------------------

CALENDAR_COLUMNS = ("start", "end", "kind")
CALENDAR_OPTIONAL = ("label", "session")


def import_calendar(session: Session, school: School, path: Path, *, clock: Clock, by: str = "import") -> ImportResult:
    r = _Reader(path, CALENDAR_COLUMNS, CALENDAR_OPTIONAL)
    parsed: list[tuple[int, dict]] = []
    for line, row in r.rows:
        rec = r.validated(line, row, CalendarRow, every_field=True)
        if rec is not None:
            parsed.append((line, rec))
    terms = sorted((rec["start"], rec["end"], line) for line, rec in parsed if rec["kind"] == "term")
    for (s1, e1, l1), (s2, e2, l2) in zip(terms, terms[1:]):
        if s2 <= e1:
            r.problem(l2, "start", f"this term overlaps the term on line {l1} ({s1} to {e1})")
    # Terms must not overlap the ones already entered either (the same term again is fine).
    entered = {(t.start, t.end) for t in session.exec(
        select(CalendarDay).where(CalendarDay.school_id == school.id, CalendarDay.kind == "term")).scalars()}
    for start, end, line in terms:
        for s0, e0 in sorted(entered - {(start, end)}):
            if start <= e0 and s0 <= end:
                r.problem(line, "start", f"this term ({start} to {end}) overlaps a term already entered ({s0} to {e0})")
    r.check()

    parsed = [rec for _, rec in parsed]
    result = ImportResult("calendar", r.name, rows=len(parsed))
    before = load_calendar(session, school.id)
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
    if moved := recount_provisional(session, school.id, before, load_calendar(session, school.id)):
        result.notes.append(f"{moved} provisional deadline(s) counted again on the new term dates")
    return result


def recount_provisional(session: Session, school_id: int, before: SchoolCalendar, after: SchoolCalendar) -> int:
    """Count again, on the calendar as it is now, every open deadline in school days that was
    counted past the last school day the calendar had ``before`` (on weekdays less bank holidays,
    so provisional); returns how many moved. One still past the new last school day stays provisional."""
    moved = 0
    q = select(Timer).where(Timer.school_id == school_id, Timer.status == "open", Timer.school_days.is_not(None))
    if before.last_day is not None:
        q = q.where(Timer.due_at >= at(before.last_day + dt.timedelta(days=1), dt.time(0)))
    for t in session.exec(q).scalars():
        day, _ = after.count_school_days(t.count_from, t.school_days)
        due = at(day, t.due_at.astimezone(LONDON).timetz().replace(tzinfo=None))
        if due != t.due_at:
            moved += 1
            t.due_at = due
            session.add(t)
    return moved


# -- marks --------------------------------------------------------------------

MARK_COLUMNS = ("upn", "date", "session", "code")
MARK_OPTIONAL = ("minutes_late", "recorded_by")
BATCH = 5_000


def _register_times(school: School) -> dict:
    """The school's register times from its workflow (none if the workflow cannot be read)."""

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
    calendar = load_calendar(session, school.id)
    if calendar.first_day is None:
        raise ImportRejected([Problem(r.name, 0, "", f"{school.name} has no term dates yet: import its calendar first")])
    roll = session.execute(select(Pupil.upn, Pupil.id, Pupil.on_roll).where(Pupil.school_id == school.id)).all()
    pupils = {upn: pid for upn, pid, _ in roll}
    off_roll = {upn for upn, _, on_roll in roll if not on_roll}
    contradictions: list[str] = []
    parsed = _read_marks(r, pupils, calendar, off_roll, _register_times(school), contradictions)
    r.check()
    result = ImportResult("marks", r.name, rows=len(parsed))
    if contradictions:  # a late mark whose code contradicts the school's cut-off is kept, and said
        result.notes.append(f"warning: {len(contradictions)} late mark(s) contradict the school's cut-off; "
                            "each is kept as recorded")
        result.notes.extend(f"warning: {c}" for c in contradictions[:50])
        if len(contradictions) > 50:
            result.notes.append(f"warning: ... and {len(contradictions) - 50} more")
    if parsed:
        new_rows, updates, amendments, result.unchanged = _plan_marks(
            session, school, parsed, clock.now(), by, reason or f"corrected by MIS import of {r.name}")
        _write_marks(session, r.name, new_rows, updates, amendments)
        result.added = len(new_rows)
        result.changed = len(updates)
    _log_run(session, school, result, clock, by.name)
    session.flush()
    return result


MarkRow = tuple[int, dt.date, str, str, "int | None", str]  # pupil id, date, session, code, minutes late, recorded by


def _read_marks(r: _Reader, pupils: dict[str, int], calendar: SchoolCalendar, off_roll: set[str],
                registers: dict, contradictions: list[str]) -> list[MarkRow]:
    """Every row checked (UPN, date, session open on the calendar, code, minutes late, no
    duplicate); problems go to the reader, good rows come back."""
    open_sessions = set(calendar.sessions(calendar.first_day, calendar.last_day))
    dates: dict[str, dt.date] = {}
    seen: dict[tuple[str, dt.date, str], int] = {}
    parsed: list[MarkRow] = []
    # Columns by position: this loop runs once per mark (380,000 a year for a large school).
    i_upn, i_date, i_sess, i_code = (r.index[c] for c in MARK_COLUMNS)
    i_min = r.index.get("minutes_late")
    i_by = r.index.get("recorded_by")
    late_codes = (LATE_BEFORE_CLOSE, LATE_AFTER_CLOSE)
    for line, row in r.rows:
        ok = True
        upn = row[i_upn].strip().upper()
        pupil_id = pupils.get(upn)
        if pupil_id is None:
            r.problem(line, "upn", f"unknown UPN {upn!r}")
            ok = False
        elif upn in off_roll:
            r.problem(line, "upn", f"{upn} is not on roll: a register has no marks for a pupil who has left")
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
    return parsed


def _plan_marks(session: Session, school: School, parsed: list[MarkRow], now: dt.datetime, by: Amender,
                why: str) -> tuple[list[tuple], list[dict], list[dict], int]:
    """What the rows change: new marks (as driver-ready tuples), changed marks with their
    amendment rows, and how many are unchanged."""
    lo = min(p[1] for p in parsed)
    hi = max(p[1] for p in parsed)
    mark_t = Mark.__table__
    existing = {
        (pid, d, s): (mid, code, mins)
        for mid, pid, d, s, code, mins in session.execute(  # fetched at once: row by row cost more than the check
            select(mark_t.c.id, mark_t.c.pupil_id, mark_t.c.date, mark_t.c.session, mark_t.c.code, mark_t.c.minutes_late).where(
                mark_t.c.school_id == school.id, mark_t.c.date >= lo, mark_t.c.date <= hi
            )
        ).all()
    }
    new_rows: list[tuple] = []
    unchanged = 0
    amendments: list[dict] = []
    updates: list[dict] = []
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
            unchanged += 1
        else:
            amendments.append(
                dict(mark_id=old[0], pupil_id=pid, date=day, session=sess, original_code=old[1],
                     original_minutes_late=old[2], amended_code=code, amended_minutes_late=minutes,
                     reason=why, amended_at=now, amended_by_name=by.name, amended_by_position=by.position)
            )
            updates.append({"mark_id": old[0], "new_code": code, "new_minutes": minutes})
    # in the order of the register's unique index (pupil, date, session): a pupil's AM and PM
    # land on the same index page together, not a page visited once per session of the file
    new_rows.sort(key=lambda r: (r[1], r[2], r[3]))
    return new_rows, updates, amendments, unchanged


def _write_marks(session: Session, name: str, new_rows: list[tuple], updates: list[dict], amendments: list[dict]) -> None:
    """Insert the new marks in batches (COPY on PostgreSQL), then the changes and their amendments."""
    mark_t = Mark.__table__
    conn = session.connection()
    columns = ("school_id", "pupil_id", "date", "session", "code", "minutes_late", "recorded_by", "recorded_at")
    mark_insert = _insert_sql(conn.dialect, mark_t, columns)
    bar, _ = _progress(len(new_rows) + len(updates), f"importing {name}")
    with bar:
        task = bar.add_task(f"importing {name}", total=len(new_rows) + len(updates))
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
            stmt = (
                update(mark_t)
                .where(mark_t.c.id == bindparam("mark_id"))
                .values(code=bindparam("new_code"), minutes_late=bindparam("new_minutes"))
            )
            for i in range(0, len(updates), BATCH):
                conn.execute(stmt, updates[i : i + BATCH])
                bar.advance(task, len(updates[i : i + BATCH]))
            conn.execute(insert(MarkAmendment.__table__), amendments)


def _binder(column, dialect) -> Callable:
    """The function that turns a Python value into what the driver gets for ``column``."""
    proc = column.type.dialect_impl(dialect).bind_processor(dialect)
    return proc or (lambda v: v)


def _insert_sql(dialect, table, columns: tuple[str, ...]) -> str:
    """A plain positional INSERT for the driver's executemany."""
    quote = dialect.identifier_preparer
    mark = "?" if dialect.paramstyle == "qmark" else "%s"
    # Table and column names come from our own table definitions, quoted; the values are bound.
    return (
        f"INSERT INTO {quote.format_table(table)} ({', '.join(quote.quote(c) for c in columns)}) "  # nosec B608
        f"VALUES ({', '.join([mark] * len(columns))})"
    )


IMPORTERS = {
    "pupils": import_pupils,
    "contacts": import_contacts,
    "calendar": import_calendar,
}
