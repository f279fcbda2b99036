"""Wagtail pages → the ``pages`` table that names stories in the reports (what ``darksocial import-pages`` fills
for an MkDocs site). A published page is upserted; unpublishing or deleting keeps its row, for past visits."""

from __future__ import annotations

import collections

from darksocial import pages, urls
from darksocial.events import MAX_TITLE

from .models import DarkSocialSettings
from .tracking import page_title


def story_entry(page, site_ids: dict) -> tuple[str, pages.PageEntry] | None:
    """(darksocial site id, the page's entry), or None for a page under no site."""
    site = page.get_site()
    if site is None:
        return None
    if site.pk not in site_ids:
        site_ids[site.pk] = DarkSocialSettings.for_site(site).darksocial_site()
    url, _campaign = urls.canonical_url(page.get_full_url())
    published = page.first_published_at or page.last_published_at
    return site_ids[site.pk], pages.PageEntry(
        url=url,
        title=pages.clean_text(page_title(page), MAX_TITLE) or url,
        description=pages.clean_text(getattr(page, "search_description", "") or None, pages.MAX_DESCRIPTION),
        date=published.isoformat() if published else None,
    )


def register_pages(db, live_pages) -> int:
    site_ids: dict = {}
    by_site = collections.defaultdict(list)
    for site, entry in filter(None, (story_entry(page, site_ids) for page in live_pages)):
        by_site[site].append(entry)
    return sum(pages.upsert_pages(db, site, entries) for site, entries in by_site.items())
