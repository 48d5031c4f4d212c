"""The codes table against docs/domain.md §1, written out here independently of casework/codes.py."""

from __future__ import annotations

import pytest

from casework import codes
from casework.codes import CODES, Category

# docs/domain.md §1, row by row: (codes, possible session?, counts as)
P, A, AU, UN, NP = "present", "approved", "authorised", "unauthorised", None
DOMAIN_TABLE = [
    (["/", "\\", "L"], True, P),
    (["K", "V", "P", "W", "B"], True, A),
    (["D"], False, NP),
    (["C1", "M", "J1", "S", "C2", "C"], True, AU),
    (["X"], False, NP),
    (["T", "R", "I", "E"], True, AU),
    (["Q", "Y1", "Y2", "Y3", "Y4", "Y5", "Y6", "Y7"], False, NP),
    (["G", "N", "O", "U"], True, UN),
    (["Z", "#"], False, NP),
]
EXPECTED = {c: (possible, counts) for cs, possible, counts in DOMAIN_TABLE for c in cs}
CATEGORY_OF = {P: Category.PRESENT, A: Category.APPROVED_ACTIVITY, AU: Category.AUTHORISED,
               UN: Category.UNAUTHORISED, NP: Category.NOT_POSSIBLE}


def test_the_2024_set_has_exactly_the_domain_codes():
    assert len(EXPECTED) == 34  # 3 + 5 + 1 + 6 + 1 + 4 + 8 + 4 + 2
    assert set(codes.CURRENT_CODES) == set(EXPECTED)


@pytest.mark.parametrize("code", sorted(EXPECTED))
def test_each_2024_code_counts_as_domain_md_says(code):
    possible, counts = EXPECTED[code]
    c = codes.meaning(code)
    assert c.possible is possible
    assert c.category is CATEGORY_OF[counts]
    assert c.attending is (counts in (P, A))
    assert c.authorised is (counts == AU)
    assert c.unauthorised is (counts == UN)
    assert c.absent is (counts in (AU, UN))
    assert c.legacy_for is None
    assert c.description


@pytest.mark.parametrize("legacy,target", [("F", "C"), ("H", "C"), ("J", "J1"), ("Y", "Y7")])
def test_legacy_codes_count_as_their_2024_equivalent(legacy, target):
    c = codes.meaning(legacy)
    assert c.legacy_for == target
    assert codes.canonical(legacy) == target
    assert c.category is CATEGORY_OF[EXPECTED[target][1]]
    assert legacy not in codes.CURRENT_CODES


def test_derived_sets_follow_the_table():
    assert codes.POSSIBLE_CODES == {c for c, (p, _) in EXPECTED.items() if p} | {"F", "H", "J"}
    assert codes.ATTENDING_CODES == {"/", "\\", "L", "K", "V", "P", "W", "B"}
    assert codes.UNAUTHORISED_CODES == {"G", "N", "O", "U"}
    assert codes.AUTHORISED_CODES == {"C1", "M", "J1", "S", "C2", "C", "T", "R", "I", "E", "F", "H", "J"}
    # Y (legacy) is not possible, like Y7.
    assert "Y" not in codes.POSSIBLE_CODES


def test_unknown_code_is_refused_by_name():
    assert not codes.is_code("Q9")
    with pytest.raises(KeyError, match="Q9"):
        codes.meaning("Q9")
    # Codes are case sensitive: the register uses capitals.
    assert not codes.is_code("g")


def test_attendance_percentage_is_present_plus_approved_over_possible():
    # docs/domain.md §1 defines attendance % = (present + approved activity) / possible.
    # 10 sessions: 6 '/', 2 'V', 1 'I', 1 'X'. X is not possible, so possible = 9;
    # attending = 6 + 2 = 8; 8 / 9 = 88.888...%.
    from casework.stats import Figures

    f = Figures()
    for code, n in (("/", 6), ("V", 2), ("I", 1), ("X", 1)):
        f.add(code, 0, n)
    assert f.possible_sessions == 9
    assert f.present == 8
    assert f.attendance_pct == pytest.approx(800 / 9)


def test_named_codes_exist():
    for name in ("LATE_BEFORE_CLOSE", "LATE_AFTER_CLOSE", "ILLNESS", "TRAVELLER", "HOLIDAY_NOT_GRANTED",
                 "REASON_NOT_ESTABLISHED", "MEDICAL_APPOINTMENT", "EXCLUDED", "SCHOOL_CLOSED"):
        assert getattr(codes, name) in CODES
    assert (codes.LATE_BEFORE_CLOSE, codes.LATE_AFTER_CLOSE) == ("L", "U")
