"""The plugin's options as users meet them: `mkdocs build` fails with a message that names the fix."""

from __future__ import annotations

import json

import pytest
import yaml
from bs4 import BeautifulSoup

from darksocial import channels, inject

ONE_PAGE = {"index.md": ("# Home\n\nHello.\n", "Home", "")}
STORY = {**ONE_PAGE, "story.md": ("# A story\n\nText.\n", "A story", "story/")}


@pytest.mark.parametrize(
    ("plugin", "site_url", "message"),
    [
        ({}, "https://example.org/", "the 'collector' option is required"),
        ({"collector": "https://s.example/c", "channels": ["wa", "zz"]}, "https://example.org/",
         f"unknown share-bar channel code(s) 'zz'; valid codes are: {', '.join(channels.BUTTON_CODES)}"),
        ({"collector": "https://s.example/c", "position": "sidebar"}, "https://example.org/", "'sidebar'"),
        ({"collector": "https://s.example/c"}, None, "set 'site_url' in mkdocs.yml"),
        ({"collector": "javascript:alert(1)"}, "https://example.org/", "collector must be an http(s) URL"),
        ({"collector": "https://s.example/c", "site": "no spaces allowed"}, "https://example.org/", "site must be"),
        ({"collector": "https://s.example/c", "manifest": "/srv/pages.json"}, "https://example.org/",
         "'manifest' is a path inside site_dir"),
        ({"collector": "https://s.example/c", "manifest": "../pages.json"}, "https://example.org/",
         "give a relative path without '..'"),
    ],
    ids=["missing-collector", "unknown-channel", "bad-position", "no-site", "bad-collector", "bad-site",
         "absolute-manifest", "manifest-outside"],
)
def test_bad_config_fails_the_build_with_the_message(tmp_path, sites, plugin, site_url, message):
    sites.write(tmp_path, plugin=plugin, site_url=site_url, pages=ONE_PAGE)
    result = sites.mkdocs_cli("build", cwd=tmp_path)
    assert result.returncode != 0
    assert message in result.stderr, result.stderr
    assert "darksocial" in result.stderr
    if "position" in plugin:
        assert all(position in result.stderr for position in inject.POSITIONS)


def test_the_manifest_is_as_readable_as_the_pages_and_an_international_domain_is_its_punycode(tmp_path, sites):
    config = sites.write(tmp_path, plugin={"collector": "https://s.example/c"}, site_url="https://münchen.de/",
                         pages=ONE_PAGE)
    site_dir = sites.build(config, tmp_path / "site")
    manifest = site_dir / "darksocial-pages.json"
    assert manifest.stat().st_mode & 0o777 == (site_dir / "index.html").stat().st_mode & 0o777
    assert json.loads(manifest.read_text())["site"] == "xn--mnchen-3ya.de"  # the Origin browsers send
    assert script_tag(site_dir)[0]["data-site"] == "xn--mnchen-3ya.de"


def test_missing_collector_message_shows_an_example(tmp_path, sites):
    sites.write(tmp_path, plugin={}, pages=ONE_PAGE)
    stderr = sites.mkdocs_cli("build", cwd=tmp_path).stderr
    assert "collector: https://" in stderr


def test_disabled_plugin_needs_no_collector_and_changes_nothing(tmp_path, sites):
    plain = sites.build(sites.write(tmp_path / "plain", pages=ONE_PAGE), tmp_path / "plain" / "site")
    off_config = sites.write(tmp_path / "off", plugin={"enabled": False}, pages=ONE_PAGE)
    off = sites.build(off_config, tmp_path / "off" / "site")
    assert (off / "index.html").read_bytes() == (plain / "index.html").read_bytes()
    assert not (off / "assets" / "darksocial").exists() and not (off / "darksocial-pages.json").exists()


def script_tag(site_dir, url=""):
    page = BeautifulSoup((site_dir / url / "index.html").read_text(encoding="utf-8"), "html.parser")
    return page.select_one("script[data-darksocial]"), page


def test_options_reach_the_tracker_and_the_bar(tmp_path, sites):
    plugin = {"collector": "/-/darksocial/collect", "site": "journal", "channels": ["em", "wa", "cl"],
              "position": "content-end", "copy_tracking": False, "address_bar": False, "cookieless": True,
              "respect_dnt": True, "query_mode": True, "manifest": "reports/pages.json"}
    site_dir = sites.build(sites.write(tmp_path, plugin=plugin, pages=STORY), tmp_path / "site")
    script, page = script_tag(site_dir, "story/")
    assert script["data-collector"] == "/-/darksocial/collect" and script["data-site"] == "journal"
    for flag in ("data-no-copy", "data-no-ab", "data-cookieless", "data-dnt", "data-query"):
        assert script.has_attr(flag), flag
    assert [a["data-ds"] for a in page.select("nav.ds-bar [data-ds]")] == ["em", "wa", "cl"]
    assert page.select_one("a[data-ds=cl]")["href"] == f"{sites.SITE_URL}story/?ds=.cl"
    assert page.select_one("nav.ds-bar").find_previous_sibling(True).name != "h1"  # content-end
    manifest = json.loads((site_dir / "reports" / "pages.json").read_text(encoding="utf-8"))
    assert manifest["site"] == "journal"
    assert not (site_dir / "darksocial-pages.json").exists()


def test_site_id_defaults_to_the_host_of_site_url(tmp_path, sites):
    site_dir = sites.build(sites.write(tmp_path, plugin={"collector": "https://s.example/c"},
                                       site_url="https://news.example.com:8443/blog/", pages=ONE_PAGE),
                           tmp_path / "site")
    script, _ = script_tag(site_dir)
    assert script["data-site"] == "news.example.com"
    assert script["data-home"] == "/blog/"  # no page-view token on the home page, wherever the site lives


def test_without_site_url_links_are_root_relative_and_the_build_warns(tmp_path, sites):
    sites.write(tmp_path, plugin={"collector": "https://s.example/c", "site": "journal"}, site_url=None, pages=STORY)
    result = sites.mkdocs_cli("build", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "site_url is not set" in result.stderr
    _, page = script_tag(tmp_path / "site", "story/")
    assert page.select_one("a[data-ds=cl]")["href"] == "/story/#ds=.cl"
    assert sites.mkdocs_cli("build", "--strict", cwd=tmp_path).returncode != 0  # deployments use --strict


def test_a_tracker_file_in_docs_overrides_the_bundled_one(tmp_path, sites):
    config = sites.write(tmp_path, plugin={"collector": "https://s.example/c"}, pages=ONE_PAGE)
    own = tmp_path / "docs" / "assets" / "darksocial" / "darksocial.js"
    own.parent.mkdir(parents=True)
    own.write_text("/* patched */", encoding="utf-8")
    site_dir = sites.build(config, tmp_path / "site")
    assert (site_dir / "assets" / "darksocial" / "darksocial.js").read_text() == "/* patched */"
    assert (site_dir / "assets" / "darksocial" / "darksocial.css").read_bytes() == (
        inject.STATIC_DIR / "darksocial.css").read_bytes()


def _material_site(tmp_path, sites, features: list[str], **plugin) -> None:
    config_file = sites.write(tmp_path, theme="material", plugin={"collector": "https://s.example/c", **plugin},
                              pages=STORY)
    config = yaml.safe_load(config_file.read_text(encoding="utf-8"))
    config["theme"]["features"] = features
    config_file.write_text(yaml.safe_dump(config), encoding="utf-8")


def test_material_instant_navigation_builds_strict_with_the_compact_bar(tmp_path, sites):
    _material_site(tmp_path, sites, ["navigation.instant", "navigation.tabs"])
    result = sites.mkdocs_cli("build", "--strict", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "darksocial" not in result.stderr
    _, page = script_tag(tmp_path / "site", "story/")
    bar = page.select_one("nav.ds-bar")
    assert bar["class"] == ["ds-bar", "ds-icons"]  # icons by default in Material
    assert bar.find_parent(attrs={"data-md-component": "container"}) is not None  # swapped by instant navigation
    assert page.select_one("a[data-ds=cl]")["title"] == "Copy link"


def test_share_bar_after_the_swapped_content_warns_with_instant_navigation(tmp_path, sites):
    _material_site(tmp_path, sites, ["navigation.instant"], position="body-end")
    result = sites.mkdocs_cli("build", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "position 'body-end' puts the share bar outside the content" in result.stderr


@pytest.mark.parametrize(("theme", "style", "expected"), [
    ("material", "text", ["ds-bar"]), ("mkdocs", None, ["ds-bar"]), ("readthedocs", "icons", ["ds-bar", "ds-icons"]),
])
def test_style_option(tmp_path, sites, theme, style, expected):
    plugin = {"collector": "https://s.example/c"} | ({"style": style} if style else {})
    site_dir = sites.build(sites.write(tmp_path, theme=theme, plugin=plugin, pages=STORY), tmp_path / "site")
    _, page = script_tag(site_dir, "story/")
    assert page.select_one("nav.ds-bar")["class"] == expected


@pytest.mark.parametrize(("plugin", "message"), [
    ({"collector": "collect"}, "'collector: collect' is a relative URL"),
    ({"collector": "api/collect"}, "make it root-relative ('/api/collect') or absolute"),
    ({"collector": "https://s.example/c", "channels": []}, "the share bar needs at least one channel"),
    ({"collector": "https://s.example/c", "style": "emoji"}, "'emoji'"),
    ({"collector": "https://s.example/c", "strip_params": ["bad name"]}, "strip_params must be query parameter names"),
], ids=["relative-collector", "relative-path-collector", "no-channels", "bad-style", "bad-strip-param"])
def test_more_bad_options_fail_the_build_with_the_fix(tmp_path, sites, plugin, message):
    sites.write(tmp_path, plugin=plugin, pages=ONE_PAGE)
    result = sites.mkdocs_cli("build", cwd=tmp_path)
    assert result.returncode != 0
    assert message in result.stderr, result.stderr


def test_excluded_pages_are_left_as_they_were(tmp_path, sites):
    pages = {**STORY, "blog/archive/2024.md": ("# 2024\n\nPosts.\n", "2024", "blog/archive/2024/"),
             "blog/category/news.md": ("# News\n\nPosts.\n", "News", "blog/category/news/")}
    plain = sites.build(sites.write(tmp_path / "plain", pages=pages), tmp_path / "plain" / "site")
    plugin = {"collector": "https://s.example/c", "exclude": ["blog/archive/*", "blog/category/*"]}
    site_dir = sites.build(sites.write(tmp_path / "on", plugin=plugin, pages=pages), tmp_path / "on" / "site")
    for url in ("blog/archive/2024/", "blog/category/news/"):
        assert (site_dir / url / "index.html").read_bytes() == (plain / url / "index.html").read_bytes(), url
    assert script_tag(site_dir, "story/")[0] is not None
    manifest = json.loads((site_dir / "darksocial-pages.json").read_text(encoding="utf-8"))
    assert [page["url"] for page in manifest["pages"]] == [sites.SITE_URL, sites.SITE_URL + "story/"]


def test_strip_params_reach_the_tracker(tmp_path, sites):
    plugin = {"collector": "/c", "strip_params": ["ref", "src_*"]}
    site_dir = sites.build(sites.write(tmp_path, plugin=plugin, pages=STORY), tmp_path / "site")
    script, _ = script_tag(site_dir, "story/")
    assert script["data-strip"] == "ref|src_.*"
