"""Pseudonymous visitor ids for cookieless mode, from a salt that rotates daily.

In cookieless mode the tracker sends no visitor id. The server derives one from
sha256(salt of the day, site, IP, user agent), truncated: the same browser on
the same network gets the same id for the rest of the (UTC) day, and a
different one the next day. The salt is random, lives only in its own file
beside the database (``<database>-salts``, see :class:`darksocial.store.SaltStore`:
never served by Datasette, so not even an analyst reads it) and is overwritten
once it is more than 48 hours old, after which nobody (not even the site owner)
can link an id back to an IP address. The IP and the user agent are inputs to
the hash and are never stored.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets

PSEUDONYM_LENGTH = 20  # hex characters: 80 bits, and a valid visitor id for darksocial.events
SALT_LIFETIME = dt.timedelta(hours=48)


def new_salt() -> str:
    return secrets.token_hex(32)


def salt_day(now: dt.datetime) -> str:
    """The UTC day a salt belongs to, 'YYYY-MM-DD'."""
    return now.astimezone(dt.timezone.utc).date().isoformat()


def oldest_day_to_keep(now: dt.datetime) -> str:
    """Salts of days before this one are more than 48 hours old (a day's salt is born at its midnight)."""
    return salt_day(now - SALT_LIFETIME + dt.timedelta(days=1))


def pseudonym(salt: str, site: str, ip: str, user_agent: str) -> str:
    # NUL separators: no field can contain one, so no two inputs collide by shifting a boundary.
    material = "\0".join((salt, site, ip, user_agent)).encode("utf-8", "surrogatepass")
    return hashlib.sha256(material).hexdigest()[:PSEUDONYM_LENGTH]
