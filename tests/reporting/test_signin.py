"""Signing in: one-time links as `analyst` (never root), a password check that never blocks the event loop, failed
sign-ins throttled per client, the password tool only on loopback, and server pages that are not public."""

from __future__ import annotations

import re
import threading
from urllib.parse import urlsplit

import httpx
import pytest
from click.testing import CliRunner

from darksocial.cli import cli
from reporting import auth, signin


def test_login_link_signs_in_once_as_analyst_without_internal(live_server, scenario_db):
    port = int(live_server.rsplit(":", 1)[1])
    result = CliRunner().invoke(cli, ["login-link", str(scenario_db), "--port", str(port)])
    assert result.exit_code == 0, result.output
    link = result.output.strip()
    assert link.startswith(f"{live_server}/-/darksocial/sign-in?token=")
    with httpx.Client() as browser:
        first = browser.get(link)
        assert first.status_code == 302
        actor = browser.get(f"{live_server}/-/actor.json").json()
        assert actor == {"actor": {"id": "analyst"}}
        assert "_internal" not in browser.get(f"{live_server}/-/databases.json").text
        assert browser.get(f"{live_server}/darksocial/visits.json").status_code == 200
    with httpx.Client() as second_browser:
        assert second_browser.get(link).status_code == 403  # used once
        fresh = CliRunner().invoke(cli, ["login-link", str(scenario_db), "--port", str(port)]).output.strip()
        assert second_browser.get(fresh).status_code == 302  # a second browser is never locked out


def test_pages_about_the_server_are_for_analysts_only(inproc):
    for path in ("/-/threads", "/-/versions.json", "/-/plugins", "/-/databases.json", "/-/settings.json",
                 "/-/metadata.json", "/darksocial/sqlite_stat1", "/darksocial/sqlite_stat1.json"):
        response = inproc.get(path)
        assert response.status_code == 403, path
        assert str(inproc.ds.databases["darksocial"].path) not in response.text
    assert inproc.get("/-/versions.json", signed_in=True).status_code == 200
    assert str(inproc.ds.databases["darksocial"].path) not in inproc.get("/.json").text
    assert str(inproc.ds.databases["darksocial"].path) not in inproc.get("/darksocial.json").text


def test_failed_sign_ins_are_throttled_per_client_and_hashing_runs_off_the_event_loop(live_server, datasette,
                                                                                       monkeypatch):
    threads = []
    real_verify = signin.verify_password

    def recording_verify(password, hashed):
        threads.append(threading.current_thread() is threading.main_thread() or threading.current_thread().name)
        return real_verify(password, hashed)

    monkeypatch.setattr(signin, "verify_password", recording_verify)
    with httpx.Client(base_url=live_server) as client:
        token = client.get("/-/login").cookies["ds_csrftoken"]
        statuses, texts = [], []
        for _ in range(signin.MAX_FAILURES + 2):
            response = client.post("/-/login", data={"username": "analyst", "password": "wrong", "csrftoken": token})
            statuses.append(response.status_code)
            texts.append(response.text)
        signin.failed_sign_ins(datasette).failures.clear()  # let the other tests sign in from this address
        assert statuses[:signin.MAX_FAILURES] == [200] * signin.MAX_FAILURES  # the form again, with the error
        assert "Invalid username or password" in texts[0]
        assert statuses[signin.MAX_FAILURES:] == [429, 429]
    assert threads and all(name not in (True, "MainThread") for name in threads)
    server_loop_threads = {t.name for t in threading.enumerate() if t.name.startswith("darksocial-serve")}
    assert not server_loop_threads.intersection(threads)  # hashed in a worker, not on the server's loop thread


def test_the_right_password_still_signs_in_and_a_bad_csrf_token_does_not(live_server, scenario):
    with httpx.Client(base_url=live_server) as client:
        token = client.get("/-/login").cookies["ds_csrftoken"]
        forged = client.post("/-/login", data={"username": "analyst", "password": scenario.PASSWORD,
                                               "csrftoken": "forged"})
        assert forged.status_code == 403 and "ds_actor" not in forged.cookies
        ok = client.post("/-/login", data={"username": "analyst", "password": scenario.PASSWORD, "csrftoken": token})
        assert ok.status_code == 302 and "ds_actor" in ok.cookies


def test_the_password_tool_is_only_served_on_loopback(inproc, live_server):
    async def from_a_public_address():
        transport = httpx.ASGITransport(app=inproc.ds.app())
        async with httpx.AsyncClient(transport=transport, base_url="http://203.0.113.5:8001") as client:
            return await client.get("/-/password-tool")

    assert inproc._run(from_a_public_address()).status_code == 404
    with httpx.Client(base_url=live_server) as client:
        page = client.get("/-/password-tool")
        assert page.status_code == 200
        hashed = client.post("/-/password-tool", data={"password": "s3cret",
                                                       "csrftoken": page.cookies["ds_csrftoken"]})
        assert hashed.status_code == 200 and "pbkdf2_sha256$" in hashed.text


@pytest.mark.parametrize("server", [("203.0.113.5", 8001), ("0.0.0.0", 80)])
def test_a_public_bind_hides_the_password_tool(server):
    assert not signin._is_loopback_bind({"server": server})
    assert signin._is_loopback_bind({"server": ("127.0.0.1", 8001)})


def test_the_throttle_forgets_old_failures_and_bounds_its_memory():
    now = [0.0]
    failures = signin.FailedSignIns(limit=2, window=10, clock=lambda: now[0])
    failures.record("a")
    failures.record("a")
    assert failures.retry_after("a") == 11 and failures.retry_after("b") == 0
    now[0] = 10.5
    assert failures.retry_after("a") == 0
    for i in range(signin.MAX_CLIENTS_TRACKED + 5):
        failures.record(str(i))
    assert len(failures.failures) == signin.MAX_CLIENTS_TRACKED


def test_without_a_password_the_login_page_says_how_to_sign_in(inproc, monkeypatch):
    # datasette-auth-passwords' form, with no account configured, would take a password that nothing accepts.
    with_password = inproc.get("/-/login")
    assert with_password.status_code == 200 and 'name="password"' in with_password.text
    monkeypatch.delenv(auth.PASSWORD_HASH_ENV)
    page = inproc.get("/-/login")
    assert page.status_code == 200 and "darksocial login-link DATABASE" in page.text
    assert 'name="password"' not in page.text


@pytest.mark.parametrize("path", ["/-/login", "/", "/darksocial/top_stories"])
def test_a_multipart_post_is_refused_with_a_415_not_a_500(inproc, path):
    # Datasette's CSRF middleware (asgi-csrf 0.11) crashed on any multipart body with a cookie: a 500 and a
    # traceback in the log that anyone could repeat. No form here is multipart.
    response = inproc._run(inproc.ds.client.post(path, files={"f": ("a.txt", b"x")}, cookies={"ds_csrftoken": "t"}))
    assert response.status_code == 415 and "Content-Type: multipart/form-data" in response.text


def test_a_multipart_content_type_sent_after_another_is_refused_too(live_server):
    # asgi-csrf reads the last Content-Type header: a guard reading only the first let the 500 through.
    import socket
    from urllib.parse import urlsplit

    where = urlsplit(live_server)
    with socket.create_connection((where.hostname, where.port)) as sock:
        sock.sendall(b"POST /-/login HTTP/1.1\r\nHost: x\r\nCookie: ds_csrftoken=t\r\n"
                     b"Content-Type: text/plain\r\nContent-Type: multipart/form-data; boundary=zz\r\n"
                     b"Content-Length: 0\r\nConnection: close\r\n\r\n")
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 415"), answer[:200]


def test_every_sign_in_hint_names_the_port_the_server_runs_on(live_server, monkeypatch):
    # `darksocial login-link DATABASE` alone mints a link for :8001, which opens nothing on a server on another port.
    want = f"darksocial login-link DATABASE --port {urlsplit(live_server).port}</code>"
    with httpx.Client(base_url=live_server) as client:
        pages = {"a server page": client.get("/-/versions"), "a private report": client.get("/darksocial/visits"),
                 "a used link": client.get("/-/darksocial/sign-in", params={"token": "used"})}
        monkeypatch.delenv(auth.PASSWORD_HASH_ENV)
        pages["the login page without a password"] = client.get("/-/login")
    for what, page in pages.items():
        assert page.status_code in (200, 403) and want in page.text, (what, page.text)


def test_a_sign_in_hint_names_the_host_when_it_is_not_the_default(datasette):
    from reporting import server

    with server.running(datasette, host="::1") as url, httpx.Client(base_url=url) as client:
        port = urlsplit(url).port
        assert url == f"http://[::1]:{port}"
        hint = re.search(r"<code>(darksocial login-link[^<]*)</code>", client.get("/-/versions").text)[1]
    assert hint == f"darksocial login-link DATABASE --host ::1 --port {port}"
