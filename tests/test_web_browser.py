"""The main journeys in Debian's Chromium, headless, against the real app on a local port.
Screenshots of each page go to $CASEWORK_SHOTS (default /tmp/shots), outside git."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from browser_support import ARGS, CHROMIUM, SHOTS, sign_in  # noqa: F401  (fixtures: tests/conftest.py loads browser_support)

from casework.store.models import Role

pytestmark = pytest.mark.browser


@pytest.fixture
def page_for(browser, site):
    base = site[0]
    contexts = []
    errors: list[str] = []

    def open_as(role: Role | None):
        ctx = browser.new_context(viewport={"width": 1366, "height": 900})
        contexts.append(ctx)
        page = ctx.new_page()
        # a 401/403 page is an expected answer; anything else on the console (a CSP refusal, a script error) is not
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" and "status of 40" not in m.text
                else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        sign_in(page, base, role)
        return page

    yield open_as, base, errors
    for ctx in contexts:
        ctx.close()
    assert not errors, f"browser console errors (CSP or script): {errors}"


def shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


HOMES = {Role.ATTENDANCE_OFFICER: "Today", Role.WELLBEING_LEAD: "Today", Role.DSL: "Today",
         Role.DEPUTY_DSL: "Today", Role.HEADTEACHER: "Today", Role.DEPUTY_HEAD: "Today", Role.TEACHER: "Pupils",
         Role.GOVERNOR: "Attendance reports", Role.ADMIN: "Staff and roles", Role.TRUST_LEAD: "Trust overview"}


@pytest.mark.parametrize("role", list(Role), ids=lambda r: r.value)
def test_each_role_signs_in_to_its_start_page(page_for, role):
    open_as, base, _ = page_for
    page = open_as(role)
    assert page.locator("h1").first.inner_text() == HOMES[role]
    assert "Meadow Lane Primary School" in page.locator("header").inner_text()
    shot(page, f"home-{role.value}")
    page.click("text=Sign out")
    assert page.url.endswith("/login")


def test_login_page_and_a_wrong_password(page_for):
    open_as, base, _ = page_for
    page = open_as(None)
    shot(page, "login")
    page.fill("#username", "officer")
    page.fill("#password", "nope")
    page.click("button[type=submit]")
    assert "do not match" in page.locator("[role=alert]").inner_text()


def test_record_a_first_day_call(page_for, site):
    open_as, base, _ = page_for
    world = site[1]
    page = open_as(Role.ATTENDANCE_OFFICER)
    card = page.locator(f"#case-{world.cases['call']}")
    assert "Pat Calloway" in card.inner_text()
    shot(page, "today")
    card.locator("button", has_text="Record: no answer").click()
    assert "Called - no answer — recorded" in page.locator(".flash-success").inner_text()
    card = page.locator(f"#case-{world.cases['call']}")
    assert "1 unanswered call" in card.inner_text()
    card.locator("input[name=reason]").fill("Mum called back: chickenpox, back on Monday")
    card.locator("button", has_text="Record: reached").click()
    assert "now at Closed" in page.locator(".flash-success").inner_text()
    assert page.locator(f"#case-{world.cases['call']}").count() == 0
    page.goto(f"{base}/cases/{world.cases['call']}")
    timeline = page.locator(".timeline").inner_text()
    assert "chickenpox" in timeline and "Called - no answer" in timeline
    assert "Met: met by contact made" in page.locator("aside").inner_text()


def _step(page, label: str, reason: str = "") -> None:
    if reason:
        page.fill("#reason", reason)
    page.locator("button", has_text=label).first.click()
    page.wait_for_load_state()


def test_letter_meeting_support_plan_then_notice_to_improve_by_the_head(page_for, site):
    open_as, base, _ = page_for
    world = site[1]
    url = f"{base}/cases/{world.cases['absent']}"
    page = open_as(Role.ATTENDANCE_OFFICER)
    page.goto(url)
    _step(page, "Send attendance letter", "attendance 86% this term")
    assert "Letter sent" in page.locator(".state").first.inner_text()
    _step(page, "Invite to a meeting")
    assert "Attendance meeting" in page.locator(".state").first.inner_text()
    _step(page, "Agree an attendance support plan", "met Mum; plan agreed: breakfast club")
    assert "Attendance support plan" in page.locator(".state").first.inner_text()
    refused = page.locator(".refused").inner_text()
    assert "Issue a notice to improve" in refused and "may issue a notice to improve" in refused
    shot(page, "case-support-plan-officer")
    # the officer cannot take the formal step even by posting the form by hand
    page.evaluate("""() => { const f = document.querySelector('form[action$="/move"]');
        const b = document.createElement('button'); b.name = 'event'; b.value = 'issue_notice_to_improve';
        b.id = 'forged'; f.appendChild(b); }""")
    page.click("#forged")
    assert "Not done" in page.locator(".flash-error").inner_text()

    head = open_as(Role.HEADTEACHER)
    head.goto(url)
    assert "Issue a notice to improve" in head.locator(".button-row").inner_text()
    _step(head, "Issue a notice to improve", "threshold met; support not engaged with")
    assert "Notice to improve" in head.locator(".state").first.inner_text()
    letters = head.locator("aside").inner_text()
    assert "Notice to improve" in letters and "Notice to improve improvement period ends" in letters
    refused = head.locator(".refused").inner_text()
    assert "Request a penalty notice" in refused and "improvement period runs until" in refused
    shot(head, "case-notice-to-improve-head")


def test_dsl_sees_a_missed_home_visit_escalated(page_for, site):
    from casework import timers

    open_as, base, _ = page_for
    url, world, engine = site
    officer = open_as(Role.ATTENDANCE_OFFICER)
    officer.goto(f"{base}/cases/{world.cases['visit']}")
    _step(officer, "Plan a home visit")
    assert "Home visit" in officer.locator(".state").first.inner_text()
    world.clock.advance(dt.timedelta(days=2))  # the visit is due the next school day at 16:00
    report = timers.sweep(engine, world.clock)
    assert any(x["kind"] == "home_visit_made" for x in report.lapsed)

    dsl = open_as(Role.DSL)
    dsl.goto(f"{base}/dsl")
    card = dsl.locator(f"#case-{world.cases['visit']}")
    assert "the planned home visit has not been recorded" in card.inner_text()
    # the DSL records the visit's outcome; handing the case to the DSL is not offered to the DSL
    assert card.locator("button", has_text="Visit - child seen and safe").count() == 1
    assert card.locator("button", has_text="Escalate to the DSL").count() == 0
    # the child's flags, contacts and days missed are on the card
    text = card.inner_text()
    assert "Social worker" in text and "Pat Vandermeer" in text and "missed since" in text
    shot(dsl, "dsl-queue")
    # one box and a row of buttons; the safeguarding note is folded away until wanted
    assert card.locator("textarea").count() == 2 and not card.locator("textarea[name=text]").is_visible()
    card.locator("summary", has_text="safeguarding note").click()
    card.locator("textarea[name=text]").fill("Spoke to the social worker; visiting together at 3pm")
    card.locator("button", has_text="Add safeguarding note").click()
    assert "Safeguarding note added" in dsl.locator(".flash-success").inner_text()
    card = dsl.locator(f"#case-{world.cases['visit']}")
    card.locator("textarea[name=reason]").fill("Seen at home with the social worker; unwell, back tomorrow")
    card.locator("button", has_text="Visit - child seen and safe").click()
    assert "now at Closed" in dsl.locator(".flash-success").inner_text()


def test_governor_cannot_reach_a_pupil_page(page_for, site):
    open_as, base, _ = page_for
    world = site[1]
    page = open_as(Role.GOVERNOR)
    shot(page, "reports-governor")
    assert page.locator("canvas#weekly").is_visible()
    page.goto(f"{base}/pupils/{world.pupils['absent']}")
    assert page.locator("h1").inner_text() == "Not available to your role"
    assert "Pupils" not in page.locator("nav").inner_text()


def test_screens_of_every_page(page_for, site):
    open_as, base, _ = page_for
    world = site[1]
    for role, paths in [
        (Role.ATTENDANCE_OFFICER, ["/caseload", f"/pupils/{world.pupils['absent']}", "/pupils"]),
        (Role.HEADTEACHER, ["/approvals", "/reports", "/reports/policy", f"/cases/{world.cases['leave']}",
                            "/reports/governors"]),
        (Role.ADMIN, ["/admin/users", "/admin/imports", "/admin/settings"]),
    ]:
        page = open_as(role)
        for path in paths:
            page.goto(base + path)
            page.wait_for_load_state("networkidle")
            assert page.locator("main h1").count() == 1
            shot(page, f"{role.value}-{path.strip('/').replace('/', '-')}")


def test_officer_produces_the_days_letters_and_downloads_the_print_file(page_for, site):
    open_as, base, _ = page_for
    world = site[1]
    page = open_as(Role.ATTENDANCE_OFFICER)
    page.click("nav >> text=Letters")
    assert page.locator("h1").inner_text() == "Letters"
    blocked = page.locator(f"#letter-{world.letters['blocked']}")
    assert "has no postal address" in blocked.inner_text() and blocked.locator("button:has-text('Produce')").count() == 0
    assert "Pat Abernathy and Sam Abernathy" in page.locator(f"#letter-{world.letters['ready']}").inner_text()
    shot(page, "letters-queue")
    page.click("button:has-text('Produce all ready letters')")
    assert "1 letter produced as one print file" in page.locator(".flash-success").inner_text()
    assert page.locator(f"#letter-{world.letters['ready']}").count() == 0
    shot(page, "letters-produced")
    with page.expect_download() as dl:
        page.locator("#batches-h + ul a").first.click()
    assert Path(dl.value.path()).read_bytes()[:5] == b"%PDF-"
    page.goto(f"{base}/cases/{world.cases['absent']}")
    with page.expect_download() as dl:
        page.locator("aside a", has_text="Attendance below expectations").click()
    assert dl.value.suggested_filename.endswith(f"letter{world.letters['ready']}.pdf")


def test_head_refuses_leave_from_the_decisions_page(page_for, site):
    open_as, base, _ = page_for
    world = site[1]
    page = open_as(Role.HEADTEACHER)
    page.click("nav >> text=Decisions")
    row = page.locator(f"#decision-{world.cases['leave']}-leave")
    row.locator("button", has_text="Authorise the leave").click()  # no reason given
    assert "needs a reason" in page.locator(".flash-error").inner_text()
    shot(page, "decisions-refused-move")
    row = page.locator(f"#decision-{world.cases['leave']}-leave")
    row.get_by_label("Reason").fill("Not exceptional: a family holiday")
    row.locator("button", has_text="Refuse the leave").click()
    assert "Refuse the leave — recorded" in page.locator(".flash-success").inner_text()
    assert page.locator(f"#decision-{world.cases['leave']}-leave").count() == 0
    shot(page, "decisions-after")


def test_dsl_deals_with_an_alert_and_the_officer_reads_a_nudge(page_for, site):
    open_as, base, _ = page_for
    world = site[1]
    dsl = open_as(Role.DSL)
    dsl.goto(f"{base}/dsl")
    card = dsl.locator("article", has=dsl.locator(f"#alert-{world.alert}"))
    shot(dsl, "dsl-queue-alert")
    card.get_by_label("What happened").fill("New address confirmed with the LA")
    card.locator("button", has_text="Acknowledge").click()
    assert "dealt with" in dsl.locator(".flash-success").inner_text()
    assert dsl.locator(f"#alert-{world.alert}").count() == 0
    dsl.goto(f"{base}/cases/{world.cases['visit']}")
    assert "New address confirmed with the LA" in dsl.locator(".timeline").inner_text()
    shot(dsl, "case-timeline-alert-resolved")

    officer = open_as(Role.ATTENDANCE_OFFICER)
    badge = officer.locator("header .badge")
    before = int(badge.inner_text().split()[0])
    officer.click("header >> text=Notifications")
    shot(officer, "notifications")
    officer.locator(f"#nudge-{world.nudges[Role.ATTENDANCE_OFFICER]} button").click()
    assert "Marked as read" in officer.locator(".flash-success").inner_text()
    after = officer.locator("header .badge")
    assert (int(after.inner_text().split()[0]) if after.count() else 0) == before - 1


def test_governor_sees_small_groups_suppressed(page_for, site):
    open_as, base, _ = page_for
    page = open_as(Role.GOVERNOR)
    assert "fewer than 5" in page.locator("table.data").last.inner_text()
    page.goto(f"{base}/reports?group=year:4")
    assert page.locator("canvas#weekly").count() == 0
    assert "Year 4 has fewer than 5 pupils" in page.locator("main").inner_text()
    shot(page, "reports-governor-small-group")
    head = open_as(Role.HEADTEACHER)
    head.goto(f"{base}/reports?group=year:4")
    assert head.locator("canvas#weekly").is_visible()
    shot(head, "reports-head-small-group")


def test_a_morning_as_the_officer_today_lists_the_days_work_counted(page_for, site):
    """Today → call → visit → deadline on Today → case → letters, as the attendance officer."""
    from casework import timers

    open_as, base, _ = page_for
    url, world, engine = site
    officer = open_as(Role.ATTENDANCE_OFFICER)
    summary = officer.locator(".today-summary").inner_text()
    calls = officer.locator("#calls .card").count()
    assert f"{calls} first-day call" in summary and "0 overdue" in summary
    # each call is also a deadline due at noon today, listed with the day's deadlines
    assert f"{calls} due today" in summary
    assert officer.locator("#deadlines tbody tr").count() == calls
    assert "First-day contact with home" in officer.locator("#deadlines").inner_text()
    # the visit is planned, and not recorded by its deadline
    officer.goto(f"{base}/cases/{world.cases['visit']}")
    _step(officer, "Plan a home visit")
    world.clock.advance(dt.timedelta(days=2))
    timers.sweep(engine, world.clock)
    officer.goto(f"{base}/today")
    shot(officer, "today-morning")
    summary = officer.locator(".today-summary").inner_text()
    overdue = officer.locator("#deadlines tr.row-overdue")
    assert f"{overdue.count()} overdue" in summary
    row = overdue.filter(has_text="Carry out the home visit")
    assert row.count() == 1 and "Vic Vandermeer" in row.inner_text() and "Overdue" in row.inner_text()
    row.locator("a").click()
    officer.wait_for_load_state()
    assert officer.url.endswith(f"/cases/{world.cases['visit']}")
    officer.goto(f"{base}/today")
    letters = officer.locator(".today-summary a", has_text="letter")
    queued = int(letters.locator("strong").inner_text())
    letters.click()
    officer.wait_for_load_state()
    assert officer.url.endswith("/letters") and (queued == 0 or "Letters" in officer.locator("h1").inner_text())
