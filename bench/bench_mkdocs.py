"""MkDocs build time of a generated 500-page site, with and without the darksocial plugin (budget ≤ 1.05×).

Both builds run in this process, alternating (ABBA order, so a drift in machine load hits both alike), after
one warm-up each; the medians are compared. The ratio is taken on CPU time of this process (other work on a
busy machine stretches wall-clock time, not CPU time); wall-clock medians are printed beside it. On a shared
machine the build ratio still wobbles by a few percent, so the cost of the injection itself is measured too,
in-process on the pages the plain build wrote: the most stable number, and what the ratio is made of.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import pathlib
import statistics
import sys
import tempfile
import time

BUDGET = 1.05
PAGES = 500
SECTIONS = 10
REPETITIONS = 8  # alternating builds of each kind
INJECT_PASSES = 5  # over all pages; the fastest pass is the least disturbed

PARAGRAPH = (
    "Most sharing happens in private: a link pasted into a chat, an email, a text message. The visit that "
    "follows arrives without a referrer, and the analytics file it under direct traffic. "
)
CODE = """```python
def handler(request):
    token = request.fragment.get("ds")
    return render(request, "story.html", {"token": token})
```"""


def generate_site(root: pathlib.Path, theme: str) -> dict[str, pathlib.Path]:
    """A docs tree of PAGES pages in SECTIONS sections, and two configs that differ only by the plugin."""
    docs = root / "docs"
    for section in range(SECTIONS):
        folder = docs / f"section-{section}"
        folder.mkdir(parents=True)
        for number in range(PAGES // SECTIONS):
            body = [
                "---",
                f"description: Story {number} of section {section}, on dark social sharing.",
                f"date: 2024-{section % 12 + 1:02d}-{number % 28 + 1:02d}",
                "---",
                f"# Story {section}.{number}: where the visits came from",
                "",
                PARAGRAPH * 3,
                "",
                "## What we measured",
                "",
                "- clicks per share\n- amplified reach\n- structural virality",
                "",
                CODE,
                "",
                "## What we changed",
                "",
                PARAGRAPH * 4,
            ]
            (folder / f"story-{number}.md").write_text("\n".join(body), encoding="utf-8")
    (docs / "index.md").write_text("# Home\n\n" + PARAGRAPH, encoding="utf-8")
    base = f"site_name: Bench\nsite_url: https://bench.example.org/\ntheme: {theme}\ndocs_dir: docs\n"
    plugin = "  - darksocial:\n      collector: https://stats.example.org/-/darksocial/collect\n"
    configs = {"without": base + "plugins:\n  - search\n", "with": base + "plugins:\n  - search\n" + plugin}
    paths = {}
    for name, text in configs.items():
        paths[name] = root / f"mkdocs-{name}.yml"
        paths[name].write_text(text, encoding="utf-8")
    return paths


def build_once(config_file: pathlib.Path, site_dir: pathlib.Path) -> tuple[float, float]:
    """(CPU seconds, wall-clock seconds) of one `mkdocs build`."""
    from mkdocs.commands.build import build
    from mkdocs.config import load_config

    with open(os.devnull, "w") as null, contextlib.redirect_stderr(null):
        config = load_config(config_file=str(config_file), site_dir=str(site_dir))
        gc.collect()  # garbage left by the previous build is collected here, not charged to this one
        cpu, wall = time.process_time(), time.perf_counter()
        build(config)
        return time.process_time() - cpu, time.perf_counter() - wall


def inject_cost(site_dir: pathlib.Path) -> tuple[float, float, int, int]:
    """CPU milliseconds per page of darksocial.inject.inject on the plain build's pages (fastest and median
    of INJECT_PASSES passes over all of them), pages, mean bytes."""
    from darksocial import inject

    config = inject.TrackerConfig(
        collector="https://stats.example.org/-/darksocial/collect",
        site="bench.example.org",
        script_url="/assets/darksocial/darksocial.js",
        css_url="/assets/darksocial/darksocial.css",
    )
    pages = [path.read_text(encoding="utf-8") for path in sorted(site_dir.glob("section-*/*/index.html"))]
    passes = []
    for _ in range(INJECT_PASSES):
        started = time.process_time()
        for html in pages:
            inject.inject(html, config, "https://bench.example.org/x/", "Story")
        passes.append((time.process_time() - started) / max(len(pages), 1) * 1000)
    size = sum(len(html.encode()) for html in pages) // max(len(pages), 1)
    return min(passes), statistics.median(passes), len(pages), size


def main(theme: str = "mkdocs") -> None:
    logging.getLogger("mkdocs").setLevel(logging.ERROR)
    with tempfile.TemporaryDirectory(prefix="bench-mkdocs-") as tmp:
        root = pathlib.Path(tmp)
        configs = generate_site(root, theme)
        sites = {name: root / f"site-{name}" for name in configs}
        times: dict[str, list[tuple[float, float]]] = {name: [] for name in configs}
        for name in configs:  # warm-up: imports, theme templates, markdown extensions
            build_once(configs[name], sites[name])
        for repetition in range(REPETITIONS):
            order = list(configs) if repetition % 2 == 0 else list(reversed(configs))
            for name in order:
                times[name].append(build_once(configs[name], sites[name]))
        report(theme, times, inject_cost(sites["without"]))


def _verdict(ratio: float) -> str:
    return "within" if ratio <= BUDGET else "OVER"


def report(theme: str, times: dict[str, list[tuple[float, float]]], inject: tuple[float, float, int, int]) -> None:
    """Medians, and the fastest builds: other work on the machine only ever adds CPU time (shared caches and
    cores), so the fastest build of each kind is the least disturbed estimate; the medians show the spread."""
    cpu = {name: statistics.median(t[0] for t in runs) for name, runs in times.items()}
    wall = {name: statistics.median(t[1] for t in runs) for name, runs in times.items()}
    fastest = {name: min(t[0] for t in runs) for name, runs in times.items()}
    ratio, fastest_ratio = cpu["with"] / cpu["without"], fastest["with"] / fastest["without"]
    print(f"theme {theme}, {PAGES + 1} pages, {REPETITIONS} alternating builds each (median CPU s | median wall s"
          f" | fastest CPU s)")
    for name, label in (("without", "without plugin"), ("with", "with plugin")):
        runs = ", ".join(f"{c:.2f}" for c, _ in times[name])
        print(f"  {label:15} {cpu[name]:7.3f} | {wall[name]:7.3f} | {fastest[name]:7.3f}   (CPU: {runs})")
    print(f"  ratio           {ratio:7.3f} | {wall['with'] / wall['without']:7.3f} | {fastest_ratio:7.3f}   "
          f"(budget ≤ {BUDGET}× on CPU time: {_verdict(ratio)} by median, {_verdict(fastest_ratio)} by fastest)")
    inject_fastest, inject_median, count, size = inject
    page_cost = fastest["without"] / (PAGES + 1) * 1000
    added = (fastest["with"] - fastest["without"]) / (PAGES + 1) * 1000
    print(f"  inject()        {inject_fastest:7.3f} ms CPU per page (fastest of {INJECT_PASSES} passes over {count}"
          f" pages of ~{size // 1024} KB; median {inject_median:.3f}), the stable number: a plain page builds in"
          f" {page_cost:.2f} ms, so inject alone is {1 + inject_fastest / page_cost:.3f}×"
          f" (the fastest builds differ by {added:.3f} ms per page)")

if __name__ == "__main__":
    main(*sys.argv[1:2])
