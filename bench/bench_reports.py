"""Canned reports on 1M visits: each report's time against the 200 ms budget (DESIGN.md, Budgets).

Builds a database with the real schema (darksocial.store migrations, darksocial.tables) holding 1,000,000 visits
over 90 days, 2 sites, 600 stories, 300k visitors, 100k shares with heavy-tailed sharers and re-share cascades,
and the rollups derived from them by SQL (influencers, stories, cascades, channels, daily, and the private
`_ds_influence` that amplified reach and conversions are counted from). Then runs every canned
report through Datasette (the way analysts meet it: GET /db/<report>.json) and straight on SQLite, side by side,
for the default window (the last 30 days), a window covering all 90 days (all 1M visits) and the same window up to
yesterday (top_influencers reads the figures of a person whose shares all lie in the window from `influencers`;
leaving today out, it counts those of the big sharers, who shared today: its largest case).

    python -m bench reports
"""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import os
import random
import statistics
import tempfile
import time
from pathlib import Path

VISITS = 1_000_000
SHARES = 100_000
VISITORS = 300_000
STORIES_PER_SITE = 300
DAYS = 90
BUDGET_MS = 200.0
RUNS = 5
SHARE_CHANNELS = {"wa": 30, "cl": 12, "em": 9, "tg": 8, "fm": 8, "sms": 5, "ct": 7, "ns": 6, "ab": 10,
                  "x": 5, "fb": 4, "li": 4, "rd": 1.5, "bs": 1.5}
OTHER_SOURCES = [  # (weight, source, medium, channel, referrer host)
    (35, "search", "search", "google.com", "www.google.com"),
    (5, "search", "search", "duckduckgo.com", "duckduckgo.com"),
    (12, "direct", "direct", None, None),
    (14, "dark_estimated", "dark", None, None),
    (10, "internal", "internal", None, "blog.example"),
    (8, "referral", "referral", "news.ycombinator.com", "news.ycombinator.com"),
    (6, "social", "open", "reddit.com", "www.reddit.com"),
    (4, "campaign", "campaign", "newsletter", None),
]
CLICK_SHARE = 0.3  # fraction of visits that are clicks on a share


def build(path: Path) -> dict:
    from darksocial import store, tables
    from darksocial.channels import CHANNELS

    rng = random.Random(20261125)
    db = store.open_db(path)
    conn = db.conn
    conn.execute("PRAGMA synchronous = OFF")
    today = dt.datetime.now(dt.timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    start = today - dt.timedelta(days=DAYS - 1)
    sites = ["blog", "news"]
    stories = [(site, f"https://{site}.example/story-{i}") for site in sites for i in range(STORIES_PER_SITE)]
    story_weights = list(itertools.accumulate(1 / (i + 1) ** 0.8 for i in range(len(stories))))
    persons = [f"v:visitor{i:07d}" for i in range(40_000)]
    person_weights = list(itertools.accumulate(1 / (i + 1) ** 1.1 for i in range(len(persons))))
    channels = list(SHARE_CHANNELS)
    channel_weights = list(itertools.accumulate(SHARE_CHANNELS.values()))
    source_weights = list(itertools.accumulate(w[0] for w in OTHER_SOURCES))

    def when(lo: dt.datetime) -> dt.datetime:
        span = (today + dt.timedelta(days=1) - lo).total_seconds()
        return lo + dt.timedelta(seconds=rng.random() * span * 0.999)

    # Shares: a third are re-shares of an earlier share of the same story (which makes cascades).
    shares = []
    by_story: dict = {}
    for n in range(SHARES):
        site, url = rng.choices(stories, cum_weights=story_weights)[0]
        parent = None
        earlier = by_story.get(url)
        if earlier and rng.random() < 0.33:
            parent = rng.choice(earlier[-50:])
        ts = when(parent["ts_obj"] if parent else start)
        channel = rng.choices(channels, cum_weights=channel_weights)[0]
        share = {
            "token": f"s{n:09d}", "origin": "share", "ts": store.utc_timestamp(ts), "date": ts.date().isoformat(),
            "site": site, "url": url, "sharer": rng.choices(persons, cum_weights=person_weights)[0],
            "sharer_name": None, "sharer_visitor": None, "channel": channel, "medium": CHANNELS[channel].medium,
            "parent_view": None,
            "parent": parent["token"] if parent else None, "root": parent["root"] if parent else f"s{n:09d}",
            "depth": parent["depth"] + 1 if parent else 1, "clicks": 0, "reach": 0, "reshares": 0,
            "amplified_reach": 0, "conversions": 0, "ts_obj": ts,
        }
        share["sharer_visitor"] = share["sharer"][2:]
        shares.append(share)
        by_story.setdefault(url, []).append(share)

    visit_columns = tables.VISITS.column_names()
    rows = []
    for n in range(VISITS):
        visitor = f"visitor{rng.randrange(VISITORS):07d}"
        row = dict.fromkeys(visit_columns)
        row.update(token=f"v{n:09d}", visitor=visitor, person=f"v:{visitor}", tracked=0, estimated=0, click=0,
                   browser="firefox", device=rng.choice(("desktop", "mobile", "mobile")))
        if rng.random() < CLICK_SHARE:
            share = shares[int(rng.paretovariate(1.2)) % SHARES] if rng.random() < 0.5 else rng.choice(shares)
            ts = when(share["ts_obj"])
            row.update(site=share["site"], url=share["url"], source="share", medium=share["medium"],
                       channel=share["channel"], tracked=1, share_token=share["token"], click=1,
                       sharer=share["sharer"], depth=share["depth"], root=share["root"],
                       share_date=share["date"], share_site=share["site"])
        else:
            _, source, medium, channel, referrer = rng.choices(OTHER_SOURCES, cum_weights=source_weights)[0]
            site, url = rng.choices(stories, cum_weights=story_weights)[0]
            ts = when(start)
            row.update(site=site, url=url, source=source, medium=medium, channel=channel, referrer_host=referrer,
                       estimated=int(source == "dark_estimated"))
        row.update(ts=store.utc_timestamp(ts), date=ts.date().isoformat(), title=row["url"].rsplit("/", 1)[-1])
        rows.append(tuple(row[c] for c in visit_columns))
        if len(rows) == 50_000:
            _insert(conn, "visits", visit_columns, rows)
            rows = []
    _insert(conn, "visits", visit_columns, rows)
    share_columns = tables.SHARES.column_names()
    _insert(conn, "shares", share_columns, [tuple(s[c] for c in share_columns) for s in shares])
    _rollups(conn)
    conn.commit()
    conn.execute("ANALYZE")
    counts = {t: conn.execute(f"select count(*) from [{t}]").fetchone()[0]
              for t in ("visits", "shares", "influencers", "stories", "cascades", "daily", "story_daily",
                        "channels", "_ds_influence")}
    db.close()
    return counts


def _insert(conn, table: str, columns: list[str], rows: list[tuple]) -> None:
    marks = ", ".join("?" * len(columns))
    conn.executemany(f"insert into [{table}] ({', '.join(columns)}) values ({marks})", rows)


def _rollups(conn) -> None:
    """Derive the rollups from visits and shares with SQL (the figures are consistent, not attribution's)."""
    from darksocial.attribution.rollups import STORY_DAILY_SQL

    conn.executescript("""
    create temp table click_stats as
      select share_token as token, count(*) as clicks, count(distinct visitor) as reach
      from visits where click = 1 group by share_token;
    create index temp.click_stats_token on click_stats(token);
    update shares set
      clicks = coalesce((select clicks from click_stats c where c.token = shares.token), 0),
      reach = coalesce((select reach from click_stats c where c.token = shares.token), 0);
    create index bench_shares_parent on shares(parent);
    update shares set reshares = (select count(*) from shares c where c.parent = shares.token and c.clicks > 0);
    drop index bench_shares_parent;
    update shares set amplified_reach = reach * (1 + reshares), conversions = reach / 20;
    insert into cascades (root, site, url, sharer, sharer_name, channel, started, shares, clicks, size, depth,
      structural_virality, conversions)
      select r.token, r.site, r.url, r.sharer, null, r.channel, r.ts, count(*), sum(s.clicks), 1 + sum(s.reach),
        max(s.depth), 1.0 + max(s.depth) / 3.0, sum(s.conversions)
      from shares r join shares s on s.root = r.token where r.parent is null group by r.token;
    insert into stories (site, url, title, visits, visitors, visits_dark_tracked, visits_dark_estimated,
      visits_open, visits_search, visits_referral, visits_campaign, visits_internal, visits_direct, shares, clicks,
      virality_score)
      select site, url, max(title), count(*), count(distinct visitor), sum(medium = 'dark' and tracked),
        sum(estimated), sum(medium = 'open'), sum(medium = 'search'), sum(medium = 'referral'),
        sum(medium = 'campaign'), sum(medium = 'internal'), sum(medium = 'direct'), 0, sum(click), 0
      from visits group by site, url;
    insert into daily (date, site, medium, channel, visits, visitors, tracked, estimated, clicks, shares)
      select date, site, medium, coalesce(channel, ''), count(*), count(distinct visitor), sum(tracked),
        sum(estimated), sum(click), 0
      from visits group by date, site, medium, coalesce(channel, '');
    update daily set shares = (select count(*) from shares s where s.date = daily.date and s.site = daily.site
      and s.channel = daily.channel and s.medium = daily.medium);
    -- Below a person in a cascade: whoever clicked their share or a re-share under it (at most 16 hops down); one in
    -- twenty people (by id) reached a goal after arriving.
    create index bench_shares_parent on shares (parent);
    create index bench_visits_clicks on visits (share_token, person, ts) where click = 1;
    insert into _ds_influence (root, site, date, person, member, arrived, conversions)
      with recursive below(ancestor, token, hops) as (
        select token, token, 0 from shares
        union all
        select b.ancestor, s.token, b.hops + 1 from below b join shares s on s.parent = b.token where b.hops < 16
      )
      select a.root, min(a.site), min(a.date), a.sharer, v.person, min(v.ts),
        cast(substr(v.person, -2) as integer) % 20 = 0
      from below b join shares a on a.token = b.ancestor
      join visits v on v.share_token = b.token and v.click = 1 and v.person != a.sharer
      group by a.root, a.sharer, v.person;
    drop index bench_shares_parent;
    drop index bench_visits_clicks;
    -- A person's figures over all time, counted as attribution counts them (rollups.influencer_rows): distinct
    -- people who clicked their shares, distinct people below them, each member's goals once.
    create temp table person_reach as
      select sharer as person, count(distinct person) as reach from visits where click = 1 group by sharer;
    create temp table person_credit as
      select person, count(*) as amplified_reach, sum(conversions) as conversions from (
        select person, member, max(conversions) as conversions from _ds_influence group by person, member
      ) group by person;
    insert into influencers (person, name, kind, shares, clicks, reach, reshares, amplified_reach, conversions,
      clicks_per_share, top_channel, top_story, tier, first_seen, last_seen)
      select sh.person, null, 'visitor', sh.shares, sh.clicks, coalesce(r.reach, 0), sh.reshares,
        coalesce(c.amplified_reach, 0), coalesce(c.conversions, 0), round(1.0 * sh.clicks / sh.shares, 2),
        sh.channel, sh.url,
        case when r.reach >= 1000 then 'macro' when r.reach >= 100 then 'mid'
             when r.reach >= 10 then 'micro' else 'nano' end, sh.first_seen, sh.last_seen
      from (select sharer as person, count(*) as shares, sum(clicks) as clicks, sum(reshares) as reshares,
              max(channel) as channel, max(url) as url, min(ts) as first_seen, max(ts) as last_seen
            from shares where sharer is not null group by sharer) sh
      left join person_reach r on r.person = sh.person left join person_credit c on c.person = sh.person;
    insert into channels (channel, label, medium, visits, shares, clicks, reach, reshares, clicks_per_share,
      k_factor, conversions)
      select channel, channel, max(medium), sum(visits), sum(shares), sum(clicks), 0, 0, null, null, 0
      from daily where channel != '' group by channel;
    """)
    conn.execute(STORY_DAILY_SQL)  # the full rebuild's own statement


def _report_indexes(path: Path) -> None:
    """The reporting server's own indexes, created the way `darksocial serve` does at startup."""
    import sqlite3

    from reporting import indexes

    with sqlite3.connect(path) as conn:
        indexes.create(conn)


def _still_built(path: Path) -> bool:
    """Whether a kept database still holds its visits and its `_ds_influence` rows after the store's migrations (a
    schema change resets the analyst tables, and an older bench left `_ds_influence` empty: either would make
    reports look instant), and whether its influencers count distinct people (an older bench summed shares' reach,
    which top_influencers, reading a person's all-time figures, would have shown)."""
    from darksocial import store

    db = store.open_db(path)
    try:
        return (db.execute("select count(*) from visits").fetchone()[0] == VISITS
                and db.execute("select count(*) from _ds_influence").fetchone()[0] > 0
                and db.execute("""select reach = (select count(distinct person) from visits
                                                  where click = 1 and sharer = influencers.person)
                                  from influencers order by shares desc limit 1""").fetchone() == (1,))
    finally:
        db.close()


def _params(report, window: dict, sample: dict) -> dict:
    params = {name: "" for name in report.params}
    params.update({k: v for k, v in window.items() if k in params})
    params.update({k: v for k, v in sample.items() if k in params})
    return params


def _time(fn) -> float:
    fn()  # warm the page cache and the statement cache
    samples = []
    for _ in range(RUNS):
        started = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


def measure(path: Path) -> list[tuple]:
    import sqlite3

    from darksocial import reports as queries
    from reporting import server

    conn = sqlite3.connect(path)
    top = conn.execute("select person from influencers order by reach desc limit 1").fetchone()[0]
    biggest = conn.execute("select root, url from cascades order by size desc limit 1").fetchone()
    sample = {"person": top, "share": biggest[0]}
    all_days = (dt.date.today() - dt.timedelta(days=DAYS)).isoformat()
    yesterday = (dt.date.today() - dt.timedelta(days=1)).isoformat()
    windows = {"last 30 days (default)": {}, f"all {DAYS} days": {"since": all_days},
               f"{DAYS} days to yesterday": {"since": all_days, "until": yesterday}}
    datasette = server.make_datasette(path, attribute_every=None, settings={"sql_time_limit_ms": 10_000})
    root = {"ds_actor": datasette.sign({"a": {"id": "analyst"}}, "actor")}  # signed in as analysts are
    loop = asyncio.new_event_loop()

    def through_datasette(report, params):
        response = loop.run_until_complete(datasette.client.get(
            f"/{path.stem}/{report.name}.json", params={**params, "_shape": "array"}, cookies=root))
        if response.status_code != 200:
            raise RuntimeError(f"{report.name}: HTTP {response.status_code}")

    results = []
    for label, window in windows.items():
        for report in queries.REPORTS:
            params = _params(report, window, sample)
            direct = _time(lambda r=report, p=params: conn.execute(r.sql, p).fetchall())
            try:
                served = _time(lambda r=report, p=params: through_datasette(r, p))
            except RuntimeError:  # over Datasette's 10 s limit: reported, and the other reports still measured
                served = float("inf")
            results.append((label, report.name, direct, served))
    loop.close()
    conn.close()
    return results


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        # DARKSOCIAL_BENCH_DB=path keeps the generated database there and reuses it on the next run.
        kept = os.environ.get("DARKSOCIAL_BENCH_DB")
        path = Path(kept) if kept else Path(tmp) / "bench.db"
        if path.exists() and not _still_built(path):
            print(f"{path.name}: the schema or the bench changed since it was built: rebuilding")
            for stale in path.parent.glob(path.name + "*"):
                stale.unlink()
        if not path.exists():
            started = time.perf_counter()
            counts = build(path)
            print(f"built {path.name} in {time.perf_counter() - started:.1f}s: "
                  + ", ".join(f"{v:,} {k}" for k, v in counts.items()))
        _report_indexes(path)
        print(f"median of {RUNS} runs, budget {BUDGET_MS:.0f} ms per report (ratio = time / budget, ≤ 1.00 passes)")
        print(f"{'window':<24} {'report':<24} {'sqlite ms':>10} {'datasette ms':>13} {'ratio':>7}")
        worst = 0.0
        for label, name, direct, served in measure(path):
            ratio = served / BUDGET_MS
            worst = max(worst, ratio)
            print(f"{label:<24} {name:<24} {direct:>10.1f} {served:>13.1f} {ratio:>7.2f}")
        print(f"worst ratio: {worst:.2f} ({'within' if worst <= 1 else 'OVER'} budget)")


if __name__ == "__main__":
    main()
