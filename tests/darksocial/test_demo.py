"""`darksocial demo` the way a newcomer meets it: from a fresh copy of the repository, relative paths, default ports."""

from __future__ import annotations

import datetime as dt
import json
import re
import shlex
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
from functools import partial
from pathlib import Path

import click
import pytest
from bs4 import BeautifulSoup
from click.testing import CliRunner

from darksocial import attribution, demo, simulate, store, tables
from darksocial.cli import cli

REPO = Path(__file__).resolve().parents[2]
NOT_SOURCE = shutil.ignore_patterns(".git", ".venv", "node_modules", "darksocial-demo", "build", "dist", "*.egg-info",
                                    "__pycache__", ".pytest_cache", ".ruff_cache", "site")


def port_is_free(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def run_demo(cwd: Path, *flags: str) -> subprocess.CompletedProcess:
    # `python -m` puts the copy first on sys.path, so the copy's code runs, as `.venv/bin/darksocial` would in a clone.
    return subprocess.run([sys.executable, "-m", "darksocial.cli", "demo", "--no-wait", "--no-browser", *flags],
                          cwd=cwd, capture_output=True, text=True, timeout=600)


def test_demo_from_a_fresh_copy_with_relative_paths_and_stable_ports(tmp_path, free_port):
    copy = tmp_path / "darksocial"
    shutil.copytree(REPO, copy, ignore=NOT_SOURCE, symlinks=True)
    imported = subprocess.run([sys.executable, "-c", "import darksocial; print(darksocial.__file__)"], cwd=copy,
                              capture_output=True, text=True, check=True).stdout
    assert imported.startswith(str(copy)), imported

    # The README's command uses the default ports; on a busy machine, fixed ones that are free stand in for them.
    site_port, reports_port = (8000, 8001) if port_is_free(8000) and port_is_free(8001) else (free_port(), free_port())
    flags = [] if (site_port, reports_port) == (8000, 8001) else ["--site-port", str(site_port),
                                                                   "--port", str(reports_port)]
    first = run_demo(copy, *flags)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "Traceback" not in first.stderr
    acknowledged, sent = map(int, re.search(r"([\d,]+) of today's ([\d,]+) events acknowledged",
                                            first.stdout).groups())
    assert acknowledged == sent

    # --no-wait says only what is true: nothing is served, and how to serve the result on the same ports.
    assert "token=" not in first.stdout and "sign in on this machine" not in first.stdout
    assert f"-m darksocial.cli serve darksocial-demo/darksocial.db --port {reports_port}" in first.stdout
    assert (f"python3 -m http.server {site_port} --bind 127.0.0.1 --directory darksocial-demo/site"
            in first.stdout)

    site = copy / "darksocial-demo" / "site"
    assert (site / "darksocial-pages.json").is_file()
    story = BeautifulSoup((site / "stories" / "ci-in-half" / "index.html").read_text(), "html.parser")
    assert len(story.select("nav.ds-bar")) == 1
    (tracker,) = story.select("script[src$='darksocial.js']")
    assert tracker["data-collector"] == f"http://127.0.0.1:{reports_port}/-/darksocial/collect"

    conn = sqlite3.connect(copy / "darksocial-demo" / "darksocial.db")
    visits, tracked = conn.execute("SELECT count(*), sum(tracked) FROM visits").fetchone()
    assert visits > 1000 and tracked > 200
    named = {row[0] for row in conn.execute("SELECT name FROM influencers WHERE name IS NOT NULL")}
    assert {"Priya Natarajan", "Marco Rossi"} <= named
    assert conn.execute("SELECT count(DISTINCT date) FROM visits").fetchone()[0] >= 29
    assert conn.execute("SELECT count(*) FROM pages WHERE title IS NOT NULL").fetchone()[0] >= 5
    conn.close()

    # Right after (its connections still in TIME_WAIT), a re-run gets the same ports, so the same built URLs. The
    # folder the demo made is marked as its own; without the mark (a folder of a version from before it) the re-run
    # still recognises its own database and site, and leaves the folder unmarked: it checks it again each run.
    marker = copy / "darksocial-demo" / demo.MARKER
    assert marker.is_file()
    marker.unlink()
    second = run_demo(copy, *flags)
    assert second.returncode == 0, second.stdout + second.stderr
    assert not marker.is_file()
    assert f"--port {reports_port}" in second.stdout and f"http.server {site_port} " in second.stdout

    # The two commands --no-wait printed serve the site and a collector that takes its events.
    printed = [shlex.split(line) for line in second.stdout.splitlines()
               if " serve darksocial-demo/" in line or "-m http.server" in line]
    servers = [subprocess.Popen(command, cwd=copy, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
               for command in printed]
    try:
        page = wait_for(f"http://127.0.0.1:{site_port}/stories/ci-in-half/").read().decode()
        assert f'data-collector="http://127.0.0.1:{reports_port}/-/darksocial/collect"' in page
        wait_for(f"http://127.0.0.1:{reports_port}/")
        view = {"k": "view", "s": demo.SITE_ID, "v": "newcomer00000001", "t": "AbCdEfGhIj",
                "u": f"http://127.0.0.1:{site_port}/stories/ci-in-half/"}
        request = urllib.request.Request(f"http://127.0.0.1:{reports_port}/-/darksocial/collect",
                                         json.dumps(view).encode(),
                                         {"Content-Type": "text/plain", "Origin": f"http://127.0.0.1:{site_port}",
                                          "User-Agent": simulate.USER_AGENTS[0]})
        with urllib.request.urlopen(request, timeout=30) as answer:
            assert answer.status == 204
    finally:
        for server in servers:
            server.send_signal(signal.SIGINT)
        for server in servers:
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                server.kill()


def wait_for(url: str, seconds: float = 60):
    deadline = time.monotonic() + seconds
    while True:
        try:
            return urllib.request.urlopen(url, timeout=5)
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def test_a_taken_port_is_named_with_the_option_that_changes_it(tmp_path, free_port):
    port = free_port()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", port))
        taken.listen()
        result = CliRunner().invoke(cli, ["demo", "--no-wait", "--no-browser", "--dir", str(tmp_path),
                                          "--site-port", str(port), "--port", "0"])
    assert result.exit_code == 2, result.output
    assert f"port {port} for the demo site is already in use" in result.output
    assert "--site-port PORT" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "site").exists()  # nothing was built for a port nobody will serve


def test_without_the_reporting_extra_the_demo_names_the_install_command(tmp_path):
    # A module set to None in sys.modules cannot be imported: the same as the extra not being installed.
    code = ("import sys; sys.modules['datasette'] = None; from darksocial.cli import cli; "
            "cli(['demo', '--no-wait', '--no-browser', '--dir', sys.argv[1]])")
    result = subprocess.run([sys.executable, "-c", code, str(tmp_path / "demo")], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 1
    assert "pip install 'darksocial[reporting]'" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "demo").exists()


@pytest.mark.parametrize(("flags", "absent", "install"), [
    (["--wagtail"], ["django"], "the Wagtail demo needs the 'wagtail' extra: pip install 'darksocial[wagtail]'"),
    (["--wagtail"], ["django", "wagtail", "swapper", "datasette", "uvicorn", "mkdocs"],
     "the Wagtail demo needs the 'wagtail' and 'reporting' extras: pip install 'darksocial[wagtail,reporting]'"),
    ([], ["django", "wagtail", "swapper", "datasette", "uvicorn", "mkdocs"],
     "the demo needs the 'mkdocs' and 'reporting' extras: pip install 'darksocial[mkdocs,reporting]'"),
])
def test_without_extras_each_demo_names_every_extra_it_needs(tmp_path, flags, absent, install):
    code = ("import sys; sys.modules.update(dict.fromkeys(sys.argv[2].split(','))); from darksocial.cli import cli; "
            "cli(['demo', '--no-wait', '--no-browser', '--dir', sys.argv[1], *sys.argv[3:]])")
    result = subprocess.run([sys.executable, "-c", code, str(tmp_path / "demo"), ",".join(absent), *flags],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 1, result.stderr
    assert install in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "demo").exists()


def analyst_tables(db_path: Path) -> dict[str, list[tuple]]:
    conn = sqlite3.connect(db_path)
    try:
        return {name: sorted(conn.execute(f"SELECT * FROM [{name}]").fetchall(), key=repr)
                for name in tables.TABLES if not name.startswith("_")}
    finally:
        conn.close()


def seeded_demo_database(path: Path, site_dir: Path, site_url: str, seed: int, now: dt.datetime) -> Path:
    """The demo's data, all of it through the ingest function (no HTTP, whose server clock is the real one)."""
    page_list, ambassadors = demo.prepare_database(path, site_dir, site_url, seed=seed, now=now)
    demo.ingest_history(path, demo.simulate_traffic(site_url, page_list, ambassadors, seed=seed, now=now))
    attribution.attribute(store.open_db(path), full=True)
    return path


def test_same_seed_same_tables_and_days_that_look_real(tmp_path):
    site_url = "http://127.0.0.1:8000/"
    site_dir = demo.build_site(tmp_path, site_url, "http://127.0.0.1:8001/-/darksocial/collect")
    now = dt.datetime(2026, 3, 18, 9, 30, tzinfo=dt.timezone.utc)  # a Wednesday morning
    first = seeded_demo_database(tmp_path / "a.db", site_dir, site_url, 7, now)
    again = seeded_demo_database(tmp_path / "b.db", site_dir, site_url, 7, now)
    other = seeded_demo_database(tmp_path / "c.db", site_dir, site_url, 8, now)
    tables_of_first = analyst_tables(first)
    assert tables_of_first["visits"] and tables_of_first == analyst_tables(again)
    assert analyst_tables(other)["visits"] != tables_of_first["visits"]

    conn = sqlite3.connect(first)
    days = conn.execute("SELECT date, sum(visits), sum(CASE WHEN medium = 'dark' THEN visits ELSE 0 END) "
                        "FROM daily GROUP BY date ORDER BY date").fetchall()
    # Some people open the same message twice: clicks outnumber the people reached, as the reports tell apart.
    clicks, people = conn.execute("SELECT count(*), count(DISTINCT person) FROM visits WHERE click = 1").fetchone()
    conn.close()
    assert 1.02 * people < clicks < 1.2 * people
    assert [day for day, _, _ in days][-1] == "2026-03-18" and len(days) == demo.DAYS
    full_days, (_, today, _) = days[:-1], days[-1]
    # Steady volumes with a weekly rhythm (each day near the median of its kind), and today (a morning) no spike.
    by_kind = {True: [], False: []}
    for day, visits, _ in full_days:
        by_kind[dt.date.fromisoformat(day).weekday() >= 5].append(visits)
    weekday, weekend = statistics.median(by_kind[False]), statistics.median(by_kind[True])
    assert weekend < 0.85 * weekday
    for median, volumes in ((weekday, by_kind[False]), (weekend, by_kind[True])):
        assert all(0.6 * median < visits < 1.6 * median for visits in volumes), (median, volumes)
    assert today < weekday
    # The dark social share stays in a plausible band and moves gradually from one day to the next.
    shares = [dark / visits for _, visits, dark in full_days]
    assert all(0.1 < share < 0.6 for share in shares), shares
    assert max(abs(b - a) for a, b in zip(shares, shares[1:], strict=False)) < 0.25, shares


def test_only_the_demos_own_files_are_rebuilt_without_asking(tmp_path):
    site_url = "http://127.0.0.1:8000/"
    site_dir = demo.build_site(tmp_path, site_url, "http://127.0.0.1:8001/-/darksocial/collect")
    demo.prepare_database(tmp_path / "darksocial.db", site_dir, site_url, seed=7,
                          now=dt.datetime(2026, 3, 18, 9, 30, tzinfo=dt.timezone.utc))
    owned = {"darksocial.db": store.database_files(tmp_path / "darksocial.db"), "site/": [site_dir]}
    earlier = partial(demo.earlier_mkdocs_demo, tmp_path)
    assert earlier()  # an earlier run's folder, before the marker: its database and site are recognised
    demo.claim_workdir(tmp_path, owned, earlier)
    assert not (tmp_path / demo.MARKER).exists()  # a folder it found full is not taken over

    manifest = site_dir / "darksocial-pages.json"
    manifest.write_text(manifest.read_text().replace(f'"site": "{demo.SITE_ID}"', '"site": "mine"'))
    assert not earlier()  # someone's own site/ beside it
    with pytest.raises(click.UsageError, match=r"already holds darksocial\.db, site/, which the demo did not"):
        demo.claim_workdir(tmp_path, owned, earlier)
    fresh = tmp_path / "new"
    demo.claim_workdir(fresh, {"site/": [fresh / "site"]}, lambda: False)
    assert (fresh / demo.MARKER).is_file()  # a folder it made is its own: whatever is in it, it rebuilds
    (fresh / "site").mkdir()
    demo.claim_workdir(fresh, {"site/": [fresh / "site"]}, lambda: False)


def test_a_run_in_someones_own_folder_never_makes_their_later_database_the_demos(tmp_path):
    # `--dir .` in an MkDocs project that holds no darksocial.db yet: the demo may run there, but the folder is not
    # its own, so the database its owner registers there later is never deleted by a later run.
    (tmp_path / "mkdocs.yml").write_text("site_name: Mine\n")
    db_path = tmp_path / "darksocial.db"
    owned = {"darksocial.db": store.database_files(db_path), "site/": [tmp_path / "site"]}
    earlier = partial(demo.earlier_mkdocs_demo, tmp_path)
    demo.claim_workdir(tmp_path, owned, earlier)
    assert not (tmp_path / demo.MARKER).exists()
    db = store.open_db(db_path)
    store.register_site(db, "mine", ["https://docs.mine.example"])
    db.close()
    with pytest.raises(click.UsageError, match=r"already holds darksocial\.db"):
        demo.claim_workdir(tmp_path, owned, earlier)
    assert store.open_db(db_path).execute("SELECT site FROM sites").fetchall() == [("mine",)]


def test_an_unusable_dir_is_named_with_the_option(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    result = CliRunner().invoke(cli, ["demo", "--no-wait", "--dir", str(blocker / "demo"), "--site-port", "0",
                                      "--port", "0"])
    assert result.exit_code == 2 and "--dir" in result.output and "writable folder" in result.output


# uvicorn's server thread ends with SystemExit when it cannot bind: that is the failure under test.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_a_port_taken_while_the_site_builds_is_still_named(tmp_path, monkeypatch):
    claim, held = demo.claim_port, []

    def claim_then_lose(port, what, option, avoid=None):
        chosen = claim(port, what, option, avoid)
        if option == "--port":  # another program binds it right after the probe
            sock = socket.socket()
            sock.bind(("127.0.0.1", chosen))
            sock.listen()
            held.append(sock)
        return chosen

    monkeypatch.setattr(demo, "claim_port", claim_then_lose)
    try:
        result = CliRunner().invoke(cli, ["demo", "--no-wait", "--no-browser", "--dir", str(tmp_path),
                                          "--site-port", "0", "--port", "0"])
    finally:
        for sock in held:
            sock.close()
    assert result.exit_code == 2, result.output
    assert "could not start on port" in result.output and "--port PORT" in result.output


def test_serve_in_thread_serves_until_the_block_ends_then_frees_the_port(tmp_path):
    import http.server
    from functools import partial

    (tmp_path / "index.html").write_text("<title>served</title>", encoding="utf-8")
    handler = partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    port = server.server_address[1]
    with demo.serve_in_thread(server, "test-serve-in-thread") as url:
        assert url == f"http://127.0.0.1:{port}/"
        with urllib.request.urlopen(url, timeout=10) as response:
            assert b"<title>served</title>" in response.read()
    with pytest.raises(OSError):
        urllib.request.urlopen(url, timeout=2)
    with socket.socket() as again:  # closed: the port can be listened on again (only a listener would refuse)
        again.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        again.bind(("127.0.0.1", port))
        again.listen()


def test_the_demo_site_answers_a_missing_page_with_its_own_not_found_page(tmp_path, free_port):
    (tmp_path / "index.html").write_text("<title>home</title>", encoding="utf-8")
    (tmp_path / "404.html").write_text("<title>Not found: the Harbour Lane</title>", encoding="utf-8")
    with demo.serve_directory(tmp_path, free_port()) as url:
        with pytest.raises(urllib.error.HTTPError) as missing:
            urllib.request.urlopen(url + "no/such/page/", timeout=10)
        assert missing.value.code == 404
        assert missing.value.read() == b"<title>Not found: the Harbour Lane</title>"
        with urllib.request.urlopen(url, timeout=10) as home:
            assert home.read() == b"<title>home</title>"


def test_the_demo_serves_until_ctrl_c_with_links_that_work(tmp_path, free_port):
    """README's command without --no-wait: the printed site, reports and sign-in link answer while it waits, and
    Ctrl-C stops it cleanly."""
    site_port, reports_port = free_port(), free_port()
    demo_run = subprocess.Popen(
        [sys.executable, "-m", "darksocial.cli", "demo", "--no-browser", "--dir", str(tmp_path / "demo"),
         "--site-port", str(site_port), "--port", str(reports_port)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    printed = []
    try:
        for line in demo_run.stdout:
            printed.append(line)
            if line.startswith("serving until Ctrl-C"):
                break
        output = "".join(printed)
        assert "serving until Ctrl-C" in output, output
        assert f"the demo site:       http://127.0.0.1:{site_port}/" in output
        assert f"the reports:         http://127.0.0.1:{reports_port}/" in output
        sign_in = re.search(r"(http://127\.0\.0\.1:\d+/-/darksocial/sign-in\?token=[^ \n]*)", output).group(1)
        with urllib.request.urlopen(f"http://127.0.0.1:{site_port}/stories/ci-in-half/", timeout=30) as page:
            assert page.status == 200
        with urllib.request.urlopen(sign_in, timeout=30) as signed_in:  # follows the redirect to the reports
            assert signed_in.status == 200
    finally:
        demo_run.send_signal(signal.SIGINT)
        try:
            rest, _ = demo_run.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            demo_run.kill()
            raise
    assert demo_run.returncode == 0, rest
    assert "stopped" in rest and "Traceback" not in rest
