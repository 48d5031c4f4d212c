"""Letters: what is queued (with its recipients, or what stops it), producing one or all of them
as a print file, and handing back a kept PDF only if it is still exactly what was produced."""

from __future__ import annotations

import threading

from flask import Blueprint, Response, abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user

from casework.letters.fields import LetterProblems
from casework.letters.printjob import (
    PrintJobError,
    latest_job,
    print_job_summary,
    run_print_job,
    start_print_job,
)
from casework.letters.queue import (
    FACTS,
    FileProblem,
    LetterError,
    batch_file,
    batches,
    letter_file,
    letter_queue,
    produce_one,
    produced_letters,
    supply_fact,
    withdraw_letter,
)
from casework.web.context import clock, current_school, db, int_arg
from casework.web.permissions import requires

bp = Blueprint("letters", __name__)
PAGE = 25  # letters shown and checked in full per page (each check renders the letter)


@bp.route("/letters")
@requires("letters.view")
def index():
    school = current_school()
    page = int_arg("page", 1)
    q = letter_queue(db(), school, clock(), limit=PAGE, offset=(page - 1) * PAGE)
    return render_template("letters.html", queue=q.letters, total=q.total, page=page,
                           pages=max(1, -(-q.total // PAGE)), first=(page - 1) * PAGE + 1,
                           ready=q.ready, with_problems=q.with_problems, batches=batches(db(), school.id),
                           produced=produced_letters(db(), school.id), job=latest_job(db(), school.id))


@bp.route("/letters/<int:letter_id>/produce", methods=["POST"])
@requires("letters.produce")
def produce(letter_id: int):
    school = current_school()
    try:
        p = produce_one(db(), school.id, letter_id, clock(), current_user.name)
    except LookupError:
        abort(404)
    except LetterProblems as exc:
        db().rollback()
        flash("Not produced — " + "; ".join(exc.problems) + ".", "error")
        return redirect(url_for("letters.index"))
    flash(f"{p.pupil}: {p.label} produced for {'; '.join(p.recipients)} ({p.pages} page{'s' if p.pages != 1 else ''}).",
          "success")
    return redirect(url_for("letters.index") + f"#produced-{p.letter_id}")


@bp.route("/letters/<int:letter_id>/fact", methods=["POST"])
@requires("letters.produce")
def supply(letter_id: int):
    """Give a letter a fact it is missing (the last day of a leave, a meeting's time)."""
    key, value = request.form.get("key", ""), request.form.get("value", "").strip()
    return _change_letter(letter_id, supply_fact, (key, value), "Not saved",
                          lambda req: f"Saved on the letter: {FACTS[key][0].lower()} {req.facts[key]}.",
                          f"#letter-{letter_id}")


@bp.route("/letters/<int:letter_id>/withdraw", methods=["POST"])
@requires("letters.produce")
def withdraw(letter_id: int):
    """A letter that should not go (the figures no longer call for it): out of the queue, with why."""
    return _change_letter(letter_id, withdraw_letter, (request.form.get("reason", ""),), "Not withdrawn",
                          lambda req: "The letter was withdrawn; the reason is on the case.", "")


def _change_letter(letter_id: int, change, args: tuple, refused: str, done, anchor: str):
    """Make a change to one of this school's queued letters and say how it went."""
    try:
        req = change(db(), current_school().id, letter_id, *args, by=current_user.username, now=clock().now())
    except LookupError:
        abort(404)
    except LetterError as exc:
        flash(f"{refused}: {exc}.", "error")
    else:
        flash(done(req), "success")
    return redirect(url_for("letters.index") + anchor)


@bp.route("/letters/print", methods=["POST"])
@requires("letters.produce")
def produce_all():
    """Every ready letter, in print files of up to CHUNK: in the background (the letters page
    shows how far it has got), or at once when the app is told to (tests)."""
    school = current_school()
    try:
        job = start_print_job(db(), school, current_user.name, clock())
    except PrintJobError as exc:
        flash(f"Not started: {exc}.", "error")
        return redirect(url_for("letters.index"))
    db().commit()
    engine = current_app.extensions["casework_engine"]
    if current_app.config.get("PRINT_INLINE"):
        return _finished(run_print_job(engine, job.id, clock()))
    threading.Thread(target=run_print_job, args=(engine, job.id, clock()), daemon=True,
                     name=f"print-job-{job.id}").start()
    flash(f"Producing the {job.total} queued letter{'s' if job.total != 1 else ''} in the background; this page "
          "shows how far it has got.", "info")
    return redirect(url_for("letters.index") + "#print-job")


def _finished(job) -> Response:
    if not job.produced:
        flash("No letter is ready to produce." + (" Each queued letter has a problem to put right first."
                                                  if job.problems else ""), "error")
        return redirect(url_for("letters.index"))
    flash(print_job_summary(job), "success")
    return redirect(url_for("letters.index") + f"#batch-{job.batch_ids[-1]}")


def _pdf(data: bytes, name: str) -> Response:
    return Response(data, mimetype="application/pdf",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


def _refused(exc: FileProblem):
    return render_template("error.html", code=409, title="This file cannot be sent",
                           message=f"{str(exc)[0].upper()}{str(exc)[1:]}. Ask your administrator to look at the "
                                   "letters folder."), 409


@bp.route("/letters/<int:letter_id>/file")
@requires("letters.download")
def download(letter_id: int):
    return _kept_file(letter_file, letter_id)


@bp.route("/letters/print/<int:batch_id>/file")
@requires("letters.download")
def download_batch(batch_id: int):
    return _kept_file(batch_file, batch_id)


def _kept_file(find, file_id: int):
    """A kept PDF of this school's, only if it is still exactly what was produced."""
    try:
        data, name = find(db(), current_school().id, file_id)
    except LookupError:
        abort(404)
    except FileProblem as exc:
        return _refused(exc)
    return _pdf(data, name)
