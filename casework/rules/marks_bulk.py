"""A school's marks from the database into a register matrix in bulk, a chunk at a time.

Every mark becomes three integers: the pupil's id, its *session offset* (school days are
not needed here: ``(date - start) * 2``, plus 1 for PM) and its index in the code table.
numpy then places a whole chunk at once: the pupil's row by a sorted-array lookup, the
column by one table from session offset to slot (-1 on a closed session), the code as is.

- **PostgreSQL**: one row per pupil: the server computes each mark's session offset and
  packs them as int4 into one ``bytea`` (``string_agg(int4send(...))``), read by numpy with
  ``frombuffer``; the codes come as one comma-separated text. ``COPY ... TO STDOUT`` was
  tried first and is slower: the server sends one message per row, which psycopg hands to
  Python one at a time (3 µs a mark).
- **SQLite**: one row per pupil with three plain aggregates (dates, sessions, codes), parsed
  by numpy. A string built per mark in SQL (``||``) costs SQLite more than the aggregates,
  and fetching a tuple per mark (``fetchmany``) costs more again: each becomes Python objects.

Rows are placed ``CHUNK_PUPILS`` pupils at a time. Memory is the matrix plus one chunk (and,
on PostgreSQL, the school's result set held by the driver: 4 bytes and a code a mark).
"""

from __future__ import annotations

import datetime as dt

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.engine import Connection

from casework.store.models import Mark, Pupil

CHUNK_PUPILS = 500  # place this many pupils' marks at a time

# One row per pupil: the session offsets as big-endian int4 in one bytea, the codes as
# comma-separated text. Both aggregates are fed the same rows in the same order by one
# aggregate node, so the n-th offset and the n-th code are one mark.
_PG_MARKS = """
SELECT m.pupil_id,
       string_agg(int4send(((m.date - %(start)s::date) * 2
                            + CASE m.session WHEN 'AM' THEN 0 WHEN 'PM' THEN 1 ELSE -1000000 END)::int4), ''::bytea),
       string_agg(m.code, ',')
FROM mark m
WHERE m.pupil_id IN (SELECT p.id FROM pupil p WHERE p.school_id = %(school)s AND (%(off_roll)s OR p.on_roll)
                     AND (%(only)s::int4[] IS NULL OR p.id = ANY(%(only)s::int4[])))
  AND m.date >= %(start)s::date AND m.date <= %(end)s::date
GROUP BY m.pupil_id
"""


class _Placer:
    """Puts chunks of (pupil id, session offset, code index) into the matrix; counts the
    marks of loaded pupils that fall on a session the calendar says is closed."""

    def __init__(self, matrix: np.ndarray, pupil_ids: np.ndarray, slots: list[tuple[dt.date, str]],
                 start: dt.date, end: dt.date, code_table: tuple[str, ...]) -> None:
        self.matrix, self.pupil_ids, self.start, self.code_table = matrix, pupil_ids, start, code_table
        self.slot_of = np.full(((end - start).days + 1) * 2, -1, dtype=np.int32)
        for s, (d, sess) in enumerate(slots):
            self.slot_of[(d - start).days * 2 + (sess == "PM")] = s
        self.unplaced = 0

    def rows_of(self, pids: np.ndarray) -> np.ndarray:
        """The matrix row of each pupil id (-1 for a pupil not loaded)."""
        row = np.searchsorted(self.pupil_ids, pids)
        ok = row < len(self.pupil_ids)
        ok[ok] = self.pupil_ids[row[ok]] == pids[ok]
        return np.where(ok, row, -1)

    def place(self, rows: np.ndarray, offsets: np.ndarray, codes: np.ndarray) -> None:
        in_range = (offsets >= 0) & (offsets < len(self.slot_of))
        col = np.full(len(offsets), -1, dtype=np.int32)
        col[in_range] = self.slot_of[offsets[in_range]]
        ok = (rows >= 0) & (col >= 0)
        self.matrix[rows[ok], col[ok]] = codes[ok]
        self.unplaced += int(np.count_nonzero((rows >= 0) & (col < 0)))


def fill_marks(conn: Connection, matrix: np.ndarray, pupil_ids: np.ndarray, slots: list[tuple[dt.date, str]],
               school_id: int, start: dt.date, end: dt.date, *, include_off_roll: bool, only: list[int] | None,
               code_table: tuple[str, ...]) -> int:
    """Fill ``matrix`` (pupils × slots, already ``NO_MARK``) with the marks of the school's
    pupils between ``start`` and ``end``; returns how many fell on closed sessions.
    Raises ValueError naming a code the table does not know."""
    placer = _Placer(matrix, pupil_ids, slots, start, end, code_table)
    if conn.dialect.name == "postgresql":
        _aggregates_postgres(conn, placer, school_id, start, end, include_off_roll, only)
    else:
        _chunks_sqlite(conn, placer, school_id, start, end, include_off_roll, only)
    return placer.unplaced


def _unknown_code(code: str) -> ValueError:
    return ValueError(f"the register holds an unknown attendance code {code!r}")


def _code_lut(code_table: tuple[str, ...]) -> np.ndarray:
    """Code index by the code's two bytes (a one-letter code padded with a space); -1 if unknown."""
    lut = np.full(1 << 16, -1, dtype=np.int16)
    for i, c in enumerate(code_table):
        b = c.ljust(2).encode("ascii")
        lut[(b[0] << 8) | b[1]] = i
    return lut


# -- PostgreSQL: per-pupil binary aggregates ------------------------------------------


def _aggregates_postgres(conn: Connection, placer: _Placer, school_id: int, start: dt.date, end: dt.date,
                         include_off_roll: bool, only: list[int] | None) -> None:
    params = {"start": start, "end": end, "school": school_id, "off_roll": include_off_roll, "only": only}
    lut = _code_lut(placer.code_table)
    with conn.connection.driver_connection.cursor() as cur:
        cur.execute(_PG_MARKS, params, binary=True)
        while rows := cur.fetchmany(CHUNK_PUPILS):
            offsets = np.frombuffer(b"".join(r[1] for r in rows), dtype=">i4").astype(np.int64)
            per_pupil = np.fromiter((len(r[1]) // 4 for r in rows), dtype=np.int64, count=len(rows))
            codes = _codes(",".join(r[2] for r in rows), len(offsets), lut)
            pupils = placer.rows_of(np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows)))
            placer.place(np.repeat(pupils, per_pupil), offsets, codes)


# -- SQLite: per-pupil text aggregates ----------------------------------------------------


def _chunks_sqlite(conn: Connection, placer: _Placer, school_id: int, start: dt.date, end: dt.date,
                   include_off_roll: bool, only: list[int] | None) -> None:
    # Three plain aggregates per pupil (dates, sessions, codes), no string built per mark:
    # ``||`` on every row costs SQLite more than the aggregates themselves. The three walk
    # the same rows in the same order, so the n-th date, session and code are one mark.
    mt, pt = Mark.__table__, Pupil.__table__
    pupils = select(pt.c.id).where(pt.c.school_id == school_id)
    if not include_off_roll:
        pupils = pupils.where(pt.c.on_roll.is_(True))
    if only is not None:
        pupils = pupils.where(pt.c.id.in_(only))
    q = (select(mt.c.pupil_id, func.group_concat(mt.c.date, ""), func.group_concat(mt.c.session, ""),
                func.group_concat(mt.c.code, ","))
         .where(mt.c.pupil_id.in_(pupils), mt.c.date >= start, mt.c.date <= end)
         .group_by(mt.c.pupil_id))
    lut = _code_lut(placer.code_table)
    day_keys = np.array([int((start + dt.timedelta(days=i)).strftime("%Y%m%d")) for i in range((end - start).days + 1)],
                        dtype=np.int32)
    for rows in conn.execute(q).partitions(CHUNK_PUPILS):
        per_pupil = np.fromiter((len(r[1] or "") // 10 for r in rows), dtype=np.int64, count=len(rows))
        n = int(per_pupil.sum())
        d = np.frombuffer("".join(r[1] or "" for r in rows).encode("ascii"), dtype=np.uint8)
        sess = np.frombuffer("".join(r[2] or "" for r in rows).encode("ascii"), dtype=np.uint8)
        if d.size != n * 10 or sess.size != n * 2:
            raise ValueError("unexpected mark dates or sessions: is a date not YYYY-MM-DD or a session not AM/PM?")
        offsets = _day_offsets(d.reshape(n, 10), day_keys) * 2 + _pm(sess.reshape(n, 2))
        codes = _codes(",".join(r[3] or "" for r in rows), n, lut)
        placer.place(np.repeat(placer.rows_of(np.array([r[0] for r in rows], dtype=np.int64)), per_pupil),
                     offsets, codes)


def _day_offsets(d: np.ndarray, day_keys: np.ndarray) -> np.ndarray:
    """Days since ``start`` of each ``YYYY-MM-DD`` row of ``d`` (a big negative number if out of range)."""
    ymd = np.zeros(len(d), dtype=np.int32)
    for col in (0, 1, 2, 3, 5, 6, 8, 9):  # YYYYMMDD as a number, a digit at a time (little memory)
        ymd = ymd * 10 + (d[:, col].astype(np.int32) - 48)
    at = np.minimum(np.searchsorted(day_keys, ymd), len(day_keys) - 1)
    return np.where(day_keys[at] == ymd, at, -(1 << 40))


def _pm(sess: np.ndarray) -> np.ndarray:
    """1 for PM, 0 for AM, a big negative number for anything else (never placed)."""
    am = (sess[:, 0] == ord("A")) & (sess[:, 1] == ord("M"))
    pm = (sess[:, 0] == ord("P")) & (sess[:, 1] == ord("M"))
    return np.where(pm, 1, np.where(am, 0, -(1 << 40)))


def _codes(text: str, n: int, lut: np.ndarray) -> np.ndarray:
    """Code indexes of ``n`` comma-separated codes; ValueError naming an unknown one."""
    if n == 0:
        return np.zeros(0, dtype=np.int16)
    try:
        raw = text.encode("ascii")
    except UnicodeEncodeError:
        raise _unknown_code(next(c for c in text.split(",") if not c.isascii())) from None
    buf = np.frombuffer(raw, dtype=np.uint8)
    ends = np.append(np.flatnonzero(buf == ord(",")), buf.size)
    starts = np.insert(ends[:-1] + 1, 0, 0)
    if len(starts) != n:
        raise ValueError("unexpected mark codes: is a code empty or does it hold a comma?")
    length = ends - starts
    padded = np.append(buf, np.uint8(0))
    second = np.where(length == 2, padded[np.minimum(starts + 1, buf.size)], ord(" ")).astype(np.int64)
    idx = lut[(padded[starts].astype(np.int64) << 8) | second]
    bad = (idx < 0) | (length < 1) | (length > 2)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise _unknown_code(buf[starts[i]:ends[i]].tobytes().decode("ascii"))
    return idx
