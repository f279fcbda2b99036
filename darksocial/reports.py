"""Canned reports: the questions analysts ask, each a titled, described, parameterised SQL query (no framework:
the Datasette plugin and the Wagtail admin both run these, so an editor and an analyst see the same figures).

Every report takes a date window (``since``, ``until``: YYYY-MM-DD, inclusive; blank means the last 30 days) and a
``site`` (blank means every site). Activity is dated by when it happened: a visit by its day, a share by the day it
was minted (its clicks and reach count whenever they came), a cascade by the day its root share was minted.
``reads`` names the tables a report reads: a report reading a private table is for signed-in analysts only.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from .analysts import LABELS_TABLE

# Blank since means the last 30 days *including today*: today and the 29 days before it.
# Values are trimmed as the dashboard trims them (a date typed into Datasette's form may bring a space).
DEFAULT_DAYS = 30  # a blank since: the last 30 days, today included
SINCE = f"coalesce(nullif(trim(:since), ''), date('now', '-{DEFAULT_DAYS - 1} days'))"
BEFORE = "date(coalesce(nullif(trim(:until), ''), date('now')), '+1 day')"
SITE = "trim(:site)"
WINDOW_PARAMS = ("since", "until", "site")
MAX_WINDOW_DAYS = 3653  # 10 years: the pages that show a window draw a point per day
WINDOW_HELP = (
    " Window: since/until are dates (YYYY-MM-DD), both inclusive; leave them blank for the last 30 days."
    " Leave site blank for every site."
)


def today() -> dt.date:
    """The reports' today: SQLite's date('now'), a UTC day (whatever the server's time zone)."""
    return dt.datetime.now(dt.timezone.utc).date()


def resolved_window(since: dt.date | None, until: dt.date | None, today: dt.date) -> tuple[dt.date, dt.date]:
    """A window's first and last day (inclusive), blanks (None) resolved as the reports' SQL resolves them."""
    return (since or today - dt.timedelta(days=DEFAULT_DAYS - 1)), (until or today)


def window_problem(since: dt.date | None, until: dt.date | None, today: dt.date) -> str | None:
    """Why a window (blanks are None) cannot be reported on, naming the field to change; None when it can. An
    impossible window is an error, never an empty report (or one of millions of days: a point per day is drawn)."""
    first, last = resolved_window(since, until, today)
    if first > last:
        if since is None:  # the blank since (the last 30 days) is after the until given: that is the one to change
            return (f"until must not be before since, and a blank since is {first.isoformat()} (the first of the "
                    f"last {DEFAULT_DAYS} days): give since too")
        return "since must not be after until"
    if (last - first).days >= MAX_WINDOW_DAYS:
        given = "until" if since is None else "since"  # the date that was given, not the blank one
        return (f"{given} makes a window of {(last - first).days + 1:,} days; a window is at most "
                f"{MAX_WINDOW_DAYS:,} days (10 years)")
    return None


def labelled(person_column: str, *names: str) -> str:
    """SQL: the name to show for the person in ``person_column``: the analyst's label (person_labels) first, then
    the first of ``names`` that is not null."""
    return (f"coalesce((select nullif(l.name, '') from [{LABELS_TABLE}] l where l.person = {person_column}), "
            f"{', '.join(names)})")


def in_window(date_column: str, site_column: str) -> str:
    """SQL condition: ``date_column`` (YYYY-MM-DD or ISO time) inside the window, ``site_column`` matching."""
    return (
        f"{date_column} >= {SINCE} and {date_column} < {BEFORE}"
        f" and ({SITE} = '' or {site_column} = {SITE})"
    )


@dataclass(frozen=True)
class Report:
    name: str
    title: str
    description: str
    sql: str
    reads: tuple[str, ...]
    params: tuple[str, ...] = WINDOW_PARAMS

    def canned_query(self) -> dict:
        return {
            "title": self.title,
            "description": self.description + WINDOW_HELP,
            "sql": self.sql.strip(),
            "params": list(self.params),
        }


TOP_INFLUENCERS = Report(
    "top_influencers",
    "Top influencers: who brings people to the site",
    "People whose shares brought the most people, best first (on equal reach, whose shares travelled further): shares "
    "they made in the window and the clicks those got, reach (distinct people who clicked them), re-shares, amplified "
    "reach (distinct people below them in the people trees of the cascades they shared into) and conversions (distinct"
    " person-goal pairs reached by those people after their first click into the cascade); distinct counts, never sums"
    " over shares. Tier (nano < 10, micro 10-99, mid 100-999, macro >= 1000 people reached) and top channel are over "
    "all time. Open a "
    "person for their detail page. (The 300 people with the largest summed per-share reach are ranked by distinct "
    "reach.)",
    f"""
with s as (
  select sharer, max(sharer_name) as sharer_name, count(*) as shares, sum(clicks) as clicks,
    sum(reshares) as reshares, min(ts) as first_share, max(ts) as last_share
  from shares
  -- +date: read the shares in sharer order from the by-sharer index (no sorter to group), not the date index
  where sharer is not null and {in_window("+date", "site")}
  group by sharer
  order by sum(reach) desc, clicks desc, shares desc, sharer
  limit 300
),
-- A person all of whose shares are in the window (as many as influencers counts over all time), on every site, has
-- the window's figures in influencers: their clicks and their credit rows carry the dates of their shares that
-- brought them. Counting theirs again would read the largest sharers' index entries for nothing.
t as (
  select s.*, i.name, i.tier, i.top_channel, {SITE} = '' and i.shares = s.shares as whole,
    i.reach as reach_all_time, i.amplified_reach as amplified_reach_all_time, i.conversions as conversions_all_time
  from s left join influencers i on i.person = s.sharer
)
-- The others' distinct counts read an index in (person, counted) order, one person at a time: SQLite counts them
-- without a temp B-tree. Reach is from the clicks alone: visits carry the date and site of the share clicked.
select
  sharer as person,
  {labelled("sharer", "sharer_name", "name")} as name,
  tier,
  shares,
  clicks,
  case when whole then reach_all_time else (
    select count(distinct person) from visits
    where click = 1 and visits.sharer = t.sharer and {in_window("share_date", "share_site")}
  ) end as reach,
  reshares,
  case when whole then amplified_reach_all_time else (
    select count(distinct member) from _ds_influence
    where _ds_influence.person = t.sharer and {in_window("date", "site")}
  ) end as amplified_reach,
  -- a member counts the most goals any of their rows in the window holds: only rows with goals matter
  case when whole then conversions_all_time else coalesce((
    select sum(conversions) from (
      select max(conversions) as conversions from _ds_influence
      where conversions > 0 and _ds_influence.person = t.sharer and {in_window("date", "site")}
      group by member
    )), 0) end as conversions,
  round(1.0 * clicks / shares, 2) as clicks_per_share,
  top_channel,
  first_share,
  last_share
from t
order by reach desc, amplified_reach desc, clicks desc, shares desc, person
limit 100
""",
    ("shares", "visits", "_ds_influence", "influencers", LABELS_TABLE),
)

INFLUENCER = Report(
    "influencer",
    "One influencer: their shares, channels and downstream reach",
    "Every share a person (as listed in Top influencers, e.g. v:abc123 or a:Jane) made in the window: the story, "
    "the channel, who they got the story from, and how far it went — clicks, reach, re-shares, amplified reach "
    "(everyone further down) and conversions.",
    f"""
select
  s.date,
  s.title_or_url as story,
  s.url,
  s.channel,
  s.medium,
  s.token as share,
  s.depth,
  p.sharer as got_it_from,
  s.clicks,
  s.reach,
  s.reshares,
  s.amplified_reach,
  s.conversions
from (
  select shares.*, coalesce(st.title, shares.url) as title_or_url
  from shares left join stories st on st.site = shares.site and st.url = shares.url
  where shares.sharer = :person and {in_window("shares.date", "shares.site")}
) s
left join shares p on p.token = s.parent
order by s.amplified_reach desc, s.clicks desc, s.ts
""",
    ("shares", "stories"),
    ("person", *WINDOW_PARAMS),
)

TOP_STORIES = Report(
    "top_stories",
    "Top stories: which pages spread",
    "Pages by visits in the window, with where the visits came from: tracked dark social (a private channel with "
    "a share token, or a channel code alone), untracked dark social (a private channel's referrer without a "
    "token, or estimated: first view, no referrer, deep page), open social networks and everything else; the "
    "shares minted in the window and the clicks they got.",
    f"""
with v as (
  select site, url, sum(visits) as visits,
    sum(visits_dark_tracked) as dark_tracked,
    sum(visits_dark_estimated) as dark_estimated,
    sum(visits_open) as open_social,
    sum(visits_other) as other,
    sum(shares) as shares,
    sum(clicks) as clicks
  from story_daily where {in_window("date", "site")}
  group by site, url
  having sum(visits) > 0 or sum(shares) > 0
)
select
  coalesce(st.title, v.url) as story,
  v.url,
  v.site,
  v.visits,
  v.dark_tracked,
  v.dark_estimated,
  round(100.0 * (v.dark_tracked + v.dark_estimated) / nullif(v.visits, 0), 1) as dark_social_pct,
  v.open_social,
  v.other,
  v.shares,
  v.clicks,
  round(1.0 * v.clicks / nullif(v.shares, 0), 2) as clicks_per_share,
  st.virality_score
from v
left join stories st on st.site = v.site and st.url = v.url
order by v.visits desc, v.url
limit 100
""",
    ("story_daily", "stories"),
)

CHANNEL_MIX = Report(
    "channel_mix",
    "Channel mix: where shared traffic flows",
    "Visits that arrived through a share channel (private ones like WhatsApp or copied links: medium dark; public "
    "networks: open) in the window, per channel, with the shares minted through it and clicks per share. "
    "'untracked (estimated)' is dark social nobody could tag: first view, no referrer, deep page.",
    f"""
select
  case when d.channel = '' and d.medium = 'dark' then 'untracked (estimated)'
       else coalesce(c.label, d.channel) end as channel,
  d.channel as code,
  d.medium,
  sum(d.visits) as visits,
  sum(d.tracked) as tracked,
  sum(d.estimated) as estimated,
  sum(d.shares) as shares,
  sum(d.share_clicks) as clicks,
  round(1.0 * sum(d.share_clicks) / nullif(sum(d.shares), 0), 2) as clicks_per_share,
  round(100.0 * sum(d.visits) / (
    select sum(visits) from daily where medium in ('dark', 'open') and {in_window("date", "site")}
  ), 1) as pct_of_shared_traffic
from daily d left join channels c on c.channel = d.channel
where d.medium in ('dark', 'open') and {in_window("d.date", "d.site")}
group by d.channel, d.medium
order by visits desc, shares desc, code
""",
    ("daily", "channels"),
)

DARK_SOCIAL_OVER_TIME = Report(
    "dark_social_over_time",
    "Dark social over time: how much 'direct' traffic is really dark social",
    "Visits per day in the window split into tracked dark social (arrived through a private channel with a share "
    "token), untracked dark social (a private channel's referrer without a token, or estimated: first view, no "
    "referrer, deep page — what other tools call 'direct'), open social networks, and the rest (search, "
    "referral, campaign, internal, direct); with dark social's percentage of all visits.",
    f"""
select
  date,
  sum(visits) as visits,
  sum(case when medium = 'dark' then tracked else 0 end) as dark_tracked,
  sum(estimated) as dark_estimated,
  sum(case when medium = 'open' then visits else 0 end) as open_social,
  sum(case when medium not in ('dark', 'open') then visits else 0 end) as other,
  round(100.0 * (sum(case when medium = 'dark' then tracked else 0 end) + sum(estimated)) / sum(visits), 1)
    as dark_social_pct
from daily
where {in_window("date", "site")}
group by date
order by date
""",
    ("daily",),
)

LARGEST_CASCADES = Report(
    "largest_cascades",
    "Largest cascades: the share trees that grew furthest",
    "Cascades (a root share and every re-share below it) started in the window, largest first: people reached, "
    "depth in hops, structural virality (mean distance between people in the tree: about 2 for a broadcast, higher "
    "for person-to-person spread) and conversions. Open the cascade tree chart with the root token to see it.",
    f"""
select
  c.root,
  coalesce(st.title, c.url) as story,
  c.url,
  c.sharer,
  {labelled("c.sharer", "c.sharer_name")} as sharer_name,
  c.channel,
  c.started,
  c.size,
  c.depth,
  c.shares,
  c.clicks,
  round(c.structural_virality, 2) as structural_virality,
  c.conversions
from cascades c left join stories st on st.site = c.site and st.url = c.url
-- +started: read largest first from the size index and stop at 100, rather than sort every cascade in the window
where {in_window("+c.started", "c.site")}
order by c.size desc, c.depth desc, c.root desc
limit 100
""",
    ("cascades", "stories", LABELS_TABLE),
)

CONVERSIONS_BY_SHARER = Report(
    "conversions_by_sharer",
    "Conversions by sharer: whose audience reaches goals",
    "People whose shares (in the cascades they shared into in the window) led people further down to reach a "
    "goal (signup, purchase...) after their first click into the cascade: conversions are distinct (person, goal) "
    "pairs and amplified reach distinct people, never sums over shares; converted is the people among them who "
    "reached a goal, and conversion rate the share of the amplified reach they are (at most 100%: conversions "
    "per click mixed everybody below with direct clicks).",
    f"""
with c as (  -- a member counts the most goals any of their rows in the window holds: only rows with goals matter
  select person, sum(conversions) as conversions, count(*) as converted from (
    select person, member, max(conversions) as conversions from _ds_influence
    where conversions > 0 and {in_window("date", "site")}
    group by person, member
  ) group by person
  order by conversions desc, person
  limit 100
),
a as (  -- distinct members from an index in (person, member) order: counted without a temp B-tree
  select person, count(distinct member) as amplified_reach from _ds_influence
  where person in (select person from c) and {in_window("date", "site")}
  group by person
),
s as (
  select sharer, max(sharer_name) as sharer_name, count(*) as shares, sum(clicks) as clicks
  from shares
  where sharer in (select person from c) and {in_window("date", "site")}
  group by sharer
)
select
  c.person,
  {labelled("c.person", "s.sharer_name", "i.name")} as name,
  i.tier,
  coalesce(s.shares, 0) as shares,
  coalesce(s.clicks, 0) as clicks,
  a.amplified_reach,
  c.conversions,
  c.converted,
  round(100.0 * c.converted / nullif(a.amplified_reach, 0), 1) as conversion_rate_pct
from c join a on a.person = c.person left join s on s.sharer = c.person left join influencers i on i.person = c.person
order by c.conversions desc, clicks desc, c.person
limit 100
""",
    ("shares", "_ds_influence", "influencers", LABELS_TABLE),
)

CASCADE_TREE = Report(
    "cascade_tree",
    "Cascade tree: who passed a story on to whom",
    "The tree of shares below one share token (share), or below every root share of one page (url) minted in the "
    "window: each node is a share with its sharer, channel and clicks; its parent is the share the sharer's page "
    "view came through. Fill in share or url.",
    f"""
with recursive tree(token, parent, depth) as (
  select token, 'top', 0 from shares
  where (:share != '' and token = :share)
     or (:share = '' and :url != '' and url = :url and parent is null and {in_window("date", "site")})
  union all
  select s.token, s.parent, tree.depth + 1 from shares s join tree on s.parent = tree.token
  where tree.depth < 50
)
select 'top' as id, null as parent,
  coalesce(nullif(:share, ''), nullif(:url, ''), '(fill in share or url)') as label,
  null as channel, null as medium, null as clicks, null as reach, 0 as depth
union all
select * from (
  select t.token as id, t.parent,
    {labelled('s.sharer', 's.sharer_name', 's.sharer', "'unknown sharer'")} || ' · ' || coalesce(s.channel, '?')
      as label,
    s.channel, s.medium, s.clicks, s.reach, s.depth
  from tree t join shares s on s.token = t.token
  order by t.depth, s.clicks desc
  limit 500
)
""",
    ("shares", LABELS_TABLE),
    ("share", "url", *WINDOW_PARAMS),
)

HEADLINE = Report(
    "headline",
    "Headline numbers: visits, dark social, shares and what they brought",
    "One row for the window: visits; dark social tracked (through a private channel with a share token or a "
    "channel code alone) and untracked (a private channel's referrer without a token, or estimated: first view, "
    "no referrer, deep page), as counts and as % of visits; shares "
    "minted in the window, the clicks they got per share and amplification K (re-shares per click); people reached "
    "through those shares (distinct people who clicked one, whenever); and conversions (distinct visitor-goal "
    "pairs) in the cascades started in the window.",
    f"""
with v as (
  select coalesce(sum(visits), 0) as visits,
    coalesce(sum(case when medium = 'dark' then tracked else 0 end), 0) as dark_tracked,
    coalesce(sum(estimated), 0) as dark_estimated
  from daily where {in_window("date", "site")}
),
s as (
  select count(*) as shares, coalesce(sum(clicks), 0) as clicks, coalesce(sum(reshares), 0) as reshares
  from shares where {in_window("date", "site")}
),
r as (  -- the clicks of the shares minted in the window, in person order from the clicks index: no temp B-tree
  select count(*) as people_reached from (
    select 1 from visits where click = 1 and {in_window("share_date", "share_site")} group by person
  )
),
-- Distinct (person, goal) pairs: a person in several of the cascades counts the goals reached after their first
-- click into any of them, the most any of their rows holds (a goal counts by the last time it was reached).
c as (
  select coalesce(sum(conversions), 0) as conversions from (
    select max(p.conversions) as conversions from cascades c join cascade_people p on p.root = c.root
    where {in_window("c.started", "c.site")} and p.conversions > 0
    group by p.person
  )
)
select
  v.visits,
  v.dark_tracked,
  v.dark_estimated,
  round(100.0 * v.dark_tracked / nullif(v.visits, 0), 1) as dark_tracked_pct,
  round(100.0 * v.dark_estimated / nullif(v.visits, 0), 1) as dark_estimated_pct,
  round(100.0 * (v.dark_tracked + v.dark_estimated) / nullif(v.visits, 0), 1) as dark_social_pct,
  s.shares,
  s.clicks,
  round(1.0 * s.clicks / nullif(s.shares, 0), 2) as clicks_per_share,
  round(1.0 * s.reshares / nullif(s.clicks, 0), 2) as k_factor,
  r.people_reached,
  c.conversions
from v, s, r, c
""",
    ("daily", "shares", "visits", "cascades", "cascade_people"),
)

REPORTS: tuple[Report, ...] = (
    HEADLINE,
    TOP_INFLUENCERS,
    INFLUENCER,
    TOP_STORIES,
    CHANNEL_MIX,
    DARK_SOCIAL_OVER_TIME,
    LARGEST_CASCADES,
    CONVERSIONS_BY_SHARER,
    CASCADE_TREE,
)
BY_NAME = {r.name: r for r in REPORTS}


def run(conn, report_name: str, since: str = "", until: str = "", site: str = "", **params) -> tuple[list[str], list]:
    """Run one canned report on a DB-API connection (sqlite3): its column names and rows.

    Parameters the report does not take are refused; those it takes and are not given are blank.
    """
    report = BY_NAME[report_name]
    given = {"since": since or "", "until": until or "", "site": site or "", **params}
    unknown = set(given) - set(report.params) - set(WINDOW_PARAMS)
    if unknown:
        raise ValueError(f"{report_name} takes no parameter {', '.join(sorted(unknown))}")
    values = {name: ("" if given.get(name) is None else str(given.get(name, ""))) for name in report.params}
    cursor = conn.execute(report.sql, values)
    columns = [d[0] for d in cursor.description]
    return columns, cursor.fetchall()


def canned_queries() -> dict[str, dict]:
    return {r.name: r.canned_query() for r in REPORTS}


def private_report_names(private_tables: frozenset[str]) -> frozenset[str]:
    return frozenset(r.name for r in REPORTS if private_tables.intersection(r.reads))
