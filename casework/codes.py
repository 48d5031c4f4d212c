"""The attendance codes: the one place in casework that says what a code means.

Source: DfE *Working together to improve school attendance* (August 2024) and the
School Attendance (Pupil Registration) (England) Regulations 2024, which set the
2024 code set. Older policies still use the pre-2024 codes F, H, J and Y; they are
kept here as legacy codes that map onto their 2024 equivalent, so a legacy mark
counts exactly as its 2024 code does.

Every other module asks this table (``CODES``, ``meaning()``, the ``*_CODES``
sets) and never restates a code's meaning.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Category(str, Enum):
    """What a session counts as in the statistics (docs/domain.md §1)."""

    PRESENT = "present"
    APPROVED_ACTIVITY = "approved_activity"  # attending a place other than school
    AUTHORISED = "authorised"
    UNAUTHORISED = "unauthorised"
    NOT_POSSIBLE = "not_possible"  # not counted as a possible session


@dataclass(frozen=True)
class Code:
    code: str
    group: str
    description: str
    category: Category
    legacy_for: str | None = None  # a legacy code names its 2024 equivalent

    @property
    def possible(self) -> bool:
        return self.category is not Category.NOT_POSSIBLE

    @property
    def attending(self) -> bool:
        """Counts towards attendance % (present or approved educational activity)."""
        return self.category in (Category.PRESENT, Category.APPROVED_ACTIVITY)

    @property
    def authorised(self) -> bool:
        return self.category is Category.AUTHORISED

    @property
    def unauthorised(self) -> bool:
        return self.category is Category.UNAUTHORISED

    @property
    def absent(self) -> bool:
        return self.category in (Category.AUTHORISED, Category.UNAUTHORISED)


_P, _A, _AU, _UN, _NP = (
    Category.PRESENT,
    Category.APPROVED_ACTIVITY,
    Category.AUTHORISED,
    Category.UNAUTHORISED,
    Category.NOT_POSSIBLE,
)

_TABLE: list[Code] = [
    # Present
    Code("/", "present", "Present (AM)", _P),
    Code("\\", "present", "Present (PM)", _P),
    Code("L", "present", "Late, arrived before the register closed", _P),
    # Attending a place other than the school (approved educational activity)
    Code("K", "approved activity", "Attending education provision arranged by the local authority", _A),
    Code("V", "approved activity", "Attending an educational visit or trip", _A),
    Code("P", "approved activity", "Participating in a supervised sporting activity", _A),
    Code("W", "approved activity", "Attending work experience", _A),
    Code("B", "approved activity", "Attending any other approved educational activity", _A),
    Code("D", "dual registered", "Dual registered: at another school at the time", _NP),
    # Leave of absence granted by the school
    Code("C1", "leave of absence", "Leave to take part in a regulated performance or employment abroad", _AU),
    Code("M", "leave of absence", "Leave for a medical or dental appointment", _AU),
    Code("J1", "leave of absence", "Leave to attend an interview", _AU),
    Code("S", "leave of absence", "Study leave", _AU),
    Code("C2", "leave of absence", "Leave for a part-time timetable", _AU),
    Code("C", "leave of absence", "Leave granted for exceptional circumstances", _AU),
    Code("X", "not required to attend", "Not of compulsory school age and not required to attend", _NP),
    # Other authorised absence
    Code("T", "other authorised", "Parent travelling for occupational purposes (Traveller)", _AU),
    Code("R", "other authorised", "Religious observance", _AU),
    Code("I", "other authorised", "Illness (not medical or dental appointment)", _AU),
    Code("E", "other authorised", "Suspended or excluded, no alternative provision made", _AU),
    # Unable to attend because of an unavoidable cause
    Code("Q", "unavoidable cause", "Unable to attend: lack of access arrangements", _NP),
    Code("Y1", "unavoidable cause", "Unable to attend: transport normally provided not available", _NP),
    Code("Y2", "unavoidable cause", "Unable to attend: widespread disruption to travel", _NP),
    Code("Y3", "unavoidable cause", "Unable to attend: part of the school premises closed", _NP),
    Code("Y4", "unavoidable cause", "Unable to attend: whole school site unexpectedly closed", _NP),
    Code("Y5", "unavoidable cause", "Unable to attend: held in criminal justice detention", _NP),
    Code("Y6", "unavoidable cause", "Unable to attend: public health guidance or law", _NP),
    Code("Y7", "unavoidable cause", "Unable to attend: any other unavoidable cause", _NP),
    # Unauthorised absence
    Code("G", "unauthorised", "Holiday not granted by the school", _UN),
    Code("N", "unauthorised", "Reason for absence not yet established", _UN),
    Code("O", "unauthorised", "Absent in other or unknown circumstances", _UN),
    Code("U", "unauthorised", "Arrived after the register closed", _UN),
    # Administrative
    Code("Z", "administrative", "Pupil not yet on the admission register", _NP),
    Code("#", "administrative", "Planned whole or partial school closure", _NP),
]

# Pre-2024 codes still found in older policies and MIS exports. Each counts as
# the 2024 code it maps onto.
_LEGACY: dict[str, tuple[str, str]] = {
    "F": ("C", "Agreed extended family holiday (pre-2024 code)"),
    "H": ("C", "Holiday authorised by the school (pre-2024 code)"),
    "J": ("J1", "Interview (pre-2024 code)"),
    "Y": ("Y7", "Unable to attend due to exceptional circumstances (pre-2024 code)"),
}

CODES: dict[str, Code] = {c.code: c for c in _TABLE}
for _legacy, (_target, _desc) in _LEGACY.items():
    _t = CODES[_target]
    CODES[_legacy] = Code(_legacy, _t.group, _desc, _t.category, legacy_for=_target)

CURRENT_CODES: tuple[str, ...] = tuple(c.code for c in _TABLE)


def is_code(code: str) -> bool:
    return code in CODES


def meaning(code: str) -> Code:
    """The meaning of a code; raises KeyError naming the code if unknown."""
    try:
        return CODES[code]
    except KeyError:
        raise KeyError(f"unknown attendance code {code!r}") from None


def codes_in(category: Category) -> frozenset[str]:
    return frozenset(c.code for c in CODES.values() if c.category is category)


def codes_where(predicate) -> frozenset[str]:
    return frozenset(c.code for c in CODES.values() if predicate(c))


POSSIBLE_CODES = codes_where(lambda c: c.possible)
ATTENDING_CODES = codes_where(lambda c: c.attending)
PRESENT_CODES = codes_in(Category.PRESENT)
APPROVED_ACTIVITY_CODES = codes_in(Category.APPROVED_ACTIVITY)
AUTHORISED_CODES = codes_in(Category.AUTHORISED)
UNAUTHORISED_CODES = codes_in(Category.UNAUTHORISED)


def canonical(code: str) -> str:
    """The 2024 code a mark counts as (a legacy code becomes its equivalent)."""
    c = meaning(code)
    return c.legacy_for or c.code

# Codes that particular rules look for by name. Their meaning is still the table above.
LATE_BEFORE_CLOSE = "L"
LATE_AFTER_CLOSE = "U"
ILLNESS = "I"
TRAVELLER = "T"
HOLIDAY_NOT_GRANTED = "G"
REASON_NOT_ESTABLISHED = "N"
MEDICAL_APPOINTMENT = "M"
EXCLUDED = "E"
SCHOOL_CLOSED = "#"
