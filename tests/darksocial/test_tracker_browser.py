"""The tracker in real headless Chromium, against injected pages served on localhost under a strict CSP.

A tiny receiver on the same origin records what the tracker sends and validates every body with
darksocial.events (the one schema), so a field the collector would reject fails here too. Every request
that would leave 127.0.0.1 is aborted and reported; the share services' pages (wa.me) are stubbed locally.
"""

from __future__ import annotations

import html
import re
import time
from urllib.parse import parse_qs, quote, urlsplit

import pytest

from darksocial import channels, events, tokens
from darksocial.inject import TrackerConfig, inject

from .tracker_site import Site, browser_contexts, clipboard, select, serving, settle, wait_events

TITLE = 'Dark social "><script>alert(1)</script> explained'
VISITOR_RE = re.compile(r"[0-9A-Za-z]{16}")
STUBBED_HOSTS = {"wa.me"}  # share services the tests click through to: answered locally, never contacted

# Path prefix → configuration of the pages served under it.
VARIANTS = {
    "articles": {},
    "cookieless": {"cookieless": True},
    "dnt": {"respect_dnt": True},
    "nocopy": {"copy_tracking": False},
    "query": {"query_mode": True},
    "spa": {"strip_params": ("ref",)},  # pages whose title names them, for in-page navigation
    "restorable": {},  # served without no-store, which keeps pages out of the back/forward cache
}

BODY = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title></head>
<body><header><a href="/">Home</a></header>
<main><article>
<h1>{title}</h1>
<p id="ten">one two three four five six seven eight nine ten</p>
<p id="few">only three words</p>
<pre><code id="code">alpha beta gamma delta epsilon zeta eta theta iota kappa</code></pre>
<textarea id="box">north south east west up down left right in out</textarea>
<h2 id="install">Install</h2>
<p>pip install darksocial and read on for the rest of the story.</p>
</article></main>
</body></html>
"""


def render(site: Site, path_and_query: str):
    variant = urlsplit(path_and_query).path.strip("/").split("/")[0] or "articles"
    if variant not in VARIANTS:
        return None
    config = TrackerConfig(
        collector="/collect", site="test-site", script_url="/static/darksocial.js",
        css_url="/static/darksocial.css", **VARIANTS[variant],
    )
    title = f"Page {urlsplit(path_and_query).path}" if variant == "spa" else TITLE
    return inject(BODY.format(title=html.escape(title)), config, site.base + path_and_query, title), \
        variant == "restorable"


@pytest.fixture(scope="module")
def site():
    with serving(render) as site:
        yield site


@pytest.fixture
def new_context(browser, site):
    """Factory of browser contexts that keep every request on this machine and record errors."""
    with browser_contexts(browser, STUBBED_HOSTS) as make:
        yield make
    watch = make.watch
    assert watch.left_machine == [], "requests tried to leave the machine"
    assert watch.console_errors + watch.page_errors == [], "console errors (a CSP violation logs one)"
    assert watch.dialogs == [], "a dialog opened: injected script ran"
    invalid = [r for r in site.received if "error" in r]
    assert invalid == [], "the tracker sent events the collector would reject"


def open_page(context, site: Site, path: str, suffix: str = ""):
    page = context.new_page()
    url = site.url(path)
    page.goto(url + suffix)
    view = wait_events(page, site, lambda e: e["k"] == "view" and e["u"] == url)[-1]
    return page, url, view


CLIPBOARD = {"permissions": ["clipboard-read", "clipboard-write"]}


def test_view_is_sent_and_the_page_view_token_shown_in_the_address_bar(site, new_context):
    page, url, view = open_page(new_context(), site, "/articles/view/")
    assert tokens.is_token(view["t"])
    assert page.url == url + "#ds=" + view["t"]
    assert view["s"] == "test-site" and view["n"] == TITLE and not view.get("i") and not view.get("r")
    assert VISITOR_RE.fullmatch(view["v"])
    assert page.evaluate("() => localStorage.ds_v") == view["v"]
    request = next(r for r in site.received if r["raw"] == view)
    assert request["type"].startswith("text/plain")  # no CORS preflight


def test_whatsapp_share_then_arrival_in_another_browser(site, new_context):
    context = new_context()
    page, url, view = open_page(context, site, "/articles/whatsapp/")

    shared_urls = []
    for _ in range(2):  # each click is a new share with its own token
        with context.expect_page() as popup_info:
            page.click("nav.ds-bar [data-ds=wa]")
        popup = popup_info.value
        popup.wait_for_load_state()
        assert urlsplit(popup.url).hostname == "wa.me"
        text = parse_qs(urlsplit(popup.url).query)["text"][0]
        assert text.startswith(TITLE)
        shared_urls.append(text.split()[-1])
        popup.close()

    refs = [tokens.from_url(u) for u in shared_urls]
    assert all(ref.channel == "wa" and tokens.is_token(ref.token) for ref in refs)
    assert refs[0].token != refs[1].token != view["t"]
    assert all(tokens.strip_from_url(u) == url for u in shared_urls)
    for ref in refs:
        [share] = wait_events(page, site, lambda e, ref=ref: e["k"] == "share" and e["t"] == ref.token)
        assert (share["p"], share["c"], share["u"], share["v"]) == (view["t"], "wa", url, view["v"])

    friend = new_context().new_page()
    friend.goto(shared_urls[0])
    [arrival] = wait_events(friend, site, lambda e: e["k"] == "view" and e.get("i") == f"{refs[0].token}.wa")
    assert arrival["u"] == url and arrival["v"] != view["v"]
    assert arrival["t"] not in (refs[0].token, view["t"])
    assert friend.url == url + "#ds=" + arrival["t"]  # the incoming token is replaced by the friend's own


def test_copy_link_button_copies_a_tokened_link(site, new_context):
    page, url, view = open_page(new_context(**CLIPBOARD), site, "/articles/copy-link/")
    page.click("nav.ds-bar [data-ds=cl]")
    [share] = wait_events(page, site, lambda e: e["k"] == "share" and e["c"] == "cl")
    assert clipboard(page) == f"{url}#ds={share['t']}.cl"
    assert share["p"] == view["t"]
    assert page.url == url + "#ds=" + view["t"]  # the link was not followed
    assert page.text_content("nav.ds-bar [role=status]") == "Link copied"


def test_copying_ten_words_appends_a_read_more_line(site, new_context):
    page, url, view = open_page(new_context(**CLIPBOARD), site, "/articles/copy-text/")
    select(page, "#ten")
    page.keyboard.press("Control+C")
    [share] = wait_events(page, site, lambda e: e["k"] == "share" and e["c"] == "ct")
    assert share["p"] == view["t"]
    assert clipboard(page) == f"one two three four five six seven eight nine ten\n\nRead more: {url}#ds={share['t']}.ct"
    copied_html = page.evaluate(
        "async () => (await (await navigator.clipboard.read())[0].getType('text/html')).text()"
    )
    assert f'<a href="{url}#ds={share["t"]}.ct">' in copied_html

    # Never for short selections, code blocks or form fields.
    select(page, "#few")
    page.keyboard.press("Control+C")
    assert clipboard(page) == "only three words"
    select(page, "#code")
    page.keyboard.press("Control+C")
    assert clipboard(page) == "alpha beta gamma delta epsilon zeta eta theta iota kappa"
    page.focus("#box")
    page.keyboard.press("Control+A")
    page.keyboard.press("Control+C")
    assert clipboard(page) == "north south east west up down left right in out"
    settle(page, 400)
    assert len([e for e in site.events() if e["k"] == "share" and e["u"] == url]) == 1


def test_copy_attribution_can_be_turned_off(site, new_context):
    page, url, _ = open_page(new_context(**CLIPBOARD), site, "/nocopy/page/")
    select(page, "#ten")
    page.keyboard.press("Control+C")
    assert clipboard(page) == "one two three four five six seven eight nine ten"
    settle(page, 400)
    assert not [e for e in site.events() if e["k"] == "share" and e["u"] == url]


def test_an_in_page_anchor_is_left_intact(site, new_context):
    page, url, view = open_page(new_context(), site, "/articles/anchor/", "#install")
    assert page.url == url + "#install"
    assert tokens.is_token(view["t"]) and view["u"] == url


def test_home_page_gets_no_token_by_default(site, new_context):
    page, url, view = open_page(new_context(), site, "/")
    assert page.url == url and tokens.is_token(view["t"])


def test_a_reload_where_the_address_bar_shows_no_token_says_it_is_a_return(site, new_context):
    """The home page shows no token: its reload can name no view, but still tells the collector it is a return
    (an empty o), never an arrival, so that attribution credits it as the visitor's earlier view of the page."""
    incoming = tokens.mint()
    page, url = new_context().new_page(), site.url("/")
    page.goto(url + f"#ds={incoming}.wa")
    first = wait_events(page, site, lambda e: e["k"] == "view" and e.get("i") == f"{incoming}.wa")[-1]
    page.wait_for_function("(url) => location.href == url", arg=url)
    page.reload()
    again = wait_events(page, site, lambda e: e["k"] == "view" and e.get("v") == first["v"] and e["u"] == url
                        and e["t"] != first["t"])[-1]
    assert again["o"] == "" and "i" not in again and events.validate({**again}).reloaded == 1


def test_share_links_work_with_javascript_disabled(site, new_context):
    context = new_context(java_script_enabled=False)
    page = context.new_page()
    url = site.url("/articles/no-js/")
    page.goto(url)
    wa = page.locator("nav.ds-bar [data-ds=wa]")
    assert wa.get_attribute("href") == channels.CHANNELS["wa"].share_href(url + "#ds=.wa", title=TITLE)
    assert page.locator("nav.ds-bar [data-ds=ns]").is_hidden()
    with context.expect_page() as popup_info:
        wa.click()
    popup = popup_info.value
    popup.wait_for_load_state()
    assert parse_qs(urlsplit(popup.url).query)["text"][0] == f"{TITLE} {url}#ds=.wa"
    page.click("nav.ds-bar [data-ds=cl]")
    page.wait_for_url(url + "#ds=.cl")
    page.wait_for_timeout(300)
    assert not [e for e in site.events() if e.get("u") == url]


def test_identify_and_goal(site, new_context):
    page, url, view = open_page(new_context(), site, "/articles/api/")
    page.evaluate("() => { darksocial.identify('crm-42', 'Ada Lovelace'); darksocial.goal('newsletter', 12.5);"
                  " darksocial.goal('signup') }")
    [identify] = wait_events(page, site, lambda e: e["k"] == "identify" and e["v"] == view["v"])
    assert (identify["x"], identify["n"]) == ("crm-42", "Ada Lovelace")
    goals = wait_events(page, site, lambda e: e["k"] == "goal" and e["v"] == view["v"], count=2)
    by_name = {g["g"]: g for g in goals}
    assert by_name["newsletter"]["gv"] == 12.5 and by_name["signup"].get("gv") is None
    assert all(g["t"] == view["t"] and g["u"] == url for g in goals)


def test_cookieless_sends_no_visitor_and_stores_nothing(site, new_context):
    page, url, view = open_page(new_context(), site, "/cookieless/page/")
    assert "v" not in view
    assert page.evaluate("() => localStorage.length") == 0
    assert page.evaluate("() => document.cookie") == ""
    assert page.url == url + "#ds=" + view["t"]


@pytest.mark.parametrize("signal", ["doNotTrack", "globalPrivacyControl"])
def test_do_not_track_and_global_privacy_control_are_honoured_when_configured(site, new_context, signal):
    value = "'1'" if signal == "doNotTrack" else "true"
    context = new_context()
    context.add_init_script(f"Object.defineProperty(Navigator.prototype, '{signal}', {{get: () => {value}}})")

    page = context.new_page()
    url = site.url(f"/dnt/{signal}/")
    page.goto(url)
    settle(page, 400)
    assert page.url == url  # no token added
    assert not [e for e in site.events() if e.get("u") == url]

    # The same browser on a site that does not ask for it is counted: the configuration decides.
    open_page(context, site, f"/articles/{signal}/")


def test_strict_csp_produces_no_violation(site, new_context):
    context = new_context(**CLIPBOARD)
    context.add_init_script(
        "window.__violations = [];"
        "document.addEventListener('securitypolicyviolation', e => __violations.push(e.violatedDirective))"
    )
    page, url, _ = open_page(context, site, "/articles/csp/")
    page.click("nav.ds-bar [data-ds=cl]")
    select(page, "#ten")
    page.keyboard.press("Control+C")
    wait_events(page, site, lambda e: e["k"] == "share" and e["u"] == url, count=2)
    assert page.evaluate("() => __violations") == []
    styles = page.evaluate("() => getComputedStyle(document.querySelector('.ds-btn')).borderRadius")
    assert styles == "999px"  # the stylesheet loaded under the policy

    # The detector works: an inline script is refused and reported.
    page.evaluate("() => document.body.append(Object.assign(document.createElement('script'), {textContent: '1'}))")
    page.wait_for_function("() => __violations.length > 0")
    new_context.watch.console_errors.clear()  # that refusal was ours, on purpose


def test_native_share_sheet_where_the_browser_has_one(site, new_context):
    context = new_context()
    # Chromium on Linux has no Web Share API: give it one that records what it is asked to share.
    context.add_init_script("Navigator.prototype.share = async function (data) { window.__shared = data }")
    page, url, view = open_page(context, site, "/articles/native/")
    page.click("nav.ds-bar [data-ds=ns]")  # visible now: a hidden button cannot be clicked
    shared = page.evaluate("() => window.__shared")
    ref = tokens.from_url(shared["url"])
    assert ref.channel == "ns" and tokens.strip_from_url(shared["url"]) == url and shared["title"] == TITLE
    [share] = wait_events(page, site, lambda e: e["k"] == "share" and e["t"] == ref.token)
    assert (share["c"], share["p"]) == ("ns", view["t"])


def test_share_bar_is_usable_from_the_keyboard(site, new_context):
    context = new_context()
    page, url, view = open_page(context, site, "/articles/keyboard/")
    for _ in range(10):
        page.keyboard.press("Tab")
        if page.evaluate("() => document.activeElement.dataset.ds") == "wa":
            break
    outline = page.evaluate("() => getComputedStyle(document.activeElement).outlineStyle")
    assert outline == "solid"  # focus is visible
    with context.expect_page() as popup_info:
        page.keyboard.press("Enter")
    popup_info.value.wait_for_load_state()
    ref = tokens.from_url(parse_qs(urlsplit(popup_info.value.url).query)["text"][0].split()[-1])
    [share] = wait_events(page, site, lambda e: e["k"] == "share" and e["t"] == ref.token)
    assert share["p"] == view["t"]


def test_query_mode_reads_and_writes_ds_in_the_query(site, new_context):
    incoming = tokens.mint()
    context = new_context()
    page = context.new_page()
    url = site.url("/query/page/?lang=en")
    page.goto(f"{url}&ds={incoming}.tg")
    [view] = wait_events(page, site, lambda e: e["k"] == "view" and e.get("i") == f"{incoming}.tg")
    assert view["u"] == url
    assert page.url == f"{url}&ds={view['t']}"
    with context.expect_page() as popup_info:
        page.click("nav.ds-bar [data-ds=wa]")
    shared = parse_qs(urlsplit(popup_info.value.url).query)["text"][0].split()[-1]
    # Share links carry the canonical URL of the page the server rendered, its content parameters kept.
    assert tokens.from_url(shared).channel == "wa" and shared.startswith(url + "&ds=")


def test_reload_and_back_forward_bring_no_incoming_token_but_name_the_view_they_repeat(site, new_context):
    """The address bar holds the visitor's own page-view token: a reload or a return must not send it as a share
    (i), but says which view it repeats (o), so that attribution credits it as that one was."""
    incoming = tokens.mint()
    context = new_context()
    page, url, first = open_page(context, site, "/articles/reload/", f"#ds={incoming}.wa")
    assert first["i"] == f"{incoming}.wa" and not first.get("o")
    page.reload()
    reloaded = wait_events(page, site, lambda e: e["k"] == "view" and e["u"] == url, count=2)[-1]
    assert not reloaded.get("i") and reloaded["o"] == first["t"] and reloaded["t"] != first["t"]
    assert page.url == url + "#ds=" + reloaded["t"]

    other = site.url("/articles/elsewhere/")
    page.goto(other)
    elsewhere = wait_events(page, site, lambda e: e["k"] == "view" and e["u"] == other)[-1]
    assert not elsewhere.get("i") and not elsewhere.get("o")  # an arrival with nothing in its address
    page.go_back()
    back = wait_events(page, site, lambda e: e["k"] == "view" and e["u"] == url, count=3)[-1]
    assert not back.get("i") and back["o"] == reloaded["t"] and back["t"] not in (first["t"], reloaded["t"])
    page.go_forward()
    forward = wait_events(page, site, lambda e: e["k"] == "view" and e["u"] == other, count=2)[-1]
    assert forward["o"] == elsewhere["t"]
    assert not [e for e in site.events() if e["k"] == "view" and e.get("i") and e["u"] in (url, other)
                and e is not first]


def test_a_page_restored_from_the_back_forward_cache_is_a_return(site, new_context, browser_with_back_forward_cache):
    """A restored page runs no script again (no load, no new navigation entry): the tracker still counts the
    return as a view naming the view it repeats (o), never as an incoming share."""
    incoming = tokens.mint()
    page = new_context(browser=browser_with_back_forward_cache).new_page()
    url, other = site.url("/restorable/restored/"), site.url("/restorable/left-for/")
    page.goto(url + f"#ds={incoming}.wa")
    first = wait_events(page, site, lambda e: e["k"] == "view" and e["u"] == url)[-1]
    assert first["i"] == f"{incoming}.wa"
    page.wait_for_function("(token) => location.hash == '#ds=' + token", arg=first["t"])
    page.evaluate("() => { window.stillTheSamePage = true }")
    page.goto(other)
    wait_events(page, site, lambda e: e["k"] == "view" and e["u"] == other)
    page.go_back(wait_until="commit")  # a restore fires no load event
    restored = wait_events(page, site, lambda e: e["k"] == "view" and e["u"] == url, count=2)[-1]
    assert page.evaluate("() => window.stillTheSamePage === true"), "not restored from the cache"
    assert not restored.get("i") and restored["o"] == first["t"] and restored["t"] != first["t"]
    assert restored["n"] == TITLE
    page.wait_for_function("(token) => location.hash == '#ds=' + token", arg=restored["t"])
    assert len([e for e in site.events() if e["k"] == "view" and e["u"] == url]) == 2


def test_campaign_parameters_never_ride_along_in_shared_links(site, new_context):
    url = site.url("/spa/campaign/")
    full = url + "?page=2&utm_source=news&fbclid=abc&ref=mail&gclid=x"
    page = new_context(**CLIPBOARD).new_page()
    page.goto(full)
    # The view keeps the campaign parameters (they classify the visit); the address bar and links do not.
    [view] = wait_events(page, site, lambda e: e["k"] == "view" and e["u"] == full)
    canonical = url + "?page=2"  # ref is this site's own strip_params
    assert page.url == f"{canonical}#ds={view['t']}"
    page.click("nav.ds-bar [data-ds=cl]")
    [share] = wait_events(page, site, lambda e: e["k"] == "share" and e["p"] == view["t"])
    assert clipboard(page) == f"{canonical}#ds={share['t']}.cl" and share["u"] == canonical
    # The server-rendered links are canonical too (the page was rendered for the full address).
    wa = page.locator("nav.ds-bar [data-ds=wa]").get_attribute("href")
    assert "utm_source" not in wa and "fbclid" not in wa and quote(url + "?page=2#ds=", safe="") in wa


def swap_to(page, url: str) -> None:
    """What Turbo, htmx boost or Material's instant navigation do: fetch the next page, push its address, and
    swap its content and title in later (here 300 ms later, as after a slow fetch)."""
    page.evaluate(
        """async (url) => {
            const next = new DOMParser().parseFromString(await (await fetch(url)).text(), 'text/html');
            history.pushState({}, '', url);
            setTimeout(() => {
                document.querySelector('main').replaceWith(document.adoptNode(next.querySelector('main')));
                document.title = next.title;
            }, 300);
        }""",
        url,
    )


def test_in_page_navigation_sends_a_view_per_page_and_shares_follow(site, new_context):
    context = new_context(**CLIPBOARD)
    requests = []
    context.on("request", lambda request: requests.append((request.method, urlsplit(request.url))))
    page, first_url, first = open_page(context, site, "/spa/one/")
    page.evaluate("() => { window.notReloaded = true }")
    second_url = site.url("/spa/two/")
    swap_to(page, second_url)
    [second] = wait_events(page, site, lambda e: e["k"] == "view" and e["u"] == second_url)
    assert page.evaluate("() => window.notReloaded")  # the page was never loaded again
    assert second["n"] == "Page /spa/two/"  # the new title, not the one the address changed under
    # the previous page is the referrer; its origin only (a path never leaves the browser)
    assert second["r"] == first_url.split("/spa/")[0] and not second.get("i") and second["v"] == first["v"]
    assert tokens.is_token(second["t"]) and second["t"] != first["t"]
    assert page.url == f"{second_url}#ds={second['t']}"

    # Buttons of the swapped-in share bar, copy links and copied text all belong to the new page view.
    with context.expect_page() as popup_info:
        page.click("nav.ds-bar [data-ds=wa]")
    shared = parse_qs(urlsplit(popup_info.value.url).query)["text"][0].split()[-1]
    popup_info.value.close()
    assert tokens.strip_from_url(shared) == second_url
    page.click("nav.ds-bar [data-ds=cl]")
    # The copy link is written to the clipboard asynchronously: let it land before the text copy replaces it.
    deadline = time.monotonic() + 5
    while not clipboard(page).endswith(".cl") and time.monotonic() < deadline:
        page.wait_for_timeout(50)
    select(page, "#ten")
    page.keyboard.press("Control+C")
    shares = wait_events(page, site, lambda e: e["k"] == "share" and e["p"] == second["t"], count=3)
    assert {e["c"] for e in shares} == {"wa", "cl", "ct"} and {e["u"] for e in shares} == {second_url}
    assert clipboard(page).endswith(f"Read more: {second_url}#ds={[e for e in shares if e['c'] == 'ct'][0]['t']}.ct")

    # Back: the entry holds the first page's own token; a new view, not an arrival. (Nothing swaps the title
    # back here, so the tracker waits its 3 s for a new one, then sends the view without a title.)
    page.go_back()
    back = wait_events(page, site, lambda e: e["k"] == "view" and e["u"] == first_url, count=2, timeout=15)[-1]
    assert "n" not in back or back["n"] == ""
    assert page.url == f"{first_url}#ds={back['t']}"
    assert back["r"] == second_url.split("/spa/")[0] and not back.get("i")
    assert back["t"] not in (first["t"], second["t"])
    # An in-page anchor is not a navigation.
    page.evaluate("() => { location.hash = '#install' }")
    settle(page, 400)
    assert len([e for e in site.events() if e["k"] == "view" and e["u"] in (first_url, second_url)]) == 3
    # The tracker asks for nothing but its events: every other request is the test's (pages, the tracker's two
    # files, the share service's stubbed popup).
    ours = {"/spa/one/", "/spa/two/", "/static/darksocial.js", "/static/darksocial.css", "/favicon.ico"}
    others = {(method, url.path) for method, url in requests if url.hostname == "127.0.0.1" and url.path not in ours}
    assert others == {("POST", "/collect")}


def test_copied_message_appears_beside_the_pressed_button(site, new_context):
    page, url, view = open_page(new_context(**CLIPBOARD), site, "/articles/message/")
    page.click("nav.ds-bar [data-ds=cl]")
    page.wait_for_function("() => document.querySelector('.ds-bar [data-ds=cl]').dataset.msg")
    bubble = page.evaluate("""() => {
        const button = document.querySelector('.ds-bar [data-ds=cl]').getBoundingClientRect();
        const style = getComputedStyle(document.querySelector('.ds-bar [data-ds=cl]'), '::after');
        return {content: style.content, position: style.position, left: button.left};
    }""")
    assert bubble["content"] == '"Link copied"' and bubble["position"] == "absolute"
    assert page.text_content("nav.ds-bar [role=status]") == "Link copied"  # announced to screen readers
    page.wait_for_function("() => !document.querySelector('.ds-bar [data-ds=cl]').dataset.msg", timeout=5000)


def _prerendered(site: Site, path: str) -> list:
    return [f for f in site.fetched if f[0] == path and "prerender" in (f[1] or "")]


def test_a_prerendered_page_nobody_goes_to_sends_no_view(site, unattached_chromium):
    """A page the browser prerenders (speculation rules here; also Chrome's guess of what is being typed in the
    address bar, which may be a shared link with its token) runs its scripts unseen: no view until it is shown."""
    unseen = "/articles/prerendered-unseen/"
    seen_at = []

    def done() -> bool:  # two seconds after the prerender: time for a view to arrive, were one sent
        if not seen_at and _prerendered(site, unseen):
            seen_at.append(time.monotonic())
        return bool(seen_at) and time.monotonic() > seen_at[0] + 2

    unattached_chromium(site.url(f"/prerender-from/?to={quote(unseen)}"), done, timeout=12)
    assert _prerendered(site, unseen), "Chromium did not prerender the page: the test proves nothing"
    assert [e for e in site.events() if e["k"] == "view" and e["u"] == site.url(unseen)] == []


def test_a_prerendered_page_sends_its_view_once_it_is_shown(site, unattached_chromium):
    shown = "/articles/prerendered-shown/"
    url = site.url(shown)

    def views() -> list:
        return [r for r in site.received for e in r["events"] if e["k"] == "view" and e["u"] == url]

    started = time.monotonic()
    unattached_chromium(site.url(f"/prerender-from/?to={quote(shown)}&after=2"), views, timeout=12)
    time.sleep(0.5)  # nothing more arrives
    assert _prerendered(site, shown), "Chromium did not prerender the page: the test proves nothing"
    assert len([f for f in site.fetched if f[0] == shown]) == 1, "the visitor was shown another copy of the page"
    arrived = views()
    assert len(arrived) == 1
    went_at = next(f[2] for f in site.fetched if f[0] == "/prerender-from/" and f[2] >= started) + 2
    assert arrived[0]["at"] >= went_at - 0.1, "the view was sent while the page was prerendered, unseen"
    view = arrived[0]["events"][0]
    assert view["n"] == TITLE and not view.get("i")
