"""Realistic sharing traffic for the demo: visitors, influencers, cascades, goals.

The simulation produces the exact wire events the tracker would send (see
``darksocial.events``), each with the request headers a browser would add, so
the demo exercises the real collector end to end. It is seeded: the same seed
gives the same traffic.

The model, in brief: people arrive from search, open social, direct and deep
links nobody can see the source of (untracked dark social). Each visitor has a
propensity to share; a few "advocates" share often and have large audiences
(a heavy-tailed audience size), most people rarely share to a handful of
friends. Each share goes through a channel chosen from a realistic mix (chat
apps dominate); each friend who clicks may share again, which grows cascades.
Some visitors copy the address bar, some copy text, some reach a goal.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
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


@dataclass
class Request:
    """One beacon: the event body and the headers a browser sends with it."""

    event: dict
    user_agent: str
    ip: str
    origin: str


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
    seed: int = 7
    arrivals: int = 400  # people who arrive from outside (not through a share)
    ambassadors: dict[str, str] = field(default_factory=dict)  # token -> page path (links created ahead of time)

    def __post_init__(self):
        self.rng = random.Random(self.seed)
        self.visitors: list[Visitor] = []
        self.origin = self.base_url.split("/", 3)[0] + "//" + self.base_url.split("/", 3)[2]

    # -- people -----------------------------------------------------------------------------------------------
    def _new_visitor(self) -> Visitor:
        rng = self.rng
        advocate = rng.random() < 0.04
        visitor = Visitor(
            id="".join(rng.choice(tokens.ALPHABET) for _ in range(16)),
            user_agent=rng.choice(USER_AGENTS),
            ip=f"198.51.100.{rng.randrange(1, 255)}",
            propensity=rng.uniform(0.45, 0.8) if advocate else rng.uniform(0.0, 0.1),
            # Heavy-tailed audiences for advocates; most people share with a handful of friends.
            audience=(min(120, int(rng.paretovariate(1.4) * 8)) if advocate
                      else min(12, int(rng.paretovariate(2) * 1.5))),
        )
        if advocate and len([v for v in self.visitors if v.name]) < len(ADVOCATE_NAMES):
            visitor.name = ADVOCATE_NAMES[len([v for v in self.visitors if v.name])]
        self.visitors.append(visitor)
        return visitor

    def _request(self, visitor: Visitor, event: dict) -> Request:
        event = {"s": self.site, "v": visitor.id, **event}
        return Request(event=event, user_agent=visitor.user_agent, ip=visitor.ip, origin=self.origin)

    def _token(self) -> str:
        return "".join(self.rng.choice(tokens.ALPHABET) for _ in range(tokens.TOKEN_LENGTH))

    # -- traffic ----------------------------------------------------------------------------------------------
    def requests(self) -> Iterator[Request]:
        """Every beacon of the simulated period, in the order the browsers would send them."""
        rng = self.rng
        seeds: list[tuple[Visitor, str, str, str, int]] = []  # (visitor, path, referrer, incoming, depth)
        for token, path in self.ambassadors.items():
            for _ in range(rng.randint(6, 20)):
                seeds.append((self._new_visitor(), path, "", token, 1))
        weights = [weight for weight, _, _ in ARRIVALS]
        for _ in range(self.arrivals):
            _, referrer, query = rng.choices(ARRIVALS, weights=weights)[0]
            path = self.pages[0][0] if (not referrer and rng.random() < 0.4) else rng.choice(self.pages)[0]
            seeds.append((None, path + query, referrer, "", 0))
        rng.shuffle(seeds)
        # Each arrival's cascade runs to its end before the next arrival, so that a clock laid over the
        # sequence keeps every cascade's events together and in causal order.
        for seed in seeds:
            queue = [(seed[0] or self._new_visitor(), *seed[1:])]
            while queue:
                visitor, path, referrer, incoming, depth = queue.pop(0)
                yield from self._visit(visitor, path, referrer, incoming, depth, queue)

    def _visit(self, visitor, path, referrer, incoming, depth, queue) -> Iterator[Request]:
        rng = self.rng
        view_token = self._token()
        bare_path = path.split("?")[0]
        title = dict(self.pages).get(bare_path, "")
        view = {"k": "view", "u": self.base_url + path.lstrip("/"), "t": view_token, "n": title}
        if referrer:
            view["r"] = referrer
        if incoming:
            view["i"] = incoming
        yield self._request(visitor, view)
        visitor.seen_pages.add(bare_path)
        if visitor.name and not visitor.identified and rng.random() < 0.9:
            visitor.identified = True
            yield self._request(visitor, {"k": "identify", "x": f"crm-{visitor.id[:6]}", "n": visitor.name})
        if rng.random() < 0.06 + 0.02 * depth:
            goal = {"k": "goal", "g": rng.choice(GOALS), "t": view_token, "u": self.base_url + bare_path.lstrip("/")}
            if goal["g"] == "newsletter-signup":
                goal["gv"] = 1
            yield self._request(visitor, goal)
        # Interest fades down a cascade, which keeps it sub-critical (finite), as real ones are.
        if rng.random() >= visitor.propensity * 0.75**depth:
            # Still browse on: internal navigation keeps the visit going without a share.
            if rng.random() < 0.25:
                next_path = rng.choice(self.pages)[0]
                if next_path not in visitor.seen_pages:
                    queue.append((visitor, next_path, self.base_url + bare_path.lstrip("/"), "", 0))
            return
        shares = 1 + (rng.random() < visitor.propensity / 2)
        for _ in range(shares):
            code = rng.choices(list(CHANNEL_MIX), weights=list(CHANNEL_MIX.values()))[0]
            if rng.random() < 0.08:
                # Address-bar sharing: no share event, the page-view token itself travels.
                code, share_token = "ab", view_token
            else:
                share_token = self._token()
                yield self._request(visitor, {"k": "share", "u": self.base_url + bare_path.lstrip("/"),
                                              "t": share_token, "p": view_token, "c": code})
            clicks = max(0, int(rng.gauss(visitor.audience, visitor.audience / 3)))
            if rng.random() < 0.1:
                # The sharer checks their own link: must not count as a click.
                queue.append((visitor, bare_path, "", f"{share_token}.{code}", depth + 1))
            for _ in range(clicks):
                incoming = share_token if code == "ab" else f"{share_token}.{code}"
                queue.append((self._new_visitor(), bare_path, CHANNEL_REFERRER.get(code, ""), incoming, depth + 1))
