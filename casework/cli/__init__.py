"""The ``casework`` command: parse, call the domain, print. No rule lives here.

Each command group lives in its own module (register, workflows, cases, letters, scheduler, web, demo);
this module names them, and a command's module is imported only when that command runs (or
``--help`` lists them), so ``casework letters queue`` does not start by loading the web app, the
scheduler and the PDF layout.
"""

from __future__ import annotations

import atexit
import gc
import importlib

import click

from casework.cli.common import Group

# Every command: its name -> "module:attribute" under casework.cli (--help lists them by name).
COMMANDS = {
    "audit": "audit:audit",
    "backup": "records:backup_cmd",
    "restore": "records:restore_cmd",
    "export": "records:export",
    "retention": "records:retention",
    "evaluate": "cases:evaluate",
    "cases": "cases:cases_cmd",
    "case": "cases:case",
    "timers": "cases:timers_cmd",
    "demo": "demo:demo",
    "letters": "letters:letters",
    "bundle": "bundle:bundle_cmd",
    "nightly": "nightly:nightly",
    "school": "register:school",
    "import": "register:import_cmd",
    "stats": "register:stats",
    "register": "register:register",
    "scheduler": "scheduler:scheduler_cmd",
    "replay": "scheduler:replay_cmd",
    "jobs": "scheduler:jobs_cmd",
    "outbox": "scheduler:outbox_cmd",
    "user": "users:user",
    "serve": "web:serve",
    "workflow": "workflows:workflow",
    "report": "reports:report",
    "explain": "explain:explain",
    "whatif": "whatif:whatif_cmd",
}


class LazyGroup(Group):
    """click's lazily loading group ("Advanced Groups" in click's documentation): the commands
    are named here and each is imported from its module the first time it is asked for."""

    def __init__(self, *args, lazy: dict[str, str], **kwargs):
        super().__init__(*args, **kwargs)
        self.lazy = lazy

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(self.lazy) | set(super().list_commands(ctx)))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.lazy and cmd_name not in self.commands:
            module, attr = self.lazy[cmd_name].split(":")
            self.add_command(getattr(importlib.import_module(f"casework.cli.{module}"), attr), cmd_name)
        return super().get_command(ctx, cmd_name)


# A command's process is about to end: let it go without first collecting every object its
# imports made (a tenth to a fifth of a second of a short command's CPU).
atexit.register(gc.freeze)


@click.group(cls=LazyGroup, lazy=COMMANDS, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="casework")
def main() -> None:
    """casework: attendance and safeguarding casework for schools."""


if __name__ == "__main__":
    main()
