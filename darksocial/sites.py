"""The sites the collector accepts events from: listing and removing them (``store.register_site`` adds them)."""

from __future__ import annotations

import json


class SiteError(ValueError):
    """A site that is not registered; the message names the registered ones."""


def list_sites(db) -> list[dict]:
    """Every registered site with its origins (a list) and how many events it has sent, by site id."""
    conn = getattr(db, "conn", db)
    rows = conn.execute("SELECT site, name, origins, respect_dnt, created FROM sites ORDER BY site").fetchall()
    counts = dict(conn.execute("SELECT site, count(*) FROM events GROUP BY site").fetchall())
    return [{"site": site, "name": name, "origins": json.loads(origins or "[]"), "respect_dnt": bool(respect_dnt),
             "created": created, "events": counts.get(site, 0)} for site, name, origins, respect_dnt, created in rows]


def remove_site(db, site: str) -> dict:
    """Unregister ``site``: the collector refuses its events from then on (within seconds). Its past events, pages,
    ambassador links and the analyst tables built from them stay; ``store.register_site`` brings it back."""
    conn = getattr(db, "conn", db)
    known = {row["site"]: row for row in list_sites(db)}
    if site not in known:
        raise SiteError(f"no site {site!r} is registered; registered: {', '.join(sorted(known)) or 'none'}"
                        " (see `darksocial site list DB`)")
    with conn:
        conn.execute("DELETE FROM sites WHERE site = ?", (site,))
    return known[site]
