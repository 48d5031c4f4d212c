"""Unique Pupil Numbers: the DfE check letter, worked by hand."""

from __future__ import annotations

import pytest

from casework.register.upn import check_letter, make_upn, upn_problem

# Worked example. LA 886 (Kent), establishment 2999, year 20, serial 001:
# body 8 8 6 2 9 9 9 2 0 0 0 1 in positions 2..13, each digit times its position:
#   8*2 + 8*3 + 6*4 + 2*5 + 9*6 + 9*7 + 9*8 + 2*9 + 0*10 + 0*11 + 0*12 + 1*13
#   = 16 + 24 + 24 + 10 + 54 + 63 + 72 + 18 + 0 + 0 + 0 + 13 = 294
# 294 mod 23 = 294 - 12*23 = 18; the 19th letter of ABCDEFGHJKLMNPQRTUVWXYZ
# (I, O and S are left out) is V.
WORKED = "V886299920001"


def test_check_letter_worked_by_hand():
    assert check_letter("886299920001") == "V"
    assert make_upn(886, 2999, 2020, 1) == WORKED
    assert upn_problem(WORKED) is None


def test_temporary_upn_letter_counts_by_its_place_in_the_alphabet():
    # A temporary UPN ends in a letter: B is 1 in the alphabet, so B*13 = 13, as the digit 1 above.
    assert check_letter("88629992000B") == "V"
    assert upn_problem("V88629992000B") is None


@pytest.mark.parametrize("upn,words", [
    ("V88629992000", "13 characters, not 12"),
    ("V8862999200011", "13 characters, not 14"),
    ("", "13 characters, not 0"),
    ("I886299920001", "check letter"),           # I is not in the check alphabet
    ("1886299920001", "check letter"),
    ("V88629A920001", "digits"),                 # a letter among characters 2-12
    ("V88629992000I", "last character"),         # I is not a UPN letter
    ("A886299920001", "has check letter A but its digits give V"),
    ("W886299920001", "has check letter W but its digits give V"),
])
def test_invalid_upns_say_why(upn, words):
    problem = upn_problem(upn)
    assert problem is not None and words in problem


def test_one_changed_digit_is_caught():
    # Swapping the serial 001 for 002 adds 13 to the sum: 307 mod 23 = 8, J, not V.
    assert upn_problem("V886299920002") is not None
    assert check_letter("886299920002") == "J"


def test_make_upn_always_valid():
    for serial in range(0, 1000, 37):
        assert upn_problem(make_upn(201, 4567, 2019, serial)) is None
