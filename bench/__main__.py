"""Run every benchmark in bench/ (modules named ``bench_*.py``, each with a ``main()``).

``python -m bench`` runs them all; ``python -m bench tracker`` runs ``bench_tracker`` only.
Each prints its measurements side by side and the ratio against its budget.
"""

import importlib
import pkgutil
import sys
from pathlib import Path


def bench_names() -> list[str]:
    """The names ``python -m bench`` takes: ``tracker`` for bench_tracker.py, and so on."""
    return sorted(m.name.removeprefix("bench_") for m in pkgutil.iter_modules([str(Path(__file__).parent)])
                  if m.name.startswith("bench_"))


def usage(names: list[str]) -> str:
    return (f"usage: python -m bench [NAME ...]\n\nRuns the named benchmarks, or all of them without a NAME.\n"
            f"NAME: {', '.join(names)}")


def main(argv: list[str]) -> int:
    names = bench_names()
    if any(arg in ("-h", "--help") for arg in argv):
        print(usage(names))
        return 0
    # A typo used to run nothing and exit 0, which a script or `make bench` took for a passing run.
    unknown = [arg for arg in argv if arg not in names]
    if unknown:
        print(f"python -m bench: no benchmark named {', '.join(map(repr, unknown))}: choose among "
              f"{', '.join(names)} (or give none to run them all)", file=sys.stderr)
        return 2
    for name in (n for n in names if not argv or n in argv):
        print(f"== bench_{name}")
        importlib.import_module(f"bench.bench_{name}").main()
        print()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
