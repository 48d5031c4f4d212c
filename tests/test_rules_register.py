"""Loading the register set-wise into arrays, from a real database."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pytest
from pydantic import ValidationError
from test_rules_helpers import DEMO, GREAT_CHART, D, add_school, on, register

from casework.rules import (
    RULES,
    evaluate_all,
    evaluate_school,
    evaluation_start,
    load_register,
    register_from_marks,
    validate_config,
)
from casework.rules.register_data import CODE_TABLE, NO_MARK, run_lengths
from casework.store.db import make_engine, session_scope
from casework.store.models import Mark, Pupil

NOW = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


@pytest.fixture
def engine(tmp_path):
    eng = make_engine("sqlite:///" + str(tmp_path / "rules.db"))
    yield eng
    eng.dispose()


def add_pupil(s, school_id, upn, **kw) -> int:
    p = Pupil(school_id=school_id, upn=upn, forename="Sam", surname=upn, date_of_birth=D("2016-05-01"),
              year_group=kw.pop("year_group", 4), **kw)
    s.add(p)
    s.flush()
    return p.id


def add_marks(s, school_id, marks):
    for pid, d, sess, code in marks:
        s.add(Mark(school_id=school_id, pupil_id=pid, date=d, session=sess, code=code, recorded_at=NOW))


def test_load_register_places_every_mark(engine):
    with session_scope(engine) as s:
        sid = add_school(s, "100001")
        other = add_school(s, "100002")
        a = add_pupil(s, sid, "A100", traveller=True, year_group=2)
        b = add_pupil(s, sid, "B100")
        gone = add_pupil(s, sid, "C100", on_roll=False)
        stranger = add_pupil(s, other, "D100")
        marks = [
            (a, D("2025-09-03"), "AM", "/"), (a, D("2025-09-03"), "PM", "\\"),
            (a, D("2025-09-04"), "AM", "C1"), (a, D("2025-09-04"), "PM", "H"),  # legacy H counts as C
            (b, D("2025-09-05"), "PM", "Y7"), (b, D("2025-10-17"), "PM", "N"),
            (a, D("2025-09-06"), "AM", "O"),  # a Saturday: not a session, left out
            (gone, D("2025-09-03"), "AM", "G"), (stranger, D("2025-09-03"), "AM", "G"),
            (a, D("2025-08-29"), "AM", "G"),  # before the range
        ]
        add_marks(s, sid, marks[:-3])
        add_marks(s, other, [marks[-2]])
        add_marks(s, sid, [marks[-1]])
    with session_scope(engine) as s:
        reg = load_register(s, sid, DEMO, D("2025-09-01"), D("2025-10-17"))
    assert reg.pupil_ids.tolist() == [a, b]
    assert reg.upns.tolist() == ["A100", "B100"]
    assert reg.traveller.tolist() == [True, False] and reg.year_groups.tolist() == [2, 4]
    assert reg.n_slots == DEMO.session_count(D("2025-09-01"), D("2025-10-17"))
    assert reg.slots[0] == (D("2025-09-03"), "AM")  # 1-2 Sep are INSET days
    assert reg.unplaced_marks == 1
    got = {(reg.upns[p], *reg.slots[sl], CODE_TABLE[reg.codes[p, sl]])
           for p, sl in zip(*np.nonzero(reg.codes != NO_MARK))}
    assert got == {("A100", D("2025-09-03"), "AM", "/"), ("A100", D("2025-09-03"), "PM", "\\"),
                   ("A100", D("2025-09-04"), "AM", "C1"), ("A100", D("2025-09-04"), "PM", "H"),
                   ("B100", D("2025-09-05"), "PM", "Y7"), ("B100", D("2025-10-17"), "PM", "N")}
    # codes are matched by the 2024 code they count as
    assert reg.count({"C"}).tolist() == [1, 0]
    assert reg.marks_where(1, {"N"}, reg.slot_slice()) == [(D("2025-10-17"), "PM", "N")]
    # the same register built in memory
    mem = register_from_marks(DEMO, D("2025-09-01"), D("2025-10-17"),
                              [{"id": a, "upn": "A100"}, {"id": b, "upn": "B100"}], marks[:6])
    assert np.array_equal(mem.codes, reg.codes)
    with session_scope(engine) as s:
        everyone = load_register(s, sid, DEMO, D("2025-09-01"), D("2025-10-17"), include_off_roll=True)
    assert everyone.upns.tolist() == ["A100", "B100", "C100"]


@pytest.mark.postgres
def test_load_register_on_postgresql_equals_sqlite(engine, pg_engine):
    """Per-pupil aggregates on PostgreSQL and on SQLite: the same matrix."""
    regs = []
    for eng in (engine, pg_engine):
        with session_scope(eng) as s:
            sid = add_school(s, "100009")
            a = add_pupil(s, sid, "A900")
            b = add_pupil(s, sid, "B900", traveller=True)
            days = DEMO.school_days(D("2025-09-03"), D("2025-10-17"))
            marks = on(a, days, "/", ["AM"]) + on(a, days, "\\", ["PM"]) + on(b, days[:5], "C1")
            marks += on(b, days[5:9], "Y7", ["AM"]) + on(b, days[10:12], "H")
            add_marks(s, sid, marks)
        with session_scope(eng) as s:
            regs.append(load_register(s, sid, DEMO, D("2025-09-01"), D("2025-10-17")))
    lite, pg = regs
    assert np.array_equal(lite.codes, pg.codes) and lite.upns.tolist() == pg.upns.tolist()
    assert pg.count({"C"}).tolist() == [0, 4] and pg.count({"C1"}).tolist() == [0, 10] and pg.count({"\\"}).tolist() == [len(days), 0]
    assert pg.traveller.tolist() == [False, True]


def test_slot_indexes():
    reg = register(GREAT_CHART, D("2025-10-13"), D("2025-11-07"))
    # two weeks of Autumn 1, (half term), INSET Mon 27 Oct, then Autumn 2
    assert reg.weeks == [D("2025-10-13"), D("2025-10-27"), D("2025-11-03")]
    assert reg.slot_week[reg.slot_slice(D("2025-10-28"), D("2025-10-28"))].tolist() == [1, 1]
    assert reg.slot_day[-1] == len(reg.days) - 1 and reg.days[-1] == D("2025-11-07")
    ht = reg.slot_half_term
    assert reg.half_terms[ht[0]][0] == D("2025-09-03") and reg.half_terms[ht[-1]][0] == D("2025-10-28")
    assert set(reg.slot_year.tolist()) == {2025}
    assert reg.slot_pm.tolist()[:2] == [False, True]
    assert reg.week_index(D("2025-10-22")) == 0  # in the holiday: the last school week before


def test_run_lengths():
    m = np.array([[True, True, False, True], [False, True, True, True]])
    assert run_lengths(m).tolist() == [[1, 2, 0, 1], [0, 1, 2, 3]]


def test_evaluate_school_reads_across_the_summer_holiday(engine):
    with session_scope(engine) as s:
        sid = add_school(s, "100003")
        pid = add_pupil(s, sid, "E100")
        marks = on(pid, [D("2026-07-13")], "G") + on(pid, [D("2026-09-14"), D("2026-09-15"), D("2026-10-05")], "O")
        marks += on(pid, [D("2026-11-02")], "N")
        add_marks(s, sid, marks)
    config = {"penalty_threshold": {}}
    as_of = D("2026-11-06")
    assert evaluation_start(DEMO, config, as_of) <= D("2026-07-13")
    with session_scope(engine) as s:
        [f] = evaluate_school(s, sid, DEMO, config, as_of)
    assert f.rule == "penalty_threshold" and f.figures["sessions"] == 10 and f.upn == "E100"


def test_config_is_validated():
    assert set(validate_config(None)) == set(RULES)
    params = validate_config({"lateness": {"count": 6}, "stale_n": None})
    assert params["lateness"].count == 6 and params["stale_n"].school_days == 5
    with pytest.raises(ValidationError) as e:
        validate_config({"penalty_threshold": {"sesions": 10}})
    assert e.value.errors()[0]["loc"] == ("penalty_threshold", "sesions")
    with pytest.raises(ValidationError) as e:
        validate_config({"no_such_rule": {}})
    assert e.value.errors()[0]["loc"] == ("no_such_rule",)
    with pytest.raises(ValidationError, match="unknown attendance code"):
        validate_config({"lateness": {"codes": ["L", "LL"]}})
    with pytest.raises(ValidationError):
        validate_config({"attendance_band": {"bands": [{"name": "x", "below_pct": 95, "colour": "red"}]}})
    with pytest.raises(ValidationError):
        validate_config({"medical_evidence": {"occasions": None, "consecutive_days": None}})


def test_every_rule_documents_its_params():
    for rid, rule in RULES.items():
        assert rule.id == rid and rule.doc
        for name, field in rule.Params.model_fields.items():
            assert field.description, f"{rid}.{name} has no description"
        rule.Params()  # national defaults validate


def test_evaluate_all_and_json():
    days = GREAT_CHART.school_days(D("2025-09-03"), D("2025-10-17"))
    marks = on(1, days[:10], "N")
    reg = register(GREAT_CHART, D("2025-09-01"), D("2025-10-17"), marks)
    found = evaluate_all(reg, GREAT_CHART, None, D("2025-10-17"))
    rules = {f.rule for f in found}
    assert {"attendance_band", "persistent_absence", "penalty_threshold", "stale_n"} <= rules
    assert "sickness_return" not in rules
    only = evaluate_all(reg, GREAT_CHART, {"stale_n": {}}, D("2025-10-17"))
    assert {f.rule for f in only} == {"stale_n"}
    for f in found:
        d = json.loads(json.dumps(f.as_dict()))
        assert d["rule"] == f.rule and d["upn"] == "T000000000001" and d["summary"]
        assert all(set(e) == {"date", "session", "code"} for e in d["evidence"])
    formal = {f.rule for f in found if f.formal}
    assert formal == {"penalty_threshold"}
