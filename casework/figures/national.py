"""The DfE's published national absence figures, for comparison in the governors' termly report.

They live in a data file (``casework/data/national-figures.yaml``), each figure with its year,
period (full year or autumn term), phase and source publication, so a new year's figures are
a line in that file, not a code change. A figure nobody has checked is left out rather than
guessed; the report then says "not recorded".
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

NATIONAL_FIGURES = Path(__file__).resolve().parent.parent / "data" / "national-figures.yaml"
PHASES = ("primary", "secondary", "special")
PERIOD_LABELS = {"full_year": "whole year", "autumn_term": "autumn term"}


class NationalFiguresError(ValueError):
    """The figures file is wrong: the message names the file, the line and the field."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Source(_Strict):
    publication: str
    url: str = Field(pattern=r"^https://")
    published: int = Field(ge=2000, le=2100)
    note: str = ""


class NationalFigure(_Strict):
    year: str = Field(pattern=r"^\d{4}/\d{2}$", description="The academic year, e.g. 2023/24.")
    period: Literal["full_year", "autumn_term"]
    phase: Literal["all", "primary", "secondary", "special"]
    absence_pct: float | None = Field(None, ge=0, le=100)
    persistent_absence_pct: float | None = Field(None, ge=0, le=100)
    severe_absence_pct: float | None = Field(None, ge=0, le=100)
    source: str

    @property
    def attendance_pct(self) -> float | None:
        """National attendance: 100 minus the overall absence rate."""
        return None if self.absence_pct is None else round(100 - self.absence_pct, 1)

    @property
    def period_label(self) -> str:
        return PERIOD_LABELS[self.period]

    def describe(self) -> str:
        return f"{self.phase_label}, {self.year} {self.period_label}"

    @property
    def phase_label(self) -> str:
        return "All state-funded schools" if self.phase == "all" else f"State-funded {self.phase}"


@dataclass(frozen=True)
class NationalFigures:
    sources: dict[str, Source]
    figures: list[NationalFigure]

    def for_phase(self, phase: str | None) -> list[NationalFigure]:
        """The figures to compare a school of ``phase`` with (unknown phase: every phase), newest year first,
        the whole year before the autumn term."""
        wanted = {phase} if phase else {"all", *PHASES}
        order = {"full_year": 0, "autumn_term": 1}
        rows = [f for f in self.figures if f.phase in wanted]
        return sorted(rows, key=lambda f: (f.year, -order[f.period], f.phase != "all"), reverse=True)


def _line_of(node: yaml.Node | None, *path) -> int:
    """The line (1-based) of the entry at ``path`` in the YAML node tree, as near as it exists."""
    line = node.start_mark.line + 1 if node is not None else 0
    for key in path:
        if isinstance(node, yaml.MappingNode):
            found = next((v for k, v in node.value if k.value == key), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and key < len(node.value):
            found = node.value[key]
        else:
            found = None
        if found is None:
            break
        node, line = found, found.start_mark.line + 1
    return line


def load_national_figures(path: str | Path = NATIONAL_FIGURES) -> NationalFigures:
    """Read and check the figures file; raises NationalFiguresError naming file:line: field."""
    path = Path(path)
    name = path.name
    try:
        text = path.read_text()
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text) or {}
    except OSError as exc:
        raise NationalFiguresError(f"{name}: cannot read it: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise NationalFiguresError(f"{name}:{mark.line + 1 if mark else 0}: not valid YAML") from None
    if not isinstance(data, dict) or set(data) - {"sources", "figures"}:
        raise NationalFiguresError(f"{name}:1: the file holds `sources:` and `figures:` only")
    sources: dict[str, Source] = {}
    for key, raw in (data.get("sources") or {}).items():
        sources[key] = _valid(Source, raw, name, node, ("sources", key))
    figures = []
    for i, raw in enumerate(data.get("figures") or []):
        fig = _valid(NationalFigure, raw, name, node, ("figures", i))
        if fig.source not in sources:
            raise NationalFiguresError(f"{name}:{_line_of(node, 'figures', i)}: figures[{i}].source: no source "
                                       f"called {fig.source!r} (sources: {', '.join(sources)})")
        figures.append(fig)
    return NationalFigures(sources, figures)


def _valid(model, raw, name: str, node, where: tuple):
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        e = exc.errors()[0]
        field = ".".join(str(p) for p in e["loc"])
        label = f"{where[0]}[{where[1]}]" if isinstance(where[1], int) else f"{where[0]}.{where[1]}"
        msg = "unknown key" if e["type"] == "extra_forbidden" else e["msg"].removeprefix("Value error, ")
        raise NationalFiguresError(f"{name}:{_line_of(node, *where)}: {label}.{field}: {msg}") from None


@lru_cache(maxsize=1)
def national_figures() -> NationalFigures:
    """The figures shipped with casework (read once)."""
    return load_national_figures()
