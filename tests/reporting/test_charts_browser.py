"""Each chart page renders in headless Chromium, signed in as an analyst, with no console error and no request
leaving the machine (every request is routed through a check; anything not on localhost is aborted and fails)."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from reporting import charts

LOCAL_HOSTS = {"127.0.0.1", "localhost"}


@pytest.fixture(scope="module")
def signed_in_page(browser, live_server, analyst_cookies):
    context = browser.new_context()
    context.add_cookies([{"name": k, "value": v, "url": live_server} for k, v in analyst_cookies.items()])
    page = context.new_page()
    seen = {"requests": [], "outside": [], "errors": []}

    def route(r):
        seen["requests"].append(r.request.url)
        if urlsplit(r.request.url).hostname in LOCAL_HOSTS:
            r.continue_()
        else:
            seen["outside"].append(r.request.url)
            r.abort()

    context.route("**/*", route)
    page.on("console", lambda msg: msg.type == "error" and seen["errors"].append(msg.text))
    page.on("pageerror", lambda exc: seen["errors"].append(str(exc)))
    yield page, seen
    context.close()


def visit(signed_in_page, url: str):
    page, seen = signed_in_page
    for key in seen:
        seen[key].clear()
    response = page.goto(url)
    assert response.status == 200, url
    return page, seen


def assert_clean(seen):
    assert seen["outside"] == []
    assert seen["errors"] == []
    assert all(urlsplit(u).hostname in LOCAL_HOSTS for u in seen["requests"])


def test_the_dashboard_draws_every_chart_locally(signed_in_page, live_server):
    page, seen = visit(signed_in_page, live_server + "/-/dashboards/darksocial")
    slugs = list(charts.dashboards_config("darksocial")[charts.DASHBOARD]["charts"])
    for slug in slugs:
        page.wait_for_selector(f"#chart-{slug} canvas, #chart-{slug} svg.marks", timeout=15_000)
    page.wait_for_load_state("networkidle")
    assert_clean(seen)
    assert any("/-/static-plugins/datasette_dashboards/vega-lite.min.js" in u for u in seen["requests"])
    assert any("/darksocial.json?sql=" in u for u in seen["requests"])  # each chart fetched its data locally


@pytest.mark.parametrize("slug", ["dark_social_over_time", "channel_mix", "top_influencers"])
def test_each_chart_page_renders(signed_in_page, live_server, scenario, slug):
    day = scenario.DAY.date().isoformat()
    page, seen = visit(signed_in_page, f"{live_server}/-/dashboards/darksocial/{slug}?since={day}&until={day}")
    drawing = page.wait_for_selector(".chart-container canvas, .chart-container svg.marks", timeout=15_000)
    page.wait_for_load_state("networkidle")
    box = drawing.bounding_box()
    assert box["width"] > 100 and box["height"] > 50
    assert_clean(seen)


def test_the_cascade_tree_of_a_share(signed_in_page, live_server, scenario):
    page, seen = visit(signed_in_page, f"{live_server}/-/darksocial/cascade?share={scenario.SHARE_A}")
    page.wait_for_selector("#cascade-tree svg text", timeout=15_000)
    labels = page.locator("#cascade-tree svg text").all_text_contents()
    assert "Alice Liddell · wa" in labels
    assert f"{scenario.BOB_PERSON} · tg" in labels and f"{scenario.CAROL_PERSON} · x" in labels
    assert page.locator("#cascade-tree svg path").count() >= 3  # top → A, A → B, A → C
    assert_clean(seen)


def test_the_cascade_tree_of_a_story(signed_in_page, live_server, scenario):
    page, seen = visit(signed_in_page, f"{live_server}/-/darksocial/cascade?url={scenario.STORY_B}")
    page.wait_for_selector("#cascade-tree svg text", timeout=15_000)
    assert "Jane · em" in page.locator("#cascade-tree svg text").all_text_contents()
    assert_clean(seen)


def test_the_influencer_page_a_marketer_can_act_on(signed_in_page, live_server, scenario):
    page, seen = visit(signed_in_page, f"{live_server}/-/darksocial/influencer?person={scenario.BOB_PERSON}")
    text = page.locator("main, .content, body").first.inner_text()
    assert "nano" in text and "first share" in text
    assert page.locator(f'a[href="{scenario.STORY_A}"]').count() >= 1  # back to the story
    assert page.locator('a[href="/-/darksocial/influencer?person=x%3Aalice-1"]').count() >= 1  # got it from Alice
    page.locator(f'a[href="/-/darksocial/cascade?share={scenario.SHARE_B}"]').click()
    page.wait_for_selector("#cascade-tree svg text", timeout=15_000)
    assert_clean(seen)
