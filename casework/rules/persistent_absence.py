"""``persistent_absence``: missed at least 10 % of possible sessions this school year (docs/domain.md §1)."""

from __future__ import annotations

from ._absence_pct import absence_rule

RULE_ID = "persistent_absence"
RULE = absence_rule(RULE_ID, "Persistent absence", 10.0, __doc__)
Params = RULE.Params
