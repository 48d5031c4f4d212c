"""Serving the web app with waitress: one process of worker threads, or several processes
sharing one listening socket (``casework serve --workers N``).

A Python process runs one request's Python at a time whatever its threads, so on a machine
with more than one core the pages under concurrent use are served faster by more processes.
The app (and its secret key) is made once, before the processes are forked; each worker then
opens its own database connections. Each worker counts sign-in attempts on its own, so the
limits on sign-in attempts apply per worker (a client may get up to N times as many tries).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import threading
import time

from flask import Flask
from sqlalchemy.engine import Engine
from waitress import serve as waitress_serve

from casework.store.db import refresh_statistics
from casework.web.auth import share_limits

PARENT_CHECK_SECONDS = 1.0


def serve(app: Flask, engine: Engine, *, host: str, port: int, threads: int, workers: int = 1) -> None:
    """Serve until stopped (Ctrl-C, SIGTERM); with ``workers`` > 1, forked worker processes."""
    refresh_statistics(engine)
    if workers <= 1:
        waitress_serve(app, host=host, port=port, threads=threads, ident="casework")
        return
    share_limits(app, workers)
    listener = socket.create_server((host, port), backlog=1024)
    try:
        _supervise(lambda: _fork(app, engine, listener, threads), workers)
    finally:
        listener.close()


def _fork(app: Flask, engine: Engine, listener: socket.socket, threads: int) -> int:
    pid = os.fork()
    if pid == 0:  # pragma: no cover - a forked worker (the test runs it as a real server)
        _worker(app, engine, listener, threads)
    return pid


def _worker(app: Flask, engine: Engine, listener: socket.socket, threads: int) -> None:  # pragma: no cover
    """A forked worker: its own connection pool, ends when its parent does."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent stops the workers
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    engine.dispose(close=False)  # the parent's connections are the parent's: open new ones
    parent = os.getppid()

    def orphaned() -> None:
        while os.getppid() == parent:
            time.sleep(PARENT_CHECK_SECONDS)
        os._exit(0)

    threading.Thread(target=orphaned, daemon=True).start()
    try:
        waitress_serve(app, sockets=[listener], threads=threads, ident="casework")
    finally:
        os._exit(0)


def _supervise(start, workers: int) -> None:
    """Start the workers and replace any that dies, until a signal stops the server; then
    stop every worker."""
    stopping = threading.Event()

    def stop(_signum, _frame):
        stopping.set()

    previous = {s: signal.signal(s, stop) for s in (signal.SIGINT, signal.SIGTERM)}
    children = {start() for _ in range(workers)}
    try:
        while not stopping.is_set():
            pid, _ = os.waitpid(-1, os.WNOHANG)
            if pid in children:  # a worker died: another takes its place
                children.discard(pid)
                children.add(start())
            stopping.wait(0.5)
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        for pid in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        for pid in children:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)
