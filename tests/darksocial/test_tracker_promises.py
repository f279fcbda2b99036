"""What README.md ("Share bar and tracker", "Channels", "Events", "Collector") and DESIGN.md promise about the
tracker, checked as a visitor meets it: real headless Chromium, injected pages on 127.0.0.1 under a strict CSP,
a recording collector on the same origin (and, once, the real collector of the reporting server).

Every expectation here is taken from the two documents, not from the tracker's source.
"""

from __future__ import annotations

import html
import json
import re
import time
from urllib.parse import parse_qs, quote, urlsplit

import pytest

from darksocial.inject import TrackerConfig, inject
from darksocial.urls import canonical_url

from .tracker_site import CSP, Site, browser_contexts, clipboard, select, serving, settle, wait_events

SITE_ID = "promise-site"
TOKEN_RE = re.compile(r"[0-9A-Za-z]{10}")
TITLE = "Dark social explained"
SEVEN = "alpha bravo charlie delta echo foxtrot golf"
SIX = "alpha bravo charlie delta echo foxtrot"
# Every channel with a button, and where its button must take the visitor (channels.py holds the templates).
HTTPS_SERVICES = {
    "wa": ("wa.me", "text"),
    "tg": ("t.me", "url"),
    "x": ("x.com", "url"),
    "fb": ("www.facebook.com", "u"),
    "li": ("www.linkedin.com", "url"),
    "rd": ("www.reddit.com", "url"),
    "bs": ("bsky.app", "text"),
}
APP_SCHEMES = {"em": ("mailto:", "body"), "sms": ("sms:", "body"), "fm": ("fb-messenger:", "link")}

# Path prefix → TrackerConfig options of the pages served under it.
VARIANTS = {
    "a": {},
    "h2": {"home_path": "/h2/"},
    "abh": {"home_path": "/abh/", "address_bar_home": True},
    "noab": {"address_bar": False},
    "nocopy": {"copy_tracking": False},
    "cookieless": {"cookieless": True},
    "dnt": {"respect_dnt": True},
    "query": {"query_mode": True},
    "strip": {"strip_params": ("ref", "aff_*")},
    "restorable": {},  # cacheable: may enter the back/forward cache
    "rnoab": {"address_bar": False},  # cacheable too
    "content": {},  # data-content="#only" added after injection
    "spa": {},
    "icons": {"style": "icons"},
    "named": {},  # a heading whose anchor id is "darksocial"
    "based": {},  # <base href> on another origin
}
# Where a page's <base href> points: another origin, which nothing may be sent to.
ELSEWHERE = "http://127.0.0.2:9/"

BODY = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>{title}</title></head>
<body><header id="hdr">{seven} header words</header>
<main><article>
<h1>{title}</h1>
<p id="seven">{seven}</p>
<p id="six">{six}</p>
<p id="only">{seven} india juliet</p>
<pre><code id="code">{seven} hotel</code></pre>
<textarea id="box">{seven} hotel</textarea>
<input id="field" value="{seven} hotel">
<div id="editable" contenteditable="true">{seven} hotel</div>
<p id="prose">{seven} <code>hotel</code></p>
<p><a id="next" href="{next}">next page</a></p>
<h2 id="install">Install</h2>
</article></main>
</body></html>
"""


def render(site: Site, path_and_query: str):
    path = urlsplit(path_and_query).path
    variant = path.strip("/").split("/")[0] or "a"
    if variant not in VARIANTS:
        return None
    assets = site.base if variant == "based" else ""  # the site's own assets, named absolutely beside <base>
    config = TrackerConfig(collector=site.collector, site=SITE_ID, script_url=f"{assets}/static/darksocial.js",
                           css_url=f"{assets}/static/darksocial.css", **VARIANTS[variant])
    title = site.title if site.title is not None else (f"Page {path}" if variant == "spa" else TITLE)
    body = BODY.format(title=html.escape(title), seven=SEVEN, six=SIX, next=html.escape(f"/{variant}/next/"))
    page = inject(body, config, site.base + path_and_query, title)
    if variant == "content":
        page = page.replace(" data-collector=", ' data-content="#only" data-collector=', 1)
    elif variant == "named":
        page = page.replace("<h1>", '<h2 id="darksocial">darksocial</h2><h1>', 1)
    elif variant == "based":
        page = page.replace("<head>", f'<head><base href="{ELSEWHERE}">', 1)
    return page, variant in ("restorable", "rnoab")  # cacheable: may enter the back/forward cache


@pytest.fixture(scope="module")
def site():
    with serving(render) as site:
        yield site


@pytest.fixture(autouse=True)
def _reset_site(site):
    site.reset()
    yield


@pytest.fixture
def new_context(browser, site):
    """Browser contexts (fresh profile each) whose requests never leave 127.0.0.1; errors are recorded."""
    with browser_contexts(browser, {host for host, _ in HTTPS_SERVICES.values()}) as make:
        yield make
    watch = make.watch
    assert watch.left_machine == [], "requests tried to leave the machine"
    assert watch.page_errors == [], "the tracker threw"
    assert watch.dialogs == [], "a dialog opened: injected script ran"
    invalid = [r for r in site.received if "error" in r]
    site.received[:] = [r for r in site.received if "error" not in r]
    assert invalid == [], "the tracker sent a body the collector's schema rejects"


def views_of(site: Site, url: str) -> list[dict]:
    return [e for e in site.events() if e["k"] == "view" and e["u"] == url]


def sent_by(site: Site, view: dict) -> list[dict]:
    """Every event of the visitor (or, cookieless, of the page view) of ``view``."""
    if "v" in view:
        return [e for e in site.events() if e.get("v") == view["v"]]
    return [e for e in site.events() if view["t"] in (e.get("t"), e.get("p"))]


def open_page(context, site: Site, path: str, suffix: str = "", view_url: str | None = None):
    """Open ``path`` + ``suffix``; return (page, the page URL without suffix, its view event)."""
    page = context.new_page()
    url = site.url(path)
    since = len(site.events())
    page.goto(url + suffix)
    expected = view_url or url
    view = wait_events(page, site, lambda e: e["k"] == "view" and e["u"] == expected, since=since)[0]
    return page, url, view


def copy(page, selector: str) -> str:
    """Select the text of ``selector``, press Ctrl+C, return the clipboard."""
    page.evaluate("() => navigator.clipboard.writeText('EMPTY')")
    if page.evaluate("(s) => ['TEXTAREA', 'INPUT'].includes(document.querySelector(s).tagName)", selector):
        page.focus(selector)
        page.evaluate("(s) => document.querySelector(s).select()", selector)
    else:
        select(page, selector)
    page.keyboard.press("Control+C")
    page.wait_for_function("() => navigator.clipboard.readText().then(t => t !== 'EMPTY')", polling=30)
    return page.evaluate("() => navigator.clipboard.readText()")


CLIPBOARD = {"permissions": ["clipboard-read", "clipboard-write"]}



NATIVE_SHARE_STUB = """
Object.defineProperty(Navigator.prototype, 'share', {configurable: true, value: function (data) {
    window.__shared = data; return Promise.resolve(); }});
"""
MOBILE = {"has_touch": True, "is_mobile": True, "viewport": {"width": 400, "height": 800}}
DNT = "Object.defineProperty(Navigator.prototype, 'doNotTrack', {configurable: true, get: () => '1'});"
GPC = "Object.defineProperty(Navigator.prototype, 'globalPrivacyControl', {configurable: true, get: () => true});"
CAMPAIGN = "utm_source=news&utm_medium=email&fbclid=FB1&gclid=G1&msclkid=M1&mc_cid=C1&igshid=I1"
# README, "Canonical page URLs": the tracking parameters, as listed there.
README_CLICK_IDS = ("fbclid", "gclid", "gbraid", "wbraid", "dclid", "msclkid", "mc_cid", "mc_eid", "yclid", "igshid",
                    "twclid", "ttclid", "li_fat_id", "_hsenc", "_hsmi", "mkt_tok", "oly_anon_id", "oly_enc_id",
                    "vero_id", "rb_clickid", "s_cid")
TOKENED = r"[0-9A-Za-z]{10}"


def shared_link_in(service_url: str, param: str) -> str:
    """The page link inside a share service's (or app's) URL: the last word of a text, or the URL parameter."""
    query = urlsplit(service_url.replace("fb-messenger://share/", "x:")).query
    return parse_qs(query, keep_blank_values=True)[param][0].split()[-1]


def press(context, page, code: str) -> str:
    """Press a web share button; return the URL of the share service's page it opened (answered locally)."""
    with context.expect_page() as popup_info:
        page.click(f"nav.ds-bar [data-ds={code}]")
    popup = popup_info.value
    popup.wait_for_load_state()
    url = popup.url
    popup.close()
    return url


def share_of(page, site: Site, view: dict, code: str) -> dict:
    """The (single) share event of channel ``code`` made from the page view ``view``."""
    [share] = wait_events(page, site, lambda e: e["k"] == "share" and e["c"] == code and e["p"] == view["t"])
    return share


# --- page views and the address bar -------------------------------------------------------------------------


def test_a_page_view_sends_one_view_beacon_to_the_collector_and_shows_its_token(site, new_context):
    context = new_context()
    page, url, view = open_page(context, site, "/a/view/")
    assert (view["k"], view["s"], view["u"], view["n"]) == ("view", SITE_ID, url, TITLE)
    assert TOKEN_RE.fullmatch(view["t"])
    assert not view.get("i") and "o" not in view and not view.get("r")
    # the token is shown in the address bar by replaceState: no history entry added
    assert page.url == f"{url}#ds={view['t']}"
    assert page.evaluate("() => history.length") == 2  # about:blank, then the page
    settle(page)
    assert len(views_of(site, url)) == 1
    record = next(r for r in site.received if view in r["events"])
    assert record["path"] == "/collect"  # data-collector
    assert record["type"].split(";")[0] == "text/plain"
    assert record["origin"] == site.base


def test_a_page_an_android_app_opened_sends_the_apps_referrer_and_no_other_scheme(site, new_context):
    # Chrome on Android gives a page opened from Gmail, WhatsApp or Slack the referrer android-app://<package>/: it
    # names the app (the collector keeps the package); any other non-web referrer is never sent.
    # Of a web referrer only the origin leaves the browser: a webmail's or a search's path can name a person.
    for referrer, sent in (("android-app://com.google.android.gm/", "android-app://com.google.android.gm"),
                           ("https://mail.example.org/inbox/ada?q=secret#m1", "https://mail.example.org"),
                           ("file:///home/ada/notes.html", None), ("chrome://newtab/", None)):
        context = new_context()
        context.add_init_script("Object.defineProperty(Document.prototype, 'referrer', {configurable: true, "
                                f"get: () => {json.dumps(referrer)}}});")
        _, _, view = open_page(context, site, "/a/from-app/")
        assert (view.get("r") or None) == sent, referrer
        context.close()


def test_the_visitor_id_is_random_kept_in_local_storage_under_ds_v_and_there_are_no_cookies(site, new_context):
    context = new_context()
    page, _, first = open_page(context, site, "/a/visitor-1/")
    _, _, second = open_page(context, site, "/a/visitor-2/")
    assert re.fullmatch(r"[0-9A-Za-z]{10,32}", first["v"])
    assert second["v"] == first["v"]
    assert page.evaluate("() => Object.keys(localStorage)") == ["ds_v"]
    assert page.evaluate("() => localStorage.ds_v") == first["v"]
    assert page.evaluate("() => document.cookie") == "" and context.cookies() == []
    _, _, third = open_page(new_context(), site, "/a/visitor-3/")
    assert third["v"] != first["v"]
    assert all(r.get("cookie") is None for r in site.received if r["method"] == "POST")


def test_the_home_page_data_home_data_ab_home_and_data_no_ab_decide_where_a_token_shows(site, new_context):
    context = new_context()
    expected = {  # path → whether the address bar shows the page-view token
        "/": False,  # the home page, by default
        "/h2/": False,  # data-home="/h2/": this site's home page
        "/h2/story/": True,
        "/abh/": True,  # data-ab-home: on the home page too
        "/noab/story/": False,  # data-no-ab: never
    }
    pages = {path: open_page(context, site, path) for path in expected}
    settle(pages["/"][0])
    for path, shown in expected.items():
        page, url, view = pages[path]
        assert TOKEN_RE.fullmatch(view["t"]), path
        assert page.url == (f"{url}#ds={view['t']}" if shown else url), path


def test_an_in_page_anchor_is_never_replaced_and_its_reload_sends_an_empty_o(site, new_context):
    page, url, first = open_page(new_context(), site, "/a/anchor/", "#install")
    assert TOKEN_RE.fullmatch(first["t"])
    settle(page)
    assert page.url == url + "#install"
    since = len(site.events())
    page.reload()
    [again] = wait_events(page, site, lambda e: e["k"] == "view" and e["u"] == url, since=since)
    assert again.get("o") == "" and not again.get("i")
    assert page.url == url + "#install"


def test_the_address_bar_loses_campaign_parameters_on_the_home_page_and_beside_an_anchor(site, new_context):
    page = new_context().new_page()
    page.goto(site.url("/?utm_source=a&fbclid=F&page=1"))
    page.wait_for_function("() => !location.search.includes('utm_')")
    assert page.url == site.url("/?page=1")
    page.goto(site.url("/a/anchor-utm/?gclid=G&id=5#install"))
    page.wait_for_function("() => !location.search.includes('gclid')")
    assert page.url == site.url("/a/anchor-utm/?id=5#install")


def test_an_arrival_sends_its_incoming_value_and_replaces_it_with_its_own_token(site, new_context):
    context = new_context()
    page, url, view = open_page(context, site, "/a/arrive/", "#ds=AbCdEfGhIj.wa")
    assert view["i"] == "AbCdEfGhIj.wa"
    assert view["t"] != "AbCdEfGhIj" and TOKEN_RE.fullmatch(view["t"]) and "o" not in view
    assert page.url == f"{url}#ds={view['t']}"
    assert page.evaluate("() => history.length") == 2
    # a server-rendered (no JavaScript) link: the channel alone
    page, url, view = open_page(context, site, "/a/arrive-nojs/", "#ds=.tg")
    assert view["i"] == ".tg" and page.url == f"{url}#ds={view['t']}"


def test_the_address_bar_copied_into_another_browser_or_a_second_tab_sends_the_token(site, new_context):
    context = new_context()
    sharer, url, sharer_view = open_page(context, site, "/a/ab-copy/")
    copied = sharer.url  # what the visitor copies from the address bar
    assert copied == f"{url}#ds={sharer_view['t']}"
    # a friend opens it: an address-bar share
    friend = new_context().new_page()
    friend.goto(copied)
    [view] = wait_events(friend, site, lambda e: e["k"] == "view" and e.get("i") == sharer_view["t"])
    assert view["v"] != sharer_view["v"] and view["t"] != sharer_view["t"] and "o" not in view
    assert friend.url == f"{url}#ds={view['t']}"
    # the visitor pastes it into a second tab: a new navigation, sent as incoming (attribution knows it is theirs)
    second = context.new_page()
    second.goto(copied)
    [own] = wait_events(second, site, lambda e: e["k"] == "view" and e.get("i") == sharer_view["t"]
                        and e.get("v") == sharer_view["v"])
    assert own["t"] != sharer_view["t"] and "o" not in own
    assert second.url == f"{url}#ds={own['t']}"


# --- reloads, back/forward, restored pages --------------------------------------------------------------------


def test_a_reload_sends_no_incoming_token_but_names_the_view_it_repeats_and_shares_from_it(site, new_context):
    context = new_context()
    page, url, first = open_page(context, site, "/a/reload/", "#ds=ZyXwVuTsRq.wa")
    assert first["i"] == "ZyXwVuTsRq.wa"
    page.reload()
    [again] = wait_events(page, site, lambda e: e["k"] == "view" and e.get("o") == first["t"])
    assert not again.get("i")
    assert again["u"] == url and TOKEN_RE.fullmatch(again["t"]) and again["v"] == first["v"]
    # a share from the reloaded page has the current page view (the reload's) as its parent
    link = shared_link_in(press(context, page, "tg"), "url")
    [share] = wait_events(page, site, lambda e: e["k"] == "share" and e["v"] == first["v"])
    assert share["p"] == again["t"] and link == f"{url}#ds={share['t']}.tg"


def test_back_forward_and_a_restored_tab_send_no_incoming_token_but_name_the_view_they_repeat(site,
                                                                                             new_context):
    page, url, first = open_page(new_context(), site, "/a/back/", "#ds=PoIuYtReWq.em")
    assert first["i"] == "PoIuYtReWq.em"
    since = len(site.events())
    page.click("#next")
    [nxt] = wait_events(page, site, lambda e: e["k"] == "view" and e["u"] == site.url("/a/next/"), since=since)
    assert nxt["r"] == site.base and nxt["v"] == first["v"]  # the referrer's origin goes along, not its path
    page.go_back()
    [back] = wait_events(page, site, lambda e: e["k"] == "view" and e.get("o") == first["t"])
    assert back["u"] == url and not back.get("i")
    # a restored tab comes back the same way: its navigation type is back_forward, as here
    assert page.evaluate("() => performance.getEntriesByType('navigation')[0].type") == "back_forward"
    page.go_forward()
    [forward] = wait_events(page, site, lambda e: e["k"] == "view" and e.get("o") == nxt["t"])
    assert forward["u"] == site.url("/a/next/") and not forward.get("i")


def test_a_reload_of_a_page_without_a_token_in_the_address_bar_sends_an_empty_o(site, new_context):
    context = new_context()
    for path in ("/", "/noab/reload/"):  # the home page, data-no-ab
        page, url, first = open_page(context, site, path)
        since = len(site.events())
        page.reload()
        [again] = wait_events(page, site, lambda e, url=url: e["k"] == "view" and e["u"] == url, since=since)
        assert again.get("o") == "" and not again.get("i"), path
        assert again["v"] == first["v"]


def test_a_page_restored_from_the_back_forward_cache_sends_a_return(site, new_context,
                                                                   browser_with_back_forward_cache):
    context = new_context(browser=browser_with_back_forward_cache)
    for path, shows_token in (("/restorable/one/", True), ("/rnoab/one/", False)):
        page, url, first = open_page(context, site, path)
        page.evaluate("() => { window.__same_document = 'kept'; }")
        since = len(site.events())
        page.click("#next")
        wait_events(page, site, lambda e: e["k"] == "view" and e["u"].endswith("/next/"), since=since)
        page.go_back()
        [back] = wait_events(page, site, lambda e, url=url: e["k"] == "view" and e["u"] == url, since=since)
        assert page.evaluate("() => window.__same_document") == "kept", "not a back/forward cache restore"
        assert back.get("o") == (first["t"] if shows_token else ""), path
        assert not back.get("i") and back["t"] != first["t"]


# --- in-page navigation -------------------------------------------------------------------------------------


def test_in_page_navigation_sends_a_view_with_the_title_once_the_content_is_in_and_shares_follow(site,
                                                                                                 new_context):
    context = new_context(**CLIPBOARD)
    page, url, first = open_page(context, site, "/spa/first/")
    since = len(site.events())
    page.evaluate("""() => {
        history.pushState({}, '', '/spa/second/?utm_source=x&page=3');
        setTimeout(() => {
            document.title = 'Page /spa/second/';
            const bar = document.querySelector('nav.ds-bar');
            bar.replaceWith(bar.cloneNode(true));  // the router swaps the content, share bar included
        }, 600);
    }""")
    second_url = site.url("/spa/second/?utm_source=x&page=3")
    [view] = wait_events(page, site, lambda e: e["k"] == "view" and e["u"] == second_url, since=since)
    assert view["n"] == "Page /spa/second/" and view["r"] == site.base
    assert view["t"] != first["t"] and not view.get("i") and "o" not in view and view["v"] == first["v"]
    canonical = site.url("/spa/second/?page=3")
    page.wait_for_url(f"{canonical}#ds={view['t']}")
    page.click("nav.ds-bar [data-ds=cl]")
    cl = share_of(page, site, view, "cl")
    assert clipboard(page) == f"{canonical}#ds={cl['t']}.cl" and cl["u"] in (canonical, second_url)
    copied = copy(page, "#seven")
    ct = share_of(page, site, view, "ct")
    assert copied.rstrip().endswith(f"Read more: {canonical}#ds={ct['t']}.ct")


def test_in_page_navigation_after_an_arrival_and_a_return_to_the_first_page(site, new_context):
    page, url, first = open_page(new_context(), site, "/spa/arrived/", "#ds=MnBvCxZlKj.tg")
    assert first["i"] == "MnBvCxZlKj.tg"
    page.evaluate("() => addEventListener('popstate', () => { document.title = 'Page ' + location.pathname; })")
    page.evaluate("() => { history.pushState({}, '', '/spa/onward/'); document.title = 'Page /spa/onward/'; }")
    [view] = wait_events(page, site, lambda e: e["k"] == "view" and e["u"] == site.url("/spa/onward/"))
    assert not view.get("i") and "o" not in view and view["t"] != first["t"]  # the incoming token stays behind
    page.evaluate("() => darksocial.goal('read-on')")
    [goal] = wait_events(page, site, lambda e: e["k"] == "goal" and e.get("v") == first["v"])
    assert goal.get("t") == view["t"]
    since = len(site.events())
    page.go_back()  # a return to an earlier page with in-page navigation
    [back] = wait_events(page, site, lambda e: e["k"] == "view" and e["u"] == url, since=since)
    assert back.get("o") == first["t"] and not back.get("i")


def test_a_router_moving_the_address_meanwhile_keeps_its_address_and_shares_share_where_the_visitor_is(
        site, new_context):
    # The tracker waits (up to 3 s) for an in-page navigation's title before it shows the view's token: a router's
    # replaceState (filters, a tab) or an in-page anchor in that time is the address the visitor is at, and stays.
    context = new_context(**CLIPBOARD)
    page, url, first = open_page(context, site, "/spa/router/")
    page.evaluate("""() => { history.pushState({}, '', '/spa/tabs/');
                             setTimeout(() => history.replaceState({}, '', '/spa/tabs/?tab=2'), 300); }""")
    [view] = wait_events(page, site, lambda e: e["k"] == "view" and e["u"] == site.url("/spa/tabs/"))
    assert page.url == site.url("/spa/tabs/?tab=2")
    page.click("nav.ds-bar [data-ds=cl]")
    share = share_of(page, site, view, "cl")
    assert clipboard(page) == site.url(f"/spa/tabs/?tab=2#ds={share['t']}.cl")
    assert share["u"] == site.url("/spa/tabs/?tab=2")
    page.evaluate("""() => { history.pushState({}, '', '/spa/anchored/');
                             setTimeout(() => { location.hash = '#install'; }, 300); }""")
    wait_events(page, site, lambda e: e["k"] == "view" and e["u"] == site.url("/spa/anchored/"))
    assert page.url == site.url("/spa/anchored/#install")


# --- share buttons ------------------------------------------------------------------------------------------


def test_every_web_share_button_sends_a_share_and_opens_the_service_with_a_tokened_link(site, new_context):
    context = new_context()
    page, url, view = open_page(context, site, "/a/share-web/")
    seen_tokens = {view["t"]}
    for code, (host, param) in HTTPS_SERVICES.items():
        service = press(context, page, code)
        assert urlsplit(service).hostname == host, (code, service)
        link = shared_link_in(service, param)
        match = re.fullmatch(re.escape(url) + rf"#ds=({TOKENED})\.{code}", link)
        assert match, (code, link)
        share = share_of(page, site, view, code)
        assert (share["t"], share["u"], share["v"], share["s"]) == (match.group(1), url, view["v"], SITE_ID), code
        assert share["t"] not in seen_tokens, "a share token is fresh on every click"
        seen_tokens.add(share["t"])
    link = shared_link_in(press(context, page, "wa"), "text")  # the same button again: another share
    assert link.split("#ds=")[1].split(".")[0] not in seen_tokens
    assert page.url == f"{url}#ds={view['t']}"  # the page itself stays where it was


def test_app_share_buttons_send_a_share_and_follow_the_app_link_with_a_token(site, new_context):
    context = new_context(**MOBILE)  # Messenger and SMS show where the primary pointer is a finger
    context.add_init_script("""addEventListener('click', e => { const a = e.target.closest('a');
        window.__followed = {href: a && a.href, prevented: e.defaultPrevented}; });""")
    for code, (scheme, param) in APP_SCHEMES.items():
        # one page each: after an external-protocol navigation Chromium ignores clicks on that page for a while
        page, url, view = open_page(context, site, f"/a/share-{code}/")
        assert page.is_visible(f"nav.ds-bar [data-ds={code}]"), code
        page.click(f"nav.ds-bar [data-ds={code}]")
        followed = page.evaluate("() => window.__followed")
        assert followed["prevented"] is False and followed["href"].startswith(scheme), followed
        link = shared_link_in(followed["href"], param)
        match = re.fullmatch(re.escape(url) + rf"#ds=({TOKENED})\.{code}", link)
        assert match, (code, link)
        share = share_of(page, site, view, code)
        assert (share["t"], share["u"], share["v"]) == (match.group(1), url, view["v"])
        page.close()


def test_messenger_sms_and_the_native_share_button_show_only_where_they_work(site, new_context):
    desktop, _, _ = open_page(new_context(), site, "/a/desktop-bar/")
    settle(desktop, 100)
    assert not desktop.is_visible("nav.ds-bar [data-ds=fm]") and not desktop.is_visible("nav.ds-bar [data-ds=sms]")
    assert desktop.is_visible("nav.ds-bar [data-ds=wa]") and desktop.is_visible("nav.ds-bar [data-ds=em]")
    has_share = desktop.evaluate("() => typeof navigator.share === 'function'")
    assert desktop.is_visible("nav.ds-bar [data-ds=ns]") is has_share
    context = new_context()
    context.add_init_script(NATIVE_SHARE_STUB)
    page, url, view = open_page(context, site, "/a/native/")
    settle(page, 100)
    assert page.is_visible("nav.ds-bar [data-ds=ns]")
    page.click("nav.ds-bar [data-ds=ns]")
    page.wait_for_function("() => window.__shared")
    shared = page.evaluate("() => window.__shared")
    share = share_of(page, site, view, "ns")
    assert shared["url"] == f"{url}#ds={share['t']}.ns" and share["t"] != view["t"]


def test_copy_link_copies_a_tokened_link_and_says_so_under_the_button(site, new_context):
    page, url, view = open_page(new_context(**CLIPBOARD), site, "/a/copy-link/")
    page.click("nav.ds-bar [data-ds=cl]")
    share = share_of(page, site, view, "cl")
    assert clipboard(page) == f"{url}#ds={share['t']}.cl"
    assert share["u"] == url and share["t"] != view["t"] and share["v"] == view["v"]
    assert page.url == f"{url}#ds={view['t']}"  # not followed
    # announced to screen readers (a live status region) and shown on the pressed button alone
    assert page.text_content("nav.ds-bar [role=status]") == "Link copied"
    shown = page.evaluate("""() => [...document.querySelectorAll('nav.ds-bar [data-ds]')]
        .map(b => [b.dataset.ds, getComputedStyle(b, '::after').content])
        .filter(([, c]) => c.includes('Link copied'))""")
    assert shown == [["cl", '"Link copied"']]


# --- copied text --------------------------------------------------------------------------------------------


def test_copying_seven_words_of_the_content_appends_one_read_more_line_and_six_do_not(site, new_context):
    page, url, view = open_page(new_context(**CLIPBOARD), site, "/a/copy-text/")
    assert copy(page, "#six").strip() == SIX
    settle(page, 200)
    assert sent_by(site, view) == [view]
    copied = copy(page, "#seven")
    share = share_of(page, site, view, "ct")
    assert copied.startswith(SEVEN)
    assert copied.removeprefix(SEVEN).strip("\r\n").splitlines() == [f"Read more: {url}#ds={share['t']}.ct"]
    assert share["u"] == url and share["v"] == view["v"] and share["t"] != view["t"]


def test_copies_from_code_inputs_editable_regions_or_outside_the_content_are_left_alone(site, new_context):
    page, _, view = open_page(new_context(**CLIPBOARD), site, "/a/copy-excluded/")
    for selector in ["#code", "#box", "#field", "#editable", "#hdr"]:
        copied = copy(page, selector)
        assert "Read more" not in copied and copied.strip().startswith(SEVEN), (selector, copied)
    settle(page, 200)
    assert sent_by(site, view) == [view]


def test_a_copy_of_prose_that_ends_in_inline_code_is_attributed(site, new_context):
    # README leaves code blocks alone, not a word of prose set in <code>.
    page, url, view = open_page(new_context(**CLIPBOARD), site, "/a/copy-prose/")
    page.evaluate("""() => {
        const range = document.createRange();
        range.setStart(document.querySelector('#prose').firstChild, 0);
        range.setEnd(document.querySelector('#prose code').firstChild, 5);
        getSelection().removeAllRanges();
        getSelection().addRange(range);
    }""")
    page.evaluate("() => navigator.clipboard.writeText('EMPTY')")
    page.keyboard.press("Control+C")
    page.wait_for_function("() => navigator.clipboard.readText().then(t => t !== 'EMPTY')", polling=30)
    share = share_of(page, site, view, "ct")
    assert clipboard(page).rstrip().endswith(f"Read more: {url}#ds={share['t']}.ct")


def test_data_no_copy_and_data_content_decide_where_copies_are_attributed(site, new_context):
    context = new_context(**CLIPBOARD)
    page, _, view = open_page(context, site, "/nocopy/story/")
    assert copy(page, "#seven").strip() == SEVEN
    page, url, view2 = open_page(context, site, "/content/story/")
    assert copy(page, "#seven").strip() == SEVEN  # in <article> but outside data-content="#only"
    settle(page, 200)
    assert sent_by(site, view) == [view, view2]
    copied = copy(page, "#only")
    share = share_of(page, site, view2, "ct")
    assert copied.rstrip().endswith(f"Read more: {url}#ds={share['t']}.ct")


# --- canonical URLs -----------------------------------------------------------------------------------------


def test_campaign_parameters_and_click_ids_stay_out_of_the_address_bar_and_every_shared_link(site, new_context):
    context = new_context(**CLIPBOARD)
    path = f"/a/canon/?{CAMPAIGN}&page=2"
    page, _, view = open_page(context, site, path, view_url=site.url(path))
    canonical = site.url("/a/canon/?page=2")
    # the view still carries them (the visit is classified as campaign); the address bar loses them
    assert view["u"] == site.url(path)
    assert page.url == f"{canonical}#ds={view['t']}"
    link = shared_link_in(press(context, page, "wa"), "text")
    assert re.fullmatch(re.escape(canonical) + rf"#ds={TOKENED}\.wa", link), link
    page.click("nav.ds-bar [data-ds=cl]")
    cl = share_of(page, site, view, "cl")
    assert clipboard(page) == f"{canonical}#ds={cl['t']}.cl"
    assert canonical_url(cl["u"])[0] == canonical
    copied = copy(page, "#seven")
    ct = share_of(page, site, view, "ct")
    assert copied.rstrip().endswith(f"Read more: {canonical}#ds={ct['t']}.ct")


def test_data_strip_parameters_stay_out_of_shared_links_and_content_parameters_stay(site, new_context):
    path = "/strip/story/?ref=friend&id=7&utm_campaign=x&aff_id=3"  # data-strip: ref, aff_*
    page, _, view = open_page(new_context(**CLIPBOARD), site, path, view_url=site.url(path))
    page.click("nav.ds-bar [data-ds=cl]")
    cl = share_of(page, site, view, "cl")
    assert clipboard(page) == site.url(f"/strip/story/?id=7#ds={cl['t']}.cl")


def copied_link(context, site: Site, path: str) -> tuple[str, str]:
    """Open ``path``, press "Copy link"; return (the address bar without fragment, the copied link without it)."""
    page = context.new_page()
    page.goto(site.url(path))
    page.wait_for_function(f"() => /ds={TOKENED}/.test(location.href)")
    bar = page.url
    page.click("nav.ds-bar [data-ds=cl]")
    page.wait_for_function("() => navigator.clipboard.readText().then(t => t.includes('.cl'))")
    link = clipboard(page)
    page.close()
    assert re.search(rf"#ds={TOKENED}\.cl$", link), link
    return bar.split("#")[0], link.split("#")[0]


def test_every_click_id_the_readme_lists_stays_out_of_shared_links_and_the_address_bar(site, new_context):
    query = "&".join(f"{name}=v{n}" for n, name in enumerate(README_CLICK_IDS)) + "&utm_term=t&page=2"
    bar, link = copied_link(new_context(**CLIPBOARD), site, f"/a/click-ids/?{query}")
    assert (link, bar) == (site.url("/a/click-ids/?page=2"), site.url("/a/click-ids/?page=2"))


def test_shared_links_are_the_canonical_url_without_private_parameters(site, new_context):
    path = "/a/private/?email=ada%40example.com&token=s3cret&password=hunter2&to=bob%40example.org&page=2"
    _, link = copied_link(new_context(**CLIPBOARD), site, path)
    assert link == canonical_url(site.url(path))[0] == site.url("/a/private/?page=2")


def test_a_session_id_in_the_path_stays_out_of_shared_links_and_the_address_bar(site, new_context):
    # A Java server that cannot set a cookie writes the session into links: /page;jsessionid=…, someone's session.
    path = "/a/session;jsessionid=0123456789ABCDEF/?page=2"
    bar, link = copied_link(new_context(**CLIPBOARD), site, path)
    assert (link, bar) == (canonical_url(site.url(path))[0],) * 2 == (site.url("/a/session/?page=2"),) * 2


def test_shared_links_drop_matomo_campaign_parameters_and_encoded_names(site, new_context):
    path = "/a/matomo/?mtm_campaign=spring&pk_kwd=k&gclsrc=aw.ds&srsltid=S&utm%5Fsource=x&id=9"
    _, link = copied_link(new_context(**CLIPBOARD), site, path)
    assert link == canonical_url(site.url(path))[0] == site.url("/a/matomo/?id=9")


def test_shared_links_drop_names_with_a_private_ending_however_they_are_spelt(site, new_context):
    path = "/a/endings/?client_secret=c&sessionToken=t&X-Amz-Signature=z&resetPassword=p&authkey=k&page=2"
    _, link = copied_link(new_context(**CLIPBOARD), site, path)
    assert link == canonical_url(site.url(path))[0] == site.url("/a/endings/?page=2")


def test_a_page_whose_query_selects_content_keeps_its_incoming_token_its_reloads_and_address_bar_copies(
        site, new_context):
    # README: content parameters such as ?page=2 stay; an incoming #ds= is sent along and replaced; a reload names
    # the view it repeats.
    context = new_context()
    page, url, view = open_page(context, site, "/a/paged/?page=2", "#ds=AbCdEfGhIj.wa")
    assert view["i"] == "AbCdEfGhIj.wa" and page.url == f"{url}#ds={view['t']}"
    page.reload()
    [again] = wait_events(page, site, lambda e: e["k"] == "view" and e.get("o") == view["t"])
    assert not again.get("i") and again["u"] == url
    page.wait_for_url(f"{url}#ds={again['t']}")
    friend = new_context().new_page()
    friend.goto(page.url)  # the address bar, copied
    [clicked] = wait_events(friend, site, lambda e: e["k"] == "view" and e.get("i") == again["t"])
    assert clicked["u"] == url and clicked["v"] != view["v"]


def test_share_buttons_never_rewrite_a_content_parameter_whose_name_ends_in_ds(site, new_context):
    context = new_context(**MOBILE)
    context.add_init_script("""addEventListener('click', e => { const a = e.target.closest('a');
        window.__followed = a && a.href; });""")
    page, url, view = open_page(context, site, "/a/coords/?coords=51.5&keywords=.net&ids=3.5")
    for code, param in (("wa", "text"), ("tg", "url")):
        link = shared_link_in(press(context, page, code), param)
        assert link == f"{url}#ds={share_of(page, site, view, code)['t']}.{code}", code
    page.click("nav.ds-bar [data-ds=em]")
    link = shared_link_in(page.evaluate("() => window.__followed"), "body")
    assert link == f"{url}#ds={share_of(page, site, view, 'em')['t']}.em"


def test_query_mode_puts_tokens_in_the_query_and_its_reload_names_the_view_it_repeats(site, new_context):
    context = new_context(**CLIPBOARD)
    page = context.new_page()
    page.goto(site.url("/query/story/?id=3&ds=QwErTyUiOp.tg"))
    url = site.url("/query/story/?id=3")
    [view] = wait_events(page, site, lambda e: e["k"] == "view" and e.get("i") == "QwErTyUiOp.tg")
    assert view["u"] == url  # "u: page URL, no ds token"
    assert page.url == f"{url}&ds={view['t']}"
    page.click("nav.ds-bar [data-ds=cl]")
    cl = share_of(page, site, view, "cl")
    assert clipboard(page) == f"{url}&ds={cl['t']}.cl"
    copied = copy(page, "#seven")
    ct = share_of(page, site, view, "ct")
    assert copied.rstrip().endswith(f"Read more: {url}&ds={ct['t']}.ct")
    page.reload()
    [again] = wait_events(page, site, lambda e: e["k"] == "view" and e.get("o") == view["t"])
    assert again["u"] == url and not again.get("i")


# --- opt-outs -----------------------------------------------------------------------------------------------


def test_with_data_dnt_a_dnt_or_gpc_browser_is_sent_nothing_and_given_no_token(site, new_context):
    for signal in (DNT, GPC):
        context = new_context(**CLIPBOARD)
        context.add_init_script(signal)
        page = context.new_page()
        before = len(site.received)
        url = site.url("/dnt/story/")
        page.goto(url)
        settle(page, 150)
        assert page.url == url
        # the API is always defined and does nothing; the share buttons work as links without a token
        page.evaluate("() => { darksocial.identify('crm-1', 'Ada'); darksocial.goal('signup'); }")
        copy(page, "#seven")
        if signal == DNT:
            assert shared_link_in(press(context, page, "wa"), "text") == f"{url}#ds=.wa"
        page.click("nav.ds-bar [data-ds=cl]")
        settle(page, 150)
        assert site.received[before:] == []
        assert page.evaluate("() => Object.keys(localStorage)") == []
        assert not re.search(rf"ds={TOKENED}", page.url), page.url  # (a bare #ds=.cl is no token)
    # without data-dnt, the same browser is tracked
    context = new_context()
    context.add_init_script(DNT + GPC)
    page, url, view = open_page(context, site, "/a/dnt-ignored/")
    assert page.url == f"{url}#ds={view['t']}"


def test_cookieless_sends_no_visitor_id_and_stores_nothing(site, new_context):
    context = new_context(**CLIPBOARD)
    page, url, view = open_page(context, site, "/cookieless/story/")
    assert "v" not in view and page.url == f"{url}#ds={view['t']}"
    page.click("nav.ds-bar [data-ds=cl]")
    assert "v" not in share_of(page, site, view, "cl")
    page.evaluate("() => darksocial.goal('signup', 3)")
    [goal] = wait_events(page, site, lambda e: e["k"] == "goal" and e.get("t") == view["t"])
    assert "v" not in goal
    assert page.evaluate("() => [localStorage.length, sessionStorage.length, document.cookie]") == [0, 0, ""]
    assert context.cookies() == []


# --- without JavaScript -------------------------------------------------------------------------------------


def test_without_javascript_share_links_still_work_and_carry_the_channel(site, new_context):
    context = new_context(java_script_enabled=False)
    page = context.new_page()
    before = len(site.received)
    page.goto(site.url(f"/a/nojs/?{CAMPAIGN}&page=4"))
    canonical = site.url("/a/nojs/?page=4")
    for code, (host, param) in HTTPS_SERVICES.items():
        href = page.get_attribute(f"nav.ds-bar [data-ds={code}]", "href")
        assert urlsplit(href).hostname == host
        assert shared_link_in(href, param) == f"{canonical}#ds=.{code}", code
    for code, (_, param) in APP_SCHEMES.items():
        href = page.get_attribute(f"nav.ds-bar [data-ds={code}]", "href")
        assert shared_link_in(href, param) == f"{canonical}#ds=.{code}", code
    assert page.get_attribute("nav.ds-bar [data-ds=cl]", "href") == f"{canonical}#ds=.cl"
    bar = page.locator("nav.ds-bar")  # Turbo and htmx leave its links alone
    assert (bar.get_attribute("aria-label"), bar.get_attribute("data-turbo"), bar.get_attribute("hx-boost")) == (
        "Share this page", "false", "false")
    assert page.get_attribute("nav.ds-bar [data-ds=cl]", "target") == "_self"
    service = press(context, page, "tg")
    assert urlsplit(service).hostname == "t.me" and shared_link_in(service, "url") == f"{canonical}#ds=.tg"
    page.click("nav.ds-bar [data-ds=cl]")  # the copy link is a plain link to the page itself
    page.wait_for_url(f"{canonical}#ds=.cl")
    assert site.received[before:] == []


# --- the public API, the transport ----------------------------------------------------------------------------


def test_identify_and_goal_send_their_events(site, new_context):
    page, url, view = open_page(new_context(), site, "/a/api/")
    page.evaluate("() => { darksocial.identify('crm-42', 'Ada Lovelace'); darksocial.goal('newsletter', 12.5); }")
    [ident] = wait_events(page, site, lambda e: e["k"] == "identify" and e.get("v") == view["v"])
    assert (ident["x"], ident["n"], ident["s"]) == ("crm-42", "Ada Lovelace", SITE_ID)
    [goal] = wait_events(page, site, lambda e: e["k"] == "goal" and e.get("v") == view["v"])
    assert (goal["g"], goal["gv"], goal.get("t")) == ("newsletter", 12.5, view["t"])
    assert goal.get("u") in (None, url)
    since = len(site.events())
    page.evaluate("() => { darksocial.identify('crm-43'); darksocial.goal('download'); }")
    # Two beacons, two requests: they may reach the collector in either order.
    sent = {e["k"]: e for e in wait_events(page, site, lambda e: e["k"] in ("identify", "goal"), count=2,
                                           since=since)}
    ident, goal = sent["identify"], sent["goal"]
    assert (ident["x"], ident.get("n"), goal["g"], goal.get("gv")) == ("crm-43", None, "download", None)


def test_events_go_by_send_beacon_as_text_plain_with_no_preflight_and_nothing_leaves_the_origin(site,
                                                                                               new_context):
    context = new_context(**CLIPBOARD)
    page, url, view = open_page(context, site, "/a/transport/")
    page.click("nav.ds-bar [data-ds=cl]")
    share_of(page, site, view, "cl")
    requests = new_context.watch.requests
    posts = [(m, u, kind) for m, u, kind in requests if m == "POST"]
    assert posts == [("POST", site.url("/collect"), "ping")] * 2  # navigator.sendBeacon
    assert all(urlsplit(u).netloc == urlsplit(site.base).netloc for _, u, _ in requests)
    assert not any(m == "OPTIONS" for m, _, _ in requests)
    # strict CSP (default-src 'self') and no violation: Chromium logs one as a console error
    assert new_context.watch.console_errors == []
    for record in site.received:
        if any(view["t"] in (e.get("t"), e.get("p")) for e in record["events"]):
            assert record["type"].split(";")[0] == "text/plain"
            raw = json.loads(record["body"])
            assert isinstance(raw, dict) or 1 <= len(raw) <= 25


def test_a_collector_answering_an_error_or_down_does_not_break_the_page(site, new_context, free_port):
    context = new_context()
    for status in (503, 429, None):
        if status:
            site.status = status
        else:
            site.collector = f"http://127.0.0.1:{free_port()}/collect"  # nothing listens there
        url = site.url(f"/a/collector-{status}/")
        page = context.new_page()
        page.goto(url)
        page.wait_for_function(f"() => /#ds={TOKENED}$/.test(location.href)")
        link = shared_link_in(press(context, page, "wa"), "text")
        assert re.fullmatch(re.escape(url) + rf"#ds={TOKENED}\.wa", link), (status, link)
        if status:
            wait_events(page, site, lambda e, url=url: e["k"] == "share" and e["u"] == url)


# --- the real collector, and hostile pages ---------------------------------------------------------------

USER_AGENT = ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 "
              "Safari/537.36")  # headless Chromium names itself, and the collector drops bots: browse as people do


@pytest.fixture(scope="module")
def real_collector(site, tmp_path_factory, free_port):
    """The reporting server's collector (the Datasette app with the plugin, uvicorn on loopback) for ``site``."""
    from darksocial import store
    from reporting import server

    path = tmp_path_factory.mktemp("collector") / "darksocial.db"
    db = store.open_db(path)
    store.register_site(db, SITE_ID, [site.base])
    db.close()
    with server.running(server.make_datasette(path, attribute_every=None), port=free_port()) as base:
        yield base, path


def stored(path, sql: str, params=(), timeout: float = 10.0) -> list[dict]:
    import sqlite3

    deadline = time.monotonic() + timeout
    while True:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        conn.row_factory = sqlite3.Row
        try:
            rows = [dict(r) for r in conn.execute(sql, params)]
        finally:
            conn.close()
        if rows or time.monotonic() > deadline:
            return rows
        time.sleep(0.1)


def test_the_real_collector_stores_what_the_tracker_sends_from_another_origin(site, new_context, real_collector):
    base, path = real_collector
    site.collector = f"{base}/-/darksocial/collect"
    site.csp = f"{CSP}; connect-src 'self' {base}"  # a collector on another origin must be allowed by the site
    site.title = "Tab\tand\u202e bidi \u0007 title " + "x" * 40_000
    context = new_context(route=False, user_agent=USER_AGENT, **CLIPBOARD)
    answers = []
    context.on("response", lambda r: r.request.method == "POST" and answers.append(r.status))
    page = context.new_page()
    page.goto(site.url(f"/a/real/?{CAMPAIGN}&page=2"))
    page.wait_for_function(f"() => /#ds={TOKENED}$/.test(location.href)")
    token = page.url.rsplit("=", 1)[1]
    page.click("nav.ds-bar [data-ds=cl]")
    [view] = stored(path, "SELECT * FROM events WHERE kind = 'view' AND token = ?", [token])
    assert view["url"] == site.url("/a/real/?page=2")
    assert "utm_source=news" in view["campaign_query"] and "fbclid=FB1" in view["campaign_query"]
    # control characters and bidi overrides cleaned, cut near 300: a view is never lost for its title
    assert re.fullmatch(r"Tab and bidi title x+", view["title"]) and 290 <= len(view["title"]) <= 300, view["title"]
    [share] = stored(path, "SELECT * FROM events WHERE kind = 'share' AND parent = ?", [token])
    assert share["channel"] == "cl" and share["url"] == view["url"] and share["visitor"] == view["visitor"]
    assert clipboard(page) == site.url(f"/a/real/?page=2#ds={share['token']}.cl")
    deadline = time.monotonic() + 5  # the 204 reaches the browser just after the row is committed
    while len(answers) < 2 and time.monotonic() < deadline:
        page.wait_for_timeout(50)
    assert answers == [204, 204]
    assert not any(m == "OPTIONS" for m, _, _ in new_context.watch.requests)


def test_a_title_cut_between_the_halves_of_an_emoji_still_brings_its_view(site, new_context, real_collector):
    # README: a title over 300 characters is cut there, and an event is never lost for its title.
    base, path = real_collector
    site.collector = f"{base}/-/darksocial/collect"
    site.csp = f"{CSP}; connect-src 'self' {base}"
    site.title = "a" * 299 + "\U0001f600 and the rest"  # the 300th UTF-16 unit is the emoji's first half
    page = new_context(route=False, user_agent=USER_AGENT).new_page()
    page.goto(site.url("/a/emoji-title/"))
    page.wait_for_function(f"() => /#ds={TOKENED}$/.test(location.href)")
    [view] = stored(path, "SELECT * FROM events WHERE kind = 'view' AND token = ?", [page.url.rsplit("=", 1)[1]])
    assert view["title"] == "a" * 299


def test_an_element_named_darksocial_neither_stops_the_tracker_nor_hides_its_api(site, new_context):
    # A heading "darksocial" gets id="darksocial" from Markdown's toc: the browser makes it window.darksocial.
    page, url, view = open_page(new_context(), site, "/named/story/")
    assert page.url == f"{url}#ds={view['t']}"
    page.evaluate("() => darksocial.goal('read')")
    assert wait_events(page, site, lambda e: e["k"] == "goal" and e.get("t") == view["t"])


def test_a_base_href_on_another_origin_sends_nothing_there(site, new_context):
    # README: no third-party requests; a root-relative collector is the page's own origin's.
    page, url, view = open_page(new_context(), site, "/based/story/")
    assert view["u"] == url and page.url == f"{url}#ds={view['t']}"
    assert not [u for _, u, _ in new_context.watch.requests if u.startswith(ELSEWHERE)]


def test_a_browser_without_send_beacon_keeps_the_page_and_its_share_buttons_working(site, new_context):
    context = new_context(**CLIPBOARD)
    context.add_init_script("delete Navigator.prototype.sendBeacon")
    page = context.new_page()
    page.goto(site.url("/a/no-beacon/"))
    page.wait_for_function(f"() => /#ds={TOKENED}$/.test(location.href)")
    page.click("nav.ds-bar [data-ds=cl]")
    page.wait_for_function("() => navigator.clipboard.readText().then(t => t.endsWith('.cl'))")
    assert page.evaluate("() => darksocial.goal('x')") is None  # the API is there, and throws nothing
    settle(page, 200)
    assert not [e for e in site.events() if e.get("u", "").startswith(site.url("/a/no-beacon/"))]


HOSTILE_TITLE = 'Q&A: "quotes" <script>alert(1)</script> \u00e9\u4e2d\U0001f600 \u200f\u202e end'


def test_a_page_with_odd_characters_or_a_long_url_is_tracked_and_never_runs_them(site, new_context):
    site.title = HOSTILE_TITLE
    context = new_context(**CLIPBOARD)
    page = context.new_page()
    page.goto(site.url("/a/%E2%9C%93%20caf%C3%A9%22%3Cx%3E'/?q=%3Cb%3E%20%26&page=2"))
    [view] = wait_events(page, site, lambda e: e["k"] == "view" and "/a/%E2%9C%93" in e["u"])
    assert view["u"] == page.url.split("#")[0] and view["n"] == HOSTILE_TITLE
    assert page.url.endswith(f"#ds={view['t']}")
    page.click("nav.ds-bar [data-ds=cl]")
    cl = share_of(page, site, view, "cl")
    assert clipboard(page) == f"{view['u']}#ds={cl['t']}.cl"
    assert page.evaluate("() => document.title") == HOSTILE_TITLE  # text, not markup: no dialog opened
    for hostile in ("%3Cscript%3Ealert(1)%3C/script%3E", "A" * 5000 + ".wa", "AbCdEfGhIj.wa%22%3E%3Cb%3E"):
        # the view is still one the collector accepts (checked against its schema) and the token replaced
        page, url, arrival = open_page(context, site, "/a/hostile-arrival/", "#ds=" + hostile)
        assert page.url == f"{url}#ds={arrival['t']}"
    long_url = site.url("/a/long/?q=" + "a" * 1900)
    page, _, view = open_page(context, site, "/a/long/", "?q=" + "a" * 1900, view_url=long_url)
    assert page.url == f"{long_url}#ds={view['t']}"


def test_a_prerendered_page_sends_its_view_only_once_it_is_shown(site, unattached_chromium):
    # The first page prerenders the story (speculation rules) and goes there 2 s later (a meta refresh).
    target = site.url("/a/prerendered/")
    prerendered = lambda: any(p == "/a/prerendered/" and "prerender" in (sp or "")  # noqa: E731
                              for p, sp, _ in site.fetched)
    seen_before_shown = []

    def done():
        if prerendered() and not seen_before_shown:
            seen_before_shown.append(len(views_of(site, target)))
        return bool(views_of(site, target))

    link = quote(f"{target}#ds=LkJhGfDsAq.wa", safe="")  # a shared link, prerendered with its token
    unattached_chromium(site.url(f"/prerender-from/?to={link}&after=2"), done, timeout=12)
    assert prerendered(), "Chromium did not prerender the page: the test proves nothing"
    assert len([p for p, _, _ in site.fetched if p == "/a/prerendered/"]) == 1, "shown from the prerender, not reloaded"
    loaded = min(t for p, _, t in site.fetched if p == "/a/prerendered/")
    [view] = views_of(site, target)
    record = next(r for r in site.received if view in r["events"])
    assert record["at"] - loaded > 1.2, "the view was sent while the page was only prerendered"
    assert seen_before_shown == [0]
    assert view["i"] == "LkJhGfDsAq.wa"  # shown: the click counts, with its token


# --- the bar as a visitor sees it ------------------------------------------------------------------------------

ROWS_JS = """() => new Set([...document.querySelectorAll('nav.ds-bar [data-ds]')].filter(b => b.offsetParent)
    .map(b => Math.round(b.getBoundingClientRect().top))).size"""


def test_the_icon_bar_is_named_by_titles_sized_and_coloured_by_its_content_and_one_row_on_a_phone(site,
                                                                                                  new_context):
    page, _, _ = open_page(new_context(**MOBILE), site, "/icons/story/")
    labels = page.evaluate("""() => [...document.querySelectorAll('nav.ds-bar [data-ds]')].filter(b => b.offsetParent)
        .map(b => [b.dataset.ds, b.title])""")
    assert dict(labels) == {"wa": "WhatsApp", "fm": "Messenger", "tg": "Telegram", "sms": "SMS", "em": "Email",
                            "cl": "Copy link", "x": "X", "fb": "Facebook", "li": "LinkedIn", "rd": "Reddit",
                            "bs": "Bluesky"}
    for width in (412, 390, 360):
        page.set_viewport_size({"width": width, "height": 800})
        assert page.evaluate(ROWS_JS) == 1, width
    size, colour = page.evaluate("""() => {
        const article = document.querySelector('article');
        article.style.color = 'rgb(200, 10, 20)';
        article.style.fontSize = '20px';
        return [getComputedStyle(document.querySelector('nav.ds-bar')).fontSize,
                getComputedStyle(document.querySelector('nav.ds-bar [data-ds=wa]')).color];
    }""")
    assert (size, colour) == ("17.5px", "rgb(200, 10, 20)")  # 0.875 em of the content; its text colour


def test_the_icon_bar_stays_one_row_on_small_phones(site, new_context):
    page, _, _ = open_page(new_context(**MOBILE), site, "/icons/small-phone/")
    rows = {}
    for width, font_size in ((320, "16px"), (360, "18px")):
        page.set_viewport_size({"width": width, "height": 700})
        page.evaluate("(size) => { document.querySelector('article').style.fontSize = size; }", font_size)
        rows[width, font_size] = page.evaluate(ROWS_JS)
    assert rows == {(320, "16px"): 1, (360, "18px"): 1}
