"""What the browser tests share: Debian's Chromium driven by Playwright, and the web test
world served on a local port. Test modules import these fixtures by name."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest
from web_world import PASSWORD, USERNAMES, build_world, web_app

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
SHOTS = Path(os.environ.get("CASEWORK_SHOTS", "/tmp/shots"))


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        if os.environ.get("CASEWORK_REQUIRE_BROWSER") == "1":
            pytest.fail("/usr/bin/chromium is missing and CASEWORK_REQUIRE_BROWSER=1")
        pytest.skip("Chromium is not installed")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield b
        b.close()


@pytest.fixture
def site(engine, make_school, make_pupils):
    from werkzeug.serving import make_server

    world = build_world(engine, make_school, make_pupils)
    app = web_app(engine, world)  # CSRF on, as in production
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}", world, engine
    server.shutdown()


def sign_in(page, base: str, role) -> None:
    """Open the sign-in page and, for a role, sign in as the web world's user in it."""
    page.goto(base + "/login")
    if role is not None:
        page.fill("#username", USERNAMES[role])
        page.fill("#password", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_load_state()
