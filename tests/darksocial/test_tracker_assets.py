"""The shipped tracker assets: within their budgets, and exactly the minified sources."""

from __future__ import annotations

import gzip
import io
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from darksocial import urls
from darksocial.inject import ASSET_BUDGETS, STATIC_DIR

ROOT = Path(__file__).resolve().parents[2]


def gzipped_size(path: Path) -> int:
    """Bytes of `gzip -9 FILE`, as the budget is read: the command-line tool stores the file's name in the header."""
    buffer = io.BytesIO()
    with gzip.GzipFile(filename=path.name, mode="wb", fileobj=buffer, compresslevel=9, mtime=0) as out:
        out.write(path.read_bytes())
    return len(buffer.getvalue())


def test_tracker_script_within_budget():
    assert gzipped_size(STATIC_DIR / "darksocial.js") <= ASSET_BUDGETS["darksocial.js"]


def test_stylesheet_within_budget():
    assert gzipped_size(STATIC_DIR / "darksocial.css") <= ASSET_BUDGETS["darksocial.css"]


@pytest.mark.parametrize(("script", "shipped"), [("minify", "darksocial.js"), ("minify-css", "darksocial.css")])
def test_shipped_assets_are_the_minified_sources(script, shipped):
    if not (ROOT / "node_modules" / ".bin" / "terser").exists() or not shutil.which("npm"):
        pytest.fail("terser and csso are not installed: run `make test` (it runs `npm ci`) or `npm ci`")
    minified = subprocess.run(
        ["npm", "run", "--silent", script], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    stale = f"{shipped} is stale: run `npm run build` after editing static/src/"
    assert (STATIC_DIR / shipped).read_text() == minified, stale


def tracker_strip_pattern() -> re.Pattern:
    source = (STATIC_DIR / "src" / "darksocial.js").read_text()
    literal = re.search(r"var STRIP =((?:\s*'[^']*'\s*\+?)+);", source).group(1)
    strip = "".join(re.findall(r"'([^']*)'", literal))
    return re.compile(f"^(ds|{strip})$", re.I)


def test_tracker_drops_every_tracking_and_private_parameter_and_keeps_content_ones():
    """The tracker's compact rule (STRIP) drops every name darksocial.urls drops (tracking and private: a shared
    link must carry neither an ad's click id nor a password-reset token), and never a parameter it keeps."""
    pattern = tracker_strip_pattern()
    names = set()
    for name in urls.DEFAULT_STRIP | urls.PRIVATE_PARAMS:
        names |= {name[:-1] + "source", name[:-1] + "x"} if name.endswith("*") else {name}
    # and every name with a private ending, however it is spelt around it (client_secret, sessionToken)
    names |= {f"{prefix}{ending}" for ending in urls.PRIVATE_ENDINGS for prefix in ("x", "client_", "X-Amz-")}
    for name in sorted(names) + ["UTM_Campaign", "FBCLID", "sessionToken", "X-Amz-Signature", "resetPassword"]:
        assert pattern.match(name), name
        assert urls.canonical_url(f"https://x.example/?{name}=1")[0] == "https://x.example/", name
    for name in ("page", "id", "q", "p", "s", "t", "lang", "sort", "tab", "v", "hs", "clid", "ref", "source",
                 "campaign", "year", "tag", "category", "search", "query", "order", "offset", "view", "type", "format",
                 "locale", "hl", "slug", "name", "title", "author", "topic", "keys", "codes", "tokens", "mailbox",
                 "stateful", "pk", "pkg", "epic", "ref_id", "telephone", "sidebar", "hsize", "author_id"):
        assert not pattern.match(name), name
        assert urls.canonical_url(f"https://x.example/?{name}=1")[0] == f"https://x.example/?{name}=1", name


def test_shipped_script_has_no_leftovers():
    shipped = (STATIC_DIR / "darksocial.js").read_text()
    assert "console." not in shipped and "debugger" not in shipped
    assert "document.cookie" not in shipped  # no cookies, ever
