"""The daily job touches only what changed: what earlier evaluations did is read once per
school (casework/cases/evaluate.py, _Seen), so a finding already acted on costs no query and writes nothing."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import event
from sqlmodel import Session, select

from casework.cases.evaluate import evaluate
from casework.clock import LONDON, FixedClock
from casework.register.calendar import SchoolCalendar
from casework.register.store import load_calendar
from casework.store.casemodels import Case, CaseFinding, LetterRequest, Notification

DAY1, DAY2 = dt.date(2025, 12, 3), dt.date(2025, 12, 4)  # a Wednesday and Thursday of the autumn term


def evening(day: dt.date) -> FixedClock:
    return FixedClock(dt.datetime.combine(day, dt.time(19, 0), tzinfo=LONDON))


class Statements:
    """The SQL statements the engine ran while the block ran."""

    def __init__(self, engine):
        self.engine, self.sql = engine, []

    def _seen(self, conn, cursor, statement, *args):
        self.sql.append(statement.lstrip().split(None, 1)[0].upper())

    def __enter__(self):
        event.listen(self.engine, "before_cursor_execute", self._seen)
        return self

    def __exit__(self, *exc):
        event.remove(self.engine, "before_cursor_execute", self._seen)

    @property
    def writes(self) -> int:
        return sum(1 for s in self.sql if s in ("INSERT", "UPDATE", "DELETE"))


def _school_with_absence(engine, make_school, make_pupils, add_marks, urn: str, n: int):
    """``n`` pupils: every third misses Mondays and Tuesdays (persistent absence, a weekday
    pattern, the penalty threshold, a letter), every third has had a week off ill, the rest
    have one absence whose reason was never given (a stale N: the office is told)."""
    with Session(engine, expire_on_commit=False) as s:
        school = make_school(s, urn=urn, workflow="example-la-route")
        calendar: SchoolCalendar = load_calendar(s, school.id)
        pupils = make_pupils(s, school, n)
        for k, p in enumerate(pupils):
            marks = []
            for d in calendar.school_days(dt.date(2025, 9, 1), DAY1):
                for sess in ("AM", "PM"):
                    code = "/" if sess == "AM" else "\\"
                    if k % 3 == 0 and d.weekday() in (0, 1):
                        code = "O"
                    elif k % 3 == 1 and dt.date(2025, 11, 10) <= d <= dt.date(2025, 11, 14):
                        code = "I"
                    elif k % 3 == 2 and d == dt.date(2025, 11, 19):
                        code = "N"
                    marks.append((d, sess, code))
            add_marks(s, p, marks)
        s.commit()
    return school, pupils


def test_the_same_day_again_writes_nothing_and_reads_the_same_whatever_the_findings(
        engine, make_school, make_pupils, add_marks):
    small, _ = _school_with_absence(engine, make_school, make_pupils, add_marks, "140101", 6)
    large, _ = _school_with_absence(engine, make_school, make_pupils, add_marks, "140102", 24)
    reads = {}
    for school, n in ((small, 6), (large, 24)):
        first = evaluate(engine, school.urn, evening(DAY1))
        assert len(first.opened) >= n // 3 and first.attached > len(first.opened)
        assert first.notified >= n // 3 and len(first.letters) >= n // 3
        with Statements(engine) as again:
            second = evaluate(engine, school.urn, evening(DAY1))
        assert second.findings == first.findings  # the same findings ...
        assert (second.opened, second.attached, second.notified, second.letters) == ([], 0, 0, [])  # ... nothing new
        assert again.writes == 0, again.sql
        reads[n] = len(again.sql)
    # four times the pupils and findings, the same number of statements
    assert reads[6] == reads[24]


def test_the_next_day_writes_only_for_the_pupil_whose_marks_changed(engine, make_school, make_pupils, add_marks):
    school, pupils = _school_with_absence(engine, make_school, make_pupils, add_marks, "140103", 9)
    evaluate(engine, school.urn, evening(DAY1))
    changed = pupils[2]  # always in until today, then away with no reason given
    with Session(engine) as s:
        for k, p in enumerate(pupils):
            add_marks(s, p, [(DAY2, "AM", "N" if p is changed else ("O" if k % 3 == 0 else "/")),
                             (DAY2, "PM", "N" if p is changed else ("O" if k % 3 == 0 else "\\"))])
        s.commit()
        before = {t: s.execute(select(t.id)).scalars().all() for t in (Case, CaseFinding, Notification, LetterRequest)}
    report = evaluate(engine, school.urn, evening(DAY2))
    assert report.attached > 0
    with Session(engine) as s:
        new_cases = s.exec(select(Case).where(Case.id.not_in(before[Case]))).all()
        new_findings = s.exec(select(CaseFinding).where(CaseFinding.id.not_in(before[CaseFinding]))).all()
        new_notes = s.exec(select(Notification).where(Notification.id.not_in(before[Notification]),
                                                      Notification.dedupe_key.like("finding:%"))).all()
        owner = {c.id: c.pupil_id for c in s.exec(select(Case))}
    assert {c.pupil_id for c in new_cases} <= {changed.id}
    assert {owner[f.case_id] for f in new_findings} == {changed.id}
    assert {int(n.dedupe_key.split(":")[2]) for n in new_notes} <= {changed.id}
