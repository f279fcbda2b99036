"""Referrer and campaign classification of visits that carry no share token."""

from __future__ import annotations

import pytest

from darksocial.attribution import referrers


@pytest.mark.parametrize(
    ("host", "url", "expected"),
    [
        ("www.google.com", "https://blog.example/a", ("search", "google.com")),
        ("www.google.co.uk", "https://blog.example/a", ("search", "google.co.uk")),
        ("duckduckgo.com", "https://blog.example/a", ("search", "duckduckgo.com")),
        ("search.brave.com", "https://blog.example/a", ("search", "search.brave.com")),
        ("t.co", "https://blog.example/a", ("social", "x")),
        ("l.facebook.com", "https://blog.example/a", ("social", "fb")),
        ("www.linkedin.com", "https://blog.example/a", ("social", "li")),
        ("web.whatsapp.com", "https://blog.example/a", ("social", "wa")),
        ("mail.google.com", "https://blog.example/a", ("social", "em")),
        ("l.instagram.com", "https://blog.example/a", ("social", "l.instagram.com")),
        ("forum.example.org", "https://blog.example/a", ("referral", "forum.example.org")),
        ("blog.example", "https://blog.example/a", ("internal", None)),
        ("www.blog.example", "https://blog.example/a", ("internal", None)),
        (None, "https://blog.example/a", ("none", None)),
        ("www.google.com", "https://blog.example/a?utm_source=nl&utm_campaign=spring", ("campaign", "nl")),
        (None, "https://blog.example/a?utm_medium=email", ("campaign", "email")),
        (None, "https://blog.example/a?utm=1", ("none", None)),
    ],
)
def test_classify(host, url, expected):
    assert referrers.classify(host, url) == expected


def test_campaign_name_and_home_pages():
    assert referrers.campaign("https://x.example/?utm_source=a&utm_campaign=b") == ("a", "b")
    assert referrers.campaign("https://x.example/?q=utm_source") is None
    assert referrers.is_home("https://x.example/") and referrers.is_home("https://x.example")
    assert not referrers.is_home("https://x.example/post/1")


def test_channel_for_host_prefers_codes():
    assert referrers.channel_for_host("t.co") == "x"
    assert referrers.channel_for_host("www.news.example") == "news.example"


def test_campaign_from_the_collectors_campaign_query():
    page = "https://blog.example/a"
    assert referrers.classify(None, page, "utm_source=nl&utm_campaign=spring") == ("campaign", "nl")
    assert referrers.campaign(page, "UTM_SOURCE=nl&gclid=1") == ("nl", None)
    assert referrers.classify("www.google.com", page, "gclid=123") == ("campaign", "google")  # an ad, not a result


@pytest.mark.parametrize(
    ("host", "query", "expected"),
    [
        # An ad's or a mail tool's click id is a campaign named after the platform, whatever the referrer.
        (None, "gclid=abc", ("campaign", "google")),
        (None, "GBRAID=abc", ("campaign", "google")),
        ("www.bing.com", "msclkid=abc", ("campaign", "bing")),
        (None, "mc_cid=1&mc_eid=2", ("campaign", "mailchimp")),
        (None, "fbclid=abc&gclid=def", ("campaign", "google")),
        # Meta's ids are on every link posted there, and srsltid on Google's organic results: without a referrer
        # they name the network or the engine, as the referrer would; with one, the referrer decides.
        (None, "fbclid=abc", ("social", "fb")),
        (None, "igsh=abc", ("social", "instagram.com")),
        (None, "srsltid=abc", ("search", "google.com")),
        ("l.facebook.com", "fbclid=abc", ("social", "fb")),
        ("forum.example.org", "fbclid=abc", ("referral", "forum.example.org")),
        # utm_* parameters come first; an unknown parameter says nothing.
        (None, "utm_source=nl&gclid=abc", ("campaign", "nl")),
        (None, "ref=abc", ("none", None)),
    ],
)
def test_click_ids_say_where_a_visit_came_from(host, query, expected):
    assert referrers.classify(host, "https://blog.example/a", query) == expected


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("mtm_campaign=spring&mtm_source=newsletter", ("newsletter", "spring")),
        ("pk_cpn=spring&pk_src=partner", ("partner", "spring")),
        ("mtm_medium=email", ("email", None)),
        ("mtm_kwd=shoes", ("campaign", None)),
        ("pk_vid=1637a1b2c3d4e5f6", None),  # Matomo's cross-domain visitor id: no campaign
        ("utm_source=nl&mtm_source=other", ("nl", None)),
    ],
)
def test_matomo_campaign_parameters_are_campaigns_too(query, expected):
    assert referrers.campaign("https://blog.example/a", query) == expected
    assert referrers.classify(None, "https://blog.example/a", query)[0] == ("campaign" if expected else "none")


def test_every_click_id_is_a_tracking_parameter():
    from darksocial import urls

    assert set(referrers.CLICK_IDS) <= urls.DEFAULT_STRIP


@pytest.mark.parametrize(("host", "expected"), [
    ("android-app:com.whatsapp", ("social", "wa")),
    ("android-app:org.telegram.messenger", ("social", "tg")),
    ("android-app:com.google.android.gm", ("social", "em")),  # the Gmail app: an email, like Gmail on the web
    ("android-app:com.linkedin.android", ("social", "li")),
    ("android-app:com.instagram.android", ("social", "instagram.com")),
    ("android-app:com.google.android.googlequicksearchbox", ("search", "google.com")),
    # An app nobody listed is its own channel, whatever its package names (Google Docs is no search engine).
    ("android-app:com.google.android.apps.docs", ("referral", "android-app:com.google.android.apps.docs")),
    ("android-app:com.slack", ("referral", "android-app:com.slack")),
])
def test_an_android_apps_referrer_is_the_channel_of_its_web_host(host, expected):
    assert referrers.classify(host, "https://example.com/story") == expected
    assert referrers.channel_for_host(host) == expected[1]  # a click's channel when its share event is missing
