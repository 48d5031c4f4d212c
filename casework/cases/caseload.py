"""What a person works from: the open caseload with its next deadlines, today's first-day
calls, the DSL's safeguarding queue and the decisions waiting for the headteacher.

Reads only; every change to a case goes through ``casework.cases.moves.move_case``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from sqlalchemy import String, and_, cast, func, or_
from sqlalchemy import case as sql_case
from sqlmodel import Session, select

from casework.cases.assignment import owner_filter
from casework.cases.early_warnings import register_stamp
from casework.cases.moves import check_move
from casework.cases.world import CaseWorld
from casework.figures.stats import pupil_figures
from casework.register.calendar import school_year_start
from casework.register.store import load_calendar
from casework.store.casemodels import Case, CaseMove, Notification
from casework.store.models import PUPIL_FLAGS, Contact, Pupil, School, User
from casework.timers import Deadline, next_deadlines, stored_next_deadlines
from casework.workflow import for_school


@dataclass
class CaseloadRow:
    case: Case
    pupil: Pupil
    deadline: Deadline | None
    owner: str = ""  # the owner's name ("" when nobody owns the case)
    attendance: float | None = None  # this school year to date
    recent: float | None = None  # the workflow's recent school weeks (thresholds.recent_school_weeks)
    trend: str | None = None  # up, down or steady: recent against the year, by thresholds.trend_points


@dataclass
class Caseload:
    rows: list[CaseloadRow]
    total: int
    overdue: int
    counts: dict[str, int] = field(default_factory=dict)  # mine, team, unassigned (before the owner filter)
    who: str = "team"  # whose cases these are: mine, team or unassigned


SORTS = ("due", "pupil", "year", "attendance", "type", "state", "owner", "opened")


def open_caseload(session: Session, school_id: int, now: dt.datetime, *, state: str | None = None,
                  case_type: str | None = None, year_group: int | None = None, flag: str | None = None,
                  safeguarding_only: bool = False, who: str = "team", user_id: int | None = None,
                  sort: str = "due", limit: int = 100, offset: int = 0) -> Caseload:
    """Open cases, by default overdue deadlines first, then the soonest due, then the longest
    open; ``who`` is mine (owned by ``user_id``), unassigned or the team's, or "" for mine unless
    nothing is, then the team's; ``sort`` one of SORTS."""
    if sort not in SORTS:
        raise ValueError(f"unknown sort {sort!r} (one of: {', '.join(SORTS)})")
    narrow = lambda q: _filtered(q, state, case_type, year_group, flag, safeguarding_only)  # noqa: E731
    counts, overdue_by = _tab_counts(session, school_id, now, user_id, narrow, by_pupil=_by_pupil(year_group, flag))
    who = who or ("mine" if counts["mine"] else "team")
    total, overdue = counts[who], overdue_by[who]
    # The next deadline is kept on the case (casework.timers keeps it). Overdue first, then the
    # soonest due, then none: an overdue deadline is due before any that is not, so ascending
    # order with no deadline last does it.
    by_due = (Case.next_due_at.nulls_last(),)
    order = {"due": by_due, "pupil": (Pupil.surname, Pupil.forename), "year": (Pupil.year_group, Pupil.surname),
             "type": (Case.case_type, *by_due), "state": (Case.state, *by_due),
             "owner": (User.name.is_(None), User.name, *by_due), "opened": (Case.opened_at,),
             "attendance": by_due}[sort]
    # The page's case ids first, from the open cases' index (the pupil or owner joined only where
    # the sort or a filter needs them); then only those cases are read in full.
    columns = (Case.id, Case.pupil_id) if sort == "attendance" else (Case.id,)
    q = select(*columns).where(Case.school_id == school_id, Case.closed_at.is_(None))
    if sort in ("pupil", "year") or _by_pupil(year_group, flag):
        q = q.join(Pupil, Pupil.id == Case.pupil_id)
    if sort == "owner":
        q = q.outerjoin(User, User.id == Case.owner_id)
    q = owner_filter(narrow(q), who, user_id).order_by(*order, Case.opened_at, Case.id)
    # Each pupil's attendance, a figure of the register rather than a column: the school's figures
    # are kept until a register changes (what sorting by attendance needs, and cheaper than
    # counting the page's pupils' marks on every request).
    year_pct, recent_pct, points = school_attendance(session, school_id, now.date())
    if sort == "attendance":
        ids = [cid for cid, _ in sorted(session.exec(q).all(), key=lambda r: (year_pct.get(r[1]) is None,
                                                                                 year_pct.get(r[1]) or 0.0))]
        ids = ids[offset:offset + limit]
    else:
        ids = list(session.exec(q.limit(limit).offset(offset)).all())
    got = {c.id: (c, p, name) for c, p, name in session.exec(
        select(Case, Pupil, User.name).join(Pupil, Pupil.id == Case.pupil_id)
        .outerjoin(User, User.id == Case.owner_id).where(Case.id.in_(ids))).all()}
    rows = [got[i] for i in ids]
    out = [CaseloadRow(c, p, None, owner or "", year_pct.get(p.id), recent_pct.get(p.id),
                       trend(year_pct.get(p.id), recent_pct.get(p.id), points)) for c, p, owner in rows]
    deadlines = stored_next_deadlines(session, [(r.case, r.pupil) for r in out], now)
    for r in out:
        r.deadline = deadlines.get(r.case.id)
    return Caseload(out, total, overdue, counts, who)


def _tab_counts(session: Session, school_id: int, now: dt.datetime, user_id: int | None, narrow, by_pupil: bool):
    """Each tab's open cases and overdue cases (those whose next deadline is already due), over
    the whole caseload as ``narrow`` filters it, with one count over the open cases' index (and
    the pupils, ``by_pupil``, when a filter is on theirs)."""
    tabs = {"team": Case.id.is_not(None), "mine": Case.owner_id == user_id, "unassigned": Case.owner_id.is_(None)}
    overdue = Case.next_due_at <= now
    q = select(*(func.count(sql_case((cond, 1))) for cond in tabs.values()),
               *(func.count(sql_case((and_(cond, overdue), 1))) for cond in tabs.values())).select_from(Case)
    if by_pupil:
        q = q.join(Pupil, Pupil.id == Case.pupil_id)
    got = session.exec(narrow(q.where(Case.school_id == school_id, Case.closed_at.is_(None)))).one()
    return dict(zip(tabs, got[:len(tabs)])), dict(zip(tabs, got[len(tabs):]))


def _by_pupil(year_group: int | None, flag: str | None) -> bool:
    """Whether the filters are on the pupil (so a query on the cases must join the pupils)."""
    return year_group is not None or bool(flag)


# (database, school, day, recent window start) -> (the register's stamp, year %, recent %)
_FIGURES: dict[tuple, tuple[tuple, dict[int, float | None], dict[int, float | None]]] = {}


def school_attendance(session: Session, school_id: int, today: dt.date):
    """Every pupil's attendance this school year and over the workflow's recent school weeks (the
    same window the early-warning rule reads), kept until any register changes (the early
    warnings' stamp) or the day does: what the caseload shows and sorts by."""
    t = for_school(session.get(School, school_id).workflow).model.thresholds
    year_start, recent_start = _windows(session, school_id, today, t.recent_school_weeks)
    bind = session.get_bind()
    key = (id(bind), str(bind.url), school_id, today, recent_start)
    stamp = register_stamp(session)
    hit = _FIGURES.get(key)
    if hit is None or hit[0] != stamp:
        year = {r.pupil_id: r.figures.attendance_pct for r in pupil_figures(session, school_id, year_start, today)}
        recent = {r.pupil_id: r.figures.attendance_pct
                  for r in pupil_figures(session, school_id, recent_start, today)}
        if len(_FIGURES) > 16:
            _FIGURES.clear()
        hit = _FIGURES[key] = (stamp, year, recent)
    return hit[1], hit[2], t.trend_points


def _windows(session: Session, school_id: int, today: dt.date, recent_weeks: int) -> tuple[dt.date, dt.date]:
    year_start = school_year_start(today)
    return year_start, max(year_start, load_calendar(session, school_id).window_start_for(today, recent_weeks)
                           or today)


def _filtered(q, state, case_type, year_group, flag, safeguarding_only):
    if state:
        q = q.where(Case.state == state)
    if case_type:
        q = q.where(Case.case_type == case_type)
    if year_group is not None:
        q = q.where(Pupil.year_group == year_group)
    if flag:
        if flag not in PUPIL_FLAGS:
            raise ValueError(f"unknown flag {flag!r}")
        q = q.where(getattr(Pupil, flag).is_(True))
    if safeguarding_only:
        q = q.where(Case.safeguarding.is_(True))
    return q


def trend(year: float | None, recent: float | None, points: float) -> str | None:
    """up, down or steady: recent attendance against the year's, ``points`` either way."""
    if year is None or recent is None:
        return None
    if recent >= year + points:
        return "up"
    if recent <= year - points:
        return "down"
    return "steady"


def caseload_filters(session: Session, school_id: int) -> dict:
    """The values the caseload can be filtered by (states and types actually open)."""
    rows = session.exec(select(Case.case_type, Case.state, Case.workflow)
                        .where(Case.school_id == school_id, Case.closed_at.is_(None))
                        .group_by(Case.case_type, Case.state, Case.workflow)).all()
    types: dict[str, str] = {}
    states: dict[str, str] = {}
    for ct_name, st, wf_key in rows:
        ct = for_school(wf_key).case_type(ct_name)
        types[ct_name] = ct.label
        states[st] = ct.states[st].label if st in ct.states else st
    years = sorted(session.exec(select(Pupil.year_group).where(Pupil.school_id == school_id)
                                .group_by(Pupil.year_group)).all())
    return {"types": types, "states": dict(sorted(states.items(), key=lambda kv: kv[1])), "years": years,
            "flags": PUPIL_FLAGS}


@dataclass
class CallItem:
    case: Case
    pupil: Pupil
    contacts: list[Contact]
    deadline: Deadline | None
    calls: int = 0  # no-answer calls recorded so far


def first_day_calls(session: Session, school_id: int, now: dt.datetime) -> list[CallItem]:
    """Open unexplained-absence cases awaiting contact, with contacts in call order."""

    rows = session.exec(select(Case, Pupil).join(Pupil, Pupil.id == Case.pupil_id)
                        .where(Case.school_id == school_id, Case.case_type == "unexplained_absence",
                               Case.closed_at.is_(None))
                        .order_by(Case.concern_start, Pupil.surname, Pupil.forename)).all()
    ids = [c.id for c, _ in rows]
    contacts: dict[int, list[Contact]] = {}
    for ct in session.exec(select(Contact).where(Contact.pupil_id.in_([p.id for _, p in rows]))
                           .order_by(Contact.call_priority, Contact.id)):
        contacts.setdefault(ct.pupil_id, []).append(ct)
    calls = dict(session.exec(select(CaseMove.case_id, func.count()).where(
        CaseMove.case_id.in_(ids), CaseMove.event == "record_no_answer").group_by(CaseMove.case_id)).all())
    deadlines = next_deadlines(session, ids, now)
    return [CallItem(c, p, contacts.get(p.id, []), deadlines.get(c.id), calls.get(c.id, 0)) for c, p in rows]


@dataclass
class QueueItem:
    case: Case
    pupil: Pupil
    alerts: list[Notification] = field(default_factory=list)


def safeguarding_queue(session: Session, school_id: int) -> list[QueueItem]:
    """The DSL's queue: cases flagged for safeguarding, and unresolved safeguarding alerts."""
    alerts = session.exec(select(Notification).where(
        Notification.school_id == school_id, Notification.queue == "safeguarding",
        Notification.resolved_at.is_(None), Notification.role == "dsl").order_by(Notification.created_at.desc())).all()
    by_case: dict[int, list[Notification]] = {}
    for n in alerts:
        if n.case_id is not None:
            by_case.setdefault(n.case_id, []).append(n)
    rows = session.exec(select(Case, Pupil).join(Pupil, Pupil.id == Case.pupil_id).where(
        Case.school_id == school_id,
        or_(Case.safeguarding.is_(True), Case.id.in_(list(by_case)))).order_by(Case.updated_at.desc())).all()
    items = [QueueItem(c, p, by_case.get(c.id, [])) for c, p in rows]
    items.sort(key=lambda i: (i.case.closed_at is not None, -max([n.created_at.timestamp() for n in i.alerts]
                                                                  or [i.case.updated_at.timestamp()])))
    return items


LEAVE_DECISIONS = ("authorise_leave", "refuse_leave")  # the moves that decide a leave request


@dataclass
class DecisionOption:
    event: str
    label: str
    allowed: bool
    reasons: list[str]
    reason_required: bool


@dataclass
class Decision:
    case: Case
    pupil: Pupil
    kind: str  # leave_request | proposal
    event: str
    label: str
    reason: str
    options: list[DecisionOption] = field(default_factory=list)  # leave requests: authorise / refuse, for the actor


def decisions_waiting(session: Session, school_id: int, actor=None, clock=None) -> list[Decision]:
    """Leave requests to decide, and formal steps a rule or deadline has proposed.

    With an actor (and the clock), each leave request carries its deciding moves: allowed for
    this person now, or refused with the domain's reasons (role, guards such as no leave
    granted after it has started)."""

    out: list[Decision] = []
    rows = session.exec(select(Case, Pupil).join(Pupil, Pupil.id == Case.pupil_id).where(
        Case.school_id == school_id, Case.closed_at.is_(None),
        or_(Case.case_type == "leave", cast(Case.proposals, String) != "[]")).order_by(Case.opened_at)).all()
    calendar = None
    for c, p in rows:
        wf = for_school(c.workflow)
        ct = wf.case_type(c.case_type)
        if c.case_type == "leave" and c.state == ct.initial:
            d = Decision(c, p, "leave_request", "", "Leave request", f"from {c.concern_start:%d %B %Y}"
                         if c.concern_start else "leave requested")
            if actor is not None and clock is not None:
                world = CaseWorld.load(session, c, clock, calendar)
                calendar = world.calendar
                for ev in LEAVE_DECISIONS:
                    if ev not in ct.moves:
                        continue
                    mv = ct.moves[ev]
                    reasons, _ = check_move(world, ev, actor, reason="(checking)")
                    d.options.append(DecisionOption(ev, mv.label or ev.replace("_", " "), not reasons, reasons,
                                                    mv.reason_required))
            out.append(d)
        for prop in c.proposals:
            mv = ct.moves.get(prop.get("event", ""))
            # a proposal whose step no longer starts from where the case is has gone stale: not a decision
            if mv is not None and mv.formal and (c.state in mv.from_ or "*" in mv.from_):
                out.append(Decision(c, p, "proposal", prop["event"], mv.label or prop["event"],
                                    prop.get("reason", "")))
    return out


def list_cases(session: Session, school_id: int | None = None, *, state: str | None = None,
               case_type: str | None = None, include_closed: bool = False) -> list[Case]:
    """Cases in the order they were opened, filtered by school, state and type."""
    q = select(Case)
    if school_id is not None:
        q = q.where(Case.school_id == school_id)
    if state:
        q = q.where(Case.state == state)
    if case_type:
        q = q.where(Case.case_type == case_type)
    if not include_closed:
        q = q.where(Case.closed_at.is_(None))
    return list(session.exec(q.order_by(Case.opened_at, Case.id)))
