"""Real builds of a small site with each supported theme, with and without the plugin."""

from __future__ import annotations

import dataclasses
import json
import pathlib
from urllib.parse import quote, urljoin, urlsplit

import pytest
from bs4 import BeautifulSoup

from darksocial import inject

THEMES = ["mkdocs", "readthedocs", "material"]


@dataclasses.dataclass
class Builds:
    theme: str
    plain: pathlib.Path  # without the plugin
    plugged: pathlib.Path  # the same docs with the plugin


@pytest.fixture(scope="module", params=THEMES)
def builds(request, tmp_path_factory, sites) -> Builds:
    """Each theme built once per module, both ways, from the same docs."""
    theme = request.param
    out = {}
    for name, plugin in (("plain", None), ("plugged", {"collector": sites.COLLECTOR})):
        root = tmp_path_factory.mktemp(f"{theme}-{name}")
        out[name] = sites.build(sites.write(root, theme=theme, plugin=plugin), root / "site")
    return Builds(theme, out["plain"], out["plugged"])


def tracked_pages(sites):
    return [(path, title, url) for path, (_, title, url) in sites.PAGES.items() if path != sites.OPT_OUT]


def soup(path: pathlib.Path) -> BeautifulSoup:
    return BeautifulSoup(path.read_text(encoding="utf-8"), "html.parser")


def expected_tracker(sites, url: str, theme: str) -> inject.TrackerConfig:
    """The configuration the plugin should use for the page at ``url`` (asset paths relative to the page; the
    compact icon bar is the default with Material)."""
    up = "../" * url.count("/")
    return inject.TrackerConfig(
        collector=sites.COLLECTOR,
        site="example.org",  # the host of site_url
        script_url=f"{up}assets/darksocial/darksocial.js",
        css_url=f"{up}assets/darksocial/darksocial.css",
        home_path="/journal/",  # the path of site_url
        site_name="Test Journal",
        style="icons" if theme == "material" else "text",
    )


def test_every_page_has_exactly_one_bar_and_one_tracker(builds, sites):
    for _, _, url in tracked_pages(sites):
        page = soup(sites.page_output(builds.plugged, url))
        assert len(page.select("nav.ds-bar")) == 1, url
        assert len(page.select("script[data-darksocial]")) == 1, url
        assert len(page.select("link[rel=stylesheet][data-darksocial]")) == 1, url
        assert page.select_one("script[data-darksocial]").find_parent("head") is not None


def test_the_plugin_only_adds_the_tracker_tags_and_the_bar(builds, sites):
    """Every byte of the theme's page is kept: removing exactly what the core renders gives the plain build."""
    for _, title, url in tracked_pages(sites):
        plugged = sites.page_output(builds.plugged, url).read_text(encoding="utf-8")
        plain = sites.page_output(builds.plain, url).read_text(encoding="utf-8")
        tracker = expected_tracker(sites, url, builds.theme)
        head = inject.head_tags(tracker)
        bar = inject.share_bar(tracker, sites.SITE_URL + url, title)
        assert plugged.count(head) == 1 and plugged.count(bar) == 1, url
        assert plugged.replace(head, "").replace(bar, "") == plain, url


def test_opted_out_page_is_byte_identical_to_a_build_without_the_plugin(builds, sites):
    url = sites.PAGES[sites.OPT_OUT][2]
    plain = sites.page_output(builds.plain, url).read_bytes()
    assert sites.page_output(builds.plugged, url).read_bytes() == plain
    assert b"darksocial" not in plain


def test_the_bar_follows_the_page_heading(builds, sites):
    for _, title, url in tracked_pages(sites):
        bar = soup(sites.page_output(builds.plugged, url)).select_one("nav.ds-bar")
        heading = bar.find_previous_sibling(True)
        assert heading.name == "h1", (url, heading)
        assert title.split(":")[0] in heading.get_text()


def test_tracker_files_are_part_of_the_build_and_every_page_finds_them(builds, sites):
    for name in ("darksocial.js", "darksocial.css"):
        assert (builds.plugged / "assets" / "darksocial" / name).read_bytes() == (inject.STATIC_DIR / name).read_bytes()
        assert not (builds.plain / "assets" / "darksocial").exists()
    for _, _, url in tracked_pages(sites):
        page_url = sites.SITE_URL + url
        page = soup(sites.page_output(builds.plugged, url))
        script = urljoin(page_url, page.select_one("script[data-darksocial]")["src"])
        css = urljoin(page_url, page.select_one("link[data-darksocial]")["href"])
        assert urlsplit(script).path == "/journal/assets/darksocial/darksocial.js", url
        assert urlsplit(css).path == "/journal/assets/darksocial/darksocial.css", url


def test_share_links_carry_the_canonical_url_the_title_and_the_site_name(builds, sites):
    _, title, url = tracked_pages(sites)[1]
    whatsapp = soup(sites.page_output(builds.plugged, url)).select_one("nav.ds-bar a[data-ds=wa]")["href"]
    expected_text = quote(f"{title} — Test Journal", safe="")
    assert whatsapp == f"https://wa.me/?text={expected_text}%20{quote(sites.SITE_URL + url + '#ds=.wa', safe='')}"


def test_manifest_lists_the_tracked_pages(builds, sites):
    manifest = json.loads((builds.plugged / "darksocial-pages.json").read_text(encoding="utf-8"))
    assert manifest["site"] == "example.org" and manifest["site_url"] == sites.SITE_URL
    by_url = {page["url"]: page for page in manifest["pages"]}
    assert sorted(by_url) == sorted(sites.SITE_URL + url for _, _, url in tracked_pages(sites))
    first = by_url[sites.SITE_URL + "stories/first/"]
    assert first == {"url": sites.SITE_URL + "stories/first/", "title": "The first story",
                     "description": "A story with code.", "date": "2024-05-01"}
    assert by_url[sites.SITE_URL]["description"] == "The front page."
    assert by_url[sites.SITE_URL + "stories/deep/second/"]["title"] == 'Second: deep & "title"'
    assert not (builds.plain / "darksocial-pages.json").exists()
