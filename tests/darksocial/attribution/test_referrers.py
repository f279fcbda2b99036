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
    assert referrers.classify("www.google.com", page, "gclid=123") == ("search", "google.com")
