"""Ambassador-link snippets backed by ``darksocial.links``: the token is minted once, when the snippet is created."""

from __future__ import annotations

from django.core.exceptions import ValidationError

from darksocial import links

from .database import open_database, read_connection
from .sites import register_site


def mint_or_rename(link) -> None:
    if link.token:  # the token is already handed out (its page may be gone): only the name shown can change
        with open_database() as db:
            try:
                links.rename_link(db, link.token, link.name)
            except links.LinkError as exc:
                raise ValidationError(str(exc)) from None
        return
    if link.page is None:
        raise ValidationError("choose the page the link opens")
    page = link.page.specific_deferred if hasattr(link.page, "specific_deferred") else link.page
    site = page.get_site()
    if site is None:
        raise ValidationError("the page is not under any site's home page, so it has no address to share")
    with open_database() as db:
        site_id = register_site(db, site)
        try:
            link.token, link.url = links.create_link(db, link.name, page.full_url, site=site_id,
                                                     channel=link.channel or None)
        except links.LinkError as exc:
            raise ValidationError(str(exc)) from None


def link_reach(token: str) -> tuple[int, int]:
    """(visits, re-shares) credited to an ambassador link's token by the last attribution run."""
    if not token:
        return 0, 0
    with read_connection() as conn:
        row = conn.execute("SELECT clicks, reshares FROM shares WHERE token = ?", (token,)).fetchone()
    return (row[0] or 0, row[1] or 0) if row else (0, 0)
