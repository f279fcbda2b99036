"""The collector during a sign-in flood: events/s with nobody signing in, then while two clients post wrong
passwords to /-/login as fast as they can, in the same run, as ratios of the first.

* hashing on the event loop: datasette-auth-passwords alone (PBKDF2, 480,000 iterations, ~0.23 s per attempt),
  what the server did before reporting.signin;
* hashing in a worker thread, throttle lifted: the cost of the hashes themselves on a shared CPU;
* as shipped: hashing in a worker thread and failed sign-ins throttled per client (429 after a few).

    python -m bench signin
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import os
import tempfile
import time
from pathlib import Path

SECONDS = 3.0
FLOOD_SECONDS = 10.0  # long enough for the throttle to start: the first failures each cost a hash
CONCURRENCY = 8
FLOODERS = 2
ORIGIN = "https://blog.example"
USER_AGENT = "Mozilla/5.0 (X11; Linux x86_64; rv:132.0) Gecko/20100101 Firefox/132.0"


async def collector_rate(url: str, seconds: float) -> float:
    import httpx

    done = 0
    deadline = time.perf_counter() + seconds
    headers = {"origin": ORIGIN, "content-type": "text/plain", "user-agent": USER_AGENT}

    async def worker(n: int, client: httpx.AsyncClient) -> None:
        nonlocal done
        i = 0
        while time.perf_counter() < deadline:
            i += 1
            token = f"{n:02d}{i:08d}"[-10:]
            event = {"k": "view", "s": "blog", "v": f"benchvisitor{n:02d}", "u": f"{ORIGIN}/story", "t": token}
            response = await client.post(url + "/-/darksocial/collect", content=json.dumps(event), headers=headers)
            if response.status_code == 204:
                done += 1

    started = time.perf_counter()
    async with httpx.AsyncClient(timeout=30) as client:
        await asyncio.gather(*(worker(n, client) for n in range(CONCURRENCY)))
    return done / (time.perf_counter() - started)


def flood(url: str, seconds: float, answers) -> None:
    """One attacker (its own process: its CPU is not the server's) posting wrong passwords for ``seconds``."""
    import httpx

    counts: dict[int, int] = {}
    deadline = time.perf_counter() + seconds
    with httpx.Client(base_url=url, timeout=60) as client:
        token = client.get("/-/login").cookies["ds_csrftoken"]
        while time.perf_counter() < deadline:
            response = client.post("/-/login", data={"username": "analyst", "password": "wrong guess",
                                                      "csrftoken": token})
            counts[response.status_code] = counts.get(response.status_code, 0) + 1
    answers.put(counts)


def senders(url: str, seconds: float, result) -> None:
    """The legitimate traffic, in its own process too."""
    result.put(asyncio.run(collector_rate(url, seconds)))


def in_processes(url: str, seconds: float, flooders: int) -> tuple[float, dict]:
    context = multiprocessing.get_context("spawn")  # the server's threads stay in this process only
    answers, result = context.Queue(), context.Queue()
    attackers = [context.Process(target=flood, args=(url, seconds + 1.0, answers)) for _ in range(flooders)]
    for attacker in attackers:
        attacker.start()
    if attackers:
        time.sleep(1.0)  # the flood is on before the measurement starts
    sender = context.Process(target=senders, args=(url, seconds, result))
    sender.start()
    rate = result.get(timeout=seconds + 60)
    counts: dict[int, int] = {}
    for _ in attackers:
        for status, n in answers.get(timeout=120).items():
            counts[status] = counts.get(status, 0) + n
    for process in [sender, *attackers]:
        process.join(timeout=60)
    return rate, counts


def main() -> None:
    from datasette_auth_passwords.utils import hash_password

    from darksocial import store
    from reporting import auth, server, signin

    os.environ[auth.PASSWORD_HASH_ENV] = hash_password("the real password")  # 480,000 iterations
    original_login, original_limit = signin.Guard.login, signin.MAX_FAILURES

    async def on_the_loop(self, scope, receive, send):  # what the server did before: the plugin hashes on the loop
        return await self.app(scope, receive, send)

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.db"
        store.register_site(store.open_db(path), "blog", [ORIGIN])
        rows = []
        for label, login, limit in (("hashing on the event loop (before)", on_the_loop, original_limit),
                                    ("hashing in a thread, no throttle", original_login, 10**9),
                                    ("thread + per-client throttle (shipped)", original_login, original_limit)):
            signin.Guard.login, signin.MAX_FAILURES = login, limit
            datasette = server.make_datasette(path, attribute_every=None,
                                              metadata={"plugins": {"darksocial": {"rate_limit": 0}}})
            with server.running(datasette) as url:  # port 0: the URL carries the port it got
                quiet, _ = in_processes(url, SECONDS, 0)
                flooded, counts = in_processes(url, FLOOD_SECONDS, FLOODERS)
            rows.append((label, quiet, flooded, counts))
        signin.Guard.login, signin.MAX_FAILURES = original_login, original_limit
    print(f"collector events/s, {CONCURRENCY} concurrent senders, quiet over {SECONDS:.0f} s, then over "
          f"{FLOOD_SECONDS:.0f} s while {FLOODERS} clients post wrong passwords to /-/login")
    print(f"{'server':<40} {'quiet':>8} {'flooded':>8} {'ratio':>6}  sign-in answers during the flood")
    for label, quiet, flooded, counts in rows:
        answers = ", ".join(f"{n} x {status}" for status, n in sorted(counts.items()))
        print(f"{label:<40} {quiet:>8.0f} {flooded:>8.0f} {flooded / quiet:>6.2f}  {answers}")


if __name__ == "__main__":
    main()
