"""Shared fixtures: a fresh database, a stopped clock, schools on real calendars,
pupils with valid UPNs, marks in bulk, and a throwaway PostgreSQL server.

Keep this file general: fixtures that only one test file needs belong in that file.
"""

from __future__ import annotations

import collections
import csv
import datetime as dt
import os
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path

import pytest
from sqlalchemy import insert
from sqlmodel import Session

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
from pg_throwaway import PG_BIN, free_port, throwaway_postgres  # noqa: E402

from casework.clock import LONDON, FixedClock  # noqa: E402
from casework.store.db import make_engine  # noqa: E402

DATA = Path(__file__).parent / "data"
GREAT_CHART_CSV = DATA / "kent-great-chart-2025-26.csv"  # a real Kent primary, 2025-26: 190 days
DEMO_CALENDAR_CSV = Path(__file__).parent.parent / "casework" / "data" / "demo-calendar.csv"  # 2025-26, 2026-27
CALENDARS = {"great-chart": GREAT_CHART_CSV, "demo": DEMO_CALENDAR_CSV}


# -- database and clock --------------------------------------------------------


# Every test that takes ``db_url`` or ``engine`` runs once per database here: SQLite files and
# PostgreSQL (on the throwaway server). CASEWORK_TEST_DATABASES=sqlite for a quicker run.
TEST_DATABASES = [d.strip() for d in os.environ.get("CASEWORK_TEST_DATABASES", "sqlite,postgresql").split(",")]
if not set(TEST_DATABASES) <= {"sqlite", "postgresql"} or not TEST_DATABASES:
    raise pytest.UsageError(f"CASEWORK_TEST_DATABASES={','.join(TEST_DATABASES)}: give sqlite, postgresql or both")


def pytest_generate_tests(metafunc):
    if "database" in metafunc.fixturenames:
        # A test that moves data between SQLite and its own PostgreSQL (pg_engine) is about both already.
        both = {"pg_engine", "postgres_url"} & set(metafunc.fixturenames)
        metafunc.parametrize("database", ["sqlite"] if both else TEST_DATABASES, scope="function")


@pytest.fixture
def database() -> str:
    """SQLite, for a test that asks for ``engine`` by name at run time (it names its databases itself)."""
    return "sqlite"


@pytest.fixture
def db_url(tmp_path, request, database):
    """The URL of a new, empty database at the newest schema, for this test alone."""
    if database == "sqlite":
        yield f"sqlite:///{tmp_path / 'casework.db'}"
        return
    yield from request.getfixturevalue("pg_database")()


@pytest.fixture
def engine(db_url):
    """A fresh database (an SQLite file, or PostgreSQL) brought to the newest schema by the Alembic migrations."""
    eng = make_engine(db_url)
    yield eng
    eng.dispose()


@pytest.fixture
def session(engine):
    """A session on ``engine``; tests commit when they mean to."""
    with Session(engine, expire_on_commit=False) as s:
        yield s


@pytest.fixture
def clock() -> FixedClock:
    """Stopped at the end of the 2025-26 school year (after every mark the tests take)."""
    return FixedClock(dt.datetime(2026, 7, 22, 18, 0, tzinfo=LONDON))


# -- factories -----------------------------------------------------------------


@pytest.fixture
def make_school(clock):
    """``make_school(session, calendar="great-chart"|"demo"|Path|None, urn=..., name=...)``.

    The calendar is loaded through the real calendar importer.
    """
    from casework.register.importer import import_calendar
    from casework.register.schools import add_school

    counter = iter(range(100001, 199999))

    def factory(session: Session, calendar: str | Path | None = "great-chart", *, urn: str | None = None,
                name: str = "Great Chart Primary School", workflow: str = "national"):
        school = add_school(session, urn=urn or str(next(counter)), name=name, local_authority="Kent",
                            workflow=workflow)
        if calendar is not None:
            path = CALENDARS.get(calendar, calendar) if isinstance(calendar, str) else calendar
            import_calendar(session, school, Path(path), clock=clock, by="test")
        session.flush()
        return school

    return factory


@pytest.fixture
def make_pupils():
    """``make_pupils(session, school, n, year_group=4, **flags)``: ``n`` pupils with valid UPNs."""
    from casework.register.upn import make_upn
    from casework.store.models import Pupil

    serial = iter(range(1, 1_000_000))

    def factory(session: Session, school, n: int = 1, *, year_group: int = 4, surname: str = "Pupil", **flags):
        pupils = []
        for _ in range(n):
            k = next(serial)
            p = Pupil(
                school_id=school.id,
                upn=make_upn(886, 2999, 2020, k % 1000) if k < 1000 else make_upn(886, 3000 + k // 1000, 2020, k % 1000),
                forename=f"Child{k}",
                surname=surname,
                date_of_birth=dt.date(2016, 1, 1),
                year_group=year_group,
                **flags,
            )
            session.add(p)
            pupils.append(p)
        session.flush()
        return pupils

    return factory


@pytest.fixture
def add_marks(clock):
    """``add_marks(session, pupil, [(date, session, code[, minutes_late]), ...])`` in one bulk insert."""
    from casework.store.models import Mark

    def factory(session: Session, pupil, marks: Iterable[tuple], *, recorded_by: str = "test") -> int:
        rows = []
        for m in marks:
            day, sess, code, *rest = m
            rows.append(dict(school_id=pupil.school_id, pupil_id=pupil.id, date=day, session=sess, code=code,
                             minutes_late=rest[0] if rest else None, recorded_by=recorded_by,
                             recorded_at=clock.now()))
        if rows:
            session.connection().execute(insert(Mark.__table__), rows)
        return len(rows)

    return factory


@pytest.fixture
def write_csv(tmp_path):
    """``write_csv(name, header, rows)`` writes a CSV in tmp_path and returns its path.

    ``header`` may be a string (written as is); rows may be lists or raw strings.
    """

    def factory(name: str, header, rows: Iterable) -> Path:
        path = tmp_path / name
        with path.open("w", newline="") as f:
            if isinstance(header, str):
                f.write(header + "\n")
            else:
                csv.writer(f).writerow(header)
            for row in rows:
                if isinstance(row, str):
                    f.write(row + "\n")
                else:
                    csv.writer(f).writerow(row)
        return path

    return factory


# -- PostgreSQL ----------------------------------------------------------------

@pytest.fixture(scope="session")
def postgres_url():
    """A throwaway PostgreSQL 15 cluster for the test session (benchmarks/pg_throwaway.py, the same
    one the benchmarks start); yields a URL to an empty database.

    Skipped when PostgreSQL is not installed, unless CASEWORK_REQUIRE_POSTGRES=1 (CI), which fails instead.
    """
    initdb = PG_BIN / "initdb"
    if not initdb.exists():
        message = f"PostgreSQL is not installed ({initdb} is missing)"
        if os.environ.get("CASEWORK_REQUIRE_POSTGRES") == "1":
            pytest.fail(message + " and CASEWORK_REQUIRE_POSTGRES=1")
        pytest.skip(message)
    try:
        with throwaway_postgres() as url:
            yield url
    except subprocess.CalledProcessError as exc:
        pytest.fail(f"could not start PostgreSQL: {exc.stderr}")


@pytest.fixture(scope="session")
def pg_database(postgres_url):
    """``pg_database()``: a generator of one new PostgreSQL database per test, copied from a template
    migrated once (CREATE DATABASE ... TEMPLATE), dropped after the test."""
    from sqlalchemy import create_engine, text

    server = postgres_url.rsplit("/", 1)[0]
    admin = create_engine(postgres_url.replace("postgresql://", "postgresql+psycopg://"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text("CREATE DATABASE casework_template"))
    make_engine(f"{server}/casework_template").dispose()
    made = iter(range(1, 1_000_000))

    def one():
        name = f"casework_test_{next(made)}"
        with admin.connect() as conn:
            conn.execute(text(f"CREATE DATABASE {name} TEMPLATE casework_template"))
        yield f"{server}/{name}"
        with admin.connect() as conn:
            conn.execute(text(f"DROP DATABASE {name} WITH (FORCE)"))

    yield one
    admin.dispose()


@pytest.fixture
def pg_engine(postgres_url):
    """An engine on the throwaway PostgreSQL database, emptied after each test."""
    from sqlalchemy import text

    eng = make_engine(postgres_url)
    yield eng
    with eng.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
    eng.dispose()


# -- a real local SMTP server (scheduler and email tests) ----------------------


class SMTPSink:
    """What an aiosmtpd server on 127.0.0.1 accepted. ``hold_at(n)`` makes the n-th message
    wait before it is accepted (``reached`` is set) until ``release()``: it is then refused
    with 451, as if the sender died mid-transaction."""

    def __init__(self) -> None:
        import threading

        self.messages: list = []  # email.message.Message, in the order accepted
        self.seen = 0
        self._hold: int | None = None
        self.reached = threading.Event()
        self._release = threading.Event()

    def hold_at(self, n: int) -> None:
        self._hold, self.seen = n, len(self.messages)
        self.reached.clear()
        self._release.clear()

    def release(self) -> None:
        self._release.set()

    async def handle_DATA(self, server, session, envelope):
        import asyncio
        import email
        import email.policy

        self.seen += 1
        if self._hold is not None and self.seen == self._hold:
            self._hold = None
            self.reached.set()
            while not self._release.is_set():
                await asyncio.sleep(0.01)
            return "451 Requested action aborted"
        self.messages.append(email.message_from_bytes(envelope.content, policy=email.policy.default))
        return "250 Message accepted for delivery"

    def by_message_id(self) -> dict[str, int]:
        from collections import Counter

        return dict(Counter(m["Message-ID"] for m in self.messages))


@pytest.fixture
def smtp_server():
    """A real SMTP server on 127.0.0.1 (aiosmtpd); yields (sink, env) where env configures casework for it."""
    from aiosmtpd.controller import Controller

    sink = SMTPSink()
    port = free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    env = {"CASEWORK_SMTP_HOST": "127.0.0.1", "CASEWORK_SMTP_PORT": str(port),
           "CASEWORK_SMTP_FROM": "casework@school.test"}
    try:
        yield sink, env
    finally:
        sink.release()
        controller.stop()


@pytest.fixture(autouse=True)
def letters_folder(tmp_path, monkeypatch) -> Path:
    """Every test writes letters into its own folder, never into the working folder."""
    folder = tmp_path / "letters"
    monkeypatch.setenv("CASEWORK_LETTERS_DIR", str(folder))
    return folder


# The browser tests' fixtures (Chromium, the app on a local port) live in tests/browser_support.py.
pytest_plugins = ["browser_support"]


# -- figures the suite reports (rows restored, requests raced, steps run ...) -----

_SUITE_FIGURES: collections.Counter = collections.Counter()


@pytest.fixture
def suite_figures() -> collections.Counter:
    """A counter tests add their figures to; printed at the end of the run."""
    return _SUITE_FIGURES


def pytest_terminal_summary(terminalreporter):
    if _SUITE_FIGURES:
        terminalreporter.section("figures")
        for name, n in sorted(_SUITE_FIGURES.items()):
            terminalreporter.write_line(f"{name}: {n:,}")


# -- the web test world (tests/web_world.py) ----------------------------------------


@pytest.fixture
def world(engine, make_school, make_pupils):
    """The small school every web test works in; a test module may define its own."""
    from web_world import build_world

    return build_world(engine, make_school, make_pupils)


@pytest.fixture
def app(engine, world):
    from web_world import web_app

    return web_app(engine, world, WTF_CSRF_ENABLED=False)


# -- register helpers ------------------------------------------------------------------


@pytest.fixture
def great_chart(session, make_school):
    """Great Chart Primary on its real 2025-26 Kent calendar, committed."""
    school = make_school(session, "great-chart", urn="118001")
    session.commit()
    return school
