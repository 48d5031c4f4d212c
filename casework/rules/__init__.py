"""Rules that read the register and say what a person should look at.

Each rule has a stable id (used in workflow files and in output), a pydantic
``Params`` model (the settings a workflow file may give it, with national defaults and
a description per field) and an ``evaluate(reg, calendar, params, as_of)`` that works
set-wise over every pupil of the school at once (numpy over a ``RegisterMatrix``) and
returns ``Finding``s. Rules never act: a finding that points at a formal step is
marked ``formal`` for a person to take.

    reg = load_register(session, school.id, calendar, evaluation_start(calendar, config, as_of), as_of)
    findings = evaluate_all(reg, calendar, config, as_of)

``config`` maps rule id -> params dict (as in a workflow file). Unknown rule ids and
unknown or invalid keys raise ``pydantic.ValidationError`` whose ``loc`` starts with the
rule id, so the workflow loader can point at the file and line.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, create_model

from casework.register.calendar import SchoolCalendar, school_year_start

from . import (
    absent_today,
    attendance_band,
    continuous_absence,
    early_warning,
    lateness,
    leave_refused_taken,
    medical_evidence,
    penalty_threshold,
    persistent_absence,
    severe_absence,
    sickness_return,
    stale_n,
    traveller_sessions,
    unexplained_absence,
    weekday_pattern,
)
from .base import Rule, RuleParams
from .findings import Finding
from .register_data import RegisterMatrix, load_register, register_from_marks

RULES: dict[str, Rule] = {
    m.RULE.id: m.RULE
    for m in (
        attendance_band, persistent_absence, severe_absence, penalty_threshold, lateness,
        unexplained_absence, sickness_return, medical_evidence, traveller_sessions,
        leave_refused_taken, stale_n, weekday_pattern, absent_today, continuous_absence, early_warning,
    )
}

RulesConfig: type[BaseModel] = create_model(
    "RulesConfig",
    __config__=ConfigDict(extra="forbid"),
    **{rid: (rule.Params | None, None) for rid, rule in RULES.items()},
)


def validate_config(config: Mapping[str, Any] | None) -> dict[str, RuleParams]:
    """Check a ``rule id -> params`` mapping; returns the validated params of each rule named.

    ``None`` (or an empty mapping) for a rule means its defaults. ``config=None`` means
    every rule with its defaults. Raises ``pydantic.ValidationError``.
    """
    if config is None:
        return {rid: rule.Params() for rid, rule in RULES.items()}
    raw = {rid: ({} if v is None else v) for rid, v in config.items()}
    model = RulesConfig.model_validate(raw)
    return {rid: getattr(model, rid) for rid in raw}


def evaluation_start(calendar: SchoolCalendar, config: Mapping[str, Any] | None, as_of: dt.date) -> dt.date:
    """The first date of the register the configured rules read as of ``as_of``."""
    params = validate_config(config)
    starts = [RULES[rid].reads_from(calendar, p, as_of) for rid, p in params.items()]
    return min(starts, default=school_year_start(as_of))


def evaluate_all(
    reg: RegisterMatrix,
    calendar: SchoolCalendar,
    config: Mapping[str, Any] | None,
    as_of: dt.date,
) -> list[Finding]:
    """Every configured rule over the whole register, as of ``as_of``; findings ordered by
    rule (registry order), then pupil."""
    out: list[Finding] = []
    for rid, params in validate_config(config).items():
        out.extend(RULES[rid].evaluate(reg, calendar, params, as_of))
    return out


def evaluate_school(session, school_id: int, calendar: SchoolCalendar, config: Mapping[str, Any] | None,
                    as_of: dt.date) -> list[Finding]:
    """Load what the rules need and evaluate them: the whole job for one school."""
    reg = load_register(session, school_id, calendar, evaluation_start(calendar, config, as_of), as_of)
    return evaluate_all(reg, calendar, config, as_of)


__all__ = [
    "RULES", "Finding", "RegisterMatrix", "Rule", "RuleParams", "RulesConfig", "evaluate_all",
    "evaluate_school", "evaluation_start", "load_register", "register_from_marks", "validate_config",
]
