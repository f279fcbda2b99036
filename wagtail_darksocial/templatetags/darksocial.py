"""``{% load darksocial %}{% darksocial_head %}`` … ``{% darksocial_share_bar %}``: place the tags yourself.

A page whose template uses either tag is not injected automatically (never two bars). On a page an editor opted
out, or on a site whose setting is off, both render nothing.
"""

from __future__ import annotations

from django import template
from django.utils.safestring import mark_safe

from darksocial import inject

from .. import tracking

register = template.Library()


def _setup(context):
    request = context.get("request")
    # A preview (the editor's panel, "view draft") is no visit: nothing is tracked, as automatic injection does.
    if request is None or getattr(request, "is_preview", False):
        return None
    setattr(request, tracking.TAGS_USED, True)
    page = context.get("page")
    # The Site serving the request, as automatic injection uses: a page under two Sites (a section that is also
    # the root of another) is tracked as the one the visitor came to, with its origins and settings.
    site = tracking.current_site(request)
    if site is None and hasattr(page, "get_site"):
        site = page.get_site()
    if site is None:
        return None
    config = tracking.active_settings(site, page)
    if config is None:
        return None
    return request, page, site, config


@register.simple_tag(takes_context=True)
def darksocial_head(context):
    found = _setup(context)
    if found is None:
        return ""
    request, _page, site, config = found
    identity = tracking.identity_tag(request, config)
    if identity:
        setattr(request, tracking.PERSONAL, True)
    return mark_safe(inject.head_tags(tracking.tracker_config(config, site)) + identity)  # noqa: S308 (escaped)


@register.simple_tag(takes_context=True)
def darksocial_share_bar(context):
    found = _setup(context)
    if found is None:
        return ""
    request, page, site, config = found
    if page is not None and hasattr(page, "get_full_url"):
        url, title = tracking.page_full_url(page, site, request), tracking.page_title(page)
    else:
        url, title = request.build_absolute_uri(), str(context.get("title", ""))
    return mark_safe(inject.share_bar(tracking.tracker_config(config, site), url, title))  # noqa: S308 (escaped)
