"""Deadlines as rows, and the sweep that lapses them.

A ``Timer`` row says what a case waits for and when it is due. The sweep selects what
is due, claims each timer atomically (a conditional update from ``open``; on PostgreSQL
the candidates are read ``FOR UPDATE SKIP LOCKED``), runs what the workflow says a lapse
does in the same transaction, and commits. A sweep that dies half-way leaves its
uncommitted timers open for the next sweep; two sweeps never both act on one timer.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import operator
from dataclasses import dataclass, field

from sqlalchemy import (
    Integer,
    String,
    Text,
    and_,
    any_,
    bindparam,
    cast,
    exists,
    func,
    inspect,
    literal,
    literal_column,
    or_,
    union_all,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Engine
from sqlalchemy.event import listens_for
from sqlalchemy.orm import Session as OrmSession
from sqlalchemy.orm import aliased
from sqlmodel import Session, select

from casework.cases.moves import action_key, notifications_in_bulk, run_action, with_proposal
from casework.cases.world import CaseWorld
from casework.clock import LONDON, Clock, at
from casework.plain import Plain
from casework.register.codes import is_code, meaning
from casework.register.store import load_calendar
from casework.store.casemodels import Case, Notification, Timer
from casework.store.db import session_scope
from casework.store.models import CalendarDay, Mark, Pupil, School, User
from casework.workflow import TimerDef, for_school


@dataclass
class SweepReport(Plain):
    lapsed: list[dict] = field(default_factory=list)
    met: list[dict] = field(default_factory=list)  # due, but the absence had ended (the pupil returned)
    failed: list[dict] = field(default_factory=list)  # {timer_id, error}: left open for the next sweep


def due_timer_ids(engine: Engine, now: dt.datetime, school_id: int | None = None, limit: int = 500) -> list[int]:
    with session_scope(engine) as s:
        q = select(Timer.id).where(Timer.status == "open", Timer.due_at <= now)
        if school_id is not None:
            q = q.where(Timer.school_id == school_id)
        return list(s.exec(q.order_by(Timer.due_at, Timer.id).limit(limit)))


def lapse_one(engine: Engine, timer_id: int, clock: Clock, worker: str) -> dict | None:
    """Claim one due timer and carry out its lapse, all in one transaction.

    Returns what was done, or None if another worker claimed it first."""

    now = clock.now()
    with session_scope(engine) as s:
        if s.bind.dialect.name == "postgresql":
            row = s.exec(select(Timer.id).where(Timer.id == timer_id, Timer.status == "open")
                         .with_for_update(skip_locked=True)).first()
            if row is None:
                return None
        claimed = s.execute(
            update(Timer).where(Timer.id == timer_id, Timer.status == "open", Timer.due_at <= now)
            .values(**_claimed(worker, now))
        ).rowcount
        if claimed != 1:
            return None
        timer = s.get(Timer, timer_id)
        case = s.get(Case, timer.case_id)
        done = _lapse(timer, CaseWorld.load(s, case, clock))
        keep_next_deadlines(s, [case.id])  # the claim above was an UPDATE the flush hook does not see
        return done


CANCELLED = "case closed or timer no longer in the workflow"


def _claimed(worker: str, now: dt.datetime) -> dict:
    return dict(status="lapsed", claimed_by=worker, claimed_at=now, outcome_at=now, outcome="not met by the deadline")


def _lapse(timer: Timer, world: CaseWorld) -> dict:
    """What a claimed timer's lapse does, in the caller's transaction: cancelled if the case
    closed or the workflow dropped the deadline, met if the absence it waited on ended, else
    the workflow's ``on_lapse`` actions (and a repeating timer's next period)."""
    s, case = world.session, world.case
    tdef = world.workflow.model.timers.get(timer.kind)
    done = {"timer_id": timer.id, "case_id": case.id, "kind": timer.kind, "due": timer.due_at.isoformat(), "actions": []}
    if tdef is None or case.closed_at is not None:
        timer.status, timer.outcome = "cancelled", CANCELLED
        s.add(timer)
        return done
    if tdef.while_absent and (ended := absence_ended(s, case, timer, tdef.while_absent)):
        timer.status, timer.outcome = "met", ended
        s.add(timer)
        done["met"] = ended
        return done
    for action in tdef.on_lapse:
        run_action(world, action, source=f"timer:{timer.id}")
        done["actions"].append(action.kind)
    if tdef.repeat and case.closed_at is None:
        restart_after(world, timer, tdef)
    return done


# Timers claimed at once: the first few commit quickly, then doubling. A set-wise batch of 8,192 is
# about a quarter of a second's work; smaller batches spend longer rewriting the notifications' key
# index, whose pages a batch of timers over many cases touches all over.
FIRST_BATCH, LARGEST_BATCH = 32, 8192


def claim_batch(s: Session, now: dt.datetime, worker: str, limit: int, school_id: int | None = None,
                skip: set[int] | frozenset = frozenset()) -> list[int]:
    """Claim up to ``limit`` due timers with one statement and return their ids.

    The earliest due are picked; on PostgreSQL ``FOR UPDATE SKIP LOCKED``, so a concurrent
    sweeper takes the next ones rather than waiting; on SQLite the one writer at a time does the
    same. The claim is part of the caller's transaction: rolled back, the timers are open again.
    ``skip`` holds timers this sweep already failed on."""
    pick = _due(now, school_id, skip).order_by(Timer.due_at, Timer.id).limit(limit)
    if s.bind.dialect.name == "postgresql":
        pick = pick.with_for_update(skip_locked=True)
    claim = (update(Timer).where(Timer.id.in_(pick.scalar_subquery()), Timer.status == "open")
             .values(**_claimed(worker, now)).returning(Timer.id))
    return sorted(s.connection().execute(claim).scalars())


def _due(now: dt.datetime, school_id: int | None, skip: set[int] | frozenset):
    """The open timers due by ``now`` (of one school, if given), but not those in ``skip``."""
    q = select(Timer.id).where(Timer.status == "open", Timer.due_at <= now)
    if school_id is not None:
        q = q.where(Timer.school_id == school_id)
    return q.where(Timer.id.not_in(sorted(skip))) if skip else q


def _any_due(s: Session, now: dt.datetime, school_id: int | None, skip: set[int]) -> bool:
    return s.exec(_due(now, school_id, skip).limit(1)).first() is not None


def _lapse_batch(s: Session, ids: list[int], clock: Clock, set_wise: bool = True) -> list[dict]:
    """Every claimed timer's lapse in one transaction, reported in due order. The common lapses
    (``_set_wise``) are done for the whole batch at once by ``_lapse_together``; the rest
    (``set_wise=False``: all of them) timer by timer by ``_lapse_each``."""
    rows = s.connection().execute(
        select(Timer.id, Timer.kind, Timer.due_at, Timer.case_id, Case.workflow, Case.closed_at)
        .join(Case, Case.id == Timer.case_id).where(_among(s, Timer.id, ids))).all()
    rows.sort(key=lambda r: (r.due_at, r.id))
    together = _set_wise(rows) if set_wise else []
    taken = {r.id for r, _ in together}
    done = _lapse_together(s, together, clock.now()) + _lapse_each(s, [r.id for r in rows if r.id not in taken], clock)
    keep_next_deadlines(s, sorted({r.case_id for r in rows}))  # the claims and set-wise lapses were plain UPDATEs
    order = {r.id: k for k, r in enumerate(rows)}
    return sorted(done, key=lambda d: order[d["timer_id"]])


def _among(s: Session, column, ids: list[int]):
    """``column IN ids`` with the ids as one parameter, not thousands: ``= ANY(array)`` on
    PostgreSQL, ``IN (SELECT value FROM json_each(...))`` on SQLite."""
    if s.bind.dialect.name == "postgresql":
        return column == any_(bindparam(None, list(ids), type_=ARRAY(Integer)))
    return column.in_(select(literal_column("value")).select_from(func.json_each(bindparam(None, json.dumps(list(ids))))))


def _set_wise(rows: list) -> list[tuple]:
    """(timer, ``_Plain``) for the claimed timers whose lapse needs no more than set-wise work:
    cancelled (the case closed, or the workflow dropped the deadline), or only notifications with
    their own message and proposals, for every pupil, with no absence to check and no next period
    to start. A case with any other timer in the batch keeps all its timers on the timer-by-timer
    path, so one case's lapses still happen in due order."""
    plans: dict = {}
    planned = [(r, _plan(plans, r)) for r in rows]
    needs_more = {r.case_id for r, plan in planned if plan is _BY_ITSELF}
    return [(r, plan) for r, plan in planned if r.case_id not in needs_more]


@dataclass(frozen=True, eq=False)  # told apart by identity: an empty plan is not _CANCEL
class _Plain:
    """What a plain lapse does (see ``_set_wise``), worked out once per workflow and timer kind."""

    kinds: tuple[str, ...] = ()  # the actions, as the report lists them
    notes: tuple[tuple[str, str], ...] = ()  # (role, message)
    proposals: tuple[tuple[str, str], ...] = ()  # (event, reason)


_CANCEL, _BY_ITSELF = _Plain(), _Plain(("by itself",))


def _plan(plans: dict, r) -> _Plain:
    """The timer's lapse as a ``_Plain``: ``_CANCEL``, or ``_BY_ITSELF`` if it needs the
    timer-by-timer path."""
    if r.closed_at is not None:
        return _CANCEL
    key = (r.workflow, r.kind)
    if key not in plans:
        wf = for_school(r.workflow)
        tdef = wf.model.timers.get(r.kind)
        plans[key] = _CANCEL if tdef is None else _plain_plan(wf, tdef)
    return plans[key]


def _plain_plan(wf, tdef: TimerDef) -> _Plain:
    actions = [(a.kind, a) for a in tdef.on_lapse]
    if tdef.while_absent or tdef.repeat or any(
            a.pupils or not (kind == "propose" or (kind == "notify" and a.message)) for kind, a in actions):
        return _BY_ITSELF
    notes: dict[str, str] = {}  # role -> message: a second notification with the same key is not added
    for kind, a in actions:
        if kind == "notify":
            for role in sorted(wf.roles_for(a.notify)):
                notes.setdefault(role, a.message)
    return _Plain(tuple(kind for kind, _ in actions), tuple(notes.items()),
                  tuple((a.propose, a.message or "proposed by the workflow") for kind, a in actions if kind == "propose"))


def _lapse_together(s: Session, planned: list[tuple], now: dt.datetime) -> list[dict]:
    """What ``_lapse`` does for these claimed timers and their plans (``_set_wise``), as sets: one
    UPDATE for the cancelled, one INSERT ... SELECT ... ON CONFLICT DO NOTHING for every
    notification, one executemany UPDATE for the cases whose proposals changed. No ORM objects,
    and no Python per notification."""
    done, by_plan, proposing = [], {}, []
    for r, plan in planned:
        by_plan.setdefault(plan, []).append(r.id)
        done.append({"timer_id": r.id, "case_id": r.case_id, "kind": r.kind, "due": r.due_at.isoformat(),
                     "actions": list(plan.kinds)})
        if plan.proposals:
            proposing.append((r, plan))
    conn = s.connection()
    if _CANCEL in by_plan:
        conn.execute(update(Timer).where(_among(s, Timer.id, by_plan[_CANCEL]))
                     .values(status="cancelled", outcome=CANCELLED))
    _notify_together(s, [(ids, role, message) for plan, ids in by_plan.items() for role, message in plan.notes], now)
    _propose_together(s, proposing, now)
    return done


def _notify_together(s: Session, todo: list[tuple[list[int], str, str]], now: dt.datetime) -> None:
    """``notify`` for each timer's case, for each (timers, role, message) in ``todo``, as one
    INSERT ... SELECT: the key is ``action_key``'s, joined in SQL,
    a key already there is kept, and the rows go in in key order (the unique index's order: several
    times quicker to insert than scattered over it)."""
    if not todo:
        return
    t, c, n = Timer.__table__, Case.__table__, Notification.__table__
    parts = []
    for timer_ids, role, message in todo:
        key = action_key(cast(t.c.case_id, String), literal("timer:") + cast(t.c.id, String), "notify", role,
                         join=_sql_joined)
        parts.append(select(c.c.school_id, t.c.case_id, literal(role, String), literal("nudge", String),
                            literal(message, Text), literal(now, n.c.created_at.type), key.label("dedupe_key"))
                     .join(c, c.c.id == t.c.case_id).where(_among(s, t.c.id, timer_ids)))
    rows = union_all(*parts).order_by(literal_column("dedupe_key"))
    new = (pg_insert if s.bind.dialect.name == "postgresql" else sqlite_insert)(n)
    s.connection().execute(new.from_select(["school_id", "case_id", "role", "queue", "message", "created_at",
                                            "dedupe_key"], rows).on_conflict_do_nothing(index_elements=["dedupe_key"]))


def _sql_joined(parts) -> object:
    """Parts of a key (strings and SQL expressions) joined in SQL."""
    return functools.reduce(operator.add, (literal(p, String) if isinstance(p, str) else p for p in parts))


def _propose_together(s: Session, todo: list, now: dt.datetime) -> None:
    """``propose`` for each timer in due order (of two proposing the same move, the first is kept),
    the cases' proposals read with one query and those that changed written with one statement."""
    if not todo:
        return
    table = Case.__table__
    before = dict(s.connection().execute(select(table.c.id, table.c.proposals)
                                         .where(_among(s, table.c.id, sorted({r.case_id for r, _ in todo})))).all())
    after = dict(before)
    for r, plan in todo:
        for event, reason in plan.proposals:
            after[r.case_id] = with_proposal(after[r.case_id], event, reason, now, f"timer:{r.id}")
    changed = [{"b_case": cid, "b_proposals": p} for cid, p in after.items() if p is not before[cid]]
    if changed:
        s.connection().execute(update(table).where(table.c.id == bindparam("b_case"))
                               .values(proposals=bindparam("b_proposals", type_=table.c.proposals.type)), changed)


def _lapse_each(s: Session, ids: list[int], clock: Clock) -> list[dict]:
    """Claimed timers lapsed one by one through ``_lapse``: the timers, their cases, pupils and
    schools read with one query each, one calendar per school, the notifications written with
    one statement and everything else in one flush."""
    if not ids:
        return []
    timers = sorted(s.exec(select(Timer).where(_among(s, Timer.id, ids))), key=lambda t: (t.due_at, t.id))
    case_ids = sorted({t.case_id for t in timers})
    cases = {c.id: c for c in s.exec(select(Case).where(_among(s, Case.id, case_ids)))}
    # Held here so they stay in the session's identity map (it holds objects weakly): the
    # worlds below find them there without a query or the flush a query would bring.
    pupils = {p.id: p for p in s.exec(select(Pupil).where(Pupil.id.in_(sorted({c.pupil_id for c in cases.values()}))))}
    schools = {x.id: x for x in s.exec(select(School).where(School.id.in_(sorted({c.school_id for c in cases.values()}))))}
    calendars: dict[int, object] = {}
    done = []
    with notifications_in_bulk(s):
        for timer in timers:
            case = cases[timer.case_id]
            if case.school_id not in calendars:
                calendars[case.school_id] = load_calendar(s, case.school_id)
            world = CaseWorld(s, case, pupils[case.pupil_id], schools[case.school_id], for_school(case.workflow),
                              calendars[case.school_id], clock)
            done.append(_lapse(timer, world))
        s.flush()
    return done


def absence_ended(session, case: Case, timer: Timer, counts: str) -> str | None:
    """Why a deadline that stands only while the pupil stays away no longer applies, or None.

    The run starts on the first day of the concern (or the day the timer started) and is
    read up to the day the timer falls due. Any attending or present mark ends it (the
    pupil came back); with ``counts == "unauthorised"`` an authorised absence ends it too,
    because the children-missing-education ground is continuous *unauthorised* absence
    (docs/domain.md §3)."""

    start = case.concern_start or timer.started_at.astimezone(LONDON).date()
    end = timer.due_at.astimezone(LONDON).date()
    marks = session.exec(select(Mark).where(Mark.pupil_id == case.pupil_id, Mark.date >= start, Mark.date <= end)
                         .order_by(Mark.date, Mark.session)).all()
    for m in marks:
        if not is_code(m.code):
            continue
        code = meaning(m.code)
        if code.attending:
            return f"met: the pupil returned to school on {m.date:%a %d %b %Y} ({m.session} {m.code})"
        if counts == "unauthorised" and code.authorised:
            return (f"met: the absence was authorised on {m.date:%a %d %b %Y} ({m.session} {m.code}), "
                    "so it is not continuous unauthorised absence")
    return None


def restart_after(world, lapsed: Timer, tdef) -> Timer:
    """Start a repeating timer's next period, counted from the one that lapsed (e.g. weekly
    sight of a long-absent child). Counting from the concern's start again would make it
    due at once, over and over."""
    cal = world.calendar
    due, prev = tdef.due, lapsed.due_at.astimezone(LONDON)
    count_from, school_days = None, None
    if due.hours is not None:
        nxt = prev + dt.timedelta(hours=due.hours)
    else:
        if due.school_days is not None:
            count_from, school_days = prev.date(), max(due.school_days, 1)
            day, _ = cal.count_school_days(count_from, school_days)
        elif due.calendar_days is not None:
            day = prev.date() + dt.timedelta(days=max(due.calendar_days, 1))
        else:
            day = prev.date() + dt.timedelta(weeks=max(due.weeks, 1))
        nxt = at(day, prev.timetz().replace(tzinfo=None))
    timer = Timer(school_id=lapsed.school_id, case_id=lapsed.case_id, kind=lapsed.kind, label=lapsed.label,
                  role=lapsed.role, state=world.case.state, started_at=world.clock.now(), due_at=nxt,
                  count_from=count_from, school_days=school_days)
    world.session.add(timer)
    world.session.flush()
    return timer



def sweep(engine: Engine, clock: Clock, *, worker: str = "sweep", school_id: int | None = None,
          set_wise: bool = True) -> SweepReport:
    """Lapse every timer due by the clock's now, a batch at a time (each batch one transaction).
    ``set_wise=False`` lapses every timer through the timer-by-timer path (the reference the
    set-wise one is tested against).

    A batch that fails is rolled back and its timers are lapsed again one at a time, each in its
    own transaction, so a failing case is reported in ``failed`` (its timer left open for a later
    sweep) and the rest still lapse."""
    report, failed, size = SweepReport(), set(), FIRST_BATCH
    now = clock.now()
    while True:
        try:
            with session_scope(engine) as s:
                # Read before writing: a sweep with nothing due writes nothing (not even an empty claim).
                ids = claim_batch(s, now, worker, size, school_id, failed) if _any_due(s, now, school_id, failed) else []
                if not ids:
                    break
                try:
                    done = _lapse_batch(s, ids, clock, set_wise)
                except Exception as exc:
                    raise _BatchFailed from exc
        except _BatchFailed:
            done = _one_at_a_time(engine, ids, clock, worker, report, failed)
        for d in done:
            (report.met if "met" in d else report.lapsed).append(d)
        size = min(size * 2, LARGEST_BATCH)
    return report


class _BatchFailed(Exception):
    """A lapse in the batch raised: the batch is rolled back and done again one timer at a time."""


def _one_at_a_time(engine: Engine, ids: list[int], clock: Clock, worker: str, report: SweepReport,
                   failed: set[int]) -> list[dict]:
    done = []
    for tid in ids:
        try:
            one = lapse_one(engine, tid, clock, worker)
        except Exception as exc:  # noqa: BLE001 - reported, and the timer stays open
            failed.add(tid)
            report.failed.append({"timer_id": tid, "error": f"{type(exc).__name__}: {exc}"})
            continue
        if one is not None:
            done.append(one)
    return done


# -- deadlines as people see them -----------------------------------------------------


def outstanding(q):
    """The one definition of an outstanding deadline, as a filter on a query that selects
    ``Timer`` joined to its ``Case``.

    A deadline is outstanding while the case is open and either its timer is open, or it
    lapsed and the case still sits in the state that started it with no later period of the
    same deadline running (a repeating timer's next period replaces the lapsed one). The
    caseload, Today, the morning digest and ``casework timers`` all read deadlines this way.

    Each case's earliest outstanding deadline is also kept on the case (``Case.next_due_at``,
    ``Case.next_timer_id``) for the caseload to order and count by: a cache of this definition
    (``next_deadline_rows``), written by ``keep_next_deadlines`` and the flush hook below it.
    """
    later = aliased(Timer)
    next_period = exists().where(later.case_id == Timer.case_id, later.kind == Timer.kind, later.status == "open")
    return q.where(Case.closed_at.is_(None),
                   or_(Timer.status == "open",
                       and_(Timer.status == "lapsed", Timer.state == Case.state, ~next_period)))


# -- each case's next deadline, kept on the case ----------------------------------------


def next_deadline_rows(s: Session, case_ids: list[int] | None = None):
    """Each case's earliest outstanding deadline (see ``outstanding``; the earlier timer id on a
    tie), as a subquery of (case_id, timer_id, due_at) with a row for every case asked about
    (``None``: every case), None where it has none. The truth that ``Case.next_due_at`` and
    ``Case.next_timer_id`` cache.

    Each case's deadline is found from that case's own timers (a correlated subquery read through
    the timers' case index), so the cost is the asked cases' timers. (A window over every
    outstanding timer, filtered to the cases afterwards, read the whole table on each sweep batch.)"""
    first = (outstanding(select(Timer.id).where(Timer.case_id == Case.id))
             .order_by(Timer.due_at, Timer.id).limit(1).correlate(Case).scalar_subquery())
    firsts = select(Case.id.label("case_id"), first.label("timer_id"))
    if case_ids is not None:
        firsts = firsts.where(_among(s, Case.id, case_ids))
    firsts = firsts.cte("firsts").prefix_with("MATERIALIZED")  # found once a case, then joined to its timer
    chosen = Timer.__table__.alias("chosen")
    return (select(firsts.c.case_id, firsts.c.timer_id, chosen.c.due_at)
            .outerjoin(chosen, chosen.c.id == firsts.c.timer_id)).subquery()


def keep_next_deadlines(s: Session, case_ids: list[int] | None = None) -> None:
    """Write these cases' (``None``: every case's) next deadline into ``Case.next_due_at`` and
    ``Case.next_timer_id`` with one UPDATE ... FROM ``next_deadline_rows``, after flushing what
    the session holds. Every change to a timer or to a case's state or closing made through the
    ORM is kept by the flush hook below; the set-wise paths (the sweep's claims and lapses, a
    database filled by bulk inserts) call this themselves."""
    s.flush()
    _store_next_deadlines(s, case_ids)


def _store_next_deadlines(s: Session, case_ids: list[int] | None) -> None:
    if case_ids is not None and not case_ids:
        return
    asked = None if case_ids is None else set(case_ids)
    table, rows = Case.__table__, next_deadline_rows(s, None if asked is None else sorted(asked))
    changed = or_(table.c.next_due_at.is_distinct_from(rows.c.due_at),
                  table.c.next_timer_id.is_distinct_from(rows.c.timer_id))  # a lapse mostly leaves it as it was
    s.connection().execute(update(table).where(table.c.id == rows.c.case_id, changed)
                           .values(next_due_at=rows.c.due_at, next_timer_id=rows.c.timer_id))
    for obj in list(s.identity_map.values()):
        if isinstance(obj, Case) and (asked is None or obj.id in asked):
            s.expire(obj, ["next_due_at", "next_timer_id"])  # read again, not the value before the UPDATE


_TOUCHED = "casework.timers: cases whose next deadline may have changed"
_CASE_MOVES = ("state", "closed_at")  # the case's columns that decide which of its deadlines are outstanding


@listens_for(OrmSession, "after_flush")
def _note_touched_cases(s, _flush) -> None:
    """Note the cases a flush changed a timer of, or moved or closed: ``_keep_touched`` refreshes
    their next deadline once the flush is done."""
    touched = s.info.setdefault(_TOUCHED, set())
    for obj in (*s.new, *s.dirty, *s.deleted):
        if isinstance(obj, Timer):
            touched.add(obj.case_id)
        elif isinstance(obj, Case) and obj not in s.deleted and (
                obj in s.new or any(inspect(obj).attrs[name].history.has_changes() for name in _CASE_MOVES)):
            touched.add(obj.id)


@listens_for(OrmSession, "after_flush_postexec")
def _keep_touched(s, _flush) -> None:
    touched = s.info.pop(_TOUCHED, None)
    if touched:
        _store_next_deadlines(s, sorted(touched))


@dataclass
class Deadline:
    """An outstanding deadline on a case, as a work list shows it."""

    id: int
    case_id: int
    upn: str
    pupil: str
    kind: str
    label: str
    role: str  # the role or role group responsible (as the workflow names it)
    roles: list[str]  # the roles that group stands for
    due: dt.datetime  # Europe/London
    status: str  # open | lapsed (a lapsed deadline stays outstanding until the case moves on)
    overdue: bool
    case_type: str
    state: str
    provisional: str = ""  # why the date may move: counted past the last term date entered

    @property
    def due_at(self) -> dt.datetime:
        return self.due

    def due_on(self, day: dt.date) -> bool:
        return self.due.astimezone(LONDON).date() == day

    def as_dict(self) -> dict:
        return {"id": self.id, "case_id": self.case_id, "upn": self.upn, "pupil": self.pupil, "kind": self.kind,
                "label": self.label, "role": self.role, "roles": self.roles, "due": self.due.isoformat(),
                "status": self.status, "overdue": self.overdue, "case_type": self.case_type, "state": self.state,
                "provisional": self.provisional}


def outstanding_deadlines(session, school_id: int | None = None, role: str | None = None, user: User | None = None,
                          *, now: dt.datetime, case_ids: list[int] | None = None,
                          due_before: dt.datetime | None = None) -> list[Deadline]:
    """Every outstanding deadline (see ``outstanding``), overdue first, then by due time.

    ``role`` (a role such as ``dsl``) keeps the deadlines that role is responsible for,
    expanding the workflow's role groups; ``user`` means that user's school and role;
    ``case_ids`` keeps those cases' deadlines.
    """
    if user is not None:
        school_id = user.school_id if school_id is None else school_id
        role = role or user.role
    q = outstanding(select(Timer, Case, Pupil).join(Case, Case.id == Timer.case_id)
                    .join(Pupil, Pupil.id == Case.pupil_id))
    if school_id is not None:
        q = q.where(Timer.school_id == school_id)
    if case_ids is not None:
        if not case_ids:
            return []
        q = q.where(Timer.case_id.in_(case_ids))
    if due_before is not None:
        q = q.where(Timer.due_at < due_before)
    out: list[Deadline] = []
    notes: dict[int, str] = {}  # school -> what its provisional dates say, if any is
    for t, case, pupil in session.exec(q.order_by(Timer.due_at, Timer.id)):
        d = _deadline(session, t, case, pupil, now, notes)
        if role is None or role in d.roles or role == t.role:
            out.append(d)
    out.sort(key=lambda d: (not d.overdue, d.due, d.id))
    return out


def _deadline(session, t: Timer, case: Case, pupil: Pupil, now: dt.datetime, notes: dict[int, str]) -> Deadline:
    due = t.due_at.astimezone(LONDON)
    return Deadline(t.id, case.id, pupil.upn, pupil.name, t.kind, t.label, t.role,
                    sorted(for_school(case.workflow).roles_for([t.role])), due, t.status, due <= now, case.case_type,
                    case.state, _note_if_provisional(session, t, notes))


def stored_next_deadlines(session, rows: list[tuple[Case, Pupil]], now: dt.datetime) -> dict[int, Deadline]:
    """These cases' next deadlines as kept on them (``Case.next_timer_id``), read by timer id: what
    ``next_deadlines`` answers, for a page of cases already read."""
    ids = [c.next_timer_id for c, _ in rows if c.next_timer_id is not None]
    timers = {t.id: t for t in session.exec(select(Timer).where(Timer.id.in_(ids)))} if ids else {}
    notes: dict[int, str] = {}
    return {c.id: _deadline(session, timers[c.next_timer_id], c, p, now, notes)
            for c, p in rows if c.next_timer_id in timers}


def provisional(timer: Timer, calendar) -> bool:
    """Whether a deadline in school days was counted past the last school day entered (on weekdays
    less bank holidays): its date holds only until the school's next term dates arrive."""
    if timer.school_days is None:
        return False
    return calendar.last_day is None or timer.due_at.astimezone(LONDON).date() > calendar.last_day


def _note_if_provisional(session, timer: Timer, notes: dict[int, str]) -> str:
    if timer.school_days is None or not provisional(timer, load_calendar(session, timer.school_id)):
        return ""
    if timer.school_id not in notes:
        notes[timer.school_id] = provisional_note(session, timer.school_id)
    return notes[timer.school_id]


def provisional_note(session, school_id: int) -> str:
    """What a provisional date says: the term dates it is waiting for."""
    last = session.exec(select(func.max(CalendarDay.end)).where(CalendarDay.school_id == school_id,
                                                                CalendarDay.kind == "term")).first()
    return f"provisional: term dates after {last:%-d %b %Y} not entered" if last else "provisional: no term dates entered"


def next_deadlines(session, case_ids: list[int], now: dt.datetime) -> dict[int, Deadline]:
    """The earliest outstanding deadline of each of these cases."""
    out: dict[int, Deadline] = {}
    for d in sorted(outstanding_deadlines(session, case_ids=case_ids, now=now), key=lambda d: (d.due, d.id)):
        out.setdefault(d.case_id, d)
    return out


caseload_deadlines = outstanding_deadlines  # the name the digest and older callers know
def timer_history(session, school_id: int | None, status: str, role: str | None, due_before: dt.datetime | None,
                  now: dt.datetime) -> list[dict]:
    """Every timer with ``status`` (or all), whatever became of it: the record, not the work list."""
    q = select(Timer, Case, Pupil).join(Case, Case.id == Timer.case_id).join(Pupil, Pupil.id == Case.pupil_id)
    if school_id is not None:
        q = q.where(Timer.school_id == school_id)
    if status != "all":
        q = q.where(Timer.status == status)
    if due_before is not None:
        q = q.where(Timer.due_at < due_before)
    return [{"id": t.id, "case_id": t.case_id, "upn": p.upn, "pupil": p.name, "kind": t.kind, "label": t.label,
             "role": t.role, "due": t.due_at.astimezone(LONDON), "status": t.status,
             "overdue": t.status == "open" and t.due_at <= now, "outcome": t.outcome}
            for t, case, p in session.exec(q.order_by(Timer.due_at, Timer.id))
            if role is None or role == t.role or role in for_school(case.workflow).roles_for([t.role])]
