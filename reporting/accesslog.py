"""Keep client addresses out of uvicorn's access log when the plugin runs under plain ``datasette``.

``darksocial serve`` runs uvicorn without an access log; plain ``datasette`` keeps it on, and every beacon would
write the visitor's IP address to the terminal or a log file. The filter drops the collector's lines and replaces
the client address in every other line by ``-``.
"""

from __future__ import annotations

import logging

from .collect import COLLECT_PATH

ACCESS_LOGGER = "uvicorn.access"


class RedactClients(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        # uvicorn's access record: (client address, method, full path, HTTP version, status code)
        if isinstance(args, tuple) and len(args) == 5:
            path = str(args[2])
            if path.split("?", 1)[0] == COLLECT_PATH:
                return False
            record.args = ("-", *args[1:])
        return True


def install() -> None:
    logger = logging.getLogger(ACCESS_LOGGER)
    if not any(isinstance(f, RedactClients) for f in logger.filters):
        logger.addFilter(RedactClients())
