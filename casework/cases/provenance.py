"""Which version of a rule and of a workflow produced a finding, a letter or a step.

Kept with every finding (``CaseFinding.provenance``), every letter a rule queued
(``LetterRequest.provenance``) and every move (``CaseMove.evidence["provenance"]``), so
``casework explain`` can say, years later, exactly what produced them:

- a **rule version**: the rule's id and a SHA-256 over the source of its module and of the
  shared rule modules it calls (``casework/rules/_attendance.py`` and the like), so any change
  to the code that computes its figures gives a new version;
- the **settings** the rule ran with (its validated parameters, from the workflow);
- a **workflow version**: the workflow's name, its file, and a SHA-256 over the merged
  workflow (the school's file with everything it extends), as canonical JSON;
- the casework release, the date the rule looked at (``as_of``), its period, and the moment.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import sys
from functools import cache
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

from casework.cases.evidence import rule_params
from casework.rules import RULES
from casework.workflow import load_raw

if TYPE_CHECKING:
    from casework.rules import Finding
    from casework.workflow import Workflow

NOT_RECORDED = "not recorded"


@cache
def casework_release() -> str:
    try:
        return version("casework")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "unknown"


def _rule_modules(rule_id: str) -> list[str]:
    """The rule's own module(s) and the casework.rules modules their names come from."""
    rule = RULES[rule_id]
    own = {rule.evaluate.__module__, rule.reads_from.__module__, rule.Params.__module__}
    names = set(own)
    for mod in own:
        for value in vars(sys.modules[mod]).values():
            origin = getattr(value, "__module__", None)
            if isinstance(origin, str) and origin.startswith("casework.rules"):
                names.add(origin)
    return sorted(n for n in names if getattr(sys.modules.get(n), "__file__", None))


@cache
def rule_version(rule_id: str) -> str:
    """``rule_id@<16 hex>``: a digest of the source that computes the rule's figures."""
    h = hashlib.sha256()
    for name in _rule_modules(rule_id):
        h.update(name.encode())
        with open(sys.modules[name].__file__, "rb") as f:
            h.update(f.read())
    return f"{rule_id}@{h.hexdigest()[:16]}"


_WORKFLOW_DIGESTS: dict[tuple[str, int], tuple[Any, dict]] = {}


def workflow_version(wf: Workflow) -> dict:
    """The workflow's name, key, file and a SHA-256 of the merged file text (canonical JSON)."""
    key = (str(wf.path), id(wf.model))
    hit = _WORKFLOW_DIGESTS.get(key)
    if hit is not None and hit[0] is wf.model:
        return dict(hit[1])
    raw, _ = load_raw(wf.path)
    text = json.dumps(raw, sort_keys=True, ensure_ascii=False, default=str)
    out = {"key": wf.key, "name": wf.name, "file": wf.path.name,
           "sha256": hashlib.sha256(text.encode()).hexdigest()}
    if len(_WORKFLOW_DIGESTS) > 64:
        _WORKFLOW_DIGESTS.clear()
    _WORKFLOW_DIGESTS[key] = (wf.model, out)
    return dict(out)


def step_provenance(wf: Workflow, moment: dt.datetime) -> dict:
    """What is kept with a move: the workflow version and the release, at that moment."""
    return {"workflow": workflow_version(wf), "casework": casework_release(), "at": moment.isoformat()}


class FindingTrail:
    """Provenance for the findings of one evaluation (versions worked out once per rule)."""

    def __init__(self, wf: Workflow, moment: dt.datetime, as_of: dt.date) -> None:
        self.wf, self.moment, self.as_of = wf, moment, as_of
        self._rules: dict[str, dict] = {}
        self._step: dict | None = None

    def _rule(self, rule_id: str) -> dict:
        if rule_id not in self._rules:
            rule = RULES[rule_id]
            params = rule.Params(**rule_params(self.wf, rule_id)).model_dump(mode="json")
            self._rules[rule_id] = {"rule": rule_id, "rule_version": rule_version(rule_id), "params": params}
        return self._rules[rule_id]

    def of(self, f: Finding) -> dict:
        out = dict(self._rule(f.rule))
        if self._step is None:
            self._step = step_provenance(self.wf, self.moment)
        out.update(self._step)
        out["as_of"] = self.as_of.isoformat()
        out["level"] = f.level
        out["period"] = None if f.period is None else [f.period[0].isoformat(), f.period[1].isoformat()]
        return out


__all__ = ["NOT_RECORDED", "FindingTrail", "casework_release", "rule_version", "step_provenance",
           "workflow_version"]
