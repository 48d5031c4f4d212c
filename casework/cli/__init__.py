"""The ``casework`` command: parse, call the domain, print. No rule lives here.

Each command group lives in its own module (register, workflows, cases, letters, scheduler, web, demo);
this module builds the ``main`` group from them.
"""

from __future__ import annotations

import click

from casework.cli import (
    audit,
    cases,
    demo,
    letters,
    nightly,
    records,
    register,
    scheduler,
    users,
    web,
    workflows,
)
from casework.cli import explain as explain_cli
from casework.cli import reports as report_cmds
from casework.cli import whatif as whatif_cli
from casework.cli.common import Group


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="casework")
def main() -> None:
    """casework: attendance and safeguarding casework for schools."""


for _command in (
    audit.audit,
    records.backup_cmd,
    records.restore_cmd,
    records.export,
    records.retention,
    cases.evaluate,
    cases.cases_cmd,
    cases.case,
    cases.timers_cmd,
    demo.demo,
    letters.letters,
    letters.bundle_cmd,
    nightly.nightly,
    register.school,
    register.import_cmd,
    register.stats,
    register.register,
    scheduler.scheduler_cmd,
    scheduler.replay_cmd,
    scheduler.jobs_cmd,
    scheduler.outbox_cmd,
    users.user,
    web.serve,
    workflows.workflow,
):
    main.add_command(_command)
main.add_command(report_cmds.report)
main.add_command(explain_cli.explain)
main.add_command(whatif_cli.whatif_cmd)

if __name__ == "__main__":
    main()
