"""Unique Pupil Numbers (DfE): 13 characters, a check letter then 12 characters.

The check letter is the sum of each of characters 2–13 multiplied by its position,
modulo 23, read off ``ABCDEFGHJKLMNPQRTUVWXYZ``. Characters 2–12 are digits; a
temporary UPN has a letter from the same alphabet in position 13, counted by its
place in that alphabet.
"""

from __future__ import annotations

ALPHABET = "ABCDEFGHJKLMNPQRTUVWXYZ"


def _value(ch: str) -> int:
    if ch.isdigit():
        return int(ch)
    return ALPHABET.index(ch)


def check_letter(body: str) -> str:
    """The check letter for the 12 characters after it."""
    return ALPHABET[sum(_value(ch) * pos for pos, ch in enumerate(body, start=2)) % 23]


def upn_problem(upn: str) -> str | None:
    """Why ``upn`` is not a valid UPN, or None if it is."""
    if len(upn) != 13:
        return f"UPN {upn!r} should be 13 characters, not {len(upn)}"
    if upn[0] not in ALPHABET:
        return f"UPN {upn!r} should start with a check letter"
    if not upn[1:12].isdigit():
        return f"UPN {upn!r}: characters 2 to 12 should be digits"
    if not (upn[12].isdigit() or upn[12] in ALPHABET):
        return f"UPN {upn!r}: the last character should be a digit or a letter"
    expected = check_letter(upn[1:])
    if upn[0] != expected:
        return f"UPN {upn!r} has check letter {upn[0]} but its digits give {expected}"
    return None


def make_upn(la_code: int, establishment: int, year: int, serial: int) -> str:
    body = f"{la_code:03d}{establishment:04d}{year % 100:02d}{serial:03d}"
    return check_letter(body) + body
