"""Mail-merge fields for a letter: who it goes to, and the facts it states.

Everything a letter says comes from here, read from the register, the case and the
school's workflow; a template only words it. ``prepare_letter`` checks every field a
letter needs before anything is produced and raises ``LetterProblems`` listing each
one (no address, no parent with parental responsibility, no local authority, dates
the letter must state but the case does not hold). A sent letter never has a blank.

Recipients (docs/domain.md §2; Education Act 1996 s.576 "parent"):
- ``each_parent``: notices go to each parent with parental responsibility, one letter each;
- ``household``: one letter per address, to the parents with parental responsibility there;
- ``local_authority``: one letter to the LA's attendance service (or its CME team);
- ``social_worker``: one letter to the pupil's social worker, recorded as a contact.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from pathlib import Path

from sqlmodel import Session, select

from casework.clock import Clock, local
from casework.figures import stats
from casework.letters.data import LetterData, MarkRow
from casework.plain import Plain
from casework.register.calendar import SchoolCalendar, school_year_start
from casework.register.codes import (
    ATTENDING_CODES,
    ILLNESS,
    LATE_AFTER_CLOSE,
    LATE_BEFORE_CLOSE,
    POSSIBLE_CODES,
    UNAUTHORISED_CODES,
    canonical,
    meaning,
)
from casework.register.store import load_calendar
from casework.store.casemodels import Case, CaseMove, CaseNote, LetterRequest, PenaltyNotice
from casework.store.models import PUPIL_FLAGS, ROLE_LABELS, Contact, Pupil, Role, School
from casework.workflow import LetterDef, Workflow, for_school


def school_calendar(session, school_id: int):
    """The school's calendar, read once per database session (letters never change it; a queue
    of hundreds of letters would otherwise read it hundreds of times)."""
    kept = session.info.setdefault("letters_calendars", {})
    if school_id not in kept:
        kept[school_id] = load_calendar(session, school_id)
    return kept[school_id]


class Problems(ValueError):
    """Every problem that stops something being produced, all found before anything is written."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("; ".join(problems))


class LetterProblems(Problems):
    """Why a letter cannot be produced."""


@dataclass
class Recipient(Plain):
    kind: str  # household | parent | local_authority | social_worker
    addressee: str
    salutation: str
    address_lines: list[str]
    contact_ids: list[int] = field(default_factory=list)


@dataclass
class LetterJob:
    """One queued letter, ready to render: its definition, recipients and merge fields."""

    request: LetterRequest
    letter_id: str
    definition: LetterDef
    template: str
    workflow: Workflow
    school: School
    pupil: Pupil
    case: Case
    recipients: list[Recipient]
    fields: dict


# -- small helpers --------------------------------------------------------------


def long_date(d: dt.date) -> str:
    return f"{d.day} {d:%B %Y}"


def short_date(d: dt.date) -> str:
    return f"{d:%a} {d.day} {d:%b %Y}"


def clock_time(t: dt.time) -> str:
    """9:20am, 1:30pm: how a parent reads a time."""
    hour = t.hour % 12 or 12
    return f"{hour}:{t.minute:02d}{'am' if t.hour < 12 else 'pm'}"


def pct(value: float | None) -> str:
    return "no sessions yet" if value is None else f"{value:.1f}%"


def number(value: float) -> str:
    """A count of days as a parent reads it: 1 not 1.0, 2½ not 2.5."""
    halves = round(value * 2)
    if abs(halves - value * 2) > 1e-9:
        return f"{value:.1f}"
    whole, half = divmod(halves, 2)
    return (f"{whole}½" if whole else "½") if half else str(whole)


def address_lines(contact: Contact) -> list[str]:
    """A contact's address as lines, with the postcode last (and only once)."""
    lines = [x.strip() for x in re.split(r"[\n,]", contact.address or "") if x.strip()]
    pc = (contact.postcode or "").strip().upper()
    if pc and not any(_norm(pc) == _norm(x) for x in lines):
        lines.append(pc)
    return lines


def _norm(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", text.lower())


def _join_names(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


# -- recipients -------------------------------------------------------------------


def la_name(school: School, workflow: Workflow) -> str | None:
    return workflow.model.school.local_authority or school.local_authority or None


def recipients_for(data: LetterData, school: School, pupil: Pupil, workflow: Workflow, to: str,
                   letter_id: str) -> tuple[list[Recipient], list[str]]:
    """Who a letter goes to, and every problem that stops it going."""
    if to in ("household", "each_parent"):
        return _parents(data, pupil, per_parent=to == "each_parent")
    if to == "local_authority":
        return _local_authority(school, workflow, letter_id)
    if to == "social_worker":
        return _social_workers(data, pupil)
    return [], [f"letter {letter_id!r}: unknown recipient kind {to!r}"]


def _parents(data: LetterData, pupil: Pupil, *, per_parent: bool) -> tuple[list[Recipient], list[str]]:
    """One letter per household of parents with parental responsibility, or one per parent."""
    contacts = data.contacts(pupil.id)
    parents = [c for c in contacts if c.parental_responsibility]
    if not parents:
        listed = ", ".join(f"{c.name} ({c.relationship})" for c in contacts) or "none"
        return [], [f"{pupil.name} has no contact with parental responsibility to send the letter to "
                    f"(contacts: {listed})"]
    problems = []
    for c in parents:
        if not (c.address or "").strip():
            problems.append(f"{c.name} ({c.relationship}, parental responsibility) has no postal address")
        elif not (c.postcode or "").strip():
            problems.append(f"{c.name} ({c.relationship}) has no postcode")
    if problems:
        return [], problems
    if per_parent:
        return [Recipient("parent", c.name, f"Dear {c.name}", address_lines(c), [c.id]) for c in parents], []
    households: dict[tuple[str, str], list[Contact]] = {}
    for c in parents:
        households.setdefault((_norm(c.address), _norm(c.postcode)), []).append(c)
    out = []
    for members in households.values():
        names = _join_names([c.name for c in members])
        out.append(Recipient("household", names, f"Dear {names}", address_lines(members[0]), [c.id for c in members]))
    return out, []


def _local_authority(school: School, workflow: Workflow, letter_id: str) -> tuple[list[Recipient], list[str]]:
    la = la_name(school, workflow)
    if not la:
        return [], [f"{school.name} has no local authority recorded (set it on the school, or "
                    f"school.local_authority in workflow {workflow.key})"]
    if letter_id == "cme_referral":
        service = "Children Missing Education team"
    else:
        service = workflow.model.school.la_attendance_service or "Attendance service"
    # The service, then the authority it belongs to unless the service's name already says it.
    lines = [] if _norm(la) in _norm(service) else [la]
    return [Recipient("local_authority", service, "Dear colleagues", lines)], []


def _social_workers(data: LetterData, pupil: Pupil) -> tuple[list[Recipient], list[str]]:
    contacts = data.contacts(pupil.id)
    workers = [c for c in contacts if "social worker" in c.relationship.lower()]
    if not workers:
        return [], [f"{pupil.name} has no social worker recorded as a contact (relationship 'Social worker')"]
    problems = [f"{c.name} (social worker) has no address" for c in workers if not (c.address or "").strip()]
    if problems:
        return [], problems
    return [Recipient("social_worker", c.name, f"Dear {c.name}", address_lines(c), [c.id]) for c in workers], []


# -- the register ---------------------------------------------------------------------


def period_for(calendar: SchoolCalendar, today: dt.date) -> tuple[dt.date, dt.date]:
    """The school year so far: its first school day to the last school day up to today."""
    start = school_year_start(today)
    days = calendar.school_days(start, today)
    return (days[0], days[-1]) if days else (start, today)


def pupil_marks(session: Session, pupil_id: int, start: dt.date, end: dt.date) -> list[MarkRow]:
    return LetterData(session).marks(pupil_id, start, end)


def _absence_run(marks: list[tuple], start: dt.date) -> tuple[dt.date, dt.date] | None:
    """The unbroken run of absence sessions beginning on ``start`` (a holiday as the register shows it)."""
    run = [m for m in marks if m[0] >= start]
    first = last = None
    for d, _s, code, _m in run:
        if code in ATTENDING_CODES or code not in POSSIBLE_CODES:
            if first is not None and code in ATTENDING_CODES:
                break
            continue
        first = first or d
        last = d
    return (first, last) if first else None


# -- the case -------------------------------------------------------------------------


def _user_signature(data: LetterData, username: str) -> tuple[str, str] | None:
    user = data.user(username)
    if user is None:
        return None
    role = ROLE_LABELS.get(Role(user.role), user.role) if user.role in Role._value2member_map_ else user.role
    return user.name, user.position or role


def support_steps(workflow: Workflow, case: Case, moves: list[CaseMove]) -> list[dict]:
    """The support offered on the case: each move into a support state, with who, when and why."""
    ct = workflow.case_type(case.case_type)
    out = []
    for m in moves:
        if m.to_state in ct.support_states:
            out.append({"label": ct.states[m.to_state].label, "at": local(m.at).date(), "by": m.actor,
                        "reason": m.reason, "params": m.params})
    return out


def _timer_due(data: LetterData, case_id: int, kind: str) -> dt.date | None:
    t = data.latest_timer(case_id, kind)
    return local(t.due_at).date() if t else None


# -- the whole letter -----------------------------------------------------------------


TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"


def prepare_letter(session: Session, request: LetterRequest, clock: Clock, data: LetterData | None = None) -> LetterJob:
    """Everything needed to produce one queued letter, or ``LetterProblems`` listing each gap.
    ``data`` reads the database (a ``QueueData`` when a whole queue is checked)."""
    data = data or LetterData(session)
    case = session.get(Case, request.case_id)
    school = session.get(School, request.school_id)
    pupil = session.get(Pupil, case.pupil_id)
    workflow = for_school(case.workflow)
    problems: list[str] = []
    ldef = workflow.model.letters.get(request.template)
    if ldef is None:
        raise LetterProblems([f"workflow {workflow.key} has no letter {request.template!r} "
                              f"(letters: {', '.join(sorted(workflow.model.letters))})"])
    recipients, rp = recipients_for(data, school, pupil, workflow, ldef.to, request.template)
    problems += rp
    calendar = school_calendar(session, school.id)
    today = clock.today()
    start, end = period_for(calendar, today)
    figures = data.figures(school.id, pupil.id, start, end)
    marks = data.marks(pupil.id, start, end)
    moves = data.moves(case.id)
    move = _letter_move(session, request, moves)
    params: dict = {}
    for m in moves:  # later moves override earlier ones
        params.update(m.params or {})
    params.update(request.facts or {})  # and what a person supplied for this letter on the letters page
    wf_school = workflow.model.school
    lh = wf_school.letterhead

    signer = _signatory(data, school, workflow, case, move, request.template)
    logo = _logo(workflow, problems)
    addr = lh.lines or [x.strip() for x in re.split(r"[\n,]", school.address or "") if x.strip()]
    contact_line = " · ".join(x for x in (school.phone, school.email) if x)

    register = {s: {"open": clock_time(t.open), "close": clock_time(t.close)}
                for s, t in workflow.register_times().items()}
    lates_before = [(d, s, m) for d, s, c, m in marks if canonical(c) == LATE_BEFORE_CLOSE]
    lates_after = [(d, s, m) for d, s, c, m in marks if canonical(c) == LATE_AFTER_CLOSE]

    t = workflow.model.thresholds
    window = penalty_window(data, calendar, pupil, t.penalty_school_weeks, today, start, end)
    pen = workflow.model.penalties
    fields: dict = {
        "letter_id": request.template,
        "request_id": request.id,
        "label": ldef.label,
        "today": today,
        "date": long_date(today),
        "school": {
            "name": school.name or wf_school.name, "urn": school.urn, "address_lines": addr,
            "contact_line": contact_line, "phone": school.phone, "email": school.email,
            "colour": lh.colour, "logo": logo, "local_authority": la_name(school, workflow) or "",
            "target_pct": f"{wf_school.target_attendance_pct:g}" if wf_school.target_attendance_pct else None,
            "target": wf_school.target_attendance_pct,
            "report_absence_by": clock_time(wf_school.report_absence_by) if wf_school.report_absence_by else None,
        },
        "signatory": {"name": signer[0], "title": signer[1]},
        "pupil": {"forename": pupil.forename, "surname": pupil.surname, "name": pupil.name, "upn": pupil.upn,
                  "date_of_birth": long_date(pupil.date_of_birth), "year_group": stats.year_group_label(pupil.year_group)},
        "period": {"from": long_date(start), "to": long_date(end), "start": start, "end": end},
        "figures": figures,
        "attendance": pct(figures.attendance_pct),
        "illness_days": number(figures.illness_days),
        "absence": pct(figures.absence_pct),
        "lates": {"before": lates_before, "after": lates_after,
                  "before_minutes": sum(m or 0 for _, _, m in lates_before)},
        "register": register,
        "penalties": pen,
        "thresholds": t,
        "window": window,
        "case": {"id": case.id, "type": case.case_type, "state": case.state,
                 "opened": long_date(local(case.opened_at).date())},
        "move": {"event": move.event, "reason": move.reason, "params": move.params,
                 "date": long_date(local(move.at).date())} if move else None,
        "params": params,
        "support": support_steps(workflow, case, moves),
        "short_date": short_date,
        "long_date": long_date,
    }

    # Facts particular letters state; each missing one is a problem, never a blank.
    need = facts_for(request.template, ldef)
    if need is not None:
        problems += need(data, fields, case, pupil, calendar, marks, today)
    if problems:
        raise LetterProblems(problems)
    template = ldef.template or request.template
    return LetterJob(request, request.template, ldef, template, workflow, school, pupil, case, recipients, fields)


def _letter_move(session: Session, request: LetterRequest, moves: list[CaseMove]) -> CaseMove | None:
    """The move that queued the letter, else the case's latest."""
    if request.move_id:
        return next((m for m in moves if m.id == request.move_id), None) or session.get(CaseMove, request.move_id)
    return moves[-1] if moves else None


def _signatory(data: LetterData, school: School, workflow: Workflow, case: Case, move: CaseMove | None,
               template: str) -> tuple[str, str]:
    """Who signs, as (name, title). A formal step (a notice, a referral) is signed by the person
    who took it, who must be authorised to; any other letter by the letterhead's signatory. A
    letter that states the headteacher's own decision (leave refused, a notice to improve, a
    penalty notice request) is never signed by a delegate named on the letterhead."""
    ct = workflow.case_type(case.case_type)
    formal = move is not None and move.event in ct.moves and ct.moves[move.event].formal
    signer = _user_signature(data, move.actor) if formal and move.actor != "system" else None
    if signer is not None:
        return signer
    lh = workflow.model.school.letterhead
    title = "Headteacher" if template in HEADTEACHER_LETTERS else (lh.signatory or "Headteacher")
    if title.lower().replace(" ", "") == "headteacher":
        return school.headteacher_name or "", title
    # the member of staff who holds that post, if the school has recorded one
    staff = data.staff(school.id)
    return next((u.name for u in staff if (u.position or "").strip().lower() == title.lower()), ""), title


def _logo(workflow: Workflow, problems: list[str]) -> str | None:
    """The letterhead's logo as a file URI (a path beside the workflow file), or a problem."""
    logo = workflow.model.school.letterhead.logo
    if not logo:
        return None
    path = Path(logo)
    if not path.is_absolute():
        path = workflow.path.parent / path
    if not path.exists():
        problems.append(f"the letterhead logo {logo} (workflow {workflow.key}) does not exist")
        return None
    return path.resolve().as_uri()


def window_start(calendar: SchoolCalendar, school_weeks: int, today: dt.date, start: dt.date, end: dt.date) -> dt.date:
    """The first school day of the rolling school weeks up to today."""
    weeks = calendar.rolling_school_weeks(today, school_weeks)
    window_days = calendar.school_days(weeks[0], end) if weeks else []
    return window_days[0] if window_days else start


def penalty_window(data: LetterData, calendar: SchoolCalendar, pupil: Pupil, school_weeks: int, today: dt.date,
                   start: dt.date, end: dt.date) -> dict:
    """The rolling school weeks up to today and the unauthorised sessions in them."""
    weeks = calendar.rolling_school_weeks(today, school_weeks)
    first = window_start(calendar, school_weeks, today, start, end)
    unauthorised = [(d, s, c, meaning(c).description) for d, s, c, _ in
                    data.marks(pupil.id, first, end) if c in UNAUTHORISED_CODES]
    return {"from": long_date(first), "to": long_date(end), "weeks": len(weeks),
            "unauthorised": unauthorised, "codes": sorted({(c, d) for _, _, c, d in unauthorised})}


def facts_for(letter_id: str, ldef: LetterDef):
    """The fact-finder a letter gets: its own, or that of the template it borrows."""
    return _LETTER_FACTS.get(letter_id) or (_LETTER_FACTS.get(ldef.template) if ldef.template else None)


def _date_param(params: dict, *keys: str) -> dt.date | None:
    for k in keys:
        v = params.get(k)
        if isinstance(v, dt.date):
            return v
        if isinstance(v, str) and v:
            try:
                return dt.date.fromisoformat(v)
            except ValueError:
                return None
    return None


def _leave_dates(data, f, case, pupil, calendar, marks, today, *, from_register: bool) -> list[str]:
    p = f["params"]
    first = _date_param(p, "leave_from") or case.concern_start
    last = _date_param(p, "leave_to")
    if from_register and first and last is None:
        run = _absence_run(marks, first)
        if run:
            first, last = run
    problems = []
    if first is None:
        problems.append("the first day of the leave is not recorded (open the case with --start, or give "
                        "leave_from=YYYY-MM-DD on the move)")
    if last is None:
        problems.append("the last day of the leave is not recorded (give leave_to=YYYY-MM-DD on the move)")
    if not problems:
        if last < first:
            return [f"the leave ends ({last}) before it starts ({first})"]
        f["leave"] = {"from": long_date(first), "to": long_date(last),
                      "sessions": calendar.session_count(first, last),
                      "school_days": len(calendar.school_days(first, last)),
                      # unauthorised absence in the rolling window outside the leave itself
                      "other_unauthorised": sum(1 for d, *_ in f["window"]["unauthorised"] if not first <= d <= last)}
    return problems


def _leave_requested(data, f, case, pupil, calendar, marks, today):
    return _leave_dates(data, f, case, pupil, calendar, marks, today, from_register=False)


def _leave_taken(data, f, case, pupil, calendar, marks, today):
    return _leave_dates(data, f, case, pupil, calendar, marks, today, from_register=True)


def _holiday_as_illness(data, f, case, pupil, calendar, marks, today):
    problems = _leave_taken(data, f, case, pupil, calendar, marks, today)
    due = _timer_due(data, case.id, "illness_evidence_window") or today + dt.timedelta(days=10)
    f["evidence_due"] = long_date(due)
    return problems


def _notice_to_improve(data, f, case, pupil, calendar, marks, today):
    """The improvement period: 3 to 6 weeks (national framework), from the day of the notice."""
    nti = f["penalties"].notice_to_improve
    weeks = f["params"].get("improvement_weeks", nti.weeks)
    try:
        weeks = int(weeks)
    except (TypeError, ValueError):
        return [f"improvement_weeks={weeks!r} is not a number of weeks"]
    if not nti.min_weeks <= weeks <= nti.max_weeks:
        return [f"an improvement period of {weeks} weeks is outside the {nti.min_weeks} to {nti.max_weeks} weeks "
                "the national framework allows"]
    # The period runs from the day the notice was issued (when its timer started), even if
    # the letter is printed a day or two later, so the letter and the case agree.
    timer = data.latest_timer(case.id, "improvement_period")
    if timer is not None:
        start, end = local(timer.started_at).date(), local(timer.due_at).date()
        weeks = round((end - start).days / 7)
    else:
        start, end = today, today + dt.timedelta(weeks=weeks)
    f["nti"] = {"from": long_date(start), "to": long_date(end), "weeks": weeks,
                "school_days": len(calendar.school_days(start, end))}
    problems = []
    if end <= today:
        problems.append(f"the improvement period ({long_date(start)} to {long_date(end)}) has already ended: a notice "
                        "sent now would give no time to improve; issue a new notice with a new period")
    if not f["window"]["unauthorised"]:
        problems.append(f"{pupil.forename} has no unauthorised absence in the last "
                        f"{f['thresholds'].penalty_school_weeks} school weeks: there is no offence to state")
    return problems


def _agreed(data, f, case, what: str, agreed: str) -> list[str]:
    """A letter that sets down what was agreed (a support plan, a contract): its review date,
    and the agreement itself, which is the reason on the move that agreed it."""
    due = _timer_due(data, case.id, "support_plan_review")
    f["review_date"] = long_date(due) if due else None
    if not (f["move"] and f["move"]["reason"].strip()):
        return [f"the {what} letter states what was agreed: record it as the reason on the move that agreed the {agreed}"]
    return []


def _support_plan(data, f, case, pupil, calendar, marks, today):
    return _agreed(data, f, case, "support plan", "plan")


def _contract(data, f, case, pupil, calendar, marks, today):
    return _agreed(data, f, case, "attendance contract", "contract")


def _meeting(data, f, case, pupil, calendar, marks, today):
    when = f["params"].get("meeting_at") if f["move"] and f["move"]["event"] != "open" else None
    f["meeting"] = None
    if when:
        try:
            m = dt.datetime.fromisoformat(str(when))
        except ValueError:
            return [f"meeting_at={when!r} is not a date and time (YYYY-MM-DDTHH:MM)"]
        f["meeting"] = {"date": long_date(m.date()), "day": f"{m:%A}", "time": clock_time(m.time())}
    # Five school days to reply, but never on or after the day of the meeting itself.
    reply_by, _ = calendar.count_school_days(today, 5)
    if f["meeting"] is not None and reply_by >= m.date():
        before = [d for d in calendar.school_days(today, m.date() - dt.timedelta(days=1)) if d > today]
        reply_by = before[-1] if before else None
    f["reply_by"] = long_date(reply_by) if reply_by else None
    return []


def _traveller_no_return(data, f, case, pupil, calendar, marks, today):
    first = _date_param(f["params"], "travel_from") or case.concern_start or today
    due = _timer_due(data, case.id, "traveller_return") or calendar.count_school_days(today, 10)[0]
    f["travel"] = {"from": long_date(first), "confirm_by": long_date(due)}
    return []


def _medical_evidence(data, f, case, pupil, calendar, marks, today):
    due = _timer_due(data, case.id, "medical_evidence_due")
    f["evidence_due"] = long_date(due) if due else None
    return []


def _lates(which: str, none_yet: str):
    """A lateness letter lists the lates of its kind (``before`` or ``after`` the register closed)."""
    def check(data, f, case, pupil, calendar, marks, today):
        return [] if f["lates"][which] else [f"{pupil.forename} {none_yet} this school year: nothing to list"]
    return check


def _attendance_concern(data, f, case, pupil, calendar, marks, today):
    """A letter about low attendance needs attendance that is low: under the school's
    target, or with some absence at all where the policy sets no target."""
    figures, target = f["figures"], f["school"]["target"]
    got = figures.attendance_pct
    if got is None:
        return [f"{pupil.forename} has no possible sessions yet this school year: there is no attendance to write about"]
    if target is not None and got >= target:
        return [f"{pupil.forename}'s attendance is {got:.1f}%, at or above the school's target of {target:g}%: "
                "an attendance concern letter would be wrong"]
    if not figures.absent:
        return [f"{pupil.forename} has missed no sessions this school year: there is no absence to write about"]
    return []


def _for_the_la(data, f, case, pupil, calendar, marks, today):
    """What the LA needs about the family and what has been done."""
    session = data.session
    contacts = data.contacts(pupil.id)
    f["contacts"] = [{"name": c.name, "relationship": c.relationship, "pr": c.parental_responsibility,
                      "lives_with_pupil": c.lives_with_pupil, "address": ", ".join(address_lines(c)),
                      "phone": c.phone, "email": c.email}
                     for c in contacts]
    f["notices"] = list(session.exec(select(PenaltyNotice).where(PenaltyNotice.case_id == case.id)
                                     .order_by(PenaltyNotice.id)))
    earlier = session.exec(select(LetterRequest).where(LetterRequest.case_id == case.id,
                                                       LetterRequest.status == "produced")
                           .order_by(LetterRequest.produced_at)).all()
    f["letters_sent"] = [{"label": _letter_label(case, r.template),
                          "date": long_date(local(r.produced_at).date()),
                          "to": ", ".join(x.get("addressee", "") for x in r.recipients)} for r in earlier]
    attended = [d for d, _s, c, _m in marks if c in ATTENDING_CODES]
    f["last_attended"] = long_date(attended[-1]) if attended else None
    f["illness"] = [d for d, s, c, _m in marks if canonical(c) == ILLNESS]
    f["vulnerable"] = [label for flag, label in _flags().items() if getattr(pupil, flag)]
    notes = session.exec(select(CaseNote).where(CaseNote.case_id == case.id, CaseNote.safeguarding.is_(False))
                         .order_by(CaseNote.at)).all()
    f["notes"] = [{"at": long_date(local(n.at).date()), "text": n.text} for n in notes
                  if not n.text.startswith(LETTER_LOG_PREFIX)]
    return []


def _continuous_absence(data, f, case, pupil, calendar, marks, today):
    """The LA notice of absence without permission: _for_the_la, plus the run of continuous
    school days (read back from the latest mark; any attending or authorised mark ends it)."""
    problems = _for_the_la(data, f, case, pupil, calendar, marks, today)
    by_day: dict[dt.date, list[str]] = {}
    for d, _s, c, _m in marks:
        by_day.setdefault(d, []).append(c)
    run: list[dt.date] = []
    for d in sorted(by_day, reverse=True):
        day = by_day[d]
        if any(c in ATTENDING_CODES or meaning(c).authorised for c in day) or not any(c in UNAUTHORISED_CODES for c in day):
            break
        run.append(d)
    run.reverse()
    f["run"] = {"days": len(run), "from": long_date(run[0]) if run else None, "to": long_date(run[-1]) if run else None,
                "dates": run}
    return problems


def _flags():

    return PUPIL_FLAGS


def _letter_label(case: Case, letter_id: str) -> str:
    d = for_school(case.workflow).model.letters.get(letter_id)
    return d.label if d else letter_id


def _ehc_plan(data, f, case, pupil, calendar, marks, today):
    problems = _for_the_la(data, f, case, pupil, calendar, marks, today)
    if not pupil.ehc_plan:
        problems.append(f"{pupil.name} is not recorded as having an EHC plan: this letter tells the LA that "
                        "maintains the plan")
    return problems


def _penalty_request(data, f, case, pupil, calendar, marks, today):
    problems = _for_the_la(data, f, case, pupil, calendar, marks, today)
    if not f["window"]["unauthorised"]:
        problems.append(f"{pupil.forename} has no unauthorised absence in the last "
                        f"{f['thresholds'].penalty_school_weeks} school weeks: there is no offence to report")
    return problems


LETTER_LOG_PREFIX = "Letter produced:"
HEADTEACHER_LETTERS = {"leave_refused", "leave_refused_retrospective", "notice_to_improve", "penalty_notice_request"}

_LETTER_FACTS = {
    "attendance_concern": _attendance_concern,
    "leave_refused": _leave_requested,
    "leave_refused_retrospective": _leave_taken,
    "holiday_as_illness": _holiday_as_illness,
    "notice_to_improve": _notice_to_improve,
    "support_plan": _support_plan,
    "meeting_invitation": _meeting,
    "traveller_no_return": _traveller_no_return,
    "medical_evidence": _medical_evidence,
    "late_after_close": _lates("after", "has not arrived after the register closed"),
    "late_before_close": _lates("before", "has not been late"),
    "penalty_notice_request": _penalty_request,
    "cme_referral": _for_the_la,
    "early_help_referral": _for_the_la,
    "agency_referral": _for_the_la,
    "ehc_attendance_falling": _ehc_plan,
    "formal_meeting_invitation": _meeting,
    "attendance_contract": _contract,
    "sickness_return": _for_the_la,
    "continuous_absence_notice": _continuous_absence,
}
