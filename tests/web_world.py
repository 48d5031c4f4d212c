"""A small school for the web tests: one user per role, pupils with contacts and marks, and
cases in the states the journeys need. Built through the domain (open_case, importers)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from argon2 import PasswordHasher
from sqlalchemy import insert
from sqlmodel import Session, select

from casework.cases.moves import Actor, action_key, notify, open_case
from casework.clock import LONDON, FixedClock
from casework.register.store import load_calendar
from casework.store.casemodels import Case, LetterRequest, Notification
from casework.store.models import Contact, Mark, Role, User
from casework.workflow import for_school

PASSWORD = "correct horse battery staple"
TODAY = dt.date(2026, 3, 12)  # a Thursday in term on the demo calendar
USERNAMES = {r: r.value.replace("_", "") for r in Role}


@dataclass
class World:
    school_id: int
    clock: FixedClock
    pupils: dict[str, int] = field(default_factory=dict)
    cases: dict[str, int] = field(default_factory=dict)
    users: dict[Role, str] = field(default_factory=dict)
    letters: dict[str, int] = field(default_factory=dict)  # ready | blocked: queued letters
    nudges: dict[Role, int] = field(default_factory=dict)  # one unread nudge per role
    alert: int = 0  # a safeguarding alert on the "visit" case


def build_world(engine, make_school, make_pupils) -> World:
    clock = FixedClock(dt.datetime.combine(TODAY, dt.time(10, 30), tzinfo=LONDON))
    hashed = PasswordHasher().hash(PASSWORD)
    with Session(engine, expire_on_commit=False) as s:
        school = make_school(s, "demo", name="Meadow Lane Primary School", workflow="national")
        world = World(school.id, clock)
        for role, username in USERNAMES.items():
            s.add(User(school_id=school.id, username=username, name=f"{role.value.replace('_', ' ').title()} Person",
                       position=role.value.replace("_", " ").title(), role=role.value, password_hash=hashed))
            world.users[role] = username
        names = {"absent": ("Alex", "Abernathy", 5), "call": ("Casey", "Calloway", 3), "visit": ("Vic", "Vandermeer", 2),
                 "leave": ("Lee", "Lindqvist", 4), "fine": ("Fran", "Fairweather", 4)}
        cal = load_calendar(s, school.id)
        days = cal.school_days(dt.date(2026, 1, 5), TODAY - dt.timedelta(days=1))
        absent_days = set(days[-30::5])  # 6 days: 12 unauthorised sessions within 10 school weeks
        rows = []
        for key, (fore, sur, yg) in names.items():
            p = make_pupils(s, school, 1, year_group=yg, surname=sur)[0]
            p.forename = fore
            if key == "visit":
                p.social_worker = True
            s.add(p)
            world.pupils[key] = p.id
            for i, (cname, rel) in enumerate([(f"Pat {sur}", "Mother"), (f"Sam {sur}", "Father")], start=1):
                # only the Abernathys' address is on file: their letters can go, the others' cannot
                address = ("4 Orchard Close, Staplehurst, Kent", "TN12 0AB") if key == "absent" else ("", "")
                s.add(Contact(pupil_id=p.id, name=cname, relationship=rel, phone_mobile=f"07700 90{i}{p.id:03d}",
                              call_priority=i, address=address[0], postcode=address[1]))
            for d in days:
                code = "O" if key == "absent" and d in absent_days else "/"
                for sess in ("AM", "PM"):
                    rows.append(dict(school_id=school.id, pupil_id=p.id, date=d, session=sess, code=code,
                                     recorded_by="test", recorded_at=clock.now()))
        s.connection().execute(insert(Mark.__table__), rows)
        s.flush()
        wf = for_school("national")
        system = Actor.system()
        from casework.store.models import Pupil

        def opened(key, case_type, concern, start=None):
            case = open_case(s, school, s.get(Pupil, world.pupils[key]), wf, case_type, concern=concern,
                             concern_start=start, clock=clock, actor=system, reason="opened for the test",
                             calendar=cal)
            world.cases[key] = case.id

        opened("absent", "attendance", "attendance")
        opened("call", "unexplained_absence", f"unexplained_absence:{TODAY}", TODAY)
        opened("visit", "unexplained_absence", f"unexplained_absence:{TODAY}", TODAY)
        opened("leave", "leave", "leave:2026-03-30", dt.date(2026, 3, 30))
        for key, case_key in (("ready", "absent"), ("blocked", "call")):
            letter = LetterRequest(school_id=school.id, case_id=world.cases[case_key], template="attendance_concern",
                                   queued_at=clock.now())
            s.add(letter)
            s.flush()
            world.letters[key] = letter.id
        for role in Role:
            notify(s, s.get(Case, world.cases["absent"]), role.value, "Alex Abernathy: attendance case needs a look",
                   action_key(world.cases["absent"], "test", "nudge", role.value), clock.now())
        visit = s.get(Case, world.cases["visit"])
        for role in ("dsl", "deputy_dsl"):
            notify(s, visit, role, "Vic Vandermeer: social worker says the family has moved out",
                   action_key(visit.id, "test", "safeguarding", role), clock.now(), queue="safeguarding")
        visit.safeguarding = True
        s.add(visit)
        s.flush()
        for n in s.exec(select(Notification).where(Notification.school_id == school.id)):
            if n.queue == "nudge":
                world.nudges[Role(n.role)] = n.id
            elif n.role == "dsl":
                world.alert = n.id
        s.commit()
    return world


def web_app(engine, world: World, **config):
    from casework.web import create_app

    base = {"ENGINE": engine, "CLOCK": world.clock, "SECRET_KEY": "test-secret", "TESTING": True,
            "LOGIN_RATE_LIMIT": "10000 per minute", "LOGIN_ACCOUNT_LIMIT": "10000 per minute",
            "PRINT_INLINE": True}
    base.update(config)
    return create_app(base)


def login(client, role: Role, password: str = PASSWORD):
    """Sign in on a Flask test client as the world's user in ``role``."""
    return client.post("/login", data={"username": USERNAMES[role], "password": password})


def client(app, role):
    """A test client signed in as ``role``."""
    c = app.test_client()
    assert login(c, role).status_code == 302
    return c
