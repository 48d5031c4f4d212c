"""Descriptive bands: the words a school's policy uses for a pupil's attendance (excellent, good,
satisfactory, concern), with the figures in its workflow file (``descriptive_bands``).

A band is a label for reports, the pupil page and the caseload. It never opens a case or
proposes a step: that is the ``attendance_band`` rule's work.
"""

from __future__ import annotations

from dataclasses import dataclass

from casework.figures.stats import Figures, PupilFigures
from casework.workflow.model import DescriptiveBands

NOT_YET = "Too early to say"


def band_of(figures: Figures, bands: DescriptiveBands) -> str | None:
    """The band's name for a pupil's figures, or None (no bands, or too few possible sessions yet)."""
    return bands.band_for(figures.attendance_pct, figures.possible_sessions)


@dataclass(frozen=True)
class BandCount:
    name: str
    pupils: int
    position: int  # 0 for the highest band; the last for "too early to say"


def band_counts(rows: list[PupilFigures], bands: DescriptiveBands) -> list[BandCount]:
    """How many pupils are in each band, highest first, then how many are too new to band.
    Pupils with no possible sessions in the period are not counted at all; no bands, no counts."""
    if not bands.bands:
        return []
    counts = dict.fromkeys(bands.names, 0)
    early = 0
    for r in rows:
        if not r.figures.possible_sessions:
            continue
        name = band_of(r.figures, bands)
        if name is None:
            early += 1
        else:
            counts[name] += 1
    out = [BandCount(name, n, i) for i, (name, n) in enumerate(counts.items())]
    if early:
        out.append(BandCount(NOT_YET, early, len(out)))
    return out
