"""A school's records: backup and restore row for row (SQLite and PostgreSQL, and from one
to the other), a subject access export, and the retention purge."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from click.testing import CliRunner
from sqlmodel import Session, select

from casework.cli import main
from casework.clock import LONDON
from casework.store.backup import BackupError, backup, restore, table_rows
from casework.store.casemodels import Case, CaseMove, CaseNote
from casework.store.db import make_engine
from casework.store.models import AuditEvent, Contact, Mark, MarkAmendment, Pupil, School


def _restored_matches(source, target, tmp_path, suite_figures):
    out = tmp_path / "school.backup.gz"
    made = backup(source, out)
    restored = restore(target, out)
    assert restored.rows == {k: v for k, v in made.rows.items() if v}
    before, after = table_rows(source), table_rows(target)
    assert before.keys() == after.keys()
    for table in before:
        assert after[table] == before[table], table
    suite_figures["rows restored (backup → restore, every row compared)"] += made.total
    return made


def test_backup_restores_every_row_into_a_new_sqlite_database(engine, world, tmp_path, suite_figures):
    made = _restored_matches(engine, make_engine(f"sqlite:///{tmp_path / 'restored.db'}"), tmp_path, suite_figures)
    assert made.rows["mark"] > 100 and made.rows["pupil_case"] >= 3 and made.rows["staff_user"] >= 9


@pytest.mark.postgres
def test_backup_moves_a_school_from_sqlite_to_postgresql_row_for_row(engine, world, pg_engine, tmp_path, suite_figures):
    _restored_matches(engine, pg_engine, tmp_path, suite_figures)
    with Session(pg_engine) as s:  # new rows get new ids after the restored ones
        school = s.exec(select(School)).first()
        s.add(CaseNote(case_id=s.exec(select(Case.id)).first(), author="x", at=dt.datetime.now(dt.UTC), text="after"))
        s.commit()
        assert school is not None


def test_restore_refuses_a_database_with_data_and_a_file_that_is_not_a_backup(engine, world, tmp_path):
    out = tmp_path / "b.gz"
    backup(engine, out)
    with pytest.raises(BackupError, match="not empty"):
        restore(engine, out)
    bad = tmp_path / "bad.gz"
    bad.write_bytes(b"not gzip at all")
    with pytest.raises(BackupError, match="not a casework backup"):
        restore(make_engine(f"sqlite:///{tmp_path / 'other.db'}"), bad)
    r = CliRunner().invoke(main, ["restore", str(out), "--db", f"sqlite:///{tmp_path / 'x.db'}"])
    assert r.exit_code == 0 and "Restored" in r.output


def test_subject_access_export_holds_everything_about_the_pupil(engine, world, db_url, tmp_path):
    with Session(engine) as s:
        pupil = s.get(Pupil, world.pupils["absent"])
        s.add(CaseNote(case_id=world.cases["absent"], author="dsl", at=world.clock.now(), text="Seen by the DSL",
                       safeguarding=True))
        s.commit()
        marks = len(s.exec(select(Mark).where(Mark.pupil_id == pupil.id)).all())
        contacts = len(s.exec(select(Contact).where(Contact.pupil_id == pupil.id)).all())
        upn, urn = pupil.upn, s.get(School, world.school_id).urn
    out = tmp_path / "sar.json"
    r = CliRunner().invoke(main, ["export", "pupil", upn, "--school", urn, "--out", str(out), "--db", db_url])
    assert r.exit_code == 0, r.output
    data = json.loads(out.read_text())
    assert data["pupil"]["upn"] == upn
    assert len(data["marks"]) == marks and len(data["contacts"]) == contacts
    assert [c["id"] for c in data["cases"]] == [world.cases["absent"]]
    assert any(n["safeguarding"] and n["text"] == "Seen by the DSL" for n in data["notes"])
    assert all(m["pupil_id"] == data["pupil"]["id"] for m in data["marks"])
    r = CliRunner().invoke(main, ["export", "pupil", "A999999999999", "--school", urn, "--out", str(out), "--db", db_url])
    assert r.exit_code == 1 and "no pupil with UPN" in r.stderr


def test_retention_purge_removes_only_what_is_past_its_period(engine, world, db_url):
    from casework.store.retention import purge

    with Session(engine) as s:
        pupil_id = world.pupils["absent"]
        old = Mark(school_id=world.school_id, pupil_id=pupil_id, date=dt.date(2019, 9, 4), session="AM", code="O",
                   recorded_by="MIS", recorded_at=dt.datetime(2019, 9, 4, 9, tzinfo=LONDON))
        s.add(old)
        s.flush()
        s.add(MarkAmendment(mark_id=old.id, pupil_id=pupil_id, date=old.date, session="AM", original_code="N",
                            original_minutes_late=None, amended_code="O", amended_minutes_late=None, reason="no word",
                            amended_at=dt.datetime(2019, 9, 12, tzinfo=LONDON), amended_by_name="A",
                            amended_by_position="Office"))
        case = s.get(Case, world.cases["call"])
        case.closed_at = dt.datetime(2019, 10, 1, 12, tzinfo=LONDON)
        s.add(case)
        s.commit()
        marks_before = len(s.exec(select(Mark)).all())
    now = dt.datetime(2026, 3, 12, 18, tzinfo=LONDON)  # 6 years back: 12 March 2020
    with Session(engine) as s:
        dry = purge(s, s.get(School, world.school_id), now, by="Data protection officer", dry_run=True)
        s.commit()
    assert dry.removed["mark"] == 1 and dry.removed["mark_amendment"] == 1 and dry.removed["pupil_case"] == 1
    with Session(engine) as s:
        assert len(s.exec(select(Mark)).all()) == marks_before
    r = CliRunner().invoke(main, ["retention", "purge", "--school", _urn(engine, world), "--by", "DPO", "--db", db_url,
                                  "--as-of", "2026-03-12T18:00"])
    assert r.exit_code == 0 and "Removed: 1 mark_amendment, 1 mark" in r.output, r.output
    with Session(engine) as s:
        assert len(s.exec(select(Mark)).all()) == marks_before - 1
        assert s.get(Case, world.cases["call"]) is None and s.get(Case, world.cases["absent"]) is not None
        assert not s.exec(select(CaseMove).where(CaseMove.case_id == world.cases["call"])).all()
        assert s.exec(select(AuditEvent).where(AuditEvent.action == "retention.purge")).one().actor == "DPO"


def _urn(engine, world) -> str:
    with Session(engine) as s:
        return s.get(School, world.school_id).urn



def test_retention_purge_on_29_february_counts_back_to_28_february(engine, world):
    """A purge run on a leap day must not fail: six years back from 29 Feb 2028 is 28 Feb 2022."""
    from casework.store.retention import purge

    with Session(engine) as s:
        report = purge(s, s.get(School, world.school_id), dt.datetime(2028, 2, 29, 18, tzinfo=LONDON), by="DPO",
                       dry_run=True)
    assert report.registers_before == dt.date(2022, 2, 28)
    assert report.cases_closed_before.date() == dt.date(2022, 2, 28)
