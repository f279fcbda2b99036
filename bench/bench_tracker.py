"""Tracker budgets: shipped asset sizes after gzip -9 and markup added per page, as ratios of DESIGN.md's budgets.

Also times ``inject`` on a documentation-sized page, next to a bare parse of the same page with
BeautifulSoup (how ``inject`` found its places before darksocial.htmlscan), because integrations call it
once per page built or served.
"""

from __future__ import annotations

import dataclasses
import gzip
import io
import time

from bs4 import BeautifulSoup

from darksocial.inject import ASSET_BUDGETS, STATIC_DIR, STYLES, TrackerConfig, inject, markup_bytes

MARKUP_BUDGET = 8 * 1024
CONFIG = TrackerConfig(
    collector="/-/darksocial/collect", site="bench", script_url="/static/darksocial.js",
    css_url="/static/darksocial.css", site_name="The Example Gazette",
)
PAGE_URL = "https://example.com/2025/06/how-a-forward-reached-a-million-readers/"
TITLE = "How a WhatsApp forward of our longest investigation reached a million readers in a weekend"


def sample_page(paragraphs: int = 300) -> str:
    para = "<p>Lorem ipsum <a href='/x'>dolor</a> sit amet, <code>consectetur</code> adipiscing elit.</p>\n"
    nav = "".join(f"<li><a href='/page-{i}/'>Page {i}</a></li>" for i in range(200))
    return (
        "<!doctype html><html><head><meta charset=utf-8><title>T</title><link rel=stylesheet href=/a.css></head>"
        f"<body><nav><ul>{nav}</ul></nav><main><article><h1>{TITLE}</h1>{para * paragraphs}</article></main>"
        "</body></html>"
    )


def _best_ms(fn, repeat: int = 15) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best * 1000


def main() -> None:
    print(f"{'asset':<16}{'raw B':>8}{'gzip -9 B':>11}{'budget B':>10}{'ratio':>8}")
    for name, budget in ASSET_BUDGETS.items():
        data = (STATIC_DIR / name).read_bytes()
        buffer = io.BytesIO()  # as `gzip -9 FILE` writes it: the file's name is in the header
        with gzip.GzipFile(filename=name, mode="wb", fileobj=buffer, compresslevel=9, mtime=0) as out:
            out.write(data)
        size = len(buffer.getvalue())
        print(f"{name:<16}{len(data):>8}{size:>11}{budget:>10}{size / budget:>8.2f}")
    for style in STYLES:
        added = markup_bytes(dataclasses.replace(CONFIG, style=style), PAGE_URL, TITLE)
        name = f"markup ({style})"
        print(f"{name:<16}{added:>8}{'':>11}{MARKUP_BUDGET:>10}{added / MARKUP_BUDGET:>8.2f}")

    page = sample_page()
    parse_ms = _best_ms(lambda: BeautifulSoup(page, "html.parser"))
    inject_ms = _best_ms(lambda: inject(page, CONFIG, PAGE_URL, TITLE))
    print(f"inject on a {len(page) // 1024} KB page: {inject_ms:.1f} ms; BeautifulSoup parse alone: {parse_ms:.1f} ms "
          f"(ratio {inject_ms / parse_ms:.2f})")


if __name__ == "__main__":
    main()
