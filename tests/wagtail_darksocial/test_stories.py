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


@pytest.mark.parametrize("broken", [b"not a database " * 100, "foreign"])
def test_a_broken_darksocial_database_never_breaks_publishing_or_saving_a_site(article, darksocial_db, broken, caplog):
    # A corrupt file, a full disk, a lock held too long, another application's database: Wagtail's own receivers
    # (aliases, workflows) run after ours, so ours log and carry on.
    from wagtail.models import Site

    if broken == "foreign":
        with sqlite3.connect(darksocial_db) as conn:
            conn.execute("CREATE TABLE auth_user (id INTEGER PRIMARY KEY)")
    else:
        darksocial_db.write_bytes(broken)
    article.title = "Harbour lights, revised"
    article.save_revision().publish()
    article.refresh_from_db()
    assert article.title == "Harbour lights, revised" and article.live_revision == article.latest_revision
    site = Site.objects.get(is_default_site=True)
    site.site_name = "Renamed"
    site.save()
    site.delete()
    warnings = [r.getMessage() for r in caplog.records if r.name == "wagtail_darksocial.signals"]
    assert len(warnings) == 3 and all(w.startswith("darksocial: ") for w in warnings), warnings
    assert all(("another application's" if broken == "foreign" else "not a database") in w for w in warnings)


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
