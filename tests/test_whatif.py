"""What-if: a copy of the national workflow with the letter band moved from 95% to 96% sends
exactly the extra letters a hand count predicts, on the real demo (Kent) calendar, and nothing
is written to the school's database."""

from __future__ import annotations

import datetime as dt
import hashlib
import json

import pytest
from click.testing import CliRunner
from sqlalchemy import select, text
from sqlmodel import Session

from casework.cli import main
from casework.jobs.whatif import WhatIfError, whatif
from casework.register.calendar import school_year_start
from casework.register.store import load_calendar
from casework.store.models import Contact, SQLModel

START, END = dt.date(2026, 3, 9), dt.date(2026, 3, 20)  # two school weeks of Spring 2 on the demo calendar
BAND = """\
extends: national
name: {name}
rules:
  attendance_band:
    opens: attendance
    min_possible_sessions: 20
    bands:
      - {{name: letter, below_pct: {pct}}}
    letters_by_level: {{letter: attendance_concern}}
"""
# every n-th session missed (authorised, C), the last of each block: a steady attendance of 1 - 1/n
RATES = {"steady 100%": None, "steady 97.6%": 42, "steady 96.3%": 27, "steady 95.7%": 23, "steady 95.2%": 21,
         "steady 94.1%": 17, "steady 91.7%": 12, "steady 95.5%": 22, "steady 96.0% and a bit": 26}


def _workflow(tmp_path, pct: float, name: str):
    path = tmp_path / f"band-{pct:g}.yaml"
    path.write_text(BAND.format(name=name, pct=pct))
    return path


@pytest.fixture
def school(engine, session, make_school, make_pupils, add_marks, tmp_path):
    return build_school(session, make_school, make_pupils, add_marks, tmp_path)


def build_school(session, make_school, make_pupils, add_marks, tmp_path):
    own = _workflow(tmp_path, 95, "Letter band at 95%")
    school = make_school(session, "demo", workflow=str(own))
    cal = load_calendar(session, school.id)
    sessions = cal.sessions(dt.date(2025, 9, 1), END)
    pupils = {}
    for label, n in RATES.items():
        p = make_pupils(session, school)[0]
        session.add(Contact(pupil_id=p.id, name=f"Parent of {p.forename}", relationship="Mother",
                            parental_responsibility=True, address="1 High Street", postcode="TN12 0AA"))
        add_marks(session, p, [(d, s, "C" if n and i % n == n - 1 else ("/" if s == "AM" else "\\"))
                               for i, (d, s) in enumerate(sessions)])
        pupils[p.id] = (label, p.upn)
    session.commit()
    return school, cal, pupils, own


def hand_count(session, school, cal, start, end, pct) -> set[str]:
    """The UPNs of pupils whose attendance this school year is under ``pct`` on some school day
    of the period (as the rule sees it each evening): those a band at ``pct`` sends a letter."""
    rows = session.execute(text("SELECT p.upn, m.date, m.code FROM mark m JOIN pupil p ON p.id = m.pupil_id "
                                "WHERE p.school_id = :s"), {"s": school.id}).all()
    under = set()
    for day in cal.school_days(start, end):
        seen: dict[str, list[int]] = {}
        for upn, d, code in rows:
            d = dt.date.fromisoformat(str(d))
            if school_year_start(day) <= d <= day:
                att, poss = seen.setdefault(upn, [0, 0])
                seen[upn] = [att + (code in ("/", "\\")), poss + 1]
        under |= {upn for upn, (att, poss) in seen.items() if 100 * att < pct * poss}
    return under


def database_fingerprint(engine) -> tuple[dict[str, int], str]:
    """Rows in every table, and a SHA-256 over every row of every table in key order."""
    counts, h = {}, hashlib.sha256()
    with engine.connect() as c:
        for table in SQLModel.metadata.sorted_tables:
            rows = c.execute(select(table).order_by(*table.primary_key.columns)).all()
            counts[table.name] = len(rows)
            for r in rows:
                h.update(repr(tuple(r)).encode())
    return counts, h.hexdigest()


def test_a_band_moved_to_96_sends_exactly_the_extra_letters_a_hand_count_predicts(engine, session, school,
                                                                                     tmp_path):
    sch, cal, pupils, own = school
    other = _workflow(tmp_path, 96, "Letter band at 96%")
    before = database_fingerprint(engine)
    r = whatif(engine, sch.urn, other, START, END, workers=1)
    assert database_fingerprint(engine) == before  # nothing written to the school's database

    at_95 = hand_count(session, sch, cal, START, END, 95)
    at_96 = hand_count(session, sch, cal, START, END, 96)
    extra = at_96 - at_95
    # by hand: the three pupils steady between 95% and 96% (96.15% stays over the line)
    assert {pupils_label(pupils, u) for u in extra} == {"steady 95.7%", "steady 95.2%", "steady 95.5%"}
    assert {pupils_label(pupils, u) for u in at_95} == {"steady 94.1%", "steady 91.7%"}
    # one letter per pupil in the band during the period (again only in a new half term)
    assert r.own.letters_by_template["attendance_concern"] == len(at_95)
    assert r.other.letters_by_template["attendance_concern"] == len(at_96)
    assert r.other.totals["letters"] - r.own.totals["letters"] == len(extra) == 3
    # the pupils that differ are exactly those three, each with a case and a letter under 96% only
    assert {d["upn"] for d in r.differing} == extra
    for d in r.differing:
        assert d["own"] == [] and d["other"] == ["attendance case", "letter attendance_concern"]
    rows = {label.strip(): (a, b) for label, a, b in r.rows()}
    assert rows["Cases opened"] == (len(at_95), len(at_96))
    assert r.own.workflow == "Letter band at 95%" and r.other.workflow == "Letter band at 96%"


def pupils_label(pupils, upn):
    return next(label for label, u in pupils.values() if u == upn)


def test_the_two_replays_side_by_side_give_the_same_answer(engine, school, tmp_path):
    sch, cal, pupils, own = school
    other = _workflow(tmp_path, 96, "Letter band at 96%")
    one = whatif(engine, sch.urn, other, START, START + dt.timedelta(days=3), workers=1)
    two = whatif(engine, sch.urn, other, START, START + dt.timedelta(days=3), workers=2)
    assert one.rows() == two.rows() and one.differing == two.differing


def test_bad_input_is_refused_before_any_work(engine, school, tmp_path):
    sch, *_ = school
    broken = tmp_path / "broken.yaml"
    broken.write_text("extends: national\nrules:\n  attendance_band:\n    bands: [{name: x, below_pct: 120}]\n")
    from casework.workflow import WorkflowError

    with pytest.raises(WorkflowError) as exc:
        whatif(engine, sch.urn, broken, START, END, workers=1)
    assert "broken.yaml" in str(exc.value) and "below_pct" in str(exc.value)
    with pytest.raises(WhatIfError, match="before"):
        whatif(engine, sch.urn, "national", END, START, workers=1)


def test_cli_whatif(db_url, engine, school, tmp_path):
    sch, cal, pupils, own = school
    other = _workflow(tmp_path, 96, "Letter band at 96%")
    args = ["whatif", "--school", sch.urn, "--workflow", str(other), "--from", START.isoformat(), "--to",
            END.isoformat(), "--db", db_url, "--workers", "1"]
    r = CliRunner().invoke(main, [*args, "--json"])
    assert r.exit_code == 0, r.output
    data = json.loads(r.output)
    assert {row["what"]: row["difference"] for row in data["rows"]}["Letters queued"] == 3
    assert len(data["pupils_differing"]) == 3
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 0, r.output
    assert "Letter band at 96%" in r.output and "Pupils for whom the two differ: 3" in r.output
    r = CliRunner().invoke(main, [*args[:4], str(tmp_path / "nothing.yaml"), *args[5:]])
    assert r.exit_code == 1 and "nothing.yaml" in r.output


def test_the_web_page_shows_the_table_and_chart_and_names_pupils_only_to_leadership(engine, session, school):
    from argon2 import PasswordHasher

    from casework.clock import LONDON, FixedClock
    from casework.store.models import User
    from casework.web import create_app

    sch, cal, pupils, own = school
    hashed = PasswordHasher().hash("a long enough password")
    for username, role in (("head", "headteacher"), ("gov", "governor"), ("officer", "attendance_officer")):
        session.add(User(school_id=sch.id, username=username, name=username, position=role, role=role,
                         password_hash=hashed))
    session.commit()
    app = create_app({"ENGINE": engine, "CLOCK": FixedClock(dt.datetime(2026, 3, 20, 18, 0, tzinfo=LONDON)),
                      "SECRET_KEY": "t", "TESTING": True, "WTF_CSRF_ENABLED": False,
                      "LOGIN_RATE_LIMIT": "1000 per minute", "LOGIN_ACCOUNT_LIMIT": "1000 per minute"})
    expected = whatif(engine, sch.urn, "national", START, END, workers=1)
    url = f"/whatif?workflow=national.yaml&from={START}&to={END}"
    pages = {}
    for username in ("head", "gov", "officer"):
        c = app.test_client()
        assert c.post("/login", data={"username": username, "password": "a long enough password"}).status_code == 302
        r = c.get(url)
        pages[username] = (r.status_code, r.get_data(as_text=True))
    assert pages["officer"][0] == 403
    head, gov = pages["head"][1], pages["gov"][1]
    for html in (head, gov):
        assert "National framework (England)" in html and "<svg" in html and html.count("<rect") >= 2 * 8
        for label, a, b in expected.rows():
            assert f'<th scope="row">{label}</th><td class="num">{a}</td><td class="num">{b}</td>' in html
    names = [d["name"] for d in expected.differing]
    assert names and all(n in head for n in names)
    assert not any(n in gov for n in names) and "Pupils are not named on this page for your role" in gov
    # the form alone (no file chosen) offers every workflow file
    c = app.test_client()
    c.post("/login", data={"username": "gov", "password": "a long enough password"})
    form = c.get("/whatif").get_data(as_text=True)
    assert 'value="staplehurst.yaml"' in form and 'value="national.yaml"' in form
    assert c.get("/whatif?workflow=../secrets.yaml").status_code == 400


def test_a_school_on_postgresql_gives_the_same_answer(pg_engine, make_school, make_pupils, add_marks, tmp_path):
    with Session(pg_engine, expire_on_commit=False) as s:
        sch, cal, pupils, own = build_school(s, make_school, make_pupils, add_marks, tmp_path)
        before = database_fingerprint(pg_engine)
        r = whatif(pg_engine, sch.urn, _workflow(tmp_path, 96, "Letter band at 96%"), START, END, workers=1)
        assert database_fingerprint(pg_engine) == before
        extra = hand_count(s, sch, cal, START, END, 96) - hand_count(s, sch, cal, START, END, 95)
    assert r.other.totals["letters"] - r.own.totals["letters"] == len(extra) == 3
    assert {d["upn"] for d in r.differing} == extra


def test_a_window_of_a_register_loaded_once_is_the_register_read_for_those_dates(engine, session, school):
    import numpy as np

    from casework.rules import load_register

    sch, cal, pupils, own = school
    full = load_register(session, sch.id, cal, dt.date(2025, 9, 1), END)
    for a, b in ((dt.date(2025, 9, 1), START), (dt.date(2025, 12, 1), dt.date(2026, 3, 11)), (START, END)):
        w, fresh = full.window(cal, a, b), load_register(session, sch.id, cal, a, b)
        assert (w.start, w.end, w.slots, w.days, w.weeks) == (fresh.start, fresh.end, fresh.slots, fresh.days,
                                                                fresh.weeks)
        for name in ("codes", "slot_day", "slot_week", "slot_half_term", "slot_year", "day_first_slot",
                     "pupil_ids"):
            assert np.array_equal(getattr(w, name), getattr(fresh, name)), name
    with pytest.raises(ValueError, match="outside the loaded register"):
        full.window(cal, dt.date(2025, 8, 1), END)
