"""Helpers for the MkDocs plugin tests: write a small real site to a temporary folder and build it."""

from __future__ import annotations

import contextlib
import os
import pathlib
import subprocess
import sys
from unittest import mock

import pytest
import yaml

COLLECTOR = "https://stats.example.org/-/darksocial/collect"
SITE_URL = "https://example.org/journal/"
DEMO_SITE = pathlib.Path(__file__).parents[2] / "demo_site" / "mkdocs"

# path in docs -> (markdown, the title MkDocs gives the page, its URL under site_url)
PAGES = {
    "index.md": ("---\ndescription: The front page.\n---\n# Welcome home\n\nLatest stories below.\n",
                 "Welcome home", ""),
    "stories/first.md": (
        "---\ndate: 2024-05-01\ndescription: A story with code.\n---\n# The first story\n\nText.\n\n"
        "```html\n<h1>not a heading</h1>\n```\n\n## Part two\n\nMore text.\n",
        "The first story", "stories/first/"),
    # <odd> is inline HTML to Markdown: readers never see it, so neither does the share text
    "stories/deep/second.md": ("# Second: deep & <odd> \"title\"\n\nBody text.\n",
                               "Second: deep & \"title\"", "stories/deep/second/"),
    "private.md": ("---\ndarksocial: false\n---\n# Private page\n\nNot measured.\n", "Private page", "private/"),
}
OPT_OUT = "private.md"
REPRODUCIBLE_EPOCH = "1714521600"


def page_output(site_dir: pathlib.Path, url: str) -> pathlib.Path:
    return site_dir / url / "index.html"


def write_site(root: pathlib.Path, *, theme: str = "mkdocs", plugin: dict | None = None,
               site_url: str | None = SITE_URL, pages: dict = PAGES) -> pathlib.Path:
    """A site with ``pages`` and the darksocial plugin configured by ``plugin`` (None: without the plugin)."""
    for path, (markdown, _, _) in pages.items():
        target = root / "docs" / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(markdown, encoding="utf-8")
    config = {"site_name": "Test Journal", "theme": {"name": theme}, "plugins": ["search"]}
    if site_url:
        config["site_url"] = site_url
    if plugin is not None:
        config["plugins"].append({"darksocial": plugin})
    config_file = root / "mkdocs.yml"
    config_file.write_text(yaml.safe_dump(config), encoding="utf-8")
    return config_file


@contextlib.contextmanager
def environment(**variables: str):
    with mock.patch.dict(os.environ, variables):
        yield


def build(config_file: pathlib.Path, site_dir: pathlib.Path) -> pathlib.Path:
    """``mkdocs build`` in-process (as the CLI does it: load_config, then build), reproducibly: themes print the
    build time into every page unless SOURCE_DATE_EPOCH fixes it."""
    from mkdocs.commands.build import build as mkdocs_build
    from mkdocs.config import load_config

    with environment(SOURCE_DATE_EPOCH=REPRODUCIBLE_EPOCH):
        mkdocs_build(load_config(config_file=str(config_file), site_dir=str(site_dir)))
    return site_dir


def mkdocs_cli(*args: str, cwd: pathlib.Path, timeout: float = 120) -> subprocess.CompletedProcess:
    """The ``mkdocs`` command as a user runs it."""
    return subprocess.run([sys.executable, "-m", "mkdocs", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout)


class Sites:
    """What the tests share, handed out by the ``sites`` fixture (test modules cannot import conftest)."""

    COLLECTOR = COLLECTOR
    SITE_URL = SITE_URL
    DEMO_SITE = DEMO_SITE
    PAGES = PAGES
    OPT_OUT = OPT_OUT
    write = staticmethod(write_site)
    build = staticmethod(build)
    environment = staticmethod(environment)
    mkdocs_cli = staticmethod(mkdocs_cli)
    page_output = staticmethod(page_output)


@pytest.fixture(scope="session")
def sites() -> type[Sites]:
    return Sites
