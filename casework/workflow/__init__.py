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

import time
from functools import lru_cache
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from casework.workflow.check import check_meaning
from casework.workflow.files import (
    WORKFLOWS_DIR,
    Path_,
    WorkflowError,
    WorkflowProblem,
    _dotted,
    load_raw,
    resolve,
)
from casework.workflow.model import (
    Action,
    CaseTypeDef,
    LetterDef,
    MoveDef,
    SchoolSettings,
    StateDef,
    TimerDef,
    Workflow,
    WorkflowModel,
    _pyd_message,
    pupil_matches,
)

__all__ = ["WORKFLOWS_DIR", "Action", "CaseTypeDef", "LetterDef", "MoveDef", "SchoolSettings", "StateDef", "TimerDef", "Workflow",
           "WorkflowError", "WorkflowModel", "WorkflowProblem", "for_school", "load", "load_raw", "pupil_matches",
           "resolve"]


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
    problems = check_meaning(model, located)
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
    now = time.monotonic()
    seen = _checked.get(workflow)
    if seen is None or now - seen[0] > RECHECK_SECONDS:
        path = resolve(workflow)
        stamps = [p.stat().st_mtime for d in {path.parent, WORKFLOWS_DIR} for p in Path(d).glob("*.yaml")]
        seen = (now, str(path), max([path.stat().st_mtime, *stamps]))
        _checked[workflow] = seen
    return _cached(seen[1], seen[2])
