"""A multilingual site built with mkdocs-static-i18n, the MkDocs i18n plugin: it builds each further language with
a nested ``build()`` from its own ``on_post_build``, running every plugin's ``on_config`` again with the
language's ``site_name``. The manifest lists every language's pages, and each bar shares its own language's
site name."""

from __future__ import annotations

import json
import pathlib
from urllib.parse import parse_qs, urlsplit

import pytest
import yaml
from bs4 import BeautifulSoup

SITE_URL = "https://example.org/docs/"
PAGES = {
    "index.en.md": "# Welcome\n\nHello.\n",
    "index.fr.md": "# Bienvenue\n\nBonjour.\n",
    "guide.en.md": "# The guide\n\nText.\n",
    "guide.fr.md": "# Le guide\n\nTexte.\n",
}


@pytest.fixture(scope="module")
def built(tmp_path_factory, sites) -> pathlib.Path:
    root = tmp_path_factory.mktemp("i18n")
    for name, markdown in PAGES.items():
        (root / "docs").mkdir(exist_ok=True)
        (root / "docs" / name).write_text(markdown, encoding="utf-8")
    languages = [
        {"locale": "en", "default": True, "name": "English", "build": True, "site_name": "Docs (en)"},
        {"locale": "fr", "name": "Français", "build": True, "site_name": "Documentation (fr)"},
    ]
    config = {
        "site_name": "Docs", "site_url": SITE_URL, "theme": {"name": "mkdocs"},
        "plugins": ["search", {"i18n": {"docs_structure": "suffix", "languages": languages}},
                    {"darksocial": {"collector": sites.COLLECTOR}}],
    }
    (root / "mkdocs.yml").write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    return sites.build(root / "mkdocs.yml", root / "site")


def test_the_manifest_lists_the_pages_of_every_language(built):
    manifest = json.loads((built / "darksocial-pages.json").read_text(encoding="utf-8"))
    assert sorted((page["url"], page["title"]) for page in manifest["pages"]) == [
        (SITE_URL, "Welcome"), (SITE_URL + "fr/", "Bienvenue"), (SITE_URL + "fr/guide/", "Le guide"),
        (SITE_URL + "guide/", "The guide")]


@pytest.mark.parametrize(("page", "text"), [("index.html", "Welcome — Docs (en)"),
                                            ("fr/guide/index.html", "Le guide — Documentation (fr)")])
def test_each_language_shares_its_own_site_name(built, page, text):
    soup = BeautifulSoup((built / page).read_text(encoding="utf-8"), "html.parser")
    [whatsapp] = [a["href"] for a in soup.select("nav.ds-bar a") if urlsplit(a["href"]).hostname == "wa.me"]
    shared = parse_qs(urlsplit(whatsapp).query)["text"][0]
    assert shared.startswith(text + " "), shared
    assert len(soup.select("nav.ds-bar")) == 1
