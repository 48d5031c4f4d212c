"""Helpers shared by the rules tests (no tests here): real calendars and small registers."""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Iterable
from pathlib import Path

from casework.register.calendar import CalendarEntry, SchoolCalendar
from casework.rules import register_from_marks
from casework.store.models import CalendarDay, School

ROOT = Path(__file__).resolve().parent.parent
GREAT_CHART_CSV = ROOT / "tests" / "data" / "kent-great-chart-2025-26.csv"
DEMO_CSV = ROOT / "casework" / "data" / "demo-calendar.csv"


def D(text: str) -> dt.date:
    return dt.date.fromisoformat(text)


def calendar_entries(path: Path) -> list[CalendarEntry]:
    with path.open() as f:
        return [CalendarEntry(D(r["start"]), D(r["end"]), r["kind"], r["label"]) for r in csv.DictReader(f)]


GREAT_CHART = SchoolCalendar(calendar_entries(GREAT_CHART_CSV))  # a Kent primary, 2025-26, 190 days
DEMO = SchoolCalendar(calendar_entries(DEMO_CSV))  # Kent dates 2025-26 and 2026-27


def pupil(pid: int, **flags) -> dict:
    return {"id": pid, "upn": f"T{pid:012d}", **flags}


def on(pid: int, days: Iterable[dt.date], code: str, sessions: Iterable[str] = ("AM", "PM")):
    """Marks of ``code`` for pupil ``pid`` on each of ``days`` (both sessions by default)."""
    return [(pid, d, s, code) for d in days for s in sessions]


def register(calendar: SchoolCalendar, start: dt.date, end: dt.date, marks=(), *, pupils=None,
             marked_until: dt.date | None = None):
    """A register where every pupil is present at every session from ``start`` to
    ``marked_until`` (default ``end``), with ``marks`` (pid, date, session, code) on top."""
    marks = list(marks)
    if pupils is None:
        pupils = [pupil(pid) for pid in sorted({m[0] for m in marks} or {1})]
    present = {"AM": "/", "PM": "\\"}
    grid = {}
    for p in pupils:
        for d, s in calendar.sessions(start, marked_until or end):
            grid[(p["id"], d, s)] = present[s]
    for pid, d, s, code in marks:
        grid[(pid, d, s)] = code
    return register_from_marks(calendar, start, end, pupils, [(k[0], k[1], k[2], c) for k, c in grid.items()])


def school_week_days(calendar: SchoolCalendar, monday: dt.date) -> list[dt.date]:
    return calendar.school_days(monday, monday + dt.timedelta(days=6))


def by_pupil(findings, rule: str | None = None) -> dict[int, list]:
    out: dict[int, list] = {}
    for f in findings:
        if rule is None or f.rule == rule:
            out.setdefault(f.pupil_id, []).append(f)
    return out


def add_school(s, urn: str, calendar_csv: Path = DEMO_CSV) -> int:
    """A bare school row with the term dates of ``calendar_csv`` (no importer), for load tests."""
    school = School(urn=urn, name=f"School {urn}")
    s.add(school)
    s.flush()
    for e in calendar_entries(calendar_csv):
        s.add(CalendarDay(school_id=school.id, start=e.start, end=e.end, kind=e.kind, label=e.label))
    return school.id
