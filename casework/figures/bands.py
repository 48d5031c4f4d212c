"""Descriptive bands: the words a school's policy uses for a pupil's attendance (excellent, good,
satisfactory, concern), with the figures in its workflow file (``descriptive_bands``).

A band is a label for reports, the pupil page and the caseload. It never opens a case or
proposes a step: that is the ``attendance_band`` rule's work.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlmodel import Session

from casework.figures.stats import Figures, PupilFigures, pupil_figures
from casework.workflow.model import DescriptiveBands

NOT_YET = "Too early to say"


def band_of(figures: Figures, bands: DescriptiveBands) -> str | None:
    """The band's name for a pupil's figures, or None (no bands, or too few possible sessions yet)."""
    return bands.band_for(figures.attendance_pct, figures.possible_sessions)


@dataclass(frozen=True)
class Band:
    """A pupil's band as a page shows it: its name, and its tone (the highest band ``high``, the
    lowest ``low``, any between ``mid``)."""

    name: str
    tone: str


def label_for(figures: Figures, bands: DescriptiveBands) -> Band | None:
    name = band_of(figures, bands)
    if name is None:
        return None
    i, last = bands.names.index(name), len(bands.bands) - 1
    return Band(name, "high" if i == 0 else "low" if i == last else "mid")


def pupil_bands(session: Session, school_id: int, pupil_ids: list[int], start: dt.date, end: dt.date,
                bands: DescriptiveBands) -> dict[int, Band]:
    """Each of these pupils' band over ``start``..``end`` (pupils with no band yet are left out)."""
    if not bands.bands or not pupil_ids:
        return {}
    out = {}
    for r in pupil_figures(session, school_id, start, end, pupil_ids=pupil_ids):
        band = label_for(r.figures, bands)
        if band is not None:
            out[r.pupil_id] = band
    return out


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
