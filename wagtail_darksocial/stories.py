"""Wagtail pages → the ``pages`` table that names stories in the reports (what ``darksocial import-pages`` fills
for an MkDocs site). A published page is upserted; unpublishing or deleting keeps its row, for past visits."""

from __future__ import annotations

import collections

from darksocial import pages, urls
from darksocial.events import MAX_TITLE

from .models import DarkSocialSettings
from .tracking import page_title


def serving_sites(page) -> list:
    """Every Site that serves ``page``: its own, and any other whose root is above it (a section that is also the
    root of another Site is served, and shared, under both addresses)."""
    from wagtail.models import Site

    ids = {root.site_id for root in Site.get_site_root_paths() if page.url_path.startswith(root.root_path)}
    return sorted(Site.objects.filter(pk__in=ids), key=lambda site: (not site.is_default_site, site.pk))


def story_entries(page, site_ids: dict) -> list[tuple[str, pages.PageEntry]]:
    """(darksocial site id, the page's entry) for each Site that serves the page, at its URL there."""
    from django.http import HttpRequest

    published = page.first_published_at or page.last_published_at
    title = pages.clean_text(page_title(page), MAX_TITLE)
    description = pages.clean_text(getattr(page, "search_description", "") or None, pages.MAX_DESCRIPTION)
    date = published.isoformat() if published else None
    out = []
    for site in serving_sites(page):
        # The page's URL as a request to that Site gets it (Wagtail's own routing, custom get_url_parts included).
        request = HttpRequest()
        request._wagtail_site = site
        parts = page.get_url_parts(request)
        if parts is None or parts[0] != site.pk or parts[1] is None or parts[2] is None:
            continue
        if site.pk not in site_ids:
            site_ids[site.pk] = DarkSocialSettings.for_site(site).darksocial_site()
        url, _campaign = urls.canonical_url(parts[1] + parts[2])
        out.append((site_ids[site.pk], pages.PageEntry(url=url, title=title or url, description=description,
                                                       date=date)))
    return out


def register_pages(db, live_pages) -> int:
    site_ids: dict = {}
    by_site = collections.defaultdict(list)
    for page in live_pages:
        for site, entry in story_entries(page, site_ids):
            by_site[site].append(entry)
    return sum(pages.upsert_pages(db, site, entries) for site, entries in by_site.items())


def register_site_pages(db, site) -> int:
    """Register every live page a Site serves, at its URLs there (after the Site's address or id changed)."""
    import swapper
    from wagtail.models import Site

    # Wagtail's own receiver clears its cache of the Sites' addresses on the same signal, maybe after this one.
    Site.clear_site_root_paths_cache()
    page_model = swapper.load_model("wagtailcore", "Page")
    live = page_model.objects.live().descendant_of(site.root_page, inclusive=True).specific().iterator(chunk_size=500)
    return register_pages(db, live)
