"""The page manifest of a real build (the demo site), loaded by `darksocial import-pages`."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from darksocial import store
from darksocial.cli import cli

DEMO_URL = "http://127.0.0.1:8000/"


@pytest.fixture(scope="module")
def demo_build(tmp_path_factory, sites):
    site_dir = tmp_path_factory.mktemp("demo") / "site"
    with sites.environment(DARKSOCIAL_SITE_URL=DEMO_URL):
        return sites.build(sites.DEMO_SITE / "mkdocs.yml", site_dir)


def import_pages(manifest, db, *args):
    """`darksocial import-pages`, into ``db`` created first (the command refuses a database that does not exist)."""
    store.open_db(db).close()
    return CliRunner().invoke(cli, ["import-pages", *map(str, (manifest, db, *args))])


def test_demo_manifest_describes_every_tracked_story(demo_build):
    manifest = json.loads((demo_build / "darksocial-pages.json").read_text(encoding="utf-8"))
    assert manifest["site"] == "harbour-lane" and manifest["site_url"] == DEMO_URL
    pages = {page["url"]: page for page in manifest["pages"]}
    assert DEMO_URL + "privacy/" not in pages  # darksocial: false
    assert len(pages) == 5
    story = pages[DEMO_URL + "stories/vacuum-at-3am/"]
    assert story["title"] == "VACUUM at 3 a.m.: a Postgres incident, minute by minute"
    assert story["date"] == "2024-05-28" and story["description"].startswith("How a table")


def test_import_pages_loads_titles_into_the_reporting_database(demo_build, tmp_path):
    db_path = tmp_path / "reports.db"
    result = import_pages(demo_build / "darksocial-pages.json", db_path)
    assert result.exit_code == 0, result.output
    assert "imported 5 pages of site 'harbour-lane'" in result.output
    rows = {row["url"]: row for row in store.open_db(db_path)["pages"].rows}
    assert set(rows) == {page["url"] for page in
                         json.loads((demo_build / "darksocial-pages.json").read_text())["pages"]}
    row = rows[DEMO_URL + "stories/ci-in-half/"]
    assert row["site"] == "harbour-lane" and row["date"] == "2024-03-12"
    assert row["title"] == "We cut our CI time in half without buying a bigger runner"
    assert row["imported"].endswith("Z")
    # Importing again updates in place; --base-url moves the same build to the address it is served at.
    assert import_pages(demo_build / "darksocial-pages.json", db_path, "--base-url", "https://eng.example.com/"
                        ).exit_code == 0
    urls = {row["url"] for row in store.open_db(db_path)["pages"].rows}
    assert "https://eng.example.com/stories/ci-in-half/" in urls and len(urls) == 10


def test_root_relative_manifest_needs_a_base_url(tmp_path):
    manifest = tmp_path / "pages.json"
    manifest.write_text(json.dumps({"format": "darksocial-pages", "version": 1, "site": "journal", "site_url": None,
                                    "pages": [{"url": "/story/", "title": "A story"}]}))
    result = import_pages(manifest, tmp_path / "db")
    assert result.exit_code == 2 and "--base-url" in result.output and "site_url" in result.output
    assert import_pages(manifest, tmp_path / "db", "--base-url", "https://journal.example/").exit_code == 0
    assert [r["url"] for r in store.open_db(tmp_path / "db")["pages"].rows] == ["https://journal.example/story/"]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("not json", "not a JSON page manifest"),
        ('{"format": "other"}', "not a darksocial page manifest"),
        ('{"format": "darksocial-pages", "version": 1, "site": "bad site", "pages": []}', "site must be a site id"),
        ('{"format": "darksocial-pages", "version": 1, "site": "s", "pages": [{"url": "javascript:x", "title": "t"}]}',
         "pages[0].url"),
        ('{"format": "darksocial-pages", "version": 1, "site": "s", "pages": [{"url": "/a", "title": ""}]}',
         "pages[0].title"),
        ('{"format": "darksocial-pages", "version": 1, "site": "s", "pages": [{"url": "/a", "title": "t", '
         '"date": "last week"}]}', "pages[0].date"),
    ],
)
def test_bad_manifest_is_refused_with_the_reason(tmp_path, content, message):
    manifest = tmp_path / "pages.json"
    manifest.write_text(content)
    result = import_pages(manifest, tmp_path / "db", "--base-url", "https://e.example/")
    assert result.exit_code == 2 and message in result.output, result.output
