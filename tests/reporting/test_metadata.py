"""The metadata analysts meet: a title, what darksocial measures, every table and column described (from
darksocial.tables, the one place), default sorts and facets."""

from __future__ import annotations

import html

import pytest

from darksocial import tables
from reporting import metadata


def test_the_anonymous_home_page_says_what_is_public_and_how_to_sign_in(inproc):
    page = inproc.get("/").text
    assert "<title>darksocial: " in page and "<h1>darksocial</h1>" in page
    assert "Direct / None" in page and "<strong>Public:</strong>" in page
    assert 'href="/darksocial/top_stories"' in page and 'href="/-/login"' in page and "darksocial login-link" in page


@pytest.mark.parametrize("table", [t.name for t in tables.ANALYST_TABLES])
def test_every_analyst_table_and_column_is_described_from_darksocial_tables(inproc, table):
    page = html.unescape(inproc.get(f"/darksocial/{table}", signed_in=True).text)
    definition = tables.TABLES[table]
    assert definition.description in page
    for column in definition.columns:
        assert f"{column.name}</dt><dd>{column.description}</dd>" in page, column.name


def test_raw_tables_are_described_and_attribution_state_is_hidden(inproc):
    page = html.unescape(inproc.get("/darksocial/events", signed_in=True).text)
    assert metadata.RAW_TABLE_DESCRIPTIONS["events"] in page
    database_page = inproc.get("/darksocial", signed_in=True).text
    assert "_ds_influence" not in database_page.split("hidden tables")[0]


@pytest.mark.parametrize(("table", "sort", "facets"), [
    ("influencers", "reach", ["tier", "top_channel", "kind"]),
    ("visits", "ts", ["medium", "channel", "source", "site"]),
    ("shares", "clicks", ["medium", "channel", "origin", "site"]),
    ("daily", "date", ["medium", "channel", "site"]),
    ("channels", "visits", ["medium"]),
])
def test_default_sort_and_facets(inproc, table, sort, facets):
    data = inproc.get(f"/darksocial/{table}.json", signed_in=True).json()
    assert f"sorted by {sort} descending" in data["human_description_en"]
    assert list(data["facet_results"]) == facets
    values = [row[data["columns"].index(sort)] for row in data["rows"]]
    assert values == sorted(values, key=lambda v: (v is not None, v), reverse=True)


def test_facet_counts_are_real(inproc):
    data = inproc.get("/darksocial/visits.json", signed_in=True).json()
    medium = {r["value"]: r["count"] for r in data["facet_results"]["medium"]["results"]}
    assert medium == {"dark": 5, "search": 2, "open": 1, "direct": 1}
