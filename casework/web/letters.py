"""Letters: what is queued (with its recipients, or what stops it), producing one or all of them
as a print file, and handing back a kept PDF only if it is still exactly what was produced."""

from __future__ import annotations

from flask import Blueprint, Response, abort, flash, redirect, render_template, url_for
from flask_login import current_user

from casework.letters.fields import LetterProblems
from casework.letters.queue import (
    FileProblem,
    batch_file,
    batches,
    letter_file,
    letter_queue,
    produce_one,
    produce_print_batch,
    produced_letters,
)
from casework.web.context import clock, current_school, db, int_arg
from casework.web.permissions import requires

bp = Blueprint("letters", __name__)
PAGE = 25  # letters checked per page (each check renders the letter)


@bp.route("/letters")
@requires("letters.view")
def index():
    school = current_school()
    page = int_arg("page", 1)
    q = letter_queue(db(), school, clock(), limit=PAGE, offset=(page - 1) * PAGE)
    return render_template("letters.html", queue=q.letters, total=q.total, page=page,
                           pages=max(1, -(-q.total // PAGE)), first=(page - 1) * PAGE + 1,
                           ready=sum(1 for x in q.letters if x.ready), batches=batches(db(), school.id),
                           produced=produced_letters(db(), school.id))


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


# A print file a person waits for in the browser: about 20 s of rendering at ~0.4 s a letter.
PRINT_BATCH = 50


@bp.route("/letters/print", methods=["POST"])
@requires("letters.produce")
def produce_all():
    school = current_school()
    result = produce_print_batch(db(), school, clock(), current_user.name, limit=PRINT_BATCH)
    if result.batch is None:
        flash("No letter is ready to produce." + (" Each queued letter has a problem to put right first."
                                                  if result.problems else ""), "error")
        return redirect(url_for("letters.index"))
    n = len(result.produced)
    msg = f"{n} letter{'s' if n != 1 else ''} produced as one print file."
    if result.problems:
        k = len(result.problems)
        msg += f" {k} letter{'s' if k != 1 else ''} with problems {'were' if k != 1 else 'was'} left in the queue."
    if result.remaining:
        msg += (f" {result.remaining} more {'are' if result.remaining != 1 else 'is'} still queued: produce the next print "
                f"file (up to {PRINT_BATCH} at a time).")
    flash(msg, "success")
    return redirect(url_for("letters.index") + f"#batch-{result.batch.id}")


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
    try:
        data, name = letter_file(db(), current_school().id, letter_id)
    except LookupError:
        abort(404)
    except FileProblem as exc:
        return _refused(exc)
    return _pdf(data, name)


@bp.route("/letters/print/<int:batch_id>/file")
@requires("letters.download")
def download_batch(batch_id: int):
    try:
        data, name = batch_file(db(), current_school().id, batch_id)
    except LookupError:
        abort(404)
    except FileProblem as exc:
        return _refused(exc)
    return _pdf(data, name)
