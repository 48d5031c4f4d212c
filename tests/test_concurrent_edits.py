"""Two people acting on the same thing at the same moment, through the real server: one wins,
the other is told, nothing is lost (versions checked in the database, not in memory)."""

from __future__ import annotations

import http.cookiejar
import re
import threading
import urllib.parse
import urllib.request

import pytest
from sqlmodel import Session, select
from web_world import PASSWORD, USERNAMES, build_world, web_app

from casework.register.store import Amender, RegisterError, amend_mark
from casework.store.casemodels import Case, CaseMove
from casework.store.models import Mark, MarkAmendment, Role

ROUNDS = 5


@pytest.fixture
def server(engine, make_school, make_pupils):
    from werkzeug.serving import make_server

    world = build_world(engine, make_school, make_pupils)
    app = web_app(engine, world, WTF_CSRF_ENABLED=False)
    srv = make_server("127.0.0.1", 0, app, threaded=True)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{srv.server_port}", world
    srv.shutdown()


def _signed_in(base: str, role: Role):
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    data = urllib.parse.urlencode({"username": USERNAMES[role], "password": PASSWORD}).encode()
    opener.open(base + "/login", data=data, timeout=30)
    return opener


def test_two_people_moving_one_case_at_once_one_wins_the_other_is_told(server, engine, suite_figures):
    base, world = server
    officer, lead = _signed_in(base, Role.ATTENDANCE_OFFICER), _signed_in(base, Role.WELLBEING_LEAD)
    case_id = world.cases["absent"]
    for round_no in range(ROUNDS):
        with Session(engine) as s:
            case = s.get(Case, case_id)
            version, state = case.version, case.state
        event = "send_letter" if state == "monitor" else "return_to_monitoring"
        barrier, answers = threading.Barrier(2), {}

        def act(name, opener, event=event, version=version, barrier=barrier, answers=answers, round_no=round_no):
            data = urllib.parse.urlencode({"event": event, "reason": f"round {round_no} by {name}",
                                           "version": version}).encode()
            barrier.wait()
            answers[name] = opener.open(f"{base}/cases/{case_id}/move", data=data, timeout=60).read().decode()

        threads = [threading.Thread(target=act, args=(n, o)) for n, o in (("officer", officer), ("lead", lead))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        flashes = {n: " ".join(re.findall(r"flash-\w+[^>]*>([^<]*)<", page)) for n, page in answers.items()}
        told = [n for n, f in flashes.items() if "someone else changed this case" in f]
        recorded = [n for n, f in flashes.items() if "— recorded" in f]
        assert len(told) == 1 and len(recorded) == 1, flashes
        with Session(engine) as s:
            moves = s.exec(select(CaseMove).where(CaseMove.case_id == case_id, CaseMove.reason.like(f"round {round_no} %"))).all()
            assert [m.reason for m in moves] == [f"round {round_no} by {recorded[0]}"]
            assert s.get(Case, case_id).version == version + 1
        suite_figures["requests raced (two people, one case)"] += 2
    # a form opened before someone else's move is refused too, however late it is sent
    stale = urllib.parse.urlencode({"event": "return_to_monitoring", "reason": "late", "version": 1}).encode()
    assert "someone else changed this case" in officer.open(f"{base}/cases/{case_id}/move", data=stale).read().decode()


def test_two_people_amending_one_mark_at_once(engine, world_marks, suite_figures):
    mark_id = world_marks
    barrier, outcome = threading.Barrier(2), {}

    def amend(name, code):
        with Session(engine) as s:
            mark = s.get(Mark, mark_id)
            barrier.wait()
            try:
                import datetime as dt

                from casework.clock import FixedClock

                amend_mark(s, mark, code, None, reason=f"{name}'s correction", by=Amender(name, "Office"),
                           clock=FixedClock(dt.datetime(2026, 3, 2, 10, tzinfo=dt.UTC)))
                s.commit()
                outcome[name] = "amended"
            except RegisterError as exc:
                s.rollback()
                outcome[name] = str(exc)

    threads = [threading.Thread(target=amend, args=a) for a in (("Ann", "I"), ("Bob", "M"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(v == "amended" for v in outcome.values()) == [False, True], outcome
    loser = next(n for n, v in outcome.items() if v != "amended")
    assert "changed by someone else" in outcome[loser]
    with Session(engine) as s:
        amendments = s.exec(select(MarkAmendment).where(MarkAmendment.mark_id == mark_id)).all()
        winner = next(n for n, v in outcome.items() if v == "amended")
        assert [a.amended_by_name for a in amendments] == [winner]
        assert s.get(Mark, mark_id).code == amendments[0].amended_code
    suite_figures["requests raced (two people, one mark)"] += 2


@pytest.fixture
def world_marks(engine, make_school, make_pupils):
    world = build_world(engine, make_school, make_pupils)
    with Session(engine) as s:
        return s.exec(select(Mark.id).where(Mark.pupil_id == world.pupils["absent"], Mark.code == "/")).first()
