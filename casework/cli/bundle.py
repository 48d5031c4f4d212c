"""``casework bundle``: the evidence bundle for a penalty notice request or prosecution referral.

Its own module, so that the letters commands do not load what a bundle reads (the case's
explanation, its moves and findings)."""

from __future__ import annotations

from pathlib import Path

import click

from casework.cli import common as cli
from casework.letters.bundle import BundleProblems, evidence_bundle
from casework.store.db import session_scope


@click.command("bundle")
@click.argument("case_id", type=int)
@click.option("--out", "out", type=click.Path(path_type=Path), required=True, help="The PDF to write.")
@cli.common_options
def bundle_cmd(case_id, out, db, as_of, as_json):
    """The evidence bundle for a penalty notice request or prosecution referral, as one PDF."""

    c = cli.ctx_of(db, as_of)
    try:
        with session_scope(c.engine) as s:
            b = evidence_bundle(s, case_id, c.clock, out)
    except LookupError as exc:
        cli.fail(str(exc).strip("'\""))
    except BundleProblems as exc:
        cli.fail("the bundle cannot be made: " + "; ".join(exc.problems))
    if as_json:
        cli.emit_json({"file": str(b.file), "pages": b.pages, "sections": b.sections, "letters": b.letters,
                       "sha256": b.sha256})
    else:
        cli.console.print(f"Wrote {b.file}: {b.pages} page(s), {len(b.sections)} sections and {b.letters} letter(s) as sent.",
                          highlight=False)
