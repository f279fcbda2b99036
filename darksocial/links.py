"""Ambassador links: a token minted ahead of time for a named person, stored in the `links` table."""

from __future__ import annotations

import json
from urllib.parse import urlsplit

from . import events, store, tokens, urls
from .channels import CHANNELS
from .collector import normalise_origin


class LinkError(ValueError):
    """Input that cannot make an ambassador link; the message names the fix."""


def _clean_name(name: str) -> str:
    name = " ".join((name or "").split())
    if not name or len(name) > events.MAX_NAME:
        raise LinkError(f"--name must be 1-{events.MAX_NAME} characters, like --name 'Rosa Diaz'")
    return name


def _site_for(db, url: str, site: str | None) -> str:
    conn = getattr(db, "conn", db)
    sites = {row[0]: json.loads(row[1] or "[]") for row in conn.execute("SELECT site, origins FROM sites")}
    parts = urlsplit(url)
    origin = normalise_origin(f"{parts.scheme}://{parts.netloc}")
    if site is not None:
        if sites and site not in sites:
            raise LinkError(f"unknown site {site!r}; known sites: {', '.join(sorted(sites))} "
                            "(add it with `darksocial site add`)")
        if site in sites and origin not in {normalise_origin(o) for o in sites[site]}:
            # The collector refuses events about pages on other origins: every visit through the link would be lost.
            raise LinkError(f"--url {url!r} is on none of site {site!r}'s origins ({', '.join(sites[site])}): "
                            f"give the URL of one of its pages, or register {origin} for it with `darksocial site "
                            f"add {site} --origin ...` (listing all of its origins)")
        return site
    matching = sorted(s for s, origins in sites.items() if origin in {normalise_origin(o) for o in origins})
    if len(matching) == 1:
        return matching[0]
    if not sites:
        raise LinkError("no site is registered: add one with `darksocial site add SITE --origin URL DB`, "
                        "or pass --site")
    raise LinkError(f"cannot tell which site {url!r} belongs to ({'several match' if matching else 'no origin matches'}"
                    f"): pass --site, one of {', '.join(sorted(sites))}")


def _canonical_page(db, url: str, site: str) -> str:
    """The page as the collector keys it: tracking and private parameters never ride along in a handed-out link."""
    try:
        page, _campaign = urls.canonical_url(url, *store.site_url_rules(db, site))
    except ValueError as error:
        raise LinkError(f"--url {url!r} is not a valid page URL ({error})") from None
    return page


def create_link(db, name: str, url: str, site: str | None = None, channel: str | None = None, *,
                token: str | None = None, created: str | None = None) -> tuple[str, str]:
    """Mint an ambassador link for ``name`` to the page ``url``; returns (token, the link to hand out).

    ``token`` and ``created`` (a ``store.utc_timestamp``) are for reproducible data such as the seeded demo;
    by default the token comes from a cryptographic random source and the time is now.
    """
    name = _clean_name(name)
    parts = urlsplit(url or "")
    if parts.scheme not in ("http", "https") or not parts.hostname or len(url) > events.MAX_URL:
        raise LinkError(f"--url must be the absolute http(s) URL of a page, like https://example.com/story; "
                        f"got {url!r}")
    if channel is not None and channel not in CHANNELS:
        raise LinkError(f"--channel {channel!r} is not a channel code; use one of {', '.join(CHANNELS)}")
    fragment = urlsplit(tokens.strip_from_url(url)).fragment
    if fragment:
        raise LinkError(f"--url {url!r} has a fragment (#{fragment}): the token travels in the "
                        "fragment, so give the page URL without it")
    site = _site_for(db, url, site)
    page = _canonical_page(db, url, site)
    if token is not None and not tokens.is_token(token):
        raise LinkError(f"{token!r} is not a token ({tokens.TOKEN_LENGTH} base62 characters)")
    token = token or tokens.mint()
    created = created or store.utc_timestamp()
    conn = getattr(db, "conn", db)
    conn.execute("INSERT INTO links (token, site, name, url, channel, created) VALUES (?, ?, ?, ?, ?, ?)",
                 (token, site, name, page, channel, created))
    conn.commit()
    return token, page + tokens.fragment(token, channel)


def list_links(db, site: str | None = None) -> list[dict]:
    """Every ambassador link, oldest first, with the link to hand out and its revocation time (None: active)."""
    conn = getattr(db, "conn", db)
    sql = "SELECT token, site, name, url, channel, created, revoked FROM links"
    rows = conn.execute(sql + (" WHERE site = ?" if site else "") + " ORDER BY created, token",
                        (site,) if site else ()).fetchall()
    columns = ("token", "site", "name", "url", "channel", "created", "revoked")
    return [{**dict(zip(columns, row, strict=True)), "link": row[3] + tokens.fragment(row[0], row[4])}
            for row in rows]


def revoke_link(db, token_or_link: str) -> dict:
    """Mark an ambassador link revoked, now; returns its row. Given a token or the whole link.

    What it does, exactly: the link stays in ``links`` with the time in ``revoked`` (``darksocial link list``
    shows it), nothing is deleted, and every visit it brought until then stays credited to its ambassador. From
    then on (within the collector's few-second cache of sites and links) the collector stores a visit through the
    link without its token: it keeps the link's channel, if any, and credits nobody.
    """
    value = (token_or_link or "").strip()
    try:
        ref = tokens.from_url(value) if "://" in value else tokens.parse_value(value)
    except tokens.TokenError:
        ref = None
    token = ref.token if ref else None
    conn = getattr(db, "conn", db)
    row = conn.execute("SELECT name, revoked FROM links WHERE token = ?", (token,)).fetchone() if token else None
    if row is None:
        raise LinkError(f"no ambassador link has the token {token or value!r}: give a token or link from "
                        "`darksocial link list DB`")
    if row[1] is not None:
        raise LinkError(f"the link {token} of {row[0]} was already revoked at {row[1]}")
    with conn:
        conn.execute("UPDATE links SET revoked = ? WHERE token = ?", (store.utc_timestamp(), token))
    return next(link for link in list_links(db) if link["token"] == token)


def rename_link(db, token: str, name: str) -> str:
    """Change the name an ambassador link credits (the token, already handed out, stays); returns the name as
    stored. The name is checked as create_link checks it; an unknown token is a LinkError."""
    name = _clean_name(name)
    conn = getattr(db, "conn", db)
    with conn:
        # The row moves to the end of the table: an incremental attribution run takes the links past its
        # high-water mark as new, and so rebuilds what this one credits under its new name.
        renamed = conn.execute("UPDATE links SET name = ?, rowid = (SELECT MAX(rowid) + 1 FROM links) "
                               "WHERE token = ?", (name, token)).rowcount
    if not renamed:
        raise LinkError(f"no ambassador link has the token {token!r}: give a token from `darksocial link list DB`")
    return name
