"""What a rule says about a pupil: a finding that explains itself.

A finding names the rule that fired, the figures it computed, the marks that justify
it and, in ``summary``, says so in a sentence or two a headteacher understands. It
never acts: when it points at a formal step (a notice to improve, a penalty notice, a
referral) ``formal`` is True and a person decides.

``concern`` is the key cases are deduplicated on: a concern already under an open case
is never opened twice. Keys that carry a date (``unexplained_absence:2026-11-23``)
make a new episode a new concern.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

Evidence = tuple[dt.date, str, str]  # (date, "AM"|"PM", code)


@dataclass
class Finding:
    rule: str  # the rule's stable id, e.g. "penalty_threshold"
    pupil_id: int
    upn: str
    concern: str  # dedupe key, e.g. "attendance" or "penalty_threshold:2026-01-05"
    summary: str  # one or two sentences with the figures
    figures: dict[str, Any] = field(default_factory=dict)
    evidence: list[Evidence] = field(default_factory=list)
    period: tuple[dt.date, dt.date] | None = None
    level: str = "warning"
    formal: bool = False  # suggests a formal step only a person may take

    def as_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "pupil_id": self.pupil_id,
            "upn": self.upn,
            "concern": self.concern,
            "summary": self.summary,
            "figures": {k: _jsonable(v) for k, v in self.figures.items()},
            "evidence": [{"date": d.isoformat(), "session": s, "code": c} for d, s, c in self.evidence],
            "period": None if self.period is None else {
                "start": self.period[0].isoformat(), "end": self.period[1].isoformat()},
            "level": self.level,
            "formal": self.formal,
        }


def _jsonable(v: Any) -> Any:
    if isinstance(v, dt.date):
        return v.isoformat()
    if hasattr(v, "item"):  # numpy scalar
        return v.item()
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    if isinstance(v, dict):
        return {k: _jsonable(x) for k, x in v.items()}
    return v


def fmt_date(d: dt.date) -> str:
    """A date as a person writes it: 'Mon 23 Nov 2026'."""
    return f"{d:%a} {d.day} {d:%b %Y}"


def fmt_pct(x: float) -> str:
    return f"{x:.1f}%"


def plural(n: int, word: str, many: str | None = None) -> str:
    return f"{n} {word if n == 1 else (many or word + 's')}"


def fmt_marks(evidence: list[Evidence], limit: int = 12) -> str:
    """'G on Mon 5 Jan 2026 AM, U on ...' (shortened beyond ``limit`` marks)."""
    parts = [f"{c} {fmt_date(d)} {s}" for d, s, c in evidence[:limit]]
    if len(evidence) > limit:
        parts.append(f"and {len(evidence) - limit} more")
    return ", ".join(parts)
