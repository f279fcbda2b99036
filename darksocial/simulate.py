"""Realistic sharing traffic for the demo: visitors, influencers, cascades, goals.

The simulation produces the exact wire events the tracker would send (see
``darksocial.events``), each with the request headers a browser would add and the
moment it was sent, so the demo exercises the real collector end to end. It is
seeded: the same seed and the same end time give the same traffic.

Time: each day gets a steady number of arrivals with a weekly rhythm (weekdays
busier than weekends, a little day-to-day noise) spread over the hours of a
day the way people read (little at night, most in the day and the evening).
The clicks a share gets come minutes to hours after it, so a cascade spreads
over the following hours; nothing is sent after ``end`` (today is a partial day).

The model, in brief: people arrive from search, open social, direct and deep
links nobody can see the source of (untracked dark social). Each visitor has a
propensity to share; a few "advocates" share often and have large audiences
(a heavy-tailed audience size), most people rarely share to a handful of
friends. Each share goes through a channel chosen from a realistic mix (chat
apps dominate); each friend who clicks may share again, which grows cascades.
Some visitors copy the address bar, some copy text, some reach a goal.
"""

from __future__ import annotations

import datetime as dt
import math
import random
from dataclasses import dataclass, field

from . import tokens

# Weights of share channels (chat apps dominate dark social).
CHANNEL_MIX = {
    "wa": 30, "cl": 12, "em": 9, "tg": 8, "fm": 8, "sms": 5, "ct": 7, "ns": 6,
    "x": 5, "fb": 4, "li": 4, "rd": 1.5, "bs": 1.5,
}
# Open networks pass a referrer through their link shims; dark channels don't.
CHANNEL_REFERRER = {
    "x": "https://t.co/", "fb": "https://l.facebook.com/", "li": "https://www.linkedin.com/",
    "rd": "https://out.reddit.com/", "bs": "https://bsky.app/",
}
ARRIVALS = [  # (weight, referrer, utm query)
    (30, "https://www.google.com/", ""),
    (6, "https://duckduckgo.com/", ""),
    (5, "https://www.bing.com/", ""),
    (8, "https://news.ycombinator.com/", ""),
    (4, "https://www.reddit.com/", ""),
    (6, "", "?utm_source=newsletter&utm_medium=email&utm_campaign=weekly"),
    (14, "", ""),  # direct: home page or deep page with no referrer
    (3, "https://forum.example.org/", ""),
]
USER_AGENTS = [
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/18.1 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 15; Pixel 9) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 "
    "Mobile Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 "
    "Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 "
    "Safari/605.1.15",
    "Mozilla/5.0 (X11; Linux x86_64; rv:132.0) Gecko/20100101 Firefox/132.0",
    "Mozilla/5.0 (Linux; Android 14; SM-S918B; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 "
    "Chrome/131.0.0.0 Mobile Safari/537.36 [FBAN/EMA;FBLC/en_US;FBAV/440.0.0.0]",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Mobile/15E148 Instagram 357.0.0.0",
]
ADVOCATE_NAMES = [
    "Ana Souza", "Kwame Mensah", "Lena Fischer", "Hiro Tanaka", "Sofia Rossi",
    "Omar Haddad", "Maya Cohen", "Tomás García", "Ingrid Larsen", "Ravi Iyer",
]
GOALS = ("newsletter-signup", "download")


# Arrivals per day relative to the mean, Monday first: readers of a work blog come on weekdays.
WEEKLY_RHYTHM = (1.12, 1.15, 1.12, 1.08, 1.0, 0.72, 0.68)
# Relative activity per hour of the day (UTC), midnight first.
DAILY_RHYTHM = (2, 1, 1, 1, 1, 2, 4, 7, 9, 10, 10, 9, 9, 10, 10, 9, 9, 8, 8, 9, 9, 7, 5, 3)
CLICK_DELAY_HOURS = 3.0  # mean delay between a share and one of its clicks (exponential)
RELOAD_RATE = 0.04  # page views reloaded, or returned to with back/forward or a restored tab
CLICK_AGAIN_RATE = 0.06  # clicks followed, later, by a second click on the same link by the same person


@dataclass
class Request:
    """One beacon: the event body, the headers a browser sends with it, and when it is sent."""

    event: dict
    user_agent: str
    ip: str
    origin: str
    ts: dt.datetime


@dataclass
class Visitor:
    id: str
    user_agent: str
    ip: str
    propensity: float  # probability of sharing a page they read
    audience: int  # how many people one share of theirs reaches, on average
    name: str | None = None
    identified: bool = False
    seen_pages: set = field(default_factory=set)


@dataclass
class Simulation:
    site: str
    base_url: str  # e.g. "http://127.0.0.1:8000/"
    pages: list[tuple[str, str]]  # (path, title); the first is the home page
    end: dt.datetime  # now: the simulated period ends here (timezone-aware)
    seed: int = 7
    days: int = 30  # the period: the last `days` calendar days, today (until `end`) included
    daily_arrivals: float = 150.0  # mean people per day who arrive from outside (not through a share)
    ambassadors: dict[str, str] = field(default_factory=dict)  # token -> page path (links created ahead of time)

    def __post_init__(self):
        if self.end.tzinfo is None:
            raise ValueError("end must be timezone-aware")
        self.rng = random.Random(self.seed)
        # Reloads draw from their own stream: the rest of the traffic is the same with or without them.
        self.reload_rng = random.Random(f"{self.seed}:reloads")
        self.again_rng = random.Random(f"{self.seed}:clicks-again")  # likewise for second clicks
        self.visitors: list[Visitor] = []
        self.named = 0
        self.origin = self.base_url.split("/", 3)[0] + "//" + self.base_url.split("/", 3)[2]
        midnight = self.end.astimezone(dt.timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
        self.start = midnight - dt.timedelta(days=self.days - 1)

    # -- people -----------------------------------------------------------------------------------------------
    def _new_visitor(self) -> Visitor:
        rng = self.rng
        advocate = rng.random() < 0.1
        visitor = Visitor(
            id="".join(rng.choice(tokens.ALPHABET) for _ in range(16)),
            user_agent=rng.choice(USER_AGENTS),
            ip=f"198.51.100.{rng.randrange(1, 255)}",
            propensity=rng.uniform(0.4, 0.7) if advocate else rng.uniform(0.0, 0.16),
            # Heavy-tailed audiences for advocates; most people share with a handful of friends.
            audience=(min(8, int(rng.paretovariate(3) * 2.5)) if advocate
                      else min(4, int(rng.paretovariate(3) * 1.3))),
        )
        if advocate and self.named < len(ADVOCATE_NAMES):
            visitor.name = ADVOCATE_NAMES[self.named]
            self.named += 1
        self.visitors.append(visitor)
        return visitor

    def _request(self, visitor: Visitor, event: dict, ts: dt.datetime) -> Request:
        event = {"s": self.site, "v": visitor.id, **event}
        return Request(event=event, user_agent=visitor.user_agent, ip=visitor.ip, origin=self.origin, ts=ts)

    def _token(self) -> str:
        return tokens.mint(self.rng)

    # -- time -------------------------------------------------------------------------------------------------
    def _moment(self, day: dt.datetime) -> dt.datetime:
        """A moment of ``day`` (its midnight), drawn from the daily rhythm."""
        hour = self.rng.choices(range(24), weights=DAILY_RHYTHM)[0]
        return day + dt.timedelta(hours=hour, seconds=self.rng.randrange(3600))

    def _arrival_times(self) -> list[dt.datetime]:
        times = []
        for index in range(self.days):
            day = self.start + dt.timedelta(days=index)
            # Day-to-day noise (lognormal, about ±6%) on top of the weekly rhythm.
            mean = self.daily_arrivals * WEEKLY_RHYTHM[day.weekday()] * math.exp(self.rng.gauss(0, 0.06))
            times.extend(self._moment(day) for _ in range(max(0, round(self.rng.gauss(mean, math.sqrt(mean))))))
        return times

    # -- traffic ----------------------------------------------------------------------------------------------
    def requests(self) -> list[Request]:
        """Every beacon sent before ``end``, in the order the browsers sent them."""
        rng = self.rng
        seeds: list[tuple] = []  # (time, visitor, path, referrer, incoming, depth)
        for token, path in self.ambassadors.items():
            for _ in range(rng.randint(20, 45)):
                day = self.start + dt.timedelta(days=rng.randrange(self.days))
                seeds.append((self._moment(day), self._new_visitor(), path, "", token, 1))
        weights = [weight for weight, _, _ in ARRIVALS]
        for moment in self._arrival_times():
            _, referrer, query = rng.choices(ARRIVALS, weights=weights)[0]
            path = self.pages[0][0] if (not referrer and rng.random() < 0.4) else rng.choice(self.pages)[0]
            seeds.append((moment, None, path + query, referrer, "", 0))
        sent: list[Request] = []
        for moment, visitor, *rest in seeds:
            queue = [(moment, visitor or self._new_visitor(), *rest)]
            while queue:
                self._visit(*queue.pop(0), queue, sent)
        # Sorting keeps causal order: everything a visit causes happens after it.
        sent = [request for request in sent if request.ts <= self.end]
        sent.sort(key=lambda request: request.ts)
        return sent

    def _maybe_reload(self, visitor: Visitor, view: dict, ts: dt.datetime, sent: list) -> None:
        """Now and then the visitor reloads the page (or comes back to its tab): the tracker sends the page-view
        token its address bar holds as ``o``, which attribution credits as that view, never as a share. The home
        page shows no token: there ``o`` is empty, and attribution finds the visitor's earlier view of the page."""
        rng = self.reload_rng
        if rng.random() < RELOAD_RATE:
            shown = "" if view["u"].split("?")[0] == self.base_url + self.pages[0][0].lstrip("/") else view["t"]
            reload = {"k": "view", "u": view["u"], "t": tokens.mint(rng), "n": view["n"], "o": shown}
            sent.append(self._request(visitor, reload, ts + dt.timedelta(seconds=5 + rng.expovariate(1 / 600))))

    def _maybe_click_again(self, visitor: Visitor, path: str, referrer: str, incoming: str, first: dt.datetime,
                           sent: list) -> None:
        """Now and then a person opens the same message again, hours or days later: a second click on the same
        share by the same person, so that clicks outnumber the people reached, as they do in life."""
        rng = self.again_rng
        if rng.random() < CLICK_AGAIN_RATE:
            view = {"k": "view", "u": self.base_url + path.lstrip("/"), "t": tokens.mint(rng),
                    "n": dict(self.pages).get(path, ""), "i": incoming}
            if referrer:
                view["r"] = referrer
            sent.append(self._request(visitor, view, first + dt.timedelta(seconds=600 + rng.expovariate(1 / 86400))))

    def _after(self, ts: dt.datetime, mean_seconds: float) -> dt.datetime:
        return ts + dt.timedelta(seconds=1 + self.rng.expovariate(1 / mean_seconds))

    def _visit(self, ts, visitor, path, referrer, incoming, depth, queue, sent) -> None:
        rng = self.rng
        view_token = self._token()
        bare_path = path.split("?")[0]
        page_url = self.base_url + bare_path.lstrip("/")
        title = dict(self.pages).get(bare_path, "")
        view = {"k": "view", "u": self.base_url + path.lstrip("/"), "t": view_token, "n": title}
        if referrer:
            view["r"] = referrer
        if incoming:
            view["i"] = incoming
        sent.append(self._request(visitor, view, ts))
        self._maybe_reload(visitor, view, ts, sent)
        visitor.seen_pages.add(bare_path)
        if visitor.name and not visitor.identified and rng.random() < 0.9:
            visitor.identified = True
            sent.append(self._request(visitor, {"k": "identify", "x": f"crm-{visitor.id[:6]}", "n": visitor.name},
                                      self._after(ts, 20)))
        if rng.random() < 0.06 + 0.02 * depth:
            goal = {"k": "goal", "g": rng.choice(GOALS), "t": view_token, "u": page_url}
            if goal["g"] == "newsletter-signup":
                goal["gv"] = 1
            sent.append(self._request(visitor, goal, self._after(ts, 120)))
        # Interest fades down a cascade, which keeps it sub-critical (finite), as real ones are.
        if rng.random() >= visitor.propensity * 0.75**depth:
            # Still browse on: internal navigation keeps the visit going without a share.
            if rng.random() < 0.25:
                next_path = rng.choice(self.pages)[0]
                if next_path not in visitor.seen_pages:
                    queue.append((self._after(ts, 90), visitor, next_path, page_url, "", 0))
            return
        shares = 1 + (rng.random() < visitor.propensity / 2)
        for _ in range(shares):
            shared_at = self._after(ts, 60)
            code = rng.choices(list(CHANNEL_MIX), weights=list(CHANNEL_MIX.values()))[0]
            if rng.random() < 0.08:
                # Address-bar sharing: no share event, the page-view token itself travels.
                code, share_token = "ab", view_token
            else:
                share_token = self._token()
                sent.append(self._request(visitor, {"k": "share", "u": page_url, "t": share_token, "p": view_token,
                                                    "c": code}, shared_at))
            clicks = max(0, round(rng.gauss(visitor.audience, visitor.audience / 3)))
            if rng.random() < 0.1:
                # The sharer checks their own link: must not count as a click.
                queue.append((self._after(shared_at, 30), visitor, bare_path, "", f"{share_token}.{code}", depth + 1))
            incoming = share_token if code == "ab" else f"{share_token}.{code}"
            for _ in range(clicks):
                arrival, clicker = self._after(shared_at, CLICK_DELAY_HOURS * 3600), self._new_visitor()
                queue.append((arrival, clicker, bare_path, CHANNEL_REFERRER.get(code, ""), incoming, depth + 1))
                self._maybe_click_again(clicker, bare_path, CHANNEL_REFERRER.get(code, ""), incoming, arrival, sent)
