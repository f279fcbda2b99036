"""The page manifest: the pages a static-site build published, so that reports have titles before any visit.

A build (the MkDocs plugin) writes it; ``darksocial import-pages`` loads it into the ``pages`` table. Format,
UTF-8 JSON::

    {
      "format": "darksocial-pages", "version": 1,
      "site": "example.org",                      # site id, as in every event's "s"
      "site_url": "https://example.org/",         # null when the site was built without one
      "pages": [
        {"url": "https://example.org/stories/x/", # canonical URL; root-relative ("/stories/x/") without site_url
         "title": "…", "description": "…" | null, "date": "2024-05-01" | "2024-05-01T09:30:00" | null}
      ]
    }

The URL is the one the tracker reports for a view (origin + path), so pages and events join on (site, url).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import pathlib
import tempfile
from dataclasses import asdict, dataclass
from urllib.parse import urlsplit

from . import store, urls
from .events import MAX_TITLE, MAX_URL, SITE_RE

FORMAT = "darksocial-pages"
VERSION = 1
MAX_DESCRIPTION = 1000


class ManifestError(ValueError):
    """A manifest that cannot be written or loaded; the message names the problem and the fix."""


@dataclass(frozen=True)
class PageEntry:
    url: str
    title: str
    description: str | None = None
    date: str | None = None  # ISO-8601 date or date-time


@dataclass(frozen=True)
class Manifest:
    site: str
    pages: tuple[PageEntry, ...]
    site_url: str | None = None


def clean_text(value: object, limit: int) -> str | None:
    """One line of text, whitespace collapsed, cut to ``limit`` characters (an ellipsis marks the cut)."""
    if value is None:
        return None
    text = " ".join(str(value).split())
    if len(text) > limit:
        text = text[: limit - 1].rstrip() + "…"
    return text or None


def iso_date(value: object) -> str | None:
    """A front-matter date as ISO-8601 text, or None when it is not one.

    YAML gives ``date``/``datetime`` objects for unquoted dates and strings for quoted ones; the Material blog
    nests them (``date: {created: …}``).
    """
    if isinstance(value, dict):
        value = value.get("created")
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, str):
        text = value.strip()
        for parse in (dt.date.fromisoformat, dt.datetime.fromisoformat):
            try:
                return parse(text).isoformat()
            except ValueError:
                continue
    return None


def write_manifest(path: str | os.PathLike, manifest: Manifest) -> None:
    """Write atomically (a reader never sees half a file), pages sorted by URL so rebuilds diff cleanly."""
    data = {
        "format": FORMAT,
        "version": VERSION,
        "site": manifest.site,
        "site_url": manifest.site_url,
        "pages": [asdict(page) for page in sorted(manifest.pages, key=lambda page: page.url)],
    }
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".darksocial-pages.", dir=path.parent)
    try:
        # mkstemp makes the file owner-only; the manifest is published with the site (and read by whoever
        # imports it): as readable as the folder it is written into, as the site's pages are. (Not through the
        # umask: reading it means setting it, for every thread of the process.)
        os.fchmod(fd, path.parent.stat().st_mode & 0o666)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(data, out, ensure_ascii=False, indent=1)
            out.write("\n")
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def read_manifest(path: str | os.PathLike) -> Manifest:
    """Load and validate a manifest; every problem is a ManifestError naming the field."""
    path = pathlib.Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ManifestError(f"{path}: no such file (an MkDocs build with the darksocial plugin writes it)") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ManifestError(f"{path}: not a JSON page manifest ({exc})") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ManifestError(f"{path}: not a darksocial page manifest (expected \"format\": \"{FORMAT}\")")
    if data.get("version") != VERSION:
        raise ManifestError(f"{path}: manifest version {data.get('version')!r}; this darksocial reads {VERSION}")
    site = data.get("site")
    if not isinstance(site, str) or not SITE_RE.fullmatch(site):
        raise ManifestError(f"{path}: site must be a site id (letters, digits, . _ : -); got {site!r}")
    site_url = data.get("site_url")
    if site_url is not None and not _is_http_url(site_url):
        raise ManifestError(f"{path}: site_url must be an absolute http(s) URL or null; got {site_url!r}")
    pages = data.get("pages")
    if not isinstance(pages, list):
        raise ManifestError(f"{path}: pages must be a list")
    return Manifest(site=site, site_url=site_url, pages=tuple(_page(path, i, p) for i, p in enumerate(pages)))


def _page(path: pathlib.Path, index: int, item: object) -> PageEntry:
    where = f"{path}: pages[{index}]"
    if not isinstance(item, dict):
        raise ManifestError(f"{where} must be an object")
    unknown = set(item) - {"url", "title", "description", "date"}
    if unknown:
        raise ManifestError(f"{where} has unknown field(s): {', '.join(sorted(unknown))}")
    url = item.get("url")
    if not isinstance(url, str) or len(url) > MAX_URL or not (url.startswith("/") or _is_http_url(url)):
        raise ManifestError(f"{where}.url must be an http(s) URL or a root-relative path; got {url!r}")
    title = item.get("title")
    if not isinstance(title, str) or not title.strip() or len(title) > MAX_TITLE:
        raise ManifestError(f"{where}.title must be text of 1-{MAX_TITLE} characters; got {title!r}")
    description = item.get("description")
    if description is not None and (not isinstance(description, str) or len(description) > MAX_DESCRIPTION):
        raise ManifestError(f"{where}.description must be text of at most {MAX_DESCRIPTION} characters or null")
    date = item.get("date")
    if date is not None and (not isinstance(date, str) or iso_date(date) is None):
        raise ManifestError(f"{where}.date must be an ISO-8601 date or date-time or null; got {date!r}")
    return PageEntry(url=url, title=title, description=description, date=date)


def _is_http_url(value: object) -> bool:
    if not isinstance(value, str):
        return False
    try:
        parts = urlsplit(value)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname) and urls.ascii_host(parts.hostname) is not None


def import_pages(db, manifest_path: str | os.PathLike, *, base_url: str | None = None) -> Manifest:
    """Upsert the manifest's pages into ``db``'s ``pages`` table (a sqlite_utils Database from store.open_db).

    ``base_url`` is the address the site is served at: root-relative URLs (a build without ``site_url``) are
    resolved against it (without it they could never match a view, so that is an error), and absolute URLs
    under the manifest's ``site_url`` are moved under it. Pages missing from the
    manifest are kept: past visits still need their titles. Returns the manifest as imported.
    """
    manifest = read_manifest(manifest_path)
    if base_url is not None and not _is_http_url(base_url):
        raise ManifestError(f"--base-url must be an absolute http(s) URL like https://example.org/; got {base_url!r}")
    rules = store.site_url_rules(db, manifest.site)
    base = (base_url or manifest.site_url or "").rstrip("/")
    built = (manifest.site_url or "").rstrip("/")
    pages = []
    for page in manifest.pages:
        url = page.url
        if url.startswith("/"):
            if not base:
                raise ManifestError(
                    f"{manifest_path}: page URLs are root-relative ({url}) because the site was built without "
                    "site_url: set site_url in mkdocs.yml, or pass --base-url https://your.site/"
                )
            url = base + url
        elif base_url is not None and built and url.startswith(built + "/"):
            url = base + url[len(built):]  # the same build served elsewhere (a staging host, the demo)
        if _is_http_url(url):  # as the collector keys the page's visits (upsert_pages refuses any other)
            url = urls.canonical_url(url, *rules)[0]
        pages.append(PageEntry(url, page.title, page.description, page.date))
    upsert_pages(db, manifest.site, pages)
    return Manifest(site=manifest.site, site_url=manifest.site_url, pages=tuple(pages))


def upsert_pages(db, site: str, entries) -> int:
    """Insert or update the ``pages`` rows of ``site`` (PageEntry objects with absolute URLs), in one transaction;
    returns how many. The one writer of the table: the manifest import and the Wagtail app both come here."""
    if not isinstance(site, str) or not SITE_RE.fullmatch(site):
        raise ManifestError(f"site must be a site id (letters, digits, . _ : -); got {site!r}")
    imported = store.utc_timestamp()
    rows = [{"site": site, "imported": imported, **asdict(entry)} for entry in entries]
    for row in rows:
        if not _is_http_url(row["url"]):
            raise ManifestError(f"page url must be an absolute http(s) URL; got {row['url']!r}")
    if rows:
        with db.conn:
            db["pages"].upsert_all(rows, pk=("site", "url"))
    return len(rows)


def registration_warnings(db, manifest: Manifest) -> list[str]:
    """Why the collector would refuse the views of these pages: the site is not registered, or none of the pages
    is on one of its origins. Each message names the fix."""
    from .collector import normalise_origin

    conn = getattr(db, "conn", db)
    row = conn.execute("SELECT origins FROM sites WHERE site = ?", (manifest.site,)).fetchone()
    page_origins = sorted({normalise_origin("{0.scheme}://{0.netloc}".format(urlsplit(page.url)))
                           for page in manifest.pages if _is_http_url(page.url)} - {None})
    example = page_origins[0] if page_origins else "https://your.site"
    if row is None:
        return [f"site {manifest.site!r} is not registered, so the collector refuses its events: "
                f"darksocial site add {manifest.site} --origin {example} DB"]
    origins = {normalise_origin(origin) for origin in json.loads(row[0] or "[]")}
    if page_origins and not origins.intersection(page_origins):
        return [f"no page is on an origin of site {manifest.site!r} ({', '.join(sorted(o for o in origins if o))}), "
                f"so the collector refuses their views: darksocial site add {manifest.site} "
                + " ".join(f"--origin {o}" for o in sorted({*origins, *page_origins} - {None})) + " DB"]
    return []
