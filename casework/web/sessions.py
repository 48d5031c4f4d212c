"""Sessions a server can end. Every signed-in session carries its account's session version;
a request whose version is no longer the account's is signed out. Signing out, changing a
password and disabling an account each move the version on, so a cookie copied before then
opens nothing afterwards (it would otherwise be good for the whole 9-hour session)."""

from __future__ import annotations

from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlmodel import Session

from casework.store.db import session_scope
from casework.store.models import User

SESSION_KEY = "session_version"


def end_user_sessions(session: Session, user: User) -> None:
    """End every session of ``user`` (on this unit of work's commit)."""
    session.execute(update(User).where(User.id == user.id).values(session_version=User.session_version + 1))


def end_sessions(engine: Engine, username: str) -> None:
    """End every session of the account called ``username`` (for the CLI and jobs)."""
    with session_scope(engine) as s:
        s.execute(update(User).where(User.username == username).values(session_version=User.session_version + 1))
