"""Wagtail ``Site`` records → the collector's site registry, so that nothing needs ``darksocial site add``.

A site's id is its setting ``site_id``, else its hostname; its origins come from the ``Site`` records of that id.
A site on port 80 or 443 is usually served over HTTPS behind a proxy, so both schemes are allowed for it. A Site
that changes its id (hostname, site id setting) or is deleted gives its old id up: the collector stops taking it
once no Site has it (its past events and reports stay).
"""

from __future__ import annotations

from darksocial import sites, store
from darksocial.collector import normalise_origin

from .database import open_database


def origins_of(site) -> list[str]:
    host = site.hostname
    if site.port in (80, 443):
        candidates = [f"http://{host}", f"https://{host}"]
    else:
        candidates = [f"http://{host}:{site.port}", f"https://{host}:{site.port}"]
    return sorted({origin for origin in map(normalise_origin, candidates) if origin})


def register_site(db, site, leaving=None) -> str:
    """Register ``site`` (a Wagtail Site) with the origins of every Site of its id, but ``leaving`` (being
    deleted); returns the id."""
    from wagtail.models import Site

    from .models import DarkSocialSettings

    config = DarkSocialSettings.for_site(site)
    site_id = config.darksocial_site()
    # Sites that share an id (two ports of one hostname, neither with a site id of its own) share its origins:
    # registering one must not turn the other's events away.
    sharing = [other for other in Site.objects.exclude(pk__in={site.pk, getattr(leaving, "pk", None)} - {None})
               if DarkSocialSettings.for_site(other).darksocial_site() == site_id]
    origins = sorted({origin for each in (site, *sharing) for origin in origins_of(each)})
    store.register_site(db, site_id, origins, respect_dnt=config.respect_dnt, name=site.site_name or site_id)
    return site_id


def stored_site_id(stored) -> str | None:
    """The collector site id of ``stored``, a Site as the database holds it before a change being saved (None: a
    new Site)."""
    from .models import DarkSocialSettings

    if stored is None:
        return None
    config = DarkSocialSettings.objects.filter(site=stored).first()
    return (config and config.collector_site_id) or stored.hostname


def release_site_id(db, site_id: str, leaving=None) -> None:
    """After a Site changed its id or went (``leaving``): the Sites still of ``site_id`` register it again with
    their origins alone; with none left, the collector stops taking its events (its past stays)."""
    from wagtail.models import Site

    from .models import DarkSocialSettings

    remaining = [site for site in Site.objects.exclude(pk=getattr(leaving, "pk", None))
                 if DarkSocialSettings.for_site(site).darksocial_site() == site_id]
    if remaining:
        register_site(db, remaining[0], leaving=leaving)
    elif site_id in {row["site"] for row in sites.list_sites(db)}:
        sites.remove_site(db, site_id)


def register_all_sites() -> list[str]:
    from wagtail.models import Site

    with open_database() as db:
        return [register_site(db, site) for site in Site.objects.all()]
