"""WCAG 2.2 AA in a real browser: axe-core (vendored in tests/vendor, MPL-2.0, no network) run over each
main page as the role that uses it, and the Today page worked by keyboard alone.

The app's Content-Security-Policy allows only same-origin script files, so Playwright's
``add_script_tag`` (an inline <script>) would be refused: these contexts alone bypass the CSP to let
axe in. The other browser tests keep the CSP on and fail on any CSP refusal."""

from __future__ import annotations

from pathlib import Path

import pytest
from browser_support import ARGS, CHROMIUM, SHOTS, sign_in  # noqa: F401  (fixtures: tests/conftest.py loads browser_support)

from casework.store.models import Role

pytestmark = pytest.mark.browser
AXE = Path(__file__).parent / "vendor" / "axe.min.js"
WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22a", "wcag22aa"]
BLOCKING = {"serious", "critical"}


@pytest.fixture
def open_as(browser, site):
    base = site[0]
    contexts = []

    def opener(role: Role | None, *, bypass_csp: bool = True):
        ctx = browser.new_context(viewport={"width": 1366, "height": 900}, bypass_csp=bypass_csp)
        contexts.append(ctx)
        page = ctx.new_page()
        sign_in(page, base, role)
        return page

    yield opener
    for ctx in contexts:
        ctx.close()


def axe_problems(page, label: str) -> list[str]:
    """Run axe on the page as it stands; every serious or critical WCAG A/AA violation, one line per node."""
    page.wait_for_load_state("networkidle")
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.add_script_tag(path=str(AXE))
    result = page.evaluate("""async (tags) => {
        // the register heatmap's codes are one letter each: check their contrast too, not "needs review"
        const r = await axe.run(document, {runOnly: {type: 'tag', values: tags}, resultTypes: ['violations'],
                                           checks: {'color-contrast': {options: {ignoreLength: true}}}});
        return r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
            nodes: v.nodes.map(n => ({target: n.target.join(' '), impact: n.impact,
                                      summary: n.failureSummary}))}));
    }""", WCAG_TAGS)
    lines = []
    for v in result:
        for n in v["nodes"]:
            if (n["impact"] or v["impact"]) in BLOCKING:
                summary = " ".join((n["summary"] or "").split())
                lines.append(f"{label}: [{n['impact'] or v['impact']}] {v['id']} ({v['help']}) at {n['target']}"
                             f" — {summary}")
    return lines


def check_pages(open_as, base: str, role: Role | None, paths: list[str]) -> None:
    page = open_as(role)
    problems: list[str] = []
    for path in paths:
        if path != "/login" or role is not None:
            page.goto(base + path)
        problems += axe_problems(page, f"{role.value if role else 'signed out'} {path}")
    assert not problems, f"{len(problems)} accessibility violations:\n" + "\n".join(problems)


def test_sign_in_page(open_as):
    page = open_as(None)
    problems = axe_problems(page, "sign-in")
    page.fill("#username", "officer")
    page.fill("#password", "nope")
    page.click("button[type=submit]")
    problems += axe_problems(page, "sign-in after a wrong password")
    assert not problems, f"{len(problems)} accessibility violations:\n" + "\n".join(problems)


def mark_every_kind(engine, pupil_id: int) -> None:
    """Give one pupil a mark of every kind on their last school days, so the heatmap shows every colour."""
    from sqlmodel import Session, select

    from casework.store.models import Mark

    codes = ["B", "C", "I", "L", "U", "Y", "#", "X", "G", "M", "E", "R", "D", "V", "Q"]
    with Session(engine) as s:
        marks = s.exec(select(Mark).where(Mark.pupil_id == pupil_id).order_by(Mark.date.desc(), Mark.session)).all()
        for mark, code in zip(marks, codes):
            mark.code = code
            s.add(mark)
        s.commit()


def test_officer_pages(open_as, site):
    base, world, engine = site
    mark_every_kind(engine, world.pupils["fine"])
    check_pages(open_as, base, Role.ATTENDANCE_OFFICER, [f"/pupils/{world.pupils['fine']}",
        "/today", "/caseload", f"/cases/{world.cases['absent']}", f"/cases/{world.cases['call']}",
        f"/pupils/{world.pupils['absent']}", "/pupils", "/letters", "/notifications"])


def test_dsl_pages(open_as, site):
    base, world, _ = site
    check_pages(open_as, base, Role.DSL, ["/dsl", f"/cases/{world.cases['visit']}"])


def test_head_pages(open_as, site):
    base, world, _ = site
    check_pages(open_as, base, Role.HEADTEACHER, [
        "/approvals", "/reports", "/reports?group=year:4", "/reports/policy", f"/cases/{world.cases['leave']}",
        "/reports/governors", "/reports/governors?term=autumn-2025"])


def test_governor_pages(open_as, site):
    base, world, _ = site
    check_pages(open_as, base, Role.GOVERNOR, [
        "/reports", "/reports?group=year:4", "/reports/governors",
        f"/pupils/{world.pupils['absent']}"])  # the last is refused


def test_admin_pages(open_as, site):
    base = site[0]
    check_pages(open_as, base, Role.ADMIN, ["/admin/users", "/admin/imports", "/admin/settings"])


def test_pages_with_messages_showing(open_as, site):
    """Flash messages, and a closed case with its deadlines met, must pass too."""
    base, world, _ = site
    page = open_as(Role.HEADTEACHER)
    page.goto(base + "/approvals")
    page.locator(f"#decision-{world.cases['leave']}-leave button", has_text="Authorise the leave").click()
    problems = axe_problems(page, "head /approvals with an error message")
    page = open_as(Role.ATTENDANCE_OFFICER)
    page.locator(f"#case-{world.cases['call']} button", has_text="Record: no answer").click()
    problems += axe_problems(page, "officer /today with a success message")
    card = page.locator(f"#case-{world.cases['call']}")
    card.locator("input[name=reason]").fill("Back on Monday")
    card.locator("button", has_text="Record: reached").click()
    page.goto(f"{base}/cases/{world.cases['call']}")
    problems += axe_problems(page, "officer, a closed case with its deadlines met")
    assert not problems, f"{len(problems)} accessibility violations:\n" + "\n".join(problems)


FOCUSED = """() => { const e = document.activeElement; const s = getComputedStyle(e);
    return {tag: e.tagName, id: e.id, cls: e.className, text: (e.innerText || e.value || '').trim().slice(0, 60),
            outline: s.outlineStyle === 'none' || s.outlineWidth === '0px' ? 'none' : s.outlineStyle + ' ' + s.outlineWidth,
            shadow: s.boxShadow, visible: !!(e.offsetWidth || e.offsetHeight || e.getClientRects().length)}; }"""


def test_today_by_keyboard_alone(open_as, site):
    base, world, _ = site
    page = open_as(Role.ATTENDANCE_OFFICER, bypass_csp=False)
    page.goto(base + "/today")
    page.wait_for_load_state("networkidle")
    page.keyboard.press("Tab")
    first = page.evaluate(FOCUSED)
    assert first["text"] == "Skip to main content", first
    stops = [first]
    for _ in range(120):
        now = page.evaluate(FOCUSED)
        assert now["visible"], f"focus went to something not on screen: {now}"
        assert now["outline"] != "none" or now["shadow"] not in ("", "none"), f"no visible focus indicator: {now}"
        if now["tag"] == "INPUT" and now["id"] == f"reason-{world.cases['call']}":
            page.keyboard.type("Dad called back: dentist, in this afternoon")
        if now["tag"] == "BUTTON" and now["text"] == "Record: reached":
            break
        page.keyboard.press("Tab")
        stops.append(page.evaluate(FOCUSED))
    else:
        pytest.fail("Tab never reached 'Record: reached': " + ", ".join(s["text"] or s["tag"] for s in stops))
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "today-keyboard-focus.png"))
    page.keyboard.press("Enter")
    page.wait_for_load_state()
    assert "now at Closed" in page.locator(".flash-success").inner_text()

    # the skip link takes focus past the top bar and navigation to the page's content
    page.goto(base + "/today")
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    assert page.evaluate("() => document.activeElement.id") == "main"
    page.keyboard.press("Tab")
    inside = page.evaluate("() => !!document.activeElement.closest('main')")
    assert inside, "after the skip link, Tab should land inside the main content"
