"""The harness of the tracker's browser tests (test_tracker_browser, test_tracker_promises): injected pages served on
127.0.0.1 under a strict CSP, a recording collector on the same origin, and browser contexts whose requests never
leave the machine.

The collector records every body and validates it with darksocial.events (the one schema), so a field the real
collector would reject shows up as a record with an ``error``. Each test module renders its own pages (its variants
of the tracker's configuration) and states its own checks on what the contexts saw.
"""

from __future__ import annotations

import contextlib
import html
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from darksocial import events as event_schema
from darksocial.inject import STATIC_DIR

CSP = "default-src 'self'"
STATIC_TYPES = {"darksocial.js": "text/javascript", "darksocial.css": "text/css"}


@dataclass
class Site:
    base: str
    # The page at a path (with its query): (HTML, whether the browser may cache it), or None for a 404.
    render: Callable[[Site, str], tuple[str, bool] | None]
    received: list = field(default_factory=list)  # one dict per POST or OPTIONS request
    fetched: list = field(default_factory=list)  # (path, Sec-Purpose header, time) per page GET
    status: int = 204  # what the collector answers
    title: str | None = None  # overrides the page title
    collector: str = "/collect"  # what the pages' data-collector says
    csp: str = CSP

    def url(self, path: str) -> str:
        return self.base + path

    def events(self) -> list[dict]:
        return [e for r in self.received for e in r["events"]]

    def reset(self) -> None:
        self.status, self.title, self.collector, self.csp = 204, None, "/collect", CSP


def prerendering_page(query: dict) -> bytes:
    """A page whose speculation rules prerender ``to``; with ``after``, it goes there that many seconds later."""
    to = query["to"][0]
    rules = json.dumps({"prerender": [{"source": "list", "urls": [to]}]})
    refresh = (f'<meta http-equiv="refresh" content="{int(query["after"][0])};url={html.escape(to)}">'
               if "after" in query else "")
    return (f'<!doctype html><title>Prerendering</title><script type="speculationrules">{rules}</script>'
            f"{refresh}<p>Prerendering {html.escape(to)}</p>").encode()


def make_handler(site: Site):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):  # keep pytest output clean
            pass

        def send(self, status: int, body: bytes = b"", content_type: str = "text/plain", csp: bool = False,
                 store: bool = False, extra: dict | None = None):
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            if not store:
                self.send_header("Cache-Control", "no-store")  # which also keeps the page out of the bfcache
            if csp:
                self.send_header("Content-Security-Policy", site.csp)
            for name, value in (extra or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):
            path = urlsplit(self.path).path
            if path.startswith("/static/"):
                kind = STATIC_TYPES.get(path.removeprefix("/static/"))
                return self.send(200, (STATIC_DIR / path.removeprefix("/static/")).read_bytes(), kind) \
                    if kind else self.send(404)
            if path == "/favicon.ico":
                return self.send(204)
            site.fetched.append((path, self.headers.get("Sec-Purpose"), time.monotonic()))
            if path == "/prerender-from/":
                return self.send(200, prerendering_page(parse_qs(urlsplit(self.path).query)), "text/html")
            page = site.render(site, self.path)
            if page is None:
                return self.send(404, b"no such page")
            body, cacheable = page
            self.send(200, body.encode(), "text/html; charset=utf-8", csp=True, store=cacheable)

        def do_OPTIONS(self):
            site.received.append({"method": "OPTIONS", "events": [], "at": time.monotonic()})
            self.send(204)

        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            record = {"method": "POST", "path": self.path, "type": self.headers.get("Content-Type"),
                      "origin": self.headers.get("Origin"), "cookie": self.headers.get("Cookie"),
                      "body": body, "raw": None, "events": [], "at": time.monotonic()}
            try:
                raw = record["raw"] = json.loads(body)
                event_schema.parse_body(body)
                record["events"] = raw if isinstance(raw, list) else [raw]
            except (ValueError, event_schema.EventError) as exc:
                record["error"] = str(exc)
            site.received.append(record)
            self.send(site.status, extra={"Retry-After": "1"} if site.status == 429 else None)

    return Handler


@contextlib.contextmanager
def serving(render: Callable[[Site, str], tuple[str, bool] | None]):
    """A :class:`Site` served on a free port of 127.0.0.1 until the block ends."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), None)
    site = Site(f"http://127.0.0.1:{server.server_address[1]}", render)
    server.RequestHandlerClass = make_handler(site)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield site
    finally:
        server.shutdown()
        server.server_close()


@dataclass
class Watch:
    """What the contexts saw that a test may have to rule out."""

    left_machine: list = field(default_factory=list)  # requests to anywhere but 127.0.0.1 (aborted)
    console_errors: list = field(default_factory=list)  # a CSP violation logs one
    page_errors: list = field(default_factory=list)  # uncaught exceptions
    dialogs: list = field(default_factory=list)  # injected script ran
    requests: list = field(default_factory=list)  # (method, url, resource type)


def stub_service(route):
    route.fulfill(status=200, content_type="text/html", body="<title>stub</title>share service stub")


@contextlib.contextmanager
def browser_contexts(browser, stubbed_hosts: set[str]):
    """A factory of browser contexts (a fresh profile each) whose requests stay on 127.0.0.1; the share services'
    pages (``stubbed_hosts``) are answered by a local stub. ``make.watch`` records what they saw; every context is
    closed when the block ends, before the caller's checks."""
    watch = Watch()
    contexts = []

    def guard(route):
        host = urlsplit(route.request.url).hostname
        if host == "127.0.0.1":
            route.continue_()
        elif host in stubbed_hosts:
            stub_service(route)
        else:
            watch.left_machine.append(route.request.url)
            route.abort()

    def watch_page(page):
        page.on("console", lambda m: m.type == "error" and watch.console_errors.append(m.text))
        page.on("pageerror", lambda e: watch.page_errors.append(str(e)))
        page.on("dialog", lambda d: (watch.dialogs.append(d.message), d.dismiss()))
        page.on("request", lambda r: watch.requests.append((r.method, r.url, r.resource_type)))

    def make(browser=browser, route=True, **options):
        context = browser.new_context(**options)
        if route:
            context.route("**/*", guard)
        context.on("page", watch_page)
        contexts.append(context)
        return context

    make.watch = watch
    try:
        yield make
    finally:
        for context in contexts:
            context.close()


def wait_events(page, site: Site, predicate, count: int = 1, timeout: float = 20.0, since: int = 0) -> list[dict]:
    """The events (after the first ``since``) matching ``predicate``, once there are ``count`` of them."""
    deadline = time.monotonic() + timeout
    while True:
        found = [e for e in site.events()[since:] if predicate(e)]
        if len(found) >= count:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"expected {count} matching event(s); received {site.events()[-8:]}")
        page.wait_for_timeout(50)


def settle(page, ms: int = 250) -> None:
    """Let the tracker run and any beacon arrive, before asserting that nothing was sent."""
    page.wait_for_function("() => window.darksocial !== undefined")
    page.wait_for_timeout(ms)


def select(page, selector: str) -> None:
    page.evaluate(
        """(selector) => {
            const range = document.createRange();
            range.selectNodeContents(document.querySelector(selector));
            getSelection().removeAllRanges();
            getSelection().addRange(range);
        }""",
        selector,
    )


def clipboard(page) -> str:
    return page.evaluate("() => navigator.clipboard.readText()")
