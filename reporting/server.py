"""The reporting server that ``darksocial serve`` runs: Datasette with the darksocial plugin, under uvicorn."""

from __future__ import annotations

import contextlib
import copy
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import uvicorn
from datasette.app import Datasette
from datasette.plugins import pm

from . import plugin
from .collect import PLUGIN

DEFAULT_ATTRIBUTE_EVERY = 60.0


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


def uvicorn_server(app, *, host: str, port: int) -> uvicorn.Server:
    # No access log: it would write every visitor's IP address to the terminal or a log file.
    # proxy_headers: behind a reverse proxy on this machine, the client address comes from X-Forwarded-For.
    config = uvicorn.Config(app, host=host, port=port, access_log=False, proxy_headers=True,
                            log_level="warning", lifespan="on")
    return uvicorn.Server(config)


def run(datasette: Datasette, *, host: str, port: int) -> None:
    uvicorn_server(datasette.app(), host=host, port=port).run()


@contextlib.contextmanager
def running(datasette: Datasette, *, host: str = "127.0.0.1", port: int) -> Iterator[str]:
    """Serve in a background thread (tests, the demo); yields the base URL once the server accepts connections."""
    server = uvicorn_server(datasette.app(), host=host, port=port)
    thread = threading.Thread(target=server.run, name=f"darksocial-serve:{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"the reporting server did not start on {host}:{port}")
        time.sleep(0.02)
    try:
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
