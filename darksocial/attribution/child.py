"""Attribution in a child process: whatever a run meets (forged events, a bug, no memory left), the process that
asked for it (the reporting server, with its collector) carries on, and learns why the run failed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

STDERR_TAIL = 2_000  # characters of the child's stderr kept in the error


class AttributionFailed(RuntimeError):
    """The child exited with ``returncode`` (negative: killed by that signal); ``stderr`` is the tail of its
    output (the traceback, or the reason it was killed)."""

    def __init__(self, returncode: int, stderr: str):
        self.returncode, self.stderr = returncode, stderr
        last = stderr.strip().splitlines()[-1] if stderr.strip() else "no output"
        super().__init__(f"attribution exited with {describe_exit(returncode)}: {last}")


def describe_exit(returncode: int) -> str:
    if returncode < 0:
        import signal

        try:
            return f"signal {signal.Signals(-returncode).name}"
        except ValueError:
            return f"signal {-returncode}"
    return f"code {returncode}"


def attribute_in_child(db: str | os.PathLike, full: bool = False, memory_limit: int | None = None,
                       timeout: float | None = None, command: list[str] | None = None) -> dict:
    """Run ``python -m darksocial.attribution DB`` and return its figures; raise AttributionFailed if it fails.

    ``memory_limit`` (bytes) caps the child's address space, so a run that would exhaust the machine's memory
    fails alone with a MemoryError; ``timeout`` (seconds) kills a run that takes longer. ``command`` replaces
    the module run (tests use it to make a child fail).
    """
    argv = command or [sys.executable, "-m", "darksocial.attribution", str(Path(db)), *(["--full"] if full else []),
                       *([f"--memory-limit={memory_limit}"] if memory_limit else [])]
    try:  # no preexec_fn: the caller is a threaded server, and the child sets its own limit
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False,
                              stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as exc:
        tail = (exc.stderr or b"")[-STDERR_TAIL:]
        raise AttributionFailed(-9, (tail.decode(errors="replace") if isinstance(tail, bytes) else tail)
                                + f"\ntimed out after {timeout} s") from None
    if done.returncode != 0:
        raise AttributionFailed(done.returncode, done.stderr[-STDERR_TAIL:])
    lines = done.stdout.strip().splitlines()
    return json.loads(lines[-1]) if lines else {}
