"""A built page in real Chromium sends a valid view to the configured collector."""

from __future__ import annotations

import functools
import json
import queue
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import pytest
import yaml

from darksocial import events


class Receiver(ThreadingHTTPServer):
    """A stand-in collector: records every body it is sent."""

    def __init__(self, port: int):
        self.bodies: queue.Queue[bytes] = queue.Queue()
        super().__init__(("127.0.0.1", port), ReceiverHandler)


class ReceiverHandler(SimpleHTTPRequestHandler):
    def do_POST(self):
        self.server.bodies.put(self.rfile.read(int(self.headers.get("Content-Length", 0))))
        self.send_response(204)
        self.send_header("Access-Control-Allow-Origin", "*")
        self.end_headers()

    def log_message(self, *args):
        pass


class QuietFiles(SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def servers(tmp_path_factory, sites, free_port):
    site_port, collector_port = free_port(), free_port()
    site_url = f"http://127.0.0.1:{site_port}/"
    site_dir = tmp_path_factory.mktemp("demo-browser") / "site"
    with sites.environment(DARKSOCIAL_SITE_URL=site_url,
                           DARKSOCIAL_COLLECTOR=f"http://127.0.0.1:{collector_port}/-/darksocial/collect"):
        sites.build(sites.DEMO_SITE / "mkdocs.yml", site_dir)
    files = ThreadingHTTPServer(("127.0.0.1", site_port), functools.partial(QuietFiles, directory=str(site_dir)))
    receiver = Receiver(collector_port)
    for server in (files, receiver):
        threading.Thread(target=server.serve_forever, daemon=True).start()
    yield site_url, receiver, site_dir
    for server in (files, receiver):
        server.shutdown()
        server.server_close()


def test_a_built_page_sends_a_valid_view(browser, servers):
    site_url, receiver, site_dir = servers
    manifest = json.loads((site_dir / "darksocial-pages.json").read_text(encoding="utf-8"))
    story = next(page for page in manifest["pages"] if page["url"].endswith("/stories/sqlite-at-the-edge/"))
    context = browser.new_context()
    try:
        page = context.new_page()
        page.goto(story["url"] + "#ds=.wa")
        body = receiver.bodies.get(timeout=20)
        (view,) = events.parse_body(body)
        assert view.kind == "view" and view.site == "harbour-lane"
        assert view.url == story["url"]  # the manifest's URL is the one views report: pages join on it
        assert view.in_channel == "wa" and view.title.startswith("SQLite at the edge")
        page.wait_for_function("location.hash.length > 4")
        assert page.url == f"{story['url']}#ds={view.token}"  # the page-view token, ready to be copied
        assert page.locator("nav.ds-bar").count() == 1
    finally:
        context.close()


@pytest.fixture(scope="module")
def instant_site(tmp_path_factory, sites, free_port):
    """A real Material build with navigation.instant, served with its collector on loopback."""
    site_port, collector_port = free_port(), free_port()
    site_url = f"http://127.0.0.1:{site_port}/"
    root = tmp_path_factory.mktemp("instant")
    markdown, title, url = sites.PAGES["stories/first.md"]
    pages = {**sites.PAGES, "stories/first.md": (markdown + "\n[Read the second](deep/second.md)\n", title, url)}
    config_file = sites.write(root, theme="material", site_url=site_url, pages=pages,
                              plugin={"collector": f"http://127.0.0.1:{collector_port}/-/darksocial/collect"})
    config = yaml.safe_load(config_file.read_text(encoding="utf-8"))
    config["theme"]["features"] = ["navigation.instant"]
    config_file.write_text(yaml.safe_dump(config), encoding="utf-8")
    site_dir = sites.build(config_file, root / "site")
    files = ThreadingHTTPServer(("127.0.0.1", site_port), functools.partial(QuietFiles, directory=str(site_dir)))
    receiver = Receiver(collector_port)
    for server in (files, receiver):
        threading.Thread(target=server.serve_forever, daemon=True).start()
    yield site_url, receiver
    for server in (files, receiver):
        server.shutdown()
        server.server_close()


def next_view(receiver: Receiver) -> events.Event:
    while True:
        for event in events.parse_body(receiver.bodies.get(timeout=20)):
            if event.kind == "view":
                return event


def test_material_instant_navigation_sends_a_view_per_page(browser, instant_site):
    site_url, receiver = instant_site
    first_url, second_url = site_url + "stories/first/", site_url + "stories/deep/second/"
    context = browser.new_context(permissions=["clipboard-read", "clipboard-write"])
    try:
        page = context.new_page()
        page.goto(first_url)
        first = next_view(receiver)
        assert first.url == first_url
        page.evaluate("() => { window.sameDocument = true }")
        page.click("article a:text('Read the second')")
        second = next_view(receiver)
        assert page.evaluate("() => window.sameDocument")  # instant navigation: no page load
        assert (second.url, second.title) == (second_url, 'Second: deep & "title" - Test Journal')  # the new title
        assert second.referrer_host == "127.0.0.1" and second.in_token is None and second.token != first.token
        page.wait_for_function("(token) => location.hash == '#ds=' + token", arg=second.token)

        # The swapped-in share bar shares the new page, from the new page view.
        page.click("nav.ds-bar [data-ds=cl]")
        # The tracker writes the link with the asynchronous clipboard API and sends the share once the write is
        # done: wait for the share, so that the clipboard is not read before the link has landed in it.
        share = next(e for e in iter(lambda: events.parse_body(receiver.bodies.get(timeout=20))[0], None)
                     if e.kind == "share")
        assert (share.url, share.parent, share.channel) == (second_url, second.token, "cl")
        copied = page.evaluate("() => navigator.clipboard.readText()")
        assert copied == f"{second_url}#ds={share.token}.cl"
        assert page.url == f"{second_url}#ds={second.token}"  # copied, not followed by instant navigation

        page.go_back()
        back = next_view(receiver)
        # A return: no arrival, but the view it repeats (its address held that view's token), credited as that one.
        assert (back.url, back.in_token, back.reloaded) == (first_url, first.token, 1)
        assert back.token not in (first.token, second.token)
        page.wait_for_function("(token) => location.hash == '#ds=' + token", arg=back.token)
    finally:
        context.close()


@pytest.fixture(scope="module")
def themed_sites(tmp_path_factory, sites, free_port):
    """The compact bar built with each theme (Material in its dark palette), served on loopback."""
    port = free_port()
    root = tmp_path_factory.mktemp("themes")
    for theme, extra in (("mkdocs", {}), ("readthedocs", {}), ("material", {"palette": {"scheme": "slate"}})):
        config_file = sites.write(root / theme, theme=theme, plugin={"collector": "/c", "style": "icons"},
                                  site_url=f"http://127.0.0.1:{port}/{theme}/")
        config = yaml.safe_load(config_file.read_text(encoding="utf-8"))
        config["theme"].update(extra)
        config_file.write_text(yaml.safe_dump(config), encoding="utf-8")
        sites.build(config_file, root / "www" / theme)
    files = ThreadingHTTPServer(("127.0.0.1", port), functools.partial(QuietFiles, directory=str(root / "www")))
    threading.Thread(target=files.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{port}/"
    files.shutdown()
    files.server_close()


VIEWPORTS = {
    "desktop": {"viewport": {"width": 1440, "height": 900}},
    "phone": {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True},
}


@pytest.mark.parametrize("device", VIEWPORTS)
@pytest.mark.parametrize("theme", ["mkdocs", "readthedocs", "material"])
def test_compact_bar_is_one_row_of_the_channels_the_device_can_use(browser, themed_sites, theme, device):
    context = browser.new_context(**VIEWPORTS[device])
    try:
        page = context.new_page()
        page.goto(f"{themed_sites}{theme}/stories/first/")
        buttons = page.evaluate("""() => [...document.querySelectorAll('.ds-bar .ds-btn')]
            .filter((button) => button.offsetParent)
            .map((button) => ({code: button.dataset.ds, ...button.getBoundingClientRect().toJSON()}))""")
        bar = page.locator("nav.ds-bar").bounding_box()
        shown = [button["code"] for button in buttons]
        # Messenger's app link and SMS only where a finger points; no native share button without the API.
        assert shown == (["wa", "fm", "tg", "sms", "em", "cl", "x", "fb", "li", "rd", "bs"] if device == "phone"
                         else ["wa", "tg", "em", "cl", "x", "fb", "li", "rd", "bs"])
        assert len({round(button["top"]) for button in buttons}) == 1  # one row
        assert bar["height"] <= buttons[0]["height"] + 1
        assert buttons[-1]["right"] <= bar["x"] + bar["width"] + 0.5  # nothing overflows the bar
        assert all(24 <= button["width"] <= 48 and abs(button["width"] - button["height"]) < 1 for button in buttons)
        # Labels stay for screen readers.
        assert page.get_by_role("link", name="WhatsApp").count() == 1
    finally:
        context.close()
