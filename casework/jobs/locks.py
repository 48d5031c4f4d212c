"""One school at a time: the lock held while a school is evaluated."""

from __future__ import annotations

import fcntl
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import text
from sqlalchemy.engine import Engine

_local_locks: dict[str, threading.Lock] = {}


@contextmanager
def school_lock(engine: Engine, school_id: int) -> Iterator[None]:
    """Hold the school while evaluating it: the register-close run and the nightly run (or two
    schedulers) must not both open the same case. PostgreSQL: a session advisory lock;
    SQLite: a lock file beside the database. Both are let go if the process dies."""
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": 0x63617365 * 1000 + school_id})
            try:
                yield
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": 0x63617365 * 1000 + school_id})
                conn.commit()
        return
    db = engine.url.database
    if not db or db == ":memory:":
        with _local_locks.setdefault(f"{id(engine)}:{school_id}", threading.Lock()):
            yield
        return
    with open(f"{db}.school-{school_id}.lock", "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)
