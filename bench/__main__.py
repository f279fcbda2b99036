"""Run every benchmark in bench/ (modules named ``bench_*.py``, each with a ``main()``).

``python -m bench`` runs them all; ``python -m bench tracker`` runs ``bench_tracker`` only.
Each prints its measurements side by side and the ratio against its budget.
"""

import importlib
import pkgutil
import sys
from pathlib import Path


def main(argv: list[str]) -> None:
    names = sorted(m.name for m in pkgutil.iter_modules([str(Path(__file__).parent)]) if m.name.startswith("bench_"))
    wanted = [n for n in names if not argv or n.removeprefix("bench_") in argv]
    for name in wanted:
        print(f"== {name}")
        importlib.import_module(f"bench.{name}").main()
        print()


main(sys.argv[1:])
