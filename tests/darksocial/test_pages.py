"""darksocial.pages.upsert_pages: the one writer of the ``pages`` table (the manifest import and the Wagtail app)."""

from __future__ import annotations

import pytest

from darksocial import pages


def test_upsert_pages_inserts_then_updates_and_keeps_pages_left_out(scenario):
    first = [pages.PageEntry("https://blog.example/a", "A", "About A", "2026-01-02"),
             pages.PageEntry("https://blog.example/b", "B")]
    assert pages.upsert_pages(scenario.db, "blog", first) == 2
    assert pages.upsert_pages(scenario.db, "blog", [pages.PageEntry("https://blog.example/a", "A, retitled")]) == 1
    rows = {row["url"]: row for row in scenario.rows("pages", site="blog")}
    assert set(rows) == {"https://blog.example/a", "https://blog.example/b"}
    assert (rows["https://blog.example/a"]["title"], rows["https://blog.example/a"]["description"]) == \
        ("A, retitled", None)
    assert rows["https://blog.example/b"]["title"] == "B" and rows["https://blog.example/b"]["imported"]
    assert pages.upsert_pages(scenario.db, "blog", []) == 0


def test_upsert_pages_refuses_a_bad_site_or_a_relative_url_and_writes_nothing(scenario):
    with pytest.raises(pages.ManifestError, match="site must be a site id"):
        pages.upsert_pages(scenario.db, "not a site!", [pages.PageEntry("https://blog.example/a", "A")])
    with pytest.raises(pages.ManifestError, match="absolute http"):
        pages.upsert_pages(scenario.db, "blog", [pages.PageEntry("https://blog.example/a", "A"),
                                                 pages.PageEntry("/b", "B")])
    assert scenario.rows("pages") == []



def test_import_keys_pages_as_the_collector_keys_their_visits(scenario, tmp_path):
    # …/index.html is its folder's page, and the site's own URL rules apply: titles meet the stories.
    from darksocial import store

    store.register_site(scenario.db, "blog", [scenario.ORIGIN], keep_params=["id"])
    manifest = tmp_path / "darksocial-pages.json"
    pages.write_manifest(manifest, pages.Manifest(site="blog", site_url=scenario.ORIGIN + "/", pages=(
        pages.PageEntry(scenario.ORIGIN + "/docs/index.html", "Docs"),
        pages.PageEntry(scenario.ORIGIN + "/item?id=7&view=full", "Item 7"))))
    pages.import_pages(scenario.db, manifest)
    assert sorted(scenario.db.execute("SELECT url, title FROM pages").fetchall()) == [
        (scenario.ORIGIN + "/docs/", "Docs"), (scenario.ORIGIN + "/item?id=7", "Item 7")]


def test_pages_of_an_international_domain_are_keyed_in_punycode_as_their_visits(scenario, tmp_path):
    from darksocial import store

    store.register_site(scenario.db, "munich", ["https://münchen.de"])
    manifest = tmp_path / "darksocial-pages.json"
    pages.write_manifest(manifest, pages.Manifest(site="munich", site_url="https://münchen.de/", pages=(
        pages.PageEntry("https://münchen.de/a/", "A page"),)))
    pages.import_pages(scenario.db, manifest)
    assert scenario.db.execute("SELECT url FROM pages").fetchall() == [("https://xn--mnchen-3ya.de/a/",)]
