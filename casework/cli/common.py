"""What every command shares: the context (database, clock), options, output and errors."""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path

import click
from rich.console import Console

from casework.clock import LONDON, Clock, FixedClock
from casework.register.store import NotFound
from casework.store.db import database_url, make_engine

console = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)


class Ctx:
    def __init__(self, db: str | None, as_of: str | None, *, creates: bool = False):
        self.db = db
        self.clock: Clock = FixedClock(parse_moment(as_of)) if as_of else Clock()
        self.creates = creates  # only the commands that start a database may make a new file
        self._engine = None

    @property
    def engine(self):
        if self._engine is None:
            url = database_url(self.db)
            file = sqlite_file(url)
            if file is not None and not file.exists() and not self.creates:
                fail(f"no database at {file} (looked for {url}): give --db URL or set CASEWORK_DATABASE_URL; "
                     "a new school's database starts with `casework school add` (or `casework restore`)")
            self._engine = make_engine(self.db)
        return self._engine


def sqlite_file(url: str) -> Path | None:
    """The file an SQLite URL names (None for an in-memory database or another server)."""
    if not url.startswith("sqlite:///") or url.startswith("sqlite:///:memory:"):
        return None
    return Path(url[len("sqlite:///"):].split("?", 1)[0])


def parse_moment(text: str) -> dt.datetime | dt.date:
    try:
        if "T" in text or " " in text.strip():
            m = dt.datetime.fromisoformat(text)
            return m if m.tzinfo else m.replace(tzinfo=LONDON)
        return dt.date.fromisoformat(text)
    except ValueError:
        raise click.BadParameter(f"{text!r} is not a date (YYYY-MM-DD) or a moment (YYYY-MM-DDTHH:MM)") from None


def parse_day(text: str | None) -> dt.date | None:
    if text is None:
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise click.BadParameter(f"{text!r} is not a date (YYYY-MM-DD)") from None


def db_option(f):
    return click.option(
        "--db", "db", envvar="CASEWORK_DATABASE_URL", default=None,
        help="SQLAlchemy database URL (default sqlite:///casework.db, or $CASEWORK_DATABASE_URL).",
    )(f)


def as_of_option(f):
    return click.option(
        "--as-of", "as_of", default=None,
        help="Act as if it were this date or moment (YYYY-MM-DD or YYYY-MM-DDTHH:MM, Europe/London).",
    )(f)


json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")


def ctx_of(db, as_of=None, *, creates: bool = False) -> Ctx:
    return Ctx(db, as_of, creates=creates)


def emit_json(data) -> None:
    click.echo(json.dumps(data, indent=2, default=_json_default))


def output(data, as_json: bool, text: str) -> None:
    """What a command found: ``data`` as JSON for scripts, else ``text`` for a person."""
    if as_json:
        emit_json(data)
    else:
        console.print(text)


def _json_default(o):
    if isinstance(o, (dt.date, dt.datetime, dt.time)):
        return o.isoformat()
    raise TypeError(f"cannot serialise {type(o).__name__}")


def fail(message: str, code: int = 1):
    err.print(f"[bold red]error:[/] {message}", highlight=False)
    sys.exit(code)


class Group(click.Group):
    """The ``casework`` group: a school, pupil, case or account that is not there is one plain
    error line (exit 1) from every command, not a traceback; commands need not catch it each."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except NotFound as exc:
            fail(str(exc))


def common_options(f):
    """--db, --as-of and --json: what nearly every command takes."""
    return db_option(as_of_option(json_option(f)))


def school_option(f):
    return click.option("--school", "urn", required=True, help="URN of the school.")(f)


def report_problems(file, problems, as_json: bool, key: str, verb: str, note: str = "") -> None:
    """Print every problem with a file (one per line, or as JSON) and exit 1."""
    if as_json:
        emit_json({key: False, "problems": [p.__dict__ for p in problems]})
    else:
        err.print(f"[bold red]{file}: {verb}[/] ({len(problems)} problem(s){note})", highlight=False)
        for p in problems:
            err.print(f"  {p}", highlight=False, markup=False)
    sys.exit(1)
