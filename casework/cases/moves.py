"""Cases: opening them, moving them, and what a move does.

``move_case`` is the one way a case changes state, for a person (CLI, web) or a job
(an automatic non-formal move when a timer lapses). It checks the move exists from
the case's state, the actor's role, and every guard; a refused move raises
``MoveRefused`` listing each reason. A move is recorded with who, when, why and a
snapshot of the evidence, then the new state's ``on_enter`` actions run: queue a
letter, start a timer, notify a role, put the case on the DSL's queue, propose a step.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from sqlalchemy import update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session, select

from casework.cases.assignment import owner_for
from casework.cases.evidence import case_evidence
from casework.cases.penalties import record_penalty_notices
from casework.cases.provenance import step_provenance
from casework.cases.withdrawal import withdraw_on_closing
from casework.cases.world import CaseWorld
from casework.clock import LONDON, Clock, at
from casework.notify.notifications import resolve_case_alerts
from casework.register.calendar import SchoolCalendar
from casework.register.store import load_calendar, session_close_time
from casework.states.guards import GuardResult, run_guard
from casework.states.machine import fire, sources
from casework.store.audit import record
from casework.store.casemodels import (
    Case,
    CaseFinding,
    CaseMove,
    LetterRequest,
    Notification,
    PenaltyNotice,
    Timer,
)
from casework.store.models import ROLE_LABELS, Pupil, Role, School, User
from casework.workflow import Action, TimerDef, Workflow, pupil_matches

SYSTEM = "system"


class MoveRefused(Exception):
    def __init__(self, event: str, reasons: list[str]):
        self.event = event
        self.reasons = reasons
        super().__init__(f"{event.replace('_', ' ')} refused: " + "; ".join(reasons))


@dataclass
class Actor:
    username: str
    role: str
    name: str = ""

    @classmethod
    def of(cls, user: User) -> Actor:
        return cls(user.username, user.role, user.name)

    @classmethod
    def system(cls) -> Actor:
        return cls(SYSTEM, SYSTEM, "casework")


@dataclass
class MoveOption:
    event: str
    label: str
    to: str
    to_label: str
    formal: bool
    allowed: bool
    reasons: list[str] = field(default_factory=list)
    roles: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"event": self.event, "label": self.label, "to": self.to, "formal": self.formal,
                "allowed": self.allowed, "reasons": self.reasons, "roles": self.roles}


def get_case(session: Session, case_id: int) -> Case:
    case = session.get(Case, case_id)
    if case is None:
        raise LookupError(f"no case {case_id}")
    return case


def check_move(world: CaseWorld, event: str, actor: Actor | None, params: dict | None = None,
               reason: str | None = None) -> tuple[list[str], list[GuardResult]]:
    """Why ``event`` cannot be taken now (empty if it can), and the guards' verdicts."""
    wf, case = world.workflow, world.case
    ct = wf.case_type(case.case_type)
    mv = ct.moves.get(event)
    if mv is None:
        kind = ct.label.lower()
        article = "an" if kind[:1] in "aeiou" else "a"
        return [f"there is no move {event!r} for {article} {kind} case (moves: {', '.join(ct.moves)})"], []
    reasons: list[str] = []
    if case.closed_at is not None:
        return ["the case is closed"], []
    if case.state not in sources(ct, mv.from_):
        froms = ", ".join(ct.states[s].label for s in sources(ct, mv.from_))
        reasons.append(f"the case is at {ct.states[case.state].label}; this step can only be taken from {froms}")
    if actor is not None and actor.role != SYSTEM:
        allowed_roles = wf.roles_for(mv.roles)
        if actor.role not in allowed_roles:

            who = ", ".join(ROLE_LABELS.get(Role(r), r) for r in sorted(allowed_roles) if r in Role._value2member_map_)
            reasons.append(f"only {who} may {(mv.label or event.replace('_', ' ')).lower()}")
    elif actor is not None and mv.formal:
        reasons.append("a formal step is taken by a person, never automatically")
    if mv.reason_required and not (reason and reason.strip()):
        reasons.append("this step needs a reason, recorded on the case")
    verdicts: list[GuardResult] = []
    if not reasons:
        ctx = world.for_move(event, params)
        for g in mv.guards:
            r = run_guard(g, ctx)
            verdicts.append(r)
            if not r.ok:
                reasons.append(r.reason)
    return reasons, verdicts


def move_options(world: CaseWorld, actor: Actor | None, *, with_guards: bool = True) -> list[MoveOption]:
    """Every move from the case's state: the ones allowed now, and why the others are not."""
    wf, case = world.workflow, world.case
    ct = wf.case_type(case.case_type)
    out = []
    if case.closed_at is not None:
        return out
    for ev, mv in ct.moves.items():
        if case.state not in sources(ct, mv.from_):
            continue
        if with_guards:
            reasons, _ = check_move(world, ev, actor, reason="(checking)")
        else:
            reasons = []
        out.append(MoveOption(ev, mv.label or ev.replace("_", " ").capitalize(), mv.to, ct.states[mv.to].label,
                              mv.formal, not reasons, reasons, sorted(wf.roles_for(mv.roles))))
    return out


def move_case(world: CaseWorld, event: str, actor: Actor, *, reason: str = "", params: dict | None = None,
              expected_version: int | None = None) -> CaseMove:
    """Take ``event`` on the case. ``expected_version`` is the case's version the person saw
    (the form carries it): if anyone moved the case since, the move is refused, never lost."""
    params = dict(params or {})
    if expected_version is not None and world.case.version != expected_version:
        # Moved since the person looked: tell them that, not why the step no longer fits.
        raise MoveRefused(event, [CHANGED_MEANWHILE])
    reasons, verdicts = check_move(world, event, actor, params, reason)
    if reasons:
        raise MoveRefused(event, reasons)
    s, case, wf = world.session, world.case, world.workflow
    claim_case(s, case, case.version if expected_version is None else expected_version, event)
    now = world.clock.now()
    old = case.state
    new = fire(wf, case.case_type, old, event)
    evidence = snapshot(world)
    evidence["guards"] = [{"ok": v.ok, "reason": v.reason, **({"evidence": v.evidence} if v.evidence else {})} for v in verdicts]
    evidence["provenance"] = step_provenance(wf, now)
    move = CaseMove(case_id=case.id, event=event, from_state=old, to_state=new, actor=actor.username,
                    actor_role=actor.role, at=now, reason=reason or "", params=params, evidence=evidence)
    s.add(move)
    record(s, now, actor.username, "case.move", f"case:{case.id}", school_id=case.school_id, event=event,
           from_state=old, to_state=new, reason=reason or "", role=actor.role)
    case.state = new
    case.updated_at = now
    case.proposals = [p for p in case.proposals if p.get("event") != event]
    ct = wf.case_type(case.case_type)
    if ct.states[new].final:
        case.closed_at = now
        case.safeguarding = False
        write_pending_notifications(s)
        resolve_case_alerts(s, case, actor.username, f"case closed ({ct.states[new].label})", now)
        withdraw_on_closing(s, case, ct.states[new].label, by=actor.username, now=now)  # before its own letters
    s.add(case)
    s.flush()
    _settle_timers(world, event, old, new, now)
    for action in ct.states[new].on_enter:
        run_action(world, action, move=move, params=params, source=f"move:{move.id}")
    s.flush()
    return move


CHANGED_MEANWHILE = "someone else changed this case a moment ago: look at it again before you act"


def claim_case(session: Session, case: Case, seen: int, event: str) -> None:
    """Move the case's version on from the one ``seen``, atomically: of two people moving the
    same case at once, the second finds the version gone and is told (a row lock on
    PostgreSQL, the write lock on SQLite, make them queue)."""
    done = session.execute(update(Case).where(Case.id == case.id, Case.version == seen)
                           .values(version=seen + 1)).rowcount
    if done != 1:
        raise MoveRefused(event, [CHANGED_MEANWHILE])
    case.version = seen + 1


def _settle_timers(world: CaseWorld, event: str, old: str, new: str, now: dt.datetime) -> None:
    """A move meets the timers waiting for it; leaving a state cancels the rest it started."""
    for t in world.session.exec(select(Timer).where(Timer.case_id == world.case.id, Timer.status == "open")):
        tdef = world.workflow.model.timers.get(t.kind)
        if tdef is not None and event in tdef.met_by:
            t.status, t.outcome = "met", f"met by {event.replace('_', ' ')}"
        elif old != new and t.state == old:
            t.status, t.outcome = "cancelled", f"case moved on to {new.replace('_', ' ')}"
        else:
            continue
        t.outcome_at = now
        world.session.add(t)


def run_action(world: CaseWorld, action: Action, *, move: CaseMove | None = None, params: dict | None = None,
               source: str = "") -> None:
    s, case, wf = world.session, world.case, world.workflow
    if not pupil_matches(world.pupil, action.pupils):
        return  # an action for some pupils only (e.g. a first-day visit where there are prior concerns)
    now = world.clock.now()
    kind = action.kind
    if kind == "letter":
        exists = s.exec(select(LetterRequest).where(
            LetterRequest.case_id == case.id, LetterRequest.template == action.letter,
            LetterRequest.move_id == (move.id if move else None))).first()
        if exists is None:
            s.add(LetterRequest(school_id=case.school_id, case_id=case.id, move_id=move.id if move else None,
                                template=action.letter, queued_at=now))
    elif kind == "timer":
        start_timer(world, action.timer, params or {})
    elif kind == "notify":
        for role in sorted(wf.roles_for(action.notify)):
            notify(s, case, role, action.message or _default_message(world), action_key(case.id, source, "notify", role), now)
    elif kind == "safeguarding":
        case.safeguarding = True
        s.add(case)
        for role in ("dsl", "deputy_dsl"):
            notify(s, case, role, f"{world.pupil.name}: {action.safeguarding}", action_key(case.id, source, "safeguarding", role), now,
                   queue="safeguarding")
    elif kind == "propose":
        propose(case, action.propose, action.message or "proposed by the workflow", now, source)
        s.add(case)
    elif kind == "move":
        try:
            move_case(world, action.move, Actor.system(), reason=action.message or f"automatic: {source}")
        except MoveRefused as exc:
            propose(case, action.move, "; ".join(exc.reasons), now, source)
    elif kind == "penalty_notices":
        record_penalty_notices(world, params or {}, now)


def _default_message(world: CaseWorld) -> str:
    ct = world.workflow.case_type(world.case.case_type)
    return f"{world.pupil.name}: {ct.label} case is now at {ct.states[world.case.state].label}"


def action_key(case_id, source, what: str, role: str, join=None):
    """The key that stops a workflow action's notification being added twice:
    ``case:<case>:<source>:<what>:<role>`` (``source`` is what ran the action, e.g. ``timer:12``).
    ``join`` joins the parts instead of Python: the sweep passes one that joins SQL expressions."""
    parts = ("case:", case_id, ":", source, f":{what}:{role}")
    return join(parts) if join is not None else "".join(map(str, parts))


def notify(s: Session, case: Case, role: str, message: str, key: str, now: dt.datetime,
           queue: str = "nudge") -> bool:
    """Add a notification once: a second call with the same key (``action_key``) does nothing."""
    row = dict(school_id=case.school_id, case_id=case.id, role=role, queue=queue, message=message, created_at=now,
               dedupe_key=key)
    pending = s.info.get(_PENDING_NOTIFICATIONS)
    if pending is not None:  # written in bulk later; one already in the database is kept (see notifications_in_bulk)
        if key in pending:
            return False
        pending[key] = row
        return True
    if s.exec(select(Notification.id).where(Notification.dedupe_key == key)).first() is not None:
        return False
    s.add(Notification(**row))
    return True


_PENDING_NOTIFICATIONS = "casework.pending_notifications"


@contextmanager
def notifications_in_bulk(s: Session) -> Iterator[None]:
    """While the block runs, ``notify`` keeps what it adds rather than asking the database
    whether each key is already there, and the lot is written with one statement when the block
    ends (or before anything reads a case's alerts: ``write_pending_notifications``). The key's
    unique constraint keeps a notification already in the database (``ON CONFLICT DO
    NOTHING``), so the result is the same as adding them one at a time. For work over many
    cases at once (the sweep)."""
    s.info[_PENDING_NOTIFICATIONS] = {}
    try:
        yield
        write_pending_notifications(s)
    finally:
        s.info.pop(_PENDING_NOTIFICATIONS, None)


def write_pending_notifications(s: Session) -> None:
    pending = s.info.get(_PENDING_NOTIFICATIONS)
    if not pending:
        return
    dialect = s.bind.dialect.name
    new = (pg_insert if dialect == "postgresql" else sqlite_insert)(Notification.__table__)
    s.connection().execute(new.on_conflict_do_nothing(index_elements=["dedupe_key"]), list(pending.values()))
    pending.clear()


def propose(case: Case, event: str, reason: str, now: dt.datetime, source: str = "") -> None:
    proposals = with_proposal(case.proposals, event, reason, now, source)
    if proposals is not case.proposals:
        case.proposals = proposals


def with_proposal(proposals: list, event: str, reason: str, now: dt.datetime, source: str = "") -> list:
    """A case's proposals with ``event`` proposed: the same list if it already is."""
    if any(p.get("event") == event for p in proposals):
        return proposals
    return [*proposals, {"event": event, "reason": reason, "source": source, "proposed_at": now.isoformat()}]


@dataclass(frozen=True)
class Due:
    """When a timer falls due, and for a deadline in school days what it counted (from
    ``count_from``, ``school_days`` of them), so it can be counted again when the calendar grows."""

    at: dt.datetime
    count_from: dt.date | None = None
    school_days: int | None = None


END_OF_DAY = dt.time(18, 0)  # a deadline in days, with no time of its own, runs to the end of that day


def timer_due(world: CaseWorld, tdef: TimerDef, params: dict) -> Due:
    """When a timer falls due, on the school's calendar where it counts school days."""
    now = world.clock.now()
    cal, school = world.calendar, world.school
    if tdef.from_ == "concern_start" and world.case.concern_start:
        start = world.case.concern_start
    elif tdef.from_ == "notice_received" and (notices := latest_notices(world)):
        start = max(n.received_on or n.issued_on for n in notices)
    else:
        start = now.date()
    due = tdef.due
    count = params.get(tdef.param) if tdef.param and params.get(tdef.param) is not None else None
    when = due.at or END_OF_DAY
    if due.hours is not None:
        base = at(start, session_close_time(school, "AM")) if tdef.from_ == "register_close" else now
        return Due(base + dt.timedelta(hours=count if count is not None else due.hours))
    if due.school_days is not None:
        n = count if count is not None else due.school_days
        day, _ = cal.count_school_days(start, n)
        return Due(at(day, when), start, n)
    if due.calendar_days is not None:
        day = start + dt.timedelta(days=count if count is not None else due.calendar_days)
    else:
        day = start + dt.timedelta(weeks=count if count is not None else due.weeks)
    return Due(at(day, when))


def latest_notices(world: CaseWorld) -> list[PenaltyNotice]:
    """The penalty notices recorded on the case most recently (one per parent)."""
    rows = list(world.session.exec(select(PenaltyNotice).where(PenaltyNotice.case_id == world.case.id)
                                   .order_by(PenaltyNotice.issued_on.desc(), PenaltyNotice.id.desc())))
    return [n for n in rows if n.issued_on == rows[0].issued_on] if rows else []


def start_timer(world: CaseWorld, name: str, params: dict) -> Timer | None:
    tdef = world.workflow.timer(name)
    now = world.clock.now()
    if tdef.reduced_rate_only and not any(n.reduced_amount for n in latest_notices(world)):
        return None  # a second notice has no reduced rate: no window to chase
    open_same = world.session.exec(select(Timer).where(
        Timer.case_id == world.case.id, Timer.kind == name, Timer.status == "open")).first()
    if open_same is not None:
        return open_same
    due = timer_due(world, tdef, params)
    timer = Timer(school_id=world.case.school_id, case_id=world.case.id, kind=name, label=tdef.label, role=tdef.role,
                  state=world.case.state, started_at=now, due_at=due.at,
                  count_from=due.count_from, school_days=due.school_days)
    world.session.add(timer)
    world.session.flush()
    return timer


def open_case(session: Session, school: School, pupil: Pupil, workflow: Workflow, case_type: str, *, concern: str,
              concern_start: dt.date | None, clock: Clock, actor: Actor, reason: str,
              calendar: SchoolCalendar | None = None, evidence: dict | None = None, state: str | None = None,
              none_open: bool = False) -> Case:
    """Open a case in its type's initial state (never a second open case for the same concern).
    ``none_open``: the caller has just read that the pupil has no open case of this type."""
    existing = None if none_open else find_open_case(session, pupil.id, case_type, concern)
    if existing is not None:
        return existing
    ct = workflow.case_type(case_type)
    now = clock.now()
    state = state or ct.initial
    case = Case(school_id=school.id, pupil_id=pupil.id, case_type=case_type, state=state, concern=concern,
                concern_start=concern_start, workflow=workflow.ref, opened_at=now, opened_by=actor.username,
                updated_at=now)
    owner = owner_for(session, workflow, case, pupil)
    case.owner_id = owner.id if owner else None
    session.add(case)
    session.flush()
    evidence = dict(evidence or {})
    evidence.setdefault("provenance", step_provenance(workflow, now))
    move = CaseMove(case_id=case.id, event="open", from_state=None, to_state=state, actor=actor.username,
                    actor_role=actor.role, at=now, reason=reason, evidence=evidence)
    session.add(move)
    session.flush()
    world = CaseWorld(session, case, pupil, school, workflow, calendar or load_calendar(session, school.id), clock)
    for action in ct.states[state].on_enter:
        run_action(world, action, move=move, source=f"move:{move.id}")
    return case


def concern_key(workflow: Workflow, case_type: str, start: dt.date | None) -> str:
    """What a case is about: the case type, or for an episode type (each run of absence, each
    leave request) the case type and the day the episode started."""
    if workflow.case_type(case_type).per == "episode" and start is not None:
        return f"{case_type}:{start.isoformat()}"
    return case_type


def find_open_case(session: Session, pupil_id: int, case_type: str, concern: str | None = None) -> Case | None:
    q = select(Case).where(Case.pupil_id == pupil_id, Case.case_type == case_type, Case.closed_at.is_(None))
    if concern is not None:
        q = q.where(Case.concern == concern)
    return session.exec(q.order_by(Case.opened_at)).first()


def snapshot(world: CaseWorld) -> dict:
    """The figures and marks behind a move, as they stand now (kept with the move)."""

    return case_evidence(world)


def history(session: Session, case_id: int) -> list[CaseMove]:
    return list(session.exec(select(CaseMove).where(CaseMove.case_id == case_id).order_by(CaseMove.at, CaseMove.id)))


def findings(session: Session, case_id: int) -> list[CaseFinding]:
    return list(session.exec(select(CaseFinding).where(CaseFinding.case_id == case_id).order_by(CaseFinding.found_on)))


def london(moment: dt.datetime) -> dt.datetime:
    return moment.astimezone(LONDON)
