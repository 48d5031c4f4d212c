"""Engines, sessions and migrations.

SQLite (a file beside you) is the default; any SQLAlchemy URL works through ``--db`` or
``CASEWORK_DATABASE_URL`` (PostgreSQL for trusts and local authorities). Every engine
is brought to the newest schema with Alembic before use.
"""

from __future__ import annotations

import ast
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import event, inspect
from sqlalchemy.engine import Engine
from sqlmodel import Session, create_engine

DEFAULT_URL = "sqlite:///casework.db"
MIGRATIONS = Path(__file__).parent / "migrations"


def database_url(url: str | None = None) -> str:
    return url or os.environ.get("CASEWORK_DATABASE_URL") or DEFAULT_URL


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cur = dbapi_connection.cursor()
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


def _postgres_session(dbapi_connection, _record) -> None:
    # psycopg prepares a statement the fifth time it runs, and after five runs PostgreSQL may keep
    # one generic plan for it. For a statement over a list of ids (``= ANY(%s)``) that plan
    # cannot know the list's length: the sweep's refresh of its cases' next deadlines went from
    # 40 ms to 1.5 s a batch. Each run is planned for its own parameters instead.
    cur = dbapi_connection.cursor()
    cur.execute("SET plan_cache_mode = force_custom_plan")
    cur.execute("SET jit = off")
    cur.close()
    dbapi_connection.commit()


def make_engine(url: str | None = None, *, migrate: bool = True) -> Engine:
    url = database_url(url)
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    kwargs = {}
    if url.startswith("sqlite"):
        kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
    engine = create_engine(url, **kwargs)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    elif engine.dialect.name == "postgresql":
        event.listen(engine, "connect", _postgres_session)
    if migrate:
        upgrade(engine)
    return engine


def refresh_statistics(engine: Engine) -> None:
    """Give SQLite's query planner figures about the tables (PostgreSQL's autovacuum keeps its
    own). Without them it may read every open deadline to find fifty cases' next ones; each
    index is sampled, so this takes milliseconds whatever the size of the register."""
    if engine.dialect.name != "sqlite":
        return
    with engine.begin() as conn:
        conn.exec_driver_sql("PRAGMA analysis_limit=1000")
        conn.exec_driver_sql("ANALYZE")


def alembic_config(engine: Engine | None = None):
    from alembic.config import Config  # Alembic is loaded only when a database needs migrating

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    if engine is not None:
        cfg.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False))
        cfg.attributes["engine"] = engine
    return cfg


def upgrade(engine: Engine, revision: str = "heads") -> None:
    if revision == "heads" and _at_heads(engine):
        return  # nearly every open: the database is already at the newest schema
    from alembic import command

    with engine.begin() as conn:
        cfg = alembic_config(engine)
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)


def head_revisions() -> frozenset[str]:
    """The newest migrations: every revision under migrations/versions that none names as
    its ``down_revision`` (read from the files as Alembic does, without loading Alembic)."""
    revisions, downs = set(), set()
    for path in (MIGRATIONS / "versions").glob("*.py"):
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, (ast.Assign, ast.AnnAssign)):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                names = {t.id for t in targets if isinstance(t, ast.Name)}
                if "revision" in names:
                    revisions.add(ast.literal_eval(node.value))
                elif "down_revision" in names:
                    down = ast.literal_eval(node.value)
                    downs.update(down if isinstance(down, (tuple, list)) else [down])
    return frozenset(revisions - downs)


def _at_heads(engine: Engine) -> bool:
    """Whether the database records exactly the newest migrations (so there is nothing to run)."""
    with engine.connect() as conn:
        if not inspect(conn).has_table("alembic_version"):
            return False
        stamped = {row[0] for row in conn.exec_driver_sql("SELECT version_num FROM alembic_version")}
    return stamped == head_revisions()


def table_names(engine: Engine) -> set[str]:
    return set(inspect(engine).get_table_names())


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """A unit of work: committed on success, rolled back on any error."""
    with Session(engine, expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
