"""The channel registry: every channel of the design, with real share endpoints and icons."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from bs4 import BeautifulSoup

from darksocial import channels

DESIGN_CODES = {"wa", "fm", "tg", "sms", "em", "cl", "ct", "ab", "x", "fb", "li", "rd", "bs", "ns"}
SHARED = "https://example.com/story/?a=1&b=2#ds=.wa"

# Where each service documents its share endpoint, and the parameter that must carry the URL.
ENDPOINTS = {
    "wa": ("https", "wa.me", "text"),
    "tg": ("https", "t.me", "url"),
    "x": ("https", "x.com", "url"),
    "fb": ("https", "www.facebook.com", "u"),
    "li": ("https", "www.linkedin.com", "url"),
    "rd": ("https", "www.reddit.com", "url"),
    "bs": ("https", "bsky.app", "text"),
    "fm": ("fb-messenger", "share", "link"),
}


def test_registry_matches_the_design():
    assert set(channels.CHANNELS) == DESIGN_CODES
    assert {c.code for c in channels.CHANNELS.values() if c.medium == "open"} == {"x", "fb", "li", "rd", "bs"}
    assert all(c.medium in channels.MEDIA for c in channels.CHANNELS.values())
    assert set(channels.DEFAULT_BUTTONS) <= set(channels.BUTTON_CODES)
    assert "ct" not in channels.BUTTON_CODES and "ab" not in channels.BUTTON_CODES


@pytest.mark.parametrize("code", sorted(ENDPOINTS))
def test_share_href_puts_the_whole_url_in_the_documented_parameter(code):
    scheme, host, param = ENDPOINTS[code]
    href = channels.CHANNELS[code].share_href(SHARED, title="A & B")
    parts = urlsplit(href)
    assert (parts.scheme, parts.hostname) == (scheme, host)
    value = parse_qs(parts.query)[param][0]
    assert SHARED in value  # decoded intact: '&' and '#' of the shared URL did not leak into the share URL


@pytest.mark.parametrize("code", ["sms", "em"])
def test_sms_and_mail_carry_the_url_in_the_body(code):
    href = channels.CHANNELS[code].share_href(SHARED, title="Hello")
    assert href.startswith(f"{'sms' if code == 'sms' else 'mailto'}:")
    assert SHARED in parse_qs(urlsplit(href).query)["body"][0]


def test_actions_without_endpoint_return_the_url_itself():
    assert channels.CHANNELS["cl"].share_href(SHARED) == SHARED


def test_icons_are_decorative_svg():
    for channel in channels.CHANNELS.values():
        svg = BeautifulSoup(channel.icon, "html.parser").svg
        assert svg is not None and svg["aria-hidden"] == "true", channel.code
        assert "script" not in channel.icon.lower()


def test_validate_buttons_names_the_valid_codes():
    assert channels.validate_buttons(["wa", "cl"]) == ("wa", "cl")
    with pytest.raises(channels.UnknownChannel, match="valid codes are: wa"):
        channels.validate_buttons(["wa", "whatsapp"])
    with pytest.raises(channels.UnknownChannel):
        channels.validate_buttons(["ct"])  # copied text is tracked, never a button
    with pytest.raises(channels.UnknownChannel, match="twice"):
        channels.validate_buttons(["wa", "wa"])
