"""Staff accounts: who signs in, to which schools and in which role there, and their passwords.

A user belongs to their own school (``User.school_id`` with ``User.role``) and may hold a role
in further schools (``Membership`` rows): a trust's attendance lead, a DSL shared by two
academies. An administrator with no school is the whole installation's administrator.
Passwords are hashed with Argon2. A password made up by casework is a one-time password: the
person must choose their own at their next sign-in. Changing a password or disabling an
account ends every session the account has open.
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
from dataclasses import dataclass

from argon2 import PasswordHasher
from sqlalchemy import update
from sqlmodel import Session, select

from casework.store.audit import record
from casework.store.models import ROLE_LABELS, Membership, Role, School, User

USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,39}$")
MIN_PASSWORD = 12
# Passwords people choose that are long enough and still guessed first.
COMMON = {"password1234", "passwordpassword", "123456789012", "qwertyuiopas", "letmeinletmein", "changeme1234",
          "welcome12345", "casework-demo", "administrator", "schoolschool"}
ONE_TIME_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i to misread from a printout
hasher = PasswordHasher()


class AccountError(ValueError):
    """A request about an account that cannot be met, in one line a person can act on."""


@dataclass(frozen=True)
class SchoolRole:
    school_id: int
    urn: str
    name: str
    role: str

    @property
    def role_label(self) -> str:
        return ROLE_LABELS.get(Role(self.role), self.role)


def role_of(text: str) -> Role:
    try:
        return Role(text)
    except ValueError:
        known = ", ".join(r.value for r in Role)
        raise AccountError(f"unknown role {text!r}: use one of {known}") from None


def check_password(password: str, username: str = "") -> None:
    """Refuse a password that is short or easily guessed, saying why."""
    if len(password) < MIN_PASSWORD:
        raise AccountError(f"the password is too short: at least {MIN_PASSWORD} characters")
    lowered = password.lower()
    if lowered in COMMON or len(set(lowered)) < 5:
        raise AccountError("the password is too easy to guess: use three or four unrelated words")
    if username and username.lower() in lowered:
        raise AccountError("the password must not contain the username")


def one_time_password() -> str:
    """Four groups of four, easy to read aloud or from paper (about 78 bits)."""
    return "-".join("".join(secrets.choice(ONE_TIME_ALPHABET) for _ in range(4)) for _ in range(4))


def find_user(session: Session, username: str) -> User:
    user = session.exec(select(User).where(User.username == username.strip().lower())).first()
    if user is None:
        raise AccountError(f"no account called {username!r}")
    return user


def schools_of(session: Session, user: User) -> list[SchoolRole]:
    """Every school the user works in with their role there: their own school first."""
    if user.school_id is None and user.role == Role.ADMIN.value:
        return [SchoolRole(s.id, s.urn, s.name, Role.ADMIN.value)
                for s in session.exec(select(School).order_by(School.name))]
    out = []
    home = session.get(School, user.school_id) if user.school_id is not None else None
    if home is not None:
        out.append(SchoolRole(home.id, home.urn, home.name, user.role))
    rows = session.exec(select(Membership, School).join(School, School.id == Membership.school_id)
                        .where(Membership.user_id == user.id).order_by(School.name))
    out += [SchoolRole(s.id, s.urn, s.name, m.role) for m, s in rows if s.id != user.school_id]
    return out


def add_user(session: Session, *, username: str, name: str, role: str, schools: list[School], now: dt.datetime,
             by: str, position: str = "", email: str = "", password: str | None = None) -> tuple[User, str | None]:
    """Create an account with ``role`` in each of ``schools`` (the first is their own).
    Without a password a one-time password is made and returned (shown once, never stored)."""
    username = username.strip().lower()
    if not USERNAME.match(username):
        raise AccountError(f"username {username!r}: 2 to 40 lower-case letters, digits, dots, dashes or underscores")
    if session.exec(select(User.id).where(User.username == username)).first() is not None:
        raise AccountError(f"username {username!r} is already taken")
    if not name.strip():
        raise AccountError("give the person's full name")
    role = role_of(role).value
    schools = list({s.id: s for s in schools}.values())  # a school named twice is one school
    if not schools:
        raise AccountError("name at least one school (--school URN)")
    generated = None
    if password is None:
        password = generated = one_time_password()
    else:
        check_password(password, username)
    user = User(school_id=schools[0].id, username=username, name=name.strip(), position=position.strip(), role=role,
                email=email.strip(), password_hash=hasher.hash(password), must_change_password=generated is not None)
    session.add(user)
    session.flush()
    for school in schools[1:]:
        session.add(Membership(user_id=user.id, school_id=school.id, role=role))
    record(session, now, by, "user.add", f"user:{username}", school_id=schools[0].id, role=role,
           schools=[s.urn for s in schools])
    return user, generated


def set_password(session: Session, user: User, *, now: dt.datetime, by: str, password: str | None = None) -> str | None:
    """Give the account a new password and end its sessions. Without one, a one-time password
    is made, returned, and must be changed at the next sign-in."""
    generated = None
    if password is None:
        password = generated = one_time_password()
    else:
        check_password(password, user.username)
    user.password_hash = hasher.hash(password)
    user.must_change_password = generated is not None
    session.add(user)
    end_user_sessions(session, user)
    record(session, now, by, "user.password", f"user:{user.username}", school_id=user.school_id,
           one_time=generated is not None)
    return generated


def disable_user(session: Session, user: User, *, now: dt.datetime, by: str) -> None:
    if not user.active:
        raise AccountError(f"{user.username} is already disabled")
    user.active = False
    session.add(user)
    end_user_sessions(session, user)
    record(session, now, by, "user.permission", f"user:{user.username}", school_id=user.school_id,
           active_from=True, active_to=False)


def list_users(session: Session, school: School | None = None) -> list[tuple[User, list[SchoolRole]]]:
    users = session.exec(select(User).order_by(User.username)).all()
    out = [(u, schools_of(session, u)) for u in users]
    if school is not None:
        out = [(u, roles) for u, roles in out if any(r.school_id == school.id for r in roles)]
    return out


def end_user_sessions(session: Session, user: User) -> None:
    """End every session of ``user`` (on this unit of work's commit): each signed-in session
    carries the account's session version, and a request with an old one is signed out."""
    session.execute(update(User).where(User.id == user.id).values(session_version=User.session_version + 1))
