"""Imports fuzzed: whatever bytes arrive as a CSV, the import either takes the whole file or
refuses it with problems naming file and line, and a refused file writes nothing."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from casework.register.importer import (
    ImportRejected,
    import_calendar,
    import_contacts,
    import_marks,
    import_pupils,
)
from casework.register.store import get_school
from casework.store.db import session_scope

HEADERS = {
    import_pupils: "upn,forename,surname,date_of_birth,year_group,fsm,vulnerability_rag",
    import_contacts: "upn,name,relationship,phone_mobile,email,call_priority",
    import_calendar: "start,end,kind,label,session",
    import_marks: "upn,date,session,code,minutes_late",
}
cell = st.one_of(st.text(max_size=12), st.sampled_from(["", "Y", "N", "2025-09-03", "03/09/2025", "AM", "PM", "/",
                                                         "L", "U", "term", "closure", "V886299920001", "R", "4", "-1",
                                                         '"', '""', "=cmd", "\x00", "\r"]))
row = st.lists(cell, min_size=0, max_size=9).map(lambda cells: ",".join(cells))
body = st.one_of(st.lists(row, max_size=6).map("\n".join), st.binary(max_size=300).map(lambda b: b.decode("latin-1")))


def _rows(engine) -> dict:
    with engine.connect() as conn:
        return {t: conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one()  # nosec: fixed table names
                for t in ("pupil", "contact", "calendar_entry", "mark", "mark_amendment")}


def test_any_file_is_taken_whole_or_refused_line_by_line(engine, make_school, clock, tmp_path, suite_figures):
    with session_scope(engine) as s:
        make_school(s, "great-chart", urn="118200")

    @settings(max_examples=120, deadline=None, suppress_health_check=list(HealthCheck))
    @given(importer=st.sampled_from(list(HEADERS)), header=st.booleans(), content=body)
    def fuzz(importer, header, content):
        path = tmp_path / "fuzz.csv"
        path.write_bytes(((HEADERS[importer] + "\n") if header else "").encode() + content.encode("utf-8", "replace"))
        before = _rows(engine)
        try:
            with session_scope(engine) as s:
                importer(s, get_school(s, "118200"), path, clock=clock)
        except ImportRejected as exc:
            assert exc.problems and all(p.file == "fuzz.csv" and p.line >= 0 for p in exc.problems)
            assert _rows(engine) == before, "a refused file wrote something"
        suite_figures["import files fuzzed"] += 1

    fuzz()
