"""The "Dark social" admin: reports built on Wagtail's ReportView (filters, CSV/XLSX export), an influencer's
page, a cascade, a page's own figures and opt-out, and running attribution.

Every figure comes from ``darksocial.reports.run``: the same SQL the Datasette reports run, so an editor and an
analyst never see two numbers for the same thing. Values reach the page through Django templates and Wagtail's
table components, which escape them (page titles and people's names are client input).
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from functools import cached_property
from types import SimpleNamespace
from urllib.parse import urlencode

import django_filters
import swapper
from django import forms
from django.conf import settings
from django.contrib import messages
from django.http import HttpResponseBadRequest, HttpResponseForbidden
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.views.decorators.http import require_POST
from django.views.generic import TemplateView
from wagtail.admin.filters import WagtailFilterSet
from wagtail.admin.ui.tables import Column, TitleColumn
from wagtail.admin.views.reports import ReportView
from wagtail.admin.widgets import AdminDateInput

from darksocial import events, reports, spreadsheets

from . import attribution
from .database import read_connection
from .models import DarkSocialReports, PageOptOut

PERMISSION = "wagtail_darksocial.view_reports"


def forbidden(reason: str = "You need the permission 'Can view dark social reports'.") -> HttpResponseForbidden:
    # A plain 403: raising PermissionDenied inside the admin would redirect to the dashboard instead.
    return HttpResponseForbidden(reason + "\n", content_type="text/plain; charset=utf-8")


def run_report(name: str, since="", until="", site="", **params) -> list[SimpleNamespace]:
    with read_connection() as conn:
        columns, rows = reports.run(conn, name, since, until, site, **params)
    return [SimpleNamespace(**dict(zip(columns, row, strict=True))) for row in rows]


def known_sites() -> list[str]:
    with read_connection() as conn:
        return [row[0] for row in conn.execute("SELECT site FROM sites ORDER BY site")]


class WindowForm(forms.Form):
    """The window checked as the reporting server checks it (darksocial.reports): an impossible one is an error,
    never an empty or unfiltered report."""

    def clean(self):
        data = super().clean()
        if "since" in data and "until" in data:  # each a valid date or blank (else the field has its own error)
            problem = reports.window_problem(data["since"], data["until"], reports.today())
            if problem:
                self.add_error("until" if problem.startswith("until") else "since", problem)
        return data


class WindowFilterSet(WagtailFilterSet):
    since = django_filters.DateFilter(label="From", widget=AdminDateInput, method="keep")
    until = django_filters.DateFilter(label="Until", widget=AdminDateInput, method="keep")
    site = django_filters.ChoiceFilter(label="Site", method="keep", empty_label="All sites", choices=())

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        choices = [(s, s) for s in known_sites()]
        self.filters["site"].extra["choices"] = choices
        self.form.fields["site"].choices = [("", "All sites"), *choices]

    def keep(self, queryset, name, value):
        return queryset

    class Meta:
        form = WindowForm


def _date(value) -> str:
    return value.isoformat() if isinstance(value, dt.date) else ""


def influencer_url(person: str) -> str:
    return reverse("wagtail_darksocial_admin:influencer") + "?" + urlencode({"person": person})


def cascade_url(share: str) -> str:
    return reverse("wagtail_darksocial_admin:cascade") + "?" + urlencode({"share": share})


class DarkSocialReportView(ReportView):
    """A canned report as a Wagtail report: the window filters feed the report's SQL parameters."""

    report_name = ""
    template_name = "wagtail_darksocial/report.html"
    header_icon = "crosshairs"
    filterset_class = WindowFilterSet
    index_url_name = ""
    index_results_url_name = ""

    def dispatch(self, request, *args, **kwargs):
        if not request.user.has_perm(PERMISSION):
            return forbidden()
        return super().dispatch(request, *args, **kwargs)

    @property
    def page_title(self):
        return reports.BY_NAME[self.report_name].title

    def get_filterset_kwargs(self):
        # django-filter wants a queryset; the rows come from SQLite, so an empty, never-evaluated one will do.
        return {**super().get_filterset_kwargs(), "queryset": DarkSocialReports.objects.none()}

    def given_window(self) -> dict:
        """The form's since and until (dates, None when blank) and site ("" for every site)."""
        data = self.filters.form.cleaned_data if self.filters and self.filters.is_valid() else {}
        return {"since": data.get("since"), "until": data.get("until"), "site": data.get("site") or ""}

    def window(self) -> dict:
        given = self.given_window()
        return {**given, "since": _date(given["since"]), "until": _date(given["until"])}

    def extra_params(self) -> dict:
        return {}

    def get_queryset(self):
        if self.filters and not self.filters.is_valid():
            return []  # the form says what is wrong; the rows of another window would mislead
        return run_report(self.report_name, **self.window(), **self.extra_params())

    def render_to_response(self, context, **response_kwargs):
        if self.is_export and self.filters and not self.filters.is_valid():
            # A file of headings alone would read as "nothing happened then": say what is wrong instead.
            problems = "; ".join(f"{field}: {' '.join(errors)}" if field != "__all__" else " ".join(errors)
                                 for field, errors in self.filters.errors.items())
            return HttpResponseBadRequest(f"No export: {problems}", content_type="text/plain; charset=utf-8")
        return super().render_to_response(context, **response_kwargs)

    def filter_queryset(self, queryset):
        return queryset  # the window is applied in SQL by the report itself

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["report_description"] = reports.BY_NAME[self.report_name].description
        context["attribution_through"] = attribution.up_to_date_through()
        context["reports_url"] = getattr(settings, "DARKSOCIAL_REPORTS_URL", "")
        return context

    def get_filename(self):
        # The window the rows cover, in the reports' UTC days (not the download's local date): two exports of
        # different windows never share a name, and a file found later says what it holds.
        given = self.given_window()
        first, last = reports.resolved_window(given["since"], given["until"], reports.today())
        site = f"-{given['site']}" if given["site"] else ""
        return f"darksocial-{self.report_name}{site}-{first.isoformat()}-to-{last.isoformat()}"

    def preprocess_field_value(self, field, value, export_format):
        # Wagtail makes formulas text in XLSX only; titles and names come from anyone who can send an event.
        value = super().preprocess_field_value(field, value, export_format)
        return spreadsheets.neutralised(value) if export_format == self.FORMAT_CSV else value


class TopInfluencersView(DarkSocialReportView):
    report_name = "top_influencers"
    index_url_name = "wagtail_darksocial_admin:top_influencers"
    index_results_url_name = "wagtail_darksocial_admin:top_influencers_results"
    list_export = ["person", "name", "tier", "shares", "clicks", "reach", "reshares", "amplified_reach",
                   "conversions", "clicks_per_share", "top_channel", "first_share", "last_share"]
    columns = [
        TitleColumn("who", label="Person", accessor="who", get_url=lambda row: influencer_url(row.person)),
        Column("tier"), Column("shares"), Column("clicks"), Column("reach"), Column("reshares", label="Re-shares"),
        Column("amplified_reach", label="Amplified reach"), Column("conversions"),
        Column("clicks_per_share", label="Clicks per share"), Column("top_channel", label="Top channel"),
    ]

    def get_queryset(self):
        rows = super().get_queryset()
        for row in rows:
            row.who = row.name or row.person
        return rows


class TopStoriesView(DarkSocialReportView):
    report_name = "top_stories"
    index_url_name = "wagtail_darksocial_admin:top_stories"
    index_results_url_name = "wagtail_darksocial_admin:top_stories_results"
    list_export = ["story", "url", "site", "visits", "dark_tracked", "dark_estimated", "dark_social_pct",
                   "open_social", "other", "shares", "clicks", "clicks_per_share", "virality_score"]
    columns = [
        TitleColumn("story", label="Story", get_url=lambda row: row.url),
        Column("visits"), Column("dark_tracked", label="Dark social (tracked)"),
        Column("dark_estimated", label="Dark social (estimated)"), Column("dark_social_pct", label="Dark social %"),
        Column("open_social", label="Open social"), Column("other", label="Other"), Column("shares"),
        Column("clicks"), Column("clicks_per_share", label="Clicks per share"),
        Column("virality_score", label="Virality score"),
    ]


class ChannelMixView(DarkSocialReportView):
    report_name = "channel_mix"
    index_url_name = "wagtail_darksocial_admin:channel_mix"
    index_results_url_name = "wagtail_darksocial_admin:channel_mix_results"
    list_export = ["channel", "code", "medium", "visits", "tracked", "estimated", "shares", "clicks",
                   "clicks_per_share", "pct_of_shared_traffic"]
    columns = [
        Column("channel"), Column("medium"), Column("visits"), Column("tracked"), Column("estimated"),
        Column("shares"), Column("clicks"), Column("clicks_per_share", label="Clicks per share"),
        Column("pct_of_shared_traffic", label="% of shared traffic"),
    ]


class InfluencerView(DarkSocialReportView):
    report_name = "influencer"
    index_url_name = "wagtail_darksocial_admin:influencer"
    index_results_url_name = "wagtail_darksocial_admin:influencer_results"
    list_export = ["date", "story", "url", "channel", "medium", "share", "depth", "got_it_from", "clicks", "reach",
                   "reshares", "amplified_reach", "conversions"]
    columns = [
        Column("date"), TitleColumn("story", label="Story", get_url=lambda row: row.url), Column("channel"),
        TitleColumn("share", label="Share (cascade)", get_url=lambda row: cascade_url(row.share)),
        Column("depth"), Column("got_it_from", label="Got it from"), Column("clicks"), Column("reach"),
        Column("reshares", label="Re-shares"), Column("amplified_reach", label="Amplified reach"),
        Column("conversions"),
    ]

    @property
    def person(self) -> str:
        return self.request.GET.get("person", "")[:300]

    @cached_property  # Wagtail reads it several times a page (context, breadcrumbs): one query per request
    def page_title(self):
        return f"Influencer: {self.person_name()}"

    def person_name(self) -> str:
        with read_connection() as conn:
            row = conn.execute("SELECT name FROM influencers WHERE person = ?", (self.person,)).fetchone()
        return (row[0] if row and row[0] else None) or self.person

    def extra_params(self) -> dict:
        return {"person": self.person}

    def get_index_url(self):
        return super().get_index_url() + "?" + urlencode({"person": self.person})

    def get_index_results_url(self):
        return super().get_index_results_url() + "?" + urlencode({"person": self.person})


class CascadeView(DarkSocialReportView):
    report_name = "cascade_tree"
    index_url_name = "wagtail_darksocial_admin:cascade"
    index_results_url_name = "wagtail_darksocial_admin:cascade_results"
    list_export = ["id", "parent", "label", "channel", "medium", "clicks", "reach", "depth"]
    columns = [Column("depth"), Column("id", label="Share"), Column("label", label="Sharer · channel"),
               Column("clicks"), Column("reach"), Column("parent", label="Re-share of")]

    @property
    def share(self) -> str:
        return self.request.GET.get("share", "")[:40]

    @property
    def url(self) -> str:
        """A story: the trees of its root shares minted in the window (the report's other way in)."""
        return self.request.GET.get("url", "")[:events.MAX_URL]

    def extra_params(self) -> dict:
        return {"share": self.share, "url": self.url}

    def get_queryset(self):
        return [row for row in super().get_queryset() if row.id != "top"]

    def get_index_url(self):
        return super().get_index_url() + "?" + urlencode(self.extra_params())

    def get_index_results_url(self):
        return super().get_index_results_url() + "?" + urlencode(self.extra_params())


class OptOutForm(forms.Form):
    tracked = forms.BooleanField(required=False, label="Share bar and tracking on this page")


class PageFiguresView(TemplateView):
    """A page's own figures (its row of the stories table) and its opt-out switch."""

    template_name = "wagtail_darksocial/page_figures.html"

    def dispatch(self, request, page_id):
        page_model = swapper.load_model("wagtailcore", "Page")
        self.page = get_object_or_404(page_model, id=page_id).specific
        self.can_view_reports = request.user.has_perm(PERMISSION)
        self.can_edit = self.page.permissions_for_user(request.user).can_edit()
        if not (self.can_view_reports or self.can_edit):
            return forbidden("You need the report permission or the right to edit this page.")
        return super().dispatch(request, page_id)

    def post(self, request, page_id):
        if not self.can_edit:
            return forbidden("You need the right to edit this page.")
        form = OptOutForm(request.POST)
        if form.is_valid():
            if form.cleaned_data["tracked"]:
                PageOptOut.objects.filter(page=self.page).delete()
                messages.success(request, f"Dark social tracking is on for '{self.page.title}'.")
            else:
                PageOptOut.objects.get_or_create(page=self.page)
                messages.success(request, f"Dark social tracking is off for '{self.page.title}'.")
        return redirect("wagtail_darksocial_admin:page", self.page.pk)

    def get_context_data(self, **kwargs):
        from .stories import story_entries

        context = super().get_context_data(**kwargs)
        opted_out = PageOptOut.objects.filter(page=self.page).exists()
        stories = None  # one (site id, the story's figures) per Site that serves the page
        entries = story_entries(self.page, {})
        if self.can_view_reports and entries:
            stories = []
            with read_connection() as conn:
                conn.row_factory = sqlite3.Row
                for site, page_entry in entries:
                    found = conn.execute("SELECT * FROM stories WHERE site = ? AND url = ?",
                                         (site, page_entry.url)).fetchone()
                    stories.append((site, [(key, found[key]) for key in found.keys()] if found else []))
        context.update(page=self.page, stories=stories, opted_out=opted_out, can_edit=self.can_edit,
                       form=OptOutForm(initial={"tracked": not opted_out}), page_title=self.page.title,
                       header_icon="crosshairs")
        return context


@require_POST
def run_attribution(request):
    if not request.user.has_perm(PERMISSION):
        return forbidden()
    full = request.POST.get("full") == "1"
    stats = attribution.run(full=full)
    messages.success(request, f"Attribution done: {stats.get('events', 0)} event(s) processed.")
    target = request.POST.get("next") or reverse("wagtail_darksocial_admin:top_influencers")
    if not target.startswith("/") or target.startswith("//"):
        target = reverse("wagtail_darksocial_admin:top_influencers")
    return redirect(target)
