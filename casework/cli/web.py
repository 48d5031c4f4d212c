"""`casework` commands for the web area (registered on the main group)."""

from __future__ import annotations

import click

from casework.cli.common import as_of_option, ctx_of, db_option
from casework.web import create_app, server


@click.command("serve")
@db_option
@as_of_option
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--threads", default=8, show_default=True, type=int, help="Worker threads (waitress), per process.")
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64),
              help="Worker processes sharing the port: more than one uses more than one core (sign-in "
                   "attempts are then limited per process).")
@click.option("--secure-cookies/--no-secure-cookies", default=None,
              help="Mark cookies Secure (use behind HTTPS; default from $CASEWORK_SECURE_COOKIES).")
@click.option("--trust-proxy", is_flag=True, default=False,
              help="Behind a reverse proxy: take the client's address from X-Forwarded-For (also $CASEWORK_TRUST_PROXY=1).")
def serve(db, as_of, host, port, threads, workers, secure_cookies, trust_proxy):
    """Run the web app (waitress). Set CASEWORK_SECRET_KEY so sessions survive a restart."""

    c = ctx_of(db, as_of)
    config = {"ENGINE": c.engine, "CLOCK": c.clock}
    if trust_proxy:
        config["TRUST_PROXY"] = True
    if secure_cookies is not None:
        config["SESSION_COOKIE_SECURE"] = secure_cookies
    app = create_app(config)
    click.echo(f"casework on http://{host}:{port}/  (as of {c.clock.today():%d %B %Y}"
               + (f"; {workers} worker processes" if workers > 1 else "") + "; Ctrl-C stops)")
    server.serve(app, c.engine, host=host, port=port, threads=threads, workers=workers)
