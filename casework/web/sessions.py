"""Sessions a server can end. Every signed-in session carries its account's session version;
a request whose version is no longer the account's is signed out. Signing out, changing a
password and disabling an account each move the version on, so a cookie copied before then
opens nothing afterwards (it would otherwise be good for the whole 9-hour session)."""

from __future__ import annotations

from sqlalchemy.engine import Engine
from sqlmodel import select

from casework.accounts import end_user_sessions
from casework.store.db import session_scope
from casework.store.models import User

SESSION_KEY = "session_version"
__all__ = ["SESSION_KEY", "end_sessions", "end_user_sessions"]


def end_sessions(engine: Engine, username: str) -> None:
    """End every session of the account called ``username`` (for the CLI and jobs)."""
    with session_scope(engine) as s:
        for user in s.exec(select(User).where(User.username == username)):
            end_user_sessions(s, user)
