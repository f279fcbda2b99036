"""What uvicorn logs about the requests: no client address, and no line per malformed request.

``darksocial serve`` runs uvicorn without an access log; plain ``datasette`` keeps it on, and every beacon would
write the visitor's IP address to the terminal or a log file. The filter drops the collector's lines and replaces
the client address in every other line by ``-``.

uvicorn answers a request it cannot parse (a duplicate Content-Length, a NUL in a header, an unknown method) with
its own 400 and logs a warning for each: anyone could grow the log at the rate they send garbage. One such line a
minute is kept, with the count of those left out since the last.
"""

from __future__ import annotations

import logging
import threading
import time

from .collect import COLLECT_PATH

ACCESS_LOGGER = "uvicorn.access"
ERROR_LOGGER = "uvicorn.error"
MALFORMED = "Invalid HTTP request received."  # uvicorn.protocols.http.*: self.logger.warning(msg)
MALFORMED_LOG_EVERY = 60.0  # seconds


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


class ThrottleMalformed(logging.Filter):
    def __init__(self, every: float = MALFORMED_LOG_EVERY, clock=time.monotonic):
        super().__init__()
        self.every, self.clock = every, clock
        self._last = float("-inf")
        self._skipped = 0
        self._lock = threading.Lock()

    def filter(self, record: logging.LogRecord) -> bool:
        if record.msg != MALFORMED:
            return True
        now = self.clock()
        with self._lock:
            if now - self._last < self.every:
                self._skipped += 1
                return False
            skipped, self._skipped, self._last = self._skipped, 0, now
        if skipped:
            record.msg = f"{MALFORMED} ({skipped:,} more since the last such line, not logged)"
        return True


def install() -> None:
    for name, kind in ((ACCESS_LOGGER, RedactClients), (ERROR_LOGGER, ThrottleMalformed)):
        logger = logging.getLogger(name)
        if not any(isinstance(f, kind) for f in logger.filters):
            logger.addFilter(kind())
