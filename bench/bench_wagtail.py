"""The Wagtail app: page serve time with vs without it, and collector throughput through the Django view vs the
Datasette route, each pair in the same run (budgets: serve ≤ +1 ms p50 and ≤ 1.05×).

**Page serve.** The demo Wagtail project (migrated into a temporary directory) answers ``GET /<article>/`` through
Django's full request stack (middleware, URL routing, Wagtail's ``serve`` view) in this process, with Django's test
client. "Without the app" means with its one piece of work on a page request, the ``on_serve_page`` wrapper, taken
out (every other hook of the app runs only in the admin); "with" is the app as installed: site settings, the
opt-out lookup and ``darksocial.inject``. Requests alternate one by one between the two (without, with, with,
without...) so that outside load hits both alike; each side's per-request p50 is compared.

**Collector.** The same beacons (one view event, the headers the collector reads, a fresh connection per request)
are POSTed, by the same thread pool, to the demo project under gunicorn (4 workers × 8 threads, so a worker's
writer can group commits) and to ``darksocial serve``'s Datasette route under uvicorn, each on its own fresh
database; both commit with fsync before answering 204. Rounds alternate between the two servers.

``python -m bench wagtail``; environment: BENCH_PAGE_REQUESTS (default 300 per round), BENCH_ROUNDS (default 5),
BENCH_REQUESTS (default 1000 beacons per round).
"""

from __future__ import annotations

import http.client
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from .ports import free_port, wait_until_listening

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "demo_site" / "wagtail"
SERVE_BUDGET_MS, SERVE_BUDGET_RATIO = 1.0, 1.05
USER_AGENT = "Mozilla/5.0 (X11; Linux x86_64; rv:132.0) Gecko/20100101 Firefox/132.0"


def setup_demo(data_dir: Path) -> None:
    os.environ.update(DEMO_DATA_DIR=str(data_dir), DJANGO_SETTINGS_MODULE="demo_project.settings")
    sys.path.insert(0, str(DEMO))
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)


def page_serve(rounds: int, per_round: int) -> None:
    from django.test import Client
    from wagtail import hooks

    from wagtail_darksocial import wagtail_hooks

    client, path = Client(), "/harbour-lights/"
    assert client.get(path).content.count(b'class="ds-bar"') == 1
    registered = hooks._hooks["on_serve_page"]
    ours = next(item for item in registered if item[0] is wagtail_hooks.add_share_bar)
    times: dict[str, list[float]] = {"without": [], "with": []}
    for _ in range(20):  # warm caches
        client.get(path)
    # Request by request, alternating (and swapping which side goes first), so that outside load, which comes in
    # bursts on a shared machine, falls on both sides alike.
    for index in range(rounds * per_round):
        for side in (("without", "with") if index % 2 else ("with", "without")):
            if side == "without":
                registered.remove(ours)
            try:
                started = time.perf_counter()
                client.get(path)
                times[side].append(time.perf_counter() - started)
            finally:
                if side == "without":
                    registered.append(ours)
    assert client.get(path).content.count(b'class="ds-bar"') == 1  # the app is back
    without, with_app = (statistics.median(times[s]) * 1000 for s in ("without", "with"))
    delta, ratio = with_app - without, with_app / without
    print(f"page serve p50 over {rounds * per_round} requests each: without the app {without:.3f} ms, "
          f"with {with_app:.3f} ms")
    print(f"budget: +{delta:.3f} ms (≤ +{SERVE_BUDGET_MS} ms) and {ratio:.3f}× (≤ {SERVE_BUDGET_RATIO}×): "
          f"{'OK' if delta <= SERVE_BUDGET_MS and ratio <= SERVE_BUDGET_RATIO else 'OVER BUDGET'}")


def post_beacons(port: int, site: str, origin: str, url: str, total: int, prefix: str) -> tuple[float, dict]:
    def send(i: int) -> int:
        body = json.dumps({"k": "view", "s": site, "u": url, "t": f"{prefix}{i:08d}", "v": f"visitor{i:07d}"})
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        try:
            connection.request("POST", path_of[port], body=body.encode(), headers={
                "Origin": origin, "User-Agent": USER_AGENT, "Content-Type": "text/plain;charset=UTF-8"})
            return connection.getresponse().status
        finally:
            connection.close()

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=32) as pool:
        statuses = list(pool.map(send, range(total)))
    elapsed = time.perf_counter() - started
    counts: dict[int, int] = {}
    for status in statuses:
        counts[status] = counts.get(status, 0) + 1
    return total / elapsed, counts


path_of: dict[int, str] = {}


def collector_throughput(data_dir: Path, rounds: int, per_round: int) -> None:
    from darksocial import store

    django_port, datasette_port = free_port(), free_port()
    reports_db = data_dir / "reports.db"
    db = store.open_db(reports_db)
    store.register_site(db, "bench", [f"http://127.0.0.1:{datasette_port}"])
    db.close()
    env = {**os.environ, "DEMO_DATA_DIR": str(data_dir), "DJANGO_SETTINGS_MODULE": "demo_project.settings"}
    gunicorn = subprocess.Popen([sys.executable, "-m", "gunicorn", "demo_project.wsgi:application", "--workers", "4",
                                 "--threads", "8", "--bind", f"127.0.0.1:{django_port}", "--chdir", str(DEMO),
                                 "--log-level", "warning"], env=env)
    datasette = subprocess.Popen([sys.executable, "-m", "darksocial.cli", "serve", str(reports_db), "--port",
                                  str(datasette_port), "--attribute-every", "0"], cwd=ROOT,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    path_of.update({django_port: "/darksocial/collect", datasette_port: "/-/darksocial/collect"})
    rates: dict[str, list[float]] = {"django": [], "datasette": []}
    try:
        wait_until_listening(django_port, gunicorn, "gunicorn", timeout=90)
        wait_until_listening(datasette_port, datasette, "darksocial serve", timeout=90)
        for index in range(rounds):
            for side, port, site, origin in (
                ("django", django_port, "localhost", "http://localhost:8000"),
                ("datasette", datasette_port, "bench", f"http://127.0.0.1:{datasette_port}"),
            ):
                rate, counts = post_beacons(port, site, origin, origin + "/harbour-lights/", per_round,
                                            f"{side[0].upper()}{index}")
                if set(counts) != {204}:
                    raise RuntimeError(f"{side} answered {counts}")
                rates[side].append(rate)
    finally:
        for process in (gunicorn, datasette):
            process.terminate()
            process.wait(timeout=30)
    django_rate, datasette_rate = statistics.median(rates["django"]), statistics.median(rates["datasette"])
    print(f"collector, {rounds}x{per_round} durable beacons (32 concurrent clients, new connection each): "
          f"Django view (gunicorn 4x8) {django_rate:,.0f} events/s, Datasette route (uvicorn) "
          f"{datasette_rate:,.0f} events/s, ratio {django_rate / datasette_rate:.2f}")


def main() -> None:
    rounds = int(os.environ.get("BENCH_ROUNDS", 5))
    with tempfile.TemporaryDirectory(prefix="bench-wagtail-") as tmp:
        data_dir = Path(tmp)
        setup_demo(data_dir)
        page_serve(rounds, int(os.environ.get("BENCH_PAGE_REQUESTS", 300)))
        collector_throughput(data_dir, rounds, int(os.environ.get("BENCH_REQUESTS", 1000)))


if __name__ == "__main__":
    main()
