"""The audit log: what people do is recorded, the log cannot be changed through the database's
front door, and an edit made around it is found by ``casework audit verify``."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from click.testing import CliRunner
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session, select
from web_world import login, web_app

from casework.cli import main
from casework.clock import LONDON
from casework.register.store import Amender, amend_mark
from casework.store.audit import record, verify
from casework.store.models import AuditEvent, Mark, Role


def _actions(engine) -> list[str]:
    with Session(engine) as s:
        return [e.action for e in s.exec(select(AuditEvent).order_by(AuditEvent.id))]


def test_people_s_actions_are_recorded_and_the_chain_holds(engine, world, db_url):
    app = web_app(engine, world, WTF_CSRF_ENABLED=False)
    c = app.test_client()
    c.post("/login", data={"username": "officer", "password": "wrong"})
    login(c, Role.ATTENDANCE_OFFICER)
    case = world.cases["absent"]
    c.post(f"/cases/{case}/notes", data={"text": "Spoke to mum at the gate."})
    c.post(f"/cases/{case}/move", data={"event": "send_letter", "reason": "Below 90% this half term"})
    c.post("/logout")
    with Session(engine) as s:
        mark = s.exec(select(Mark)).first()
        amend_mark(s, mark, "I" if mark.code != "I" else "M", None, reason="GP letter", clock=world.clock,
                   by=Amender("Dana Whitfield", "Attendance officer"))
        s.commit()
    actions = _actions(engine)
    assert {"auth.sign_in_refused", "auth.sign_in", "case.note", "case.move", "auth.sign_out", "mark.amend"} <= set(actions)
    assert actions.index("auth.sign_in") < actions.index("case.note") < actions.index("auth.sign_out")
    r = CliRunner().invoke(main, ["audit", "verify", "--db", db_url, "--json"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    assert out["ok"] and out["events"] == len(actions)


def _some_events(engine, n=5):
    with Session(engine) as s:
        for i in range(n):
            record(s, dt.datetime(2026, 3, 2, 9, i, tzinfo=LONDON), "officer", "case.note", f"case:{i}", n=i)
        s.commit()


def test_the_database_refuses_to_change_or_delete_an_event(engine):
    _some_events(engine)
    for sql in ("UPDATE audit_event SET actor = 'someone else' WHERE id = 2", "DELETE FROM audit_event WHERE id = 2"):
        with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
            conn.execute(text(sql))
    assert verify(engine).ok


@pytest.mark.parametrize("tamper,broken,words", [
    ("UPDATE audit_event SET detail = '{\"n\": 99}' WHERE id = 3", 3, "changed"),
    ("DELETE FROM audit_event WHERE id = 3", 4, "does not follow"),
    ("DELETE FROM audit_event WHERE id = 5", 4, "removed"),
])
def test_verify_names_the_first_event_edited_around_the_triggers(engine, db_url, tamper, broken, words):
    _some_events(engine)
    with engine.begin() as conn:  # someone with the database file drops the triggers and edits
        if engine.dialect.name == "postgresql":
            conn.execute(text("ALTER TABLE audit_event DISABLE TRIGGER audit_event_no_change"))
        else:
            conn.execute(text("DROP TRIGGER audit_event_no_update"))
            conn.execute(text("DROP TRIGGER audit_event_no_delete"))
        conn.execute(text(tamper))
    result = verify(engine)
    assert not result.ok and result.broken_at == broken and words in result.reason
    r = CliRunner().invoke(main, ["audit", "verify", "--db", db_url])
    assert r.exit_code == 1 and f"event {broken}" in r.stderr


@pytest.mark.postgres
def test_postgres_refuses_edits_and_keeps_one_chain_under_concurrent_writers(pg_engine):
    import threading

    def writer(k):
        for i in range(20):
            with Session(pg_engine) as s:
                record(s, dt.datetime(2026, 3, 2, 9, tzinfo=LONDON), f"user{k}", "case.note", f"case:{i}")
                s.commit()

    threads = [threading.Thread(target=writer, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    result = verify(pg_engine)
    assert result.ok and result.events == 80
    with pytest.raises(DBAPIError, match="append-only"), pg_engine.begin() as conn:
        conn.execute(text("UPDATE audit_event SET actor = 'x' WHERE id = 1"))
