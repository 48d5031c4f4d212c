"""One validated model per row of each CSV import (pydantic): what a column must hold, and
the words a person reads when it does not. Checks across rows (a UPN twice, terms that
overlap) and against the database stay with the importer."""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    ValidationError,
    ValidationInfo,
    create_model,
    field_validator,
)

from casework.register.calendar import SESSIONS
from casework.register.upn import upn_problem
from casework.store.models import CONTACT_PHONES, PUPIL_FLAGS, RAG_RATINGS

TRUE = {"y", "yes", "true", "1", "t"}
FALSE = {"n", "no", "false", "0", "f", ""}
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def parse_date(text: str) -> dt.date:
    """ISO dates (2025-09-03) or the UK form MIS exports use (03/09/2025)."""
    text = text.strip()
    try:
        if "/" in text:
            d, m, y = text.split("/")
            if len(y) != 4:
                raise ValueError
            return dt.date(int(y), int(m), int(d))
        if not _ISO_DATE.fullmatch(text):
            raise ValueError  # fromisoformat would also take week dates such as 2025-W36-3
        return dt.date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"malformed date {text!r} (use YYYY-MM-DD or DD/MM/YYYY)") from None


def parse_bool(text: str) -> bool:
    t = text.strip().lower()
    if t in TRUE:
        return True
    if t in FALSE:
        return False
    raise ValueError(f"expected yes or no, not {text!r}")


def parse_year_group(text: str) -> int:
    t = text.strip().upper()
    if t in ("R", "REC", "RECEPTION"):
        return 0
    if t in ("N", "N1", "N2", "NURSERY"):
        return -1
    t = t.removeprefix("Y").removeprefix("EAR ").strip()
    try:
        n = int(t)
    except ValueError:
        raise ValueError(f"unknown year group {text!r} (use R, N or 1 to 14)") from None
    if not 1 <= n <= 14:
        raise ValueError(f"year group {n} is outside 1 to 14")
    return n


def _not_empty(v: str) -> str:
    if not v:
        raise ValueError("is empty")
    return v


def _upn(v: str) -> str:
    problem = upn_problem(v)
    if problem:
        raise ValueError(problem)
    return v


def _yes_if_blank(v: str) -> bool:
    return parse_bool(v or "yes")


def _address(v: str) -> str:
    """MIS exports put the lines of an address in one field, separated by commas or newlines."""
    return "\n".join(p for p in (x.strip() for x in v.replace("\n", ",").split(",")) if p)


def _email(v: str) -> str:
    if v and ("@" not in v or " " in v):
        raise ValueError(f"{v!r} is not an email address")
    return v


def _priority(v: str) -> int:
    text = v or "1"
    if not text.isdigit() or int(text) < 1:
        raise ValueError(f"expected a whole number from 1, not {text!r}")
    return int(text)


def _rag(v: str) -> str | None:
    rag = v.lower() or None
    if rag is not None and rag not in RAG_RATINGS:
        raise ValueError(f"expected red, amber, green or blank, not {rag!r}")
    return rag


Text = Annotated[str, AfterValidator(_not_empty)]
Date = Annotated[dt.date, BeforeValidator(parse_date)]
YesNo = Annotated[bool, BeforeValidator(parse_bool)]
YesIfBlank = Annotated[bool, BeforeValidator(_yes_if_blank)]


class Row(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)


PupilRow = create_model(
    "PupilRow", __base__=Row,
    upn=(Annotated[str, BeforeValidator(str.upper), AfterValidator(_upn)], ...),
    forename=(Text, ...), surname=(Text, ...), date_of_birth=(Date, ...),
    year_group=(Annotated[int, BeforeValidator(parse_year_group)], ...),
    vulnerability_rag=(Annotated[str | None, BeforeValidator(_rag)], None),
    on_roll=(YesIfBlank, True),
    **{flag: (YesNo, False) for flag in PUPIL_FLAGS},
)


ContactRow = create_model(
    "ContactRow", __base__=Row,
    upn=(Annotated[str, BeforeValidator(str.upper)], ...), name=(Text, ...), relationship=(Text, ...),
    parental_responsibility=(YesIfBlank, True), lives_with_pupil=(YesIfBlank, True),
    **{phone: (str, "") for phone in CONTACT_PHONES},
    postcode=(str, ""),
    address=(Annotated[str, AfterValidator(_address)], ""),
    email=(Annotated[str, AfterValidator(_email)], ""),
    call_priority=(Annotated[int, BeforeValidator(_priority)], 1),
)


class CalendarRow(Row):
    label: str = ""
    start: Date
    end: Date
    kind: Annotated[Literal["term", "closure"], BeforeValidator(lambda v: v.strip().lower())]
    session: str | None = None

    @field_validator("end")
    @classmethod
    def _after_start(cls, end: dt.date, info: ValidationInfo) -> dt.date:
        start = info.data.get("start")
        if start is not None and end < start:
            raise ValueError(f"ends ({end}) before it starts ({start})")
        return end

    @field_validator("session", mode="before")
    @classmethod
    def _session(cls, v: str | None, info: ValidationInfo) -> str | None:
        sess = (v or "").strip().upper() or None
        if sess is not None and sess not in SESSIONS:
            raise ValueError(f"expected AM, PM or blank, not {sess!r}")
        if sess is not None and info.data.get("kind") == "term":
            raise ValueError("a term is whole days; give a session only for a closure")
        return sess


def row_problems(exc: ValidationError) -> list[tuple[str, str]]:
    """(column, reason) for each problem pydantic found in a row."""
    out = []
    for e in exc.errors():
        column = str(e["loc"][0]) if e["loc"] else ""
        if e["type"] == "literal_error" and column == "kind":
            reason = f"expected term or closure, not {e['input']!r}"
        else:
            reason = e["msg"].removeprefix("Value error, ")
        out.append((column, reason))
    return out
