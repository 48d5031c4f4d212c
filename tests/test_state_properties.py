"""Properties of every workflow's case machines, under random days of school life: hypothesis
drives register marks, the nightly evaluation, people's moves (any role, any step), days
passing and the deadline sweep, and after every step checks what must always hold:

- every case is in a state its case type declares, and its history replays to that state;
- no move a person took skipped a guard (every guard verdict kept with the move passed);
- no concern has two open cases;
- every open deadline belongs to an open case;
- no parent has a third penalty notice for the same child within 3 years.
"""

from __future__ import annotations

import datetime as dt
import shutil
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule
from sqlalchemy import func, insert
from sqlmodel import Session, select

from casework.cases.evaluate import evaluate
from casework.cases.moves import Actor, MoveRefused, move_case, move_options
from casework.cases.penalties import years_before
from casework.cases.world import CaseWorld
from casework.clock import LONDON, FixedClock
from casework.register.importer import import_calendar
from casework.register.schools import add_school
from casework.register.store import load_calendar
from casework.register.upn import make_upn
from casework.store.casemodels import Case, CaseMove, PenaltyNotice, Timer
from casework.store.db import make_engine
from casework.store.models import Contact, Mark, Pupil, User
from casework.timers import sweep
from casework.workflow import for_school

CALENDAR = Path(__file__).parent / "data" / "kent-great-chart-2025-26.csv"
WORKFLOWS = sorted(p.stem for p in (Path(__file__).parents[1] / "workflows").glob("*.yaml"))  # every workflow we ship
ROLES = ["attendance_officer", "wellbeing_lead", "dsl", "headteacher", "deputy_head", "teacher"]
CODES = ["/", "/", "/", "L", "U", "N", "O", "G", "I", "M", "T"]
START = dt.date(2025, 11, 3)
STEPS_RUN: dict[str, int] = {}
CASES: dict[str, int] = {}  # cases opened across the examples
TAKEN: dict[str, int] = {}  # moves people took


def machine_for(workflow: str):
    class CaseworkMachine(RuleBasedStateMachine):
        def __init__(self):
            super().__init__()
            self.dir = tempfile.mkdtemp()
            self.engine = make_engine(f"sqlite:///{self.dir}/p.db")
            self.clock = FixedClock(dt.datetime.combine(START, dt.time(18), tzinfo=LONDON))
            with Session(self.engine, expire_on_commit=False) as s:
                self.school = add_school(s, urn="140001", name="Property Primary", local_authority="Kent",
                                         workflow=workflow)
                import_calendar(s, self.school, CALENDAR, clock=self.clock, by="test")
                self.pupils = []
                for k in range(4):
                    p = Pupil(school_id=self.school.id, upn=make_upn(886, 2999, 2020, k + 1), forename=f"P{k}",
                              surname="Prop", date_of_birth=dt.date(2016, 1, 1), year_group=4,
                              traveller=(k == 3), ehc_plan=(k == 2))
                    s.add(p)
                    s.flush()
                    self.pupils.append(p.id)
                    for name in ("Kerry", "Dean"):
                        s.add(Contact(pupil_id=p.id, name=f"{name} {k}", relationship="Parent",
                                      parental_responsibility=True, phone_mobile="07700 900000",
                                      address="1 Test Street", postcode="TN1 1AA"))
                for role in ROLES:
                    s.add(User(school_id=self.school.id, username=role, name=role, position=role, role=role))
                s.commit()
                self.calendar = load_calendar(s, self.school.id)
            self.days = self.calendar.school_days(dt.date(2025, 9, 3), dt.date(2026, 7, 17))
            self.marked = {p: self.days.index(self.calendar.school_days(START, START + dt.timedelta(7))[0])
                           for p in self.pupils}
            self._history()
            evaluate(self.engine, "140001", self.clock)
            self.steps = 0

        def teardown(self):
            STEPS_RUN[workflow] = STEPS_RUN.get(workflow, 0) + self.steps
            with Session(self.engine) as s:
                CASES[workflow] = CASES.get(workflow, 0) + len(s.exec(select(Case.id)).all())
                TAKEN[workflow] = TAKEN.get(workflow, 0) + len(s.exec(select(CaseMove.id).where(
                    CaseMove.reason == "property test")).all())
            self.engine.dispose()
            shutil.rmtree(self.dir, ignore_errors=True)

        def _history(self):
            """The autumn so far: each pupil a different concern (absence, lates, illness, travel)."""
            patterns = [lambda d, i: "O" if d.weekday() < 2 else "/",        # misses Mondays and Tuesdays
                        lambda d, i: "U" if d.weekday() == 4 else "L",       # late every day, after close on Fridays
                        lambda d, i: "I" if i % 9 < 3 else "/",              # ill three days in nine
                        lambda d, i: "G" if 20 <= i < 26 else "/"]           # a week's holiday not agreed
            rows = []
            for p, pattern in zip(self.pupils, patterns):
                for i, d in enumerate(x for x in self.days if x <= self.clock.today()):
                    for sess in self.calendar.sessions_on(d):
                        code = pattern(d, i)
                        rows.append(dict(school_id=self.school.id, pupil_id=p, date=d, session=sess, code=code,
                                         minutes_late=5 if code == "L" else None, recorded_by="test",
                                         recorded_at=self.clock.now()))
            with Session(self.engine) as s:
                s.execute(insert(Mark), rows)
                s.commit()

        def _mark_until(self, day, code, pupils=None):
            rows = []
            for p in pupils or self.pupils:
                for d in self.days:
                    if d <= day and d not in self._done(p):
                        for sess in self.calendar.sessions_on(d):
                            rows.append(dict(school_id=self.school.id, pupil_id=p, date=d, session=sess, code=code,
                                             recorded_by="test", recorded_at=self.clock.now()))
            if rows:
                with Session(self.engine) as s:
                    s.execute(insert(Mark), rows)
                    s.commit()

        def _done(self, pupil_id):
            with Session(self.engine) as s:
                return set(s.exec(select(Mark.date).where(Mark.pupil_id == pupil_id)))

        # -- what happens -----------------------------------------------------

        @rule(pupil=st.integers(0, 3), code=st.sampled_from(CODES), days=st.integers(1, 6))
        def school_days_pass(self, pupil, code, days):
            """A few school days go by: one pupil has ``code``, the others are in school."""
            today = self.clock.today()
            later = [d for d in self.days if d > today][:days]
            if not later:
                return
            end = later[-1]
            self._mark_until(end, code, [self.pupils[pupil]])
            self._mark_until(end, "/")
            self.clock.set(dt.datetime.combine(end, dt.time(18), tzinfo=LONDON))
            self.steps += 1

        @rule()
        def nightly_evaluation(self):
            evaluate(self.engine, "140001", self.clock)
            self.steps += 1

        @rule()
        def deadline_sweep(self):
            sweep(self.engine, self.clock)
            self.steps += 1

        @rule(pick=st.integers(0, 1000), role=st.sampled_from(ROLES), choice=st.integers(0, 1000))
        def a_person_takes_a_step(self, pick, role, choice):
            with Session(self.engine, expire_on_commit=False) as s:
                open_cases = s.exec(select(Case).where(Case.closed_at.is_(None)).order_by(Case.id)).all()
                if not open_cases:
                    return
                case = open_cases[pick % len(open_cases)]
                world = CaseWorld.load(s, case, self.clock)
                options = move_options(world, Actor(role, role), with_guards=False)
                if not options:
                    return
                opt = options[choice % len(options)]
                if choice % 3 and opt.roles:  # mostly someone whose role may take the step; else anyone
                    role = sorted(opt.roles)[choice % len(opt.roles)]
                try:
                    move_case(world, opt.event, Actor(role, role, role), reason="property test",
                              params={"improvement_weeks": 4, "served_by": "hand"})
                    s.commit()
                except MoveRefused:
                    s.rollback()
            self.steps += 1

        # -- what must always hold ----------------------------------------------

        @invariant()
        def cases_are_in_declared_states_and_their_history_replays(self):
            wf = for_school(workflow)
            with Session(self.engine) as s:
                for case in s.exec(select(Case)):
                    ct = wf.case_type(case.case_type)
                    assert case.state in ct.states
                    moves = s.exec(select(CaseMove).where(CaseMove.case_id == case.id)
                                   .order_by(CaseMove.at, CaseMove.id)).all()
                    state = None
                    for m in moves:
                        assert m.from_state == state, (case.id, m.event, m.from_state, state)
                        state = m.to_state
                    assert state == case.state
                    assert (case.closed_at is not None) == ct.states[case.state].final

        @invariant()
        def no_move_skipped_a_guard(self):
            with Session(self.engine) as s:
                for m in s.exec(select(CaseMove).where(CaseMove.event != "open")):
                    assert all(v["ok"] for v in (m.evidence or {}).get("guards", [])), m.event

        @invariant()
        def no_concern_has_two_open_cases(self):
            with Session(self.engine) as s:
                twice = s.exec(select(Case.pupil_id, Case.case_type, Case.concern, func.count())
                               .where(Case.closed_at.is_(None))
                               .group_by(Case.pupil_id, Case.case_type, Case.concern)
                               .having(func.count() > 1)).all()
                assert twice == []

        @invariant()
        def open_deadlines_belong_to_open_cases(self):
            with Session(self.engine) as s:
                orphans = s.exec(select(Timer.id).join(Case, Case.id == Timer.case_id)
                                 .where(Timer.status == "open", Case.closed_at.is_not(None))).all()
                assert orphans == []

        @invariant()
        def no_third_penalty_notice_within_three_years(self):
            with Session(self.engine) as s:
                notices = s.exec(select(PenaltyNotice).where(PenaltyNotice.status != "withdrawn")).all()
                for n in notices:
                    since = years_before(n.issued_on, 3)
                    within = [x for x in notices if (x.pupil_id, x.contact_id) == (n.pupil_id, n.contact_id)
                              and since < x.issued_on <= n.issued_on]
                    assert len(within) <= 2

    CaseworkMachine.__name__ = f"Machine_{workflow.replace('-', '_')}"
    return CaseworkMachine


@pytest.mark.slow
@pytest.mark.parametrize("workflow", WORKFLOWS)
def test_case_machines_keep_their_promises(workflow, suite_figures):
    machine = machine_for(workflow)
    machine.TestCase.settings = settings(max_examples=5, stateful_step_count=30, deadline=None,
                                         suppress_health_check=list(HealthCheck))
    machine.TestCase().runTest()
    suite_figures[f"state-machine steps run ({workflow})"] += STEPS_RUN.get(workflow, 0)
    suite_figures[f"state-machine cases opened ({workflow})"] += CASES.get(workflow, 0)
    suite_figures[f"state-machine moves people took ({workflow})"] += TAKEN.get(workflow, 0)
    assert STEPS_RUN.get(workflow, 0) > 0 and CASES.get(workflow, 0) > 0
