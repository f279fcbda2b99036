"""Every page an analyst opens, in headless Chromium at 1,440 × 900, signed in: no horizontal scroll, no console
error or warning, no request leaving the machine (anything not on localhost is aborted and fails), names where the
analyst named a person, and a cascade drawn with exactly the people of the cascade."""

from __future__ import annotations

import sqlite3
from urllib.parse import quote, urlsplit

import pytest

from darksocial import analysts
from darksocial import reports as queries
from reporting import names

LOCAL_HOSTS = {"127.0.0.1", "localhost"}
NAMED = "Carol Danvers"


@pytest.fixture(scope="module")
def signed_in_page(browser, live_server, analyst_cookies, scenario, scenario_db):
    with sqlite3.connect(scenario_db, timeout=30) as conn:
        analysts.save_label(conn, scenario.CAROL_PERSON, NAMED, "Runs the book club", "test")
    names.forget(scenario.CAROL_PERSON)  # written behind the server's back: drop what it remembers
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    context.add_cookies([{"name": k, "value": v, "url": live_server} for k, v in analyst_cookies.items()])
    page = context.new_page()
    seen = {"requests": [], "outside": [], "console": []}

    def route(r):
        seen["requests"].append(r.request.url)
        if urlsplit(r.request.url).hostname in LOCAL_HOSTS:
            r.continue_()
        else:
            seen["outside"].append(r.request.url)
            r.abort()

    context.route("**/*", route)
    page.on("console", lambda msg: msg.type in ("error", "warning") and seen["console"].append(msg.text))
    page.on("pageerror", lambda exc: seen["console"].append(str(exc)))
    yield page, seen
    context.close()
    with sqlite3.connect(scenario_db, timeout=30) as conn:
        analysts.save_label(conn, scenario.CAROL_PERSON, "", "", "test")
    names.forget(scenario.CAROL_PERSON)


def visit(signed_in_page, url: str):
    page, seen = signed_in_page
    for key in seen:
        seen[key].clear()
    response = page.goto(url)
    assert response.status == 200, url
    page.wait_for_load_state("networkidle")
    return page, seen


def assert_clean(page, seen):
    assert seen["outside"] == []
    assert seen["console"] == []
    overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0, f"{page.url} scrolls sideways by {overflow} px"
    # Titles wrap between words only: no heading is narrower than its longest word.
    squeezed = page.evaluate("""[...document.querySelectorAll('h1, h2')].filter(h => {
        const words = h.innerText.split(/\\s+/).length;
        const lines = Math.round(h.getBoundingClientRect().height / parseFloat(getComputedStyle(h).lineHeight || 20));
        return words > 2 && lines >= words; }).map(h => h.innerText)""")
    assert squeezed == []


def test_the_dashboard(signed_in_page, live_server, scenario_db):
    page, seen = visit(signed_in_page, live_server + "/-/darksocial/dashboard")
    assert_clean(page, seen)
    assert page.locator(".ds-headline .ds-number").count() == 10
    with sqlite3.connect(scenario_db) as conn:
        visits = conn.execute("select count(*) from visits where date >= date('now', '-29 days')").fetchone()[0]
    assert page.locator(".ds-visits dd").first.inner_text() == f"{visits:,}"
    assert page.locator(f'.ds-panel a:text-is("{NAMED}")').count() >= 1
    assert page.locator(".ds-panel svg.ds-svg").count() == 2
    page.locator('.ds-presets a:text-is("7 days")').click()
    page.wait_for_load_state("networkidle")
    assert "days=7" in page.url and page.locator(".ds-presets .ds-current").inner_text() == "7 days"


@pytest.mark.parametrize("report", [r.name for r in queries.REPORTS])
def test_every_canned_report(signed_in_page, live_server, scenario, report):
    params = {"influencer": f"?person={quote(scenario.ALICE_PERSON)}", "cascade_tree": f"?share={scenario.SHARE_A}"}
    page, seen = visit(signed_in_page, f"{live_server}/darksocial/{report}{params.get(report, '')}")
    assert_clean(page, seen)
    assert page.locator("#sql-query").count() == 0
    if report == "top_influencers":
        assert page.locator(f'td a:text-is("{NAMED}")').count() == 1
        # Person and Name columns: the id tells namesakes apart, the name; both open the person's page
        links = page.locator(f'td a[title="{scenario.CAROL_PERSON}"]')
        assert links.all_inner_texts() == [names.short_id(scenario.CAROL_PERSON), NAMED]
        assert len(set(links.evaluate_all("links => links.map(a => a.href)"))) == 1


@pytest.mark.parametrize("table", ["visits", "shares", "influencers", "stories", "cascades", "cascade_people"])
def test_tables(signed_in_page, live_server, table):
    page, seen = visit(signed_in_page, f"{live_server}/darksocial/{table}")
    assert_clean(page, seen)


def test_the_influencer_page(signed_in_page, live_server, scenario):
    page, seen = visit(signed_in_page, f"{live_server}/-/darksocial/influencer?person={quote(scenario.CAROL_PERSON)}")
    assert_clean(page, seen)
    assert NAMED in page.locator("h1").inner_text()
    assert "Runs the book club" in page.locator(".ds-note").inner_text()
    got_it_from = page.locator('td a[href="/-/darksocial/influencer?person=x%3Aalice-1"]')
    assert got_it_from.first.inner_text() == "Alice Liddell"


def test_the_story_page(signed_in_page, live_server, scenario):
    page, seen = visit(signed_in_page, f"{live_server}/-/darksocial/story?url={quote(scenario.STORY_A)}")
    assert_clean(page, seen)
    assert page.locator(f'a:text-is("{NAMED}")').count() >= 1


def test_the_cascade_draws_the_people_of_the_cascade(signed_in_page, live_server, scenario, scenario_db):
    page, seen = visit(signed_in_page, f"{live_server}/-/darksocial/cascade?share={scenario.SHARE_A}")
    page.wait_for_selector("#cascade-tree svg .mark-symbol path", timeout=15_000)
    assert_clean(page, seen)
    with sqlite3.connect(scenario_db) as conn:
        people = conn.execute("select count(*) from cascade_people where root = ?", (scenario.SHARE_A,)).fetchone()[0]
    assert page.locator("#cascade-tree svg g.mark-symbol > path").count() - legend_symbols(page) == people
    labels = page.locator("#cascade-tree svg g.mark-text text").all_text_contents()
    assert "Alice Liddell" in labels and NAMED in labels
    legend = page.locator("#cascade-tree svg .role-legend").text_content()
    assert "WhatsApp" in legend and "Telegram" in legend
    width = page.locator("#cascade-tree svg").bounding_box()["width"]
    page.locator('.ds-zoom button:text-is("Zoom in")').click()
    assert page.locator("#cascade-tree svg").bounding_box()["width"] > width * 1.2


def legend_symbols(page) -> int:
    return page.locator("#cascade-tree svg .role-legend g.mark-symbol > path").count()


def test_the_largest_cascades_list(signed_in_page, live_server, scenario):
    page, seen = visit(signed_in_page, f"{live_server}/-/darksocial/cascade")
    assert_clean(page, seen)
    page.locator(f'a[href="/-/darksocial/cascade?share={scenario.SHARE_A}"]').first.click()
    page.wait_for_selector("#cascade-tree svg .mark-symbol path", timeout=15_000)
    assert seen["console"] == []
