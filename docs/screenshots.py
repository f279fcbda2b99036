"""Take the README's screenshots (dashboard, influencer page, cascade) from the demo database.

    python docs/screenshots.py                       # runs `darksocial demo --no-wait` into a temporary directory
    python docs/screenshots.py --db darksocial-demo/darksocial.db

Serves the database with the reporting server on a free loopback port, signs in with a one-time link, and saves
docs/dashboard.png, docs/influencer.png and docs/cascade.png from headless Chromium at 1,440 px wide (palette PNGs,
to keep the repository small).
"""

from __future__ import annotations

import argparse
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path
from urllib.parse import quote, urlsplit

HERE = Path(__file__).parent
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]
VIEWPORT = {"width": 1440, "height": 900}
TALLEST = 1500  # px of each page kept


def demo_database(workdir: Path) -> Path:
    subprocess.run([sys.executable, "-m", "darksocial.cli", "demo", "--no-wait", "--no-browser", "--dir",
                    str(workdir), "--site-port", "0", "--port", "0"], check=True)
    return workdir / "darksocial.db"


def shrink(path: Path) -> None:
    try:
        from PIL import Image
    except ImportError:
        return  # the full-colour PNG is still a good screenshot
    with Image.open(path) as image:
        image.convert("RGB").quantize(colors=96, method=Image.Quantize.MEDIANCUT).save(path, optimize=True)


def take(db: Path, out: Path) -> list[Path]:
    from playwright.sync_api import sync_playwright

    from darksocial import analysts
    from reporting import server

    with sqlite3.connect(db) as conn:
        top = conn.execute("select person from influencers order by reach desc, clicks desc limit 1").fetchone()
        root = conn.execute("select root from cascades where size between 10 and 60 "
                            "order by depth desc, structural_virality desc, size desc limit 1").fetchone()
    datasette = server.make_datasette(db, attribute_every=None)
    shots = []
    with server.running(datasette) as url, sync_playwright() as p:  # on a free port, the one in url
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_context(viewport=VIEWPORT).new_page()
        page.goto(analysts.login_link(db, "127.0.0.1", urlsplit(url).port))
        pages = {"dashboard": "/-/darksocial/dashboard"}
        if top:
            pages["influencer"] = f"/-/darksocial/influencer?person={quote(top[0])}"
        if root:
            pages["cascade"] = f"/-/darksocial/cascade?share={quote(root[0])}"
        for name, path in pages.items():
            page.goto(url + path)
            page.wait_for_load_state("networkidle")
            if name == "cascade":
                page.wait_for_selector("#cascade-tree svg .mark-symbol path")
            target = out / f"{name}.png"
            height = min(page.evaluate("document.documentElement.scrollHeight"), TALLEST)
            page.screenshot(path=str(target), full_page=True, clip={"x": 0, "y": 0, "width": 1440, "height": height})
            shrink(target)
            shots.append(target)
        browser.close()
    return shots


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--db", type=Path, help="a darksocial database (default: build the demo's)")
    parser.add_argument("--out", type=Path, default=HERE, help="where the PNGs go (default: docs/)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        db = args.db or demo_database(Path(tmp) / "demo")
        for shot in take(db, args.out):
            print(f"{shot} ({shot.stat().st_size // 1024} KB)")


if __name__ == "__main__":
    main()
