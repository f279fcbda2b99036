"""darksocial.spreadsheets: text that would start a formula becomes text; a CSV stream is rewritten record by
record whatever its chunks, in linear time."""

from __future__ import annotations

import csv
import io
import random

import pytest

from darksocial.spreadsheets import CsvNeutraliser, neutralised


@pytest.mark.parametrize(("value", "shown"), [
    ("=1+1", "'=1+1"), ("+cmd", "'+cmd"), ("-x", "'-x"), ("@SUM(A1)", "'@SUM(A1)"), ("\tx", "'\tx"),
    ("\r=1", "'\r=1"), ("-", "'-"), ("-5", "-5"), ("+1.5e3", "+1.5e3"), ("-.5", "-.5"), ("plain", "plain"),
    ("a=b", "a=b"), ("", ""), (-5, -5), (None, None), (2.5, 2.5),
])
def test_a_cell_that_would_be_a_formula_gets_an_apostrophe_and_numbers_stay(value, shown):
    assert neutralised(value) == shown


ROWS = [["title", "name", "value"], ["=cmd|calc!a0", "-5", 'a "quote"\r\nand a line, with comma'],
        ["+sum(1,2)", "@x", "-1.5e3"], ["Crème — 日本語", "-abc", "\tfoo"], ["", "=", "ok"]]


def csv_bytes(rows) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    for row in rows:
        writer.writerow(row)
    return out.getvalue().encode()


def rewritten(data: bytes, sizes) -> bytes:
    neutraliser, out, at = CsvNeutraliser(), b"", 0
    while at < len(data):
        size = next(sizes)
        out += neutraliser.feed(data[at:at + size])
        at += size
    return out + neutraliser.close()


@pytest.mark.parametrize("seed", range(20))
def test_a_stream_is_rewritten_the_same_whatever_its_chunks(seed):
    # Chunks split records, quoted line ends and UTF-8 characters alike.
    rng = random.Random(seed)
    data = csv_bytes(ROWS)
    out = rewritten(data, iter(lambda: rng.randint(1, 9), None))
    assert out == csv_bytes([[neutralised(cell) for cell in row] for row in ROWS])


def test_a_last_record_without_a_line_end_gets_none():
    assert rewritten(b"a,=b", iter([2, 2])) == b"a,'=b"


def test_a_stream_cut_inside_quotes_ends_as_it_came():
    # Datasette's writer never does this; a stream cut short (a dropped connection) loses nothing more.
    assert rewritten(b'a,=b\r\n"open,x', iter([3, 3, 3, 3, 3])) == b"a,'=b\r\n\"open,x"
