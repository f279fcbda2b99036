"""Share-bar markup and HTML injection.

``inject`` adds three snippets to a page: the stylesheet ``<link>`` and the tracker
``<script defer>`` in ``<head>`` (its configuration in ``data-*`` attributes: no inline
script or style, so ``Content-Security-Policy: default-src 'self'`` works) and the
server-rendered share bar at the configured place. BeautifulSoup finds the places;
the snippets are then spliced into the original string, so every character outside
them stays exactly as it was. Injecting twice changes nothing, and a page carrying
``<meta name="darksocial" content="off">`` is returned untouched.
"""

from __future__ import annotations

import html as html_lib
import pathlib
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from bs4 import BeautifulSoup, Tag

from . import channels, tokens
from .events import SITE_RE

STATIC_DIR = pathlib.Path(__file__).parent / "static"
POSITIONS = ("after-h1", "content-end", "body-end")
BAR_LABEL = "Share this page"
COPIED_MESSAGE = "Link copied"
MARKER = "data-darksocial"  # on every element inject adds; how a second run knows it has been here


class InjectError(ValueError):
    """A configuration or page URL that cannot produce a safe share bar; the message names the fix."""


@dataclass(frozen=True)
class TrackerConfig:
    collector: str  # URL the tracker POSTs to (absolute, or root-relative like "/-/darksocial/collect")
    site: str  # site id sent as "s" in every event
    script_url: str  # where darksocial.js is served (relative or absolute)
    css_url: str  # where darksocial.css is served
    channels: tuple[str, ...] = channels.DEFAULT_BUTTONS
    position: str = "after-h1"  # "after-h1" (falls back to content-end, then body-end) | "content-end" | "body-end"
    copy_tracking: bool = True
    address_bar: bool = True
    address_bar_home: bool = False  # show the page-view token on the home page too
    home_path: str = "/"  # path of the home page (a site may live under a sub-path)
    cookieless: bool = False
    respect_dnt: bool = False
    query_mode: bool = False  # ?ds= instead of #ds=
    site_name: str = ""  # appended to the share text: "<title> — <site_name>"

    def __post_init__(self):
        try:
            object.__setattr__(self, "channels", channels.validate_buttons(self.channels))
        except channels.UnknownChannel as exc:
            raise InjectError(str(exc)) from None
        if self.position not in POSITIONS:
            raise InjectError(f"position must be one of {', '.join(POSITIONS)}; got {self.position!r}")
        if not SITE_RE.fullmatch(self.site or ""):
            raise InjectError(f"site must be a site id (letters, digits, . _ : -, at most 100); got {self.site!r}")
        for name in ("collector", "script_url", "css_url"):
            _check_url(getattr(self, name), name)
            if not getattr(self, name):
                raise InjectError(f"{name} is empty: give the URL (absolute, or root-relative such as /static/...)")
        if not self.home_path.startswith("/"):
            raise InjectError(f"home_path must start with '/'; got {self.home_path!r}")


def _check_url(url: str, what: str) -> None:
    """Only http(s) and scheme-less URLs: anything else (javascript:, data:) could run code from a link."""
    try:
        scheme = urlsplit(url).scheme.lower()
    except ValueError:
        raise InjectError(f"{what} is not a valid URL: {url!r}") from None
    if scheme not in ("", "http", "https") or any(ord(ch) < 32 for ch in url):
        raise InjectError(f"{what} must be an http(s) URL or a path; got {url!r}")


def _attr(value: str) -> str:
    return html_lib.escape(value, quote=True)


def _with_ds(page_url: str, code: str, query_mode: bool) -> str:
    """The page URL carrying ``ds=.<code>``: the channel is known, the sharer is filled in by the tracker."""
    url = page_url.split("#", 1)[0]
    value = tokens.format_value(None, code)
    if query_mode:
        return f"{url}{'&' if '?' in url else '?'}{tokens.PARAM}={value}"
    return url + tokens.fragment(None, code)


def share_bar(config: TrackerConfig, page_url: str, title: str) -> str:
    """The server-rendered share bar: one link per configured channel, working with JavaScript off.

    Every value is escaped for its context: percent-encoded inside share URLs, then HTML-escaped as an
    attribute, so no title or URL can close the attribute or open a tag.
    """
    _check_url(page_url, "page_url")
    text = f"{title} — {config.site_name}" if config.site_name else title
    items = []
    for code in config.channels:
        channel = channels.CHANNELS[code]
        label = f"{channel.icon}<span>{html_lib.escape(channel.label)}</span>"
        css_class = f"ds-btn ds-{code}"
        if code == "ns":  # needs navigator.share: the tracker unhides it where the browser has one
            items.append(f'<button type="button" class="{css_class}" data-ds="ns" hidden>{label}</button>')
            continue
        href = channel.share_href(_with_ds(page_url, code, config.query_mode), title=title, text=text)
        opens_tab = href.startswith(("https:", "http:")) and channel.share_url is not None
        target = ' target="_blank" rel="noopener"' if opens_tab else ""
        items.append(f'<a class="{css_class}" data-ds="{code}" href="{_attr(href)}"{target}>{label}</a>')
    if "cl" in config.channels:
        items.append(f'<span class="ds-msg" role="status" data-text="{_attr(COPIED_MESSAGE)}"></span>')
    return f'<nav class="ds-bar" aria-label="{_attr(BAR_LABEL)}" {MARKER}>{"".join(items)}</nav>'


def _script_attributes(config: TrackerConfig) -> list[str]:
    attrs = [f'data-collector="{_attr(config.collector)}"', f'data-site="{_attr(config.site)}"']
    if config.home_path != "/":
        attrs.append(f'data-home="{_attr(config.home_path)}"')
    flags = {
        "data-ab-home": config.address_bar_home,
        "data-no-ab": not config.address_bar,
        "data-no-copy": not config.copy_tracking,
        "data-cookieless": config.cookieless,
        "data-dnt": config.respect_dnt,
        "data-query": config.query_mode,
    }
    return attrs + [name for name, on in flags.items() if on]


def _stylesheet_tag(config: TrackerConfig) -> str:
    return f'<link rel="stylesheet" href="{_attr(config.css_url)}" {MARKER}>'


def _script_tag(config: TrackerConfig) -> str:
    return f'<script defer src="{_attr(config.script_url)}" {MARKER} {" ".join(_script_attributes(config))}></script>'


def head_tags(config: TrackerConfig) -> str:
    """The stylesheet link and the deferred tracker script, configured by its data attributes."""
    return _stylesheet_tag(config) + _script_tag(config)


# --- finding places in the parsed page, and their offsets in the original string ---------------------------


def _parse(html: str) -> BeautifulSoup:
    return BeautifulSoup(html, "html.parser")


def _opted_out(soup: BeautifulSoup) -> bool:
    for meta in soup.find_all("meta"):
        if (meta.get("name") or "").strip().lower() == "darksocial":
            return (meta.get("content") or "").strip().lower() == "off"
    return False


def is_opted_out(html: str) -> bool:
    """True when the page carries ``<meta name="darksocial" content="off">``."""
    if "darksocial" not in html.lower():  # cheap: most pages never mention it
        return False
    return _opted_out(_parse(html))


_START_TAG = re.compile(r"""<[^\s/>]+(?:[^>"']|"[^"]*"|'[^']*')*>""")


class _Page:
    """The original string plus the parsed tree, mapping tags to character offsets."""

    def __init__(self, html: str):
        self.html = html
        self.soup = _parse(html)
        self._line_starts = [0] + [m.end() for m in re.finditer("\n", html)]

    def start(self, tag: Tag) -> int:
        """Offset of the ``<`` of a tag's start tag (html.parser counts lines by ``\\n``, columns in characters)."""
        return self._line_starts[tag.sourceline - 1] + tag.sourcepos

    def start_tag_end(self, tag: Tag) -> int:
        match = _START_TAG.match(self.html, self.start(tag))
        return match.end() if match else self.start(tag)

    def end_tag(self, tag: Tag) -> tuple[int, int] | None:
        """Span of the end tag that closes ``tag`` in the original string, or None when it is implied.

        The end tag lies after the start of the last tag inside ``tag`` and before the first tag that
        follows it; in between there are only text, comments and end tags.
        """
        last_node, last_tag = tag, tag
        for node in tag.descendants:
            last_node = node
            if isinstance(node, Tag):
                last_tag = node
        begin = self.start_tag_end(last_tag)
        if last_tag is not tag and last_tag.name in ("script", "style"):  # raw text may contain "</tag>"
            closing = re.compile(rf"</{last_tag.name}\s*>", re.I).search(self.html, begin)
            begin = closing.end() if closing else begin
        following = last_node.next_element
        while following is not None and not isinstance(following, Tag):
            following = following.next_element
        limit = self.start(following) if following is not None else len(self.html)
        pattern = re.compile(rf"<!--.*?-->|</({re.escape(tag.name)})\s*>", re.I | re.S)
        for match in pattern.finditer(self.html, begin, limit):
            if match.group(1):
                return match.start(), match.end()
        return None


def _is_stylesheet(tag: Tag) -> bool:
    return tag.name == "style" or (tag.name == "link" and "stylesheet" in [r.lower() for r in tag.get("rel") or []])


def _head_offset(page: _Page) -> int:
    """Before the page's first stylesheet (so the site's own CSS wins), else at the end of <head>."""
    soup = page.soup
    head = soup.head
    if head is not None:
        first_style = head.find(_is_stylesheet)
        if first_style is not None:
            return page.start(first_style)
        end = page.end_tag(head)
        return end[0] if end else page.start_tag_end(head)
    if soup.body is not None:
        return page.start(soup.body)
    root = soup.find("html")
    if root is not None:
        return page.start_tag_end(root)
    return 0


def _bar_offset(page: _Page, position: str) -> int:
    soup = page.soup
    if position == "after-h1":
        content = soup.find("article") or soup.find("main") or soup
        h1 = content.find("h1") or soup.find("h1")
        end = page.end_tag(h1) if h1 is not None else None
        if end:
            return end[1]
        position = "content-end"
    if position == "content-end":
        for name in ("article", "main"):
            element = soup.find(name)
            end = page.end_tag(element) if element is not None else None
            if end:
                return end[0]
    for element in (soup.body, soup.find("html")):
        end = page.end_tag(element) if element is not None else None
        if end:
            return end[0]
    return len(page.html)


def _page_title(soup: BeautifulSoup) -> str:
    for tag in (soup.title, soup.find("h1")):
        if tag is not None and tag.get_text(strip=True):
            return " ".join(tag.get_text().split())
    return ""


def _canonical_url(soup: BeautifulSoup) -> str | None:
    for link in soup.find_all("link", href=True):
        if "canonical" in [r.lower() for r in link.get("rel") or []]:
            return link["href"]
    return None


def inject(html: str, config: TrackerConfig, page_url: str | None = None, title: str | None = None) -> str:
    """``html`` with the stylesheet, the tracker and the share bar added; every other character kept.

    ``page_url`` is the address people share (absolute, so that share services get a full URL); when
    omitted, the page's ``<link rel="canonical">`` is used. ``title`` defaults to the page's ``<title>``.
    Idempotent; a page that opts out is returned unchanged.
    """
    page = _Page(html)
    soup = page.soup
    if _opted_out(soup):
        return html
    inserts: list[tuple[int, str]] = []
    head = "".join(
        snippet(config)
        for name, snippet in (("link", _stylesheet_tag), ("script", _script_tag))
        if soup.find(name, attrs={MARKER: True}) is None
    )
    if head:
        inserts.append((_head_offset(page), head))
    if soup.find("nav", class_="ds-bar") is None:
        url = page_url or _canonical_url(soup)
        if not url:
            raise InjectError("no page_url given and the page has no <link rel=\"canonical\">: pass page_url")
        bar = share_bar(config, url, _page_title(soup) if title is None else title)
        inserts.append((_bar_offset(page, config.position), bar))
    return _splice(html, inserts)


def _splice(html: str, inserts: list[tuple[int, str]]) -> str:
    """Insert snippets at offsets of the original string (stable: equal offsets keep their order)."""
    out, previous = [], 0
    for offset, snippet in sorted(inserts, key=lambda item: item[0]):
        out.append(html[previous:offset])
        out.append(snippet)
        previous = offset
    out.append(html[previous:])
    return "".join(out)


def markup_bytes(config: TrackerConfig, page_url: str, title: str) -> int:
    """UTF-8 bytes that ``inject`` adds to a page (the per-page markup budget is 8 KB)."""
    return len((head_tags(config) + share_bar(config, page_url, title)).encode())


__all__ = [
    "POSITIONS",
    "STATIC_DIR",
    "InjectError",
    "TrackerConfig",
    "head_tags",
    "inject",
    "is_opted_out",
    "markup_bytes",
    "share_bar",
]
