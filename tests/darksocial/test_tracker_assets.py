"""The shipped tracker assets: within their budgets, and the shipped script is exactly the minified source."""

from __future__ import annotations

import gzip
import shutil
import subprocess
from pathlib import Path

import pytest

from darksocial.inject import STATIC_DIR

ROOT = Path(__file__).resolve().parents[2]
JS_BUDGET = 1700  # bytes after gzip -9 (DESIGN.md; in-page navigation included)
CSS_BUDGET = 1024


def gzipped_size(path: Path) -> int:
    return len(gzip.compress(path.read_bytes(), compresslevel=9, mtime=0))


def test_tracker_script_within_budget():
    assert gzipped_size(STATIC_DIR / "darksocial.js") <= JS_BUDGET


def test_stylesheet_within_budget():
    assert gzipped_size(STATIC_DIR / "darksocial.css") <= CSS_BUDGET


def test_shipped_script_is_the_minified_source():
    terser = ROOT / "node_modules" / ".bin" / "terser"
    if not terser.exists() or not shutil.which("npm"):
        pytest.fail("terser is not installed: run `make test` (it runs `npm ci`) or `npm ci` at the repository root")
    minified = subprocess.run(
        ["npm", "run", "--silent", "minify"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    shipped = (STATIC_DIR / "darksocial.js").read_text()
    assert shipped == minified, "darksocial.js is stale: run `npm run build` after editing static/src/darksocial.js"


def test_shipped_script_has_no_leftovers():
    shipped = (STATIC_DIR / "darksocial.js").read_text()
    assert "console." not in shipped and "debugger" not in shipped
    assert "document.cookie" not in shipped  # no cookies, ever
