"""The ``casework`` command loads only what the command run needs: every command is listed by
``--help`` with its one-line help, each is found in its own module when run, and the letters
queue (run many times a day) starts without the web app, the scheduler or the PDF layout."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys

from click.testing import CliRunner

from casework.cli import COMMANDS, main

# What the letters queue must not load: each is for other commands (PDF layout and cutting, the
# web app and its server, the scheduler, spreadsheets) or for a database that needs migrating.
NOT_FOR_THE_QUEUE = ["weasyprint", "pypdf", "flask", "waitress", "apscheduler", "openpyxl", "alembic"]

PROBE = """
import json, sys
from casework.cli import main
try:
    main(sys.argv[1:])
except SystemExit as exc:
    code = exc.code
print(json.dumps({"code": code, "modules": sorted({m.split(".")[0] for m in sys.modules})}))
"""


def _run(*args: str) -> tuple[int, set[str], str]:
    """Run casework in a fresh process; its exit code, the top-level modules it imported, and stdout."""
    r = subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True, text=True,
                       env={"COLUMNS": "200", "CASEWORK_NO_PROGRESS": "1", "PATH": "/usr/bin:/bin"})
    *output, last = r.stdout.strip().splitlines()
    probe = json.loads(last)
    return probe["code"], set(probe["modules"]), "\n".join(output) + r.stderr


def test_help_lists_every_command_with_its_one_line_help():
    r = CliRunner().invoke(main, ["--help"], env={"COLUMNS": "250"})
    assert r.exit_code == 0
    listed = {line.split()[0]: line.split(None, 1)[1] for line in r.output.split("Commands:\n")[1].splitlines()
              if line.strip()}
    assert set(listed) == set(COMMANDS) and len(COMMANDS) >= 27
    for name, where in COMMANDS.items():
        module, attr = where.split(":")
        command = getattr(importlib.import_module(f"casework.cli.{module}"), attr)
        shown = listed[name].removesuffix("...")  # click shortens the line to the terminal's width
        assert len(shown) > 10 and command.get_short_help_str(limit=1000).startswith(shown), name


def test_an_unknown_command_is_a_usage_error_naming_it():
    r = CliRunner().invoke(main, ["letterz"])
    assert r.exit_code == 2 and "No such command 'letterz'" in r.output


def test_letters_queue_starts_without_the_pdf_layout_web_app_or_scheduler(db_url, session, make_school):
    make_school(session, urn="118001")
    session.commit()
    code, modules, out = _run("letters", "queue", "--school", "118001", "--db", db_url, "--json")
    assert code in (0, None), out
    assert json.loads(out) == []
    assert {"casework", "sqlalchemy"} <= modules  # the probe saw the command's own imports
    assert [m for m in NOT_FOR_THE_QUEUE if m in modules] == []


def test_a_lazily_loaded_command_still_says_what_is_not_there_in_one_line(db_url, engine):
    code, modules, out = _run("letters", "queue", "--school", "999999", "--db", db_url)
    assert code == 1
    assert out.strip().splitlines() == [out.strip().splitlines()[0]] and "999999" in out and "Traceback" not in out
