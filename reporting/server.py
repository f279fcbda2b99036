"""The reporting server that ``darksocial serve`` runs: Datasette with the darksocial plugin, under uvicorn.

The stack is uvicorn's fast one (httptools, uvloop: the ``reporting`` extra installs ``uvicorn[standard]``), with
what it lacks for a public collector:

- **a deadline for every request** (:class:`GuardedProtocol`): from a connection's first byte (or its opening), a
  request's headers *and* body must arrive within ``read_timeout`` seconds, else the connection is closed.
  uvicorn has no header timeout of its own (its keep-alive timer only runs between requests), so half-sent
  headers and stalled bodies would otherwise hold a socket, and a file descriptor, forever;
- **a cap on open connections** (``max_connections``): past it, the connection that has been waiting longest for
  its request (idle, or still sending headers) is closed to make room, so a flood of slow sockets cannot lock out
  real visitors, and the process never runs out of file descriptors (whose soft limit it raises to the hard one);
- **a cap on a request's line and headers** (``MAX_HEAD_BYTES``): past it the request is answered 431 and the
  connection closed. httptools sets no limit, and uvicorn appends each piece of the URL and of a header value to
  what came before (a copy of it all per piece): a 16 MB header sent in small pieces held the event loop 24 s;
- uvicorn's keep-alive timeout still closes idle connections ``timeout_keep_alive`` seconds after a response;
- no access log: it would write every visitor's IP address to the terminal or a log file;
- **beacons answered in the protocol** (``direct``, on by default): ``POST /-/darksocial/collect`` in its usual
  form is answered without ASGI (see :mod:`reporting.direct`), every other request goes through ASGI unchanged.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import resource
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import uvicorn
from datasette.app import Datasette
from datasette.plugins import pm
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from darksocial import urls

from . import direct, plugin
from .collect import PLUGIN, READ_DEADLINE_SCOPE_KEY

DEFAULT_ATTRIBUTE_EVERY = 60.0
READ_TIMEOUT = 10.0  # seconds for a request's headers and body to arrive
KEEP_ALIVE_TIMEOUT = 5.0  # seconds an idle keep-alive connection stays open
MAX_CONNECTIONS = 2000
FD_RESERVE = 128  # file descriptors kept for the database, the salts file, logs and outgoing work
MAX_HEAD_BYTES = 64 * 1024  # a request's line and headers (nginx allows 4 lines of 8 KB by default)
HEAD_TOO_LARGE = (b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-type: text/plain; charset=utf-8\r\n"
                  b"connection: close\r\ncontent-length: 65\r\n\r\n"
                  b"headers: the request line and headers are limited to 65,536 bytes")

log = logging.getLogger(__name__)


class GuardedProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a deadline for reading each request and a cap on connections.

    Subclassed per server (see :func:`guarded_protocol`) so that the limits are class attributes.
    """

    read_timeout = READ_TIMEOUT
    max_connections = MAX_CONNECTIONS
    collect_into: Datasette | None = None  # whose collector answers beacons in the protocol (reporting.direct)

    def connection_made(self, transport) -> None:
        super().connection_made(transport)
        self._deadline = None
        self._waiting_since: float | None = self.loop.time()  # None while the app handles a request
        self._head_bytes = 0  # bytes received while waiting for a request's line and headers
        self._arm()
        if len(self.connections) > self.max_connections:
            _close_longest_waiting(self.connections)

    def connection_lost(self, exc) -> None:
        self._disarm()
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        # A request pipelined behind one answered from a parser callback: no keep-alive timer while it is read.
        self._unset_keepalive_if_required()
        if self.collect_into is None:
            self._begin_asgi_scope()
        else:  # the ASGI scope is made once the headers show the request is not a beacon (on_headers_complete)
            self.url, self.headers, self.expect_100_continue = b"", [], False
        self._arm()  # a keep-alive connection's next request: a new deadline from its first byte

    def data_received(self, data: bytes) -> None:
        if self._waiting_since is not None:
            if self._head_bytes > MAX_HEAD_BYTES:
                return  # refused: what the client still sends is dropped until the connection closes
            end = data.find(b"\r\n\r\n")  # a body sent along with its headers is not part of them
            self._head_bytes += len(data) if end < 0 else end
            if self._head_bytes > MAX_HEAD_BYTES:
                self._refuse_head()
                return
        super().data_received(data)

    def _refuse_head(self) -> None:
        # Answer, stop sending, and close a moment later: closing at once, with the client's bytes unread, would
        # reset the connection and the client might never read why.
        if self.transport.is_closing():
            return
        self.transport.write(HEAD_TOO_LARGE)
        if self.transport.can_write_eof():
            self.transport.write_eof()
        self.loop.call_later(1.0, self.transport.close)

    def on_headers_complete(self) -> None:
        self._waiting_since = None
        self._head_bytes = 0
        if self.collect_into is not None:
            if direct.start(self, self.collect_into):
                return
            url, headers, expect_100_continue = self.url, self.headers, self.expect_100_continue
            self._begin_asgi_scope()
            self.url, self.headers, self.expect_100_continue = url, headers, expect_100_continue
            self.scope["headers"] = headers
        super().on_headers_complete()

    def _begin_asgi_scope(self) -> None:
        super().on_message_begin()
        self.scope[READ_DEADLINE_SCOPE_KEY] = self.read_timeout  # the app need not time the body out itself

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._disarm()
        if type(self.cycle) is direct.DirectCycle:
            self.cycle.body_received()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._waiting_since = self.loop.time()

    def _arm(self) -> None:
        if self._deadline is None:
            self._deadline = self.loop.call_later(self.read_timeout, self._read_timed_out)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _read_timed_out(self) -> None:
        self._deadline = None
        if not self.transport.is_closing():
            self.transport.close()  # the app, if it was reading the body, receives http.disconnect


def _close_longest_waiting(connections) -> None:
    waiting = [c for c in connections if getattr(c, "_waiting_since", None) is not None]
    if waiting:
        min(waiting, key=lambda c: c._waiting_since).transport.close()


def guarded_protocol(read_timeout: float = READ_TIMEOUT, max_connections: int | None = None,
                     collect_into: Datasette | None = None) -> type:
    """A :class:`GuardedProtocol` with these limits; ``max_connections`` defaults to what the fd limit allows;
    ``collect_into``: the Datasette whose collector answers beacons in the protocol (None: all through ASGI)."""
    if max_connections is None:
        max_connections = min(MAX_CONNECTIONS, raise_fd_limit() - FD_RESERVE)
    return type("GuardedProtocol", (GuardedProtocol,), {"read_timeout": read_timeout,
                                                        "max_connections": max(1, max_connections),
                                                        "collect_into": collect_into})


def raise_fd_limit() -> int:
    """Raise this process's soft limit on open files to the hard limit; returns the soft limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard > soft:
        target = hard if hard != resource.RLIM_INFINITY else max(soft, 65536)
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
    return soft


def make_datasette(db_path: str | Path, *, metadata: dict | None = None,
                   attribute_every: float | None = DEFAULT_ATTRIBUTE_EVERY, **kwargs) -> Datasette:
    """Datasette serving ``db_path`` (mutable) with the plugin configured to collect into it.

    ``metadata`` is merged under the plugin's own settings; other keyword arguments go to :class:`Datasette`.
    """
    if not pm.is_registered(plugin):  # installed without entry points (e.g. running from a source checkout)
        pm.register(plugin, name=PLUGIN)
    path = Path(db_path).resolve()
    metadata = copy.deepcopy(metadata or {})
    settings = metadata.setdefault("plugins", {}).setdefault(PLUGIN, {})
    settings.setdefault("database", path.stem)
    if attribute_every:
        settings.setdefault("attribute_every", attribute_every)
    return Datasette(files=[str(path)], metadata=metadata, **kwargs)


class Server(uvicorn.Server):
    """uvicorn's server, calling ``on_ready(port)`` once it listens (the real port, when asked for port 0)."""

    def __init__(self, config: uvicorn.Config, on_ready: Callable[[int], None] | None = None):
        super().__init__(config)
        self.on_ready = on_ready
        self.port: int | None = None

    async def startup(self, sockets=None) -> None:
        await super().startup(sockets)
        if self.started and self.servers:
            self.port = self.servers[0].sockets[0].getsockname()[1]
            if self.on_ready is not None:
                self.on_ready(self.port)


def uvicorn_server(app, *, host: str, port: int, read_timeout: float = READ_TIMEOUT,
                   max_connections: int | None = None, on_ready: Callable[[int], None] | None = None,
                   collect_into: Datasette | None = None) -> Server:
    # No access log: it would write every visitor's IP address to the terminal or a log file.
    # proxy_headers: behind a reverse proxy on this machine, the client address comes from X-Forwarded-For.
    protocol = guarded_protocol(read_timeout, max_connections, collect_into)
    config = uvicorn.Config(app, host=host, port=port, access_log=False, proxy_headers=True, log_level="warning",
                            lifespan="on", loop="auto", http=protocol, timeout_keep_alive=KEEP_ALIVE_TIMEOUT)
    return Server(config, on_ready)


def run(datasette: Datasette, *, host: str, port: int, on_ready: Callable[[int], None] | None = None,
        direct: bool = True, **limits) -> None:
    """Serve until interrupted; ``limits``: ``read_timeout``, ``max_connections`` (see :func:`uvicorn_server`);
    ``direct``: answer beacons in the protocol (:mod:`reporting.direct`)."""
    uvicorn_server(datasette.app(), host=host, port=port, on_ready=on_ready,
                   collect_into=datasette if direct else None, **limits).run()


@contextlib.contextmanager
def running(datasette: Datasette, *, host: str = "127.0.0.1", port: int = 0, direct: bool = True,
            **limits) -> Iterator[str]:
    """Serve in a background thread (tests, the demo); yields the base URL once the server accepts connections."""
    server = uvicorn_server(datasette.app(), host=host, port=port, collect_into=datasette if direct else None,
                            **limits)
    thread = threading.Thread(target=server.run, name=f"darksocial-serve:{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    # Not `started`: uvicorn sets it inside startup(), a moment before Server.startup reads the port it listens on.
    while server.port is None:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"the reporting server did not start on {host}:{port}")
        time.sleep(0.02)
    try:
        yield f"http://{urls.url_host(host)}:{server.port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
