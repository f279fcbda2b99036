"""Wagtail ``Site`` records → the collector's site registry, so that nothing needs ``darksocial site add``.

A site's id is its setting ``site_id``, else its hostname; its origins come from the ``Site`` records of that id.
A site on port 80 or 443 is usually served over HTTPS behind a proxy, so both schemes are allowed for it.
"""

from __future__ import annotations

from darksocial import store
from darksocial.collector import normalise_origin

from .database import open_database


def origins_of(site) -> list[str]:
    host = site.hostname
    if site.port in (80, 443):
        candidates = [f"http://{host}", f"https://{host}"]
    else:
        candidates = [f"http://{host}:{site.port}", f"https://{host}:{site.port}"]
    return sorted({origin for origin in map(normalise_origin, candidates) if origin})


def register_site(db, site) -> str:
    from wagtail.models import Site

    from .models import DarkSocialSettings

    config = DarkSocialSettings.for_site(site)
    site_id = config.darksocial_site()
    # Sites that share an id (two ports of one hostname, neither with a site id of its own) share its origins:
    # registering one must not turn the other's events away.
    sharing = [other for other in Site.objects.exclude(pk=site.pk)
               if DarkSocialSettings.for_site(other).darksocial_site() == site_id]
    origins = sorted({origin for each in (site, *sharing) for origin in origins_of(each)})
    store.register_site(db, site_id, origins, respect_dnt=config.respect_dnt, name=site.site_name or site_id)
    return site_id


def register_all_sites() -> list[str]:
    from wagtail.models import Site

    with open_database() as db:
        return [register_site(db, site) for site in Site.objects.all()]
