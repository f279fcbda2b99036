"""``python -m darksocial.attribution DB [--full]``: one attribution run, printing its figures as one JSON line.

This is what :func:`darksocial.attribution.child.attribute_in_child` runs, so that a run that fails or exhausts
its memory takes down only its own process, never the server that collects events.
"""

from __future__ import annotations

import argparse
import errno
import json
import sqlite3
import sys
import traceback

from . import attribute


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m darksocial.attribution", description=__doc__.splitlines()[0])
    parser.add_argument("db", help="the darksocial SQLite database")
    parser.add_argument("--full", action="store_true", help="rebuild every analyst table")
    parser.add_argument("--memory-limit", type=int, metavar="BYTES",
                        help="cap this process's address space: past it the run fails with a MemoryError")
    args = parser.parse_args(argv)
    # Imported before the cap, so that the cap bounds the run's data only: compiling a module under a cap that is
    # too tight fails with a misleading SyntaxError (CPython's parser reports its failed allocations that way).
    from .. import store

    if args.memory_limit:
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (args.memory_limit, args.memory_limit))
    try:
        db = store.open_db(args.db)
        try:
            stats = attribute(db, full=args.full)
        finally:
            db.close()
    except Exception as exc:
        if not (args.memory_limit and exceeded_memory(exc)):
            raise
        traceback.print_exc()
        # The last line is the one the server logs: say what ran out and what to change.
        print(f"MemoryError: the run needed more than its memory limit of {args.memory_limit:,} bytes "
              "(--memory-limit, the server's attribute_memory_limit): raise the limit, or leave it unset",
              file=sys.stderr, flush=True)
        return 1
    print(json.dumps(stats), flush=True)
    return 0


# SQLite reports a failed allocation or memory map under the address-space cap as these, e.g. "disk I/O error"
# for the WAL index it cannot map.
SQLITE_OUT_OF_MEMORY = frozenset({"SQLITE_NOMEM", "SQLITE_IOERR_NOMEM", "SQLITE_IOERR_SHMMAP", "SQLITE_IOERR_MMAP"})


def exceeded_memory(exc: BaseException) -> bool:
    return isinstance(exc, MemoryError) or (isinstance(exc, OSError) and exc.errno == errno.ENOMEM) or (
        isinstance(exc, sqlite3.Error) and getattr(exc, "sqlite_errorname", None) in SQLITE_OUT_OF_MEMORY)


if __name__ == "__main__":
    sys.exit(main())
