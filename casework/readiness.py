"""Is a school ready for tomorrow morning? Each thing a school needs before casework can run
its day, checked, with what to do about anything missing (``casework school check URN``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import func, or_
from sqlmodel import Session, select

from casework.accounts import list_users
from casework.letters.check import letter_problems
from casework.notify.mail import MailSettings
from casework.plain import Plain
from casework.register.calendar import school_year_start
from casework.register.store import load_calendar
from casework.store.models import CONTACT_PHONES, Contact, Pupil, School
from casework.workflow import WorkflowError, for_school

# The calendar should run at least this many school weeks past today: `school check` fails, and an
# administrator sees a warning on every page, when it does not.
WEEKS_AHEAD = 6
PASS, WARN, FAIL = "pass", "warn", "fail"


@dataclass
class Check(Plain):
    name: str
    status: str  # pass | warn | fail
    detail: str
    todo: str = ""


def school_checks(session: Session, school: School, today: dt.date, env: dict | None = None) -> list[Check]:
    out = [_calendar(session, school, today), _contacts(session, school)]
    try:
        wf = for_school(school.workflow)
    except WorkflowError as exc:
        out.append(Check("workflow", FAIL, f"{school.workflow}: {len(exc.problems)} problem(s): {exc.problems[0]}",
                         f"casework workflow check {school.workflow}"))
        return out + [_mail(env)]
    out.append(Check("workflow", PASS, f"{wf.name} ({wf.ref}) is valid"))
    out.append(_roles(session, school, wf))
    problems = letter_problems(wf)
    out.append(Check("letters", FAIL, f"{len(problems)} problem(s), first: {problems[0]}",
                     f"casework workflow check {wf.ref}") if problems else
               Check("letters", PASS, f"all {len(wf.model.letters)} letters have their templates and merge fields"))
    out.append(_letterhead(school))
    out.append(_signatory(session, school, wf))
    out.append(_mail(env))
    return out


def _calendar(session: Session, school: School, today: dt.date) -> Check:
    cal = load_calendar(session, school.id)
    if cal.last_day is None:
        return Check("calendar", FAIL, "no term dates entered", "casework import calendar term-dates.csv --school URN")
    left = cal.school_weeks_after(today)
    next_year = school_year_start(today).replace(year=school_year_start(today).year + 1)
    has_next = cal.last_day >= next_year
    detail = f"term dates run to {cal.last_day:%-d %b %Y}: {left} school week(s) after this one"
    todo = "import next school year's term dates (casework import calendar FILE --school URN)"
    if left < WEEKS_AHEAD:
        return Check("calendar", FAIL, detail + "; deadlines past that day are provisional", todo)
    if not has_next:
        return Check("calendar", WARN, detail + f"; nothing entered for {next_year.year}-{str(next_year.year + 1)[-2:]}",
                     todo)
    return Check("calendar", PASS, detail)


def _contacts(session: Session, school: School) -> Check:
    on_roll = session.exec(select(func.count()).select_from(Pupil).where(
        Pupil.school_id == school.id, Pupil.on_roll.is_(True))).one()
    if not on_roll:
        return Check("contacts", FAIL, "no pupils on roll", "casework import pupils pupils.csv --school URN")
    with_phone = select(Contact.pupil_id).where(or_(*(getattr(Contact, f) != "" for f in CONTACT_PHONES)))
    missing = session.exec(select(Pupil.upn).where(Pupil.school_id == school.id, Pupil.on_roll.is_(True),
                                                   Pupil.id.not_in(with_phone)).order_by(Pupil.upn)).all()
    if missing:
        shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
        return Check("contacts", FAIL, f"{len(missing)} of {on_roll} pupils on roll have no contact with a phone "
                     f"number ({shown}): first-day calls cannot be made", "casework import contacts contacts.csv --school URN")
    return Check("contacts", PASS, f"all {on_roll} pupils on roll have a contact with a phone number")


def _roles(session: Session, school: School, wf) -> Check:
    active = {r.role for u, roles in list_users(session, school) if u.active for r in roles if r.school_id == school.id}
    unstaffed = [group for group in wf.model.roles if not wf.roles_for([group]) & active]
    if unstaffed:
        # the first role each group lists is the one a school usually has (attendance officer, DSL, head)
        suggest = list(dict.fromkeys(wf.model.roles[g][0] for g in unstaffed if wf.model.roles[g]))
        return Check("roles", FAIL, f"no active user in the workflow's {', '.join(unstaffed)} role group(s): "
                     f"add at least one of: {', '.join(suggest)}",
                     "casework user add USERNAME --school URN --role ROLE --name 'Full Name'")
    return Check("roles", PASS, f"every role group the workflow names has an active user ({', '.join(wf.model.roles)})")


def _signatory(session: Session, school: School, wf) -> Check:
    """Letters other than the head's own are signed by the post the workflow's letterhead names;
    the name comes from the active member of staff whose position is that post."""
    post = (wf.model.school.letterhead.signatory or "Headteacher").strip()
    if post.lower().replace(" ", "") == "headteacher":
        return Check("signatory", PASS, "letters are signed by the headteacher")
    holders = [u.name for u, _ in list_users(session, school)
               if u.active and (u.position or "").strip().lower() == post.lower()]
    if not holders:
        return Check("signatory", WARN, f"letters are signed '{post}' with no name: no active account has that position",
                     f"casework user add USERNAME --school {school.urn} --position '{post}' ... (or set it on the admin page)")
    return Check("signatory", PASS, f"letters are signed by {holders[0]}, {post}")


def _letterhead(school: School) -> Check:
    missing = [label for label, value in (("address", school.address), ("phone", school.phone),
                                          ("headteacher's name", school.headteacher_name)) if not value.strip()]
    if missing:
        return Check("letterhead", FAIL, f"letters need the school's {', '.join(missing)}",
                     "fill them in on the web app's School settings page")
    return Check("letterhead", PASS, "address, phone and headteacher's name are set")


def _mail(env: dict | None) -> Check:
    try:
        settings = MailSettings.from_env(env)
    except ValueError as exc:
        return Check("email", FAIL, str(exc), "fix CASEWORK_SMTP_PORT")
    if settings is None:
        return Check("email", WARN, "no SMTP server set: nudges and safeguarding alerts stay in the web app",
                     "set CASEWORK_SMTP_HOST (and _PORT, _FROM) for the scheduler")
    return Check("email", PASS, f"email goes out through {settings.host}:{settings.port} from {settings.sender}")
