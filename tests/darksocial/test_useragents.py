"""User agents: bots as crawlerdetect says (with its catch-all made linear), in-app browsers as people."""

from __future__ import annotations

import random

import pytest
from crawlerdetect import CrawlerDetect
from crawlerdetect.providers.crawlers import data as crawler_patterns

from darksocial import useragents

BROWSERS = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148",
    "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
]
BOTS = ["Googlebot/2.1 (+http://www.google.com/bot.html)", "curl/8.5.0", "python-requests/2.32",
        "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)", "WhatsApp/2.23.20.0 A",
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/131.0 Safari/537.36",
        "facebookexternalhit/1.1", "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)", "my-uptime-checker"]


def test_the_catch_all_pattern_is_the_one_made_linear():
    # If crawlerdetect renames it, the answers stay right (the whole list is searched) but the fix is gone.
    assert any(p.startswith(useragents._CATCH_ALL_PREFIX) for p in crawler_patterns)


@pytest.mark.parametrize("agent", BROWSERS + BOTS)
def test_bots_are_what_crawlerdetect_says(agent):
    assert useragents.is_bot(agent) == CrawlerDetect().is_crawler(agent) == (agent in BOTS)


def test_the_same_answers_as_crawlerdetect_on_random_agents():
    rng = random.Random(7)
    words = ["Mozilla/5.0", "bot", "Bot", "crawl", "spider", "x-", "a_b", "Chrome/1", "Safari", "headless", "-",
             "_", "reader", "checker", "uptime", "fetcher", "(", ")", ";", " ", "Google", "feed", "my", "9"]
    detector = CrawlerDetect()
    for _ in range(3000):
        agent = "".join(rng.choice(words) for _ in range(rng.randint(1, 12)))
        if useragents.in_app(agent) is None:
            assert useragents.is_bot(agent) == detector.is_crawler(agent), agent


def test_a_long_run_of_letters_is_no_longer_rescanned_from_each_position():
    # The catch-all "[a-z0-9\-_]*(bot|crawl|...)" searched unanchored is quadratic in such a run; without the
    # prefix the regex engine meets each position once. Counted, not timed: the pattern that runs has no prefix.
    assert not any(p.startswith(useragents._CATCH_ALL_PREFIX) for p in useragents._CRAWLERS.pattern.split("|"))
    assert useragents.is_bot("Mozilla/5.0 " + "a" * 1000) is False
    assert useragents.is_bot("Mozilla/5.0 " + "a" * 1000 + "bot") is True


def test_an_agent_longer_than_a_browsers_is_a_bot_and_never_cached():
    useragents._is_bot.cache_clear()
    assert useragents.is_bot("Mozilla/5.0 " + "x" * useragents.MAX_USER_AGENT) is True
    assert useragents._is_bot.cache_info().currsize == 0
