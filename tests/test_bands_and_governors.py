"""Issue 11, item 8: descriptive bands and the governors' termly report with national figures;
item 10: what ``workflow check`` prints. Worked by hand on Great Chart's 2025-26 calendar
(tests/data/kent-great-chart-2025-26.csv): 1-2 Sep 2025 are INSET days, so Autumn 1 runs
Wed 3 Sep - Fri 17 Oct, 33 school days (66 sessions)."""

from __future__ import annotations

import datetime as dt
import io
import json

import pytest
from click.testing import CliRunner
from openpyxl import load_workbook
from sqlmodel import select

from casework.cases.moves import Actor, open_case
from casework.cli import main
from casework.cli.common import console
from casework.clock import FixedClock, at
from casework.figures.bands import NOT_YET, band_counts
from casework.figures.governors import ReportError, governors_report
from casework.figures.national import NationalFiguresError, load_national_figures, national_figures
from casework.figures.stats import pupil_figures
from casework.jobs.replay import replay
from casework.register.store import load_calendar
from casework.register.terms import Term, TermError
from casework.store.casemodels import Case, CaseFinding, CaseMove
from casework.store.models import Mark
from casework.workflow import WorkflowError, for_school, load
from casework.workflow.model import DescriptiveBand, DescriptiveBands

D = dt.date
EXAMPLE = "example-la-route"  # the acceptance example: LA route, two cut-offs, automatic letters, bands


# -- the bands themselves ------------------------------------------------------------------

BANDS = DescriptiveBands(bands=[DescriptiveBand(name="Excellent", at_least_pct=98),
                                DescriptiveBand(name="Good", at_least_pct=95),
                                DescriptiveBand(name="Satisfactory", at_least_pct=90),
                                DescriptiveBand(name="Concern", at_least_pct=0)], min_possible_sessions=20)


@pytest.mark.parametrize("pct, sessions, band", [
    (100.0, 66, "Excellent"), (98.0, 66, "Excellent"), (97.99, 66, "Good"), (95.0, 66, "Good"),
    (94.99, 66, "Satisfactory"), (90.0, 66, "Satisfactory"), (89.9, 66, "Concern"), (0.0, 66, "Concern"),
    (100.0, 19, None),  # fewer possible sessions than the workflow's minimum: too early to say
    (None, 0, None),
])
def test_a_band_runs_from_its_figure_up_to_the_next(pct, sessions, band):
    assert BANDS.band_for(pct, sessions) == band


def _bad_bands(tmp_path, bands: str):
    path = tmp_path / "bands.yaml"
    path.write_text("extends: national\nname: Bands\ndescriptive_bands:\n  bands:\n" + bands)
    with pytest.raises(WorkflowError) as exc:
        load(path)
    return [str(p).replace(f"{tmp_path}/", "") for p in exc.value.problems]


def test_workflow_check_refuses_unsorted_overlapping_and_gappy_bands_at_their_lines(tmp_path):
    # line 5 is the first band
    assert _bad_bands(tmp_path, "    - {name: Good, at_least_pct: 95}\n"
                                "    - {name: Excellent, at_least_pct: 98}\n"
                                "    - {name: Concern, at_least_pct: 0}\n") == [
        "bands.yaml:6: descriptive_bands.bands.1.at_least_pct: 'Excellent' (98%) comes after 'Good' (95%): "
        "list the bands from the highest figure to the lowest"]
    assert _bad_bands(tmp_path, "    - {name: Good, at_least_pct: 95}\n"
                                "    - {name: Fair, at_least_pct: 95}\n"
                                "    - {name: Concern, at_least_pct: 0}\n") == [
        "bands.yaml:6: descriptive_bands.bands.1.at_least_pct: 'Fair' starts at 95%, like 'Good': "
        "two bands would cover the same attendance"]
    assert _bad_bands(tmp_path, "    - {name: Good, at_least_pct: 95}\n"
                                "    - {name: Concern, at_least_pct: 90}\n") == [
        "bands.yaml:6: descriptive_bands.bands.1.at_least_pct: the lowest band ('Concern') must start at 0% so "
        "every pupil has a band"]
    assert _bad_bands(tmp_path, "    - {name: Good, at_least_pct: 95}\n"
                                "    - {name: Good, at_least_pct: 0}\n") == [
        "bands.yaml:6: descriptive_bands.bands.1.name: two bands are called 'Good'"]
    problems = _bad_bands(tmp_path, "    - {name: Good, at_least_pct: 101}\n")
    assert problems[0].startswith("bands.yaml:5: descriptive_bands.bands.0.at_least_pct:")


def test_workflow_check_prints_everything_it_read(monkeypatch):
    monkeypatch.setattr(console, "_width", 300)  # tables as wide as their text (undone after: None, automatic)
    res = CliRunner().invoke(main, ["workflow", "check", EXAMPLE])
    out = " ".join(res.output.split())  # the tables wrap; the words stay in order
    assert res.exit_code == 0, res.output
    # proposals and automatic letters by level, second-notice amounts (items 6 and 7)
    assert "below 95%: letter attendance_concern (automatic, once a half term)" in out
    assert "second £120 within 28 days (no reduced rate)" in out
    # item 10: code notes, bands, notice to improve, retention, role groups, letters
    assert "Code notes: L: Late before 09:20" in out and "G: Holiday taken after a refusal" in out
    assert ("Descriptive bands (labels in reports; they never open a case): Excellent 98% and above; Good 95% to "
            "under 98%; Satisfactory 90% to under 95%; Concern under 90%; none before 20 possible sessions") in out
    assert "Notice to improve: improvement period 4 weeks (between 3 and 6)" in out
    assert "Retention: registers 6 years, closed cases 6 years" in out
    assert "Role groups: office = attendance_officer, wellbeing_lead;" in out
    assert "Phase: primary" in out
    assert "continuous_absence_notice" in out and "local authority" in out  # the letters table
    data = json.loads(CliRunner().invoke(main, ["workflow", "check", EXAMPLE, "--json"]).output)
    assert data["codes"]["U"].startswith("Arrived after 09:20")
    assert [b["name"] for b in data["descriptive_bands"]["bands"]] == ["Excellent", "Good", "Satisfactory", "Concern"]
    assert data["phase"] == "primary" and data["retention"] == {"register_years": 6, "closed_case_years": 6}
    # a school without bands or notes says so rather than leaving it out
    plain = " ".join(CliRunner().invoke(main, ["workflow", "check", "national"]).output.split())
    assert "Descriptive bands: none" in plain and "Code notes: none" in plain


# -- a term of a real school -------------------------------------------------------------

TODAY = D(2025, 10, 17)  # Friday, the last day of Autumn 1


@pytest.fixture
def school_term(engine, session, make_school, make_pupils, add_marks):
    """Six pupils over Autumn 1 (66 sessions), each worked by hand:
    A all present 100% (Excellent); B 2 sessions ill (I) 64/66 = 97.0% (Good); C 4 sessions O
    62/66 = 93.9% (Satisfactory); D 8 sessions O 58/66 = 87.9%, 12.1% absent: PA (Concern);
    E 34 sessions O 32/66 = 48.5%, 51.5% absent: PA and SA (Concern); F (Year 5) joined Mon 13 Oct,
    10 sessions, under the 20 the workflow asks before a band: too early to say."""
    school = make_school(session, "great-chart", urn="118500", workflow=EXAMPLE)
    a, b, c, d, e = make_pupils(session, school, 5, year_group=4)
    [f] = make_pupils(session, school, 1, year_group=5)
    cal = load_calendar(session, school.id)
    days = cal.school_days(D(2025, 9, 1), TODAY)
    assert len(days) == 33 and days[0] == D(2025, 9, 3)
    sessions = [(d_, s) for d_ in days for s in ("AM", "PM")]
    away = {b.id: (2, "I"), c.id: (4, "O"), d.id: (8, "O"), e.id: (34, "O")}
    for p in (a, b, c, d, e):
        n, code = away.get(p.id, (0, "/"))
        add_marks(session, p, [(d_, s, code if i < n else "/") for i, (d_, s) in enumerate(sessions)])
    add_marks(session, f, [(d_, s, "/") for d_, s in sessions if d_ >= D(2025, 10, 13)])
    session.commit()
    return school, dict(a=a, b=b, c=c, d=d, e=e, f=f)


FIGURES_YAML = """
sources:
  full: {publication: "Pupil absence (full year)", url: "https://example.gov.uk/full", published: 2025}
  autumn: {publication: "Pupil absence (autumn term)", url: "https://example.gov.uk/autumn", published: 2024}
figures:
  - {year: 2022/23, period: full_year, phase: primary, absence_pct: 6.0, persistent_absence_pct: 17.0, source: full}
  - {year: 2023/24, period: full_year, phase: primary, absence_pct: 5.5, persistent_absence_pct: 14.6,
     severe_absence_pct: 0.9, source: full}
  - {year: 2023/24, period: autumn_term, phase: primary, persistent_absence_pct: 20.0, source: autumn}
  - {year: 2023/24, period: full_year, phase: all, absence_pct: 7.1, source: full}
  - {year: 2023/24, period: full_year, phase: secondary, absence_pct: 8.9, source: full}
"""


@pytest.fixture
def figures(tmp_path):
    path = tmp_path / "national.yaml"
    path.write_text(FIGURES_YAML)
    return load_national_figures(path)


def test_bands_count_pupils_and_never_open_a_case(engine, session, school_term, make_school, make_pupils, add_marks,
                                                  tmp_path):
    school, p = school_term
    rows = pupil_figures(session, school.id, D(2025, 9, 1), TODAY)
    counts = [(b.name, b.pupils) for b in band_counts(rows, for_school(EXAMPLE).model.descriptive_bands)]
    assert counts == [("Excellent", 1), ("Good", 1), ("Satisfactory", 1), ("Concern", 2), (NOT_YET, 1)]

    # The same register under a workflow that only adds bands to the national one opens exactly the
    # cases the national one opens: bands label, they never act.
    only_bands = tmp_path / "only-bands.yaml"
    only_bands.write_text("extends: national\nname: National with bands\ndescriptive_bands:\n  bands:\n"
                          "    - {name: Excellent, at_least_pct: 98}\n    - {name: Concern, at_least_pct: 0}\n")
    opened = {}
    for wf, urn in ((str(only_bands), "118601"), ("national", "118602")):
        other = make_school(session, "great-chart", urn=urn, workflow=wf)
        pupils = make_pupils(session, other, 5, year_group=4)
        for src, dst in zip([p[k] for k in "abcde"], pupils):
            add_marks(session, dst, [(m.date, m.session, m.code) for m in _marks_of(session, src)])
        session.commit()
        replay(engine, urn, TODAY, TODAY)
        cases = session.exec(select(Case).where(Case.school_id == other.id)).all()
        opened[wf] = sorted((pupils.index(next(x for x in pupils if x.id == c.pupil_id)), c.case_type) for c in cases)
        summaries = session.exec(select(CaseFinding.summary).join(Case, Case.id == CaseFinding.case_id)
                                 .where(Case.school_id == other.id)).all()
        assert not [s for s in summaries if "Excellent" in s or "Concern" in s]
    assert opened[str(only_bands)] == opened["national"] and opened["national"]  # cases were opened, the same ones


def _marks_of(session, pupil):
    return session.exec(select(Mark).where(Mark.pupil_id == pupil.id).order_by(Mark.date, Mark.session)).all()


def _case(session, school, pupil, case_type, opened: dt.datetime, closed: dt.datetime | None = None) -> Case:
    case = open_case(session, school, pupil, for_school(school.workflow), case_type, concern=f"{case_type}:{opened}",
                     concern_start=opened.date(), clock=FixedClock(opened), actor=Actor.system(), reason="test")
    case.closed_at = closed
    session.add(case)
    return case


def _move(session, case, event, frm, to, when):
    session.add(CaseMove(case_id=case.id, event=event, from_state=frm, to_state=to, actor="head",
                         actor_role="headteacher", at=when))


def test_governors_report_for_a_term_so_far(session, school_term, figures):
    school, p = school_term
    t = dt.time(10)
    # cases: an attendance case opened in the term with a letter (not formal) and a notice to improve
    # (formal); a leave case opened in the summer holiday and closed in the term; a notice to improve
    # recorded before the term (not counted); an unexplained absence opened and closed in the term.
    att = _case(session, school, p["d"], "attendance", at(D(2025, 10, 6), t))
    _move(session, att, "send_letter", "monitor", "letter", at(D(2025, 10, 7), t))
    _move(session, att, "issue_notice_to_improve", "meeting", "notice_to_improve", at(D(2025, 10, 15), t))
    leave = _case(session, school, p["c"], "leave", at(D(2025, 8, 20), t), closed=at(D(2025, 9, 10), t))
    _move(session, leave, "request_penalty_notice", "leave_taken", "penalty_notice", at(D(2025, 8, 29), t))
    _case(session, school, p["e"], "unexplained_absence", at(D(2025, 10, 10), t), closed=at(D(2025, 10, 14), t))
    session.commit()

    rep = governors_report(session, school, for_school(EXAMPLE), Term.parse("autumn-2025"), TODAY, figures=figures)
    assert (rep.start, rep.end, rep.to_date) == (D(2025, 9, 1), TODAY, True)
    whole = rep.whole_school
    # 340 possible sessions (5 x 66 + 10), 292 attended: 85.9%; PA D and E (2 of 6), SA E (1 of 6)
    assert (whole.pupils, whole.figures.possible_sessions, whole.figures.present) == (6, 340, 292)
    assert (round(whole.figures.attendance_pct, 1), whole.persistent_absentees, whole.severe_absentees) == (85.9, 2, 1)
    assert [(b.name, b.pupils) for b in rep.bands] == [("Excellent", 1), ("Good", 1), ("Satisfactory", 1),
                                                      ("Concern", 2), (NOT_YET, 1)]
    assert [(c.label, c.opened, c.closed) for c in rep.cases] == [
        ("Attendance", 1, 0), ("Term-time leave", 0, 1), ("Unexplained absence", 1, 1)]
    assert [(s.label, s.case_type, s.taken) for s in rep.steps] == [("Issue a notice to improve", "Attendance", 1)]

    # A primary school's autumn term: PA beside the latest autumn-term figure for primaries; attendance and SA
    # have no autumn-term figure, so the latest whole year's (2023/24: 100 - 5.5 = 94.5%).
    cmp = {c.measure: (round(c.school, 1), c.national, c.figure.describe()) for c in rep.comparison()}
    assert cmp == {"Attendance %": (85.9, 94.5, "State-funded primary, 2023/24 whole year"),
                   "Persistent absence (% of pupils)": (33.3, 20.0, "State-funded primary, 2023/24 autumn term"),
                   "Severe absence (% of pupils)": (16.7, 0.9, "State-funded primary, 2023/24 whole year")}
    assert {f.phase for f in rep.national} == {"primary"}

    # A governor sees Year 5 (one pupil) as "fewer than 5", in the rows and the export alike
    gov = governors_report(session, school, for_school(EXAMPLE), Term.parse("autumn-2025"), TODAY, figures=figures,
                           see_small_groups=False)
    rows = {r[0]: r for r in gov.group_rows()}
    assert rows["Year 5"][1:3] == ["fewer than 5", ""] and rows["Year 4"][1] == 5
    groups = next(s for s in gov.sheets() if s.name == "Groups")
    assert "(groups of fewer than 5 pupils are not shown)" in groups.title


def test_an_unknown_phase_is_compared_with_all_schools_and_lists_every_phase(session, school_term, figures, tmp_path):
    school, _ = school_term
    wf = tmp_path / "no-phase.yaml"
    wf.write_text(f"extends: {EXAMPLE}\nname: No phase\nschool:\n  phase: null\n")
    rep = governors_report(session, school, load(wf), Term.parse("spring-2026"), D(2026, 1, 9), figures=figures)
    assert {f.phase for f in rep.national} == {"primary", "secondary", "all"}
    [att, pa, sa] = rep.comparison()
    assert (att.national, att.figure.describe()) == (92.9, "All state-funded schools, 2023/24 whole year")
    assert pa.national is None and pa.figure is None and sa.national is None
    # Spring 2026 runs from 1 January to Easter Sunday (5 April 2026); the school is back on Mon 5 Jan
    assert (rep.start, rep.end) == (D(2026, 1, 1), D(2026, 1, 9))


def test_a_term_that_has_not_started_is_refused(session, school_term, figures):
    school, _ = school_term
    with pytest.raises(ReportError, match="Spring term 2026 .* has not started yet"):
        governors_report(session, school, for_school(EXAMPLE), Term.parse("spring-2026"), TODAY, figures=figures)


@pytest.mark.parametrize("name, start, end", [
    ("autumn-2025", D(2025, 9, 1), D(2025, 12, 31)),
    ("spring-2026", D(2026, 1, 1), D(2026, 4, 5)),   # Easter Sunday 2026
    ("summer-2026", D(2026, 4, 6), D(2026, 8, 31)),  # from Easter Monday
    ("spring-2025", D(2025, 1, 1), D(2025, 4, 20)),  # Easter 2025 was late: 20 April
])
def test_terms_follow_the_dfe_statistics(name, start, end):
    term = Term.parse(name)
    assert (term.start, term.end) == (start, end)
    assert Term.of(start) == term and Term.of(end) == term


def test_a_bad_term_name_says_how_to_write_one():
    with pytest.raises(TermError, match="write autumn-YYYY, spring-YYYY or summer-YYYY"):
        Term.parse("Autumn 1")


# -- the national figures file -----------------------------------------------------------


def test_every_shipped_national_figure_has_a_dated_source():
    nat = national_figures()
    assert nat.figures
    for f in nat.figures:
        src = nat.sources[f.source]
        assert src.url.startswith("https://explore-education-statistics.service.gov.uk/")
        assert 2023 <= src.published <= 2026 and "(DfE" in src.publication
        assert any(v is not None for v in (f.absence_pct, f.persistent_absence_pct, f.severe_absence_pct))
    # both kinds of period are there, each saying which it is
    assert {f.period for f in nat.figures} == {"full_year", "autumn_term"}
    primary = {(f.year, f.period): f for f in nat.for_phase("primary")}
    assert primary[("2023/24", "full_year")].attendance_pct == 94.5  # absence 5.5%
    assert primary[("2022/23", "full_year")].attendance_pct == 94.1  # absence 5.9%


def test_a_wrong_national_figures_file_names_its_line(tmp_path):
    path = tmp_path / "national.yaml"
    path.write_text(FIGURES_YAML.replace("source: autumn}", "source: autum}"))
    with pytest.raises(NationalFiguresError) as exc:
        load_national_figures(path)
    assert str(exc.value) == "national.yaml:9: figures[2].source: no source called 'autum' (sources: full, autumn)"
    path.write_text(FIGURES_YAML.replace("period: autumn_term", "period: spring"))
    with pytest.raises(NationalFiguresError, match=r"^national\.yaml:9: figures\[2\]\.period: "):
        load_national_figures(path)


# -- the command ---------------------------------------------------------------------------


def test_cli_governors_report_writes_csv_and_xlsx(db_url, school_term, tmp_path):
    args = ["report", "governors", "--school", "118500", "--term", "autumn-2025", "--db", db_url,
            "--as-of", "2025-10-17"]
    out = tmp_path / "governors.xlsx"
    res = CliRunner().invoke(main, [*args, "--out", str(out)])
    assert res.exit_code == 0, res.output
    text = " ".join(res.output.split())
    assert "Autumn term 2025 (2025-26), 01 September 2025 to 17 October 2025 (term to date)" in text
    assert "Excellent 1; Good 1; Satisfactory 1; Concern 2; Too early to say 1" in text
    book = load_workbook(io.BytesIO(out.read_bytes()))
    assert book.sheetnames == ["Summary", "Groups", "Bands", "Cases", "Formal steps", "National"]
    bands = [[c.value for c in row] for row in book["Bands"].iter_rows(min_row=3)]
    assert bands == [["Excellent", 1], ["Good", 1], ["Satisfactory", 1], ["Concern", 2], [NOT_YET, 1]]
    summary = [[c.value for c in row] for row in book["Summary"].iter_rows(min_row=3)]
    assert summary[0][:2] == ["Attendance %", 85.9] and summary[0][4].startswith("Schools eligible for RISE")
    # the file is for governors: Year 5 (one pupil) shows no figures unless asked for
    groups = [[c.value for c in row] for row in book["Groups"].iter_rows(min_row=3)]
    assert ["Year 5", "fewer than 5"] == groups[2][:2] and groups[1][:2] == ["Year 4", 5]
    csv_out = tmp_path / "governors.csv"
    assert CliRunner().invoke(main, [*args, "--out", str(csv_out), "--show-small-groups"]).exit_code == 0
    assert "Year 5,1,100.0," in csv_out.read_text()
    data = json.loads(CliRunner().invoke(main, [*args, "--json"]).output)
    assert data["Bands"]["rows"][0] == ["Excellent", 1]

    bad = CliRunner().invoke(main, [*args[:5], "autumn", *args[6:]])
    assert bad.exit_code == 1 and "'autumn' is not a term" in bad.output
    early = CliRunner().invoke(main, [*args[:5], "summer-2026", *args[6:]])
    assert early.exit_code == 1 and "has not started yet" in early.output
