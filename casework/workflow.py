"""Workflow files: a school's attendance policy as data.

A workflow is a YAML file under ``workflows/``. A school's file ``extends`` the national
one (``workflows/national.yaml``, the statutory framework) and overrides only what its
policy changes: mappings merge key by key, a list replaces the list it overrides, and
``null`` removes an inherited key. The merged result is validated against the schema
below and then for meaning (every state, role, timer, letter, guard, rule and code it
names must exist); each problem names the file, the line and the key. The format is
documented in ``workflows/README.md``.
"""

from __future__ import annotations

import copy
import datetime as dt
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from casework.codes import CODES
from casework.models import Role

WORKFLOWS_DIR = Path(os.environ.get("CASEWORK_WORKFLOWS", Path(__file__).resolve().parent.parent / "workflows"))
Path_ = tuple[Any, ...]


# -- errors -------------------------------------------------------------------


@dataclass(frozen=True)
class WorkflowProblem:
    file: str
    line: int
    key: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.key}: {self.message}" if self.key else f"{self.file}:{self.line}: {self.message}"


class WorkflowError(ValueError):
    def __init__(self, problems: list[WorkflowProblem]):
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


# -- YAML with line numbers ---------------------------------------------------


class _Located:
    """Where each key of a loaded file came from: path -> (file, line)."""

    def __init__(self) -> None:
        self.where: dict[Path_, tuple[str, int]] = {}

    def lookup(self, path: Path_) -> tuple[str, int]:
        path = tuple(path)
        while path:
            if path in self.where:
                return self.where[path]
            path = path[:-1]
        return self.where.get((), ("?", 1))


def _load_yaml(path: Path, located: _Located) -> dict:
    name = _display(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise WorkflowError([WorkflowProblem(name, 0, "", f"cannot read the workflow file: {exc.strerror}")]) from None
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark else 0
        raise WorkflowError([WorkflowProblem(name, line, "", f"not valid YAML: {getattr(exc, 'problem', exc)}")]) from None
    if node is None:
        raise WorkflowError([WorkflowProblem(name, 1, "", "the file is empty")])
    problems: list[WorkflowProblem] = []
    data = _construct(node, (), name, located, problems)
    if problems:
        raise WorkflowError(problems)
    if not isinstance(data, dict):
        raise WorkflowError([WorkflowProblem(name, 1, "", "a workflow file is a mapping of keys")])
    located.where[()] = (name, 1)
    return data


def _construct(node, path: Path_, name: str, located: _Located, problems: list[WorkflowProblem]):
    if isinstance(node, yaml.MappingNode):
        out: dict = {}
        for knode, vnode in node.value:
            key = knode.value
            if key in out:
                problems.append(WorkflowProblem(name, knode.start_mark.line + 1, _dotted(path + (key,)), "key appears twice"))
                continue
            located.where[path + (key,)] = (name, knode.start_mark.line + 1)
            out[key] = _construct(vnode, path + (key,), name, located, problems)
        return out
    if isinstance(node, yaml.SequenceNode):
        items = []
        for i, item in enumerate(node.value):
            located.where[path + (i,)] = (name, item.start_mark.line + 1)
            items.append(_construct(item, path + (i,), name, located, problems))
        return items
    return _scalar(node)


def _scalar(node: yaml.ScalarNode):
    loader = yaml.SafeLoader("")
    value = loader.construct_object(node)
    loader.dispose()
    # Times like 09:20 must stay text: YAML 1.1 would read them as sexagesimal numbers.
    if isinstance(value, int) and ":" in node.value:
        return node.value
    return value


def _dotted(path: Path_) -> str:
    return ".".join(str(p) for p in path)


def _display(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _merge(base: Any, over: Any, path: Path_, base_loc: _Located, over_loc: _Located, out_loc: _Located) -> Any:
    if isinstance(base, dict) and isinstance(over, dict):
        merged = {}
        for k, v in base.items():
            if k in over:
                continue
            merged[k] = v
            _copy_where(base_loc, out_loc, path + (k,))
        for k, v in over.items():
            if v is None and k in base:
                continue  # null removes an inherited key
            if k in base:
                merged[k] = _merge(base[k], v, path + (k,), base_loc, over_loc, out_loc)
                out_loc.where[path + (k,)] = over_loc.where.get(path + (k,), out_loc.lookup(path))
            else:
                merged[k] = v
                _copy_where(over_loc, out_loc, path + (k,))
        return merged
    _copy_where(over_loc, out_loc, path)
    return copy.deepcopy(over)


def _copy_where(src: _Located, dst: _Located, prefix: Path_) -> None:
    n = len(prefix)
    for p, w in src.where.items():
        if p[:n] == prefix:
            dst.where[p] = w


def resolve(name_or_path: str | Path) -> Path:
    p = Path(name_or_path)
    if p.suffix in (".yaml", ".yml") and p.exists():
        return p
    candidate = WORKFLOWS_DIR / f"{name_or_path}.yaml"
    if candidate.exists():
        return candidate
    if p.exists():
        return p
    raise WorkflowError([WorkflowProblem(str(name_or_path), 0, "", f"no workflow file {name_or_path!r} (looked in {WORKFLOWS_DIR})")])


def load_raw(path: Path, _seen: tuple[Path, ...] = ()) -> tuple[dict, _Located]:
    """A workflow file with everything it extends merged in, and where each key came from."""
    path = path.resolve()
    if path in _seen:
        raise WorkflowError([WorkflowProblem(_display(path), 1, "extends", "the workflow extends itself (a loop)")])
    located = _Located()
    data = _load_yaml(path, located)
    parent = data.pop("extends", None)
    if parent is None:
        return data, located
    if not isinstance(parent, str):
        file, line = located.lookup(("extends",))
        raise WorkflowError([WorkflowProblem(file, line, "extends", "name one workflow file to extend")])
    try:
        parent_path = resolve(parent) if not (path.parent / f"{parent}.yaml").exists() else path.parent / f"{parent}.yaml"
    except WorkflowError:
        file, line = located.lookup(("extends",))
        raise WorkflowError([WorkflowProblem(file, line, "extends", f"no workflow {parent!r} to extend")]) from None
    base, base_loc = load_raw(parent_path, _seen + (path,))
    out = _Located()
    merged = _merge(base, data, (), base_loc, located, out)
    out.where[()] = located.where[()]
    return merged, out


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
        from casework.codes import LATE_AFTER_CLOSE, LATE_BEFORE_CLOSE

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

    _t = field_validator("report_absence_by", mode="before")(_time)


class Thresholds(_Strict):
    persistent_absence_pct: float = 10.0
    severe_absence_pct: float = 50.0
    penalty_sessions: int = Field(10, description="Unauthorised sessions that meet the national penalty threshold...")
    penalty_school_weeks: int = Field(10, description="...within this rolling number of school weeks.")


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
    from casework.models import PUPIL_FLAGS, RAG_RATINGS

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


def _check_meaning(m: WorkflowModel, loc: _Located) -> list[WorkflowProblem]:
    from casework.states.guards import GUARDS

    try:
        from casework.rules import RULES
    except ImportError:  # pragma: no cover - rules package always present once built
        RULES = {}
    problems: list[WorkflowProblem] = []

    def bad(path: Path_, msg: str) -> None:
        file, line = loc.lookup(path)
        problems.append(WorkflowProblem(file, line, _dotted(path), msg))

    known_roles = ROLE_NAMES | set(m.roles)
    for group, members in m.roles.items():
        if group in ROLE_NAMES:
            bad(("roles", group), f"{group!r} is a role; a role group needs another name")
        for i, r in enumerate(members):
            if r not in ROLE_NAMES:
                bad(("roles", group, i), f"unknown role {r!r} (roles: {', '.join(sorted(ROLE_NAMES))})")

    def check_roles(path: Path_, roles: list[str]) -> None:
        for i, r in enumerate(roles):
            if r not in known_roles:
                bad(path + (i,), f"unknown role {r!r} (roles: {', '.join(sorted(ROLE_NAMES))}; groups: {', '.join(sorted(m.roles)) or 'none'})")

    all_events: dict[str, set[str]] = {}
    formal_events: set[str] = set()
    for ct_name, ct in m.case_types.items():
        base = ("case_types", ct_name)
        if ct.initial not in ct.states:
            bad(base + ("initial",), f"initial state {ct.initial!r} is not one of this case type's states")
        if not any(s.final for s in ct.states.values()):
            bad(base + ("states",), "a case type needs a final state (e.g. closed)")
        for ev, mv in ct.moves.items():
            all_events.setdefault(ev, set()).add(ct_name)
            if mv.formal:
                formal_events.add(ev)
            mp = base + ("moves", ev)
            for i, src in enumerate(mv.from_):
                if src != "*" and src not in ct.states:
                    bad(mp + ("from", i), f"unknown state {src!r} in case type {ct_name!r} (states: {', '.join(ct.states)})")
                elif src != "*" and ct.states[src].final:
                    bad(mp + ("from", i), f"{src!r} is a final state: no move can leave it")
            if mv.to not in ct.states:
                bad(mp + ("to",), f"unknown state {mv.to!r} in case type {ct_name!r} (states: {', '.join(ct.states)})")
            check_roles(mp + ("roles",), mv.roles)
            for i, g in enumerate(mv.guards):
                name, _, arg = g.partition(":")
                if name not in GUARDS:
                    bad(mp + ("guards", i), f"unknown guard {g!r} (guards: {', '.join(sorted(GUARDS))})")
                    continue
                problem = _guard_arg_problem(name, arg, m)
                if problem:
                    bad(mp + ("guards", i), problem)
        for i, st in enumerate(ct.support_states):
            if st not in ct.states:
                bad(base + ("support_states", i), f"unknown state {st!r}")
        reachable = {ct.initial}
        changed = True
        while changed:
            changed = False
            for mv in ct.moves.values():
                if (any(s in reachable for s in mv.from_) or "*" in mv.from_) and mv.to not in reachable:
                    reachable.add(mv.to)
                    changed = True
        for s in ct.states:
            if s not in reachable:
                bad(base + ("states", s), f"state {s!r} cannot be reached by any move from {ct.initial!r}")

    def check_actions(path: Path_, actions: list[Action], ct_name: str | None) -> None:
        for i, a in enumerate(actions):
            ap = path + (i,)
            if a.letter is not None and a.letter not in m.letters:
                bad(ap + ("letter",), f"unknown letter {a.letter!r} (letters: {', '.join(sorted(m.letters))})")
            if a.timer is not None and a.timer not in m.timers:
                bad(ap + ("timer",), f"unknown timer {a.timer!r} (timers: {', '.join(sorted(m.timers))})")
            if a.notify is not None:
                check_roles(ap + ("notify",), a.notify)
            _check_pupils(bad, ap + ("pupils",), a.pupils)
            for key in ("propose", "move"):
                ev = getattr(a, key)
                if ev is None:
                    continue
                cts = all_events.get(ev, set())
                if not cts or (ct_name and ct_name not in cts):
                    bad(ap + (key,), f"unknown move {ev!r}" + (f" in case type {ct_name!r}" if ct_name else ""))
                if key == "move" and ev in formal_events:
                    bad(ap + (key,), f"{ev!r} is a formal step: a job may only propose it, a person takes it")

    for ct_name, ct in m.case_types.items():
        for s_name, s in ct.states.items():
            check_actions(("case_types", ct_name, "states", s_name, "on_enter"), s.on_enter, ct_name)
    for t_name, t in m.timers.items():
        tp = ("timers", t_name)
        if t.role not in known_roles:
            bad(tp + ("role",), f"unknown role {t.role!r}")
        for i, ev in enumerate(t.met_by):
            if ev not in all_events:
                bad(tp + ("met_by", i), f"unknown move {ev!r}")
        check_actions(tp + ("on_lapse",), t.on_lapse, None)
    for r_name, r in m.rules.items():
        rp = ("rules", r_name)
        if RULES and r_name not in RULES:
            bad(rp, f"unknown rule {r_name!r} (rules: {', '.join(sorted(RULES))})")
            continue
        if r.opens is not None and r.opens not in m.case_types:
            bad(rp + ("opens",), f"unknown case type {r.opens!r} (case types: {', '.join(m.case_types)})")
        if r.open_state is not None and r.opens in m.case_types and r.open_state not in m.case_types[r.opens].states:
            bad(rp + ("open_state",), f"unknown state {r.open_state!r} in case type {r.opens!r}")
        for ppath, ev in [(("proposes",), r.proposes), *((("proposes_by_level", k), v) for k, v in r.proposes_by_level.items())]:
            if ev is None:
                continue
            cts = all_events.get(ev, set())
            if not cts or (r.opens and r.opens not in cts):
                bad(rp + ppath, f"unknown move {ev!r}" + (f" in case type {r.opens!r}" if r.opens else ""))
        if r.proposes_by_level and r_name == "attendance_band":
            names = {b.get("name") for b in r.params.get("bands", []) if isinstance(b, dict)} or {
                b.name for b in RULES[r_name].Params().bands}
            for level in r.proposes_by_level:
                if level not in names:
                    bad(rp + ("proposes_by_level", level), f"no band is called {level!r} (bands: {', '.join(sorted(names))})")
        for level, letter in r.letters_by_level.items():
            if letter not in m.letters:
                bad(rp + ("letters_by_level", level), f"unknown letter {letter!r} (letters: {', '.join(m.letters)})")
            if r.opens is None:
                bad(rp + ("letters_by_level", level), "an automatic letter needs a case: give the rule `opens`")
        if r.letters_by_level and r_name == "attendance_band":
            names = {b.get("name") for b in r.params.get("bands", []) if isinstance(b, dict)} or {
                b.name for b in RULES[r_name].Params().bands}
            for level in r.letters_by_level:
                if level not in names:
                    bad(rp + ("letters_by_level", level), f"no band is called {level!r} (bands: {', '.join(sorted(names))})")
        _check_pupils(bad, rp + ("pupils",), r.pupils)
        check_roles(rp + ("notify",), r.notify)
        if RULES:
            try:
                RULES[r_name].Params(**r.params)
            except ValidationError as exc:
                for e in exc.errors():
                    bad(rp + tuple(e["loc"]), _pyd_message(e))
            except TypeError as exc:
                bad(rp, str(exc))
        for key, value in r.params.items():
            if key == "codes":
                for i, c in enumerate(value or []):
                    if c not in CODES:
                        bad(rp + ("codes", i), f"unknown attendance code {c!r}")
    for c in m.codes:
        if c not in CODES:
            bad(("codes", c), f"unknown attendance code {c!r}")
    return problems


def _guard_arg_problem(name: str, arg: str, m: WorkflowModel) -> str | None:
    from casework.states.guards import GUARD_ARGS

    spec = GUARD_ARGS.get(name)
    if spec is None:
        return f"guard {name!r} takes no argument" if arg else None
    kind, optional = spec.rstrip("?"), spec.endswith("?")
    if not arg:
        return None if optional else f"guard {name!r} needs {'a number' if kind == 'number' else 'a timer'}: {name}:VALUE"
    if kind == "number" and not arg.replace(".", "", 1).isdigit():
        return f"guard {name!r} needs a number, not {arg!r}"
    if kind == "timer" and arg not in m.timers:
        return f"guard {name!r} names unknown timer {arg!r} (timers: {', '.join(sorted(m.timers))})"
    return None


def _pyd_message(e: dict) -> str:
    if e["type"] == "extra_forbidden":
        return "unknown key"
    if e["type"] == "missing":
        return "required key is missing"
    msg = e["msg"]
    return msg.removeprefix("Value error, ")


def load(name_or_path: str | Path) -> Workflow:
    """Load, merge and validate a workflow; raises WorkflowError listing every problem."""
    path = resolve(name_or_path)
    raw, located = load_raw(path)
    try:
        model = WorkflowModel.model_validate(raw)
    except ValidationError as exc:
        problems = []
        for e in exc.errors():
            loc = tuple(e["loc"])
            file, line = located.lookup(_strip_union(loc, raw))
            problems.append(WorkflowProblem(file, line, _dotted(_strip_union(loc, raw)), _pyd_message(e)))
        raise WorkflowError(problems) from None
    problems = _check_meaning(model, located)
    if problems:
        raise WorkflowError(problems)
    return Workflow(path.stem, path, model, located)


def _strip_union(loc: Path_, raw: dict) -> Path_:
    """Drop the pydantic-internal parts of an error location (union branch names)."""
    out: list = []
    node: Any = raw
    for part in loc:
        if isinstance(node, dict) and part in node:
            out.append(part)
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and part < len(node):
            out.append(part)
            node = node[part]
        elif isinstance(node, dict) and part == "from_" and "from" in node:
            out.append("from")
            node = node["from"]
        elif not isinstance(node, (dict, list)):
            break
        else:
            out.append(part)
            break
    return tuple(out)


@lru_cache(maxsize=64)
def _cached(path: str, mtime: float) -> Workflow:
    return load(path)


_checked: dict[str, tuple[float, str, float]] = {}
RECHECK_SECONDS = 2.0


def for_school(workflow: str) -> Workflow:
    """The workflow a school follows: cached, and loaded again when its file or a file it
    may extend changes (looked at no more than every couple of seconds)."""
    import time

    now = time.monotonic()
    seen = _checked.get(workflow)
    if seen is None or now - seen[0] > RECHECK_SECONDS:
        path = resolve(workflow)
        stamps = [p.stat().st_mtime for d in {path.parent, WORKFLOWS_DIR} for p in Path(d).glob("*.yaml")]
        seen = (now, str(path), max([path.stat().st_mtime, *stamps]))
        _checked[workflow] = seen
    return _cached(seen[1], seen[2])
