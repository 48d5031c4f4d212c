"""Named guards a workflow's moves may require. Each encodes law or policy, and when
it fails it says why in words a headteacher understands.

A workflow names guards by id (``guards: [penalty_threshold_met, support_offered]``);
``name:argument`` passes an argument (``timer_lapsed:traveller_return``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sqlmodel import select

from casework.cases.evidence import pupil_finding
from casework.cases.penalties import notices_within
from casework.clock import LONDON
from casework.register.calendar import school_year_start
from casework.register.codes import AUTHORISED_CODES, UNAUTHORISED_CODES
from casework.store.casemodels import Timer
from casework.store.models import Mark

if TYPE_CHECKING:
    from casework.cases.world import CaseWorld


@dataclass(frozen=True)
class GuardResult:
    ok: bool
    reason: str
    evidence: dict = field(default_factory=dict)


Guard = Callable[["CaseWorld", str | None], GuardResult]
GUARDS: dict[str, Guard] = {}
# What a guard's argument must be ("name:argument" in a workflow): a whole number of days,
# a timer of the workflow, optional ("?") or required. The workflow loader checks it.
GUARD_ARGS: dict[str, str] = {}


def guard(name: str, arg: str | None = None):
    def register(fn: Guard) -> Guard:
        GUARDS[name] = fn
        if arg is not None:
            GUARD_ARGS[name] = arg
        return fn

    return register


def run_guard(spec: str, ctx: CaseWorld) -> GuardResult:
    name, _, arg = spec.partition(":")
    return GUARDS[name](ctx, arg or None)


# -- the guards ---------------------------------------------------------------


@guard("penalty_threshold_met")
def penalty_threshold_met(ctx: CaseWorld, _arg: str | None) -> GuardResult:
    """National framework: 10 unauthorised sessions within a rolling 10 school weeks."""

    t = ctx.workflow.model.thresholds
    finding = pupil_finding(ctx.session, ctx.school, ctx.workflow, ctx.calendar, ctx.pupil, "penalty_threshold", ctx.today)
    if finding is not None:
        return GuardResult(True, finding.summary, {"penalty_threshold": finding.as_dict()})
    return GuardResult(
        False,
        f"the national threshold is not met: {ctx.pupil.forename} has not had {t.penalty_sessions} sessions of "
        f"unauthorised absence within {t.penalty_school_weeks} school weeks up to {ctx.today:%d %B %Y}",
    )


@guard("support_offered")
def support_offered(ctx: CaseWorld, _arg: str | None) -> GuardResult:
    """A notice needs support to have been offered first (national framework). Leave taken
    after a refused request is the exception: the workflow's leave case type does not ask
    for this guard, since support would not have been appropriate."""
    ct = ctx.workflow.case_type(ctx.case.case_type)
    visited = [m for m in ctx.history() if m.to_state in ct.support_states]
    if visited:
        first = visited[0]
        return GuardResult(True, f"support was offered: {ct.states[first.to_state].label} on {first.at:%d %B %Y}")
    labels = " or ".join(ct.states[s].label.lower() for s in ct.support_states) or "a support meeting"
    return GuardResult(
        False,
        f"no support has been offered yet: the case has not been through {labels}. A notice can only follow "
        "support that was not engaged with or did not work",
    )


@guard("penalty_notice_allowed")
def penalty_notice_allowed(ctx: CaseWorld, _arg: str | None) -> GuardResult:
    """At most two penalty notices per parent per child within 3 years; a third becomes a
    prosecution referral (national framework)."""
    p = ctx.workflow.model.penalties
    parents = ctx.parents()
    if not parents:
        return GuardResult(False, f"no parent with parental responsibility is recorded for {ctx.pupil.name}: a notice is issued per parent")
    blocked = []
    for c in parents:
        prior = notices_within(ctx, c)
        if len(prior) >= p.max_notices:
            dates = ", ".join(f"{n.issued_on:%d %b %Y}" for n in prior)
            blocked.append(f"{c.name} has already had {len(prior)} penalty notices for {ctx.pupil.forename} within {p.within_years} years ({dates})")
    if blocked:
        return GuardResult(False, "; ".join(blocked) + ". A further penalty notice is not allowed: refer for prosecution instead")
    return GuardResult(True, "penalty notice allowed for " + ", ".join(c.name for c in parents))


@guard("prosecution_grounds")
def prosecution_grounds(ctx: CaseWorld, _arg: str | None) -> GuardResult:
    """Prosecution follows when a parent has had the most notices the framework allows, or
    a notice went unpaid after its final date."""
    p = ctx.workflow.model.penalties
    reasons = []
    for c in ctx.parents():
        prior = notices_within(ctx, c)
        if len(prior) >= p.max_notices:
            reasons.append(f"{c.name} has had {len(prior)} penalty notices within {p.within_years} years")
        for n in prior:
            if n.status in ("issued", "unpaid") and n.due < ctx.today and n.paid_on is None:
                reasons.append(f"{c.name}'s penalty notice of {n.issued_on:%d %b %Y} was not paid by {n.due:%d %b %Y}")
    if reasons:
        return GuardResult(True, "; ".join(reasons))
    return GuardResult(
        False,
        f"no grounds for prosecution yet: no parent has had {p.max_notices} penalty notices within "
        f"{p.within_years} years, and no notice is unpaid after its final date",
    )


def _improvement_period(ctx: CaseWorld, arg: str | None) -> Timer | None:
    """The case's latest improvement period (the timer a notice to improve started)."""
    return ctx.session.exec(select(Timer).where(Timer.case_id == ctx.case.id, Timer.kind == (arg or "improvement_period"))
                            .order_by(Timer.started_at.desc())).first()


@guard("improvement_period_ended", arg="timer?")
def improvement_period_ended(ctx: CaseWorld, arg: str | None) -> GuardResult:
    """A penalty after a notice to improve waits for the improvement period to end, unless
    there is further unauthorised absence during it (a ground the notice states)."""

    timer = _improvement_period(ctx, arg)
    if timer is None:
        return GuardResult(False, "no improvement period has been set: issue a notice to improve first")
    if timer.due_at <= ctx.now:
        return GuardResult(True, f"the improvement period ended on {timer.due_at:%d %B %Y}")
    since = timer.started_at.date()
    marks = list(
        ctx.session.exec(
            select(Mark).where(Mark.pupil_id == ctx.pupil.id, Mark.date >= since, Mark.code.in_(UNAUTHORISED_CODES))
            .order_by(Mark.date, Mark.session)
        )
    )
    if marks:
        listed = ", ".join(f"{m.date:%d %b} {m.session} {m.code}" for m in marks[:10])
        return GuardResult(True, f"further unauthorised absence during the improvement period: {listed}",
                           {"marks": [(m.date.isoformat(), m.session, m.code) for m in marks]})
    return GuardResult(
        False,
        f"the improvement period runs until {timer.due_at:%d %B %Y} and there has been no unauthorised absence since the notice",
    )


@guard("absence_in_improvement_period", arg="timer?")
def absence_in_improvement_period(ctx: CaseWorld, arg: str | None) -> GuardResult:
    """A penalty after a notice to improve is judged on the improvement period's own
    absence: unauthorised absence between the notice and the period's end (or today). The
    sessions that led to the notice may have left the rolling 10 school weeks by then; they
    were the grounds for the notice, not for the penalty (docs/domain.md §2)."""

    timer = _improvement_period(ctx, arg)
    if timer is None:
        return GuardResult(False, "no improvement period has been set: issue a notice to improve first")
    start = timer.started_at.astimezone(LONDON).date()
    end = min(timer.due_at.astimezone(LONDON).date(), ctx.today)
    marks = list(ctx.session.exec(
        select(Mark).where(Mark.pupil_id == ctx.pupil.id, Mark.date >= start, Mark.date <= end,
                           Mark.code.in_(UNAUTHORISED_CODES)).order_by(Mark.date, Mark.session)))
    if not marks:
        return GuardResult(False, f"no unauthorised absence in the improvement period ({start:%d %B %Y} to "
                                  f"{end:%d %B %Y}): attendance improved, so no penalty notice follows")
    listed = ", ".join(f"{m.date:%d %b} {m.session} {m.code}" for m in marks[:10])
    more = f" and {len(marks) - 10} more" if len(marks) > 10 else ""
    return GuardResult(True, f"{len(marks)} sessions of unauthorised absence in the improvement period "
                             f"({start:%d %B %Y} to {end:%d %B %Y}): {listed}{more}",
                       {"marks": [(m.date.isoformat(), m.session, m.code) for m in marks]})


@guard("before_leave_starts")
def before_leave_starts(ctx: CaseWorld, _arg: str | None) -> GuardResult:
    """Leave can never be authorised retrospectively."""
    start = ctx.case.concern_start
    if start is None:
        return GuardResult(False, "the leave request has no start date")
    if ctx.today < start:
        return GuardResult(True, f"decided before the leave starts on {start:%d %B %Y}")
    return GuardResult(False, f"leave cannot be authorised retrospectively: it started on {start:%d %B %Y}")


@guard("timer_lapsed", arg="timer")
def timer_lapsed(ctx: CaseWorld, arg: str | None) -> GuardResult:
    """A deadline on the case has passed without being met."""
    timer = ctx.session.exec(
        select(Timer).where(Timer.case_id == ctx.case.id, Timer.kind == arg).order_by(Timer.started_at.desc())
    ).first()
    label = ctx.workflow.model.timers[arg].label if arg in ctx.workflow.model.timers else arg
    if timer is None:
        return GuardResult(False, f"the deadline '{label}' has not been started on this case")
    if timer.status == "lapsed" or (timer.status == "open" and timer.due_at <= ctx.now):
        return GuardResult(True, f"'{label}' passed on {timer.due_at:%d %B %Y} without being met")
    if timer.status == "met":
        return GuardResult(False, f"'{label}' was met ({timer.outcome or 'done'})")
    return GuardResult(False, f"'{label}' is not due until {timer.due_at:%d %B %Y %H:%M}")


@guard("has_contact")
def has_contact(ctx: CaseWorld, _arg: str | None) -> GuardResult:
    """Letters and calls need someone to reach."""
    if ctx.parents():
        return GuardResult(True, "contacts on record")
    return GuardResult(False, f"no contact with parental responsibility is recorded for {ctx.pupil.name}")


@guard("requested_in_advance", arg="number?")
def requested_in_advance(ctx: CaseWorld, arg: str | None) -> GuardResult:
    """Leave must be asked for in advance: the request (the day the leave case was opened)
    at least ``arg`` calendar days before the leave starts (no argument: any day before it).
    Thomas Russell asks for 2 weeks (``requested_in_advance:14``)."""
    days = int(arg) if arg else 1
    start = ctx.case.concern_start
    if start is None:
        return GuardResult(False, "the leave request has no start date")
    asked = ctx.case.opened_at.date()
    notice = (start - asked).days
    if notice >= days:
        return GuardResult(True, f"requested on {asked:%d %B %Y}, {notice} days before the leave starts")
    need = "before the leave starts" if days == 1 else f"at least {days} days before the leave starts"
    return GuardResult(False, f"the request was made on {asked:%d %B %Y}, {max(notice, 0)} days before the leave "
                       f"starts on {start:%d %B %Y}; the policy asks for requests {need}")


@guard("absence_days_under", arg="number")
def absence_days_under(ctx: CaseWorld, arg: str | None) -> GuardResult:
    """Leave is not granted to a pupil who has already missed ``arg`` days this school year,
    or whom the leave would take to that many (Thomas Russell: 6). The leave's length is
    counted when the move gives ``leave_end`` (a date); absence counts every authorised
    and unauthorised absence session, two to a day."""

    limit = float(arg)  # the policy's figure, from the workflow (Thomas Russell: 6)
    since = school_year_start(ctx.today)
    sessions = len(list(ctx.session.exec(
        select(Mark.id).where(Mark.pupil_id == ctx.pupil.id, Mark.date >= since, Mark.date <= ctx.today,
                              Mark.code.in_(AUTHORISED_CODES | UNAUTHORISED_CODES)))))
    so_far = sessions / 2
    leave_days = 0
    end = ctx.params.get("leave_end")
    if end and ctx.case.concern_start:
        end_date = end if isinstance(end, dt.date) else dt.date.fromisoformat(str(end))
        leave_days = len(ctx.calendar.school_days(ctx.case.concern_start, end_date))
    total = so_far + leave_days
    if so_far >= limit:
        return GuardResult(False, f"{ctx.pupil.forename} has already missed {so_far:g} days this school year; the "
                           f"policy does not grant leave once absence reaches {limit:g} days",
                           {"absence_days": so_far})
    if total >= limit:
        return GuardResult(False, f"{ctx.pupil.forename} has missed {so_far:g} days this school year and the leave "
                           f"adds {leave_days}: {total:g} days would reach the policy's limit of {limit:g}",
                           {"absence_days": so_far, "leave_days": leave_days})
    return GuardResult(True, f"{so_far:g} days missed this school year, {total:g} with the leave: under {limit:g}",
                       {"absence_days": so_far, "leave_days": leave_days})
