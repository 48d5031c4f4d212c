"""The pupil page's attendance chart: an axis that shows the pupil's figures, not a 0-100% one that
flattens them, with the workflow's reference lines on it."""

from __future__ import annotations

import json
import re

import pytest
from web_world import client

from casework.store.models import Role
from casework.web.pupils import axis_floor


@pytest.mark.parametrize(("values", "foot"), [
    ([96.0, 100.0, 90.0], 80),  # every figure at or above the persistent-absence line: 80-100%
    ([85.2, 97.5, 90.0], 80),
    ([79.9, 90.0], 70),
    ([32.8, 55.0, 90.0], 30),
    ([0.0, 90.0], 0),
    ([], 0),
])
def test_the_axis_starts_at_the_nearest_ten_below_the_lowest_figure_or_line(values, foot):
    assert axis_floor(values) == foot


def test_the_pupil_page_chart_starts_below_its_lowest_figure_and_the_lines(app, world):
    officer = client(app, Role.ATTENDANCE_OFFICER)
    page = officer.get(f"/pupils/{world.pupils['absent']}").get_data(as_text=True)
    chart = json.loads(re.search(r'<script type="application/json" id="trend-data">(.*?)</script>', page, re.S).group(1))
    shown = [v for s in chart["series"] for v in s["data"] if v is not None] + [ln["value"] for ln in chart["lines"]]
    assert chart["max"] == 100 and chart["min"] % 10 == 0 and chart["min"] < min(shown) <= chart["min"] + 10
    assert any(ln["value"] == 90 and "Persistent absence" in ln["label"] for ln in chart["lines"])
