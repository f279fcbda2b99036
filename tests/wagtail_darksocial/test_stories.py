"""Publishing registers a story; unpublishing and deleting keep it; the import command registers every live page."""

from __future__ import annotations

import sqlite3

import pytest
from django.core.management import call_command

pytestmark = pytest.mark.django_db


def stories(path) -> dict:
    with sqlite3.connect(path) as conn:
        return {url: (site, title, description, date) for site, url, title, description, date
                in conn.execute("SELECT site, url, title, description, date FROM pages")}


def test_publishing_registers_the_story_and_unpublish_or_delete_keep_it(article, darksocial_db):
    from demo_pages.models import ArticlePage

    article.title = "Harbour lights, <em>again</em>"
    article.search_description = "Three dark winters"
    article.save_revision().publish()
    url = "http://localhost:8000/harbour-lights/"
    site, title, description, date = stories(darksocial_db)[url]
    assert (site, title, description) == ("localhost", "Harbour lights, <em>again</em>", "Three dark winters")
    assert date.startswith(article.first_published_at.date().isoformat())
    article.unpublish()
    assert url in stories(darksocial_db)
    ArticlePage.objects.get(pk=article.pk).delete()
    assert url in stories(darksocial_db)


def test_import_pages_registers_every_live_page(darksocial_db):
    from wagtail.models import Page

    call_command("darksocial_import_pages", verbosity=0)
    registered = stories(darksocial_db)
    assert len(registered) == 13  # the home page and a dozen articles
    assert {page.get_full_url() for page in Page.objects.live().filter(depth__gte=2)} == set(registered)


def test_attribute_command_incremental_and_full(darksocial_db, capsys):
    from .sharing import share_cascade

    share_cascade()
    call_command("darksocial_attribute")
    assert "darksocial attribution done" in capsys.readouterr().out
    call_command("darksocial_attribute", "--full")
    with sqlite3.connect(darksocial_db) as conn:
        assert conn.execute("SELECT count(*) FROM visits").fetchone()[0] == 4
