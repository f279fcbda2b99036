"""Beacons answered in the protocol (reporting.direct) get byte for byte the answers ASGI gives.

Two real servers, one with ``direct`` (as ``darksocial serve`` runs) and one without (every request through
uvicorn's ASGI cycle and Datasette's app), each with its own database holding the same sites and the same salt,
receive the same raw requests on fresh connections; their raw answers (the Date header aside), whether each closed
the connection, and in the end the stored events must be the same.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import datetime as dt
import importlib.util
import json
import socket
import sqlite3
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from darksocial import privacy, store
from reporting import collect, server

ORIGIN = "https://example.com"
FIREFOX = b"Mozilla/5.0 (X11; Linux x86_64; rv:132.0) Gecko/20100101 Firefox/132.0"
BASE = {b"origin": ORIGIN.encode(), b"user-agent": FIREFOX, b"content-type": b"text/plain;charset=UTF-8"}
PATH = collect.COLLECT_PATH.encode()
READ_TIMEOUT = 1.0  # both servers' deadline for a request's headers and body


def _sibling(name: str):
    """A test module beside this one (tests are not a package: they are imported by path)."""
    spec = importlib.util.spec_from_file_location(f"_direct_{name}", Path(__file__).with_name(f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


http_cases = _sibling("test_collect_http")
fuzz = _sibling("test_collect_fuzz")


@pytest.fixture(scope="module")
def servers(tmp_path_factory, free_port):
    salt = "5a17" * 16
    day = privacy.salt_day(dt.datetime.now(dt.timezone.utc))
    urls, paths = {}, {}
    limits = {"plugins": {"darksocial": {"rate_limit": 0.01, "rate_burst": 2}}}  # loopback clients are exempt
    with contextlib.ExitStack() as stack:
        for direct in (True, False):
            path = tmp_path_factory.mktemp("direct" if direct else "asgi") / "collect.db"
            db = store.open_db(path)
            store.register_site(db, "blog", [ORIGIN])
            store.register_site(db, "private", [ORIGIN], respect_dnt=True)
            db.close()
            with store.SaltStore(store.salts_path(path)) as salts:
                salts.adopt([(day, salt)])
            datasette = server.make_datasette(path, attribute_every=None, metadata=limits)
            urls[direct] = stack.enter_context(server.running(datasette, port=free_port(), direct=direct,
                                                              read_timeout=READ_TIMEOUT))
            paths[direct] = path
        yield {direct: int(url.rsplit(":", 1)[1]) for direct, url in urls.items()}, paths


def request(body: bytes, headers: dict, *, target: bytes = PATH, version: bytes = b"HTTP/1.1",
            method: bytes = b"POST") -> bytes:
    merged = {**BASE, b"content-length": str(len(body)).encode(), **headers}
    head = b"".join(name + b": " + value + b"\r\n" for name, value in merged.items() if value is not None)
    return method + b" " + target + b" " + version + b"\r\nhost: localhost\r\n" + head + b"\r\n" + body


def exchange(port: int, data: bytes, responses: int, *, pause: float = 0.0, linger: float = 0.3) -> tuple[bytes, bool]:
    """Send ``data`` on a fresh connection; (the raw bytes of ``responses`` answers, whether it was then closed)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(data)
        if pause:
            time.sleep(pause)
        raw = b""
        while _complete_answers(raw) < responses:
            chunk = sock.recv(65536)
            if not chunk:
                break
            raw += chunk
        sock.settimeout(linger)  # a server that closes does so right after its answer
        try:
            closed = sock.recv(1) == b""
        except TimeoutError:
            closed = False
        except ConnectionResetError:
            closed = True
    return raw, closed


def _complete_answers(raw: bytes) -> int:
    """How many final (non-1xx) answers ``raw`` holds in full."""
    count = 0
    while (end := raw.find(b"\r\n\r\n")) >= 0:
        head, raw = raw[:end].lower(), raw[end + 4:]
        status = int(head[9:12])
        if b"transfer-encoding: chunked" in head:
            while (line_end := raw.find(b"\r\n")) >= 0:
                size = int(raw[:line_end], 16)
                if len(raw) < line_end + 2 + size + 2:
                    return count
                raw = raw[line_end + 2 + size + 2:]
                if size == 0:
                    break
            else:
                return count
        elif b"content-length: " in head:
            length = int(head.split(b"content-length: ")[1].split(b"\r\n")[0])
            if len(raw) < length:
                return count
            raw = raw[length:]
        count += status >= 200
    return count


def undated(raw: bytes) -> bytes:
    return b"\r\n".join(line for line in raw.split(b"\r\n") if not line.lower().startswith(b"date: "))


def same_answers(servers, data: bytes, responses: int = 1, **kwargs) -> bytes:
    ports, _ = servers
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        direct, asgi = pool.map(lambda flag: exchange(ports[flag], data, responses, **kwargs), (True, False))
    assert (undated(direct[0]), direct[1]) == (undated(asgi[0]), asgi[1])
    return direct[0]


def encoded(payload) -> bytes:
    return payload if isinstance(payload, bytes) else json.dumps(payload).encode()


@pytest.mark.parametrize("payload, headers, status", http_cases.BAD)
def test_bad_input_gets_the_same_answer(servers, payload, headers, status):
    wire = {name.encode(): (None if value is None else value.encode()) for name, value in headers.items()}
    raw = same_answers(servers, request(encoded(payload), wire))
    assert raw.startswith(b"HTTP/1.1 %d " % status)


VIEW = http_cases.view(v="visitor0001", n="A post")
CASES = {
    "stored": request(encoded(VIEW), {}),
    "beacon": request(encoded(VIEW), {b"sec-fetch-mode": b"no-cors"}),
    "cookieless, forwarded": request(encoded(http_cases.view(t="CCCCCCCCC1")), {b"x-forwarded-for": b"203.0.113.5"}),
    "forwarded twice": request(encoded(http_cases.view(t="CCCCCCCCC2")), {b"x-forwarded-for": b"203.0.113.6"})
    .replace(b"\r\n\r\n", b"\r\nx-forwarded-for: 198.51.100.7\r\n\r\n", 1),
    "bot": request(encoded(VIEW), {b"user-agent": b"Googlebot/2.1"}),
    "no user agent": request(encoded(VIEW), {b"user-agent": None}),
    "dnt respected": request(encoded(http_cases.view(s="private")), {b"dnt": b"1"}),
    "gpc ignored": request(encoded(VIEW), {b"sec-gpc": b"1"}),
    "no Origin": request(encoded(VIEW), {b"origin": None}),
    "odd Origin echoed or not": request(encoded(VIEW), {b"origin": b"HTTPS://EXAMPLE.COM:443"}),
    "connection close": request(encoded(VIEW), {b"connection": b"close"}),
    "keep-alive spelled out": request(encoded(VIEW), {b"connection": b"keep-alive"}),
    "HTTP/1.0": request(encoded(VIEW), {}, version=b"HTTP/1.0"),
    "query string": request(encoded(VIEW), {}, target=PATH + b"?x=1"),
    "expect 100-continue": request(encoded(VIEW), {b"expect": b"100-continue"}),
    "no content-length": request(b"", {b"content-length": None}),
    "declared too long, nothing sent": request(b"", {b"content-length": b"100000"}),
    "GET": request(b"", {}, method=b"GET"),
    "OPTIONS": request(b"", {b"access-control-request-method": b"POST"}, method=b"OPTIONS"),
}


@pytest.mark.parametrize("case", CASES)
def test_each_kind_of_request_gets_the_same_answer(servers, case):
    same_answers(servers, CASES[case])


def test_chunked_bodies_take_the_asgi_path_and_get_the_same_answer(servers):
    body = encoded(VIEW)
    chunked = request(b"", {b"content-length": None, b"transfer-encoding": b"chunked"}) + \
        b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)
    assert same_answers(servers, chunked).startswith(b"HTTP/1.1 204 ")


def test_pipelined_requests_are_answered_in_order(servers):
    stored, bad, bot = CASES["stored"], request(b"nope", {}), CASES["bot"]
    asset = b"GET /-/darksocial/darksocial.css HTTP/1.1\r\nhost: localhost\r\n\r\n"
    raw = same_answers(servers, stored + bad + asset + bot + stored, responses=5)
    assert [line.split(b" ")[1] for line in raw.split(b"\r\n") if line.startswith(b"HTTP/1.1 ")] == \
        [b"204", b"400", b"200", b"202", b"204"]
    same_answers(servers, CASES["stored"] + CASES["connection close"], responses=2)


def test_the_rate_limit_answers_429_the_same_before_the_body(servers):
    flood = request(encoded(VIEW), {b"x-forwarded-for": b"198.51.100.99"})
    raw = same_answers(servers, flood * 3, responses=3)
    assert raw.count(b"HTTP/1.1 204 ") == 2 and b"retry-after: " in raw
    headers_only = flood[:flood.index(b"\r\n\r\n") + 4]  # over the limit: answered without waiting for the body
    assert same_answers(servers, headers_only).startswith(b"HTTP/1.1 429 ")


def test_a_late_body_closes_the_connection_the_same_way(servers):
    late = CASES["stored"][:-5]
    raw = same_answers(servers, late, pause=READ_TIMEOUT + 0.5)
    assert raw == b""


@settings(max_examples=150, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example,
                                 HealthCheck.function_scoped_fixture])
@given(body=st.one_of(fuzz.json_body, fuzz.raw_body), header_map=fuzz.headers)
def test_generated_requests_get_the_same_answer(servers, body, header_map):
    header_map = {name: value for name, value in header_map.items() if value is not None and _header_safe(value)}
    length = header_map.get(b"content-length", b"")
    if length.isdigit() and int(length) != len(body):
        del header_map[b"content-length"]  # a wrong length desynchronises the stream (the real one is sent)
    same_answers(servers, request(body, header_map), linger=0.05)


def _header_safe(value: bytes) -> bool:
    """A value that can travel in a header line (httptools refuses the rest with its own 400, before either path)."""
    return not any(c in value for c in b"\r\n\x00") and value == value.strip()


def test_both_servers_stored_the_same_events(servers):
    _, paths = servers
    columns = [c for c in store.EVENT_COLUMNS if c not in ("id", "ts")]

    def stored(path):
        with sqlite3.connect(path) as conn:
            return sorted(conn.execute(f"SELECT {', '.join(columns)} FROM events").fetchall(), key=repr)

    assert stored(paths[True]) == stored(paths[False])
    assert len(stored(paths[True])) >= 10
