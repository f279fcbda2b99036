"""``python -m bench``: its help lists the benchmarks, and a name that is none of them is refused, not ignored."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def bench(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "bench", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=60)


def test_help_lists_the_benchmarks_and_runs_none():
    done = bench("--help")
    assert done.returncode == 0, done.stderr
    assert "usage: python -m bench" in done.stdout
    for name in ("attribution", "collector", "tracker"):
        assert name in done.stdout
    assert "==" not in done.stdout  # nothing ran


def test_an_unknown_benchmark_is_refused_with_the_valid_names():
    done = bench("atribution")
    assert done.returncode == 2
    assert "no benchmark named 'atribution'" in done.stderr
    assert "attribution, collector" in done.stderr
    assert "==" not in done.stdout
