"""Reports as files (CSV, XLSX) that are safe to open in a spreadsheet.

A cell that begins with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is read by
Excel, LibreOffice and Google Sheets as a formula: a school or pupil name such as
``=HYPERLINK(...)`` would run when a governor opens the file (OWASP, "CSV injection").
Every text cell goes through ``safe_cell``, which puts an apostrophe in front; numbers
stay numbers.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass

from openpyxl import Workbook

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value):
    """A cell value a spreadsheet will show as text, never run as a formula."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


@dataclass
class Sheet:
    name: str
    title: str
    header: Sequence[str]
    rows: Sequence[Sequence]

    def lines(self) -> list[list]:
        return [[safe_cell(self.title)], [safe_cell(h) for h in self.header],
                *([safe_cell(v) for v in row] for row in self.rows)]


def to_csv(sheets: Sequence[Sheet]) -> str:
    """All sheets one after another, a blank line between them."""
    buf = io.StringIO()
    w = csv.writer(buf)
    for i, sheet in enumerate(sheets):
        if i:
            w.writerow([])
        w.writerows(sheet.lines())
    return buf.getvalue()


def to_xlsx(sheets: Sequence[Sheet]) -> bytes:
    wb = Workbook()
    wb.remove(wb.active)
    for sheet in sheets:
        ws = wb.create_sheet(sheet.name)
        for line in sheet.lines():
            ws.append(line)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()
