"""Many letters laid out as one WeasyPrint document, then cut back into each letter's own PDF.

Laying out a letter costs mostly what every letter shares: the stylesheet cascade, the fonts,
the letterhead, and a second pass for "Page 1 of 2". Letters whose stylesheets are the same
(every letter of one school, unless it has templates of its own) are therefore laid out
together: each recipient's copy starts a new page of its own named page, which resets the page
counter and reads its "of N" from an anchor at its own end, so each copy still says "Page 1 of
2" for itself. The one PDF is then cut by page ranges (pypdf) into each letter's file. A letter
whose HTML is not in the shape the templates give (one ``<style>``, a plain ``<body>``, ``@page``
rules without selectors) is laid out on its own, as before.
"""

from __future__ import annotations

import html as htmllib
import io
import multiprocessing
import os
import re
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from functools import lru_cache

import tinycss2

from casework.letters.fields import TEMPLATES_DIR

_HEAD = re.compile(r"\A\s*<!DOCTYPE html>\s*<html[^>]*>\s*<head>\s*<meta charset=\"utf-8\">\s*"
                   r"<title>(?P<title>.*?)</title>\s*<style>(?P<style>.*?)</style>\s*</head>\s*"
                   r"<body>(?P<body>.*)</body>\s*</html>\s*\Z", re.S | re.I)


@dataclass
class LetterPdf:
    data: bytes
    pages: int


@dataclass
class _Copy:
    """One recipient's copy of a letter, taken apart for laying out with others."""

    title: str
    shared: str  # the stylesheet without its @page rules: copies that share it are laid out together
    pages: list  # the @page rules, parsed
    body: str


def _first_block_end(css: str) -> int:
    """Where the stylesheet's first rule ends if it is a block (``@page { ... }``), else 0: braces
    counted outside strings and comments."""
    depth, i, n = 0, 0, len(css)
    while i < n:
        ch = css[i]
        if ch in "\"'":
            i += 1
            while i < n and css[i] != ch:
                i += 2 if css[i] == "\\" else 1
        elif css.startswith("/*", i):
            i = css.find("*/", i + 2)
            if i < 0:
                return 0
            i += 1
        elif ch == ";" and depth == 0:
            return 0
        elif ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth <= 0:
                return i + 1 if depth == 0 else 0
        i += 1
    return 0


def _sorted_rules(css: str) -> tuple[list, list] | None:
    """A stylesheet's anonymous @page rules and its other rules; None if it has a named or
    :first page of its own or a rule that does not parse (such a letter is laid out alone)."""
    pages, rest = [], []
    for rule in tinycss2.parse_stylesheet(css, skip_comments=True, skip_whitespace=True):
        if rule.type == "at-rule" and rule.lower_at_keyword == "page":
            if tinycss2.serialize(rule.prelude).strip():
                return None
            pages.append(rule)
        elif rule.type == "error":
            return None
        else:
            rest.append(rule)
    return pages, rest


@lru_cache(maxsize=32)
def _shared_rules(css: str) -> tuple[list, str] | None:
    """``_sorted_rules`` of the part of a stylesheet every copy of a school's letters shares, with
    the other rules serialised: worked out once for a print run, not once a copy."""
    sorted_ = _sorted_rules(css)
    return None if sorted_ is None else (sorted_[0], tinycss2.serialize(sorted_[1]))


def _split(html: str) -> _Copy | None:
    m = _HEAD.match(html)
    if m is None:
        return None
    # A copy's stylesheet is an @page rule of its own (its footer), then the school's.
    style = m["style"]
    end = _first_block_end(style) if style.lstrip().startswith("@page") else 0
    own, shared = _sorted_rules(style[:end]), _shared_rules(style[end:])
    if own is None or shared is None:
        return None
    rest = tinycss2.serialize(own[1]) + shared[1]
    return _Copy(htmllib.unescape(m["title"]), rest, own[0] + shared[0], m["body"])


def _page_rules(copy: _Copy, name: str) -> str:
    """The copy's own @page rules under a page name of its own: its first page resets the page
    counter, and "of N" (``counter(pages)``) becomes the page of the anchor at its end."""
    total = f"target-counter(url(#{name}-end), page)"
    rules = [f"@page {name} {{{tinycss2.serialize(r.content).replace('counter(pages)', total)}}}"
             for r in copy.pages]
    return "\n".join(rules) + f"\n@page {name}:nth(1 of {name}) {{ counter-reset: page 1 }}"


def _layout_together(copies: list[_Copy]) -> tuple[bytes, list[int]]:
    """One PDF of the copies one after another, and the index of each copy's last page."""
    from weasyprint import HTML

    names = [f"cw-letter-{i}" for i in range(len(copies))]
    style = copies[0].shared + "\n" + "\n".join(_page_rules(c, n) for c, n in zip(copies, names))
    bodies = "".join(f'<div style="page: {n}; break-before: page">{c.body}<div id="{n}-end"></div></div>'
                     for c, n in zip(copies, names))
    doc = HTML(string=f'<!DOCTYPE html><html lang="en-GB"><head><meta charset="utf-8"><style>{style}</style>'
                      f"</head><body>{bodies}</body></html>", base_url=str(TEMPLATES_DIR)).render()
    last = {}
    for index, page in enumerate(doc.pages):
        for anchor in page.anchors:
            if anchor.startswith("cw-letter-") and anchor.endswith("-end"):
                last[anchor] = index
    return doc.write_pdf(), [last[f"{n}-end"] for n in names]


def _alone(html_pages: list[str]) -> LetterPdf:
    """A letter laid out on its own: each recipient's copy its own document, the pages joined."""
    from weasyprint import HTML

    docs = [HTML(string=h, base_url=str(TEMPLATES_DIR)).render() for h in html_pages]
    pages = [p for d in docs for p in d.pages]
    return LetterPdf(docs[0].copy(pages).write_pdf(), len(pages))


def _cut(data: bytes, ranges: list[tuple[int, int]], titles: list[str]) -> list[LetterPdf]:
    from pypdf import PdfReader, PdfWriter

    reader = PdfReader(io.BytesIO(data))
    info = {k: v for k, v in (reader.metadata or {}).items() if k in ("/Producer", "/Creator", "/CreationDate")}
    out = []
    for (first, last), title in zip(ranges, titles):
        writer = PdfWriter()
        for k in range(first, last + 1):
            writer.add_page(reader.pages[k])
        writer.add_metadata({**info, "/Title": title})
        buf = io.BytesIO()
        writer.write(buf)
        out.append(LetterPdf(buf.getvalue(), last - first + 1))
    return out


def _group(letters: list[list[_Copy]]) -> list[list[int]]:
    """Runs of consecutive letters that share a stylesheet (their indexes)."""
    groups: list[list[int]] = []
    for i, copies in enumerate(letters):
        if groups and letters[groups[-1][0]][0].shared == copies[0].shared:
            groups[-1].append(i)
        else:
            groups.append([i])
    return groups


def _render_group(letters: list[list[_Copy]]) -> list[LetterPdf]:
    copies = [c for letter in letters for c in letter]
    data, ends = _layout_together(copies)
    starts = [0] + [e + 1 for e in ends[:-1]]
    k, ranges = 0, []
    for letter in letters:  # a letter is its copies' pages, first to last
        ranges.append((starts[k], ends[k + len(letter) - 1]))
        k += len(letter)
    return _cut(data, ranges, [letter[0].title for letter in letters])


def render_pdfs(letters: Sequence[list[str]], pool: LayoutPool | None = None) -> list[LetterPdf]:
    """Each letter's PDF (a letter is the HTML of each recipient's copy), in the order given.

    Letters that share a stylesheet are laid out together; with a ``pool`` of worker processes
    (``print_pool``), each run of them is cut in one part per worker, laid out side by side."""
    split = [[_split(h) for h in pages] for pages in letters]
    out: list[LetterPdf | None] = [None] * len(letters)
    together = [i for i, copies in enumerate(split) if copies and all(copies)]
    for i in set(range(len(letters))) - set(together):
        out[i] = _alone(list(letters[i]))
    groups = [[together[j] for j in g] for g in _group([split[i] for i in together])]
    if pool is not None and len(together) > 1:
        groups = [part for g in groups for part in _parts(g, pool.workers)]
        results = list(pool.map(_render_group, [[split[i] for i in g] for g in groups]))
    else:
        results = [_render_group([split[i] for i in g]) for g in groups]
    for g, pdfs in zip(groups, results):
        for i, pdf in zip(g, pdfs):
            out[i] = pdf
    return out


def print_workers() -> int:
    """Worker processes for a print run: ``$CASEWORK_PRINT_WORKERS``, else one per core."""
    value = os.environ.get("CASEWORK_PRINT_WORKERS", "")
    return max(1, int(value)) if value.isdigit() else (os.cpu_count() or 1)


class LayoutPool(ProcessPoolExecutor):
    """Worker processes to lay letters out in, started by a fork server (never forked from the
    web app's threads)."""

    def __init__(self, workers: int):
        super().__init__(max_workers=workers, mp_context=multiprocessing.get_context("forkserver"))
        self.workers = workers


def print_pool(workers: int) -> LayoutPool | None:
    """A pool of ``workers`` processes for a print run (none for one: it is laid out in this one)."""
    return LayoutPool(workers) if workers > 1 else None


def _parts(indexes: list[int], n: int) -> list[list[int]]:
    size = -(-len(indexes) // n)
    return [indexes[k:k + size] for k in range(0, len(indexes), size)]
