"""People's names on the reporting server: the analyst's label first, then the name from ``identify`` (a sharer's,
or the latest a person identified with who never shared) or the ambassador link, else a short id. Looked up per
cell, so remembered for a few seconds."""

from __future__ import annotations

import time

from darksocial import analysts

TTL = 10.0
MAX_CACHED = 5_000
_cache: dict[tuple[int, str, str], tuple[float, str | None]] = {}

NAME_SQL = f"""
select coalesce(
  (select nullif(name, '') from [{analysts.LABELS_TABLE}] where person = :person),
  (select name from influencers where person = :person),
  (select max(sharer_name) from shares where sharer = :person),
  (select name from _ds_identities where substr(:person, 1, 2) = 'x:' and external_id = substr(:person, 3)
     and name is not null order by ts desc limit 1)
) as name
"""


def short_id(person: str | None) -> str:
    """``v:ouyVTlWWkvPrhJCn`` → ``v:ouyVTl…``; ambassadors (a:Name) and short ids stay whole."""
    if not person:
        return "unknown"
    if person.startswith("a:") or len(person) <= 10:
        return person
    return person[:8] + "…"


async def display_name(datasette, db: str, person: str) -> str | None:
    key = (id(datasette), db, person)
    now = time.monotonic()
    hit = _cache.get(key)
    if hit is not None and hit[0] > now:
        return hit[1]
    try:
        result = await datasette.execute(db, NAME_SQL, {"person": person})
        name = result.first()[0]
    except Exception:  # before the first attribution run there are no tables to read names from
        name = None
    if len(_cache) >= MAX_CACHED:
        _cache.clear()
    _cache[key] = (now + TTL, name)
    return name


async def add_names(datasette, db: str, rows: list[dict], column: str, key: str = "display") -> list[dict]:
    """Set ``row[key]`` to the name to show for the person in ``row[column]``: their name, else a short id."""
    for row in rows:
        person = row.get(column)
        row[key] = (await display_name(datasette, db, person) if person else None) or short_id(person)
    return rows


def forget(person: str) -> None:
    """Drop cached names of ``person`` (after an analyst relabels them)."""
    for key in [k for k in _cache if k[2] == person]:
        _cache.pop(key, None)
