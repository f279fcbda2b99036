"""Wagtail pages → the ``pages`` table that names stories in the reports (what ``darksocial import-pages`` fills
for an MkDocs site). A published page is upserted; unpublishing or deleting keeps its row, for past visits."""

from __future__ import annotations

from darksocial import pages, store, urls
from darksocial.events import MAX_TITLE

from .models import DarkSocialSettings
from .tracking import page_title


def story_row(page, site_ids: dict) -> dict | None:
    site = page.get_site()
    if site is None:
        return None
    if site.pk not in site_ids:
        site_ids[site.pk] = DarkSocialSettings.for_site(site).darksocial_site()
    url, _campaign = urls.canonical_url(page.get_full_url())
    published = page.first_published_at or page.last_published_at
    return {
        "site": site_ids[site.pk],
        "url": url,
        "title": pages.clean_text(page_title(page), MAX_TITLE) or url,
        "description": pages.clean_text(getattr(page, "search_description", "") or None, pages.MAX_DESCRIPTION),
        "date": published.isoformat() if published else None,
        "imported": store.utc_timestamp(),
    }


def register_pages(db, live_pages) -> int:
    site_ids: dict = {}
    rows = [row for row in (story_row(page, site_ids) for page in live_pages) if row is not None]
    with db.conn:
        db["pages"].upsert_all(rows, pk=("site", "url"))
    return len(rows)
