"""``darksocial demo``: the whole pipeline on this machine, in one command.

1. Build the demo MkDocs site (``demo_site/mkdocs``) with the plugin, so every page carries the share bar and
   the tracker, pointed at the reporting server below.
2. Create the reporting database: register the site, import the page manifest, mint two ambassador links.
3. Simulate a month of realistic sharing (``darksocial.simulate``). The past 29 days go through the collector's
   ingest function with a clock set to each event's time (HTTP cannot backdate an event, on purpose); today's
   traffic is POSTed over real HTTP to ``/-/darksocial/collect``, exactly as browsers send it.
4. Run attribution, print the headline numbers, serve the site and the reports until Ctrl-C.

The framework imports (MkDocs runs as a subprocess, Datasette through ``reporting``) stay inside functions, so the
core keeps importing no framework.
"""

from __future__ import annotations

import datetime as dt
import http.server
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import urllib.error
import urllib.request
import webbrowser
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import click

from . import attribution, collector, links, pages, simulate, store

SITE_ID = "harbour-lane"
DEMO_SOURCE = Path(__file__).resolve().parent.parent / "demo_site" / "mkdocs"
HISTORY_DAYS = 29
TODAY_SHARE = 0.08  # the fraction of the simulated traffic that arrives "today", over HTTP


@dataclass
class DemoResult:
    db: Path
    site_url: str
    reports_url: str
    posted_over_http: int
    ingested_history: int


def port_or_free(port: int) -> int:
    """``port`` if it can be bound on loopback, else a free one (a second demo should not fail to start)."""
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def build_site(workdir: Path, site_url: str, collector_url: str) -> Path:
    if not (DEMO_SOURCE / "mkdocs.yml").exists():
        raise click.ClickException(f"the demo site is missing at {DEMO_SOURCE}: run the demo from a source checkout")
    site_dir = workdir / "site"
    env = {**os.environ, "DARKSOCIAL_SITE_URL": site_url, "DARKSOCIAL_COLLECTOR": collector_url,
           "DARKSOCIAL_SITE": SITE_ID}
    command = [sys.executable, "-m", "mkdocs", "build", "--quiet", "--clean",
               "--config-file", str(DEMO_SOURCE / "mkdocs.yml"), "--site-dir", str(site_dir)]
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        hint = " (install the extra: pip install 'darksocial[mkdocs]')" if "No module named" in done.stderr else ""
        raise click.ClickException(f"building the demo site failed{hint}:\n{done.stderr.strip()}")
    return site_dir


def prepare_database(db_path: Path, site_dir: Path, site_url: str) -> tuple[list[tuple[str, str]], dict[str, str]]:
    """Fresh database with the site, its pages and two ambassador links; returns (pages, ambassador tokens)."""
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db_path}{suffix}").unlink(missing_ok=True)
    db = store.open_db(db_path)
    origin = collector.normalise_origin(site_url)
    store.register_site(db, SITE_ID, [origin, origin.replace("127.0.0.1", "localhost")],
                        name="Harbour Lane Engineering")
    manifest = pages.import_pages(db, site_dir / "darksocial-pages.json", base_url=site_url)
    home = site_url.rstrip("/") + "/"
    ordered = sorted(manifest.pages, key=lambda page: page.url != home)  # the home page first
    page_list = [("/" + page.url[len(home):], page.title) for page in ordered]
    stories = [path for path, _ in page_list if path.startswith("/stories/")] or [page_list[-1][0]]
    ambassadors = {}
    for name, path, channel in (("Priya Natarajan", stories[0], "em"), ("Marco Rossi", stories[-1], "wa")):
        token, _ = links.create_link(db, name, home + path.lstrip("/"), site=SITE_ID, channel=channel)
        ambassadors[f"{token}.{channel}"] = path
    db.close()
    return page_list, ambassadors


def ingest_history(db_path: Path, requests: list[simulate.Request], now: dt.datetime) -> int:
    """The past days, through the core ingest function with a clock at each event's (simulated) time."""
    if not requests:
        return 0
    start = now - dt.timedelta(days=HISTORY_DAYS)
    span = (now.replace(hour=0, minute=0, second=0, microsecond=0) - start) / len(requests)
    clock = {"now": start}
    ingest = collector.Collector(db_path, clock=lambda: clock["now"])
    stored = 0
    try:
        with click.progressbar(requests, label="past 29 days (ingest)", width=30) as bar:
            for index, request in enumerate(bar):
                clock["now"] = start + span * index
                result = ingest.ingest(json.dumps(request.event).encode(), origin=request.origin,
                                       user_agent=request.user_agent, ip=request.ip, content_type="text/plain")
                if result.status != 204:
                    raise click.ClickException(f"the collector refused a simulated event: {result.reason}")
                stored += result.stored
    finally:
        ingest.close()
    return stored


def post_today(collect_url: str, requests: list[simulate.Request]) -> int:
    """Today's traffic, POSTed to the real collector over HTTP, eight browsers at a time."""

    def post(request: simulate.Request) -> int:
        body = json.dumps(request.event).encode()
        headers = {"Content-Type": "text/plain;charset=UTF-8", "Origin": request.origin,
                   "User-Agent": request.user_agent}
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


@contextmanager
def serve_directory(directory: Path, port: int):
    handler = partial(_QuietHandler, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
    thread = threading.Thread(target=server.serve_forever, name="darksocial-demo-site", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        server.shutdown()
        server.server_close()


def headline(db_path: Path) -> list[str]:
    db = store.open_db(db_path)
    lines = []
    totals = db.execute("SELECT count(*), sum(tracked = 1), sum(estimated = 1) FROM visits").fetchone()
    lines.append(f"{totals[0]:,} visits: {totals[1] or 0:,} tracked dark social, "
                 f"{totals[2] or 0:,} estimated (untracked) dark social")
    lines.append("top influencers by reach:")
    for name, tier, reach, amplified, channel in db.execute(
        "SELECT coalesce(name, person), tier, reach, amplified_reach, top_channel FROM influencers "
        "ORDER BY reach DESC, amplified_reach DESC LIMIT 5"
    ):
        lines.append(f"  {name:<24} {tier:<6} reach {reach:>4}  amplified {amplified:>4}  via {channel}")
    db.close()
    return lines


def run(workdir: Path, site_port: int, reports_port: int, seed: int, wait: bool, open_browser: bool) -> DemoResult:
    from reporting import auth, server  # the reporting extra; imported here so the core needs no framework

    workdir.mkdir(parents=True, exist_ok=True)
    site_port = port_or_free(site_port)
    reports_port = port_or_free(reports_port)
    while reports_port == site_port:
        reports_port = port_or_free(0)
    site_url = f"http://127.0.0.1:{site_port}/"
    reports_url = f"http://127.0.0.1:{reports_port}/"
    collect_url = reports_url + "-/darksocial/collect"
    db_path = workdir / "darksocial.db"

    click.echo(f"building the demo site into {workdir / 'site'} ...")
    site_dir = build_site(workdir, site_url, collect_url)
    page_list, ambassadors = prepare_database(db_path, site_dir, site_url)
    click.echo(f"database {db_path}: site {SITE_ID!r}, {len(page_list)} pages, "
               f"{len(ambassadors)} ambassador links")

    requests = list(simulate.Simulation(SITE_ID, site_url, page_list, seed=seed, ambassadors=ambassadors).requests())
    split = int(len(requests) * (1 - TODAY_SHARE))
    now = dt.datetime.now(dt.timezone.utc)
    history = ingest_history(db_path, requests[:split], now)

    datasette = server.make_datasette(db_path, attribute_every=30)
    with serve_directory(site_dir, site_port), server.running(datasette, port=reports_port):
        posted = post_today(collect_url, requests[split:])
        click.echo(f"{history:,} past events ingested, {posted:,} of today's {len(requests) - split:,} "
                   "events acknowledged by the collector")
        stats = attribution.attribute(store.open_db(db_path), full=True)
        click.echo(f"attribution: {stats['visits']:,} visits, {stats['shares']:,} shares")
        for line in headline(db_path):
            click.echo(line)
        click.echo(f"\nthe demo site:       {site_url}  (share from it: the reports count you too)")
        click.echo(f"the reports:         {reports_url}")
        # Reports about people need an analyst; on this machine a one-time link signs you in.
        hint = auth.sign_in_hint(datasette, "127.0.0.1", reports_port)
        click.echo(hint)
        if wait:
            if open_browser and (os.environ.get("DISPLAY") or sys.platform == "darwin") and shutil.which("xdg-open"):
                webbrowser.open(hint.split()[-1] if "auth-token" in hint else reports_url)
            click.echo("serving until Ctrl-C ...")
            try:
                threading.Event().wait()
            except KeyboardInterrupt:
                click.echo("stopped")
    return DemoResult(db_path, site_url, reports_url, posted, history)
