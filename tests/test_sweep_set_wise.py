"""The sweep's set-wise path (casework/timers.py ``_lapse_together``) writes exactly what the
timer-by-timer path (``_lapse``) writes.

For every workflow in workflows/ and every timer kind it defines, the same due timers are built
in two databases with the same clock; one is swept as the sweep normally runs (the common lapses
set-wise, the rest timer by timer), the other with ``set_wise=False`` (every timer through
``_lapse``). Every row of every table must come out the same, apart from the ids a database hands
out. The timers include what makes the two paths differ if one is wrong: two deadlines proposing
the same move on one case, a proposal already on the case, a notification already written, a
closed case, a deadline the workflow no longer has, a pupil back in school, a repeating deadline,
and cases where plain and other lapses meet."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import select, update
from sqlmodel import Session, SQLModel

from casework import timers
from casework.cases.moves import Actor, open_case
from casework.clock import FixedClock, at
from casework.register.upn import make_upn
from casework.store.casemodels import Case, Notification, Timer
from casework.store.db import make_engine
from casework.store.models import Pupil
from casework.workflow import for_school

D = dt.date
OPENED = D(2026, 3, 2)  # a Monday of the spring term
LATER = FixedClock(at(D(2026, 3, 20), dt.time(18)))
WORKFLOWS = sorted(p.stem for p in (Path(__file__).parent.parent / "workflows").glob("*.yaml"))


@pytest.fixture
def two_databases(database, tmp_path, request):
    """Two new, empty databases of the kind under test (SQLite files, or PostgreSQL)."""
    if database == "sqlite":
        yield [f"sqlite:///{tmp_path}/{name}.db" for name in ("set_wise", "one_by_one")]
        return
    made = [request.getfixturevalue("pg_database")() for _ in range(2)]
    yield [next(m) for m in made]
    for m in made:
        next(m, None)


def _pupils(session: Session, school, n: int) -> list[Pupil]:
    out = [Pupil(school_id=school.id, upn=make_upn(886, 2999, 2020, k), forename=f"Child{k}", surname="Pupil",
                 date_of_birth=D(2016, 1, 1), year_group=4) for k in range(1, n + 1)]
    session.add_all(out)
    session.flush()
    return out


def _timer(session: Session, case: Case, kind: str, wf, due: dt.datetime) -> Timer:
    tdef = wf.model.timers.get(kind)
    t = Timer(school_id=case.school_id, case_id=case.id, kind=kind, label=tdef.label if tdef else "Dropped",
              role=tdef.role if tdef else "office", state=case.state, started_at=due - dt.timedelta(days=10), due_at=due)
    session.add(t)
    session.flush()
    return t


def _plain_kinds(wf) -> list[str]:
    return sorted(k for k, t in wf.model.timers.items() if timers._plain_plan(wf, t) is not timers._BY_ITSELF)


def _build(engine, workflow: str, make_school, add_marks) -> None:
    """One school following ``workflow``: a case per timer kind with that deadline, one case with
    every kind, one with every plain kind twice, a closed case, a dropped kind, and what was
    already there before the sweep."""
    wf = for_school(workflow)
    kinds, plain, types = sorted(wf.model.timers), _plain_kinds(wf), sorted(wf.model.case_types)
    due = LATER.now() - dt.timedelta(days=1)
    with Session(engine) as s:
        school = make_school(s, urn="118201", workflow=workflow)
        pupils = _pupils(s, school, len(kinds) + 4)
        add_marks(s, pupils[-4], [(D(2026, 3, 4), "AM", "/")])  # back in school: a deadline while absent is met
        cases = [open_case(s, school, p, wf, types[k % len(types)], concern=f"c{k}", concern_start=OPENED,
                           clock=FixedClock(at(OPENED, dt.time(9, 30))), actor=Actor.system(), reason="test")
                 for k, p in enumerate(pupils)]
        s.flush()
        for k, kind in enumerate(kinds):  # each kind on a case of its own (with what opening it started)
            _timer(s, cases[k], kind, wf, due - dt.timedelta(minutes=k))
        every, doubled, closed, dropped = cases[-4:]
        for kind in kinds:  # plain and other lapses on one case: all of it timer by timer, in due order
            _timer(s, every, kind, wf, due)
        for kind in plain * 2:  # two of each plain deadline on one case: the first proposal is kept
            last = _timer(s, doubled, kind, wf, due)
        if plain:
            first = wf.model.timers[plain[0]]
            already = next((a.propose for a in first.on_lapse if a.kind == "propose"), None)
            if already:
                doubled.proposals = [{"event": already, "reason": "proposed earlier", "source": "rule:x",
                                      "proposed_at": OPENED.isoformat()}]
            noted = next((a for a in wf.model.timers[last.kind].on_lapse if a.kind == "notify"), None)
            if noted:
                role = sorted(wf.roles_for(noted.notify))[0]
                s.add(Notification(school_id=school.id, case_id=doubled.id, role=role, message="written before",
                                   created_at=due, dedupe_key=f"case:{doubled.id}:timer:{last.id}:notify:{role}"))
            _timer(s, closed, plain[0], wf, due)
        closed.closed_at = due - dt.timedelta(days=2)
        _timer(s, dropped, "no_longer_in_the_workflow", wf, due)
        s.add_all([doubled, closed])
        s.flush()
        # Everything open falls due before the sweep, in an order that mixes the kinds.
        for (tid,) in s.execute(select(Timer.id).where(Timer.status == "open")).all():
            s.execute(update(Timer).where(Timer.id == tid, Timer.due_at > LATER.now())
                      .values(due_at=LATER.now() - dt.timedelta(hours=1 + tid % 7)))
        s.commit()


def _every_row(engine) -> dict[str, list]:
    """Each table's rows without their ids, in a fixed order."""
    out = {}
    with engine.connect() as conn:
        for table in SQLModel.metadata.sorted_tables:
            cols = [c for c in table.columns if c.name != "id"]
            out[table.name] = sorted((tuple((c.name, repr(v)) for c, v in zip(cols, row, strict=True))
                                      for row in conn.execute(select(*cols))), key=repr)
    return out


@pytest.mark.parametrize("workflow", WORKFLOWS)
def test_the_set_wise_sweep_writes_what_lapsing_each_timer_writes(workflow, two_databases, make_school, add_marks,
                                                                  monkeypatch):
    together = []
    real = timers._lapse_together

    def counted(s, planned, now):
        together.extend(r.id for r, _ in planned)
        return real(s, planned, now)

    monkeypatch.setattr(timers, "_lapse_together", counted)
    results, used = [], []
    for url, set_wise in zip(two_databases, (True, False), strict=True):
        engine = make_engine(url)
        _build(engine, workflow, make_school, add_marks)
        together.clear()
        report = timers.sweep(engine, LATER, set_wise=set_wise)
        used.append(len(together))
        assert report.failed == []
        with engine.connect() as conn:
            still = conn.execute(select(Timer.id).where(Timer.status == "open", Timer.due_at <= LATER.now())).all()
        assert still == []
        results.append((_every_row(engine), sorted(map(repr, report.lapsed)), sorted(map(repr, report.met))))
        engine.dispose()
    (rows, lapsed, met), (ref_rows, ref_lapsed, ref_met) = results
    for table in ref_rows:
        assert rows[table] == ref_rows[table], f"{workflow}: {table} differs between the set-wise and one-by-one sweeps"
    assert (lapsed, met) == (ref_lapsed, ref_met)
    # Both paths ran in the set-wise sweep, and only the one-by-one path in the other.
    assert used[1] == 0 and 0 < used[0] < len(lapsed) + len(met)
    assert any(("status", "'cancelled'") in r for r in rows["timer"])
    if any(t.while_absent for t in for_school(workflow).model.timers.values()):
        assert met, "the pupil back in school meets a deadline that stood while the absence lasted"


def test_a_batch_whose_set_wise_writes_fail_is_lapsed_timer_by_timer(engine, make_school, add_marks, monkeypatch):
    """The set-wise writes are part of the batch's transaction: if they fail, the batch is rolled
    back and each timer is lapsed on its own, so nothing is lost or done twice."""
    _build(engine, "national", make_school, add_marks)

    def broken(*args, **kw):
        raise RuntimeError("the database refused the notifications")

    monkeypatch.setattr(timers, "_notify_together", broken)
    report = timers.sweep(engine, LATER)
    assert report.failed == [] and report.lapsed
    with Session(engine) as s:
        assert s.exec(select(Timer.id).where(Timer.status == "open", Timer.due_at <= LATER.now())).all() == []
        keys = list(s.scalars(select(Notification.dedupe_key).where(Notification.dedupe_key.like("%:timer:%"))))
    assert len(keys) == len(set(keys))
    notified = {d["timer_id"] for d in report.lapsed if "notify" in d["actions"]}
    missing = [tid for tid in notified if not any(f":timer:{tid}:notify:" in k for k in keys)]
    assert notified and not missing, (missing, keys)
