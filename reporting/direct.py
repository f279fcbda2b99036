"""``POST /-/darksocial/collect`` answered by ``darksocial serve``'s HTTP protocol itself, skipping ASGI.

A beacon needs none of the ASGI machinery (scope, task, receive/send coroutines, proxy-header middleware,
Datasette's app and its wrappers): about 10 µs of server CPU per request (of ~47 for a beacon answered 202).
So :class:`reporting.server.GuardedProtocol` hands a plain beacon to :func:`start` as soon as its headers are
parsed, and the answer is written from the collector's callbacks: the same statuses, reasons and headers, byte
for byte, as :func:`reporting.collect.asgi_wrapper` sends through uvicorn (``tests/reporting/test_direct.py``
sends the same requests to both and compares), and, as there, only after the events are committed.

Only the usual case is taken: HTTP/1.1, the exact path, a ``Content-Length``, no ``Transfer-Encoding``,
``Expect`` or ``Upgrade``, no other request of the connection still being answered, an open connection whose
client reads its answers (else its write buffer would grow: ASGI's send waits for it to drain). Anything
else (chunked bodies, 100-continue, HTTP/1.0, pipelined requests behind one in progress, a query string…) goes
through ASGI unchanged. Other plugins' ``asgi_wrapper`` hooks do not see the requests taken here (they did not see
them before either when wrapped inside darksocial's, which answers before Datasette's router).
"""

from __future__ import annotations

import logging

from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware
from uvicorn.protocols.http.httptools_impl import HEADER_VALUE_RE, STATUS_LINE

from darksocial.collector import Result

from .collect import COLLECT_PATH, LIMIT, answer, begin_post, latin1, unexpected

PATH = COLLECT_PATH.encode("ascii")
# Requests carrying one of these take the ASGI path (the protocol would have to do what uvicorn does for them).
_UNUSUAL = frozenset((b"transfer-encoding", b"expect", b"upgrade"))

log = logging.getLogger(__name__)


def start(protocol, datasette) -> bool:
    """Take the request whose headers ``protocol`` (a GuardedProtocol) just parsed, if it is a plain beacon."""
    parser = protocol.parser
    if protocol.url != PATH or parser.get_method() != b"POST" or parser.get_http_version() != "1.1":
        return False
    if protocol.root_path or protocol.limit_concurrency is not None or parser.should_upgrade():
        return False
    cycle = protocol.cycle
    if (cycle is not None and not cycle.response_complete) or protocol.transport.is_closing():
        return False
    if protocol.flow.write_paused:  # a client that does not read its answers: ASGI waits for it before answering
        return False
    headers = dict(protocol.headers)  # names are lowercase; the last duplicate wins, as in collect.asgi_wrapper
    content_length = headers.get(b"content-length")
    if content_length is None or not _UNUSUAL.isdisjoint(headers):
        return False
    get = headers.get
    ip = _client_ip(protocol, headers)
    origin = get(b"origin")
    origin = origin.decode("latin-1") if origin is not None else None
    cors, collector, _, declared, early = begin_post(
        datasette, ip, origin, content_length.decode("latin-1"), latin1(get(b"sec-fetch-mode")))
    cycle = protocol.cycle = DirectCycle(protocol, cors)
    if early is not None:
        cycle.respond(*early)
        return True
    cycle.collector, cycle.ip, cycle.origin, cycle.declared = collector, ip, origin, declared
    user_agent, content_type = get(b"user-agent"), get(b"content-type")
    cycle.user_agent = user_agent.decode("latin-1") if user_agent is not None else None
    cycle.content_type = content_type.decode("latin-1") if content_type is not None else None
    cycle.dnt, cycle.gpc = latin1(get(b"dnt")), latin1(get(b"sec-gpc"))
    if declared is not None and declared > LIMIT:  # answered 413 from the declared length, the body unread
        cycle.ingest(b"")
    return True


class DirectCycle:
    """One request taken by :func:`start`: what uvicorn's protocol reads of its ``cycle``, and the answer."""

    __slots__ = ("protocol", "cors", "collector", "ip", "origin", "user_agent", "content_type", "declared", "dnt",
                 "gpc", "body", "more_body", "keep_alive", "disconnected", "response_complete", "message_event")

    def __init__(self, protocol, cors: dict):
        self.protocol, self.cors = protocol, cors
        self.collector = None
        self.body = bytearray()
        self.more_body = True
        self.keep_alive = protocol.parser.should_keep_alive()  # uvicorn's shutdown() may turn it off meanwhile
        self.disconnected = self.response_complete = False
        self.message_event = _NO_WAITER  # the protocol sets it on news; ours come through body_received

    def body_received(self) -> None:
        """The protocol parsed the whole body (called from its on_message_complete)."""
        if self.collector is not None and not self.response_complete:
            self.ingest(bytes(self.body))

    def ingest(self, body: bytes) -> None:
        collector, self.collector = self.collector, None
        self.body = bytearray()
        try:
            collector.ingest_nowait(body, self.answer, loop=self.protocol.loop, admitted=True, origin=self.origin,
                                    user_agent=self.user_agent, ip=self.ip, content_type=self.content_type,
                                    content_length=self.declared, dnt=self.dnt, gpc=self.gpc)
        except Exception as exc:
            self.answer(exc)

    def answer(self, result: Result | Exception) -> None:
        if type(result) is not Result:
            result = unexpected(result)
        elif result.status == 204 and not self.cors and self.keep_alive:
            return self._stored()
        self.respond(*answer(result, self.cors))

    def _stored(self) -> None:
        """The usual answer, 204 with only the server's default headers, as :meth:`respond` writes it."""
        if self.disconnected or self.response_complete:
            return
        protocol = self.protocol
        state = protocol.server_state
        made_with, answer = getattr(state, "darksocial_no_content", _NOT_YET)
        if made_with is not state.default_headers:  # uvicorn makes a new list every second (its date header)
            made_with = state.default_headers
            answer = b"".join([STATUS_LINE[204], *(b"%s: %s\r\n" % header for header in made_with), b"\r\n"])
            state.darksocial_no_content = made_with, answer
        protocol.transport.write(answer)
        self.response_complete = True
        protocol.on_response_complete()

    def respond(self, status: int, headers: dict, body: bytes) -> None:
        """Write the answer as uvicorn's RequestResponseCycle.send writes an ASGI app's, then finish the cycle."""
        if self.disconnected or self.response_complete:
            return  # the client went away: the events are stored all the same, the answer is dropped
        protocol = self.protocol
        content = [STATUS_LINE[status]]
        for name, value in protocol.server_state.default_headers:
            content += (name, b": ", value, b"\r\n")
        for name, value in headers.items():
            value = value.encode("latin-1")
            if HEADER_VALUE_RE.search(value):  # as uvicorn does: the answer is abandoned, the connection closed
                log.error("darksocial: invalid response header value %r", value)
                protocol.transport.close()
                return
            content += (name.encode("latin-1"), b": ", value, b"\r\n")
        if not self.keep_alive:
            content.append(b"connection: close\r\n")
        if status in (204, 304):
            content.append(b"\r\n")
        else:  # no Content-Length: uvicorn sends the body chunked
            content.append(b"transfer-encoding: chunked\r\n\r\n")
            if body:
                content += (b"%x\r\n" % len(body), body, b"\r\n")
            content.append(b"0\r\n\r\n")
        protocol.transport.write(b"".join(content))
        self.response_complete = True
        if not self.keep_alive:
            protocol.transport.close()
        protocol.on_response_complete()


class _NoWaiter:
    """Stands for the asyncio.Event an ASGI cycle waits on (a cycle of its own would be garbage only the GC frees)."""

    __slots__ = ()

    def set(self) -> None:
        pass


_NO_WAITER = _NoWaiter()
# Kept on the server's state: (the default headers it was made with, the whole 204 answer).
_NOT_YET = (None, b"")


def _client_ip(protocol, headers: dict) -> str | None:
    """The client address as uvicorn's ProxyHeadersMiddleware gives it to the ASGI app."""
    client = protocol.client
    host = client[0] if client else None
    app = protocol.app
    if b"x-forwarded-for" in headers and isinstance(app, ProxyHeadersMiddleware) and host in app.trusted_hosts:
        forwarded = b", ".join(v for n, v in protocol.headers if n == b"x-forwarded-for").decode("latin1")
        forwarded_host, _ = app.trusted_hosts.get_trusted_client_address(forwarded)
        if forwarded_host:
            return forwarded_host
    return host
