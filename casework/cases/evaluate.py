"""The daily job for one school: run the rules as of a date, open or add to cases,
propose formal steps for a person to take, and lapse the timers that fell due.

Deterministic and repeatable: evaluating the same date twice changes nothing the
second time (a finding is attached to a case once; a concern already under an open
case never opens a second one; notifications carry a key and are added once).
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from casework.cases.assignment import staff_remembered
from casework.cases.evidence import rule_config
from casework.cases.moves import Actor, concern_key, notifications_in_bulk, open_case, propose
from casework.cases.provenance import FindingTrail
from casework.cases.withdrawal import withdraw_left_by_closed_cases
from casework.clock import Clock
from casework.register.calendar import school_year_start
from casework.register.store import get_school, load_calendar
from casework.rules import RegisterMatrix, evaluate_all, evaluate_school, evaluation_start
from casework.states.machine import sources
from casework.store.casemodels import Case, CaseFinding, LetterRequest, Notification
from casework.store.db import session_scope
from casework.store.models import Pupil, School
from casework.timers import sweep
from casework.workflow import for_school, pupil_matches


@dataclass
class EvaluationReport:
    school: str
    as_of: dt.date
    findings: Counter = field(default_factory=Counter)
    opened: list[dict] = field(default_factory=list)
    attached: int = 0
    proposed: list[dict] = field(default_factory=list)
    notified: int = 0
    timers: list[dict] = field(default_factory=list)
    withdrawn: list[dict] = field(default_factory=list)
    letters: list[dict] = field(default_factory=list)  # automatic letters queued (letters_by_level)
    letters_withdrawn: int = 0  # letters still queued on cases closed before closing withdrew them

    def as_dict(self) -> dict:
        return {
            "school": self.school, "as_of": self.as_of.isoformat(), "findings": dict(self.findings),
            "cases_opened": self.opened, "findings_added": self.attached, "proposed": self.proposed,
            "letters_queued": self.letters,
            "notifications": self.notified, "timers_lapsed": self.timers, "proposals_withdrawn": self.withdrawn,
            "letters_withdrawn": self.letters_withdrawn,
        }


def evaluate(engine: Engine, urn: str, clock: Clock,
             registers: Callable[[dt.date, dt.date], RegisterMatrix] | None = None) -> EvaluationReport:
    """Rules, then timers, as of the clock's today. ``registers(start, end)``, when given, hands
    the rules the register instead of reading it (a replay over a copy whose marks never change)."""

    as_of = clock.today()
    with session_scope(engine) as s:
        school = get_school(s, urn)
        wf = for_school(school.workflow)
        calendar = load_calendar(s, school.id)
        report = EvaluationReport(urn, as_of)
        if calendar.first_day is None or as_of < calendar.first_day:
            return report
        config = rule_config(wf)
        if registers is None:
            found = evaluate_school(s, school.id, calendar, config, as_of)
        else:
            found = evaluate_all(registers(evaluation_start(calendar, config, as_of), as_of), calendar, config, as_of)
        found_for = sorted({f.pupil_id for f in found})  # only the pupils a rule found something about
        pupils = {p.id: p for p in s.exec(select(Pupil).where(Pupil.school_id == school.id,
                                                              Pupil.id.in_(found_for)))} if found_for else {}
        still_found: set[tuple[int, str]] = set()
        seen = _Seen.load(s, school.id, FindingTrail(wf, clock.now(), as_of))
        with notifications_in_bulk(s), staff_remembered(s):
            for f in found:
                if not pupil_matches(pupils[f.pupil_id], wf.model.rules[f.rule].pupils):
                    continue  # the workflow acts on this rule only for some pupils (e.g. RAG-listed)
                report.findings[f.rule] += 1
                still_found.add((f.pupil_id, f.rule))
                _act_on(s, school, wf, calendar, pupils[f.pupil_id], f, clock, report, seen)
        report.withdrawn = _withdraw_stale_proposals(s, school, still_found)
        report.letters_withdrawn = withdraw_left_by_closed_cases(s, school.id, by="nightly", now=clock.now())
    report.timers = sweep(engine, clock, worker=f"evaluate:{urn}", school_id=school.id).lapsed
    return report


@dataclass
class _Seen:
    """What the school's open cases already hold, read once per evaluation rather than once per
    finding (most findings are found again day after day and change nothing)."""

    trail: FindingTrail
    open_cases: dict[tuple[int, str], Case]  # (pupil, case type) -> the earliest open case
    findings: set[tuple[int, str, str]]  # (case, rule, key) attached
    notified: set[str]  # finding notifications' dedupe keys
    last_letter: dict[tuple[int, str], dt.datetime]  # (pupil, letter) -> when last queued (any case)
    closed: set[tuple[int, str]]  # (pupil, case type) with a closed case

    @classmethod
    def load(cls, s: Session, school_id: int, trail: FindingTrail) -> _Seen:
        open_cases: dict[tuple[int, str], Case] = {}
        for c in s.exec(select(Case).where(Case.school_id == school_id, Case.closed_at.is_(None))
                        .order_by(Case.opened_at, Case.id)):
            open_cases.setdefault((c.pupil_id, c.case_type), c)
        found = s.exec(select(CaseFinding.case_id, CaseFinding.rule, CaseFinding.key).join(Case, Case.id == CaseFinding.case_id)
                       .where(Case.school_id == school_id, Case.closed_at.is_(None))).all()
        notified = s.exec(select(Notification.dedupe_key).where(Notification.school_id == school_id,
                                                                Notification.dedupe_key.like("finding:%"))).all()
        last: dict[tuple[int, str], dt.datetime] = {}
        for pid, template, at in s.exec(select(Case.pupil_id, LetterRequest.template, LetterRequest.queued_at)
                                        .join(Case, Case.id == LetterRequest.case_id)
                                        .where(Case.school_id == school_id)):
            if (pid, template) not in last or at > last[(pid, template)]:
                last[(pid, template)] = at
        closed = s.exec(select(Case.pupil_id, Case.case_type).where(Case.school_id == school_id,
                                                                    Case.closed_at.is_not(None)).distinct()).all()
        return cls(trail, open_cases, {tuple(r) for r in found}, set(notified), last, {tuple(r) for r in closed})


def _act_on(s: Session, school: School, wf, calendar, pupil: Pupil, f, clock: Clock, report: EvaluationReport,
            seen: _Seen) -> None:
    wiring = wf.model.rules[f.rule]
    now = clock.now()
    for role in sorted(wf.roles_for(wiring.notify)):
        key = f"finding:{f.rule}:{pupil.id}:{f.concern}:{role}"
        if key not in seen.notified:
            s.add(Notification(school_id=school.id, role=role, message=f"{pupil.name}: {f.summary}",
                               created_at=now, dedupe_key=key))
            seen.notified.add(key)
            report.notified += 1
    if wiring.opens is None:
        return
    ct = wf.case_type(wiring.opens)
    case = seen.open_cases.get((pupil.id, wiring.opens))
    if case is None and (pupil.id, wiring.opens) in seen.closed \
            and _recently_closed(s, pupil, ct, wiring.opens, f, calendar, clock):
        return
    if case is None:
        # The concern starts with its first piece of evidence (the first day of a holiday or
        # of a run of absence), else with the period the rule looked at.
        start = min(e[0] for e in f.evidence) if f.evidence else (f.period[0] if f.period else None)
        concern = concern_key(wf, wiring.opens, start)
        case = open_case(s, school, pupil, wf, wiring.opens, concern=concern, concern_start=start, clock=clock,
                         actor=Actor.system(), reason=f"opened by rule {f.rule}: {f.summary}", calendar=calendar,
                         evidence={"finding": f.as_dict(), "provenance": seen.trail.of(f)}, state=wiring.open_state,
                         none_open=True)  # seen holds every open case of the school
        seen.open_cases[(pupil.id, wiring.opens)] = case
        report.opened.append({"case_id": case.id, "upn": pupil.upn, "type": wiring.opens, "rule": f.rule})
    key = f.concern
    if (case.id, f.rule, key) not in seen.findings:
        d = f.as_dict()
        s.add(CaseFinding(case_id=case.id, rule=f.rule, key=key, found_on=clock.today(), summary=f.summary,
                          figures=d.get("figures", {}), evidence=d.get("evidence", []), formal=f.formal,
                          provenance=seen.trail.of(f)))
        seen.findings.add((case.id, f.rule, key))
        report.attached += 1  # written with the next flush: nothing below reads it back
    letter = wiring.letters_by_level.get(f.level)
    if letter and _letter_due_again(seen.last_letter.get((pupil.id, letter)), wiring.letter_again, calendar, clock):
        d = f.as_dict()
        s.add(LetterRequest(school_id=school.id, case_id=case.id, move_id=None, template=letter, queued_at=now,
                            provenance={**seen.trail.of(f), "summary": f.summary, "figures": d["figures"],
                                        "evidence": d["evidence"]}))
        seen.last_letter[(pupil.id, letter)] = now
        report.letters.append({"case_id": case.id, "upn": pupil.upn, "letter": letter, "rule": f.rule,
                               "level": f.level})
    event = wiring.proposes_by_level.get(f.level, wiring.proposes)
    if event:
        mv = ct.moves.get(event)
        if mv is not None and case.state in sources(ct, mv.from_) and not any(
            p.get("event") == event for p in case.proposals
        ):
            propose(case, event, f.summary, now, f"rule:{f.rule}")
            s.add(case)
            report.proposed.append({"case_id": case.id, "upn": pupil.upn, "event": event, "rule": f.rule})


def _letter_due_again(last: dt.datetime | None, again, calendar, clock: Clock) -> bool:
    """Whether an automatic letter may be queued, given when the pupil was last sent it
    automatically: never twice for one crossing, and after the last one only as the workflow's
    ``letter_again`` allows (a new half term, a new school year, or N school weeks later)."""
    if last is None:
        return True
    last_day, today = last.astimezone(clock.now().tzinfo).date(), clock.today()
    if again == "half_term":
        return calendar.half_term_of(last_day) != calendar.half_term_of(today)
    if again == "school_year":
        return school_year_start(last_day) != school_year_start(today)
    return len(calendar.school_weeks(last_day, today)) - 1 >= int(again)


def _withdraw_stale_proposals(s: Session, school: School, still_found: set[tuple[int, str]]) -> list[dict]:
    """A step a rule proposed is withdrawn once that rule no longer finds it for the pupil
    (e.g. the holiday has left the rolling 10 school weeks): a headteacher should not be
    asked to act on evidence that no longer holds. Proposals from deadlines stay."""
    withdrawn = []
    for case in s.exec(select(Case).where(Case.school_id == school.id, Case.closed_at.is_(None))):
        keep = []
        for p in case.proposals:
            source = p.get("source", "")
            if source.startswith("rule:") and (case.pupil_id, source[5:]) not in still_found:
                withdrawn.append({"case_id": case.id, "event": p["event"], "rule": source[5:]})
            else:
                keep.append(p)
        if len(keep) != len(case.proposals):
            case.proposals = keep
            s.add(case)
    return withdrawn


def _recently_closed(s: Session, pupil: Pupil, ct, case_type: str, f, calendar, clock: Clock) -> bool:
    """Whether a person closed a case about this same concern recently enough that the
    finding should not open it again. A closed episode (e.g. one run of absence) never
    reopens; a pupil-level concern stays closed for ``reopen_after_school_days``."""
    closed = s.exec(
        select(Case).join(CaseFinding, CaseFinding.case_id == Case.id)
        .where(Case.pupil_id == pupil.id, Case.case_type == case_type, Case.closed_at.is_not(None),
               CaseFinding.rule == f.rule, CaseFinding.key == f.concern)
        .order_by(Case.closed_at.desc())
    ).first()
    if closed is None:
        return False
    if ct.per == "episode":
        return True
    closed_on = closed.closed_at.astimezone(clock.now().tzinfo).date()
    return calendar.school_days_between(closed_on, clock.today()) < ct.reopen_after_school_days


def open_cases(session: Session, school_id: int | None = None, state: str | None = None) -> list[Case]:
    q = select(Case)
    if school_id is not None:
        q = q.where(Case.school_id == school_id)
    if state is not None:
        q = q.where(Case.state == state)
    return list(session.exec(q.order_by(Case.opened_at, Case.id)))
