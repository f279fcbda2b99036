"""The MkDocs plugin: adds the tracker files to the build, the share bar and tracker tags to every page, and
writes the page manifest at the end of the build. The markup itself comes from the core (darksocial.inject).

Page URLs: the share bar links to the page's canonical URL (``site_url`` + the page's URL). Without
``site_url`` MkDocs cannot know the site's address, so the plugin needs the ``site`` option for the site id
(else the build fails), and the links carry root-relative paths (``/stories/x/``) that share services cannot
open; the plugin warns (a ``--strict`` build fails) and the manifest records the same paths, which
``darksocial import-pages --base-url`` resolves.

In-page navigation (Material's ``navigation.instant``) needs nothing here: the tracker sends a view per
navigation, and the share bar, inside the page content, is swapped in with it.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import html
import os
import pathlib
import re
from urllib.parse import urlsplit

from mkdocs.exceptions import PluginError
from mkdocs.plugins import BasePlugin, event_priority, get_plugin_logger
from mkdocs.structure.files import File, Files
from mkdocs.utils import get_relative_url

from darksocial import inject, pages
from darksocial.collector import normalise_origin

from .config import DarksocialConfig

log = get_plugin_logger(__name__)

ASSET_DIR = "assets/darksocial"
SCRIPT = f"{ASSET_DIR}/darksocial.js"
STYLESHEET = f"{ASSET_DIR}/darksocial.css"
# The site's own not-found page (MkDocs writes it as 404.html, served for every missing URL): no story to share.
NOT_FOUND_PAGE = "404.md"
COLLECTOR_EXAMPLE = """
  plugins:
    - darksocial:
        collector: https://stats.example.org/-/darksocial/collect"""

# Material's instant navigation swaps only the page container: a share bar placed after it keeps the first
# page's links.
BODY_END_INSTANT_WARNING = (
    "position 'body-end' puts the share bar outside the content that Material's navigation.instant swaps, so "
    "after an instant navigation it would share the first page: use position 'after-h1' or 'content-end'."
)


class DarksocialPlugin(BasePlugin[DarksocialConfig]):
    def __init__(self) -> None:
        self.tracker: inject.TrackerConfig | None = None
        self._trackers: dict[tuple[str, str], inject.TrackerConfig] = {}
        self._pages: dict[str, pages.PageEntry] = {}
        self._dirty = False
        # Builds under way: the i18n plugin builds each further language inside the first build's on_post_build,
        # and the manifest lists the pages of all of them.
        self._builds = 0

    def on_startup(self, *, command: str, dirty: bool) -> None:
        self._dirty = dirty

    # After other plugins' on_config (the i18n plugin's, at -100, sets the language's site_name).
    @event_priority(-110)
    def on_config(self, config):
        if not self.config.enabled:
            return
        collector = (self.config.collector or "").strip()
        if not collector:
            raise PluginError(
                "darksocial: the 'collector' option is required: set it to the URL of your reporting server's "
                f"collector, for example:{COLLECTOR_EXAMPLE}"
            )
        site = self.config.site or urlsplit(config.site_url or "").hostname
        if site and not site.isascii() and not self.config.site:
            # An internationalised domain: the site id is its ASCII (punycode) form, as browsers send its Origin.
            origin = normalise_origin(f"https://{site}")
            if origin is None:
                raise PluginError(f"darksocial: site_url's host {site!r} is no domain name: set site_url to the "
                                  "address the site is published at, or the plugin's 'site' option")
            site = origin.split("://", 1)[1]
        if not site:
            raise PluginError(
                "darksocial: no site id: set 'site_url' in mkdocs.yml (its host becomes the site id) or the "
                "plugin's 'site' option (for example  site: example.org)"
            )
        if not config.site_url:
            log.warning(
                "site_url is not set: share links will carry root-relative paths that share services cannot "
                "open. Set site_url in mkdocs.yml to the address the site is published at."
            )
        material = config.theme.name == "material"
        if material and "navigation.instant" in (config.theme.get("features") or ()) and (
            self.config.position == "body-end"
        ):
            log.warning(BODY_END_INSTANT_WARNING)
        options = self.config
        manifest = pathlib.PurePath(options.manifest)
        if options.manifest and (manifest.is_absolute() or ".." in manifest.parts):
            raise PluginError(f"darksocial: 'manifest' is a path inside site_dir, written with the site; got "
                              f"{options.manifest!r}: give a relative path without '..' (or '' for no manifest), "
                              "and copy the file on from there")
        try:
            self.tracker = inject.TrackerConfig(
                collector=collector,
                site=site,
                script_url=SCRIPT,
                css_url=STYLESHEET,
                channels=tuple(options.channels),
                position=options.position,
                copy_tracking=options.copy_tracking,
                address_bar=options.address_bar,
                address_bar_home=options.address_bar_home,
                home_path=urlsplit(config.site_url or "").path or "/",
                cookieless=options.cookieless,
                respect_dnt=options.respect_dnt,
                query_mode=options.query_mode,
                site_name=config.site_name,
                style=options.style or ("icons" if material else "text"),
                strip_params=tuple(options.strip_params),
            )
        except inject.InjectError as exc:
            raise PluginError(f"darksocial: {exc}") from None
        self._trackers.clear()
        if not self._builds:
            self._pages.clear()
        self._builds += 1

    def on_files(self, files: Files, *, config) -> Files | None:
        if not self.config.enabled:
            return None
        for src_uri in (SCRIPT, STYLESHEET):
            if files.get_file_from_path(src_uri) is not None:
                log.info(f"using {src_uri} from docs_dir instead of the bundled file")
                continue
            files.append(_asset(config, src_uri))
        return files

    def on_post_page(self, output: str, *, page, config) -> str | None:
        if not self.config.enabled or page.meta.get("darksocial") is False or self._excluded(page.file.src_uri) \
                or page.file.src_uri == NOT_FOUND_PAGE:
            return output
        # The manifest names a page as the collector keys it (…/index.html is its folder's page).
        url = inject.canonical_page_url(page.canonical_url or "/" + page.url, self.tracker)
        title = _plain_text(page.title or "") or config.site_name
        result = inject.inject(output, self._tracker_for(page.url), url, title)
        if result != output:  # else a theme opted the page out with <meta name="darksocial" content="off">
            self._pages[url] = (
                pages.PageEntry(
                    url=url,
                    title=pages.clean_text(title, pages.MAX_TITLE),
                    description=pages.clean_text(
                        page.meta.get("description") or config.site_description, pages.MAX_DESCRIPTION
                    ),
                    date=pages.iso_date(page.meta.get("date")),
                )
            )
        return result

    @event_priority(-110)  # after the i18n plugin's, which builds the other languages
    def on_post_build(self, *, config) -> None:
        if not self.config.enabled:
            return
        self._builds -= 1
        if self._builds or not self.config.manifest:
            return
        if self._dirty:  # only the changed pages were built: a manifest of those would drop the others
            log.info("dirty build: the page manifest is left as it was")
            return
        path = os.path.join(config.site_dir, self.config.manifest)
        pages.write_manifest(path, pages.Manifest(site=self.tracker.site, site_url=config.site_url or None,
                                                  pages=tuple(self._pages.values())))
        log.debug(f"wrote {len(self._pages)} pages to {path}")

    def on_build_error(self, *, error: Exception) -> None:
        self._builds = 0  # the next build (mkdocs serve goes on) starts a new manifest

    def _excluded(self, src_uri: str) -> bool:
        return any(fnmatch.fnmatchcase(src_uri, pattern) for pattern in self.config.exclude)

    def _tracker_for(self, page_url: str) -> inject.TrackerConfig:
        """The tracker configuration with asset URLs relative to the page, so the site works under any path."""
        key = (get_relative_url(SCRIPT, page_url), get_relative_url(STYLESHEET, page_url))
        tracker = self._trackers.get(key)
        if tracker is None:
            tracker = self._trackers[key] = dataclasses.replace(self.tracker, script_url=key[0], css_url=key[1])
        return tracker


def _plain_text(title: str) -> str:
    """MkDocs titles are HTML (themes print them unescaped; 1.6 escapes ``&``, 1.5 keeps inline tags as typed);
    share text is what the reader sees."""
    return " ".join(html.unescape(re.sub(r"<[^>]*>", "", title)).split())


def _asset(config, src_uri: str) -> File:
    """A bundled tracker file as a build file: copied by ``mkdocs build``, served by ``mkdocs serve``."""
    source = str(inject.STATIC_DIR / os.path.basename(src_uri))
    if hasattr(File, "generated"):  # MkDocs >= 1.6
        return File.generated(config, src_uri, abs_src_path=source)
    file = File(src_uri, str(inject.STATIC_DIR), config.site_dir, config.use_directory_urls)
    file.abs_src_path = source  # MkDocs 1.5 joins src_dir and src_uri; the bundled file has no assets/ folder
    return file
