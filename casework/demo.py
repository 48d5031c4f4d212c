"""The demo school: about 400 pupils and a real Kent calendar, marked to today.

The register is generated as CSV files, exactly as an MIS would export them, and
loaded through the real importers, so the demo also shows the import formats. The
spread is believable: most pupils above 95 %, some persistent and a few severe
absentees, lates, term-time holidays, illness runs, a Traveller family, a Friday
pattern, stale ``N`` codes in the last week, and pupils with every flag.
"""

from __future__ import annotations

import csv
import datetime as dt
import random
import subprocess  # nosec B404: the demo starts its own letters process
import sys
from dataclasses import dataclass, field
from pathlib import Path

from argon2 import PasswordHasher
from rich.console import Console
from rich.table import Table
from sqlalchemy import func
from sqlalchemy.engine import Engine
from sqlmodel import select

from casework.cases import moves as cs
from casework.cases.evaluate import evaluate
from casework.cases.world import CaseWorld
from casework.clock import Clock, FixedClock, at
from casework.figures import stats as st
from casework.letters.office import check_at, produce_checked, save
from casework.register import importer
from casework.register.calendar import school_year_start
from casework.register.schools import add_school
from casework.register.store import Amender, get_school, load_calendar
from casework.register.upn import make_upn
from casework.store.casemodels import Case, LetterRequest, Notification, PrintJob, Timer
from casework.store.db import session_scope
from casework.store.models import PUPIL_FLAGS, ROLE_LABELS, Pupil, Role, User
from casework.workflow import for_school

DEMO_URN = "999001"
DEMO_NAME = "Oakfield Primary School (demo)"
DEMO_PASSWORD = "casework-demo"
DEMO_USERS = [
    ("officer", "Dana Whitfield", "Attendance officer", Role.ATTENDANCE_OFFICER),
    ("wellbeing", "Priya Natarajan", "Family Liaison Officer", Role.WELLBEING_LEAD),  # Staplehurst's name for the post
    ("dsl", "Marcus Hale", "Designated safeguarding lead", Role.DSL),
    ("deputydsl", "Aisha Rahman", "Deputy DSL", Role.DEPUTY_DSL),
    ("head", "Helen Carter", "Headteacher", Role.HEADTEACHER),
    ("deputyhead", "Tom Okafor", "Deputy headteacher", Role.DEPUTY_HEAD),
    ("teacher", "Grace Liu", "Class teacher, Year 4", Role.TEACHER),
    ("governor", "Robert Ellis", "Chair of governors", Role.GOVERNOR),
    ("admin", "Sam Porter", "School business manager", Role.ADMIN),
]

FORENAMES = (
    "Oliver Amelia George Isla Harry Ava Noah Mia Jack Ivy Leo Freya Arthur Lily Muhammad Florence Oscar "
    "Evie Charlie Grace Theo Sophia Jacob Willow Alfie Rosie Finley Poppy Archie Ella Henry Daisy Thomas Sienna "
    "Joshua Aria Isaac Phoebe Max Alice Riley Ruby Ethan Emily Logan Millie Mason Harper Lucas Chloe Zain Amara "
    "Kai Nia Reuben Maya Dylan Zara Ibrahim Layla Tomasz Zofia Aleksander Hana"
).split()
SURNAMES = (
    "Smith Jones Taylor Brown Williams Wilson Johnson Davies Patel Robinson Wright Thompson Evans Walker White "
    "Roberts Green Hall Thomas Clarke Jackson Wood Harris Edwards Turner Martin Cooper Hill Ward Hughes Moore "
    "Clark King Harrison Lewis Baker Lee Allen Morris Khan Scott Watson Davis Parker James Bennett Young "
    "Phillips Richardson Mitchell Bailey Carter Cook Singh Shaw Bell Collins Morgan Kelly Begum Miller Cox "
    "Marshall Simpson Ahmed Nowak Kowalski Okoye Mensah"
).split()
STREETS = ("Mill Lane", "Church Road", "Station Road", "Orchard Close", "Hop Garden Way", "Weald View",
           "Maidstone Road", "High Street", "Bell Lane", "Chestnut Avenue", "Kings Road", "Forge Close")


@dataclass
class DemoReport:
    db_url: str
    as_of: dt.date
    files: dict[str, Path]
    imports: list[importer.ImportResult]
    pupils: int
    marks: int
    profiles: dict[str, int]
    summary: list = field(default_factory=list)
    extra: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {
            "school": {"urn": DEMO_URN, "name": DEMO_NAME},
            "database": self.db_url,
            "as_of": self.as_of.isoformat(),
            "pupils": self.pupils,
            "marks": self.marks,
            "profiles": self.profiles,
            "files": {k: str(v) for k, v in self.files.items()},
            "users": [{"username": u, "name": n, "role": r.value, "password": DEMO_PASSWORD} for u, n, _, r in DEMO_USERS],
            "groups": self.summary,
            **self.extra,
        }

    def print(self, console: Console) -> None:
        console.print(f"[bold]{DEMO_NAME}[/] (URN {DEMO_URN}) built in {self.db_url}, as of {self.as_of:%A %d %B %Y}.")
        console.print(f"{self.pupils} pupils, {self.marks:,} register marks on a real Kent calendar (2025-26 and 2026-27).")
        console.print("Pupil profiles: " + ", ".join(f"{v} {k}" for k, v in self.profiles.items()))
        console.print(f"MIS-style CSV files it imported are in {self.files['pupils'].parent}/")
        if self.summary:
            t = Table("Group", "Pupils", "Attendance %", "PA", "SA", title="This school year so far")
            for g in self.summary:
                t.add_row(g["group"], str(g["pupils"]), f"{g['attendance_pct']:.1f}" if g["attendance_pct"] is not None else "—",
                          str(g["persistent_absentees"]), str(g["severe_absentees"]))
            console.print(t)
        cw = self.extra.get("casework")
        if cw:
            console.print(f"Casework replayed day by day since September: {sum(cw['steps_taken'].values())} steps taken "
                          f"({', '.join(f'{v} {k}' for k, v in sorted(cw['steps_taken'].items()))}).")
            console.print(f"Now: {sum(cw['open_cases'].values())} open cases, {cw['closed_cases']} closed; "
                          f"{_letters(cw['letters_queued'])} queued; {cw['open_deadlines']} open deadlines, "
                          f"{cw['missed_deadlines']} missed; {cw['safeguarding_queue']} items on the DSL's queue.")
            past = self.extra.get("past_letters") or {}
            if past.get("how") == "background" and past.get("letters"):
                console.print(f"The office's past print runs: {past['letters']} letters, checked on the days they "
                              "were printed, are being laid out in the background (a few minutes; the letters page "
                              f"shows how far it has got). What is queued ({_letters(cw['letters_queued'])}) is today's.")
            elif past.get("letters"):
                console.print(f"The office's past print runs: {past['letters']} letters produced, each the school day "
                              "it was queued or the next, a print file a day.")
            t = Table("Case type", "State", "Open", title="Open cases")
            for key, n in sorted(cw["open_cases"].items()):
                ct, st = key.split(":", 1)
                t.add_row(ct.replace("_", " "), st.replace("_", " "), str(n))
            console.print(t)
        t = Table("Username", "Name", "Role", title=f"Demo users (password: {DEMO_PASSWORD})")
        for u, n, _, r in DEMO_USERS:
            t.add_row(u, n, ROLE_LABELS[r])
        console.print(t)
        dbarg = f" --db {self.db_url}"
        console.print("Look at it:")
        console.print(f"  casework serve{dbarg}        then open http://127.0.0.1:8000 and sign in as officer, head, dsl or governor")
        console.print(f"  casework cases --school {DEMO_URN}{dbarg}")
        console.print(f"  casework letters queue --school {DEMO_URN}{dbarg}")
        console.print(f"  casework stats --school {DEMO_URN} --summary{dbarg}")


def _letters(n: int) -> str:
    return f"{n} letter{'s' if n != 1 else ''}"


def _calendar_csv() -> str:
    return (Path(__file__).parent / "data" / "demo-calendar.csv").read_text()


def build_demo(engine: Engine, *, clock: Clock, pupils: int = 400, seed: int = 2026,
               db_url: str = "", out_dir: Path | None = None, past_letters: str = "now") -> DemoReport:
    rng = random.Random(seed)
    out_dir = out_dir or Path("casework-demo")
    out_dir.mkdir(parents=True, exist_ok=True)
    files = {k: out_dir / f"{k}.csv" for k in ("calendar", "pupils", "contacts", "marks")}
    files["calendar"].write_text(_calendar_csv())
    today = clock.today()

    with session_scope(engine) as s:
        school = add_school(s, urn=DEMO_URN, name=DEMO_NAME, local_authority="Kent", workflow="staplehurst")
        school.address = "Oakfield Lane\nStaplehurst\nKent TN12 0ZZ"
        school.phone = "01580 000000"
        school.email = "office@oakfield.example.sch.uk"
        school.headteacher_name = "Mrs H. Carter"
        hasher = PasswordHasher()
        hashed = hasher.hash(DEMO_PASSWORD)
        for username, name, position, role in DEMO_USERS:
            s.add(User(school_id=school.id, username=username, name=name, position=position, role=role.value,
                       email=f"{username}@oakfield.example.sch.uk", password_hash=hashed))
        results = [importer.import_calendar(s, school, files["calendar"], clock=clock, by="demo")]
        calendar = load_calendar(s, school.id)

    roster, profiles = _pupils(rng, pupils)
    _write_pupils(files["pupils"], roster)
    _write_contacts(files["contacts"], roster, rng)
    end = min(today, calendar.last_day)
    morning_only = None
    if calendar.is_school_day(today) and clock.now().time() < school.pm_close:
        end = calendar.previous_school_day(today) if today > calendar.first_day else today
        if clock.now().time() >= school.am_close:
            morning_only = today  # this morning's register is taken; the afternoon's is not yet
    marks = _write_marks(files["marks"], roster, calendar, calendar.first_day, end, today, rng, morning_only)

    with session_scope(engine) as s:

        school = get_school(s, DEMO_URN)
        results.append(importer.import_pupils(s, school, files["pupils"], clock=clock, by="demo"))
        results.append(importer.import_contacts(s, school, files["contacts"], clock=clock, by="demo"))
        results.append(importer.import_marks(s, school, files["marks"], clock=clock, by=Amender("Demo", "Generated data")))


    # Run the school's casework through this school year so far, as its staff would have.
    work_start = max(school_year_start(today), calendar.first_day)
    office: list | None = None if past_letters == "keep" else []
    steps = work_the_term(engine, clock=clock, start=work_start, rng=rng, office=office)
    past_letters = _produce_past_letters(engine, clock, office, db_url, out_dir, past_letters)

    with session_scope(engine) as s:
        rows = st.pupil_figures(s, school.id, school_year_start(today), today)
        groups = [g.as_dict() for g in st.breakdown(rows, st.pupil_flags(s, school.id))[:8]]
    counts: dict[str, int] = {}
    for p in profiles:
        counts[p] = counts.get(p, 0) + 1
    report = DemoReport(db_url, today, files, results, len(roster), marks, counts, groups)
    report.extra["casework"] = _casework_summary(engine, steps)
    report.extra["past_letters"] = past_letters
    return report


def _produce_past_letters(engine: Engine, clock: Clock, office: list, db_url: str, out_dir: Path,
                          how: str) -> dict:
    """The letters the office produced on past school days, as a print job on the letters page: laid
    out here (``how="now"``), or by a process of their own while the demo is used ("background");
    "keep" leaves every letter in the queue."""
    if not office:
        return {"letters": 0, "how": how}
    with session_scope(engine) as s:
        school = get_school(s, DEMO_URN)
        officer = s.exec(select(User).where(User.school_id == school.id,
                                            User.role == Role.ATTENDANCE_OFFICER.value)).first()
        job = PrintJob(school_id=school.id, requested_by=officer.name, requested_at=clock.now(), total=len(office))
        s.add(job)
        s.flush()
        job_id, school_id, by = job.id, school.id, officer.name
    if how == "now":
        produce_checked(engine, school_id, office, by, job_id=job_id)
        with session_scope(engine) as s:
            job = s.get(PrintJob, job_id)
            job.status, job.finished_at = "done", clock.now()
    else:
        saved = out_dir / "past-letters.json"
        save(office, saved.resolve())
        log = (out_dir / "past-letters.log").open("w")
        subprocess.Popen([sys.executable, "-m", "casework.letters.office", db_url, str(saved.resolve()), str(job_id)],
                         stdout=log, stderr=subprocess.STDOUT, start_new_session=True)  # nosec B603: our own module
    return {"letters": len(office), "how": how, "job": job_id}


def _casework_summary(engine: Engine, steps: dict[str, int]) -> dict:
    with session_scope(engine) as s:
        by_state = dict(s.exec(select(Case.case_type + ":" + Case.state, func.count()).where(Case.closed_at.is_(None))
                               .group_by(Case.case_type, Case.state)).all())
        return {
            "open_cases": by_state,
            "closed_cases": s.exec(select(func.count()).select_from(Case).where(Case.closed_at.is_not(None))).one(),
            "letters_queued": s.exec(select(func.count()).select_from(LetterRequest).where(LetterRequest.status == "queued")).one(),
            "open_deadlines": s.exec(select(func.count()).select_from(Timer).where(Timer.status == "open")).one(),
            "missed_deadlines": s.exec(select(func.count()).select_from(Timer).where(Timer.status == "lapsed")).one(),
            "safeguarding_queue": s.exec(select(func.count()).select_from(Notification).where(
                Notification.queue == "safeguarding", Notification.resolved_at.is_(None))).one(),
            "steps_taken": steps,
        }


# -- generation ---------------------------------------------------------------


@dataclass
class DemoPupil:
    upn: str
    forename: str
    surname: str
    dob: dt.date
    year_group: int
    flags: dict[str, bool]
    rag: str | None
    profile: str
    family: int


def _pupils(rng: random.Random, n: int) -> tuple[list[DemoPupil], list[str]]:
    roster: list[DemoPupil] = []
    profiles: list[str] = []
    serial = 0
    for i in range(n):
        yg = i % 7  # Reception (0) to Year 6
        # Age on 31 August 2026 (the start of 2026-27): Reception are 4.
        birth_year = 2022 - yg
        dob = dt.date(birth_year - (1 if rng.random() < 0.66 else 0), 1, 1) + dt.timedelta(days=rng.randrange(365))
        dob = max(min(dob, dt.date(birth_year, 8, 31)), dt.date(birth_year - 1, 9, 1))
        serial += 1
        upn = make_upn(886, 2999, 2022 - yg, serial)
        roll = rng.random()
        profile = (
            "severe" if roll < 0.015 else
            "persistent" if roll < 0.10 else
            "friday pattern" if roll < 0.11 else
            "long illness" if roll < 0.13 else
            "term-time holiday" if roll < 0.19 else
            "often late" if roll < 0.24 else
            "good"
        )
        flags = {
            "fsm": rng.random() < (0.5 if profile in ("severe", "persistent") else 0.2),
            "pupil_premium": False,
            "send": rng.random() < 0.15,
            "ehc_plan": rng.random() < 0.03,
            "eal": rng.random() < 0.15,
            "social_worker": rng.random() < (0.2 if profile == "severe" else 0.03),
            "child_in_need": False,
            "child_protection_plan": False,
            "looked_after": rng.random() < 0.01,
            "young_carer": rng.random() < 0.02,
            "traveller": False,
        }
        flags["pupil_premium"] = flags["fsm"] or flags["looked_after"] or rng.random() < 0.04
        if flags["ehc_plan"]:
            flags["send"] = True
        if flags["social_worker"]:
            flags["child_in_need"] = rng.random() < 0.6
            flags["child_protection_plan"] = not flags["child_in_need"]
        rag = "red" if flags["child_protection_plan"] else "amber" if (flags["social_worker"] or flags["looked_after"]) else None
        roster.append(DemoPupil(upn, rng.choice(FORENAMES), rng.choice(SURNAMES), dob, yg, flags, rag, profile, i))
        profiles.append(profile)
    # A Traveller family: three siblings who travel for the parents' work in the summer.
    for idx, yg in zip((3, 10, 17), (3, 3, 3)):
        p = roster[idx]
        p.surname = "Loveridge"
        p.flags["traveller"] = True
        p.profile = "traveller"
        p.family = -1
        profiles[idx] = "traveller"
    _ensure_every_kind(roster, profiles)
    return roster, profiles


def _ensure_every_kind(roster: list[DemoPupil], profiles: list[str]) -> None:
    """A small demo (a few dozen pupils) still shows every profile and every flag.

    Rare ones may not come up by chance; give them to pupils who would otherwise be
    plain good attenders. A full-size demo normally has them all already.
    """
    if len(roster) < 30:
        return
    spare = iter(i for i, p in enumerate(roster) if p.profile == "good")
    for profile in ("severe", "persistent", "long illness", "friday pattern", "term-time holiday", "often late"):
        if profile not in profiles:
            i = next(spare)
            roster[i].profile = profiles[i] = profile
    have = {f for p in roster for f, v in p.flags.items() if v}
    if not {"social_worker", "child_in_need", "child_protection_plan"} <= have:
        for flag, rag in (("child_in_need", "amber"), ("child_protection_plan", "red")):
            p = roster[next(spare)]
            p.flags.update(social_worker=True, **{flag: True})
            p.rag = rag
    for flag in ("ehc_plan", "looked_after", "young_carer", "eal", "send", "fsm"):
        if flag not in have:
            p = roster[next(spare)]
            p.flags[flag] = True
            if flag == "ehc_plan":
                p.flags["send"] = True
            if flag in ("looked_after", "fsm"):
                p.flags["pupil_premium"] = True
            if flag == "looked_after":
                p.rag = p.rag or "amber"


def _write_pupils(path: Path, roster: list[DemoPupil]) -> None:

    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["upn", "forename", "surname", "date_of_birth", "year_group", *PUPIL_FLAGS, "vulnerability_rag"])
        for p in roster:
            w.writerow([p.upn, p.forename, p.surname, p.dob.isoformat(), "R" if p.year_group == 0 else p.year_group,
                        *("Y" if p.flags[k] else "N" for k in PUPIL_FLAGS), p.rag or ""])


def _write_contacts(path: Path, roster: list[DemoPupil], rng: random.Random) -> None:
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["upn", "name", "relationship", "parental_responsibility", "lives_with_pupil", "phone_mobile",
                    "phone_home", "email", "address", "postcode", "call_priority"])
        for p in roster:
            house = rng.randrange(1, 120)
            street = rng.choice(STREETS)
            postcode = f"TN12 {rng.randrange(1, 9)}{rng.choice('ABDEFGHJLNPQRSTUWXYZ')}{rng.choice('ABDEFGHJLNPQRSTUWXYZ')}"
            address = f"{house} {street}, Staplehurst, Kent"
            first = rng.choice(["Sarah", "Emma", "Laura", "Claire", "Jo", "Kirsty", "Agnieszka", "Fatima", "Nicola"])
            w.writerow([p.upn, f"{first} {p.surname}", "Mother", "Y", "Y", f"07700 9{rng.randrange(10000, 99999)}",
                        "", f"{first.lower()}.{p.surname.lower()}@example.com", address, postcode, 1])
            if rng.random() < 0.8:
                second = rng.choice(["James", "Daniel", "Mark", "Chris", "Lee", "Piotr", "Imran", "Kwame"])
                lives = rng.random() < 0.8
                w.writerow([p.upn, f"{second} {p.surname}", "Father", "Y", "Y" if lives else "N",
                            f"07700 9{rng.randrange(10000, 99999)}", "", "",
                            address if lives else f"{rng.randrange(1, 80)} {rng.choice(STREETS)}, Marden, Kent",
                            postcode if lives else "TN12 9ZZ", 2])
            if rng.random() < 0.5:
                w.writerow([p.upn, f"{rng.choice(['Pat', 'Jean', 'Val', 'Brian'])} {rng.choice(SURNAMES)}", "Grandparent",
                            "N", "N", f"07700 9{rng.randrange(10000, 99999)}", "", "", "", "", 3])


def _write_marks(path: Path, roster: list[DemoPupil], calendar, start: dt.date, end: dt.date,
                 today: dt.date, rng: random.Random, morning_only: dt.date | None = None) -> int:
    days = calendar.school_days(start, end)
    n = 0
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["upn", "date", "session", "code", "minutes_late"])
        for p in roster:
            codes = _pupil_year(p, days, calendar, today, rng)
            for (day, sess), (code, minutes) in codes.items():
                w.writerow([p.upn, day.isoformat(), sess, code, "" if minutes is None else minutes])
                n += 1
            if morning_only is not None:
                roll = rng.random()
                code, minutes = ("N", "") if roll < 0.03 else ("L", rng.randrange(2, 25)) if roll < 0.05 else ("/", "")
                w.writerow([p.upn, morning_only.isoformat(), "AM", code, minutes])
                n += 1
    return n


_ABSENCE_RATE = {"good": 0.012, "often late": 0.02, "term-time holiday": 0.015, "long illness": 0.02,
                 "friday pattern": 0.03, "persistent": 0.09, "severe": 0.45, "traveller": 0.02}
_LATE_RATE = {"often late": 0.22, "persistent": 0.05, "severe": 0.05}
Marks = dict[tuple[dt.date, str], tuple[str, "int | None"]]


def _mark_days(marks: Marks, calendar, days: list[dt.date], code: str) -> None:
    for d in days:
        for s in calendar.sessions_on(d):
            marks[(d, s)] = (code, None)


def _absence_code(prof: str, rng: random.Random) -> str:
    """Most absence is illness; persistent absentees add some unexplained (O) days; severe
    absentees mostly unexplained ones."""
    if prof == "severe":
        return rng.choices(("I", "O", "N"), weights=(3, 6, 1), k=1)[0]
    if prof == "persistent":
        return rng.choices(("I", "M", "O"), weights=(8, 1, 1), k=1)[0]
    return rng.choices(("I", "M", "O", "N"), weights=(14, 2, 1, 1), k=1)[0]


def _absence_mark(code: str, day: dt.date, session: str, today: dt.date) -> str:
    if code == "N" and (today - day).days > 10:
        return "O"  # the office resolved old N codes; only recent ones stay open
    if code == "O" and (today - day).days <= 10:
        return "N"  # recent unexplained absence: the reason is not yet established
    if code == "M" and session == "PM":
        return "\\"  # back from the appointment for the afternoon
    return code


def _absent_run(marks: Marks, p: DemoPupil, days: list[dt.date], calendar, today: dt.date, rng: random.Random) -> int:
    """A run of absence starting at ``days[0]``; returns how many days it took."""
    run = 1 if p.profile == "friday pattern" else rng.choice((1, 1, 1, 2, 2, 3))
    code = _absence_code(p.profile, rng)
    for d in days[:run]:
        for s in calendar.sessions_on(d):
            marks[(d, s)] = (_absence_mark(code, d, s, today), None)
    return run


def _attending_day(marks: Marks, day: dt.date, sessions, late_rate: float, rng: random.Random) -> None:
    for s in sessions:
        if s == "AM" and rng.random() < late_rate:
            if rng.random() < 0.75:
                marks[(day, s)] = ("L", rng.randrange(2, 29))
            else:
                marks[(day, s)] = ("U", rng.randrange(31, 75))
        else:
            marks[(day, s)] = ("/" if s == "AM" else "\\", None)


def _pupil_year(p: DemoPupil, days: list[dt.date], calendar, today: dt.date, rng: random.Random) -> Marks:
    marks: Marks = {}
    prof = p.profile
    absence_rate, late_rate = _ABSENCE_RATE[prof], _LATE_RATE.get(prof, 0.01)
    holiday_starts = set()
    if prof == "term-time holiday" or rng.random() < 0.02:
        holiday_starts.add(rng.randrange(len(days)))  # one week of term-time holiday the school did not agree
    illness_start = rng.randrange(len(days)) if prof == "long illness" else None
    i = 0
    while i < len(days):
        day = days[i]
        if i in holiday_starts:
            _mark_days(marks, calendar, days[i : i + 5], "G")
            i += 5
        elif i == illness_start:
            _mark_days(marks, calendar, days[i : i + 16], "I")
            i += 16
        elif prof == "traveller" and dt.date(day.year, 5, 1) <= day <= dt.date(day.year, 7, 31):
            _mark_days(marks, calendar, [day], "T")
            i += 1
        elif rng.random() < absence_rate or (prof == "friday pattern" and day.weekday() == 4 and rng.random() < 0.7):
            i += _absent_run(marks, p, days[i:], calendar, today, rng)
        else:
            _attending_day(marks, day, calendar.sessions_on(day), late_rate, rng)
            i += 1
    # A few fresh N codes in the last school week that the office has not yet chased.
    if rng.random() < 0.04 and days:
        _mark_days(marks, calendar, [days[-1 - rng.randrange(min(4, len(days)))]], "N")
    # Severe absentees: the latest days absent with no word from home.
    if prof == "severe" and len(days) > 4:
        _mark_days(marks, calendar, days[-4:], "N")
    return dict(sorted(marks.items()))


# -- a term of casework ---------------------------------------------------------

# Each school day, once the afternoon register is in, the office produces the letters queued before then.
OFFICE_PRINTS_AT = dt.time(16, 0)

# What the demo's staff do with a case at each state, in order of preference. Only
# moves the workflow allows now (role, guards) are taken; formal steps are taken by
# the headteacher, as in a real school.
_NEXT_STEP = {
    "attendance": {"monitor": ["send_letter"], "letter": ["invite_to_meeting"],
                   "support_plan": ["issue_notice_to_improve"]},
    "punctuality": {"monitor": ["send_letter"], "letter": ["invite_to_meeting"]},
    "illness": {"monitor": ["request_medical_evidence"], "medical_evidence_requested": ["record_medical_evidence"]},
}
_WEEKS_IN_STATE = {"monitor": 0, "letter": 2, "meeting": 1, "support_plan": 4, "medical_evidence_requested": 1}

# What a first-day call or a home visit found, in the officer's words.
_CALL_NOTES = [
    "Parent called back: child unwell with a temperature, back when well",
    "Mum called: sickness bug overnight, will be back tomorrow",
    "Dad answered: hospital appointment this morning, forgot to tell the office; in this afternoon",
    "Grandparent answered: child has an ear infection, GP appointment booked",
    "Parent called back: family bereavement, back on Monday; head informed",
    "Mum answered: child overslept after a late night; in by ten",
]
_VISIT_NOTES = [
    "Home visit: child at home with mum, unwell; mum's phone had been cut off, new number taken",
    "Home visit: dad answered, child in bed with flu; contact numbers checked and updated",
    "Home visit: child seen, staying with grandparents this week; mum's new number taken",
]

# A well-run office holds its meetings within the fortnight the workflow gives (one in twelve
# slips a week, and a few then run late) and records what was agreed: case type -> the outcomes
# a meeting has, each (weight, move, what the officer wrote).
_MEETING_SLIPS = 1 / 12
_MEETING_OUTCOMES = {
    "attendance": [
        (5, "agree_support_plan", "Meeting held with mum: support plan agreed, with a morning check-in with the class teacher"),
        (3, "agree_support_plan", "Meeting held with both parents: plan agreed, school nurse to see the child about headaches"),
        (2, "agree_support_plan", "Meeting held: plan agreed, a place at breakfast club from Monday to help with mornings"),
        (2, "return_to_monitoring", "Meeting held: the absences were a run of illness, now over; attendance improving, back to monitoring"),
        (1, "return_to_monitoring", "Meeting held with dad: family circumstances explained and settled; back to monitoring"),
        (1, "refer_to_ewo", "Meeting held: parent struggling to get the child to school; referred to the EWO for home support"),
        (1, "refer_to_la", "Meeting held: no improvement since the letter and support declined; referred to the LA service"),
    ],
    "punctuality": [
        (4, "return_to_monitoring", "Meeting held: new morning routine agreed with mum; arriving on time since"),
        (3, "return_to_monitoring", "Meeting held with both parents: younger sibling's nursery drop-off was the cause, now changed"),
        (2, "return_to_monitoring", "Meeting held: the child will walk in with a neighbour's family; we will keep an eye on the register"),
        (1, "return_to_monitoring", "Meeting held by phone (parent on shifts): lateness explained, alarm and bedtime agreed"),
    ],
}


# The head's decision on leave taken without permission, at the weekly review.
_PENALTY_REQUESTED = "Leave taken after the request was refused: penalty notice requested from the LA"
_NO_PENALTY_NOTES = [
    "No penalty notice: the unauthorised sessions fall short of the national threshold; the letter is warning enough",
    "No penalty notice: first leave taken in the family's time here, and attendance otherwise strong; noted on file",
    "No penalty notice: the days taken were in the summer term and fall outside the 10-week window now",
]

_NO_EVIDENCE_NOTES = [
    "No evidence after two reminders; the child is well and back in school. Illness days stay on the record; closed",
    "Mum says the GP will not give notes for short illnesses; absence now recovered, so closed and watched",
    "No evidence came; attendance back on track since, so closed. Another run of illness will reopen it",
]
_UNPAID = "Unpaid after 28 days and no reply to our reminder: referred to the LA's legal team under s.444"
_PAYMENT_NOTES = [
    "The LA confirmed the penalty was paid at the reduced rate",
    "Paid in full; the LA's receipt is on file",
    "The LA confirmed payment within the 28 days",
]


def _hold_meeting(world, case: Case, officer, rng: random.Random, taken: dict[str, int]) -> bool:
    """The officer records the meeting's outcome (one of the case type's, by weight); False if
    none of its moves is allowed now."""
    outcomes = _MEETING_OUTCOMES.get(case.case_type, [])
    for _weight, event, note in rng.choices(outcomes, [o[0] for o in outcomes], k=len(outcomes)) + outcomes:
        if _try(world, event, officer, note, taken):
            return True
    return False


def work_the_term(engine: Engine, *, clock: Clock, start: dt.date, rng: random.Random,
                  office: list | None = None) -> dict:
    """Replay the school's casework from ``start`` to the clock's today: the nightly
    evaluation each school day, and the staff working their cases each Friday, so the
    demo has cases at every stage, letters queued, deadlines met and missed. With ``office``,
    each afternoon the office's print run takes the letters queued before then: they are checked
    as of then and added to ``office`` to be laid out and kept (``produce_checked``)."""
    today = clock.today()
    with session_scope(engine) as s:
        school = get_school(s, DEMO_URN)
        calendar = load_calendar(s, school.id)
        users = {u.role: cs.Actor.of(u) for u in s.exec(select(User).where(User.school_id == school.id))}
    officer, head = users[Role.ATTENDANCE_OFFICER.value], users[Role.HEADTEACHER.value]
    days = [d for d in calendar.school_days(start, today) if d < today]
    taken: dict[str, int] = {}
    replay = FixedClock(at(days[0], dt.time(18, 0))) if days else None
    in_print: set[int] = set()
    for day in days:
        if office is not None:
            replay.set(at(day, OFFICE_PRINTS_AT))
            with session_scope(engine) as s:
                office += check_at(s, get_school(s, DEMO_URN), replay, in_print)
        replay.set(at(day, dt.time(18, 0)))
        evaluate(engine, DEMO_URN, replay)
        with session_scope(engine) as s:
            open_cases = s.exec(select(Case).where(Case.school_id == school.id, Case.closed_at.is_(None))
                                .order_by(Case.id)).all()
            attendance = {}
            if day.weekday() == 4:
                attendance = {r.pupil_id: r.figures.attendance_pct
                              for r in st.pupil_figures(s, school.id, school_year_start(day), day)}
            for case in open_cases:
                world = CaseWorld.load(s, case, replay, calendar)
                if case.case_type == "unexplained_absence" and case.state in ("awaiting_contact", "home_visit"):
                    # Most calls reach a parent the same day; for one family in five nobody answers,
                    # so the officer plans a home visit and makes it the next school day.
                    if case.state == "home_visit":
                        _try(world, "child_seen_safe", officer, rng.choice(_VISIT_NOTES), taken)
                    elif case.id % 5:
                        _try(world, "contact_made", officer, rng.choice(_CALL_NOTES), taken)
                    else:
                        _try(world, "plan_home_visit", officer, "Called both contacts twice: no answer; visiting tomorrow",
                             taken)
                    continue
                if day.weekday() == 4:  # the rest of the casework is done on Fridays
                    weeks = (day - case.updated_at.astimezone(replay.now().tzinfo).date()).days // 7
                    _weekly_review(world, attendance.get(case.pupil_id), weeks, (officer, head), rng, taken)
    # Tonight's work is done; this is today's, as of now (the morning register, first-day calls).
    evaluate(engine, DEMO_URN, clock)
    # Leave requests waiting for the headteacher's decision.
    with session_scope(engine) as s:
        school = get_school(s, DEMO_URN)
        wf_key = school.workflow

        wf = for_school(wf_key)
        pupils = s.exec(select(Pupil).where(Pupil.school_id == school.id).order_by(Pupil.id)).all()
        for p, weeks_ahead in zip(rng.sample(list(pupils), 3), (3, 5, 8)):
            leave_start = calendar.add_school_days(today, 5 * weeks_ahead)
            cs.open_case(s, school, p, wf, "leave", concern=cs.concern_key(wf, "leave", leave_start),
                         concern_start=leave_start, clock=clock, actor=officer,
                         reason="Leave of absence request form handed in at the office")
    return taken


def _weekly_review(world, pct: float | None, weeks: int, staff: tuple, rng: random.Random,
                   taken: dict[str, int]) -> None:
    """What the Friday attendance review does with one open case, ``weeks`` after its last move."""
    case, (officer, head) = world.case, staff
    if case.case_type == "attendance" and pct is not None and pct >= 95 and rng.random() < 0.7:
        # Attendance has recovered: the review closes the case.
        _try(world, "close", officer, f"attendance back to {pct:.1f}%: no further action", taken)
        return
    if case.case_type == "leave" and case.state == "leave_taken":
        if weeks >= 1:  # the head decides at the next weekly review: a penalty if the law allows one
            _try(world, "request_penalty_notice", head, _PENALTY_REQUESTED, taken) or _try(
                world, "decide_no_penalty", head, rng.choice(_NO_PENALTY_NOTES), taken)
        return
    if case.case_type == "leave" and case.state == "penalty_notice":
        if weeks >= 3 and case.id % 6:  # most families pay within the 28 days; one in six does not
            _try(world, "record_payment", officer, rng.choice(_PAYMENT_NOTES), taken)
        elif weeks >= 5:  # unpaid after the 28 days: the head passes it to the LA to prosecute
            _try(world, "refer_for_prosecution", head, _UNPAID, taken)
        return
    if case.state == "medical_evidence_requested" and weeks >= 3:  # the deadline passed a week ago: chased, no reply
        _try(world, "close", officer, rng.choice(_NO_EVIDENCE_NOTES), taken)
        return
    if case.state == "meeting" and case.case_type in _MEETING_OUTCOMES:
        if weeks >= 1 and rng.random() >= _MEETING_SLIPS:
            _hold_meeting(world, case, officer, rng, taken)
        return
    steps = _NEXT_STEP.get(case.case_type, {}).get(case.state, [])
    if not steps or weeks < _WEEKS_IN_STATE.get(case.state, 0) or rng.random() < 0.3:
        return
    for event in steps:
        actor = head if event.startswith("issue_") else officer
        if _try(world, event, actor, "as agreed at the weekly attendance review", taken):
            break


def _try(world, event: str, actor, reason: str, taken: dict[str, int]) -> bool:

    if event not in world.workflow.case_type(world.case.case_type).moves:
        return False
    try:
        cs.move_case(world, event, actor, reason=reason)
    except cs.MoveRefused:
        return False
    taken[event] = taken.get(event, 0) + 1
    return True
