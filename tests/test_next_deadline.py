"""Each case's next deadline is kept on the case (``Case.next_due_at``, ``Case.next_timer_id``) for
the caseload to order and count by. It is a cache of ``casework.timers.outstanding``: whatever
happens to a case or its timers, the stored value must equal what the one definition says when
asked afresh (``next_deadlines``, the earliest outstanding deadline computed from the timers
table). A path that forgets to keep it leaves a wrong work list, so every path is walked here:
the demo's school year, random days of school life on every workflow (marks, the nightly
evaluation, people's moves, the sweep set-wise and timer by timer, evenings and weekends going
by, term dates arriving), on both databases, and the migration that fills the columns."""

from __future__ import annotations

import contextlib
import datetime as dt
import random
from pathlib import Path
from types import SimpleNamespace

import pytest
from sqlalchemy import insert
from sqlmodel import Session, select

from casework.cases.caseload import open_caseload
from casework.cases.evaluate import evaluate
from casework.cases.moves import Actor, MoveRefused, move_case, move_options, open_case
from casework.cases.world import CaseWorld
from casework.clock import LONDON, FixedClock
from casework.demo import build_demo
from casework.register.importer import import_calendar
from casework.register.store import get_school, load_calendar
from casework.store.casemodels import Case, Timer
from casework.store.db import upgrade
from casework.store.models import Pupil, User
from casework.timers import keep_next_deadlines, next_deadlines, stored_next_deadlines, sweep
from casework.workflow import for_school

WORKFLOWS = sorted(p.stem for p in (Path(__file__).parents[1] / "workflows").glob("*.yaml"))
ROLES = ["attendance_officer", "wellbeing_lead", "dsl", "headteacher", "deputy_head", "teacher"]
MOVE_PARAMS = {"improvement_weeks": 4, "served_by": "hand"}  # what some steps ask the person for
ABSENCES = ["O", "O", "U", "N", "G", "I", "M", "L", "/"]
CALENDAR = Path(__file__).parent / "data" / "kent-great-chart-2025-26.csv"


def stale(engine, now: dt.datetime) -> list[tuple]:
    """Every case whose stored next deadline differs from the one definition's, with both answers."""
    with Session(engine) as s:
        stored = s.exec(select(Case.id, Case.next_timer_id, Case.next_due_at).order_by(Case.id)).all()
        truth = next_deadlines(s, [cid for cid, _, _ in stored], now)
        # and as the caseload shows it: the deadline read by the stored timer id
        shown = stored_next_deadlines(s, s.exec(select(Case, Pupil).join(Pupil, Pupil.id == Case.pupil_id)).all(), now)
    out = []
    for cid, timer_id, due in stored:
        d = truth.get(cid)
        if (timer_id, due) != ((d.id, d.due) if d else (None, None)):
            out.append((cid, "stored", timer_id, due, "should be", d and (d.id, d.due)))
        elif (shown[cid].as_dict() if cid in shown else None) != (d.as_dict() if d else None):
            out.append((cid, "shown", shown.get(cid), "should be", d))
    return out


def kinds_of_deadline(engine) -> set[str]:
    """What the walk left: open, lapsed (outstanding or not), met and cancelled timers."""
    with Session(engine) as s:
        return set(s.exec(select(Timer.status).distinct()).all())


@pytest.mark.slow
@pytest.mark.parametrize("workflow", WORKFLOWS)
def test_the_stored_next_deadline_is_the_one_definitions_after_random_school_days(workflow, engine, make_school,
                                                                                  make_pupils, add_marks, tmp_path):
    rng = random.Random(f"next-deadline:{workflow}")
    clock = FixedClock(dt.datetime(2025, 11, 3, 18, tzinfo=LONDON))
    # The autumn's term dates only at first: deadlines in school days counted past them are
    # provisional until the rest of the year's arrive (a step below), and are counted again then.
    autumn = tmp_path / "autumn.csv"
    autumn.write_text("".join(CALENDAR.read_text().splitlines(keepends=True)[:5]))
    with Session(engine) as s:
        school = make_school(s, autumn, workflow=workflow, urn="140077")
        pupils = [(p.id, p.school_id) for p in make_pupils(s, school, 6)]
        for role in ROLES:
            s.add(User(school_id=school.id, username=role, name=role, position=role, role=role))
        s.commit()
        urn = school.urn
    marked = {pid: dt.date(2025, 9, 2) for pid, _ in pupils}

    def school_days() -> list[tuple]:
        with Session(engine) as s:
            cal = load_calendar(s, get_school(s, urn).id)
        return [(d, cal.sessions_on(d)) for d in cal.school_days(dt.date(2025, 9, 3), dt.date(2026, 7, 17))]

    def mark_until(day: dt.date, codes: dict[int, str]) -> None:
        with Session(engine) as s:
            for pid, sid in pupils:
                todo = [(d, sessions) for d, sessions in school_days() if marked[pid] < d <= day]
                add_marks(s, SimpleNamespace(id=pid, school_id=sid),
                          [(d, sess, codes.get(pid, "/")) for d, sessions in todo for sess in sessions])
                marked[pid] = max([marked[pid], *(d for d, _ in todo)])
            s.commit()

    def days_pass() -> None:
        later = [d for d, _ in school_days() if d > clock.today()][:rng.randint(1, 6)]
        if later:
            mark_until(later[-1], {pid: rng.choice(ABSENCES) for pid, _ in rng.sample(pupils, 2)})
            clock.set(dt.datetime.combine(later[-1], dt.time(rng.choice([9, 13, 18])), tzinfo=LONDON))

    def a_person_moves() -> None:
        with Session(engine) as s:
            open_cases = s.exec(select(Case).where(Case.closed_at.is_(None)).order_by(Case.id)).all()
            if not open_cases:
                return
            world = CaseWorld.load(s, rng.choice(open_cases), clock)
            options = move_options(world, Actor("someone", rng.choice(ROLES)), with_guards=False)
            if not options:
                return
            opt = rng.choice(options)
            who = rng.choice(sorted(opt.roles) or ROLES)
            with contextlib.suppress(MoveRefused):  # a guard may refuse it: then nothing was written
                move_case(world, opt.event, Actor(who, who, who), reason="test", params=MOVE_PARAMS)
            s.commit()

    def time_passes() -> None:  # an evening, a weekend or a holiday: calendar-day deadlines fall due
        clock.set(clock.now() + dt.timedelta(hours=rng.choice([3, 26, 70, 170])))
        sweep(engine, clock, set_wise=rng.random() < 0.7)

    def term_dates_arrive() -> None:
        with Session(engine) as s:
            import_calendar(s, get_school(s, urn), CALENDAR, clock=clock, by="test")
            s.commit()

    def a_deadline_the_workflow_dropped() -> None:  # an old deadline of a kind since taken out: cancelled when due
        with Session(engine) as s:
            case = rng.choice(s.exec(select(Case).where(Case.closed_at.is_(None)).order_by(Case.id)).all() or [None])
            if case is not None:
                s.add(Timer(school_id=case.school_id, case_id=case.id, kind="dropped_by_the_workflow", label="Old",
                            role="office", state=case.state, started_at=clock.now(),
                            due_at=clock.now() + dt.timedelta(hours=rng.choice([-30, 1, 2]))))
                s.commit()

    def evaluation() -> None:
        evaluate(engine, urn, clock)

    def sweep_set_wise() -> None:
        sweep(engine, clock)

    def sweep_one_by_one() -> None:
        sweep(engine, clock, set_wise=False)

    steps = [days_pass, days_pass, days_pass, evaluation, a_person_moves, a_person_moves, a_person_moves,
             sweep_set_wise, sweep_one_by_one, time_passes, a_deadline_the_workflow_dropped]
    mark_until(clock.today(), {pupils[0][0]: "O", pupils[1][0]: "U"})  # two concerns from the start
    evaluate(engine, urn, clock)
    taken, seen, waiting = [], set(), 0
    for k in range(40):
        step = term_dates_arrive if k == 20 else rng.choice(steps)
        step()
        taken.append(step.__name__)
        assert stale(engine, clock.now()) == [], f"{workflow}: stale after {taken}"
        seen |= kinds_of_deadline(engine)
        with Session(engine) as s:
            waiting = max(waiting, len(s.exec(select(Case.id).where(Case.next_due_at.is_not(None))).all()))
    # The walk did what it is for: several cases waited on deadlines at once, and some lapsed.
    assert waiting > 1 and "lapsed" in seen, (workflow, waiting, seen)


@pytest.mark.slow
def test_the_stored_next_deadline_is_the_one_definitions_after_the_demo_and_its_migration(engine, tmp_path,
                                                                                         monkeypatch):
    """The demo's school year (cases opened, moved and closed, deadlines lapsing, met and
    cancelled); then the columns dropped and filled again by the migration, from the timers."""
    monkeypatch.chdir(tmp_path)
    clock = FixedClock(dt.datetime(2026, 3, 12, 16, tzinfo=LONDON))
    build_demo(engine, clock=clock, pupils=60, seed=2026, out_dir=tmp_path / "demo", past_letters="keep")
    assert stale(engine, clock.now()) == []
    assert {"open", "lapsed", "met", "cancelled"} <= kinds_of_deadline(engine)
    with Session(engine) as s:
        kept = s.exec(select(Case.id, Case.next_timer_id, Case.next_due_at).order_by(Case.id)).all()
    assert any(t for _, t, _ in kept) and any(t is None for _, t, _ in kept)
    upgrade(engine, "0009")  # drops the columns
    upgrade(engine)  # adds them and fills them from the timers
    with Session(engine) as s:
        assert s.exec(select(Case.id, Case.next_timer_id, Case.next_due_at).order_by(Case.id)).all() == kept
    assert stale(engine, clock.now()) == []


def test_a_bulk_insert_is_kept_by_asking(engine, make_school, make_pupils, clock):
    """Timers written without the ORM (a benchmark's bulk insert) are not seen by the flush hook:
    ``keep_next_deadlines`` brings the cases up to date, every case at once or the ones named."""
    with Session(engine) as s:
        school = make_school(s)
        cases = [open_case(s, school, p, for_school("national"), "attendance", concern=f"c{k}", concern_start=None,
                           clock=clock, actor=Actor.system(), reason="test")
                 for k, p in enumerate(make_pupils(s, school, 3))]
        s.commit()
        before = {c.id: c.next_due_at for c in cases}
        due = clock.now() + dt.timedelta(days=2)
        s.connection().execute(insert(Timer.__table__), [
            dict(school_id=school.id, case_id=c.id, kind="letter_review", label="Review", role="office", state=c.state,
                 started_at=clock.now(), due_at=due - dt.timedelta(hours=k), status="open")
            for k, c in enumerate(cases)])
        s.commit()
        assert stale(engine, clock.now())  # the bulk insert is not seen
        keep_next_deadlines(s, [cases[0].id])
        s.commit()
        assert [c for c, *_ in stale(engine, clock.now())] == [c.id for c in cases[1:]]
        keep_next_deadlines(s)
        s.commit()
        assert stale(engine, clock.now()) == []
        assert all(s.get(Case, cid).next_due_at <= due for cid in before)


def test_the_caseload_orders_and_counts_by_the_stored_next_deadline(engine, make_school, make_pupils, clock):
    """Overdue first, then the soonest due, then cases with no deadline; the overdue count is the
    cases whose next deadline has passed; a case whose deadline is met drops down the list."""
    wf = for_school("national")
    with Session(engine) as s:
        school = make_school(s)
        cases = [open_case(s, school, p, wf, "attendance", concern=f"c{k}", concern_start=None, clock=clock,
                           actor=Actor.system(), reason="test") for k, p in enumerate(make_pupils(s, school, 4))]
        s.flush()
        for c, hours in zip(cases, (5, -3, None, 30), strict=True):
            for t in s.exec(select(Timer).where(Timer.case_id == c.id)).all():
                t.status = "cancelled"  # only the deadline set below counts
                s.add(t)
            if hours is not None:
                s.add(Timer(school_id=school.id, case_id=c.id, kind="letter_review", label="Review", role="office",
                            state=c.state, started_at=clock.now(), due_at=clock.now() + dt.timedelta(hours=hours)))
        s.commit()
        page = open_caseload(s, school.id, clock.now())
        assert [r.case.id for r in page.rows] == [cases[1].id, cases[0].id, cases[3].id, cases[2].id]
        assert page.overdue == 1 and page.rows[0].deadline.overdue and page.rows[3].deadline is None
        late = s.exec(select(Timer).where(Timer.case_id == cases[1].id, Timer.status == "open")).one()
        late.status, late.outcome = "met", "met by a test"
        s.add(late)
        s.commit()
        page = open_caseload(s, school.id, clock.now())
        assert [r.case.id for r in page.rows] == [cases[0].id, cases[3].id, cases[1].id, cases[2].id]
        assert page.overdue == 0
