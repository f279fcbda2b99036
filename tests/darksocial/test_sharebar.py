"""The server-rendered share bar: accessible, configurable, working without JavaScript, and inert to hostile input."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from bs4 import BeautifulSoup

from darksocial import channels, tokens
from darksocial.inject import InjectError, TrackerConfig, markup_bytes, share_bar

PAGE = "https://example.com/stories/dark-social/"
EVIL = '"><script>alert(1)</script>'


def config(**overrides) -> TrackerConfig:
    base = dict(collector="/-/darksocial/collect", site="example", script_url="/s/ds.js", css_url="/s/ds.css")
    return TrackerConfig(**(base | overrides))


def parse(markup: str) -> BeautifulSoup:
    return BeautifulSoup(markup, "html.parser")


def test_bar_is_a_labelled_nav_with_one_labelled_control_per_channel():
    nav = parse(share_bar(config(), PAGE, "Title")).nav
    assert nav["aria-label"] == "Share this page"
    controls = nav.select("[data-ds]")
    assert [c["data-ds"] for c in controls] == list(channels.DEFAULT_BUTTONS)
    for control in controls:
        label = control.get_text(strip=True) or control.get("aria-label")
        assert label == channels.CHANNELS[control["data-ds"]].label
        assert control.svg["aria-hidden"] == "true"


def test_channel_list_and_order_are_configuration():
    nav = parse(share_bar(config(channels=["em", "wa"]), PAGE, "T")).nav
    assert [c["data-ds"] for c in nav.select("[data-ds]")] == ["em", "wa"]
    assert nav.select_one(".ds-msg") is None  # no copy-link button, no copy feedback
    with pytest.raises(InjectError, match="valid codes"):
        config(channels=["wa", "myspace"])


@pytest.mark.parametrize("code", [c for c in channels.DEFAULT_BUTTONS if c != "ns"])
def test_links_work_without_javascript(code):
    link = parse(share_bar(config(), PAGE, "Title")).select_one(f"[data-ds={code}]")
    href = link["href"]
    shared = PAGE + tokens.fragment(None, code)
    assert href == channels.CHANNELS[code].share_href(shared, title="Title")
    if code == "cl":
        assert href == PAGE + "#ds=.cl"
    else:
        assert any(shared in v for vs in parse_qs(urlsplit(href).query).values() for v in vs)
    # Share services open in a new tab; app schemes (sms:, mailto:, fb-messenger:) must not leave an empty one.
    assert (link.get("target") == "_blank") == (href.startswith("https:") and code != "cl")


def test_native_share_button_is_hidden_until_the_tracker_finds_navigator_share():
    button = parse(share_bar(config(), PAGE, "T")).select_one("[data-ds=ns]")
    assert button.name == "button" and button["type"] == "button" and button.has_attr("hidden")


def test_query_mode_puts_the_channel_in_the_query():
    bar = parse(share_bar(config(query_mode=True), PAGE + "?page=2#comments", "T"))
    assert bar.select_one("[data-ds=cl]")["href"] == PAGE + "?page=2&ds=.cl"


def test_site_name_joins_the_share_text():
    href = parse(share_bar(config(site_name="The Paper"), PAGE, "Story")).select_one("[data-ds=wa]")["href"]
    assert parse_qs(urlsplit(href).query)["text"][0] == f"Story — The Paper {PAGE}#ds=.wa"


def test_hostile_title_is_inert_everywhere():
    markup = share_bar(config(site_name=EVIL), PAGE, EVIL)
    assert "<script" not in markup and EVIL not in markup
    soup = parse(markup)
    assert soup.find("script") is None and len(soup.find_all("nav")) == 1
    # ...and the title still arrives intact at the share service, once the href is decoded.
    href = soup.select_one("[data-ds=rd]")["href"]
    assert parse_qs(urlsplit(href).query)["title"][0] == EVIL


def test_hostile_page_url_is_escaped_or_refused():
    url = 'https://example.com/a"><script>alert(1)</script>'
    markup = share_bar(config(), url, "T")
    assert "<script" not in markup
    assert parse(markup).select_one("[data-ds=cl]")["href"] == url + "#ds=.cl"
    for bad in ("javascript:alert(1)", "data:text/html,<script>alert(1)</script>", "JaVaScRiPt:alert(1)"):
        with pytest.raises(InjectError, match="http"):
            share_bar(config(), bad, "T")


def test_config_is_validated_with_the_fix_in_the_message():
    with pytest.raises(InjectError, match="after-h1"):
        config(position="sidebar")
    with pytest.raises(InjectError, match="site"):
        config(site="no spaces please")
    with pytest.raises(InjectError, match="collector"):
        config(collector="javascript:alert(1)")
    with pytest.raises(InjectError, match="home_path"):
        config(home_path="docs/")


def test_markup_stays_within_the_8_kb_budget():
    title = "How a WhatsApp forward of our longest investigation reached a million readers in a single weekend"
    assert markup_bytes(config(site_name="The Example Gazette"), PAGE, title) <= 8 * 1024


def test_icon_style_is_compact_with_titles_for_names_and_tooltips():
    nav = parse(share_bar(config(style="icons"), PAGE, "Title")).nav
    assert nav["class"] == ["ds-bar", "ds-icons"]
    for control in nav.select("[data-ds]"):
        label = channels.CHANNELS[control["data-ds"]].label
        assert control.get_text() == "" and control["title"] == label  # the accessible name, and a tooltip
    assert "title" not in parse(share_bar(config(), PAGE, "T")).select_one("[data-ds=wa]").attrs
    with pytest.raises(InjectError, match="icons"):
        config(style="emoji")


def test_links_carry_the_canonical_url():
    bar = parse(share_bar(config(), PAGE + "?page=2&utm_source=news&fbclid=x&email=a%40b.example#top", "T"))
    assert bar.select_one("[data-ds=cl]")["href"] == PAGE + "?page=2#ds=.cl"
    assert "utm_source" not in bar.select_one("[data-ds=wa]")["href"]
    extra = parse(share_bar(config(strip_params=("page",)), PAGE + "?page=2", "T"))
    assert extra.select_one("[data-ds=cl]")["href"] == PAGE + "#ds=.cl"


def test_in_page_navigation_libraries_leave_the_bar_to_the_tracker():
    nav = parse(share_bar(config(), PAGE, "T")).nav
    assert nav["data-turbo"] == "false" and nav["hx-boost"] == "false"
    assert nav.select_one("[data-ds=cl]")["target"] == "_self"  # Material's instant navigation skips targets


@pytest.mark.parametrize("style", ["text", "icons"])
def test_markup_with_every_channel_and_a_long_title_stays_within_8_kb(style):
    title = "How a WhatsApp forward of our longest investigation reached a million readers in a single weekend"
    long_url = PAGE + "a-very-long-slug-for-a-story-" * 4 + "/"
    assert markup_bytes(config(site_name="The Example Gazette", style=style), long_url, title) <= 8 * 1024
