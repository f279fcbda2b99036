"""Real Chromium on Django's live server: the Wagtail page's own tracker posts to the app's first-party collector
under a strict Content-Security-Policy. A shares on WhatsApp, B opens A's link and re-shares on Telegram, C opens
B's link (and D opens A's, so A reaches more people than B). After `manage.py darksocial_attribute`, the admin's
influencer report, read in the browser by a user with the report permission, ranks A above B, and A's cascade
shows B's re-share below A's share with C's click. And a signed-in user is identified by the page's own script."""

from __future__ import annotations

import re
import sqlite3
import time
from urllib.parse import urlsplit

import pytest
from django.core.management import call_command

from darksocial import tokens

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)
USER_AGENT = ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 "
              "Safari/537.36")  # headless Chromium's own says HeadlessChrome, which the collector drops as a bot


@pytest.fixture
def served_site(live_server, settings):
    from wagtail.models import Site

    settings.MIDDLEWARE = [*settings.MIDDLEWARE, "csp.middleware.CSPMiddleware"]
    settings.CONTENT_SECURITY_POLICY = {"DIRECTIVES": {"default-src": ["'self'"]}}
    parts = urlsplit(live_server.url)
    site = Site.objects.get(is_default_site=True)
    site.hostname, site.port = parts.hostname, parts.port
    site.save()  # registers the new origin with the collector
    Site.clear_site_root_paths_cache()
    return live_server.url


def wait_row(db_path, sql: str, params=(), timeout: float = 20.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        with sqlite3.connect(f"file:{db_path}?mode=ro", uri=True) as conn:
            conn.row_factory = sqlite3.Row
            rows = [dict(row) for row in conn.execute(sql, params)]
        if rows:
            return rows[0]
        if time.monotonic() > deadline:
            raise AssertionError(f"nothing matched {sql} {params} within {timeout}s")
        time.sleep(0.1)


def visitor(browser, problems: list):
    context = browser.new_context(user_agent=USER_AGENT)
    page = context.new_page()
    page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
    return page


def table_rows(page) -> list[str]:
    return [" ".join(text.split()) for text in page.locator("table tbody tr").all_inner_texts()]


def test_a_cascade_through_the_wagtail_site_reaches_the_admin_reports(browser, served_site, darksocial_db, reporter,
                                                                   share_via):
    problems: list = []
    article = f"{served_site}/harbour-lights/"

    a = visitor(browser, problems)
    a.goto(article)
    assert a.locator("nav.ds-bar").count() == 1
    a_view = wait_row(darksocial_db, "SELECT * FROM events WHERE kind = 'view' AND in_token IS NULL")
    wa_url = share_via(a, "wa")
    wa = tokens.from_url(wa_url)
    wait_row(darksocial_db, "SELECT * FROM events WHERE kind = 'share' AND token = ?", [wa.token])

    b = visitor(browser, problems)
    b.goto(wa_url)
    b_view = wait_row(darksocial_db, "SELECT * FROM events WHERE kind = 'view' AND in_token = ?", [wa.token])
    tg_url = share_via(b, "tg")
    tg = tokens.from_url(tg_url)
    wait_row(darksocial_db, "SELECT * FROM events WHERE kind = 'share' AND token = ?", [tg.token])

    c = visitor(browser, problems)
    c.goto(tg_url)
    wait_row(darksocial_db, "SELECT * FROM events WHERE kind = 'view' AND in_token = ?", [tg.token])
    d = visitor(browser, problems)
    d.goto(wa_url)
    wait_row(darksocial_db, "SELECT count(*) AS n FROM events WHERE kind = 'view' AND in_token = ? HAVING n = 2",
             [wa.token])
    assert not [p for p in problems if "Content Security Policy" in p], problems

    call_command("darksocial_attribute", verbosity=0)

    admin = browser.new_context().new_page()
    admin.goto(f"{served_site}/admin/login/")
    admin.fill("input[name=username]", "rosa")
    admin.fill("input[name=password]", "pw")
    admin.click("button[type=submit]")
    admin.wait_for_url(re.compile(r".*/admin/$"))
    admin.goto(f"{served_site}/admin/darksocial/top-influencers/")
    ranked = table_rows(admin)
    a_id, b_id = "v:" + a_view["visitor"], "v:" + b_view["visitor"]
    assert ranked[0].startswith(a_id) and ranked[1].startswith(b_id), ranked

    admin.click(f"text={a_id}")  # A's detail page
    admin.wait_for_url(re.compile(r".*/influencer/\?person="))
    admin.click(f"text={wa.token}")  # the cascade below A's WhatsApp share
    admin.wait_for_url(re.compile(r".*/cascade/\?share="))
    cascade = table_rows(admin)
    assert cascade[0].startswith(f"1 {wa.token}") and cascade[1].startswith(f"2 {tg.token}"), cascade
    assert cascade[1].endswith(wa.token) and " 1 1 " in cascade[1]  # B's re-share of A's, clicked by C


    # A signed-in user is identified by the page's own script once the site opts in (no inline script: CSP holds).
    from wagtail_darksocial.models import DarkSocialSettings
    from wagtail_darksocial.tracking import external_id

    settings = DarkSocialSettings.objects.get()
    settings.identify_users = True
    settings.save()
    rosa = visitor(browser, problems)
    rosa.goto(f"{served_site}/admin/login/")
    rosa.fill("input[name=username]", "rosa")
    rosa.fill("input[name=password]", "pw")
    rosa.click("button[type=submit]")
    rosa.wait_for_url(re.compile(r".*/admin/$"))
    rosa.goto(article)
    identify = wait_row(darksocial_db, "SELECT * FROM events WHERE kind = 'identify'")
    assert (identify["external_id"], identify["name"]) == (external_id(reporter), "Rosa Diaz")
    assert not [p for p in problems if "Content Security Policy" in p], problems
