"""The caseload read a page at a time (issue 14, web under concurrency): every sort pages the
same as the whole list, the attendance sort orders cases across page boundaries by the
register's figures (and follows a new mark), and the tab and overdue counts cover the whole
caseload whatever the page."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlmodel import Session, select

from casework.accounts import add_user
from casework.cases.caseload import SORTS, open_caseload
from casework.cases.moves import Actor, open_case
from casework.clock import FixedClock, at
from casework.register.store import load_calendar
from casework.store.casemodels import Case, Timer
from casework.store.models import Mark, User
from casework.workflow import for_school

SYSTEM = Actor("system", "system", "casework")
TODAY = dt.date(2025, 10, 17)
NOW = at(TODAY, dt.time(16))


@pytest.fixture
def caseload(engine, make_school, make_pupils, add_marks):
    """14 pupils: 12 with a year of marks, pupil k away 2k sessions (all different figures), two
    with no marks; 15 open cases (the fourth pupil has two), a third of them owned by the officer,
    each with a review deadline on its own day, some already due."""
    clock = FixedClock(NOW)
    with Session(engine) as s:
        school = make_school(s)
        add_user(s, username="ao", name="Ao", role="attendance_officer", schools=[school], now=clock.now(), by="t",
                 password="amber kettle orbit lantern")
        s.flush()
        officer = s.exec(select(User).where(User.username == "ao")).one().id
        days = load_calendar(s, school.id).school_days(dt.date(2025, 9, 1), TODAY)
        pupils = make_pupils(s, school, 7, year_group=3) + make_pupils(s, school, 7, year_group=5)
        order = [9, 2, 11, 0, 5, 7, 1, 10, 3, 8, 6, 4]  # how far down the list each pupil's absence puts them
        for k, pupil in zip(order, pupils):
            sessions = [(d, x) for d in days for x in ("AM", "PM")]
            add_marks(s, pupil, [(d, x, "O" if i < 2 * k else "/") for i, (d, x) in enumerate(sessions)])
        wf = for_school("national")
        cases = []
        for n, pupil in enumerate(pupils + [pupils[3]]):
            case = open_case(s, school, pupil, wf, "attendance", concern=f"attendance:{n}", concern_start=TODAY,
                             clock=clock, actor=SYSTEM, reason="test")
            case.owner_id = officer if n % 3 == 0 else None
            s.add(Timer(school_id=school.id, case_id=case.id, kind="review", label="Review", role="office",
                        state=case.state, started_at=clock.now(),
                        due_at=clock.now() + dt.timedelta(days=(n * 7) % 15 - 5)))
            cases.append(case)
        s.commit()
        return dict(school=school.id, officer=officer, pupils=[p.id for p in pupils], cases=[c.id for c in cases])


def _pages(s, school, size, **kw):
    out, page = [], 0
    while True:
        rows = open_caseload(s, school, NOW, limit=size, offset=page * size, **kw).rows
        out += rows
        if len(rows) < size:
            return out
        page += 1


@pytest.mark.parametrize("sort", SORTS)
def test_every_sort_pages_as_the_whole_list_does(engine, caseload, sort):
    with Session(engine) as s:
        whole = open_caseload(s, caseload["school"], NOW, who="team", sort=sort, limit=1000)
        assert whole.total == len(whole.rows) == 15
        for size in (1, 4, 7):
            paged = _pages(s, caseload["school"], size, who="team", sort=sort)
            assert [r.case.id for r in paged] == [r.case.id for r in whole.rows]
            assert [(r.attendance, r.trend, r.owner) for r in paged] == [(r.attendance, r.trend, r.owner)
                                                                         for r in whole.rows]


def test_the_attendance_sort_orders_across_page_boundaries_and_follows_a_new_mark(engine, caseload, add_marks):
    with Session(engine) as s:
        rows = _pages(s, caseload["school"], 4, who="team", sort="attendance")
        figures = [r.attendance for r in rows]
        known = [f for f in figures if f is not None]
        # lowest first across every page; pupils with no marks last
        assert known == sorted(known) and len(known) == 13 and figures[13:] == [None, None]
        assert len(set(known)) == 12  # every pupil's own figure (the pupil with two cases twice)
        # the pupil with two cases: its cases side by side, the one due sooner first
        pair = [i for i, r in enumerate(rows) if r.pupil.id == caseload["pupils"][3]]
        assert pair[1] == pair[0] + 1
        assert rows[pair[0]].deadline.due <= rows[pair[1]].deadline.due
        # the best attender's register is recorded again as away all day today and nothing else:
        # the sort follows the register at once
        best = rows[12].pupil
        s.execute(Mark.__table__.delete().where(Mark.pupil_id == best.id))
        add_marks(s, best, [(TODAY, "AM", "O"), (TODAY, "PM", "O")])
        s.commit()
        again = _pages(s, caseload["school"], 4, who="team", sort="attendance")
        assert again[0].pupil.id == best.id and again[0].attendance == 0.0


def test_tab_and_overdue_counts_cover_the_whole_caseload_whatever_the_page(engine, caseload):
    school, officer = caseload["school"], caseload["officer"]
    with Session(engine) as s:
        # a case with a second deadline already due counts once; a lapsed deadline replaced by a
        # running period of the same deadline does not make its case overdue
        first = s.get(Case, caseload["cases"][1])
        s.add(Timer(school_id=school, case_id=first.id, kind="review_2", label="Again", role="office",
                    state=first.state, started_at=NOW, due_at=NOW - dt.timedelta(days=2)))
        second = s.get(Case, caseload["cases"][2])
        s.add(Timer(school_id=school, case_id=second.id, kind="review", label="Review", role="office",
                    state=second.state, started_at=NOW, due_at=NOW - dt.timedelta(days=9), status="lapsed"))
        s.commit()
        for filters in ({}, {"year_group": 3}, {"year_group": 5, "state": s.get(Case, caseload["cases"][0]).state}):
            every = {who: open_caseload(s, school, NOW, who=who, user_id=officer, limit=1000, **filters)
                     for who in ("mine", "team", "unassigned")}
            for who, whole in every.items():
                page = open_caseload(s, school, NOW, who=who, user_id=officer, limit=2, offset=2, **filters)
                assert page.counts == {k: len(v.rows) for k, v in every.items()}
                assert page.total == len(whole.rows) and len(page.rows) == min(2, max(0, len(whole.rows) - 2))
                assert page.overdue == whole.overdue == sum(bool(r.deadline and r.deadline.overdue)
                                                            for r in whole.rows)
        team = open_caseload(s, school, NOW, who="team", limit=1000)
        assert team.counts["team"] == 15 and 0 < team.overdue < 15
