"""The policy page names the school it is for and shows real diagrams (issue 11 item 10)."""

from __future__ import annotations

import re

from web_world import login, web_app

from casework.store.models import Role, School


def test_policy_page_names_the_school_and_its_images_are_svg(engine, world):
    from sqlmodel import Session

    app = web_app(engine, world, WTF_CSRF_ENABLED=False)
    c = app.test_client()
    assert login(c, Role.HEADTEACHER).status_code == 302
    page = c.get("/reports/policy").get_data(as_text=True)
    with Session(engine) as s:
        school = s.get(School, world.school_id) if hasattr(world, "school_id") else s.query(School).first()
    h1 = re.search(r"<h1>(.*?)</h1>", page).group(1)
    assert school.name in h1 and "attendance policy" in h1
    srcs = re.findall(r'<img class="diagram" src="([^"]+)"', page)
    assert srcs, "no diagrams on the policy page"
    for src in srcs:
        r = c.get(src)
        assert r.status_code == 200 and r.mimetype == "image/svg+xml"
        body = r.get_data()
        assert body.lstrip().startswith(b"<?xml") and b"<svg" in body, src


def test_workflow_diagram_writes_real_svg_and_png(tmp_path):
    from click.testing import CliRunner

    from casework.cli import main

    for fmt, magic in (("svg", b"<?xml"), ("png", b"\x89PNG")):
        res = CliRunner().invoke(main, ["workflow", "diagram", "national", "--out", str(tmp_path), "--format", fmt,
                                        "--case-type", "continuous_absence"])
        assert res.exit_code == 0, res.output
        data = (tmp_path / f"national-continuous_absence.{fmt}").read_bytes()
        assert data.startswith(magic)
    assert b"Tell the LA" in (tmp_path / "national-continuous_absence.svg").read_bytes()
