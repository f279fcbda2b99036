"""Classify how a visit without a share token arrived: by campaign parameters and referrer host.

Only hosts are ever seen here (the collector keeps the referrer's host, never its URL).
"""

from __future__ import annotations

from functools import lru_cache
from urllib.parse import parse_qs, urlsplit

from ..events import ANDROID_APP

# Search engines: matched on any label of the host (google.com, google.co.uk, www.bing.com...).
SEARCH_LABELS = frozenset(
    {"google", "bing", "duckduckgo", "yahoo", "yandex", "baidu", "ecosia", "qwant", "startpage", "kagi", "naver",
     "seznam", "sogou", "ask", "aol", "mojeek"}
)
SEARCH_HOSTS = frozenset({"search.brave.com", "search.yahoo.com", "presearch.com"})

# Hosts of social networks and chat web clients, with the channel code they stand for where one exists.
SOCIAL_HOSTS: dict[str, str | None] = {
    "t.co": "x", "x.com": "x", "twitter.com": "x",
    "facebook.com": "fb", "l.facebook.com": "fb", "lm.facebook.com": "fb", "m.facebook.com": "fb",
    "linkedin.com": "li", "lnkd.in": "li",
    "reddit.com": "rd", "out.reddit.com": "rd", "old.reddit.com": "rd",
    "bsky.app": "bs", "go.bsky.app": "bs",
    "web.whatsapp.com": "wa", "wa.me": "wa",
    "web.telegram.org": "tg", "t.me": "tg",
    "messenger.com": "fm",
    "instagram.com": None, "l.instagram.com": None, "threads.net": None, "mastodon.social": None,
    "youtube.com": None, "pinterest.com": None, "tiktok.com": None, "vk.com": None, "news.ycombinator.com": None,
}
# Click ids the platforms add to their links (cut from the page URL into events.campaign_query: see
# urls.DEFAULT_STRIP). Without utm_* parameters they still tell where a visit came from, referrer or not (apps and
# in-app browsers often send none): an ad platform's or a mail tool's id marks a campaign, named after the platform,
# even from a search engine's page (an ad, not a result). Meta adds fbclid and igshid to every link posted, paid or
# not, and Google and Yandex mark organic results (srsltid, ysclid): those name a social network or a search engine,
# as its referrer host would.
CLICK_IDS: dict[str, tuple[str, str]] = {
    **dict.fromkeys(("gclid", "gclsrc", "gbraid", "wbraid", "dclid"), ("campaign", "google")),
    "msclkid": ("campaign", "bing"), "yclid": ("campaign", "yandex"), "twclid": ("campaign", "twitter"),
    "ttclid": ("campaign", "tiktok"), "li_fat_id": ("campaign", "linkedin"), "rdt_cid": ("campaign", "reddit"),
    "epik": ("campaign", "pinterest"), "irclickid": ("campaign", "impact"), "s_cid": ("campaign", "adobe"),
    **dict.fromkeys(("mc_cid", "mc_eid"), ("campaign", "mailchimp")),
    **dict.fromkeys(("_hsenc", "_hsmi"), ("campaign", "hubspot")), "mkt_tok": ("campaign", "marketo"),
    **dict.fromkeys(("vero_id", "vero_conv"), ("campaign", "vero")),
    "fbclid": ("social", "fb"), **dict.fromkeys(("igshid", "igsh"), ("social", "instagram.com")),
    "srsltid": ("search", "google.com"), "ysclid": ("search", "yandex.ru"),
}
# Webmail clients: a click from an email read in the browser.
MAIL_HOSTS = frozenset({"mail.google.com", "outlook.live.com", "outlook.office.com", "mail.yahoo.com",
                        "mail.proton.me", "app.fastmail.com"})

# Android apps (the referrer of a page an app opened, events.ANDROID_APP) stand for their web host: WhatsApp's app
# and web client are one channel. Another app's package is its own channel (android-app:<package>), a referral.
ANDROID_APPS: dict[str, str] = {
    "com.whatsapp": "web.whatsapp.com", "com.whatsapp.w4b": "web.whatsapp.com",
    "org.telegram.messenger": "web.telegram.org", "org.telegram.messenger.web": "web.telegram.org",
    "com.facebook.orca": "messenger.com", "com.facebook.katana": "facebook.com", "com.facebook.lite": "facebook.com",
    "com.instagram.android": "instagram.com", "com.linkedin.android": "linkedin.com", "com.twitter.android": "x.com",
    "com.reddit.frontpage": "reddit.com", "xyz.blueskyweb.app": "bsky.app", "com.pinterest": "pinterest.com",
    "com.google.android.youtube": "youtube.com", "com.zhiliaoapp.musically": "tiktok.com",
    "com.google.android.gm": "mail.google.com", "com.microsoft.office.outlook": "outlook.live.com",
    "com.yahoo.mobile.client.android.mail": "mail.yahoo.com", "ch.protonmail.android": "mail.proton.me",
    "com.google.android.googlequicksearchbox": "google.com", "com.microsoft.bing": "bing.com",
    "com.duckduckgo.mobile.android": "duckduckgo.com",
}


def _web_host(host: str) -> str:
    """``host`` without ``www.``, or for an Android app (android-app:<package>) the web host it stands for, where it
    has one."""
    if host.startswith(ANDROID_APP):
        host = ANDROID_APPS.get(host[len(ANDROID_APP):], host)
    return _bare(host)


def _bare(host: str) -> str:
    host = host.lower().rstrip(".")
    return host[4:] if host.startswith("www.") else host


@lru_cache(maxsize=65536)
def social_channel(host: str) -> tuple[bool, str | None]:
    """(is a social or chat host, its channel code if it has one)."""
    bare = _web_host(host)
    if bare in SOCIAL_HOSTS:
        return True, SOCIAL_HOSTS[bare]
    if bare in MAIL_HOSTS:
        return True, "em"
    return False, None


@lru_cache(maxsize=65536)
def is_search(host: str) -> bool:
    bare = _web_host(host)
    if bare.startswith(ANDROID_APP):
        return False  # an app not listed: com.google.android.apps.docs names Google, but is no search engine
    return bare in SEARCH_HOSTS or any(label in SEARCH_LABELS for label in bare.split(".")[:-1])


@lru_cache(maxsize=65536)
def channel_for_host(host: str) -> str:
    """The channel a referrer host stands for: a channel code where known (t.co → x), else the host itself."""
    _, code = social_channel(host)
    return code or _web_host(host)


# Campaign parameters: Google's utm_* (any of them marks a campaign), and Matomo's (mtm_*, and pk_* from its Piwik
# days, with their short forms; pk_vid, a visitor id for cross-domain links, is none of them).
_CAMPAIGN_FIELDS = {
    "source": ("utm_source", "mtm_source", "mtm_src", "pk_source", "pk_src"),
    "medium": ("utm_medium", "mtm_medium", "mtm_mdm", "pk_medium", "pk_mdm"),
    "name": ("utm_campaign", "mtm_campaign", "mtm_cpn", "pk_campaign", "pk_cpn"),
}
_MATOMO_CAMPAIGN = frozenset({*_CAMPAIGN_FIELDS["source"], *_CAMPAIGN_FIELDS["medium"], *_CAMPAIGN_FIELDS["name"],
                              "mtm_keyword", "mtm_kwd", "mtm_content", "mtm_cnt", "mtm_cid", "mtm_group",
                              "mtm_placement", "pk_keyword", "pk_kwd", "pk_content", "pk_cnt"})
_CAMPAIGN_MARKS = ("utm_", "mtm_", "pk_")


@lru_cache(maxsize=65536)
def campaign(url: str | None, campaign_query: str | None = None) -> tuple[str, str | None] | None:
    """(source, campaign name) when the visit carried campaign parameters (utm_*, or Matomo's mtm_* / pk_*), else
    None: the source is utm_source (else utm_medium, else "campaign"), or Matomo's equivalents.

    They are read from ``campaign_query``, the tracking parameters the collector cut from the page URL
    (``events.campaign_query``, see darksocial.urls), else from the URL itself (events stored before that).
    """
    query = campaign_query if campaign_query else (urlsplit(url).query if url else "")
    lowered = query.lower()
    if not any(mark in lowered for mark in _CAMPAIGN_MARKS):
        return None
    params = {key.lower(): values[0] for key, values in parse_qs(query).items()}
    if not any(key.startswith("utm_") or key in _MATOMO_CAMPAIGN for key in params):
        return None

    def first(field: str) -> str | None:
        return next((params[key] for key in _CAMPAIGN_FIELDS[field] if params.get(key)), None)

    source = (first("source") or first("medium") or "campaign")[:100]
    name = first("name")
    return source, (name[:200] if name else None)


def clicked_from(url: str | None, campaign_query: str | None = None) -> tuple[str, str] | None:
    """(source, channel) that the click ids of the visit's tracking parameters stand for (see CLICK_IDS), else None;
    with several, an ad's or a mail tool's first."""
    query = campaign_query if campaign_query else (urlsplit(url).query if url else "")
    if not query:
        return None
    found = sorted((CLICK_IDS[name][0] != "campaign", name) for name in {key.lower() for key in parse_qs(query)}
                   if name in CLICK_IDS)
    return CLICK_IDS[found[0][1]] if found else None


@lru_cache(maxsize=65536)
def classify(referrer_host: str | None, url: str | None, campaign_query: str | None = None) -> tuple[str, str | None]:
    """(source, channel) for a visit without a share token.

    source is one of campaign, internal, search, social, referral, or "none" (no referrer:
    the caller decides between direct and estimated dark social). Campaign parameters and click ids come from
    ``campaign_query`` (see :func:`campaign` and :data:`CLICK_IDS`).
    """
    found = campaign(url, campaign_query)
    if found:
        return "campaign", found[0]
    clicked = clicked_from(url, campaign_query)
    if clicked and (clicked[0] == "campaign" or not referrer_host):
        return clicked
    if not referrer_host:
        return "none", None
    page_host = urlsplit(url).hostname if url else None
    if page_host and _bare(page_host) == _bare(referrer_host):
        return "internal", None
    social, code = social_channel(referrer_host)  # first: mail.google.com is webmail, not search
    if social:
        return "social", code or _web_host(referrer_host)
    return ("search" if is_search(referrer_host) else "referral"), _web_host(referrer_host)


@lru_cache(maxsize=65536)
def is_home(url: str | None, home_paths=("", "/", "/index.html", "/index.htm")) -> bool:
    return urlsplit(url or "").path in home_paths
