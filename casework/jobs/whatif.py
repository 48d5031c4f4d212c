"""What-if: what another workflow would have done with a school's own register.

The school's register (the school, its calendar, pupils, contacts, and the marks the rules
read for the period: from the earliest date any rule looks back to, up to ``end``) is copied
into a throwaway SQLite file; a second copy of that file gets the other workflow. Each copy is
replayed day by day from ``start`` to ``end`` with ``casework.jobs.replay``: the evening run
each school day and the deadlines alone on other days (nobody acts during the day in a
what-if, so the morning run would change nothing that is counted). Both copies start with no
open cases, so the two are compared like for like; a deadline that falls due lapses, and a
formal step stays a proposal. Each copy's register is read once and handed to the rules day by
day (its marks never change). With two workers the replays run side by side in two processes
(worth it only on free cores: each worker starts casework afresh).
Both files are deleted afterwards; the school's database is only read.

The outcome of each run: cases opened by type, letters queued and the letters proposed steps
would send, meetings, notices to improve, penalty notice proposals and CME referrals (a step
proposed or taken whose target state is one of those), deadlines missed, and for each pupil
what happened, so the pupils for whom the two workflows differ can be listed.
"""

from __future__ import annotations

import datetime as dt
import multiprocessing
import shutil
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import event, insert, select
from sqlalchemy.engine import Engine
from sqlmodel import Session

from casework.cases.evidence import rule_config
from casework.jobs.replay import replay
from casework.register.calendar import school_year_start
from casework.register.schools import apply_workflow_settings
from casework.register.store import get_school, load_calendar
from casework.rules import evaluation_start, load_register
from casework.store.casemodels import Case, CaseMove, LetterRequest, Timer
from casework.store.db import make_engine
from casework.store.models import CalendarDay, Contact, Mark, Pupil, School
from casework.workflow import Workflow, for_school, load, resolve

# What a step counts as, by the state it leads to (a state id holding the word).
STEP_KINDS = (("meeting", "meetings"), ("notice_to_improve", "notices_to_improve"),
              ("penalty_notice", "penalty_proposals"), ("cme_referral", "cme_referrals"))
ROWS = (("cases_opened", "Cases opened"), ("letters", "Letters queued"),
        ("letters_proposed", "Letters a proposed step would send"), ("meetings", "Meetings"),
        ("notices_to_improve", "Notices to improve"), ("penalty_proposals", "Penalty notice proposals"),
        ("cme_referrals", "CME referrals"), ("deadlines_missed", "Deadlines missed (nobody acts in a what-if)"))
BATCH = 5000


class WhatIfError(ValueError):
    pass


@dataclass
class Outcome:
    workflow: str  # the workflow's name
    file: str
    totals: Counter = field(default_factory=Counter)  # ROWS keys
    cases_by_type: Counter = field(default_factory=Counter)
    letters_by_template: Counter = field(default_factory=Counter)
    per_pupil: dict[str, Counter] = field(default_factory=dict)  # upn -> what happened

    def as_dict(self) -> dict:
        return {"workflow": self.workflow, "file": self.file, **{k: self.totals[k] for k, _ in ROWS},
                "cases_by_type": dict(sorted(self.cases_by_type.items())),
                "letters_by_template": dict(sorted(self.letters_by_template.items()))}


@dataclass
class WhatIf:
    urn: str
    school: str
    start: dt.date
    end: dt.date
    own: Outcome
    other: Outcome
    differing: list[dict]  # {upn, name, own: [...], other: [...]}
    pupils: int
    seconds: float

    def rows(self) -> list[tuple[str, int, int]]:
        """(label, own, other): the totals, then cases opened by type."""
        out = [(label, self.own.totals[k], self.other.totals[k]) for k, label in ROWS]
        for t in sorted(set(self.own.cases_by_type) | set(self.other.cases_by_type)):
            out.append((f"  {t.replace('_', ' ').capitalize()} cases", self.own.cases_by_type[t],
                        self.other.cases_by_type[t]))
        for t in sorted(set(self.own.letters_by_template) | set(self.other.letters_by_template)):
            out.append((f"  Letter: {t.replace('_', ' ')}", self.own.letters_by_template[t],
                        self.other.letters_by_template[t]))
        return out

    def as_dict(self) -> dict:
        return {"school": self.school, "urn": self.urn, "from": self.start.isoformat(), "to": self.end.isoformat(),
                "pupils": self.pupils, "own": self.own.as_dict(), "other": self.other.as_dict(),
                "rows": [{"what": label.strip(), "own": a, "other": b, "difference": b - a}
                         for label, a, b in self.rows()],
                "pupils_differing": self.differing, "seconds": round(self.seconds, 2)}


def _copy(src: Engine, dst: Engine, school_id: int, marks_from: dt.date, marks_to: dt.date) -> int:
    """Copy the school's register rows into ``dst`` (same ids); returns the number of pupils."""
    pupils_of = select(Pupil.__table__.c.id).where(Pupil.__table__.c.school_id == school_id)
    queries = [
        (School.__table__, School.__table__.c.id == school_id),
        (CalendarDay.__table__, CalendarDay.__table__.c.school_id == school_id),
        (Pupil.__table__, Pupil.__table__.c.school_id == school_id),
        (Contact.__table__, Contact.__table__.c.pupil_id.in_(pupils_of)),
    ]
    raw_marks = src.dialect.name == "sqlite"  # the same storage both sides: copy the marks as stored
    if not raw_marks:
        queries.append((Mark.__table__, (Mark.__table__.c.school_id == school_id)
                        & (Mark.__table__.c.date >= marks_from) & (Mark.__table__.c.date <= marks_to)))
    n_pupils = 0
    with src.connect() as s, dst.begin() as d:
        for table, where in queries:
            result = s.execute(select(table).where(where))
            while rows := result.mappings().fetchmany(BATCH):
                d.execute(insert(table), [dict(r) for r in rows])
                if table is Pupil.__table__:
                    n_pupils += len(rows)
        if raw_marks:  # after the pupils they belong to
            _copy_marks_as_stored(s, d, school_id, marks_from, marks_to)
    return n_pupils


def _copy_marks_as_stored(s, d, school_id: int, marks_from: dt.date, marks_to: dt.date) -> None:
    """SQLite to SQLite: the marks' columns exactly as stored, without converting each value
    to Python and back (the bulk of a what-if's copying)."""
    cols = ", ".join(c.name for c in Mark.__table__.columns)
    marks = s.exec_driver_sql(f"SELECT {cols} FROM mark WHERE school_id = ? AND date >= ? AND date <= ?",  # nosec B608: our own column names
                              (school_id, marks_from.isoformat(), marks_to.isoformat()))
    insert_sql = f"INSERT INTO mark ({cols}) VALUES ({', '.join('?' * len(Mark.__table__.columns))})"  # nosec B608
    while rows := marks.fetchmany(BATCH):
        d.exec_driver_sql(insert_sql, [tuple(r) for r in rows])


def _set_workflow(engine: Engine, school_id: int, workflow: str) -> None:
    with Session(engine) as s:
        school = s.get(School, school_id)
        school.workflow = workflow
        apply_workflow_settings(school)
        s.add(school)
        s.commit()


def _kind(wf: Workflow, case_type: str, event: str) -> str | None:
    ct = wf.model.case_types.get(case_type)
    mv = ct.moves.get(event) if ct else None
    if mv is None:
        return None
    return next((k for word, k in STEP_KINDS if word in mv.to), None)


def _letters_of(wf: Workflow, case_type: str, event: str) -> list[str]:
    """The letters a step sends: those its target state queues on entry."""
    ct = wf.model.case_types.get(case_type)
    mv = ct.moves.get(event) if ct else None
    if mv is None or mv.to not in ct.states:
        return []
    return [a.letter for a in ct.states[mv.to].on_enter if a.kind == "letter"]


def _outcome(engine: Engine, wf: Workflow, days: list[dict]) -> Outcome:
    out = Outcome(wf.name, wf.path.name)
    with Session(engine) as s:
        cases = {c.id: (c, upn) for c, upn in s.execute(select(Case, Pupil.upn).join(Pupil, Pupil.id == Case.pupil_id))}

        def note(case_id: int, what: str) -> None:
            upn = cases[case_id][1]
            out.per_pupil.setdefault(upn, Counter())[what] += 1

        for c, _upn in cases.values():
            out.cases_by_type[c.case_type] += 1
            out.totals["cases_opened"] += 1
            note(c.id, f"{c.case_type} case")
        for r in s.scalars(select(LetterRequest)):
            out.letters_by_template[r.template] += 1
            out.totals["letters"] += 1
            note(r.case_id, f"letter {r.template}")
        proposed = {(p["case_id"], p["event"]) for d in days for st in d["steps"] for p in st["proposed"]}
        proposed |= {(c.id, p["event"]) for c, _ in cases.values() for p in c.proposals}
        taken = {(m.case_id, m.event) for m in s.scalars(select(CaseMove).where(CaseMove.event != "open"))}
        for case_id, event in sorted(proposed | taken):
            kind = _kind(wf, cases[case_id][0].case_type, event)
            if kind is not None:
                out.totals[kind] += 1
                note(case_id, kind.replace("_", " "))
            if (case_id, event) not in taken:  # a step taken has queued its letters already
                for letter in _letters_of(wf, cases[case_id][0].case_type, event):
                    out.totals["letters_proposed"] += 1
                    note(case_id, f"proposed letter {letter}")
        for t in s.scalars(select(Timer).where(Timer.status == "lapsed")):
            out.totals["deadlines_missed"] += 1
            note(t.case_id, f"missed {t.kind}")
    return out


def _differing(session_src, school_id: int, own: Outcome, other: Outcome) -> list[dict]:
    names = dict(session_src.execute(select(Pupil.upn, Pupil.forename + " " + Pupil.surname)
                                     .where(Pupil.school_id == school_id)).all())
    out = []
    for upn in sorted(set(own.per_pupil) | set(other.per_pupil)):
        a, b = own.per_pupil.get(upn, Counter()), other.per_pupil.get(upn, Counter())
        if a != b:
            out.append({"upn": upn, "name": names.get(upn, upn), "own": _listed(a), "other": _listed(b)})
    return sorted(out, key=lambda d: (d["name"], d["upn"]))


def _listed(c: Counter) -> list[str]:
    return [f"{k} ×{n}" if n > 1 else k for k, n in sorted(c.items())]


def _fast(engine: Engine) -> Engine:
    """A throwaway file need not survive a power cut: no waiting for the disk."""
    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_connection, _record) -> None:
        dbapi_connection.execute("PRAGMA synchronous=OFF")
    return engine


def replay_copy(db_file: str, urn: str, workflow: str, start: dt.date, end: dt.date,
                marks_from: dt.date) -> tuple[Outcome, list[dict]]:
    """Replay one throwaway copy (in this process or a worker) and read what it did. Its marks
    never change, so the register is read once and handed to the rules day by day."""
    eng = _fast(make_engine(f"sqlite:///{db_file}", migrate=False))
    try:
        with Session(eng) as s:
            school = get_school(s, urn)
            calendar = load_calendar(s, school.id)
            full = load_register(s, school.id, calendar, marks_from, end)
        days = replay(eng, urn, start, end, register_close=False, rules_on_closed_days=False,
                      registers=lambda a, b: full.window(calendar, max(a, marks_from), b))
        return _outcome(eng, for_school(workflow), days), days
    finally:
        eng.dispose()


def whatif(engine: Engine, urn: str, other_workflow: str | Path, start: dt.date, end: dt.date,
           on_day: Callable[[str, dict], None] | None = None, workdir: Path | None = None,
           workers: int = 1) -> WhatIf:
    """Replay ``start``..``end`` under the school's workflow and under ``other_workflow`` on
    throwaway copies of its register, and compare them. The school's database is only read.
    With ``workers`` 2 the two replays run side by side in two processes (each its own file)."""
    began = time.perf_counter()
    if end < start:
        raise WhatIfError(f"--to {end} is before --from {start}")
    other_path = resolve(other_workflow).resolve()
    other_wf = load(other_path)  # a broken file is refused here with every problem, before any work
    with Session(engine) as s:
        school = get_school(s, urn)
        own_wf = for_school(school.workflow)
        cal = load_calendar(s, school.id)
        if cal.first_day is None:
            raise WhatIfError(f"school {urn} has no calendar: import its term dates first")
        marks_from = min(evaluation_start(cal, rule_config(wf), start) for wf in (own_wf, other_wf))
        marks_from = min(marks_from, school_year_start(start))
        school_id, school_name, own_name = school.id, school.name, school.workflow
    with tempfile.TemporaryDirectory(prefix="casework-whatif-", dir=workdir) as tmp:
        files = {"own": Path(tmp) / "own.db", "other": Path(tmp) / "other.db"}
        names = {"own": own_name, "other": str(other_path)}
        base = _fast(make_engine(f"sqlite:///{files['own']}"))
        n_pupils = _copy(engine, base, school_id, marks_from, end)
        base.dispose()  # the WAL is checkpointed on close, so the file copies whole
        shutil.copyfile(files["own"], files["other"])
        for label, f in files.items():
            eng = make_engine(f"sqlite:///{f}", migrate=False)
            _set_workflow(eng, school_id, names[label])
            eng.dispose()
        args = {label: (str(files[label]), urn, names[label], start, end, marks_from) for label in files}
        if workers > 1:
            # spawned, not forked: a worker never holds a copy of the school's own connections
            with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn")) as pool:
                futures = {label: pool.submit(replay_copy, *a) for label, a in args.items()}
                done = {label: fut.result() for label, fut in futures.items()}
        else:
            done = {label: replay_copy(*a) for label, a in args.items()}
        results = {label: outcome for label, (outcome, _days) in done.items()}
        for label, (_outcome_, days) in done.items():
            for d in days if on_day else ():
                on_day(label, d)
    with Session(engine) as s:
        differing = _differing(s, school_id, results["own"], results["other"])
    return WhatIf(urn, school_name, start, end, results["own"], results["other"], differing, n_pupils,
                  time.perf_counter() - began)


__all__ = ["ROWS", "Outcome", "WhatIf", "WhatIfError", "whatif"]
