"""``python -m darksocial.attribution DB [--full]``: one attribution run, printing its figures as one JSON line.

This is what :func:`darksocial.attribution.child.attribute_in_child` runs, so that a run that fails or exhausts
its memory takes down only its own process, never the server that collects events.
"""

from __future__ import annotations

import argparse
import json
import sys

from . import attribute


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m darksocial.attribution", description=__doc__.splitlines()[0])
    parser.add_argument("db", help="the darksocial SQLite database")
    parser.add_argument("--full", action="store_true", help="rebuild every analyst table")
    parser.add_argument("--memory-limit", type=int, metavar="BYTES",
                        help="cap this process's address space: past it the run fails with a MemoryError")
    args = parser.parse_args(argv)
    if args.memory_limit:
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (args.memory_limit, args.memory_limit))
    from .. import store

    db = store.open_db(args.db)
    try:
        stats = attribute(db, full=args.full)
    finally:
        db.close()
    print(json.dumps(stats), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
