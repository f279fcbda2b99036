"""``darksocial demo``: the whole pipeline on this machine, in one command.

1. Build the demo MkDocs site (``darksocial/demo_data/mkdocs``, package data) with the plugin, so every page
   carries the share bar and the tracker, pointed at the reporting server below.
2. Create the reporting database: register the site, import the page manifest, mint two ambassador links.
3. Simulate a month of realistic sharing (``darksocial.simulate``), seeded. The past days go through the
   collector's ingest function with a clock set to each event's time (HTTP cannot backdate an event, on purpose);
   today's traffic so far is POSTed over real HTTP to ``/-/darksocial/collect``, exactly as browsers send it.
4. Run attribution, print the headline numbers, serve the site and the reports until Ctrl-C.

The framework imports (MkDocs runs as a subprocess, Datasette through ``reporting``) stay inside functions, so the
core keeps importing no framework.
"""

from __future__ import annotations

import datetime as dt
import errno
import http.server
import importlib.util
import json
import os
import random
import shlex
import shutil
import signal
import socket
import socketserver
import sqlite3
import subprocess
import sys
import threading
import urllib.error
import urllib.request
import webbrowser
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import click

from . import attribution, collector, links, pages, reports, simulate, store, tokens
from .cli import command

SITE_ID = "harbour-lane"
# Shipped inside the package (package data), so an installed wheel runs the demo too.
DEMO_SOURCE = Path(__file__).resolve().parent / "demo_data" / "mkdocs"
DAYS = 30  # the simulated period: the past 29 days and today until now


@dataclass
class DemoResult:
    db: Path
    site_url: str
    reports_url: str
    posted_over_http: int
    ingested_history: int


# The modules each extra brings that the demo runs (the `reporting` package itself ships in the core wheel).
EXTRA_MODULES = {"mkdocs": ("mkdocs",), "wagtail": ("django", "wagtail", "swapper"),
                 "reporting": ("datasette", "uvicorn")}


def missing_extras(wagtail: bool = False) -> list[str]:
    """The extras the demo needs that are not installed, e.g. ``["reporting"]``: the MkDocs demo needs mkdocs and
    reporting, the Wagtail demo (``wagtail``) wagtail and reporting."""
    needed = ("wagtail" if wagtail else "mkdocs", "reporting")
    missing = []
    for extra in needed:
        for module in EXTRA_MODULES[extra]:
            try:
                found = importlib.util.find_spec(module) is not None
            except (ImportError, ValueError):
                found = False
            if not found:
                missing.append(extra)
                break
    return missing


def claim_port(port: int, what: str, option: str, avoid: int | None = None, host: str = "127.0.0.1") -> int:
    """``port`` if it can be bound on ``host`` (0: any free port); a taken port is a usage error naming the fix.

    The probe sets SO_REUSEADDR like the servers themselves do, so the port a demo just closed (its connections in
    TIME_WAIT) counts as free and a re-run gets the same ports, and the same URLs in the built site.
    """
    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
    except OSError as exc:  # gaierror: a name the resolver does not know
        raise click.UsageError(
            f"--host {host} cannot be resolved ({exc.strerror or exc}): give an address of this machine, like "
            "127.0.0.1 (this machine only) or 0.0.0.0 (every interface), or a name that resolves to one"
        ) from None
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            raise click.UsageError(bind_failure(exc, port, what, option, host)) from None
        chosen = sock.getsockname()[1]
    if chosen == avoid:
        return claim_port(0, what, option, avoid, host) if port == 0 else chosen
    return chosen


def bind_failure(exc: OSError, port: int, what: str, option: str, host: str) -> str:
    """Why ``port`` on ``host`` cannot be bound, and the fix: only an address-in-use error is a taken port."""
    reason = exc.strerror or str(exc)
    if exc.errno == errno.EADDRINUSE:
        return (f"port {port} for {what} is already in use on {host} ({reason}; another demo or server is listening "
                f"there): stop it, or choose another port with {option} PORT ({option} 0 picks a free one)")
    if exc.errno == errno.EADDRNOTAVAIL:
        return (f"--host {host} is not an address of this machine ({reason}): give one of its own addresses, like "
                "127.0.0.1 (this machine only) or 0.0.0.0 (every interface)")
    if exc.errno == errno.EACCES:
        return (f"port {port} for {what} needs privileges on {host} ({reason}; ports below 1024 are reserved): "
                f"choose a port from 1024 up with {option} PORT, or put a reverse proxy in front")
    return (f"cannot listen on {host} port {port} for {what} ({reason}): check --host, or choose another port "
            f"with {option} PORT")


# Written into DIR when the demo creates it (or finds it empty): the files the demo deletes and rebuilds there (its
# database, the built site) are then its own. Any other DIR may be someone's project (`--dir .` in an MkDocs folder):
# there every such file must be an earlier demo's, run after run.
MARKER = ".darksocial-demo"
MARKER_TEXT = ("This folder was made by `darksocial demo`: each run deletes and rebuilds the demo's files here.\n"
               "Delete the folder when you no longer need the demo.\n")


def claim_workdir(workdir: Path, owned: dict[str, list[Path]], earlier_demo: Callable[[], bool]) -> None:
    """Create ``workdir`` if need be, and refuse it when it holds any of ``owned`` (what the demo deletes or
    rebuilds, by the name it is shown under: a database with its WAL files is one) that is not the demo's: the
    folder carries no marker, and ``earlier_demo()`` does not recognise the files (runs from before the marker, a
    run in someone's own folder)."""
    present = [name for name, paths in owned.items() if any(path.exists() for path in paths)]
    if present and not (workdir / MARKER).is_file() and not earlier_demo():
        _refuse(workdir, present)
    made_here = not workdir.exists() or not any(workdir.iterdir())
    try:
        workdir.mkdir(parents=True, exist_ok=True)
        if made_here:
            (workdir / MARKER).write_text(MARKER_TEXT, encoding="utf-8")
    except OSError as exc:
        raise click.BadParameter(f"cannot create {workdir} ({exc.strerror}): choose a writable folder",
                                 param_hint="--dir") from None


def _refuse(workdir: Path, present: list[str]) -> None:
    them = "them" if len(present) > 1 else "it"
    raise click.UsageError(
        f"the folder {workdir} already holds {', '.join(present)}, which the demo did not create (there is no "
        f"{MARKER} file in it), and the demo would delete {them}: choose another --dir (a new folder), or remove "
        f"{them} yourself if you want the demo there")


def holds_row(db_path: Path, sql: str, params=()) -> bool:
    """Whether the SQLite file ``db_path`` answers ``sql`` with a row; False for a file that is no such database.
    Opened immutable: a database that is not the demo's is left as it was, not even given WAL files."""
    if not db_path.is_file():
        return False
    try:
        conn = sqlite3.connect(f"{db_path.resolve().as_uri()}?immutable=1", uri=True)
    except sqlite3.Error:
        return False
    try:
        return conn.execute(sql, params).fetchone() is not None
    except sqlite3.Error:
        return False
    finally:
        conn.close()


def is_demo_database(db_path: Path, site_id: str) -> bool:
    """Whether ``db_path`` is a demo's database: ``site_id`` registered with its pages imported, and no other site
    (the demo's site id alone is not enough: a half-built one is left for its owner to remove)."""
    return holds_row(db_path, "SELECT 1 FROM sites WHERE site = ? AND EXISTS (SELECT 1 FROM pages WHERE site = ?) "
                     "AND NOT EXISTS (SELECT 1 FROM sites WHERE site != ?)", (site_id, site_id, site_id))


def is_demo_site(site_dir: Path) -> bool:
    """Whether ``site_dir`` is the demo site built by an earlier run: its page manifest names the demo's site."""
    try:
        manifest = json.loads((site_dir / "darksocial-pages.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(manifest, dict) and manifest.get("site") == SITE_ID


def earlier_mkdocs_demo(workdir: Path) -> bool:
    db_path, site_dir = workdir / "darksocial.db", workdir / "site"
    db_files = [path for path in store.database_files(db_path) if path.exists()]
    return ((not db_files or is_demo_database(db_path, SITE_ID))
            and (not site_dir.exists() or is_demo_site(site_dir)))


def build_site(workdir: Path, site_url: str, collector_url: str) -> Path:
    if not (DEMO_SOURCE / "mkdocs.yml").exists():
        raise click.ClickException(f"the demo site is missing at {DEMO_SOURCE}: reinstall darksocial")
    # Absolute: MkDocs resolves a relative --site-dir against the config file's folder, not the working directory.
    site_dir = (workdir / "site").resolve()
    env = {**os.environ, "DARKSOCIAL_SITE_URL": site_url, "DARKSOCIAL_COLLECTOR": collector_url,
           "DARKSOCIAL_SITE": SITE_ID}
    command = [sys.executable, "-m", "mkdocs", "build", "--quiet", "--clean",
               "--config-file", str(DEMO_SOURCE / "mkdocs.yml"), "--site-dir", str(site_dir)]
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        hint = " (install the extra: pip install 'darksocial[mkdocs]')" if "No module named" in done.stderr else ""
        raise click.ClickException(f"building the demo site failed{hint}:\n{done.stderr.strip()}")
    return site_dir


def period_start(now: dt.datetime) -> dt.datetime:
    midnight = now.astimezone(dt.timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    return midnight - dt.timedelta(days=DAYS - 1)


def prepare_database(db_path: Path, site_dir: Path, site_url: str, *, seed: int,
                     now: dt.datetime) -> tuple[list[tuple[str, str]], dict[str, str]]:
    """Fresh database with the site, its pages and two ambassador links; returns (pages, ambassador tokens).

    The ambassador tokens and their creation time come from the seed and ``now``, so that one seed gives one
    set of tables.
    """
    for path in store.database_files(db_path):
        path.unlink(missing_ok=True)
    db = store.open_db(db_path)
    origin = collector.normalise_origin(site_url)
    store.register_site(db, SITE_ID, [origin, origin.replace("127.0.0.1", "localhost")],
                        name="Harbour Lane Engineering")
    manifest = pages.import_pages(db, site_dir / "darksocial-pages.json", base_url=site_url)
    home = site_url.rstrip("/") + "/"
    ordered = sorted(manifest.pages, key=lambda page: page.url != home)  # the home page first
    page_list = [("/" + page.url[len(home):], page.title) for page in ordered]
    stories = [path for path, _ in page_list if path.startswith("/stories/")] or [page_list[-1][0]]
    rng = random.Random(f"{seed}:links")
    created = store.utc_timestamp(period_start(now))
    ambassadors = {}
    for name, path, channel in (("Priya Natarajan", stories[0], "em"), ("Marco Rossi", stories[-1], "wa")):
        token = tokens.mint(rng)
        links.create_link(db, name, home + path.lstrip("/"), site=SITE_ID, channel=channel, token=token,
                          created=created)
        ambassadors[f"{token}.{channel}"] = path
    db.close()
    return page_list, ambassadors


def simulate_traffic(site_url: str, page_list, ambassadors, *, seed: int, now: dt.datetime) -> list[simulate.Request]:
    return simulate.Simulation(SITE_ID, site_url, page_list, end=now, seed=seed, days=DAYS,
                               ambassadors=ambassadors).requests()


def split_today(requests: list[simulate.Request], now: dt.datetime):
    """(history, today): today's traffic so far (at least the last hour) goes over HTTP, the rest is backdated."""
    midnight = now.astimezone(dt.timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    cutoff = min(midnight, now - dt.timedelta(hours=1))
    split = next((index for index, request in enumerate(requests) if request.ts >= cutoff), len(requests))
    return requests[:split], requests[split:]


def ingest_history(db_path: Path, requests: list[simulate.Request], batch: int = 2000) -> int:
    """The past days, through the collector's checks with its clock at each event's (simulated) time.

    Every event goes through ``Collector.check`` (validation, bot filter, origins, normalisation) exactly as a
    request would; the rows are then written in batches, since one fsync per made-up event would take minutes.
    """
    if not requests:
        return 0
    ingest = collector.Collector(db_path, rate_limit=None)
    rows: list[tuple] = []
    stored = 0
    try:
        with click.progressbar(requests, label="past days (ingest)  ", width=30) as bar:
            for request in bar:
                outcome = ingest.check(json.dumps(request.event).encode(), origin=request.origin,
                                       user_agent=request.user_agent, ip=request.ip, content_type="text/plain",
                                       now=request.ts)
                if isinstance(outcome, collector.Result):
                    raise click.ClickException(f"the collector refused a simulated event: {outcome.reason}")
                rows.extend(outcome)
                if len(rows) >= batch:
                    stored += ingest.writer.write_sync(rows)
                    rows = []
            stored += ingest.writer.write_sync(rows) if rows else 0
    finally:
        ingest.close()
    return stored


def post_today(collect_url: str, requests: list[simulate.Request]) -> int:
    """Today's traffic, POSTed to the real collector over HTTP, eight browsers at a time."""

    def post(request: simulate.Request) -> int:
        body = json.dumps(request.event).encode()
        # The server trusts X-Forwarded-For from loopback (a reverse proxy): each simulated browser keeps its
        # own address, as it would behind one, instead of all of them sharing 127.0.0.1's rate limit.
        headers = {"Content-Type": "text/plain;charset=UTF-8", "Origin": request.origin,
                   "User-Agent": request.user_agent, "X-Forwarded-For": request.ip}
        try:
            with urllib.request.urlopen(urllib.request.Request(collect_url, body, headers), timeout=30) as answer:
                return answer.status
        except urllib.error.HTTPError as exc:
            raise click.ClickException(f"the collector answered {exc.code}: {exc.read().decode()[:200]}") from None

    # Beacons of one cascade depend on each other only through attribution, which is order-independent.
    with ThreadPoolExecutor(max_workers=8) as pool, \
            click.progressbar(length=len(requests), label="today (HTTP POST)   ", width=30) as bar:
        statuses = []
        for status in pool.map(post, requests):
            statuses.append(status)
            bar.update(1)
    return sum(1 for status in statuses if status == 204)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # no access log: it would print visitors' addresses
        pass

    def send_error(self, code, message=None, explain=None):
        # A missing page is the site's own not-found page (MkDocs builds 404.html), as on any real host.
        page = Path(self.directory) / "404.html"
        if code != 404 or not page.is_file():
            return super().send_error(code, message, explain)
        body = page.read_bytes()
        self.send_response(404)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        return None


@contextmanager
def serve_in_thread(server: socketserver.BaseServer, name: str):
    """Serve ``server`` (already bound to 127.0.0.1) in a daemon thread; yields its URL, then shuts it down."""
    thread = threading.Thread(target=server.serve_forever, name=name, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def serve_directory(directory: Path, port: int):
    handler = partial(_QuietHandler, directory=str(directory))
    try:
        server = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
    except OSError:  # taken since claim_port looked: another program was quicker
        raise click.UsageError(f"port {port} for the demo site was taken while the site was built: run the demo "
                               "again, or choose another port with --site-port PORT") from None
    with serve_in_thread(server, "darksocial-demo-site") as url:
        yield url


@contextmanager
def reports_running(server, datasette, port: int):
    """``server.running``, with a failure to start (and only that) told as a port to change."""
    started = False
    try:
        with server.running(datasette, port=port):
            started = True
            yield
    except RuntimeError:
        if started:
            raise
        raise click.UsageError(f"the reports server could not start on port {port} (taken while the site was "
                               "built?): run the demo again, or choose another port with --port PORT") from None


def headline(db_path: Path) -> list[str]:
    db = store.open_db(db_path)
    lines = []
    # The dashboard's own headline over the simulated period: the same figures, by the same definitions (a click
    # from X or Reddit is tracked, but open social, not dark).
    since = (dt.datetime.now(dt.timezone.utc).date() - dt.timedelta(days=DAYS - 1)).isoformat()
    columns, rows = reports.run(db.conn, "headline", since=since)
    figures = dict(zip(columns, rows[0], strict=True))
    lines.append(f"{figures['visits']:,} visits in {DAYS} days: {figures['dark_tracked']:,} tracked dark social, "
                 f"{figures['dark_estimated']:,} estimated (untracked) dark social")
    lines.append("top influencers by reach:")
    for name, tier, reach, amplified, channel in db.execute(
        "SELECT coalesce(name, person), tier, reach, amplified_reach, top_channel FROM influencers "
        "ORDER BY reach DESC, amplified_reach DESC LIMIT 5"
    ):
        lines.append(f"  {name:<24} {tier:<6} reach {reach:>4}  amplified {amplified:>4}  via {channel}")
    db.close()
    return lines


def run(workdir: Path, site_port: int, reports_port: int, seed: int, wait: bool, open_browser: bool) -> DemoResult:
    # Ports first: the built site carries the collector's address, so it must be the one served.
    site_port = claim_port(site_port, "the demo site", "--site-port")
    reports_port = claim_port(reports_port, "the reports", "--port", avoid=site_port)
    if reports_port == site_port:
        raise click.UsageError(f"--site-port and --port are both {site_port}: choose two different ports")
    site_url = f"http://127.0.0.1:{site_port}/"
    reports_url = f"http://127.0.0.1:{reports_port}/"
    collect_url = reports_url + "-/darksocial/collect"
    db_path = workdir / "darksocial.db"
    claim_workdir(workdir, {"darksocial.db": store.database_files(db_path), "site/": [workdir / "site"]},
                  partial(earlier_mkdocs_demo, workdir))

    click.echo(f"building the demo site into {workdir / 'site'} ...")
    site_dir = build_site(workdir, site_url, collect_url)
    now = dt.datetime.now(dt.timezone.utc)
    page_list, ambassadors = prepare_database(db_path, site_dir, site_url, seed=seed, now=now)
    click.echo(f"database {db_path}: site {SITE_ID!r}, {len(page_list)} pages, "
               f"{len(ambassadors)} ambassador links")

    history, today = split_today(simulate_traffic(site_url, page_list, ambassadors, seed=seed, now=now), now)
    ingested = ingest_history(db_path, history)

    posted = present(serve_directory(site_dir, site_port), db_path, reports_port,
                     collect_url=collect_url, today=today, ingested=ingested, collector_name="the collector",
                     attribute=partial(attribute_file, db_path),
                     links=[f"the demo site:       {site_url}  (share from it: the reports count you too)",
                            f"the reports:         {reports_url}"],
                     wait=wait, open_browser=open_browser)
    if not wait:
        for line in serve_later(workdir, site_port, reports_port):
            click.echo(line)
    return DemoResult(db_path, site_url, reports_url, posted, ingested)


def attribute_file(db_path: Path) -> dict:
    db = store.open_db(db_path)
    try:
        return attribution.attribute(db, full=True)
    finally:
        db.close()


def present(site_running, db_path: Path, reports_port: int, *, collect_url: str, today: list, ingested: int,
            collector_name: str, attribute: Callable[[], dict], links: list[str], wait: bool,
            open_browser: bool) -> int:
    """What both demos do once their data is ready: with the site (``site_running``, a context manager) and the
    reports on ``db_path`` served, POST today's events to ``collect_url``, attribute, print the headline figures
    and, unless --no-wait, the ``links`` and the analyst's sign-in link, then serve until Ctrl-C. Returns how many
    of today's events the collector acknowledged."""
    from reporting import auth, server  # the reporting extra; imported here so the core needs no framework

    datasette = server.make_datasette(db_path, attribute_every=30)
    with site_running, reports_running(server, datasette, reports_port):
        posted = post_today(collect_url, today)
        click.echo(f"{ingested:,} past events ingested, {posted:,} of today's {len(today):,} events acknowledged "
                   f"by {collector_name}")
        stats = attribute()
        click.echo(f"attribution: {stats.get('visits', 0):,} visits, {stats.get('shares', 0):,} shares")
        for line in headline(db_path):
            click.echo(line)
        if wait:
            click.echo("")
            for line in links:
                click.echo(line)
            # Reports about people need an analyst; on this machine a one-time link signs you in.
            hint = auth.sign_in_hint(datasette, "127.0.0.1", reports_port)
            click.echo(hint)
            if open_browser and (os.environ.get("DISPLAY") or sys.platform == "darwin") and shutil.which("xdg-open"):
                webbrowser.open(next((word for word in hint.split() if "token=" in word),
                                     f"http://127.0.0.1:{reports_port}/"))
            # Ctrl-C stops the demo even when it was started with SIGINT ignored, as a background job of a
            # non-interactive shell starts it (and every process it starts, such as a test's run of this command).
            signal.signal(signal.SIGINT, signal.default_int_handler)
            try:  # the message inside: a Ctrl-C right after it still stops cleanly
                click.echo("serving until Ctrl-C ...")
                threading.Event().wait()
            except KeyboardInterrupt:
                click.echo("stopped")
    return posted


def serve_later(workdir: Path, site_port: int, reports_port: int) -> list[str]:
    """How to serve what --no-wait built: the same ports, since the built pages send events to that collector."""
    db, site = shlex.quote(str(workdir / "darksocial.db")), shlex.quote(str(workdir / "site"))
    return [
        "",
        "--no-wait: nothing is served any more. To look at the demo later, run these two (the built pages send",
        "their events to the collector on this reports port, so keep the ports):",
        f"  {command()} serve {db} --port {reports_port}",
        f"  python3 -m http.server {site_port} --bind 127.0.0.1 --directory {site}",
        f"then open http://127.0.0.1:{site_port}/ (the demo site) and the sign-in link `darksocial serve` prints",
        f"(the reports, on http://127.0.0.1:{reports_port}/).",
    ]
