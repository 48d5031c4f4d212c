"""Backup and restore: every row of every table, in one gzip'd JSON-lines file.

The file is portable between databases (an SQLite school moving to its trust's PostgreSQL
server, or back): a header line with the schema revision and the tables, then one line per
row in an order that satisfies foreign keys. Restore goes into an empty database brought to
the same schema revision, all in one transaction, and moves PostgreSQL's id sequences on.
"""

from __future__ import annotations

import base64
import datetime as dt
import gzip
import json
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import Date, DateTime, LargeBinary, MetaData, Table, Time, func, select, text
from sqlalchemy.engine import Engine

import casework.store.casemodels  # noqa: F401  (the tables register themselves on the metadata)
import casework.store.schedmodels  # noqa: F401
from casework.store.models import SQLModel

FORMAT = "casework-backup/1"
# Rows the migrations themselves write into a new database (restored from the file instead).
SEEDED = {"audit_head"}


class BackupError(Exception):
    pass


@dataclass
class BackupReport:
    file: str
    revision: str
    rows: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.rows.values())

    def as_dict(self) -> dict:
        return {"file": self.file, "revision": self.revision, "rows": self.rows, "total": self.total}


def _tables() -> list[Table]:
    return list(SQLModel.metadata.sorted_tables)


def _revision(conn) -> str:
    return conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one()


def _kind(column) -> str | None:
    t = getattr(column.type, "impl", column.type)
    t = t if isinstance(t, type) else type(t)
    for kind, cls in (("datetime", DateTime), ("date", Date), ("time", Time), ("bytes", LargeBinary)):
        if issubclass(t, cls):
            return kind
    return None


def _encode(value):
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    return value


_DECODE = {"datetime": dt.datetime.fromisoformat, "date": dt.date.fromisoformat, "time": dt.time.fromisoformat,
           "bytes": base64.b64decode}


def backup(engine: Engine, out: Path) -> BackupReport:
    """Write every row of every table to ``out`` (one consistent read)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(out.suffix + ".part")
    with engine.connect() as conn, conn.begin(), gzip.open(tmp, "wt", encoding="utf-8") as f:
        report = BackupReport(str(out), _revision(conn))
        tables = _tables()
        f.write(json.dumps({"format": FORMAT, "revision": report.revision,
                            "tables": [t.name for t in tables]}) + "\n")
        for t in tables:
            n = 0
            order = [c for c in t.primary_key.columns] or list(t.columns)
            for row in conn.execute(select(t).order_by(*order)):
                f.write(json.dumps([t.name, {k: _encode(v) for k, v in row._mapping.items()}]) + "\n")
                n += 1
            report.rows[t.name] = n
    tmp.replace(out)
    return report


def restore(engine: Engine, path: Path) -> BackupReport:
    """Load a backup into an empty database at the same schema revision; nothing is written
    unless every row goes in."""
    with gzip.open(path, "rt", encoding="utf-8") as f:
        try:
            header = json.loads(f.readline())
        except (json.JSONDecodeError, OSError, EOFError) as exc:
            raise BackupError(f"{path}: not a casework backup ({exc})") from None
        if header.get("format") != FORMAT:
            raise BackupError(f"{path}: not a casework backup (format {header.get('format')!r})")
        tables = {t.name: t for t in _tables()}
        with engine.begin() as conn:
            revision = _revision(conn)
            if header["revision"] != revision:
                raise BackupError(f"{path} was made at schema revision {header['revision']}; this database is at "
                                  f"{revision}: restore with the casework version that made it")
            for t in tables.values():
                if t.name not in SEEDED and conn.execute(select(func.count()).select_from(t)).scalar_one():
                    raise BackupError(f"the database is not empty (table {t.name} has rows): restore into a new one")
            for name in SEEDED:
                conn.execute(tables[name].delete())
            report = BackupReport(str(path), revision)
            kinds = {name: {c.name: _kind(c) for c in t.columns} for name, t in tables.items()}
            batch: list[dict] = []
            current = None
            for line_no, line in enumerate(f, start=2):
                try:
                    name, row = json.loads(line)
                except (ValueError, TypeError) as exc:
                    raise BackupError(f"{path}:{line_no}: not a backup row ({exc})") from None
                if name not in tables:
                    raise BackupError(f"{path}:{line_no}: unknown table {name!r}")
                if name != current and batch:
                    conn.execute(tables[current].insert(), batch)
                    batch = []
                current = name
                batch.append({k: (_DECODE[kinds[name][k]](v) if v is not None and kinds[name].get(k) else v)
                              for k, v in row.items()})
                report.rows[name] = report.rows.get(name, 0) + 1
                if len(batch) >= 5_000:
                    conn.execute(tables[name].insert(), batch)
                    batch = []
            if batch:
                conn.execute(tables[current].insert(), batch)
            if conn.dialect.name == "postgresql":
                for t in tables.values():
                    if "id" in t.columns and t.columns["id"].autoincrement and report.rows.get(t.name):
                        conn.execute(text(f"SELECT setval(pg_get_serial_sequence('{t.name}', 'id'), "
                                          f"(SELECT max(id) FROM {t.name}))"))  # nosec B608: our own table names
    return report


def table_rows(engine: Engine) -> dict[str, list[tuple]]:
    """Every row of every table, sorted: for checking a restore row by row."""
    meta = MetaData()
    meta.reflect(engine)
    with engine.connect() as conn:
        return {name: sorted((tuple(r) for r in conn.execute(select(t))), key=repr)
                for name, t in meta.tables.items() if name != "alembic_version"}
