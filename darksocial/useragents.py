"""What the collector keeps of a user agent: bot or not, and three coarse facts.

The full user-agent string is never stored: only a browser family ("Chrome",
"Safari", "Firefox"...), a device class (desktop / mobile / tablet) and, when
the page was opened inside a chat or social app, which app. The in-app browser
is what lets a report show that a visit came through WhatsApp or Instagram
even when the link carried no token and no referrer.

Bots are recognised with crawlerdetect's maintained lists; families with
ua-parser (the maintained Browserscope/uap-core rules). Both are slow-ish per
call, but user-agent strings repeat a lot, so results are cached.

The browser family comes from a closed list (:data:`BROWSER_FAMILIES`): anything
else is stored as ``Other``, because ua-parser's family for an unknown app can be
any text of the user agent, an account name included. An in-app browser is named
after its app.

In-app browsers are people: their markers are checked before the crawler list,
whose patterns name the same apps. Only a browser's agent (``Mozilla/...``) can be
an in-app browser: the apps' link-preview fetchers ("WhatsApp/2.23.20.0 A") run no
JavaScript and send no events, and one that did would be answered as a bot.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from crawlerdetect.providers.crawlers import data as crawler_patterns
from crawlerdetect.providers.exclusions import data as exclusion_patterns
from ua_parser import parse

MAX_USER_AGENT = 1024  # longer than any real browser's; longer ones are treated as bots

# In-app browsers announce themselves with a marker in the user agent. Order matters:
# Messenger's marker (FBAN/Messenger...) must win over Facebook's generic FBAN.
IN_APP_MARKERS: tuple[tuple[str, re.Pattern], ...] = (
    ("messenger", re.compile(r"FBAN/(?:Messenger|MessengerLite|MessengerForiOS)|FB_IAB/(?:MESSENGER|Orca)")),
    ("facebook", re.compile(r"FBAN/|FBAV/|FB_IAB/|\[FB")),
    ("instagram", re.compile(r"\bInstagram\b")),
    ("whatsapp", re.compile(r"\bWhatsApp\b", re.I)),
    ("telegram", re.compile(r"\bTelegram(?:-Android)?\b")),
    ("linkedin", re.compile(r"\bLinkedInApp\b")),
    ("x", re.compile(r"\bTwitter(?:Android)?\b")),
    ("snapchat", re.compile(r"\bSnapchat\b")),
    ("tiktok", re.compile(r"\b(?:musical_ly|BytedanceWebview|TikTok)\b")),
    ("line", re.compile(r"\bLine/\d")),
    ("pinterest", re.compile(r"\bPinterest\b")),
    ("wechat", re.compile(r"\bMicroMessenger/")),
    ("viber", re.compile(r"\bViber/\d")),  # Viber's link-preview fetcher ends in a bare "Viber"
    ("kakaotalk", re.compile(r"\bKAKAOTALK\b")),
    ("discord", re.compile(r"\bDiscord/\d")),
    ("threads", re.compile(r"\bBarcelona \d")),
)
_TABLET = re.compile(r"iPad|Tablet|Kindle|Silk/|PlayBook")
_MOBILE = re.compile(r"Mobi|iPhone|iPod|Windows Phone")

# crawlerdetect's lists, searched as CrawlerDetect.is_crawler searches them, except that its catch-all pattern loses
# its leading "[a-z0-9\-_]*": that prefix may match nothing, so the yes/no is the same, but an unanchored search
# rescanned a long run of letters from each of its positions (quadratic: 87 ms for a 1,024-character agent).
_CATCH_ALL_PREFIX = r"[a-z0-9\-_]*"
_CRAWLERS = re.compile("|".join(p.removeprefix(_CATCH_ALL_PREFIX) for p in crawler_patterns), re.I)
_EXCLUSIONS = re.compile("|".join(exclusion_patterns), re.I)


# The closed list of browser families stored; ua-parser's family is mapped onto it by prefix, in this order.
BROWSER_FAMILIES = (
    "Chrome", "Safari", "Firefox", "Edge", "Opera", "Samsung Internet", "Brave", "Vivaldi", "Yandex Browser",
    "UC Browser", "Silk", "DuckDuckGo", "Chromium", "Android Browser", "Internet Explorer",
    "Messenger", "Facebook", "Instagram", "WhatsApp", "Telegram", "LinkedIn", "X", "Snapchat", "TikTok", "Line",
    "Pinterest", "WeChat", "Viber", "KakaoTalk", "Discord", "Threads", "Other",
)
_FAMILY_PREFIXES = (
    ("Samsung Internet", "Samsung Internet"), ("Yandex", "Yandex Browser"), ("UC Browser", "UC Browser"),
    ("DuckDuckGo", "DuckDuckGo"), ("HeadlessChrome", "Chrome"), ("Chrome", "Chrome"), ("Chromium", "Chromium"),
    ("Firefox", "Firefox"), ("Edge", "Edge"), ("Opera", "Opera"), ("Mobile Safari", "Safari"), ("Safari", "Safari"),
    ("Brave", "Brave"), ("Vivaldi", "Vivaldi"), ("Amazon Silk", "Silk"), ("Silk", "Silk"),
    ("Android", "Android Browser"), ("IE", "Internet Explorer"),
)
_APP_FAMILIES = {
    "messenger": "Messenger", "facebook": "Facebook", "instagram": "Instagram", "whatsapp": "WhatsApp",
    "telegram": "Telegram", "linkedin": "LinkedIn", "x": "X", "snapchat": "Snapchat", "tiktok": "TikTok",
    "line": "Line", "pinterest": "Pinterest", "wechat": "WeChat", "viber": "Viber", "kakaotalk": "KakaoTalk",
    "discord": "Discord", "threads": "Threads",
}


@dataclass(frozen=True)
class Agent:
    browser: str  # one of BROWSER_FAMILIES, e.g. "Chrome", "Safari", "Samsung Internet", "Other"
    device: str  # "desktop", "mobile" or "tablet"
    in_app: str | None  # "whatsapp", "instagram", ... or None


def is_bot(user_agent: str) -> bool:
    """Crawlers, scripts and headless browsers; an empty user agent too (every browser sends one), and one longer
    than any browser's (checked before the cache: a client's megabyte of header must not stay in it).

    An in-app browser is a person, whatever the crawler list says of its app's name.
    """
    if not user_agent or len(user_agent) > MAX_USER_AGENT:
        return True
    return _is_bot(user_agent)


@lru_cache(maxsize=8192)
def _is_bot(user_agent: str) -> bool:
    if in_app(user_agent) is not None:
        return False
    agent = _EXCLUSIONS.sub("", user_agent.strip())
    return bool(agent) and _CRAWLERS.search(agent) is not None


@lru_cache(maxsize=8192)
def describe(user_agent: str) -> Agent:
    app = in_app(user_agent)
    return Agent(browser=_APP_FAMILIES[app] if app else _family(user_agent), device=_device(user_agent), in_app=app)


def in_app(user_agent: str) -> str | None:
    # An in-app browser is a browser: its agent is a browser's with the app's marker added. An app's own fetchers
    # ("WhatsApp/2.23.20.0 A", WhatsApp's link previews) are not, and are left to the crawler list.
    if not user_agent.startswith("Mozilla/"):
        return None
    for app, marker in IN_APP_MARKERS:
        if marker.search(user_agent):
            return app
    return None


def _family(user_agent: str) -> str:
    family = parse(user_agent).with_defaults().user_agent.family
    for prefix, name in _FAMILY_PREFIXES:
        if family.startswith(prefix):
            return name
    return "Other"


def _device(user_agent: str) -> str:
    if _TABLET.search(user_agent):
        return "tablet"
    if _MOBILE.search(user_agent):
        return "mobile"
    if "Android" in user_agent:
        # Android phones say "Mobile"; an Android browser without it is a tablet.
        return "tablet"
    return "desktop"
