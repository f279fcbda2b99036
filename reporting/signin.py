"""Signing in without stalling the server, and the server pages anonymous readers may not open.

* ``POST /-/login`` (datasette-auth-passwords) hashes the password with PBKDF2 at 480,000 iterations, about a quarter
  of a second of CPU, on the event loop: two anonymous clients posting passwords would stall the collector. This
  wrapper checks the password in a worker thread (at most ``MAX_CONCURRENT_HASHES`` at a time), signs the analyst in
  itself, and hands a wrong password to the plugin with no user name, which it answers without hashing. Failed
  sign-ins are throttled per client: after ``MAX_FAILURES`` in ``FAILURE_WINDOW`` seconds, 429 (answered after a
  second) until the window ends.
* ``/-/password-tool`` hashes whatever anyone posts: it is only served on a loopback bind, hashing in a thread.
* Datasette's introspection pages (threads, versions, plugins, settings, the databases list with file paths,
  metadata) are for signed-in analysts only.
* ``/-/darksocial/sign-in?token=`` trades a one-time token from ``darksocial login-link`` for an analyst session.

Client addresses are kept in memory only, for the throttle window, and never logged.
"""

from __future__ import annotations

import asyncio
import collections
import ipaddress
import time
import urllib.parse
import weakref

from datasette.utils.asgi import Response
from datasette_auth_passwords.utils import hash_password, verify_password
from itsdangerous import BadSignature
from itsdangerous.url_safe import URLSafeSerializer
from markupsafe import escape

from darksocial import analysts

from . import auth
from .metadata import darksocial_database, guarded_databases

LOGIN_PATH = "/-/login"
PASSWORD_TOOL_PATH = "/-/password-tool"
ANALYST_ONLY_PAGES = ("/-/threads", "/-/versions", "/-/plugins", "/-/settings", "/-/config", "/-/databases",
                      "/-/metadata", "/-/allow-debug", "/-/permissions", "/-/messages")
MAX_FAILURES = 5
FAILURE_WINDOW = 60.0
MAX_CLIENTS_TRACKED = 10_000
MAX_FORM_BYTES = 16 * 1024
THROTTLED_ANSWER_DELAY = 1.0
MAX_CONCURRENT_HASHES = 1  # at most one core hashing, however many clients post passwords
ANALYST_ACTOR = {"id": auth.ANALYST}


class FailedSignIns:
    """Recent failed sign-ins per client address, in memory, bounded."""

    def __init__(self, limit: int | None = None, window: float | None = None, clock=time.monotonic):
        self.limit = MAX_FAILURES if limit is None else limit
        self.window = FAILURE_WINDOW if window is None else window
        self.clock = clock
        self.failures: collections.OrderedDict[str, collections.deque] = collections.OrderedDict()

    def _recent(self, client: str) -> collections.deque:
        times = self.failures.get(client)
        if times is None:
            return collections.deque()
        cutoff = self.clock() - self.window
        while times and times[0] < cutoff:
            times.popleft()
        return times

    def retry_after(self, client: str) -> int:
        """Seconds until ``client`` may try again (0: now)."""
        times = self._recent(client)
        if len(times) < self.limit:
            return 0
        return max(1, int(times[0] + self.window - self.clock()) + 1)

    def record(self, client: str) -> None:
        times = self._recent(client)
        times.append(self.clock())
        self.failures[client] = times
        self.failures.move_to_end(client)
        while len(self.failures) > MAX_CLIENTS_TRACKED:
            self.failures.popitem(last=False)


def _client(scope) -> str:
    client = scope.get("client")
    return client[0] if client else "?"


def _is_loopback_bind(scope) -> bool:
    server = scope.get("server")
    if not server:
        return False  # in-process (datasette.client) or unknown: treat as public
    try:
        return ipaddress.ip_address(str(server[0]).strip("[]")).is_loopback
    except ValueError:
        return str(server[0]) == "localhost"


def _cookies(scope) -> dict[str, str]:
    raw = dict(scope.get("headers") or ()).get(b"cookie", b"").decode("latin-1")
    cookies = {}
    for part in raw.split(";"):
        name, _, value = part.strip().partition("=")
        if name:
            cookies[name] = value
    return cookies


def actor(datasette, scope) -> dict | None:
    """The actor of ``scope``'s ``ds_actor`` cookie (Datasette's own), or None: for wrappers that answer before
    Datasette resolves it."""
    actor_cookie = _cookies(scope).get("ds_actor")
    if not actor_cookie:
        return None
    try:
        value = datasette.unsign(actor_cookie, "actor")
    except BadSignature:
        return None
    expires = value.get("e") if isinstance(value, dict) else None
    if expires:
        from datasette.utils import baseconv

        if baseconv.base62.decode(expires) < time.time():
            return None
    found = value.get("a") if isinstance(value, dict) else None
    return found if isinstance(found, dict) and found else None


def signed_in(datasette, scope) -> bool:
    return actor(datasette, scope) is not None


def login_link_command(scope) -> str:
    """``darksocial login-link DATABASE`` with the host and port of the server that answers ``scope`` (the address
    the request reached), so the link it mints opens this server."""
    server = scope.get("server") or (None, None)
    host, port = (server[0], server[1]) if len(server) == 2 else (None, None)
    options = auth.login_link_options(str(host) if host else None, port if isinstance(port, int) else None)
    return f"darksocial login-link DATABASE{options}"


async def _read_body(receive, limit: int) -> bytes | None:
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return None
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body"):
            return b"".join(chunks)


def _replay(body: bytes):
    sent = False

    async def receive():
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return receive


def _with_length(scope, body: bytes) -> dict:
    headers = [(k, v) for k, v in scope.get("headers") or () if k != b"content-length"]
    return {**scope, "headers": headers + [(b"content-length", str(len(body)).encode())]}


def actor_cookie_response(datasette, location: str) -> Response:
    response = Response.redirect(location)
    response.set_cookie("ds_actor", datasette.sign({"a": ANALYST_ACTOR}, "actor"), httponly=True, samesite="lax")
    return response


def sign_in_page(datasette, message: str, scope=None) -> str:
    """The body of a denied page: what was refused, and how to sign in (``scope``: the request's, for the
    server's host and port)."""
    login = escape(datasette.urls.path(LOGIN_PATH))
    ways = [f'<a href="{login}">Sign in as an analyst</a> (user <code>{auth.ANALYST}</code>)'] if auth.password_hash() \
        else []
    ways.append(f"on the server's machine, run <code>{escape(login_link_command(scope or {}))}</code> and open the "
                "link it prints")
    items = "".join(f"<li>{way}</li>" for way in ways)
    return (f"<p>{escape(message)}</p><p>This page is for signed-in analysts.</p><ul>{items}</ul>"
            f'<p><a href="{escape(datasette.urls.instance())}">What is public</a></p>')


_failed_sign_ins: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def failed_sign_ins(datasette) -> FailedSignIns:
    """The throttle of one Datasette instance (shared by every app it builds)."""
    if datasette not in _failed_sign_ins:
        _failed_sign_ins[datasette] = FailedSignIns()
    return _failed_sign_ins[datasette]


class Guard:
    """The ASGI wrapper described in the module docstring."""

    def __init__(self, datasette, app):
        self.datasette, self.app = datasette, app
        self.failures = failed_sign_ins(datasette)
        self.hashing = asyncio.Semaphore(MAX_CONCURRENT_HASHES)

    async def __call__(self, scope, receive, send):
        if scope.get("type") != "http" or not guarded_databases(self.datasette):
            # No darksocial database: Datasette's pages and the operator's sign-in are theirs, untouched.
            return await self.app(scope, receive, send)
        path = scope.get("path", "")
        if path == LOGIN_PATH and scope.get("method") == "POST":
            return await self.login(scope, receive, send)
        if path == LOGIN_PATH and not auth.password_hash():
            return await self.no_password(scope, send)
        if path == PASSWORD_TOOL_PATH:
            return await self.password_tool(scope, receive, send)
        if path.removesuffix(".json") in ANALYST_ONLY_PAGES and not signed_in(self.datasette, scope):
            return await self.deny(scope, receive, send)
        return await self.app(scope, receive, send)

    async def no_password(self, scope, send):
        # datasette-auth-passwords would show a form that no password opens ("no configured accounts").
        body = ("<p>No analyst password is set on this server: sign in with a one-time link instead. On the "
                f"server's machine, run <code>{escape(login_link_command(scope))}</code> and open the link it prints "
                "(<code>darksocial serve</code> printed one when it started).</p>"
                f'<p><a href="{escape(self.datasette.urls.instance())}">What is public</a></p>')
        await _sign_in_response(body).asgi_send(send)

    async def deny(self, scope, receive, send):
        body = sign_in_page(self.datasette, "Server details are not public.", scope)
        await _sign_in_response(body, status=403).asgi_send(send)

    async def _verify(self, password: str, hashed: str) -> bool:
        async with self.hashing:
            return await asyncio.to_thread(verify_password, password, hashed)

    async def login(self, scope, receive, send):
        client = _client(scope)
        wait = self.failures.retry_after(client)
        if wait:
            # Answer slowly: a sleeping coroutine costs the loop nothing, and a client retrying at once is held
            # to about one attempt a second instead of hundreds of cheap 429s.
            await asyncio.sleep(THROTTLED_ANSWER_DELAY)
            return await Response.text(
                f"429 Too Many Requests: too many failed sign-ins; try again in {wait} s\n", status=429,
                headers={"retry-after": str(wait)}).asgi_send(send)
        body = await _read_body(receive, MAX_FORM_BYTES)
        if body is None:
            return await Response.text("413 Payload Too Large: the sign-in form is at most 16 KB\n",
                                       status=413).asgi_send(send)
        form = urllib.parse.parse_qs(body.decode("utf-8", "replace"))
        username = (form.get("username") or [""])[0]
        password = (form.get("password") or [""])[0]
        token = (form.get("csrftoken") or [""])[0]
        hashed = auth.password_hash()
        if username == auth.ANALYST and hashed and self._csrf_ok(scope, token) and await self._verify(password,
                                                                                                        hashed):
            return await actor_cookie_response(self.datasette, self.datasette.urls.path("/")).asgi_send(send)
        if password:
            self.failures.record(client)
        # The plugin renders the failure (and checks CSRF); with no user name it fails without hashing.
        blank = urllib.parse.urlencode({"csrftoken": token, "username": "", "password": ""}).encode()
        return await self.app(_with_length(scope, blank), _replay(blank), send)

    def _csrf_ok(self, scope, token: str) -> bool:
        cookie = _cookies(scope).get("ds_csrftoken", "")
        if not token or token != cookie:
            return False
        try:
            URLSafeSerializer(self.datasette._secret).loads(cookie, "csrftoken")
        except BadSignature:
            return False
        return True

    async def password_tool(self, scope, receive, send):
        if not _is_loopback_bind(scope):
            return await Response.text("404 Not Found: the password tool is only served on a loopback address; "
                                       "run `datasette hash-password` instead\n", status=404).asgi_send(send)
        if scope.get("method") != "POST":
            return await self.app(scope, receive, send)
        body = await _read_body(receive, MAX_FORM_BYTES)
        if body is None:
            return await Response.text("413 Payload Too Large\n", status=413).asgi_send(send)
        form = urllib.parse.parse_qs(body.decode("utf-8", "replace"))
        password = (form.get("password") or [""])[0]
        token = (form.get("csrftoken") or [""])[0]
        if not self._csrf_ok(scope, token):
            return await self.app(scope, _replay(body), send)  # asgi-csrf answers
        async with self.hashing:
            hashed = await asyncio.to_thread(hash_password, password) if password else None
        from datasette.utils.asgi import Request

        request = Request({**scope, "csrftoken": lambda: token}, _replay(b""))
        html = await self.datasette.render_template("password_tool.html", {"hashed_password": hashed},
                                                    request=request)
        return await Response.html(html).asgi_send(send)


def _sign_in_response(body: str, status: int = 200) -> Response:
    return Response.html(f"<!DOCTYPE html><title>Sign in</title><h1>Sign in</h1>{body}", status=status)


def asgi_wrapper(datasette):
    return lambda app: Guard(datasette, app)


# -- /-/darksocial/sign-in?token=... --------------------------------------------------------------------------------
async def sign_in_view(request, datasette) -> Response:
    token = request.args.get("token", "")
    db = darksocial_database(datasette)
    redeemed = False
    if db is not None and token:
        def redeem(conn):
            with conn:
                return analysts.redeem_sign_in_token(conn, token)

        redeemed = await datasette.databases[db].execute_write_fn(redeem, block=True)
    if not redeemed:
        return Response.html(
            "<!DOCTYPE html><title>Sign-in link</title><h1>This sign-in link has expired or was used</h1>"
            "<p>Each link works once, for a day. On the server's machine run "
            f"<code>{escape(login_link_command(request.scope))}</code> for a fresh one.</p>", status=403)
    return actor_cookie_response(datasette, datasette.urls.path("/"))


def routes() -> list:
    return [(f"^{analysts.SIGN_IN_PATH}$", sign_in_view)]
