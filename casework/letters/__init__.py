"""Letters, registration certificates and evidence bundles.

- ``fields``: the mail-merge fields and recipients of a queued letter, every gap found first;
- ``certificate``: a pupil's register over a period as a calendar grid with a key and totals;
- ``render``: templates to print-ready A4 PDF, kept, hashed and logged on the case; batch printing;
- ``bundle``: the evidence bundle for a penalty notice request or a prosecution referral.
"""

from casework.letters.fields import LetterProblems, Recipient, prepare_letter
from casework.letters.render import BatchProblems, ProducedLetter, letters_dir, render_letter, render_queued

__all__ = ["BatchProblems", "LetterProblems", "ProducedLetter", "Recipient", "letters_dir", "prepare_letter",
           "render_letter", "render_queued"]
