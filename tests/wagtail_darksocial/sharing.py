"""A cascade A → B → C on a demo article, sent through the core collector (as the tracker would)."""

from __future__ import annotations

import json

from wagtail_darksocial import database

FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:132.0) Gecko/20100101 Firefox/132.0"
URL = "http://localhost:8000/harbour-lights/"


def send(events: list[dict]) -> None:
    result = database.collector().ingest(json.dumps(events).encode(), origin="http://localhost:8000",
                                         user_agent=FIREFOX, ip="203.0.113.5", content_type="text/plain")
    assert result.status == 204, result


def share_cascade(a_name: str | None = None) -> None:
    """A opens the article and shares it on WhatsApp; B opens A's link and re-shares by email; C opens B's link;
    D opens A's link too (so A reaches more people than B: the report ranks by reach)."""
    a, b, c, d = "visitorAAAA", "visitorBBBB", "visitorCCCC", "visitorDDDD"
    send([{"k": "view", "s": "localhost", "u": URL, "t": "PVaaaaaaaa", "v": a, "n": "Harbour lights"}])
    if a_name:
        send([{"k": "identify", "s": "localhost", "v": a, "x": "user:a", "n": a_name}])
    send([{"k": "share", "s": "localhost", "u": URL, "t": "SHaaaaaaaa", "p": "PVaaaaaaaa", "c": "wa", "v": a}])
    send([{"k": "view", "s": "localhost", "u": URL, "t": "PVbbbbbbbb", "i": "SHaaaaaaaa.wa", "v": b}])
    send([{"k": "share", "s": "localhost", "u": URL, "t": "SHbbbbbbbb", "p": "PVbbbbbbbb", "c": "em", "v": b}])
    send([{"k": "view", "s": "localhost", "u": URL, "t": "PVcccccccc", "i": "SHbbbbbbbb.em", "v": c}])
    send([{"k": "view", "s": "localhost", "u": URL, "t": "PVdddddddd", "i": "SHaaaaaaaa.wa", "v": d}])
