"""What a workflow means, checked: every state, role, timer, letter, guard, rule and code
it names must exist, and every state must be reachable. One checker per section; each
problem names the file, the line and the key."""

from __future__ import annotations

from pydantic import ValidationError

from casework.register.codes import CODES
from casework.rules import RULES
from casework.states.guards import GUARD_ARGS, GUARDS
from casework.workflow.files import Path_, WorkflowProblem, _dotted, _Located
from casework.workflow.model import (
    ROLE_NAMES,
    Action,
    CaseTypeDef,
    RuleWiring,
    WorkflowModel,
    _check_pupils,
    _pyd_message,
)


def check_meaning(m: WorkflowModel, loc: _Located) -> list[WorkflowProblem]:
    return _MeaningCheck(m, loc).run()


def _names(items) -> str:
    return ", ".join(sorted(items))


class _MeaningCheck:
    def __init__(self, m: WorkflowModel, loc: _Located):
        self.m, self.loc = m, loc
        self.problems: list[WorkflowProblem] = []
        self.known_roles = ROLE_NAMES | set(m.roles)
        self.all_events: dict[str, set[str]] = {}
        self.formal_events: set[str] = set()
        for ct_name, ct in m.case_types.items():
            for ev, mv in ct.moves.items():
                self.all_events.setdefault(ev, set()).add(ct_name)
                if mv.formal:
                    self.formal_events.add(ev)

    def run(self) -> list[WorkflowProblem]:
        self.role_groups()
        for ct_name, ct in self.m.case_types.items():
            self.case_type(ct_name, ct)
        self.timers()
        for r_name, r in self.m.rules.items():
            self.rule(r_name, r)
        for c in self.m.codes:
            if c not in CODES:
                self.bad(("codes", c), f"unknown attendance code {c!r}")
        self.descriptive_bands()
        self.assignment()
        return self.problems

    def bad(self, path: Path_, msg: str) -> None:
        file, line = self.loc.lookup(path)
        self.problems.append(WorkflowProblem(file, line, _dotted(path), msg))

    # -- roles ----------------------------------------------------------------

    def role_groups(self) -> None:
        for group, members in self.m.roles.items():
            if group in ROLE_NAMES:
                self.bad(("roles", group), f"{group!r} is a role; a role group needs another name")
            for i, r in enumerate(members):
                if r not in ROLE_NAMES:
                    self.bad(("roles", group, i), f"unknown role {r!r} (roles: {_names(ROLE_NAMES)})")

    def roles(self, path: Path_, roles: list[str]) -> None:
        for i, r in enumerate(roles):
            if r not in self.known_roles:
                self.bad(path + (i,), f"unknown role {r!r} (roles: {_names(ROLE_NAMES)}; "
                                      f"groups: {_names(self.m.roles) or 'none'})")

    def assignment(self) -> None:
        for i, rule in enumerate(self.m.assignment):
            if rule.to not in self.known_roles:
                self.bad(("assignment", i, "to"), f"unknown role {rule.to!r} (roles: {_names(ROLE_NAMES)}; "
                                                  f"groups: {_names(self.m.roles) or 'none'})")
            for j, ct in enumerate(rule.case_types):
                if ct not in self.m.case_types:
                    self.bad(("assignment", i, "case_types", j), f"unknown case type {ct!r} "
                                                                  f"(case types: {_names(self.m.case_types)})")
            for j, yg in enumerate(rule.year_groups):
                if not -1 <= yg <= 14:
                    self.bad(("assignment", i, "year_groups", j), f"year group {yg} is not between -1 (nursery) and 14")

    # -- case types -----------------------------------------------------------

    def case_type(self, ct_name: str, ct: CaseTypeDef) -> None:
        base = ("case_types", ct_name)
        if ct.initial not in ct.states:
            self.bad(base + ("initial",), f"initial state {ct.initial!r} is not one of this case type's states")
        if not any(s.final for s in ct.states.values()):
            self.bad(base + ("states",), "a case type needs a final state (e.g. closed)")
        for ev, mv in ct.moves.items():
            self.move(ct_name, ct, ev, mv)
        for i, st in enumerate(ct.support_states):
            if st not in ct.states:
                self.bad(base + ("support_states", i), f"unknown state {st!r}")
        self.reachable(ct_name, ct)
        for s_name, s in ct.states.items():
            self.actions(("case_types", ct_name, "states", s_name, "on_enter"), s.on_enter, ct_name)

    def move(self, ct_name: str, ct: CaseTypeDef, ev: str, mv) -> None:
        mp = ("case_types", ct_name, "moves", ev)
        for i, src in enumerate(mv.from_):
            if src != "*" and src not in ct.states:
                self.bad(mp + ("from", i), f"unknown state {src!r} in case type {ct_name!r} (states: {', '.join(ct.states)})")
            elif src != "*" and ct.states[src].final:
                self.bad(mp + ("from", i), f"{src!r} is a final state: no move can leave it")
        if mv.to not in ct.states:
            self.bad(mp + ("to",), f"unknown state {mv.to!r} in case type {ct_name!r} (states: {', '.join(ct.states)})")
        self.roles(mp + ("roles",), mv.roles)
        for i, g in enumerate(mv.guards):
            name, _, arg = g.partition(":")
            if name not in GUARDS:
                self.bad(mp + ("guards", i), f"unknown guard {g!r} (guards: {_names(GUARDS)})")
                continue
            problem = guard_arg_problem(name, arg, self.m)
            if problem:
                self.bad(mp + ("guards", i), problem)

    def reachable(self, ct_name: str, ct: CaseTypeDef) -> None:
        reached = {ct.initial}
        changed = True
        while changed:
            changed = False
            for mv in ct.moves.values():
                if (any(s in reached for s in mv.from_) or "*" in mv.from_) and mv.to not in reached:
                    reached.add(mv.to)
                    changed = True
        for s in ct.states:
            if s not in reached:
                self.bad(("case_types", ct_name, "states", s), f"state {s!r} cannot be reached by any move from {ct.initial!r}")

    # -- actions and timers ---------------------------------------------------

    def actions(self, path: Path_, actions: list[Action], ct_name: str | None) -> None:
        m = self.m
        for i, a in enumerate(actions):
            ap = path + (i,)
            if a.letter is not None and a.letter not in m.letters:
                self.bad(ap + ("letter",), f"unknown letter {a.letter!r} (letters: {_names(m.letters)})")
            if a.timer is not None and a.timer not in m.timers:
                self.bad(ap + ("timer",), f"unknown timer {a.timer!r} (timers: {_names(m.timers)})")
            if a.notify is not None:
                self.roles(ap + ("notify",), a.notify)
            _check_pupils(self.bad, ap + ("pupils",), a.pupils)
            for key in ("propose", "move"):
                ev = getattr(a, key)
                if ev is not None:
                    self.event(ap + (key,), ev, ct_name)
                if key == "move" and ev in self.formal_events:
                    self.bad(ap + (key,), f"{ev!r} is a formal step: a job may only propose it, a person takes it")

    def event(self, path: Path_, ev: str, ct_name: str | None) -> None:
        cts = self.all_events.get(ev, set())
        if not cts or (ct_name and ct_name not in cts):
            self.bad(path, f"unknown move {ev!r}" + (f" in case type {ct_name!r}" if ct_name else ""))

    def timers(self) -> None:
        for t_name, t in self.m.timers.items():
            tp = ("timers", t_name)
            if t.role not in self.known_roles:
                self.bad(tp + ("role",), f"unknown role {t.role!r}")
            for i, ev in enumerate(t.met_by):
                if ev not in self.all_events:
                    self.bad(tp + ("met_by", i), f"unknown move {ev!r}")
            self.actions(tp + ("on_lapse",), t.on_lapse, None)

    # -- descriptive bands ----------------------------------------------------

    def descriptive_bands(self) -> None:
        """Bands run from the highest figure to the lowest, no two start at the same figure (they would
        cover the same attendance), names are distinct, and the lowest starts at 0 (every pupil has one)."""
        bands = self.m.descriptive_bands.bands
        base = ("descriptive_bands", "bands")
        seen: dict[str, int] = {}
        for i, b in enumerate(bands):
            if b.name in seen:
                self.bad(base + (i, "name"), f"two bands are called {b.name!r}")
            seen.setdefault(b.name, i)
            if i == 0:
                continue
            above = bands[i - 1]
            if b.at_least_pct == above.at_least_pct:
                self.bad(base + (i, "at_least_pct"), f"{b.name!r} starts at {b.at_least_pct:g}%, like {above.name!r}: "
                         "two bands would cover the same attendance")
            elif b.at_least_pct > above.at_least_pct:
                self.bad(base + (i, "at_least_pct"), f"{b.name!r} ({b.at_least_pct:g}%) comes after {above.name!r} "
                         f"({above.at_least_pct:g}%): list the bands from the highest figure to the lowest")
        if bands and min(b.at_least_pct for b in bands) != 0:
            low = min(range(len(bands)), key=lambda i: bands[i].at_least_pct)
            self.bad(base + (low, "at_least_pct"), f"the lowest band ({bands[low].name!r}) must start at 0% so every "
                     "pupil has a band")

    # -- rules ----------------------------------------------------------------

    def rule(self, r_name: str, r: RuleWiring) -> None:
        m, rp = self.m, ("rules", r_name)
        if r_name not in RULES:
            self.bad(rp, f"unknown rule {r_name!r} (rules: {_names(RULES)})")
            return
        if r.opens is not None and r.opens not in m.case_types:
            self.bad(rp + ("opens",), f"unknown case type {r.opens!r} (case types: {', '.join(m.case_types)})")
        if r.open_state is not None and r.opens in m.case_types and r.open_state not in m.case_types[r.opens].states:
            self.bad(rp + ("open_state",), f"unknown state {r.open_state!r} in case type {r.opens!r}")
        proposals = [(("proposes",), r.proposes), *((("proposes_by_level", k), v) for k, v in r.proposes_by_level.items())]
        for ppath, ev in proposals:
            if ev is not None:
                self.event(rp + ppath, ev, r.opens)
        if r.proposes_by_level and r_name == "attendance_band":
            self.band_levels(rp, r, "proposes_by_level", r.proposes_by_level)
        for level, letter in r.letters_by_level.items():
            if letter not in m.letters:
                self.bad(rp + ("letters_by_level", level), f"unknown letter {letter!r} (letters: {', '.join(m.letters)})")
            if r.opens is None:
                self.bad(rp + ("letters_by_level", level), "an automatic letter needs a case: give the rule `opens`")
        if r.letters_by_level and r_name == "attendance_band":
            self.band_levels(rp, r, "letters_by_level", r.letters_by_level)
        _check_pupils(self.bad, rp + ("pupils",), r.pupils)
        self.roles(rp + ("notify",), r.notify)
        self.rule_params(rp, r_name, r)

    def band_levels(self, rp: Path_, r: RuleWiring, key: str, levels: dict) -> None:
        names = {b.get("name") for b in r.params.get("bands", []) if isinstance(b, dict)} or {
            b.name for b in RULES["attendance_band"].Params().bands}
        for level in levels:
            if level not in names:
                self.bad(rp + (key, level), f"no band is called {level!r} (bands: {_names(names)})")

    def rule_params(self, rp: Path_, r_name: str, r: RuleWiring) -> None:
        try:
            RULES[r_name].Params(**r.params)
        except ValidationError as exc:
            for e in exc.errors():
                self.bad(rp + tuple(e["loc"]), _pyd_message(e))
        except TypeError as exc:
            self.bad(rp, str(exc))
        for i, c in enumerate(r.params.get("codes") or []):
            if c not in CODES:
                self.bad(rp + ("codes", i), f"unknown attendance code {c!r}")


def guard_arg_problem(name: str, arg: str, m: WorkflowModel) -> str | None:
    """What is wrong with a guard's argument (``name:argument``), if anything."""
    spec = GUARD_ARGS.get(name)
    if spec is None:
        return f"guard {name!r} takes no argument" if arg else None
    kind, optional = spec.rstrip("?"), spec.endswith("?")
    if not arg:
        return None if optional else f"guard {name!r} needs {'a number' if kind == 'number' else 'a timer'}: {name}:VALUE"
    if kind == "number" and not arg.replace(".", "", 1).isdigit():
        return f"guard {name!r} needs a number, not {arg!r}"
    if kind == "timer" and arg not in m.timers:
        return f"guard {name!r} names unknown timer {arg!r} (timers: {_names(m.timers)})"
    return None
