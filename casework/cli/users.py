"""``casework user``: staff accounts from the command line (the first account of a new school
is made here: there is no one yet to make it on the web)."""

from __future__ import annotations

import sys

import click
from rich.table import Table

from casework import accounts
from casework.cli.common import as_of_option, console, ctx_of, db_option, emit_json, fail, json_option
from casework.register import store as reg
from casework.store.db import session_scope


@click.group("user")
def user() -> None:
    """Add, list and disable staff accounts; set passwords."""


def _password_from_stdin(enabled: bool) -> str | None:
    if not enabled:
        return None
    text = sys.stdin.readline().rstrip("\r\n")
    if not text:
        fail("--password-stdin: no password on standard input")
    return text


def _show_one_time(username: str, password: str) -> None:
    console.print(f"One-time password for {username}: [bold]{password}[/]", highlight=False)
    console.print("It is shown once and not stored; they choose their own at first sign-in.")


@user.command("add")
@click.argument("username")
@click.option("--school", "urns", multiple=True, required=True,
              help="URN of a school the person works in (repeat for several; the first is their own).")
@click.option("--role", required=True, help="admin, attendance_officer, wellbeing_lead, dsl, deputy_dsl, headteacher, "
                                            "deputy_head, teacher, governor or trust_lead.")
@click.option("--name", required=True, help="The person's full name, as letters sign it.")
@click.option("--position", default="", help="Job title, e.g. 'Attendance officer'.")
@click.option("--email", default="", help="Where their morning digest goes.")
@click.option("--password-stdin", "password_stdin", is_flag=True,
              help="Read the password from standard input; without it a one-time password is printed once.")
@db_option
@as_of_option
@json_option
def user_add(username, urns, role, name, position, email, password_stdin, db, as_of, as_json):
    """Create an account with ROLE in each --school."""
    password = _password_from_stdin(password_stdin)
    c = ctx_of(db, as_of)
    try:
        with session_scope(c.engine) as s:
            schools = [reg.get_school(s, urn) for urn in urns]
            u, generated = accounts.add_user(s, username=username, name=name, role=role, schools=schools,
                                             now=c.clock.now(), by="cli", position=position, email=email,
                                             password=password)
            out = {"username": u.username, "role": u.role, "schools": [x.urn for x in schools]}
    except accounts.AccountError as exc:
        fail(str(exc))
    if as_json:
        emit_json({**out, "one_time_password": generated})
        return
    console.print(f"Added {out['username']}: {out['role']} at {', '.join(out['schools'])}.")
    if generated:
        _show_one_time(out["username"], generated)


@user.command("list")
@click.option("--school", "urn", default=None, help="Only the people who work in this school.")
@db_option
@json_option
def user_list(urn, db, as_json):
    """Every account, with the schools and roles it holds."""
    c = ctx_of(db)
    with session_scope(c.engine) as s:
        school = reg.get_school(s, urn) if urn else None
        rows = [{"username": u.username, "name": u.name, "position": u.position, "active": u.active,
                 "must_change_password": u.must_change_password,
                 "schools": [{"urn": r.urn, "name": r.name, "role": r.role} for r in roles]}
                for u, roles in accounts.list_users(s, school)]
    if as_json:
        emit_json(rows)
        return
    t = Table("Username", "Name", "Schools and roles", "Status")
    for r in rows:
        where = "; ".join(f"{x['urn']} {x['role']}" for x in r["schools"]) or "-"
        status = "active" if r["active"] else "disabled"
        t.add_row(r["username"], r["name"], where, status + (" (must change password)" if r["must_change_password"] else ""))
    console.print(t)


@user.command("disable")
@click.argument("username")
@db_option
@as_of_option
def user_disable(username, db, as_of):
    """Close an account: it cannot sign in, and every session it has open ends now."""
    c = ctx_of(db, as_of)
    try:
        with session_scope(c.engine) as s:
            accounts.disable_user(s, accounts.find_user(s, username), now=c.clock.now(), by="cli")
    except accounts.AccountError as exc:
        fail(str(exc))
    console.print(f"Disabled {username}; their open sessions have ended.")


@user.command("set-password")
@click.argument("username")
@click.option("--password-stdin", "password_stdin", is_flag=True,
              help="Read the new password from standard input; without it a one-time password is printed once.")
@db_option
@as_of_option
def user_set_password(username, password_stdin, db, as_of):
    """Give an account a new password (their open sessions end)."""
    password = _password_from_stdin(password_stdin)
    c = ctx_of(db, as_of)
    try:
        with session_scope(c.engine) as s:
            generated = accounts.set_password(s, accounts.find_user(s, username), now=c.clock.now(), by="cli",
                                              password=password)
    except accounts.AccountError as exc:
        fail(str(exc))
    if generated:
        _show_one_time(username, generated)
    else:
        console.print(f"Password set for {username}; their open sessions have ended.")
