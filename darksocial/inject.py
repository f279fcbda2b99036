"""Share-bar markup and HTML injection.

``inject`` adds three snippets to a page: the stylesheet ``<link>`` and the tracker
``<script defer>`` in ``<head>`` (its configuration in ``data-*`` attributes: no inline
script or style, so ``Content-Security-Policy: default-src 'self'`` works) and the
server-rendered share bar at the configured place. One scan of the page's tags (htmlscan)
finds the places; the snippets are then spliced into the original string, so every character
outside them stays exactly as it was. Injecting twice changes nothing, and a page carrying
``<meta name="darksocial" content="off">`` is returned untouched.
"""

from __future__ import annotations

import functools
import html as html_lib
import pathlib
import re
from dataclasses import dataclass
from urllib.parse import quote, urlsplit

from . import channels, htmlscan, tokens, urls
from .events import SITE_RE

STATIC_DIR = pathlib.Path(__file__).parent / "static"
# Bytes of the shipped assets after gzip -9 (the test and `python -m bench tracker` read them). DESIGN.md said
# 1,700 for the script: reload credit (the o field) and back/forward-cache returns took 45 more, waiting for a
# prerendered page to be shown 29; leaving every tracking and private parameter of darksocial.urls (not only the
# common click ids) and e-mail values out of shared links and the address bar 240, an Android app's referrer 7. A
# browser audit's fixes took 44 more: share buttons that rewrite only the share URL's own ds= (never ?coords=51.5),
# the address bar left alone once a router or an anchor moved it, shares of the address the visitor is at, beacons
# resolved against the page rather than a <base href> on another origin, an element named "darksocial" (a heading's
# anchor) taken for no earlier tracker, and a browser without sendBeacon.
ASSET_BUDGETS = {"darksocial.js": 2100, "darksocial.css": 1024}
POSITIONS = ("after-h1", "content-end", "body-end")
STYLES = ("text", "icons")  # buttons with icon and label | compact round icon buttons (labels for screen readers)
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
    style: str = "text"  # see STYLES
    # Tracking parameters dropped from shared links besides urls.DEFAULT_STRIP: names, or prefixes ending in "*".
    strip_params: tuple[str, ...] = ()

    def __post_init__(self):
        try:
            object.__setattr__(self, "channels", channels.validate_buttons(self.channels))
        except channels.UnknownChannel as exc:
            raise InjectError(str(exc)) from None
        if self.style not in STYLES:
            raise InjectError(f"style must be one of {', '.join(STYLES)}; got {self.style!r}")
        params = tuple(self.strip_params)
        bad = [name for name in params if not isinstance(name, str) or not _PARAM_RE.fullmatch(name)]
        if bad:
            raise InjectError(
                f"strip_params must be query parameter names (letters, digits, _ . -), or prefixes ending in *; "
                f"got {bad!r}"
            )
        object.__setattr__(self, "strip_params", params)
        if self.position not in POSITIONS:
            raise InjectError(f"position must be one of {', '.join(POSITIONS)}; got {self.position!r}")
        if not SITE_RE.fullmatch(self.site or ""):
            raise InjectError(f"site must be a site id (letters, digits, . _ : -, at most 100); got {self.site!r}")
        for name in ("collector", "script_url", "css_url"):
            _check_url(getattr(self, name), name)
            if not getattr(self, name):
                raise InjectError(f"{name} is empty: give the URL (absolute, or root-relative such as /static/...)")
        if not urlsplit(self.collector).scheme and not self.collector.startswith("/"):
            # Assets may be page-relative (a static site's are); the collector must be one URL for every page.
            raise InjectError(f"'collector: {self.collector}' is a relative URL, so every page would post to a path "
                              f"under itself: make it root-relative ('/{self.collector}') or absolute")
        if not self.home_path.startswith("/"):
            raise InjectError(f"home_path must start with '/'; got {self.home_path!r}")


_PARAM_RE = re.compile(r"[A-Za-z0-9_.-]{1,100}\*?")
_CONTROL_CHARACTER = re.compile(r"[\x00-\x1f]")  # in a URL: a way to smuggle a scheme past urlsplit


def _check_url(url: str, what: str) -> None:
    """Only http(s) and scheme-less URLs: anything else (javascript:, data:) could run code from a link."""
    try:
        scheme = urlsplit(url).scheme.lower()
    except ValueError:
        raise InjectError(f"{what} is not a valid URL: {url!r}") from None
    if scheme not in ("", "http", "https") or _CONTROL_CHARACTER.search(url):
        raise InjectError(f"{what} must be an http(s) URL or a path; got {url!r}")


def _attr(value: str) -> str:
    return html_lib.escape(value, quote=True)


def _ds_suffix(code: str, query_mode: bool, url_has_query: bool) -> str:
    """What follows the page URL (its fragment removed) to carry ``ds=.<code>``: the channel is known, the
    sharer is filled in by the tracker."""
    value = tokens.format_value(None, code)
    if query_mode:
        return f"{'&' if url_has_query else '?'}{tokens.PARAM}={value}"
    return tokens.fragment(None, code)


def share_bar(config: TrackerConfig, page_url: str, title: str) -> str:
    """The server-rendered share bar: one link per configured channel, working with JavaScript off.

    The links carry the page's canonical URL (darksocial.urls: no fragment, no utm_* or click ids, no ds
    token). Every value is escaped for its context: percent-encoded inside share URLs, then HTML-escaped as an
    attribute, so no title or URL can close the attribute or open a tag.
    """
    _check_url(page_url, "page_url")
    try:
        url = canonical_page_url(page_url, config)
    except ValueError:
        raise InjectError(f"page_url is not a valid URL: {page_url!r}") from None
    template = _share_bar_template(config, config.query_mode and "?" in url)
    return template.format(url=quote(url, safe=""), title=quote(title, safe=""), page=_attr(url))


def canonical_page_url(page_url: str, config: TrackerConfig) -> str:
    """The page as it is shared, and as the collector keys its visits: darksocial.urls.canonical_url with the
    site's own tracking parameters (``ValueError`` for a URL that cannot be parsed)."""
    return urls.canonical_url(page_url, _strip_rules(config.strip_params))[0]


@functools.lru_cache(maxsize=16)
def _strip_rules(extra: tuple[str, ...]) -> frozenset[str]:
    return urls.strip_rules(extra)


def _literal(markup: str) -> str:
    return markup.replace("{", "{{").replace("}", "}}")


@functools.lru_cache(maxsize=64)
def _share_bar_template(config: TrackerConfig, url_has_query: bool) -> str:
    """The share bar of ``config`` as a format string whose fields are the page's values: ``{url}`` and
    ``{title}`` percent-encoded, ``{page}`` the HTML-escaped URL (for the copy link).

    Only those values change from page to page, so the rest is built once per configuration. Escaping the
    template around the fields equals escaping each finished link: percent-encoding with ``safe=""`` leaves
    letters, digits, "_.-~" and "%XX", which HTML-escaping keeps as they are.
    """
    text_suffix = quote(f" — {config.site_name}", safe="") if config.site_name else ""
    icons = config.style == "icons"
    items = []
    for code in config.channels:
        channel = channels.CHANNELS[code]
        # An icon button's label is its title: its accessible name and a tooltip.
        label = _literal(channel.icon + ("" if icons else f"<span>{html_lib.escape(channel.label)}</span>"))
        attrs = f'class="ds-btn ds-{code}"' + (f' title="{_literal(_attr(channel.label))}"' if icons else "")
        if code == "ns":  # needs navigator.share: CSS shows it where the tracker finds one
            items.append(f'<button type="button" {attrs} data-ds="ns" hidden>{label}</button>')
            continue
        ds = _ds_suffix(code, config.query_mode, url_has_query)
        if channel.share_url is None:  # the page's own address (copy link)
            href = "{page}" + _literal(_attr(ds))
        else:  # the service's share URL, its own fields filled with ours (share_url has no literal braces)
            href = _attr(channel.share_url.format(
                url="{url}" + quote(ds, safe=""), text="{title}" + text_suffix, title="{title}"
            ))
        opens_tab = href.startswith(("https:", "http:")) and channel.share_url is not None
        # The copy link points at the page itself: a target keeps Material's instant navigation from following it
        # (the tracker copies it instead); data-turbo and hx-boost on the bar do the same for Turbo and htmx.
        target = ' target="_blank" rel="noopener"' if opens_tab else ' target="_self"' if code == "cl" else ""
        items.append(f'<a {attrs} data-ds="{code}" href="{href}"{target}>{label}</a>')
    if "cl" in config.channels:
        items.append(_literal(f'<span class="ds-msg" role="status" data-text="{_attr(COPIED_MESSAGE)}"></span>'))
    bar_class = "ds-bar ds-icons" if icons else "ds-bar"
    nav = f'<nav class="{bar_class}" aria-label="{_attr(BAR_LABEL)}" data-turbo="false" hx-boost="false" {MARKER}>'
    return _literal(nav) + "".join(items) + "</nav>"


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
    attrs += [name for name, on in flags.items() if on]
    if config.strip_params:  # the tracker knows urls.DEFAULT_STRIP (compactly); it is told only what is added
        attrs.append(f'data-strip="{_attr(strip_pattern(config.strip_params))}"')
    return attrs


def strip_pattern(names: tuple[str, ...]) -> str:
    """Parameter names (``prefix*`` for a prefix) as the regular-expression alternation the tracker reads."""
    return "|".join(name.replace(".", "\\.").replace("*", ".*") for name in names)


@functools.lru_cache(maxsize=64)  # once per configuration, not per page
def _stylesheet_tag(config: TrackerConfig) -> str:
    return f'<link rel="stylesheet" href="{_attr(config.css_url)}" {MARKER}>'


@functools.lru_cache(maxsize=64)  # once per configuration, not per page
def _script_tag(config: TrackerConfig) -> str:
    return f'<script defer src="{_attr(config.script_url)}" {MARKER} {" ".join(_script_attributes(config))}></script>'


def head_tags(config: TrackerConfig) -> str:
    """The stylesheet link and the deferred tracker script, configured by its data attributes."""
    return _stylesheet_tag(config) + _script_tag(config)


# --- finding places in the page: offsets from one scan of its tags (htmlscan) --------------------------

LOCATED_TAGS = ("head", "body", "html", "title", "h1", "article", "main", "link", "meta", "nav", "script", "style")


class _Page:
    """The page and the tags inject looks at. Offsets count characters of ``html``: splicing into the str
    itself spares encoding the page to UTF-8 and decoding it back (a third of the scan's cost)."""

    def __init__(self, html: str):
        self.html = html
        # An <h1> written as text in a textarea (or inert in a template) is no heading to put the bar after.
        self.tags = _outside_inert(htmlscan.scan(html, LOCATED_TAGS + INERT), keep=("title",))

    def first(self, name: str, within: htmlscan.Tag | None = None) -> htmlscan.Tag | None:
        if within is None:
            return htmlscan.first(self.tags, name)
        return htmlscan.first(self.tags, name, *htmlscan.inside(self.tags, within))

    def start_tags(self, name: str) -> list[htmlscan.Tag]:
        return [tag for tag in self.tags if tag.name == name and not tag.is_end]

    def end_tag(self, element: htmlscan.Tag | None) -> htmlscan.Tag | None:
        return htmlscan.end_tag(self.tags, element) if element is not None else None

    def text(self, name: str) -> str:
        return htmlscan.text(self.html, self.tags, self.first(name))

    def splice(self, inserts: list[tuple[int, str]]) -> str:
        """Insert snippets at offsets (stable: equal offsets keep their order); every other character kept."""
        out, previous = [], 0
        for offset, snippet in sorted(inserts, key=lambda item: item[0]):
            out += (self.html[previous:offset], snippet)
            previous = offset
        out.append(self.html[previous:])
        return "".join(out)


def _rel(tag: htmlscan.Tag) -> list[str]:
    return [token.lower() for token in tag.tokens("rel")]


def _opted_out(page: _Page) -> bool:
    for meta in page.start_tags("meta"):
        if meta.mentions("darksocial"):  # most meta tags mention neither: their attributes are never parsed
            attributes = meta.attributes()
            if attributes.get("name", "").strip().lower() == "darksocial":
                return attributes.get("content", "").strip().lower() == "off"
        elif meta.mentions("refresh") and _redirects(meta.attributes()):
            return True
    return False


def _redirects(attributes: dict) -> bool:
    """A redirect stub (mkdocs-redirects, Material's redirect template): no story of its own to share. A refresh
    without a URL (a live page reloading itself) is a page like any other."""
    return (attributes.get("http-equiv", "").strip().lower() == "refresh"
            and "url=" in attributes.get("content", "").replace(" ", "").lower())


def is_opted_out(html: str) -> bool:
    """True when the page carries ``<meta name="darksocial" content="off">`` or redirects at once
    (``<meta http-equiv="refresh" content="0; url=…">``)."""
    lowered = html.lower()
    if "darksocial" not in lowered and "refresh" not in lowered:  # cheap: most pages mention neither
        return False
    return _opted_out(_Page(html))


def _head_offset(page: _Page) -> int:
    """Before the page's first stylesheet (so the site's own CSS wins), else at the end of <head>."""
    head = page.first("head")
    if head is not None:
        content_start, content_stop = htmlscan.inside(page.tags, head)
        for tag in page.tags:
            if tag.is_end or tag.start < content_start or (content_stop is not None and tag.start >= content_stop):
                continue
            if tag.name == "style" or (tag.name == "link" and tag.mentions("stylesheet") and "stylesheet" in _rel(tag)):
                return tag.start
        return content_stop if content_stop is not None else head.stop
    body = page.first("body")
    if body is not None:
        return body.start
    root = page.first("html")
    return root.stop if root is not None else 0


def _bar_offset(page: _Page, position: str) -> int:
    if position == "after-h1":
        content = page.first("article") or page.first("main")
        h1 = (page.first("h1", within=content) if content is not None else None) or page.first("h1")
        end = page.end_tag(h1)
        if end is not None:
            return end.stop
        position = "content-end"
    if position == "content-end":
        for name in ("article", "main"):
            end = page.end_tag(page.first(name))
            if end is not None:
                return end.start
        end = _role_main_end(page.html)
        if end is not None:
            return end
    for name in ("body", "html"):
        end = page.end_tag(page.first(name))
        if end is not None:
            return end.start
    return len(page.html)


# Themes without <article> or <main> mark their content with role="main" (MkDocs' own theme: a <div>). Scanned
# only when a page has neither: every <div> of every page would double the scan.
ROLE_MAIN_TAGS = ("div", "section")
ROLE_MAIN_HINT = re.compile(r"role\s*=\s*[\"']?\s*main", re.IGNORECASE)  # a cheap test before the scan
# Elements whose content is no part of the page's layout: a title's and a textarea's are text, a template's inert.
INERT = ("template", "textarea", "title")


def _role_main_end(html: str) -> int | None:
    """Where the first element with role="main" ends (before its end tag), if it has one."""
    if ROLE_MAIN_HINT.search(html) is None:
        return None
    tags = _outside_inert(htmlscan.scan(html, ROLE_MAIN_TAGS + INERT))
    for tag in tags:
        if not tag.is_end and tag.mentions("main") and tag.attributes().get("role", "").strip().lower() == "main":
            end = htmlscan.end_tag(tags, tag)
            return end.start if end is not None else None
    return None


def _outside_inert(tags: list[htmlscan.Tag], keep: tuple[str, ...] = ()) -> list[htmlscan.Tag]:
    """The tags that are not inside a title, textarea or template (one pass); the inert elements' own tags are
    left out too, but for those named in ``keep``."""
    kept, inside, depth = [], None, 0
    for tag in tags:
        if inside == "template":  # templates nest
            if tag.name == "template":
                depth += -1 if tag.is_end else 1
                inside = None if depth == 0 else inside
        elif inside is not None:  # a title's or a textarea's text ends at the first end tag of its name
            inside = None if tag.is_end and tag.name == inside else inside
        elif tag.name in INERT:
            inside, depth = (None, 0) if tag.is_end else (tag.name, 1)
        else:
            kept.append(tag)
            continue
        # An inert element's own tags, kept when asked for (not its like inside another one's text).
        if tag.name in keep and inside in (None, tag.name):
            kept.append(tag)
    return kept


def _page_title(page: _Page) -> str:
    return page.text("title") or page.text("h1")


def _canonical_url(page: _Page) -> str | None:
    for link in page.start_tags("link"):
        if "canonical" in _rel(link):
            href = link.attributes().get("href")
            if href is not None:
                return href
    return None


def _has_marked(page: _Page, name: str) -> bool:
    return any(tag.mentions(MARKER) and MARKER in tag.attributes() for tag in page.start_tags(name))


def _has_share_bar(page: _Page) -> bool:
    return any(nav.mentions("ds-bar") and "ds-bar" in nav.tokens("class") for nav in page.start_tags("nav"))


def inject(html: str, config: TrackerConfig, page_url: str | None = None, title: str | None = None) -> str:
    """``html`` with the stylesheet, the tracker and the share bar added; every other character kept.

    ``page_url`` is the address people share (absolute, so that share services get a full URL); when
    omitted, the page's ``<link rel="canonical">`` is used. ``title`` defaults to the page's ``<title>``.
    Idempotent; a page that opts out is returned unchanged.
    """
    page = _Page(html)
    if _opted_out(page):
        return html
    inserts: list[tuple[int, str]] = []
    head = "".join(
        snippet(config) for name, snippet in (("link", _stylesheet_tag), ("script", _script_tag))
        if not _has_marked(page, name)
    )
    if head:
        inserts.append((_head_offset(page), head))
    if not _has_share_bar(page):
        url = page_url or _canonical_url(page)
        if not url:
            raise InjectError("no page_url given and the page has no <link rel=\"canonical\">: pass page_url")
        bar = share_bar(config, url, _page_title(page) if title is None else title)
        inserts.append((_bar_offset(page, config.position), bar))
    return page.splice(inserts)


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
