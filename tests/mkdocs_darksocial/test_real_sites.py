"""The README's MkDocs promises, checked on sites like the ones site owners have.

Each site is built twice from the same docs, with ``enabled: false`` and with the plugin, in strict mode: the
``mkdocs``, ``readthedocs`` and ``material`` themes (Material with ``navigation.instant``, tabs and a
``custom_dir`` override), a ``site_url`` under a sub-path, with and without directory URLs. The docs have
nested sections, an index page, a ``404.md`` page, a front-matter opt-out, a theme opt-out (the override writes
``<meta name="darksocial" content="off">``), a draft, non-ASCII titles and slugs, a page with its own scripts,
comments and inline HTML, a very long title, a page without a heading, and links with ``#fragments``.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import pathlib
import re
from urllib.parse import parse_qs, quote, unquote, urljoin, urlsplit

import pytest
import yaml
from bs4 import BeautifulSoup

from darksocial import inject

SITE_URL = "https://example.org/docs/"
SITE_NAME = "Docs & <Co>"
SITE_DESCRIPTION = "All about <docs> & more"
COLLECTOR = "/-/darksocial/collect"
LONG_TITLE = "A very long title " + "that keeps going " * 25 + "and ends here"
FEATURES = ["navigation.instant", "navigation.tabs"]


@dataclasses.dataclass(frozen=True)
class Page:
    markdown: str
    title: str  # the share text: what a reader sees as the page title
    tracked: bool = True
    heading: str | None = None  # the <h1> the bar follows; None: the page has none in its content
    description: str | None = SITE_DESCRIPTION
    date: str | None = None


PAGES = {
    "index.md": Page(
        "---\ndescription: The front page.\n---\n# Home\n\nSee [part two](stories/first.md#part-two), "
        "[the top](#home) and [the café](café/naïve.md#section-e).\n",
        "Home", heading="Home", description="The front page."),
    "stories/first.md": Page(
        "---\ndate: 2024-05-01 09:30:00\ndescription: First story.\n---\n# The first story\n\nText.\n\n"
        "## Part two\n\n[Back home](../index.md#home), [up](#the-first-story).\n",
        "The first story", heading="The first story", description="First story.", date="2024-05-01T09:30:00"),
    "stories/deep/second.md": Page(
        '# Tom & Jerry: "quotes", 1 < 2 and `<b>`\n\nBody.\n',
        'Tom & Jerry: "quotes", 1 < 2 and <b>', heading='Tom & Jerry: "quotes", 1 < 2 and <b>'),
    "café/naïve.md": Page(
        "# Crème brûlée — 日本語\n\n## Section é { #section-e }\n\nTexte.\n",
        "Crème brûlée — 日本語", heading="Crème brûlée — 日本語"),
    # MkDocs takes a page's title from its heading only when the heading comes first: here it is the file name
    "scripted.md": Page(
        '<!-- <h1>commented out</h1> -->\n<script>var s = "</h1><h1>fake</h1></article></main></body>";</script>\n\n'
        "# Real heading\n\n<div class=\"note\" data-x='1 < 2'><p>Inline <em>HTML</em> &amp; text</p></div>\n\n"
        "<script>document.documentElement.dataset.seen = '<h1>';</script>\n",
        "Scripted", heading="Real heading"),
    "long.md": Page(f"# {LONG_TITLE}\n\nLong.\n", LONG_TITLE, heading=LONG_TITLE),
    "untitled.md": Page("---\ntitle: 'Q&A: \"no heading\" here'\n---\nJust text, no heading.\n",
                        'Q&A: "no heading" here'),
    # The site's not-found page: no story (README: "the site's not-found page (`404.md`) [is] left byte for byte")
    "404.md": Page("# Not found\n\nNothing here.\n", "Not found", heading="Not found", tracked=False),
    "private.md": Page("---\ndarksocial: false\n---\n# Private\n\nNot measured.\n", "Private", tracked=False),
    "noshare.md": Page("---\nnoshare: true\n---\n# Theme opt-out\n\nThe override opts it out.\n", "Theme opt-out",
                       tracked=False),
}
DRAFT = "drafts/wip.md"  # draft_docs: `mkdocs build` leaves it out, so the manifest must too
OVERRIDE = (
    '{% extends "base.html" %}\n'
    '{% block extrahead %}{% if page and page.meta and page.meta.noshare %}'
    '<meta name="darksocial" content="off">{% endif %}{% endblock %}\n'
)


@dataclasses.dataclass(frozen=True)
class Flavour:
    theme: str
    directory_urls: bool
    features: tuple[str, ...] = ()

    @property
    def id(self) -> str:
        return f"{self.theme}-{'dirs' if self.directory_urls else 'files'}"


FLAVOURS = [
    Flavour("mkdocs", directory_urls=False),
    Flavour("readthedocs", directory_urls=True),
    Flavour("material", directory_urls=True, features=tuple(FEATURES)),
    Flavour("material", directory_urls=False, features=tuple(FEATURES)),
]


def page_url(src: str, directory_urls: bool) -> str:
    """The page's URL under site_url, percent-encoded as MkDocs writes it."""
    stem = src[: -len(".md")]
    if stem == "index":
        url = "" if directory_urls else "index.html"
    else:
        url = f"{stem}/" if directory_urls else f"{stem}.html"
    return quote(url, safe="/")


def output_file(site_dir: pathlib.Path, src: str, directory_urls: bool) -> pathlib.Path:
    url = unquote(page_url(src, directory_urls))
    return site_dir / (url + "index.html" if url.endswith("/") or not url else url)


def write_site(root: pathlib.Path, flavour: Flavour, plugin: dict) -> pathlib.Path:
    for src, page in PAGES.items():
        target = root / "docs" / src
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(page.markdown, encoding="utf-8")
    (root / "docs" / DRAFT).parent.mkdir()
    (root / "docs" / DRAFT).write_text("# Work in progress\n", encoding="utf-8")
    (root / "overrides").mkdir()
    (root / "overrides" / "main.html").write_text(OVERRIDE, encoding="utf-8")
    theme = {"name": flavour.theme, "custom_dir": "overrides"}
    if flavour.features:
        theme["features"] = list(flavour.features)
    config = {
        "site_name": SITE_NAME, "site_url": SITE_URL, "site_description": SITE_DESCRIPTION,
        "use_directory_urls": flavour.directory_urls, "draft_docs": "drafts/\n", "theme": theme,
        "markdown_extensions": ["attr_list"], "plugins": ["search", {"darksocial": plugin}],
    }
    config_file = root / "mkdocs.yml"
    config_file.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    return config_file


def strict_build(config_file: pathlib.Path, sites) -> pathlib.Path:
    """``mkdocs build --strict`` in-process: any warning aborts the build."""
    from mkdocs.commands.build import build
    from mkdocs.config import load_config

    site_dir = config_file.parent / "site"
    with sites.environment(SOURCE_DATE_EPOCH="1714521600"):
        build(load_config(config_file=str(config_file), site_dir=str(site_dir), strict=True))
    return site_dir


@dataclasses.dataclass
class Built:
    flavour: Flavour
    plain: pathlib.Path  # enabled: false
    plugged: pathlib.Path

    def html(self, which: str, src: str) -> str:
        site_dir = self.plain if which == "plain" else self.plugged
        return output_file(site_dir, src, self.flavour.directory_urls).read_text(encoding="utf-8")

    def soup(self, src: str) -> BeautifulSoup:
        return BeautifulSoup(self.html("plugged", src), "html.parser")

    def canonical(self, src: str) -> str:
        """The page as the theme's <link rel="canonical"> names it."""
        return SITE_URL + page_url(src, self.flavour.directory_urls)

    def shared(self, src: str) -> str:
        """The page as the collector keys it and the bar shares it: …/index.html is its folder's page."""
        return self.canonical(src).removesuffix("index.html")


@pytest.fixture(scope="module", params=FLAVOURS, ids=lambda flavour: flavour.id)
def built(request, tmp_path_factory, sites) -> Built:
    flavour = request.param
    out = {}
    for name, enabled in (("plain", False), ("plugged", True)):
        root = tmp_path_factory.mktemp(f"{flavour.id}-{name}")
        out[name] = strict_build(write_site(root, flavour, {"enabled": enabled, "collector": COLLECTOR}), sites)
    return Built(flavour, out["plain"], out["plugged"])


def tracked() -> list[str]:
    return [src for src, page in PAGES.items() if page.tracked]


# What the plugin documents it adds: the two <head> tags and the <nav class="ds-bar">.
HEAD_TAGS = re.compile(r'<link rel="stylesheet" href="[^"]*" data-darksocial><script defer src="[^"]*" '
                       r'data-darksocial[^>]*></script>')
BAR = re.compile(r'<nav class="ds-bar[^"]*"[^>]*>.*?</nav>', re.S)  # the bar holds no <nav> of its own


def test_tracked_pages_differ_from_the_plain_build_only_by_the_documented_snippets(built):
    for src in tracked():
        plugged, plain = built.html("plugged", src), built.html("plain", src)
        assert len(HEAD_TAGS.findall(plugged)) == 1 and len(BAR.findall(plugged)) == 1, src
        assert BAR.sub("", HEAD_TAGS.sub("", plugged)) == plain, src


def test_opted_out_and_theme_opted_out_pages_are_byte_identical(built):
    for src in [src for src, page in PAGES.items() if not page.tracked]:
        assert built.html("plugged", src) == built.html("plain", src), src


def test_nothing_else_in_the_site_changes(built):
    """Search index, sitemap, theme files and templated pages (the theme's 404.html, search.html) are the same;
    the plugin adds its two assets and the manifest, and nothing else."""
    plain = {p.relative_to(built.plain): p for p in built.plain.rglob("*") if p.is_file()}
    plugged = {p.relative_to(built.plugged): p for p in built.plugged.rglob("*") if p.is_file()}
    added = {pathlib.Path("assets/darksocial/darksocial.js"), pathlib.Path("assets/darksocial/darksocial.css"),
             pathlib.Path("darksocial-pages.json")}
    assert set(plugged) - set(plain) == added
    assert set(plain) <= set(plugged)
    pages = {output_file(built.plugged, src, built.flavour.directory_urls).relative_to(built.plugged)
             for src in tracked()}
    for rel, path in plain.items():
        if rel not in pages:
            assert plugged[rel].read_bytes() == path.read_bytes(), rel
    assert not any(pathlib.Path(DRAFT).stem in str(rel) for rel in plugged)


def test_head_tags_come_before_the_first_stylesheet_and_add_no_inline_code(built):
    for src in tracked():
        plugged = built.html("plugged", src)
        match = HEAD_TAGS.search(plugged)
        before, after = plugged[: match.start()], plugged[match.end():]
        assert "<head" in before and "</head>" in after, src
        assert not re.search(r"<style|<link[^>]*stylesheet", before), src
        assert re.match(r"<style|<link[^>]*stylesheet", after), src
        added = match.group(0) + BAR.search(plugged).group(0)
        assert not re.search(r"<style|\sstyle=|\son[a-z]+=|javascript:", added), src
        assert re.search(r"<script [^>]*></script>$", match.group(0)), src  # src only, no inline code


def test_the_bar_follows_the_page_heading_inside_the_content(built):
    material = built.flavour.theme == "material"
    for src in tracked():
        page = built.soup(src)
        bar = page.select_one("nav.ds-bar")
        expected = PAGES[src].heading
        if expected is None and material:
            expected = PAGES[src].title  # Material writes the title as the page's <h1>
        if expected is None:
            # no <h1>, and no <article>/<main> in these themes: after-h1 falls back to content-end, the end of
            # their role="main" element (the content column, before the footer)
            assert bar.parent.get("role") == "main" and bar.find_next_sibling(True) is None, src
            assert bar.find_parent("footer") is None and bar.find_next("footer") is not None, src
            continue
        heading = bar.find_previous_sibling(True)
        assert heading.name == "h1" and heading.get_text().strip() == expected, (src, heading)
        assert len(page.select("h1")) == 1, src  # no heading was faked by the page's scripts or comments
        if material:  # swapped in by navigation.instant with the content
            assert bar.find_parent("article") is not None, src
            assert bar.find_parent(attrs={"data-md-component": "container"}) is not None, src


def test_share_links_carry_the_absolute_canonical_url_and_the_escaped_title(built):
    for src in tracked():
        page, url = built.soup(src), built.shared(src)
        bar = page.select_one("nav.ds-bar")
        assert page.select_one("link[rel=canonical]")["href"] == built.canonical(src)  # the theme's own
        assert bar.select_one("a[data-ds=cl]")["href"] == url + "#ds=.cl", src
        whatsapp = parse_qs(urlsplit(bar.select_one("a[data-ds=wa]")["href"]).query)
        assert whatsapp == {"text": [f"{PAGES[src].title} — {SITE_NAME} {url}#ds=.wa"]}, src
        email = parse_qs(urlsplit(bar.select_one("a[data-ds=em]")["href"]).query)
        assert email["subject"] == [PAGES[src].title], src
        facebook = parse_qs(urlsplit(bar.select_one("a[data-ds=fb]")["href"]).query)
        assert facebook == {"u": [url + "#ds=.fb"]}, src
        # the title cannot open an element or an attribute: the bar holds only its own kinds of elements
        names = {tag.name for tag in bar.find_all(True)}
        assert names <= {"a", "button", "span", "svg", "path", "circle", "rect", "g", "title", "use",
                         "polyline", "line", "polygon", "ellipse"}, (src, names)
        for link in bar.select("a"):
            assert set(link.attrs) <= {"class", "title", "data-ds", "href", "target", "rel"}, (src, link.attrs)


def test_tracker_files_are_found_from_every_page(built, sites):
    for src in tracked():
        page, url = built.soup(src), built.canonical(src)
        script = page.select_one("script[data-darksocial]")
        stylesheet = page.select_one("link[rel=stylesheet][data-darksocial]")
        assert script["data-collector"] == COLLECTOR and script["data-site"] == "example.org", src
        assert script["data-home"] == "/docs/", src
        for ref, name in ((script["src"], "darksocial.js"), (stylesheet["href"], "darksocial.css")):
            assert not urlsplit(ref).scheme and not ref.startswith("/"), (src, ref)  # works under any path
            resolved = urljoin(url, ref)
            assert resolved == f"{SITE_URL}assets/darksocial/{name}", (src, ref)
            served = built.plugged / unquote(resolved[len(SITE_URL):])
            assert served.read_bytes() == (inject.STATIC_DIR / name).read_bytes(), (src, ref)


def test_added_markup_per_page(built):
    # DESIGN.md: "markup added per page <= 8 KB", for an ordinary title. A long or non-Latin title is
    # percent-encoded into each of the eight share links (9 bytes a Japanese character): a 40-character Japanese
    # title adds ~8.6 KB raw, ~1.8 KB gzipped (a documented departure: the links must work without JavaScript).
    plugged, plain = built.html("plugged", "stories/first.md"), built.html("plain", "stories/first.md")
    assert len(plugged.encode()) - len(plain.encode()) <= 8 * 1024


def test_style_follows_the_theme(built):
    icons = built.flavour.theme == "material"
    for src in tracked():
        classes = built.soup(src).select_one("nav.ds-bar")["class"]
        assert classes == (["ds-bar", "ds-icons"] if icons else ["ds-bar"]), src


def test_manifest_lists_exactly_the_tracked_pages(built):
    manifest = json.loads((built.plugged / "darksocial-pages.json").read_text(encoding="utf-8"))
    assert manifest["site"] == "example.org" and manifest["site_url"] == SITE_URL
    by_url = {entry["url"]: entry for entry in manifest["pages"]}
    assert len(by_url) == len(manifest["pages"])
    assert sorted(by_url) == sorted(built.shared(src) for src in tracked())
    for src in tracked():
        page, entry = PAGES[src], by_url[built.shared(src)]
        assert entry["description"] == page.description and entry["date"] == page.date, src
        if src == "long.md":
            # cut to the events' 300-character title limit, which the README does not mention
            assert len(entry["title"]) == 300 and entry["title"].endswith("…"), entry["title"]
            assert LONG_TITLE.startswith(entry["title"][:-1]), entry["title"]
        else:
            assert entry["title"] == page.title, src
    # the share links and the manifest agree on every page's URL, so imported titles meet the shares
    for src in tracked():
        href = built.soup(src).select_one("nav.ds-bar a[data-ds=cl]")["href"]
        assert href.split("#")[0] in by_url, src


@pytest.mark.parametrize(("plugin", "option", "message"), [
    ({}, "collector", "the 'collector' option is required"),
    ({"collector": "  "}, "collector", "the 'collector' option is required"),
    ({"collector": "collect"}, "collector", "make it root-relative ('/collect') or absolute"),
    ({"collector": "ftp://stats.example.org/c"}, "collector", "must be an http(s) URL"),
    ({"collector": COLLECTOR, "channels": []}, "channels", "the share bar needs at least one channel"),
    ({"collector": COLLECTOR, "channels": "wa"}, "channels", "expected a list of channel codes"),
    ({"collector": COLLECTOR, "channels": ["wa", "ct"]}, "channels", "unknown share-bar channel code(s) 'ct'"),
    ({"collector": COLLECTOR, "position": "top"}, "position", "after-h1"),
    ({"collector": COLLECTOR, "style": "emoji"}, "style", "icons"),
    ({"collector": COLLECTOR, "exclude": "blog/*"}, "exclude", "list"),
    ({"collector": COLLECTOR, "enabled": "yes"}, "enabled", "bool"),
    ({"collector": COLLECTOR, "site": "two words"}, "site", "site id"),
    ({"collector": COLLECTOR, "strip_params": ["a b"]}, "strip_params", "query parameter names"),
])
def test_bad_config_is_a_clear_error_naming_the_option(tmp_path, sites, caplog, plugin, option, message):
    from mkdocs.exceptions import Abort

    config_file = sites.write(tmp_path, plugin=plugin, site_url=SITE_URL,
                              pages={"index.md": ("# Home\n", "Home", "")})
    with caplog.at_level(logging.ERROR), pytest.raises(Abort):
        strict_build(config_file, sites)
    errors = " ".join(record.getMessage() for record in caplog.records if record.levelno >= logging.ERROR)
    assert message in errors, errors
    assert "darksocial" in errors and re.search(rf"(?<![\w-]){option}(?![\w-])", errors), errors
    assert not (tmp_path / "site" / "darksocial-pages.json").exists()


def test_without_site_url_the_error_names_both_fixes(tmp_path, sites, caplog):
    from mkdocs.exceptions import Abort

    config_file = sites.write(tmp_path, plugin={"collector": COLLECTOR}, site_url=None,
                              pages={"index.md": ("# Home\n", "Home", "")})
    with caplog.at_level(logging.ERROR), pytest.raises(Abort):
        strict_build(config_file, sites)
    errors = " ".join(record.getMessage() for record in caplog.records)
    assert "'site_url'" in errors and "'site'" in errors, errors


def test_enabled_from_the_environment_content_end_and_no_manifest(tmp_path, sites):
    """The README's `enabled: !ENV [DARKSOCIAL, true]`, `position: content-end` in Material (the end of the
    swapped <article>) and `manifest: ""` (none written)."""
    flavour = Flavour("material", directory_urls=True, features=tuple(FEATURES))
    config_file = write_site(tmp_path, flavour, {"enabled": True, "collector": COLLECTOR, "position": "content-end",
                                                   "manifest": ""})
    text = config_file.read_text(encoding="utf-8")
    config_file.write_text(text.replace("enabled: true", "enabled: !ENV [DARKSOCIAL, true]"), encoding="utf-8")
    assert "!ENV" in config_file.read_text(encoding="utf-8")
    first = output_file(tmp_path / "site", "stories/first.md", directory_urls=True)
    with sites.environment(DARKSOCIAL="false"):
        site_dir = strict_build(config_file, sites)
    assert "darksocial" not in first.read_text(encoding="utf-8") and not (site_dir / "assets" / "darksocial").exists()
    with sites.environment(DARKSOCIAL="true"):
        strict_build(config_file, sites)
    page = BeautifulSoup(first.read_text(encoding="utf-8"), "html.parser")
    bar = page.select_one("nav.ds-bar")
    assert bar.parent.name == "article" and bar.find_next_sibling(True) is None
    assert not any("darksocial" in path.name for path in site_dir.rglob("*.json"))
