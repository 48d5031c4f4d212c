"""Plain records: the small results the CLI prints with ``--json`` and the jobs store.

A dataclass that mixes in :class:`Plain` turns into a dict of its fields with ``as_dict()``,
the same way everywhere. A record with figures worked out from its fields (a total, a
percentage) writes its own ``as_dict``."""

from __future__ import annotations

from dataclasses import fields


class Plain:
    """``as_dict()``: the dataclass's fields by name (values as they are, not copied)."""

    def as_dict(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self)}  # type: ignore[arg-type]
