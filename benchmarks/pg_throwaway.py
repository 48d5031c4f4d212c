"""A throwaway PostgreSQL 15 cluster for a benchmark run (the same steps as tests/conftest.py).

    with throwaway_postgres() as url:   # postgresql://postgres@127.0.0.1:PORT/casework
        ...

The cluster lives in a temporary directory and is stopped and removed on exit. fsync is off:
figures measure casework's work, not the disk.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess  # nosec B404: runs the PostgreSQL binaries, fixed arguments
import tempfile
from collections.abc import Iterator
from pathlib import Path

PG_BIN = Path(os.environ.get("CASEWORK_PG_BIN", "/usr/lib/postgresql/15/bin"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def throwaway_postgres() -> Iterator[str]:
    if not (PG_BIN / "initdb").exists():
        raise SystemExit(f"PostgreSQL is not installed ({PG_BIN / 'initdb'} is missing): pass --postgres URL")
    as_root = os.geteuid() == 0
    base = Path(tempfile.mkdtemp(prefix="casework-bench-pg-"))
    datadir, sockdir = base / "data", base / "sock"
    sockdir.mkdir()
    if as_root:  # initdb refuses to run as root: the cluster belongs to the postgres user
        shutil.chown(base, "postgres", "postgres")
        shutil.chown(sockdir, "postgres", "postgres")

    def run(*args: str) -> None:
        cmd = ["runuser", "-u", "postgres", "--", *args] if as_root else list(args)
        subprocess.run(cmd, capture_output=True, text=True, check=True)  # nosec B603

    port = free_port()
    pg_ctl = str(PG_BIN / "pg_ctl")
    try:
        run(str(PG_BIN / "initdb"), "-D", str(datadir), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C")
        run(pg_ctl, "-D", str(datadir), "-l", str(base / "server.log"), "-w", "-t", "60",
            "-o", f"-p {port} -k {sockdir} -c listen_addresses=127.0.0.1 -c fsync=off "
                  "-c synchronous_commit=off -c shared_buffers=256MB", "start")
        run(str(PG_BIN / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "casework")
        yield f"postgresql://postgres@127.0.0.1:{port}/casework"
    finally:
        with contextlib.suppress(subprocess.CalledProcessError):
            run(pg_ctl, "-D", str(datadir), "-m", "fast", "-w", "stop")
        shutil.rmtree(base, ignore_errors=True)
