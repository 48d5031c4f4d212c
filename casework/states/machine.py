"""Build a ``transitions`` machine for each case type of a workflow.

One machine per (workflow, case type), shared by every case of that type (the
``transitions`` pattern of one machine, many models). The workflow supplies states
and moves; guards are checked by ``casework.cases.moves`` first, so that a refused move can
say which guard failed and why, and the machine's condition then re-reads that verdict.
"""

from __future__ import annotations

from transitions import Machine, MachineError

from casework.workflow import CaseTypeDef, Workflow


class CaseModel:
    """What the machine moves: a stand-in for a Case row (which it must not decorate)."""

    def __init__(self, state: str) -> None:
        self.state = state
        self.verdict_ok = False

    def guards_passed(self, *_args, **_kwargs) -> bool:
        return self.verdict_ok


def sources(ct: CaseTypeDef, move_from: list[str]) -> list[str]:
    if "*" in move_from:
        return [s for s, d in ct.states.items() if not d.final]
    return list(move_from)




_MACHINES: dict[tuple[int, str], Machine] = {}


def machine_for(workflow: Workflow, case_type: str) -> Machine:
    key = (id(workflow.model), case_type)
    m = _MACHINES.get(key)
    if m is None:
        ct = workflow.case_type(case_type)
        m = Machine(
            model=None,
            states=list(ct.states),
            initial=ct.initial,
            transitions=[
                {"trigger": ev, "source": sources(ct, mv.from_), "dest": mv.to, "conditions": "guards_passed"}
                for ev, mv in ct.moves.items()
            ],
            auto_transitions=False,
            ignore_invalid_triggers=False,
        )
        _MACHINES[key] = m
    return m


def fire(workflow: Workflow, case_type: str, state: str, event: str) -> str:
    """Move a case's state by ``event`` (guards already checked); returns the new state."""
    m = machine_for(workflow, case_type)
    model = CaseModel(state)
    m.add_model(model, initial=state)
    try:
        model.verdict_ok = True
        if not model.trigger(event):
            raise MachineError(f"{event} did not move the case")
        return model.state
    finally:
        m.remove_model(model)


def events_from(workflow: Workflow, case_type: str, state: str) -> list[str]:
    m = machine_for(workflow, case_type)
    return [t for t in m.get_triggers(state)]


ANY_OPEN = "(any open state)"


def diagram(workflow: Workflow, case_type: str, fmt: str = "svg") -> bytes | str:
    """A picture of one case type's states and moves (SVG/PNG via Graphviz, or Mermaid text).

    Moves allowed from every open state (e.g. closing a case) are drawn once, from a
    single "(any open state)" node, so the picture stays readable."""
    from transitions.extensions import GraphMachine

    if fmt != "mermaid":
        try:
            import graphviz  # noqa: F401  (without it transitions quietly falls back to Mermaid text)
        except ImportError as exc:
            raise RuntimeError("drawing SVG or PNG needs the Python graphviz package (pip install graphviz) "
                               "and Graphviz's dot program (apt install graphviz)") from exc
    ct = workflow.case_type(case_type)
    name = {s: d.label for s, d in ct.states.items()}  # draw each state by its label
    transitions = []
    wildcard = False
    for ev, mv in ct.moves.items():
        label = (mv.label or ev.replace("_", " ")) + (" *" if mv.formal else "")
        if "*" in mv.from_:
            wildcard = True
            transitions.append({"trigger": ev, "label": label, "source": ANY_OPEN, "dest": name[mv.to]})
            continue
        for src in sources(ct, mv.from_):
            transitions.append({"trigger": ev, "label": label, "source": name[src], "dest": name[mv.to]})
    states = list(name.values()) + ([ANY_OPEN] if wildcard else [])

    class _Graph(GraphMachine):
        machine_attributes = {**GraphMachine.machine_attributes, "rankdir": "TB", "nodesep": "0.4", "ranksep": "0.5"}

    class _M:
        pass

    gm = _Graph(
        model=_M(), states=states, transitions=transitions, initial=name[ct.initial], auto_transitions=False,
        title=f"{workflow.name}: {ct.label} (* formal step: a person decides)", show_conditions=False,
        graph_engine="mermaid" if fmt == "mermaid" else "graphviz",
    )
    graph = gm.get_graph()
    if fmt == "mermaid":
        return graph.draw(None)
    data = graph.draw(None, format=fmt, prog="dot")
    magic = b"\x89PNG" if fmt == "png" else b"<?xml"
    if not (data if isinstance(data, bytes) else data.encode()).lstrip().startswith(magic):
        raise RuntimeError(f"Graphviz did not produce {fmt.upper()} for {workflow.key} {case_type}")
    return data
