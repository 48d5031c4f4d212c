"""``severe_absence``: missed at least 50 % of possible sessions this school year (docs/domain.md §1)."""

from __future__ import annotations

from ._absence_pct import absence_rule

RULE_ID = "severe_absence"
RULE = absence_rule(RULE_ID, "Severe absence", 50.0, __doc__)
Params = RULE.Params
