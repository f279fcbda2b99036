"""Served Wagtail pages get the head tags and the share bar once; nothing else Wagtail answers is touched."""

from __future__ import annotations

import re

import pytest
from django.core.files.base import ContentFile
from django.test import Client

from darksocial import inject
from wagtail_darksocial import tracking

pytestmark = pytest.mark.django_db
BAR = 'class="ds-bar"'


def get(path, client=None, **headers):
    response = (client or Client()).get(path, **headers)
    body = b"".join(response.streaming_content) if response.streaming else response.content
    return response, body.decode("utf-8", "replace")


def test_a_served_page_carries_the_head_tags_and_the_bar_exactly_once(article):
    response, html = get(article.url)
    assert response.status_code == 200
    assert html.count(BAR) == 1
    assert html.count("darksocial.js?v=") == 1 and html.count("darksocial.css?v=") == 1
    assert 'data-collector="/darksocial/collect"' in html and 'data-site="localhost"' in html
    assert "http%3A%2F%2Flocalhost%3A8000%2Fharbour-lights%2F" in html  # shares carry the page's full URL
    assert html.index("</h1>") < html.index(BAR)  # after-h1
    assert int(response["Content-Length"]) == len(response.content)  # set after the bar was added


def test_a_page_wagtail_cannot_place_yet_is_shared_at_the_address_asked_for(article, monkeypatch):
    # Wagtail's cache of site roots lags behind a Site another process added: get_full_url() is None until then.
    tracking._full_urls.clear()
    monkeypatch.setattr(type(article), "get_full_url", lambda page, request=None: None)
    response, html = get(article.url, HTTP_HOST="localhost:8000")
    assert response.status_code == 200 and html.count(BAR) == 1
    assert "http%3A%2F%2Flocalhost%3A8000%2Fharbour-lights%2F" in html
    monkeypatch.undo()
    assert get(article.url)[1].count(BAR) == 1 and tracking._full_urls  # Wagtail's own address, remembered again


def test_the_home_page_and_every_article_get_it(db):
    from wagtail.models import Page

    for page in Page.objects.live().filter(depth__gte=2):
        assert get(page.url)[1].count(BAR) == 1, page.url


@pytest.mark.parametrize("path", ["/admin/login/", "/api/v2/pages/", "/sitemap.xml", "/darksocial/darksocial.js"])
def test_other_responses_are_untouched(path, article, monkeypatch):
    with_app = get(path)
    monkeypatch.setattr(tracking, "attach", lambda *args: None)
    without_app = get(path)
    assert with_app[0].status_code == without_app[0].status_code
    assert unsalted(with_app[1]) == unsalted(without_app[1])
    assert "data-darksocial" not in with_app[1]


def unsalted(html: str) -> str:
    return re.sub(r"[A-Za-z0-9]{64}", "<csrf token>", html)  # a fresh CSRF token on every admin form


def test_documents_redirects_and_the_admin_page_editor_are_untouched(article, admin_user):
    from wagtail.contrib.redirects.models import Redirect
    from wagtail.documents.models import Document

    document = Document(title="Tide table")
    document.file.save("tides.html", ContentFile(b"<html><head></head><body><h1>Tides</h1></body></html>"))
    response, html = get(document.url)
    assert response.status_code == 200 and "data-darksocial" not in html
    Redirect.objects.create(old_path="/old-lights", redirect_page=article)
    response, _ = get("/old-lights/")
    assert response.status_code in (301, 302) and "data-darksocial" not in response.content.decode()
    client = Client()
    client.force_login(admin_user)
    response, html = get(f"/admin/pages/{article.pk}/edit/", client)
    assert response.status_code == 200 and BAR not in html and "darksocial.js" not in html


def test_an_opted_out_page_is_byte_identical_to_the_page_without_the_app(article, monkeypatch):
    from wagtail_darksocial.models import PageOptOut

    PageOptOut.objects.create(page=article)
    opted_out = get(article.url)[1]
    monkeypatch.setattr(tracking, "attach", lambda *args: None)
    assert opted_out == get(article.url)[1]
    assert "darksocial" not in opted_out


def test_the_site_setting_turns_it_off(article, site_settings):
    site_settings.enabled = False
    site_settings.save()
    assert "darksocial" not in get(article.url)[1]


def test_template_tags_place_the_snippets_and_automatic_injection_steps_aside(article, monkeypatch):
    monkeypatch.setattr(type(article), "template", "tags_article.html", raising=False)
    html = get(article.url)[1]
    assert html.count(BAR) == 1 and html.count("darksocial.js?v=") == 1
    assert html.index("<h1>") < html.index(BAR) < html.index("<p>")  # where the template put it, not after-h1 splice


def test_a_template_using_a_tag_is_not_injected_at_all(article, monkeypatch):
    monkeypatch.setattr(type(article), "template", "tags_head_only.html", raising=False)
    html = get(article.url)[1]
    assert html.count("darksocial.js?v=") == 1 and BAR not in html  # the site chose where (here: nowhere) the bar goes


def test_previews_and_drafts_carry_no_tracker_whether_injected_or_written_with_the_tags(article, monkeypatch,
                                                                                      django_user_model):
    # The editor's preview panel reloads on every edit: a tracker there would record admin URLs as views.
    from django.test import Client

    admin = django_user_model.objects.create_superuser("chief", "chief@example.com", "pw")
    client = Client()
    client.force_login(admin)
    for template in (None, "tags_article.html"):  # automatic injection, then the template tags
        if template:
            monkeypatch.setattr(type(article), "template", template, raising=False)
        for html in (article.make_preview_request().content.decode(),
                     client.get(f"/admin/pages/{article.pk}/view_draft/").content.decode()):
            assert "darksocial.js" not in html and BAR not in html and "harbour" in html.lower(), template
        assert get(article.url)[1].count(BAR) == 1  # the page itself has its bar


def test_the_share_bar_tag_on_a_page_under_no_site_shares_the_address_it_was_served_at(article):
    # A page outside every Site's root, rendered by a view of the site's own: Wagtail knows no URL for it.
    from demo_pages.models import ArticlePage
    from django.template import engines
    from django.test import RequestFactory
    from wagtail.models import Page

    orphan = Page.get_first_root_node().add_child(instance=ArticlePage(title="Orphan", slug="orphan", summary="s"))
    request = RequestFactory().get("/elsewhere/orphan/", HTTP_HOST="localhost:8000")
    html = engines["django"].from_string("{% load darksocial %}{% darksocial_share_bar %}").render(
        {"page": orphan, "request": request})
    assert BAR in html and "http%3A%2F%2Flocalhost%3A8000%2Felsewhere%2Forphan%2F%23ds%3D.wa" in html


def test_a_page_in_a_charset_python_does_not_know_is_served_as_it_was_and_latin_1_gets_its_bar(article,
                                                                                              monkeypatch):
    from django.http import HttpResponse

    article.title = "Harbour \u4e2d lights"  # a title latin-1 cannot spell: the bar writes it percent-encoded
    article.save_revision().publish()
    body = b"<html><head></head><body><article><h1>Harbour lights</h1></article></body></html>"
    for charset in ("x-user-defined", "latin-1"):
        monkeypatch.setattr(type(article), "serve", lambda self, request, *args, charset=charset, **kwargs:
                            HttpResponse(body, content_type=f"text/html; charset={charset}"))
        response = Client(raise_request_exception=False).get(article.url)
        assert response.status_code == 200, charset
        if charset == "latin-1":
            assert response.content.decode("latin-1").count(BAR) == 1
        else:
            assert response.content == body


def test_a_signed_in_name_the_pages_charset_cannot_spell_becomes_a_character_reference(article, site_settings,
                                                                                       monkeypatch,
                                                                                       django_user_model):
    from django.http import HttpResponse

    site_settings.identify_users = True
    site_settings.user_display_name = "full_name"
    site_settings.save()
    user = django_user_model.objects.create_user("lukasz", "l@example.com", "pw", first_name="\u0141ukasz")
    client = Client(raise_request_exception=False)
    client.force_login(user)
    body = b"<html><head></head><body><article><h1>Harbour lights</h1></article></body></html>"
    monkeypatch.setattr(type(article), "serve", lambda self, request, *args, **kwargs: HttpResponse(
        body, content_type="text/html; charset=us-ascii"))
    response = client.get(article.url)
    assert response.status_code == 200 and b'data-name="&#321;ukasz"' in response.content


def test_a_page_served_at_an_address_that_is_not_its_sites_says_so_once_in_the_log(article, caplog):
    # Wagtail serves the default Site for any hostname: at 127.0.0.1:8000 (runserver), the Site localhost:8000's
    # share links are dead and its collector refuses the beacons. The owner learns it from the log, once.
    from wagtail_darksocial import tracking

    tracking.warned_sites.clear()
    for port in (8000, 8000, 8001, 8002):  # the Host header is the client's: one line for the Site, not per port
        get(article.url, HTTP_HOST=f"127.0.0.1:{port}")
    get(article.url, HTTP_HOST="localhost:8000")  # the Site's own address
    get(article.url, HTTP_HOST="localhost:8000", secure=True)  # behind a proxy that speaks TLS, the same origin
    warnings = [r.getMessage() for r in caplog.records if r.name == "wagtail_darksocial.tracking"]
    assert len(warnings) == 1 and "served at http://127.0.0.1:8000" in warnings[0]
    assert "Settings → Sites" in warnings[0]


def test_template_tags_render_nothing_on_an_opted_out_page(article, monkeypatch):
    from wagtail_darksocial.models import PageOptOut

    monkeypatch.setattr(type(article), "template", "tags_article.html", raising=False)
    PageOptOut.objects.create(page=article)
    assert "darksocial" not in get(article.url)[1]


def test_hostile_titles_are_escaped(article):
    article.title = '</title><script>alert("t")</script>"\'><img src=x onerror=alert(1)>'
    article.save_revision().publish()
    html = get(article.url)[1]
    assert "<script>alert" not in html and "<img src=x" not in html
    assert html.count(BAR) == 1


def test_settings_shape_the_tracker(article, site_settings):
    site_settings.channels = "tg, em"
    site_settings.position = "body-end"
    site_settings.cookieless = True
    site_settings.respect_dnt = True
    site_settings.collector_site_id = "harbour"
    site_settings.save()
    html = get(article.url)[1]
    assert 'data-site="harbour"' in html and "data-cookieless" in html and "data-dnt" in html
    assert 'data-ds="tg"' in html and 'data-ds="em"' in html and 'data-ds="wa"' not in html
    assert html.index(BAR) > html.index("</article>")


def test_signed_in_users_are_identified_only_when_the_site_opts_in(article, site_settings, django_user_model):
    user = django_user_model.objects.create_user("amy", password="pw", first_name='<b>Amy</b>', last_name="O'Neil")
    client = Client()
    client.force_login(user)
    assert "identify.js" not in get(article.url, client)[1]
    site_settings.identify_users = True
    site_settings.save()
    response, html = get(article.url, client)
    assert html.count("identify.js") == 1
    assert tracking.external_id(user) in html and str(user.pk) not in tracking.external_id(user)
    assert "&lt;b&gt;Amy&lt;/b&gt; O&#x27;Neil" in html and "<b>Amy" not in html
    assert "private" in response["Cache-Control"]  # never cached for somebody else
    assert "identify.js" not in get(article.url)[1]  # anonymous visitors: nothing


def test_page_caching_keeps_the_bar(article, settings):
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "pc"}}
    settings.MIDDLEWARE = ["django.middleware.cache.UpdateCacheMiddleware", *settings.MIDDLEWARE,
                           "django.middleware.cache.FetchFromCacheMiddleware"]
    settings.CACHE_MIDDLEWARE_SECONDS = 60
    first, second = get(article.url)[1], get(article.url)[1]
    assert first == second and second.count(BAR) == 1


def test_strict_content_security_policy_needs_no_exception(article, settings):
    settings.MIDDLEWARE = [*settings.MIDDLEWARE, "csp.middleware.CSPMiddleware"]
    settings.CONTENT_SECURITY_POLICY = {"DIRECTIVES": {"default-src": ["'self'"]}}
    response, html = get(article.url)
    assert response["Content-Security-Policy"] == "default-src 'self'"
    site = article.get_site()
    added = inject.head_tags(tracking.tracker_config(tracking.active_settings(site, article), site))
    assert added in html and "<script>" not in added and " style=" not in html


def test_a_page_that_answers_json_or_a_redirect_is_untouched(article, monkeypatch):
    from django.http import HttpResponseRedirect, JsonResponse

    monkeypatch.setattr(type(article), "serve", lambda self, request, *a, **k: JsonResponse({"title": self.title}))
    response, body = get(article.url)
    assert response["Content-Type"] == "application/json" and body == '{"title": "The harbour lights are back"}'
    monkeypatch.setattr(type(article), "serve", lambda self, request, *a, **k: HttpResponseRedirect("/"))
    response, body = get(article.url)
    assert response.status_code == 302 and body == ""


@pytest.mark.parametrize(("collector_url", "error"), [
    ("collect", "'collector: collect' is a relative URL"),
    ("javascript:alert(1)", "must be an http(s) URL or a path"),
])
def test_the_settings_refuse_a_collector_url_no_page_could_post_to(site_settings, collector_url, error):
    from django.core.exceptions import ValidationError

    site_settings.collector_url = collector_url
    with pytest.raises(ValidationError) as raised:
        site_settings.full_clean()
    assert error in str(raised.value.message_dict["collector_url"])
