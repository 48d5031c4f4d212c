"""The workflow schema (pydantic models, validated strictly) and the loaded ``Workflow``."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from casework.register.codes import LATE_AFTER_CLOSE, LATE_BEFORE_CLOSE
from casework.store.models import PUPIL_FLAGS, RAG_RATINGS, Role
from casework.workflow.files import WORKFLOWS_DIR, Path_, _Located

# -- the schema ---------------------------------------------------------------


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


def _time(v: Any) -> Any:
    if isinstance(v, str):
        try:
            return dt.time.fromisoformat(v if len(v) > 4 else "0" + v)
        except ValueError:
            raise ValueError(f"{v!r} is not a time (HH:MM)") from None
    return v


class SessionTimes(_Strict):
    open: dt.time = Field(description="When the register is taken.")
    close: dt.time = Field(description="When the register closes: arrivals after it are marked U.")
    late_until: dt.time | None = Field(
        None, description="A second, later cut-off: the register closes at `close`, but arrivals are still "
        "marked L until this time and U after it (e.g. close 09:00, U after 09:20).")

    _t = field_validator("open", "close", "late_until", mode="before")(_time)

    @model_validator(mode="after")
    def _order(self):
        if self.close <= self.open:
            raise ValueError(f"the register closes ({self.close:%H:%M}) before it opens ({self.open:%H:%M})")
        if self.late_until is not None and self.late_until <= self.close:
            raise ValueError(f"late_until ({self.late_until:%H:%M}) must be after the register closes "
                             f"({self.close:%H:%M})")
        return self

    @property
    def u_after(self) -> dt.time:
        """Arrivals after this time are U; up to it, L."""
        return self.late_until or self.close

    def expected_late_code(self, minutes_late: int) -> str:
        """L or U for an arrival ``minutes_late`` minutes after the register was taken (``open``)."""
        arrival = (dt.datetime.combine(dt.date(2000, 1, 1), self.open) + dt.timedelta(minutes=minutes_late)).time()

        return LATE_BEFORE_CLOSE if arrival <= self.u_after else LATE_AFTER_CLOSE


class Letterhead(_Strict):
    lines: list[str] = Field(default_factory=list, description="Address and contact lines under the school's name.")
    colour: str = "#1d3557"
    logo: str | None = None
    signatory: str | None = Field(default=None, description="Who signs letters, e.g. 'Family Liaison Officer'.")


class SchoolSettings(_Strict):
    name: str | None = None
    local_authority: str | None = None
    registers: dict[Literal["AM", "PM"], SessionTimes] = Field(alias="register")
    report_absence_by: dt.time | None = Field(default=None, description="Parents must report an absence by this time.")
    target_attendance_pct: float | None = None
    letterhead: Letterhead = Field(default_factory=Letterhead)
    la_attendance_service: str | None = None
    report_min_group_size: int = Field(
        5, ge=1, description="Smallest group whose figures a governor's reports show; a smaller group reads "
                             "'fewer than N' with no figures, in the page, its chart and every export.")
    phase: Literal["primary", "secondary", "special"] | None = Field(
        None, description="The school's phase: which national figures the governors' report compares it with "
                          "(none given: every phase is shown).")

    _t = field_validator("report_absence_by", mode="before")(_time)


class Thresholds(_Strict):
    persistent_absence_pct: float = 10.0
    severe_absence_pct: float = 50.0
    penalty_sessions: int = Field(10, description="Unauthorised sessions that meet the national penalty threshold...")
    penalty_school_weeks: int = Field(10, description="...within this rolling number of school weeks.")
    recent_school_weeks: int = Field(4, ge=1, le=20, description="A pupil's recent attendance: over this many school "
                                     "weeks up to the day (of this school year). The caseload's trend arrow and the "
                                     "early_warning rule's basis both read it.")
    trend_points: float = Field(2.0, ge=0, description="Recent attendance this many percentage points above or below "
                                "the year's shows on the caseload as rising or falling.")


class PenaltyAmount(_Strict):
    reduced_amount: int | None = Field(None, description="Amount if paid within reduced_days (none: no reduction).")
    reduced_days: int | None = None
    amount: int
    days: int

    @model_validator(mode="after")
    def _pair(self):
        if (self.reduced_amount is None) != (self.reduced_days is None):
            raise ValueError("give reduced_amount and reduced_days together")
        return self


class NoticeToImprove(_Strict):
    min_weeks: int = 3
    max_weeks: int = 6
    weeks: int = 4

    @model_validator(mode="after")
    def _range(self):
        if not 3 <= self.min_weeks <= self.weeks <= self.max_weeks <= 6:
            raise ValueError("the improvement period must be between 3 and 6 weeks (national framework)")
        return self


class PenaltyRoute(_Strict):
    """Who issues penalty notices: the school itself, or the LA after the school's referral."""

    issued_by: Literal["school", "local_authority"] = Field(
        "school", description="`school`: the headteacher (or someone they authorise) issues; `local_authority`: "
        "the school refers and a named LA team decides and issues.")
    team: str | None = Field(None, description="The LA team that decides (needed when the LA issues).")
    signed_by: str | None = Field(None, description="Who signs the notices (e.g. the LA team's manager).")
    code_of_conduct: str | None = Field(None, description="The LA code of conduct the amounts come from, with its year.")

    @model_validator(mode="after")
    def _team(self):
        if self.issued_by == "local_authority" and not self.team:
            raise ValueError("name the LA team that issues penalty notices (route.team)")
        return self

    def decision(self, penalties: Penalties) -> str:
        """Who decides, in the workflow's words, with the amounts."""
        f, sec = penalties.first, penalties.second
        first = (f"£{f.reduced_amount} within {f.reduced_days} days or £{f.amount} within {f.days}"
                 if f.reduced_amount else f"£{f.amount} within {f.days} days")
        amounts = (f"first notice {first}; second within {penalties.within_years} years £{sec.amount} within "
                   f"{sec.days} days" + ("" if sec.reduced_amount else ", no reduction"))
        code = f" under {self.code_of_conduct}" if self.code_of_conduct else ""
        if self.issued_by == "local_authority":
            return f"The school refers to {self.team}, which decides on a penalty notice{code} ({amounts})."
        return f"A notice to improve or a penalty notice is for the headteacher to decide{code} ({amounts})."


class Penalties(_Strict):
    first: PenaltyAmount
    second: PenaltyAmount
    max_notices: int = Field(2, description="Notices per parent per child within within_years; the next is prosecution.")
    within_years: int = 3
    exclusion: PenaltyAmount | None = None
    route: PenaltyRoute = Field(default_factory=PenaltyRoute)
    received_after_working_days: dict[Literal["post", "hand", "email"], int] = Field(
        default_factory=lambda: {"post": 2, "hand": 0, "email": 2},
        description="Working days after serving at which a notice counts as received (payment periods run from "
        "receipt). Post: the second working day after posting (Education (Penalty Notices) (England) Regulations "
        "2007 as amended); hand: the same day; email: like post unless the LA's code of conduct says otherwise.")
    notice_to_improve: NoticeToImprove = Field(default_factory=NoticeToImprove)


ACTION_KINDS = ("letter", "timer", "notify", "safeguarding", "propose", "move", "penalty_notices")


class Action(_Strict):
    """One thing entering a state (or a timer lapsing) does. Exactly one key."""

    letter: str | None = Field(None, description="Queue this letter for the case.")
    timer: str | None = Field(None, description="Start this timer.")
    notify: list[str] | None = Field(None, description="Tell these roles (in-app; email when configured).")
    safeguarding: str | None = Field(None, description="Put the case on the DSL's safeguarding queue with this reason.")
    propose: str | None = Field(None, description="Propose this move for a person to take.")
    move: str | None = Field(None, description="Take this (non-formal) move automatically.")
    penalty_notices: bool | None = Field(None, description="Record a penalty notice for each parent named in the move.")
    message: str | None = Field(None, description="Text of a notification.")
    pupils: list[str] | None = Field(
        None, description="Only for pupils with one of these flags or RAG ratings, e.g. [child_protection_plan, rag:red]."
    )

    @model_validator(mode="after")
    def _one(self):
        keys = [k for k in ACTION_KINDS if getattr(self, k) is not None]
        if len(keys) != 1:
            raise ValueError(f"an action has exactly one of: {', '.join(ACTION_KINDS)}")
        return self

    @property
    def kind(self) -> str:
        return next(k for k in ACTION_KINDS if getattr(self, k) is not None)


class StateDef(_Strict):
    label: str
    description: str = ""
    final: bool = False
    on_enter: list[Action] = Field(default_factory=list)


class MoveDef(_Strict):
    from_: list[str] = Field(alias="from", description="State(s) the move starts from; '*' is every state not final.")
    to: str
    label: str | None = None
    roles: list[str] = Field(description="Roles (or role groups) who may take the move.")
    guards: list[str] = Field(default_factory=list, description="Named checks that must pass (see casework/states/guards.py).")
    formal: bool = Field(False, description="A formal step (notice, penalty, referral): proposed, never taken by a job.")
    reason_required: bool = False
    description: str = ""

    @field_validator("from_", "roles", mode="before")
    @classmethod
    def _listify(cls, v):
        return [v] if isinstance(v, str) else v


class CaseTypeDef(_Strict):
    label: str
    description: str = ""
    initial: str = "monitor"
    per: Literal["pupil", "episode"] = Field(
        "pupil", description="One open case per pupil (pupil), or one per episode, e.g. each run of absence (episode)."
    )
    reopen_after_school_days: int = Field(
        20, ge=0, description="After a person closes a case, the same finding opens a new one only this many school days later."
    )
    support_states: list[str] = Field(
        default_factory=list, description="States in which support is offered; a notice needs one of them first."
    )
    states: dict[str, StateDef]
    moves: dict[str, MoveDef]


class Due(_Strict):
    school_days: int | None = None
    calendar_days: int | None = None
    weeks: int | None = None
    hours: int | None = None
    at: dt.time | None = Field(None, description="Time of day on the due date (default 18:00).")

    _t = field_validator("at", mode="before")(_time)

    @model_validator(mode="after")
    def _one(self):
        keys = [k for k in ("school_days", "calendar_days", "weeks", "hours") if getattr(self, k) is not None]
        if len(keys) != 1:
            raise ValueError("a due time has exactly one of: school_days, calendar_days, weeks, hours")
        return self


class TimerDef(_Strict):
    label: str
    due: Due
    from_: Literal["entered", "concern_start", "register_close", "notice_received"] = Field(
        "entered", alias="from", description="Count from when the state was entered, the first day of the concern, "
        "the register closing that day, or the day the case's latest penalty notice counts as received."
    )
    reduced_rate_only: bool = Field(False, description="Start only when the case's latest penalty notice has a "
                                    "reduced rate (a second notice has none, so nothing chases it).")
    role: str = Field(description="Who is responsible for meeting the deadline.")
    met_by: list[str] = Field(default_factory=list, description="Moves that meet the deadline and close the timer.")
    on_lapse: list[Action] = Field(default_factory=list)
    param: str | None = Field(None, description="A move parameter that may set the count (e.g. improvement_weeks).")
    repeat: bool = Field(False, description="Start again when it lapses (e.g. weekly sight of a long-absent child).")
    while_absent: Literal["any", "unauthorised"] | None = Field(
        None, description="The deadline stands only while the absence continues from the first day of the concern: "
        "any attending or present mark meets it (the pupil returned); with `unauthorised`, an authorised absence "
        "also ends the run (children missing education counts continuous unauthorised absence only).")

    @model_validator(mode="after")
    def _say_why_a_lapse_proposes(self) -> TimerDef:
        """A step a lapse proposes without a message of its own gives the lapse's notification as
        its reason (what the head reads on the decisions page), or its safeguarding alert's, or
        the deadline that passed."""
        told = next((a.message if a.notify else a.safeguarding for a in self.on_lapse
                     if (a.notify and a.message) or isinstance(a.safeguarding, str)), None)
        why = told[:1].upper() + told[1:] if told else f"Deadline passed: {self.label[:1].lower()}{self.label[1:]}"
        self.on_lapse = [a.model_copy(update={"message": why}) if a.propose and not a.message else a
                         for a in self.on_lapse]
        return self


class LetterDef(_Strict):
    label: str
    to: Literal["household", "each_parent", "local_authority", "social_worker"] = "household"
    template: str | None = Field(None, description="Template file (default: the letter's id).")
    certificate: bool = Field(False, description="Attach a registration certificate.")


class RuleWiring(BaseModel):
    """A rule's settings: its parameters, plus what a finding does."""

    model_config = ConfigDict(extra="allow")
    enabled: bool = True
    opens: str | None = Field(None, description="Case type a finding opens (or is added to, if one is open).")
    open_state: str | None = Field(None, description="State a new case opens in (default: the case type's initial state).")
    proposes: str | None = Field(None, description="A move a finding proposes on the open case.")
    proposes_by_level: dict[str, str] = Field(
        default_factory=dict,
        description="A move to propose instead of `proposes` when the finding's level matches (an attendance band's name).",
    )
    pupils: list[str] | None = Field(
        None, description="Act only on findings for pupils with one of these flags or RAG ratings, e.g. [rag:red, ehc_plan]."
    )
    notify: list[str] = Field(default_factory=list)
    letters_by_level: dict[str, str] = Field(
        default_factory=dict,
        description="A letter queued without a person's step when the finding's level matches (an attendance "
        "band's name). Letters are not formal steps; formal steps stay proposals.")
    letter_again: Literal["half_term", "school_year"] | int = Field(
        "half_term", description="When the same automatic letter may go again to a pupil still (or again) at that "
        "level: once per half term (default), once per school year, or after this many school weeks.")

    @property
    def params(self) -> dict:
        return dict(self.model_extra or {})


class Retention(_Strict):
    """How long records are kept before ``casework retention purge`` removes them."""

    register_years: int = Field(6, ge=1, le=100, description="Years a register entry (a mark and its amendments) "
                                "is kept after the date it is for. The 2024 Regulations: 6 years.")
    closed_case_years: int = Field(6, ge=1, le=100, description="Years a closed case (moves, findings, notes, "
                                   "deadlines, letters, notices, alerts) is kept after it closed; set it from the "
                                   "school's records retention schedule.")


class DescriptiveBand(_Strict):
    name: str = Field(description="What the band is called in reports, e.g. 'Good'.")
    at_least_pct: float = Field(ge=0, le=100, description="Attendance at or above this figure (and below the next "
                                "higher band's) is in this band.")


class DescriptiveBands(_Strict):
    """Words a school's policy uses for attendance (excellent, good, ...). They label pupils in reports, the
    pupil page and the caseload; they never open a case (that is ``rules.attendance_band``)."""

    bands: list[DescriptiveBand] = Field(default_factory=list, description="From the highest figure to the lowest; "
                                         "the lowest starts at 0 so every pupil has a band.")
    min_possible_sessions: int = Field(20, ge=1, description="A pupil with fewer possible sessions than this in the "
                                       "period has no band yet (too early to say).")

    def band_for(self, attendance_pct: float | None, possible_sessions: int) -> str | None:
        """The band's name for this attendance, or None (no bands, or too few sessions to say)."""
        if attendance_pct is None or possible_sessions < self.min_possible_sessions:
            return None
        for band in self.bands:
            if attendance_pct >= band.at_least_pct:
                return band.name
        return None

    @property
    def names(self) -> list[str]:
        return [b.name for b in self.bands]


class AssignRule(_Strict):
    """Who a new case goes to. The first rule that matches a case decides; within the role it
    names, the active person with the fewest open cases takes it."""

    case_types: list[str] = Field(default_factory=list, description="Case types the rule is for (none: any type).")
    year_groups: list[int] = Field(default_factory=list, description="Pupils' year groups (none: any year).")
    to: str = Field(description="A role or role group (see roles:) whose members own the case.")


class WorkflowModel(_Strict):
    name: str
    description: str = ""
    source: str = Field("", description="The policy document this file encodes.")
    school: SchoolSettings
    roles: dict[str, list[str]] = Field(default_factory=dict, description="Role groups used by moves and actions.")
    thresholds: Thresholds = Field(default_factory=Thresholds)
    penalties: Penalties
    rules: dict[str, RuleWiring] = Field(default_factory=dict)
    timers: dict[str, TimerDef] = Field(default_factory=dict)
    letters: dict[str, LetterDef] = Field(default_factory=dict)
    case_types: dict[str, CaseTypeDef]
    codes: dict[str, str] = Field(default_factory=dict, description="Notes on how this school uses particular codes.")
    retention: Retention = Field(default_factory=Retention)
    descriptive_bands: DescriptiveBands = Field(default_factory=DescriptiveBands)
    assignment: list[AssignRule] = Field(default_factory=list, description="Who owns a new case (first match wins).")


# -- the loaded workflow ------------------------------------------------------


@dataclass
class Workflow:
    key: str
    path: Path
    model: WorkflowModel
    located: _Located

    # convenient accessors
    @property
    def name(self) -> str:
        return self.model.name

    @property
    def ref(self) -> str:
        """How a school or case names this workflow so that any later command finds it: its
        name for a file under ``workflows/``, else the file's absolute path."""
        path = self.path.resolve()
        return self.key if path.parent == WORKFLOWS_DIR.resolve() else str(path)

    @property
    def letters_dir(self) -> Path:
        """A school's own letter templates beside its workflow file: ``myschool.yaml`` +
        ``myschool/letters/``."""
        return self.path.resolve().parent / self.key / "letters"

    def case_type(self, name: str) -> CaseTypeDef:
        return self.model.case_types[name]

    def roles_for(self, names: list[str]) -> set[str]:
        """Expand role groups into role names."""
        out: set[str] = set()
        for n in names:
            out |= set(self.model.roles.get(n, [n]))
        return out

    def timer(self, name: str) -> TimerDef:
        return self.model.timers[name]

    def register_times(self) -> dict[str, SessionTimes]:
        return self.model.school.registers

    def where(self, *path) -> str:
        file, line = self.located.lookup(path)
        return f"{file}:{line}"


ROLE_NAMES = {r.value for r in Role}


def _pupil_selectors() -> set[str]:

    return set(PUPIL_FLAGS) | {f"rag:{r}" for r in RAG_RATINGS}


def pupil_matches(pupil: Any, selectors: list[str] | None) -> bool:
    """Whether a pupil has one of ``selectors``: a flag (``ehc_plan``) or a RAG rating (``rag:red``).
    No selectors means every pupil."""
    if not selectors:
        return True
    for sel in selectors:
        if sel.startswith("rag:"):
            if (getattr(pupil, "vulnerability_rag", None) or "") == sel[4:]:
                return True
        elif getattr(pupil, sel, False):
            return True
    return False


def _check_pupils(bad, path: Path_, selectors: list[str] | None) -> None:
    known = _pupil_selectors()
    for i, sel in enumerate(selectors or []):
        if sel not in known:
            bad(path + (i,), f"unknown pupil flag or RAG rating {sel!r} (choose from: {', '.join(sorted(known))})")


def _pyd_message(e: dict) -> str:
    if e["type"] == "extra_forbidden":
        return "unknown key"
    if e["type"] == "missing":
        return "required key is missing"
    msg = e["msg"]
    return msg.removeprefix("Value error, ")


