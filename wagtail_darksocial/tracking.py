"""Which responses get the share bar and the tracker, and with which configuration.

Only pages Wagtail serves pass through here (the ``on_serve_page`` hook in ``wagtail_hooks``): the admin,
documents, images, the API, sitemaps and redirects never do. Of those, only a 200 ``text/html`` response that is
not streamed is touched, once, after its template has rendered, by ``darksocial.inject`` (which splices into the
original markup and is idempotent). A page whose template places the tags itself, a page an editor opted out,
and a site whose setting is off are left byte for byte as Wagtail rendered them.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import html
import logging
import time
from dataclasses import dataclass

from django.conf import settings as django_settings
from django.core.exceptions import DisallowedHost
from django.urls import reverse
from django.utils.cache import patch_cache_control, patch_vary_headers

from darksocial import inject
from darksocial.collector import normalise_origin

from .models import DarkSocialSettings, PageOptOut, parse_channel_list
from .sites import origins_of

log = logging.getLogger(__name__)
TAGS_USED = "_darksocial_tags_used"  # request attribute set by the template tags: auto-injection steps aside
PERSONAL = "_darksocial_personal"  # request attribute set by the head tag when it names the signed-in user


def active_settings(site, page):
    """The site's settings when tracking is on for it and editors have not opted ``page`` out, else None."""
    state = site_state(site)
    # Only a Wagtail page can be opted out: a template's `page` may be anything (a paginator's page, a model).
    page_id = page.pk if hasattr(page, "get_site") else None
    if not state.settings.enabled or page_id in state.opted_out:
        return None
    return state.settings


def current_site(request):
    from wagtail.models import Site

    site = Site.find_for_request(request)  # cached on the request by Wagtail's own routing
    if site is not None:
        warn_if_served_elsewhere(site, request)
    return site


warned_sites: set[int] = set()


def warn_if_served_elsewhere(site, request) -> None:
    """Say (once per process and Site: the Host header is the client's to choose, so its variants are not counted)
    when a page is served at an address that is not its Site's: Wagtail
    serves the default Site for any hostname (a new project's is localhost:80, browsed at runserver's
    127.0.0.1:8000), and then share links point at the Site's address and the collector refuses the page's
    beacons, whose Origin is not one of the Site's. Nothing in the browser shows it."""
    try:
        origin = normalise_origin(f"{request.scheme}://{request.get_host()}")
    except DisallowedHost:
        return
    if site.pk in warned_sites or not origin or origin in origins_of(site):
        return
    warned_sites.add(site.pk)
    log.warning("darksocial: a page of the Site %r was served at %s, which is not the Site's address (%s): its "
                "share links point there, and the collector refuses its visitors' events (403 Origin). Set the "
                "Site's hostname and port under Settings → Sites to the address visitors use.",
                str(site), origin, site.root_url)


# Settings and opt-outs are read on every page view, and change rarely: each process keeps them for a short
# while (saving them here clears it at once; other worker processes follow within STATE_TTL seconds).
STATE_TTL = 2.0
_state: dict[int, SiteState] = {}


@dataclass(frozen=True)
class SiteState:
    settings: DarkSocialSettings
    opted_out: frozenset[int]
    read_at: float


def site_state(site) -> SiteState:
    state = _state.get(site.pk)
    if state is None or time.monotonic() - state.read_at > STATE_TTL:
        settings = DarkSocialSettings.for_site(site)
        settings.site = site
        opted_out = frozenset(PageOptOut.objects.values_list("page_id", flat=True))
        state = _state[site.pk] = SiteState(settings, opted_out, time.monotonic())
    return state


def forget_state(**kwargs) -> None:
    _state.clear()


@functools.lru_cache(maxsize=1)
def asset_versions() -> dict[str, str]:
    from .views import asset_path

    return {name: hashlib.sha256(asset_path(name).read_bytes()).hexdigest()[:10]
            for name in ("darksocial.js", "darksocial.css", "identify.js")}


@functools.lru_cache(maxsize=1)
def collect_url() -> str:
    return reverse("wagtail_darksocial:collect")


def asset_url(name: str) -> str:
    return f"{reverse('wagtail_darksocial:asset', args=[name])}?v={asset_versions()[name]}"


def tracker_config(config: DarkSocialSettings, site) -> inject.TrackerConfig:
    return _tracker_config(
        config.collector_url or collect_url(), config.darksocial_site(),
        parse_channel_list(config.channels), config.position, config.copy_tracking, config.address_bar,
        config.address_bar_home, config.cookieless, config.respect_dnt, config.query_mode, site.site_name or "",
    )


@functools.lru_cache(maxsize=64)
def _tracker_config(collector, site, channels, position, copy_tracking, address_bar, address_bar_home, cookieless,
                    respect_dnt, query_mode, site_name) -> inject.TrackerConfig:
    return inject.TrackerConfig(
        collector=collector, site=site, script_url=asset_url("darksocial.js"), css_url=asset_url("darksocial.css"),
        channels=channels, position=position, copy_tracking=copy_tracking, address_bar=address_bar,
        address_bar_home=address_bar_home, cookieless=cookieless, respect_dnt=respect_dnt, query_mode=query_mode,
        site_name=site_name,
    )


def external_id(user) -> str:
    """An opaque, stable id for a user account: an HMAC of its primary key under the site's SECRET_KEY."""
    digest = hmac.new(django_settings.SECRET_KEY.encode(), f"darksocial-user:{user.pk}".encode(), hashlib.sha256)
    return "user:" + digest.hexdigest()[:20]


def display_name(user, how: str) -> str:
    if how == "username":
        return user.get_username()
    if how == "full_name":
        return user.get_full_name() or user.get_username()
    return ""


def identity_tag(request, config: DarkSocialSettings) -> str:
    """The identify script for a signed-in user when the site opted in; '' otherwise."""
    user = getattr(request, "user", None)
    if not config.identify_users or user is None or not user.is_authenticated:
        return ""
    name = display_name(user, config.user_display_name)
    attributes = f' data-id="{html.escape(external_id(user))}"'
    if name:
        attributes += f' data-name="{html.escape(name[:200], quote=True)}"'
    return f'<script defer src="{html.escape(asset_url("identify.js"))}"{attributes}></script>'


def mark_personal(response) -> None:
    """A response naming the signed-in user must never be served from a shared cache to someone else."""
    patch_vary_headers(response, ["Cookie"])
    patch_cache_control(response, private=True)


def attach(response, page, request) -> None:
    """Arrange for ``response`` (a served page) to get the head tags and the share bar once it has rendered."""
    if response.status_code != 200 or response.streaming:
        return
    if not response.get("Content-Type", "").lower().startswith("text/html"):
        return
    site = current_site(request)
    if site is None:
        return
    config = active_settings(site, page)
    if config is None:
        return

    def add_tags(rendered):
        if getattr(request, TAGS_USED, False):
            if getattr(request, PERSONAL, False):
                mark_personal(rendered)
            return None
        try:
            tracker = tracker_config(config, site)
            text = rendered.content.decode(rendered.charset)
            out = inject.inject(text, tracker, page_url=page_full_url(page, site, request), title=page_title(page))
        except (inject.InjectError, UnicodeError, LookupError) as exc:  # LookupError: a charset Python lacks
            log.warning("darksocial: page %s served without the share bar: %s", page.pk, exc)
            return None
        identity = identity_tag(request, config)
        if identity:
            head = inject.head_tags(tracker)
            out = out.replace(head, head + identity, 1)
            mark_personal(rendered)
        if out != text:
            # A signed-in user's name, a title: what the page's charset cannot spell becomes a character reference.
            rendered.content = out.encode(rendered.charset, "xmlcharrefreplace")
            if rendered.has_header("Content-Length"):
                rendered["Content-Length"] = str(len(rendered.content))
        return None

    if getattr(response, "is_rendered", True):
        add_tags(response)
    else:
        response.add_post_render_callback(add_tags)


_full_urls: dict[tuple, str] = {}


def page_full_url(page, site, request) -> str:
    """``page.get_full_url(request)``, remembered per process for what it depends on (the page's path and
    locale, the site's address and root): Wagtail works it out anew on every request."""
    key = (page.pk, page.url_path, page.locale_id, site.pk, site.root_url, site.root_page_id)
    url = _full_urls.get(key)
    if url is None:
        url = page.get_full_url(request)
        if url is None:
            # Wagtail's cache of site roots can lag behind a Site added by another process (up to an hour): the
            # page is where the visitor asked for it, until Wagtail knows its address again (not remembered).
            return request.build_absolute_uri(request.path)
        if len(_full_urls) > 10_000:
            _full_urls.clear()
        _full_urls[key] = url
    return url


def page_title(page) -> str:
    return getattr(page, "seo_title", "") or page.title
