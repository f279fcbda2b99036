"""README promises of the Wagtail app ("## Wagtail", "## Events", "## Collector") not covered by the other tests:
pages served in other ways, responses the app must leave alone, the collector's refusals, CSRF, permissions,
settings validation and a second Wagtail site."""

from __future__ import annotations

import dataclasses
import json
import sqlite3

import pytest
from django.http import HttpResponse, StreamingHttpResponse
from django.test import Client
from django.urls import reverse

from wagtail_darksocial import database, tracking

pytestmark = pytest.mark.django_db
BAR = 'class="ds-bar"'
MARK = "data-darksocial"  # on the injected head tags
FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:132.0) Gecko/20100101 Firefox/132.0"
ORIGIN = "http://localhost:8000"
URL = ORIGIN + "/harbour-lights/"


def get(path, client=None, **extra):
    response = (client or Client()).get(path, **extra)
    body = b"".join(response.streaming_content) if response.streaming else response.content
    return response, body


def signed_in(user, **kwargs) -> Client:
    client = Client(**kwargs)
    client.force_login(user)
    return client


def serve_with(monkeypatch, article, make_response):
    monkeypatch.setattr(type(article), "serve", lambda self, request, *a, **k: make_response())


def without_app(monkeypatch):
    monkeypatch.setattr(tracking, "attach", lambda *args: None)


PLAIN = "<!doctype html><html><head><title>Plain</title></head><body><p>No heading, no article.</p></body></html>"


# --- pages served in other ways -----------------------------------------------------------------------------------

def test_a_custom_serve_without_h1_or_article_gets_the_bar_before_body_end(article, monkeypatch):
    serve_with(monkeypatch, article, lambda: HttpResponse(PLAIN))
    response, body = get(article.url)
    html = body.decode()
    assert response.status_code == 200 and html.count(BAR) == 1 and html.count("darksocial.js?v=") == 1
    assert html.index("No heading") < html.index(BAR) < html.index("</body>")  # after-h1 → content-end → body-end
    assert html.index("darksocial.css") < html.index("</head>")


def test_a_latin1_page_keeps_its_encoding_and_every_other_character(article, monkeypatch):
    page = PLAIN.replace("No heading", "Caf\u00e9 \u00e0 la cr\u00e8me")
    serve_with(monkeypatch, article,
               lambda: HttpResponse(page.encode("latin-1"), content_type="text/html; charset=iso-8859-1"))
    response, body = get(article.url)
    assert response["Content-Type"] == "text/html; charset=iso-8859-1"
    assert "Caf\u00e9 \u00e0 la cr\u00e8me".encode("latin-1") in body and BAR.encode() in body
    assert int(response["Content-Length"]) == len(body)
    html = body.decode("latin-1")
    bar_start = html.index("<nav")
    bar_end = html.index("</nav>") + len("</nav>")
    head_start = html.index("<link")
    head_end = html.index("</script>") + len("</script>")
    assert html[:head_start] + html[head_end:bar_start] + html[bar_end:] == page  # only the snippets were added


@pytest.mark.parametrize("status", [404, 500, 201, 206])
def test_a_page_answering_other_than_200_is_untouched(article, monkeypatch, status):
    serve_with(monkeypatch, article, lambda: HttpResponse(PLAIN, status=status))
    response, body = get(article.url)
    assert response.status_code == status and body == PLAIN.encode()


@pytest.mark.parametrize("content_type", ["text/plain", "application/xhtml+xml", "text/xml"])
def test_a_page_answering_another_content_type_is_untouched(article, monkeypatch, content_type):
    serve_with(monkeypatch, article, lambda: HttpResponse(PLAIN, content_type=content_type))
    assert get(article.url)[1] == PLAIN.encode()


def test_a_streamed_page_is_passed_through_unchanged(article, monkeypatch):
    serve_with(monkeypatch, article, lambda: StreamingHttpResponse(iter([PLAIN[:30], PLAIN[30:]])))
    response, body = get(article.url)
    assert response.status_code == 200 and response.streaming and body == PLAIN.encode()


def test_a_draft_page_is_404_and_the_admin_draft_view_is_untouched(article, admin_user):
    article.unpublish()
    response, body = get(article.url)
    assert response.status_code == 404 and MARK.encode() not in body and BAR.encode() not in body
    response, body = get(f"/admin/pages/{article.pk}/view_draft/", signed_in(admin_user))
    assert response.status_code == 200 and BAR.encode() not in body and b"darksocial.js" not in body


def test_the_404_page_of_the_site_is_untouched(db):
    response, body = get("/no-such-page/")
    assert response.status_code == 404 and b"darksocial" not in body


def test_a_password_protected_page_shows_wagtails_form_untouched(article):
    from wagtail.models import PageViewRestriction

    PageViewRestriction.objects.create(page=article, restriction_type="password", password="s3cret")
    response, body = get(article.url)
    assert response.status_code == 200 and b"password" in body.lower()
    assert b"darksocial" not in body


def test_a_login_restricted_page_redirects_untouched_and_is_injected_once_signed_in(article, editor):
    from wagtail.models import PageViewRestriction

    PageViewRestriction.objects.create(page=article, restriction_type="login")
    response, body = get(article.url)
    assert response.status_code == 302 and b"darksocial" not in body
    response, body = get(article.url, signed_in(editor))
    assert response.status_code == 200 and body.decode().count(BAR) == 1


def test_a_head_request_gets_no_body_and_a_get_still_gets_one_bar(article):
    response = Client().head(article.url)
    assert response.status_code == 200 and response.content == b""
    assert get(article.url)[1].decode().count(BAR) == 1


# --- opt-outs and the settings cache --------------------------------------------------------------------------

def test_an_opt_out_made_without_signals_is_followed_within_two_seconds(article, monkeypatch):
    import time

    from wagtail_darksocial.models import PageOptOut

    assert get(article.url)[1].decode().count(BAR) == 1  # cached now
    PageOptOut.objects.bulk_create([PageOptOut(page=article)])  # no post_save: another process's change
    assert get(article.url)[1].decode().count(BAR) == 1  # still within the 2 s
    now = time.monotonic()
    monkeypatch.setattr(tracking.time, "monotonic", lambda: now + 2.5)
    assert b"darksocial" not in get(article.url)[1]


# --- settings validation --------------------------------------------------------------------------------------

@pytest.mark.parametrize(("field", "value"), [
    ("position", "sidebar"),
    ("channels", "wa, myspace"),
    ("channels", " , "),
    ("collector_site_id", "my site!"),
    ("user_display_name", "nickname"),
])
def test_a_bad_setting_is_a_validation_error_on_its_field(site_settings, field, value):
    from django.core.exceptions import ValidationError

    setattr(site_settings, field, value)
    with pytest.raises(ValidationError) as raised:
        site_settings.full_clean()
    assert field in raised.value.message_dict
    assert raised.value.message_dict[field][0].strip()


def test_the_settings_form_in_the_admin_refuses_a_bad_position(admin_user, site_settings):
    from wagtail.models import Site

    from wagtail_darksocial.models import DarkSocialSettings

    site = Site.objects.get(is_default_site=True)
    url = reverse("wagtailsettings:edit", args=["wagtail_darksocial", "darksocialsettings", site.pk])
    client = signed_in(admin_user)
    form = {"enabled": "on", "channels": "wa, em", "position": "sidebar", "copy_tracking": "on",
            "address_bar": "on", "user_display_name": "full_name", "collector_url": "", "collector_site_id": ""}
    response = client.post(url, form)
    assert response.status_code == 200 and "one of after-h1" in response.content.decode()
    assert DarkSocialSettings.for_site(site).position == "after-h1"
    response = client.post(url, {**form, "position": "body-end"})
    assert response.status_code == 302
    assert DarkSocialSettings.for_site(site).channels == "wa, em"
    html = get("/harbour-lights/")[1].decode()  # saving clears the cache at once
    assert 'data-ds="wa"' in html and 'data-ds="tg"' not in html and html.index(BAR) > html.index("</main>")


# --- the collector: refusals name their field, CSRF, nothing stored ---------------------------------------------

def post(payload, client=None, **meta):
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    headers = {"HTTP_ORIGIN": ORIGIN, "HTTP_USER_AGENT": FIREFOX, "CONTENT_TYPE": "text/plain;charset=UTF-8", **meta}
    headers = {k: v for k, v in headers.items() if v is not None}
    return (client or Client()).generic("POST", "/darksocial/collect", data=body, **headers)


def view(**fields):
    return {"k": "view", "s": "localhost", "u": URL, "t": "AAAAAAAAAA", **fields}


def count(path) -> int:
    with sqlite3.connect(path) as conn:
        return conn.execute("SELECT count(*) FROM events").fetchone()[0]


@pytest.mark.parametrize(("payload", "meta", "status", "field"), [
    (b"not json", {}, 400, "body"),
    (view(u="data:text/html,hi"), {}, 400, "u"),
    (view(u="https://evil.example/x"), {}, 403, "u"),
    (view(s="nope"), {}, 403, "s"),
    (view(), {"HTTP_ORIGIN": "https://evil.example"}, 403, "Origin"),
    (view(), {"HTTP_ORIGIN": None}, 403, "Origin"),
    (b'[{"k": "goal", "s": "localhost", "u": "' + URL.encode() + b'", "g": "x", "gv": 1e999}]', {}, 400, "gv"),
    (view(n={"a": [1]}), {}, 400, "n"),
])
def test_every_refusal_names_its_field_first_and_stores_nothing(darksocial_db, payload, meta, status, field):
    assert post(view(t="WARMUPWARM")).status_code == 204  # the site is registered, one event stored
    response = post(payload, **meta)
    assert response.status_code == status
    reason = response.content.decode()
    assert reason.split(":")[0].endswith(field), reason  # "u: …", "event[0].gv: …", "Origin: …"
    assert count(darksocial_db) == 1


def test_an_unknown_site_is_refused_with_the_wagtail_way_to_register_it(darksocial_db):
    assert post(view(t="WARMUPWARM")).status_code == 204  # the collector is up, with the site registered
    reason = post(view(s="nope")).content.decode()
    assert reason.startswith("s: unknown site 'nope'") and "Settings → Sites" in reason
    assert "darksocial site add" not in reason  # a CLI command does not register a Wagtail site


def test_a_beacon_needs_no_csrf_token(darksocial_db):
    assert post(view(), client=Client(enforce_csrf_checks=True)).status_code == 204
    assert count(darksocial_db) == 1


def test_the_opt_out_switch_needs_a_csrf_token(admin_user, article):
    from wagtail_darksocial.models import PageOptOut

    url = reverse("wagtail_darksocial_admin:page", args=[article.pk])
    assert signed_in(admin_user, enforce_csrf_checks=True).post(url, {}).status_code == 403
    assert not PageOptOut.objects.filter(page=article).exists()


def test_the_do_not_track_setting_reaches_the_collector(darksocial_db, site_settings):
    site_settings.respect_dnt = True
    site_settings.save()
    assert post(view(), HTTP_DNT="1").status_code == 202
    assert post(view(t="AAAAAAAAAB"), HTTP_SEC_GPC="1").status_code == 202
    assert count(darksocial_db) == 0
    assert post(view(t="AAAAAAAAAC")).status_code == 204


# --- permissions ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", [
    "top_influencers", "top_influencers_results", "top_stories", "top_stories_results", "channel_mix",
    "channel_mix_results", "influencer", "influencer_results", "cascade", "cascade_results",
])
def test_every_report_and_its_results_and_exports_are_403_without_the_permission(editor, name):
    client = signed_in(editor)
    url = reverse(f"wagtail_darksocial_admin:{name}")
    assert client.get(url).status_code == 403
    assert client.get(url + "?export=csv").status_code == 403
    assert Client().get(url).status_code == 302  # anonymous: to the login page


def test_an_editor_of_the_page_without_the_report_permission_may_switch_it_off(article, editor):
    from wagtail.models import GroupPagePermission

    from wagtail_darksocial.models import PageOptOut

    GroupPagePermission.objects.create(group=editor.groups.get(), page=article, permission_type="change")
    client = signed_in(editor)
    url = reverse("wagtail_darksocial_admin:page", args=[article.pk])
    assert client.get(url).status_code == 200
    assert url in client.get(f"/admin/pages/{article.pk}/edit/").content.decode()  # the header menu's button
    client.post(url, {})
    assert PageOptOut.objects.filter(page=article).exists()
    assert b"darksocial" not in get(article.url)[1]


def test_a_reporter_who_may_not_edit_the_page_may_not_switch_it_off(article, reporter):
    from wagtail_darksocial.models import PageOptOut

    url = reverse("wagtail_darksocial_admin:page", args=[article.pk])
    client = signed_in(reporter)
    assert client.get(url).status_code == 200  # the figures
    assert client.post(url, {}).status_code == 403
    assert not PageOptOut.objects.filter(page=article).exists()


# --- identify: private and Vary: Cookie -------------------------------------------------------------------------

def test_identified_pages_vary_on_cookie_and_are_private(article, site_settings, django_user_model, monkeypatch):
    site_settings.identify_users = True
    site_settings.save()
    client = signed_in(django_user_model.objects.create_user("amy", password="pw"))
    response, _ = get(article.url, client)
    assert "Cookie" in response["Vary"] and "private" in response["Cache-Control"]
    monkeypatch.setattr(type(article), "template", "tags_article.html", raising=False)
    response, body = get(article.url, client)
    assert b"identify.js" in body and "Cookie" in response["Vary"] and "private" in response["Cache-Control"]


# --- a second Wagtail site ------------------------------------------------------------------------------------

def test_a_second_site_gets_its_own_site_id_and_is_registered_for_http_and_https(darksocial_db):
    from demo_pages.models import HomePage
    from wagtail.models import Page, Site

    root = Page.objects.get(depth=1)
    other_home = root.add_child(instance=HomePage(title="Other home", slug="other-home"))
    Site.objects.create(hostname="news.example", port=443, root_page=other_home, site_name="News")
    response, body = get("/", HTTP_HOST="news.example", SERVER_PORT="443", secure=True)
    html = body.decode()
    assert response.status_code == 200 and "Other home" in html
    assert 'data-site="news.example"' in html and html.count(BAR) == 1
    assert 'data-site="localhost"' in get("/")[1].decode()
    for origin in ("http://news.example", "https://news.example"):
        answer = post(view(s="news.example", u=origin + "/", t="NEWSAAAAAA"), HTTP_ORIGIN=origin)
        assert answer.status_code == 204, answer.content
    assert post(view(s="news.example", u=URL, t="NEWSAAAAAB"), HTTP_ORIGIN=ORIGIN).status_code == 403
    with sqlite3.connect(darksocial_db) as conn:
        assert {row[0] for row in conn.execute("SELECT site FROM events")} == {"news.example"}


def test_a_page_under_two_sites_is_tracked_and_registered_as_the_one_it_is_served_by(article, darksocial_db,
                                                                                     admin_user, monkeypatch):
    from wagtail.models import Site

    Site.objects.create(hostname="section.example", port=80, root_page=article, site_name="Section")
    stories = lambda: {row[0]: row[1] for row in sqlite3.connect(darksocial_db).execute(  # noqa: E731
        "SELECT url, site FROM pages")}
    article.save_revision().publish()
    assert stories() == {"http://localhost:8000/harbour-lights/": "localhost",
                         "http://section.example/": "section.example"}
    for template in (None, "tags_article.html"):  # automatic injection, then the template tags
        if template:
            monkeypatch.setattr(type(article), "template", template, raising=False)
        html = get("/", HTTP_HOST="section.example", SERVER_PORT="80")[1].decode()
        assert 'data-site="section.example"' in html and "section.example/#ds=.cl" in html, template
        html = get("/harbour-lights/")[1].decode()
        assert 'data-site="localhost"' in html and "localhost:8000/harbour-lights/#ds=.cl" in html, template

    # The page's figures in the admin: one table per Site that serves it.
    figures = signed_in(admin_user).get(reverse("wagtail_darksocial_admin:page", args=[article.pk]))
    assert "On site localhost" in figures.content.decode() and "On site section.example" in figures.content.decode()

    # The Site moves to another port: its stories are registered at their new URLs (the old rows stay).
    site = Site.objects.get(hostname="section.example")
    site.port = 8080
    site.save()
    assert stories()["http://section.example:8080/"] == "section.example"


def test_a_routable_sub_route_rendered_later_gets_the_bar_once(article, monkeypatch):
    from django.template.response import TemplateResponse
    from wagtail.url_routing import RouteResult

    cls = type(article)
    route = cls.route

    def sub_route(self, request, components):
        return RouteResult(self, args=("comments",)) if components == ["comments"] else route(self, request, components)

    monkeypatch.setattr(cls, "route", sub_route)
    monkeypatch.setattr(cls, "serve", lambda self, request, *args, **kwargs: TemplateResponse(
        request, "demo_pages/article_page.html", {"page": self, "self": self}))
    response, body = get(article.url + "comments/")
    html = body.decode()
    assert response.status_code == 200 and html.count(BAR) == 1 and html.count("darksocial.js?v=") == 1
    assert html.index("</h1>") < html.index(BAR)
    # README "## Wagtail": "The share links point at the page itself (its URL on its Site): a `RoutablePage`
    # sub-route or a `?page=2` view of it shares the page."
    assert 'href="http://localhost:8000/harbour-lights/#ds=.cl"' in html


def test_a_page_whose_markup_opts_out_or_already_has_the_snippets_is_untouched(article, monkeypatch):
    opted = PLAIN.replace("</title>", '</title><meta name="darksocial" content="off">')
    serve_with(monkeypatch, article, lambda: HttpResponse(opted))
    assert get(article.url)[1] == opted.encode()
    once = get("/")[1].decode()  # the home page, injected by the app
    serve_with(monkeypatch, article, lambda: HttpResponse(once))
    assert get(article.url)[1].decode() == once  # injecting twice changes nothing


def test_template_tags_render_nothing_when_the_site_is_off(article, site_settings, monkeypatch):
    monkeypatch.setattr(type(article), "template", "tags_article.html", raising=False)
    assert get(article.url)[1].decode().count(BAR) == 1
    site_settings.enabled = False
    site_settings.save()
    assert b"darksocial" not in get(article.url)[1]


def test_the_rate_limit_holds_per_client_and_a_local_proxy_forwards_the_address(darksocial_db, monkeypatch):
    limiter = database.collector().limiter  # the process's collector, as the view uses it
    assert (limiter.limit.rate, limiter.limit.burst) == (4.0, 20.0)  # README: 4 per second, bursts of 20
    # Buckets that refill once in 1,000 s, so that which request is refused does not depend on this machine's
    # speed: at 4/s, 21 requests taking over 250 ms (12 ms each, a loaded machine) would find a new token.
    monkeypatch.setattr(limiter, "limit", dataclasses.replace(limiter.limit, rate=0.001))

    def burst(prefix, **meta):
        return [post(view(t=f"{prefix}{i:06d}"), **meta).status_code for i in range(21)]

    assert burst("LOOP") == [204] * 21  # loopback without X-Forwarded-For: not limited
    assert burst("PROX", HTTP_X_FORWARDED_FOR="203.0.113.9") == [204] * 20 + [429]  # bursts of 20
    over = post(view(t="DIRECT0000"), REMOTE_ADDR="203.0.113.9")  # the same client, straight
    assert over.status_code == 429 and over.content.decode().startswith("client:")
    assert int(over["Retry-After"]) >= 1  # README "## Collector": a 429 "with `Retry-After`"
    assert post(view(t="OTHER00000"), REMOTE_ADDR="198.51.100.7").status_code == 204  # others are unaffected
    # nginx in front of gunicorn on a Unix socket: the peer has no address (REMOTE_ADDR blank), and is local
    assert burst("UNIX", REMOTE_ADDR="", HTTP_X_FORWARDED_FOR="192.0.2.44") == [204] * 20 + [429]
    assert post(view(t="UNIXOTHER0"), REMOTE_ADDR="", HTTP_X_FORWARDED_FOR="192.0.2.45").status_code == 204


def test_two_sites_with_their_own_site_ids_on_one_hostname_each_keep_their_origins(darksocial_db):
    from demo_pages.models import HomePage
    from wagtail.models import Page, Site

    from wagtail_darksocial.models import DarkSocialSettings

    other_home = Page.objects.get(depth=1).add_child(instance=HomePage(title="Staging home", slug="staging-home"))
    staging = Site.objects.create(hostname="localhost", port=8001, root_page=other_home)
    config = DarkSocialSettings.for_site(staging)
    config.collector_site_id = "staging"
    config.save()
    assert 'data-site="staging"' in get("/", HTTP_HOST="localhost:8001", SERVER_PORT="8001")[1].decode()
    assert post(view(u="http://localhost:8001/", s="staging", t="STAGEAAAAA"),
                HTTP_ORIGIN="http://localhost:8001").status_code == 204



def test_two_sites_sharing_a_hostname_and_no_site_id_share_its_origins(darksocial_db):
    """With the site id left blank both Sites get the id "localhost": registering the second must not replace the
    first's origins (README "## Wagtail": each Site is registered with its origins), or every beacon from
    http://localhost:8000 would be refused."""
    from demo_pages.models import HomePage
    from wagtail.models import Page, Site

    other_home = Page.objects.get(depth=1).add_child(instance=HomePage(title="Staging home", slug="staging-home"))
    Site.objects.create(hostname="localhost", port=8001, root_page=other_home)
    for port, token in ((8000, "SHAREDAAAA"), (8001, "SHAREDBBBB")):
        origin = f"http://localhost:{port}"
        assert post(view(u=origin + "/", s="localhost", t=token), HTTP_ORIGIN=origin).status_code == 204, port
