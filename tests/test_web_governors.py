"""Issue 11, item 8 on the web: the governors' termly report, and descriptive bands on the pupil
page, the pupils list, the caseload and the reports page (web_world: Thu 12 March 2026, spring term)."""

from __future__ import annotations

import datetime as dt
import io
import re

import pytest
from openpyxl import load_workbook
from sqlmodel import Session
from web_world import client

from casework.register.store import load_calendar
from casework.store.models import Role, School

R = Role
SURNAMES = ("Abernathy", "Calloway", "Vandermeer", "Lindqvist", "Fairweather")


def _text(html: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def test_governor_sees_the_term_with_national_figures_and_no_child(app):
    r = client(app, R.GOVERNOR).get("/reports/governors")
    assert r.status_code == 200
    page = _text(r.get_data(as_text=True))
    assert "Governors' report: Spring term 2026 (2025-26)" in page
    assert "Thu 1 January 2026 to Thu 12 March 2026 (the term so far)" in page
    # five pupils, one or two in each year group: every year group is too small to show a governor
    for year in ("Year 2", "Year 3", "Year 4", "Year 5"):
        assert f"{year} fewer than 5 Not shown" in page
    assert "Whole school 5" in page
    for surname in SURNAMES:
        assert surname not in page
    # the national workflow gives no phase: every phase is listed, the comparison is with all schools
    assert "State-funded secondary" in page and "State-funded special" in page
    assert "National 92.9%: All state-funded schools, 2023/24 whole year" in page
    # the cases opened this term (by the test world, on 12 March)
    assert "Attendance 1 0" in page and "Unexplained absence 2 0" in page and "Term-time leave 1 0" in page
    assert "Formal steps taken this term None this term." in page
    assert "The school's workflow names no descriptive bands." in page


def test_head_sees_small_groups_and_earlier_terms(app):
    c = client(app, R.HEADTEACHER)
    page = _text(c.get("/reports/governors").get_data(as_text=True))
    assert "fewer than 5" not in page and re.search(r"Year 5 1 \d+\.\d%", page)
    autumn = _text(c.get("/reports/governors?term=autumn-2025").get_data(as_text=True))
    assert "Governors' report: Autumn term 2025 (2025-26)" in autumn
    assert c.get("/reports/governors?term=autumn").status_code == 400
    assert c.get("/reports/governors?term=summer-2026").status_code == 400  # not started on 12 March


def test_governors_downloads_keep_small_groups_hidden(app):
    c = client(app, R.GOVERNOR)
    r = c.get("/reports/governors.csv?term=spring-2026")
    assert r.status_code == 200 and 'filename="governors-report-spring-2026.csv"' in r.headers["Content-Disposition"]
    body = r.get_data(as_text=True)
    assert "Year 5,fewer than 5" in body and not any(s in body for s in SURNAMES)
    book = load_workbook(io.BytesIO(c.get("/reports/governors.xlsx").data))
    assert book.sheetnames == ["Summary", "Groups", "Bands", "Cases", "Formal steps", "National"]
    sources = {row[7].value for row in book["National"].iter_rows(min_row=3)}
    assert all(s.startswith(("Pupil absence in schools in England", "Schools eligible for RISE")) for s in sources)


@pytest.fixture
def banded(engine, world, tmp_path):
    """The world's school on a workflow that adds descriptive bands to the national one."""
    path = tmp_path / "banded.yaml"
    path.write_text("extends: national\nname: Banded\ndescriptive_bands:\n  min_possible_sessions: 20\n  bands:\n"
                    "    - {name: Excellent, at_least_pct: 98}\n    - {name: Good, at_least_pct: 95}\n"
                    "    - {name: Satisfactory, at_least_pct: 90}\n    - {name: Concern, at_least_pct: 0}\n")
    with Session(engine) as s:
        school = s.get(School, world.school_id)
        school.workflow = str(path)
        s.add(school)
        days = load_calendar(s, school.id).school_days(dt.date(2026, 1, 5), dt.date(2026, 3, 11))
        s.commit()
    # Alex Abernathy missed 12 of 2 x len(days) sessions this year, everyone else none
    return 100 * (2 * len(days) - 12) / (2 * len(days))


def test_bands_label_pupils_on_the_pupil_page_list_caseload_and_reports(app, world, banded):
    assert banded < 90  # Abernathy's attendance: "Concern"
    c = client(app, R.ATTENDANCE_OFFICER)
    absent = _text(c.get(f"/pupils/{world.pupils['absent']}").get_data(as_text=True))
    fine = _text(c.get(f"/pupils/{world.pupils['fine']}").get_data(as_text=True))
    assert "Attendance: Concern" in absent and "Attendance: Excellent" in fine
    listing = c.get("/pupils").get_data(as_text=True)
    row = listing[listing.index("Abernathy, Alex"):]
    assert '<span class="tag tag-band-low">Concern</span>' in row[:row.index("</tr>")]
    row = listing[listing.index("Fairweather, Fran"):]
    assert '<span class="tag tag-band-high">Excellent</span>' in row[:row.index("</tr>")]
    caseload = c.get("/caseload").get_data(as_text=True)
    row = caseload[caseload.index("Alex Abernathy"):]
    assert "Concern</span>" in row[:row.index("</tr>")]
    reports = _text(c.get("/reports").get_data(as_text=True))
    assert "Whole school by descriptive band" in reports
    assert "Excellent 4 80.0% Good 0 0.0% Satisfactory 0 0.0% Concern 1 20.0%" in reports
    gov = _text(client(app, R.GOVERNOR).get("/reports/governors").get_data(as_text=True))
    assert "Excellent 4 80.0% Good 0 0.0% Satisfactory 0 0.0% Concern 1 20.0%" in gov


def test_without_bands_no_band_column_appears(app, world):
    c = client(app, R.ATTENDANCE_OFFICER)
    assert "<th scope=\"col\">Band</th>" not in c.get("/pupils").get_data(as_text=True)
    assert "<th scope=\"col\">Band</th>" not in c.get("/caseload").get_data(as_text=True)
    assert "Attendance: " not in _text(c.get(f"/pupils/{world.pupils['absent']}").get_data(as_text=True))
