"""Wagtail hooks: the share bar on served pages, the "Dark social" admin menu, its URLs and permission, the
ambassador-link snippets and the page buttons that open a page's figures and opt-out."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.models import Permission
from django.urls import include, path, reverse
from wagtail import hooks
from wagtail.admin.menu import Menu, MenuItem, SubmenuMenuItem
from wagtail.admin.widgets import Button
from wagtail.snippets.models import register_snippet
from wagtail.snippets.views.snippets import SnippetViewSet

from . import admin_views, tracking
from .models import AmbassadorLink


# order=10: inside Wagtail's view-restriction wrapper (order 0), so a password or login page is left alone.
@hooks.register("on_serve_page", order=10)
def add_share_bar(serve_next):
    def serve(page, request, args, kwargs):
        response = serve_next(page, request, args, kwargs)
        tracking.attach(response, page, request)
        return response

    return serve


admin_urlpatterns = [
    path("top-influencers/", admin_views.TopInfluencersView.as_view(), name="top_influencers"),
    path("top-influencers/results/", admin_views.TopInfluencersView.as_view(results_only=True),
         name="top_influencers_results"),
    path("top-stories/", admin_views.TopStoriesView.as_view(), name="top_stories"),
    path("top-stories/results/", admin_views.TopStoriesView.as_view(results_only=True), name="top_stories_results"),
    path("channel-mix/", admin_views.ChannelMixView.as_view(), name="channel_mix"),
    path("channel-mix/results/", admin_views.ChannelMixView.as_view(results_only=True), name="channel_mix_results"),
    path("influencer/", admin_views.InfluencerView.as_view(), name="influencer"),
    path("influencer/results/", admin_views.InfluencerView.as_view(results_only=True), name="influencer_results"),
    path("cascade/", admin_views.CascadeView.as_view(), name="cascade"),
    path("cascade/results/", admin_views.CascadeView.as_view(results_only=True), name="cascade_results"),
    path("page/<int:page_id>/", admin_views.PageFiguresView.as_view(), name="page"),
    path("attribute/", admin_views.run_attribution, name="run_attribution"),
]


@hooks.register("register_admin_urls")
def register_admin_urls():
    namespace = "wagtail_darksocial_admin"
    return [path("darksocial/", include((admin_urlpatterns, namespace), namespace=namespace))]


@hooks.register("register_permissions")
def register_permissions():
    return Permission.objects.filter(content_type__app_label="wagtail_darksocial", codename="view_reports")


class ReportMenuItem(MenuItem):
    def is_shown(self, request):
        return request.user.has_perm(admin_views.PERMISSION)


class LinksMenuItem(MenuItem):
    def is_shown(self, request):
        return any(request.user.has_perm(f"wagtail_darksocial.{action}_ambassadorlink")
                   for action in ("add", "change", "delete", "view"))


class ExternalReportsMenuItem(ReportMenuItem):
    """Links to the Datasette reports at ``DARKSOCIAL_REPORTS_URL`` (read on each request, not at start-up)."""

    @property
    def url(self):
        return getattr(settings, "DARKSOCIAL_REPORTS_URL", "") or "#"

    @url.setter
    def url(self, value):
        pass

    def is_shown(self, request):
        return bool(getattr(settings, "DARKSOCIAL_REPORTS_URL", "")) and super().is_shown(request)


class AmbassadorLinkViewSet(SnippetViewSet):
    model = AmbassadorLink
    icon = "link"
    add_to_admin_menu = False
    url_prefix = "darksocial/links"
    list_display = ["name", "page", "channel", "url", "visits", "reshares"]
    list_export = ["name", "url", "channel", "visits", "reshares"]
    search_fields = ["name"]


@hooks.register("register_admin_menu_item")
def register_menu():
    def report(name):
        return reverse(f"wagtail_darksocial_admin:{name}")

    items = [
        ReportMenuItem("Top influencers", report("top_influencers"), icon_name="user", order=100),
        ReportMenuItem("Top stories", report("top_stories"), icon_name="doc-full", order=200),
        ReportMenuItem("Channel mix", report("channel_mix"), icon_name="list-ul", order=300),
        LinksMenuItem("Ambassador links", reverse(links_viewset.get_url_name("list")), icon_name="link", order=400),
        ExternalReportsMenuItem("All reports (Datasette)", "#", icon_name="link-external", order=500),
    ]
    return SubmenuMenuItem("Dark social", Menu(items=items), icon_name="crosshairs", name="darksocial", order=850)


def _page_button(page, user):
    if page.depth <= 1:
        return
    if user.has_perm(admin_views.PERMISSION) or page.permissions_for_user(user).can_edit():
        yield Button("Dark social", reverse("wagtail_darksocial_admin:page", args=[page.pk]), icon_name="crosshairs",
                     priority=90)


@hooks.register("register_page_header_buttons")
def page_header_buttons(page, user, view_name=None, next_url=None):
    yield from _page_button(page, user)


@hooks.register("register_page_listing_more_buttons")
def page_listing_buttons(page, user, next_url=None):
    yield from _page_button(page, user)


links_viewset = AmbassadorLinkViewSet()
register_snippet(links_viewset)
