"""The analyst tables: names, columns, SQL types and descriptions, in one place.

``darksocial.attribution`` fills them from the raw ``events``; the store's migrations
create them by calling :func:`create_all`; the reporting metadata reads the
descriptions from :data:`TABLES`. Tables whose name starts with ``_ds_`` are
private intermediate state of the attribution (never shown to analysts).

Vocabulary used in the descriptions:

* *person*: who a share is credited to. ``v:<visitor id>`` for an anonymous
  visitor, ``x:<external id>`` for a visitor the site identified (identify
  event), ``a:<name>`` for an ambassador link's named person.
* *cascade*: the tree that grows from one root share. Its nodes are people (the
  *people tree*, table ``cascade_people``): the root sharer plus every distinct
  person who clicked a share of the cascade, once whatever their device. A person
  hangs under the sharer of the share through which they first arrived (earliest
  click), so an edge is "share → click". *Depth* counts people hops in that tree:
  the root sharer's shares and their clicks have depth 1, a share by someone they
  brought depth 2... A star of n nodes has structural virality 2(n−1)/n, a chain of
  n nodes (n+1)/3.
* *reload*: a view carrying a page-view token of the viewer's own person (reload,
  back/forward, restored tab). It makes no share and no click, and is credited as
  the first view of that page was.
* *tracked*: the visit carried a share token or channel code; *estimated*:
  untracked dark social, a view with a private channel's own referrer (WhatsApp
  Web, a webmail, a messaging app) and no token, or a visitor's first view, with
  no referrer, of a page that is not the home page.
"""

from __future__ import annotations

from dataclasses import dataclass

from . import analysts
from .channels import CHANNELS


@dataclass(frozen=True)
class Column:
    name: str
    type: str  # SQL type: TEXT, INTEGER, REAL
    description: str


# Changed whenever attribution computes a figure of these tables differently: a database made before then rebuilds
# them from its events on its next migration (darksocial.store), instead of mixing old and new figures.
RULES = ("2026-12-01: dropped copies are no first view; channel clicks by channel; click ids; influence by share site; "
         "private channels' referrers are untracked dark social")


@dataclass(frozen=True)
class Table:
    name: str
    description: str
    columns: tuple[Column, ...]
    pk: tuple[str, ...] = ()
    indexes: tuple[tuple[str, ...], ...] = ()
    private: bool = False
    unique: tuple[str, ...] = ()  # a unique index instead of a primary key: bulk loads skip it, then build it once
    # Partial indexes: (name, columns, WHERE clause), for lookups that only ever concern some rows (a visit that is
    # a click).
    partial_indexes: tuple[tuple[str, tuple[str, ...], str], ...] = ()
    # Columns that tell rows apart in a table without a primary key (unique by construction, not by an index): an
    # incremental run matches a row it would delete and insert again unchanged by them.
    identity: tuple[str, ...] = ()

    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]


def _c(name: str, type_: str, description: str) -> Column:
    return Column(name, type_, description)


VISITS = Table(
    "visits",
    "One row per page view, with how the visitor arrived and who gets the credit.",
    (
        _c("id", "INTEGER", "The page view's row in the raw events table (events.id)"),
        _c("token", "TEXT", "Page-view token minted by this view (unique); copying the address bar shares it"),
        _c("ts", "TEXT", "Time of the view, UTC ISO-8601, set by the collector"),
        _c("date", "TEXT", "UTC date of the view (YYYY-MM-DD)"),
        _c("site", "TEXT", "Site id"),
        _c("url", "TEXT", "Page URL, without the ds token"),
        _c("title", "TEXT", "Page title as seen by the tracker"),
        _c("visitor", "TEXT", "Pseudonymous visitor id (random per browser, or a daily-salted hash when cookieless)"),
        _c("person", "TEXT", "Person of the visitor: x:<external id> when identified, else v:<visitor id>"),
        _c("source", "TEXT", "How the visit arrived: share (tracked), dark_estimated, campaign, internal, search, "
                             "social, referral or direct"),
        _c("medium", "TEXT", "dark (private channel or estimated dark social), open (public network), search, "
                             "referral, campaign, internal or direct"),
        _c("channel", "TEXT", "Channel code (wa, tg, ab...) for tracked visits, else the referrer's channel code "
                              "or host; for campaigns utm_source (else utm_medium; or Matomo's), or the "
                              "platform of an ad's click id (google, bing...); NULL when unknown"),
        _c("tracked", "INTEGER", "1 if the visit is a click of a share or carried a channel code alone (tracked, "
                                 "not estimated); 0 for a sharer opening their own link, classified as a view "
                                 "without a token is"),
        _c("estimated", "INTEGER", "1 if counted as untracked dark social: a private channel's own referrer "
                                   "(WhatsApp Web, a webmail, a messaging app) without a token, or estimated "
                                   "(first view, no referrer, deep page)"),
        _c("campaign", "TEXT", "utm_campaign (or Matomo's mtm_campaign) of a visit classified campaign (from the "
                               "tracking parameters the collector cut from the page URL), if any"),
        _c("referrer_host", "TEXT", "Host of the referrer (never the full referrer URL)"),
        _c("in_app", "TEXT", "In-app browser recognised from the user agent (facebook, instagram, whatsapp...)"),
        _c("browser", "TEXT", "Coarse browser family"),
        _c("device", "TEXT", "desktop, mobile or tablet"),
        _c("share_token", "TEXT", "Incoming share token carried by the URL, if any; for a reload of one's own "
                                  "page, the token its first view came with"),
        _c("click", "INTEGER", "1 if this view counts as a click of share_token (0 for the sharer opening their "
                               "own link, and for a reload)"),
        _c("sharer", "TEXT", "Person credited with this click (see influencers.person); NULL if unknown yet"),
        _c("sharer_name", "TEXT", "Display name of the sharer where known (identified visitor or ambassador)"),
        _c("depth", "INTEGER", "Depth of the share clicked, in people hops: 1 for a click on a share by the root "
                               "sharer, 2 on a share by someone they brought..."),
        _c("root", "TEXT", "Root share token of the cascade this click belongs to"),
        _c("share_date", "TEXT", "UTC date the share clicked was minted (shares.date): reports count a share's "
                                 "clicks in the window of the day it was minted"),
        _c("share_site", "TEXT", "Site the share clicked was minted on (shares.site), which a pasted link can make "
                                 "differ from the visit's"),
        _c("share_url", "TEXT", "Page the share clicked was made of (shares.url): the story the click counts for "
                                "(stories.reach), which a redirect or an edited link can make differ from url"),
    ),
    # Keyed by the event's id, which only grows: an incremental run's new visits go to the right edge of the
    # table instead of one random page each, and it finds a visit through the raw events' own indexes (token,
    # visitor, in_token). Every further index costs a run one page write per visit it adds, so only these remain:
    # the click indexes serve the reports and an incremental run's distinct counts (people who clicked, by person
    # and by sharer) from the clicks alone. A page's latest title is kept in _ds_titles, not found by an index.
    pk=("id",),
    indexes=(("date",),),
    partial_indexes=(("idx_visits_clicks_by_person", ("person", "share_date", "share_site", "click"), "click = 1"),
                     ("idx_visits_clicks_by_sharer", ("sharer", "person", "share_date", "share_site", "click"),
                      "click = 1")),
)

SHARES = Table(
    "shares",
    "One row per share token: a share button press, an address-bar copy that got visits, an ambassador link, "
    "or a token seen in visits whose share event has not arrived.",
    (
        _c("token", "TEXT", "Share token"),
        _c("origin", "TEXT", "share (share event), address_bar (a page-view token others arrived with), "
                             "link (ambassador link) or unknown (seen in visits; share event not received)"),
        _c("ts", "TEXT", "When the token was minted (share event, page view or link creation); for unknown "
                         "tokens the first click"),
        _c("date", "TEXT", "UTC date of ts"),
        _c("site", "TEXT", "Site id"),
        _c("url", "TEXT", "Page shared"),
        _c("sharer", "TEXT", "Person credited (v:<visitor>, x:<external id>, a:<ambassador name>); NULL if unknown"),
        _c("sharer_name", "TEXT", "Display name of the sharer where known"),
        _c("sharer_visitor", "TEXT", "Visitor id of the sharer (NULL for ambassador links and unknown tokens)"),
        _c("channel", "TEXT", "Channel code from the share event or link, else the most common channel among "
                              "its visits (code, referrer host, or ab)"),
        _c("medium", "TEXT", "dark or open (a referrer host counts as open)"),
        _c("parent_view", "TEXT", "Page-view token the share was made from"),
        _c("parent", "TEXT", "Parent share token: the share the page view shared from came through (a person's "
                              "first arrival may be another); NULL for a root"),
        _c("root", "TEXT", "Root share token of the cascade"),
        _c("depth", "INTEGER", "People hops: the sharer's depth in the people tree (cascade_people.depth); 1 for "
                               "the root sharer's shares"),
        _c("clicks", "INTEGER", "Views carrying this token, excluding the sharer's own and reloads (tracked)"),
        _c("reach", "INTEGER", "Distinct people among the clicks (tracked)"),
        _c("reshares", "INTEGER", "Child share tokens that got at least one click (tracked)"),
        _c("amplified_reach", "INTEGER", "Distinct people anywhere below this share (its clicks and those of every "
                                         "re-share below it), the sharer excluded"),
        _c("conversions", "INTEGER", "Distinct (person, goal) pairs reached by people below this share after their "
                                     "first click into it"),
    ),
    pk=("token",),
    # By root (a cascade's shares), sharer (a person's), parent_view (shares made from a view) and date (the
    # reports' window): each costs an incremental run one random page write per share it adds.
    indexes=(("root",), ("sharer",), ("parent_view",), ("date",)),
)

INFLUENCERS = Table(
    "influencers",
    "One row per person who shared: how many people they brought, directly and through re-shares.",
    (
        _c("person", "TEXT", "v:<visitor id>, x:<external id> (identified) or a:<ambassador name>"),
        _c("name", "TEXT", "Display name where known (identify event or ambassador link)"),
        _c("kind", "TEXT", "visitor, identified or ambassador"),
        _c("shares", "INTEGER", "Share tokens credited to the person (all origins)"),
        _c("clicks", "INTEGER", "Clicks on their shares, self-clicks excluded"),
        _c("reach", "INTEGER", "Distinct people who clicked their shares"),
        _c("reshares", "INTEGER", "Re-shares their shares triggered (child tokens with at least one click)"),
        _c("amplified_reach", "INTEGER", "Distinct people below them in the people trees of all their cascades "
                                         "(never a sum over shares; credit reaches 16 people hops down)"),
        _c("conversions", "INTEGER", "Distinct (person, goal) pairs reached by those people after their first "
                                     "click into the person's cascade"),
        _c("clicks_per_share", "REAL", "clicks / shares"),
        _c("top_channel", "TEXT", "Channel of their shares with the most clicks"),
        _c("top_story", "TEXT", "Page of their shares with the most clicks"),
        _c("tier", "TEXT", "By reach: nano (<10), micro (10-99), mid (100-999), macro (>=1000); configurable"),
        _c("first_seen", "TEXT", "Time of their first share"),
        _c("last_seen", "TEXT", "Time of their last share"),
    ),
    pk=("person",),
    indexes=(("tier",),),
)

_SHARE_COLUMNS = tuple(
    _c(f"shares_{code}", "INTEGER", f"Shares of this page via {ch.label} ({ch.medium})")
    for code, ch in CHANNELS.items()
)

STORIES = Table(
    "stories",
    "One row per page: where its visits came from, how it was shared and how far it travelled.",
    (
        _c("site", "TEXT", "Site id"),
        _c("url", "TEXT", "Page URL"),
        _c("title", "TEXT", "Title from the imported page manifest, else the latest title the tracker saw"),
        _c("visits", "INTEGER", "Page views"),
        _c("visitors", "INTEGER", "Distinct visitors"),
        _c("reach", "INTEGER", "Distinct people who arrived through shares of this page (tracked clicks)"),
        _c("visits_dark_tracked", "INTEGER", "Views arriving through a private channel with a share token or a "
                                             "channel code alone (tracked)"),
        _c("visits_dark_estimated", "INTEGER", "Untracked dark social: a private channel's referrer without a "
                                               "token, or estimated (first view, no referrer, deep page)"),
        _c("visits_open", "INTEGER", "Views from public networks (tracked shares and social referrers)"),
        _c("visits_search", "INTEGER", "Views from search engines"),
        _c("visits_referral", "INTEGER", "Views from other sites"),
        _c("visits_campaign", "INTEGER", "Views from campaign links (utm_*)"),
        _c("visits_internal", "INTEGER", "Views from the site itself"),
        _c("visits_direct", "INTEGER", "Views with no referrer that are not estimated dark social"),
        _c("shares", "INTEGER", "Share tokens of this page (all origins)"),
        *_SHARE_COLUMNS,
        _c("shares_other", "INTEGER", "Shares whose channel is a referrer host"),
        _c("clicks", "INTEGER", "Clicks on shares of this page"),
        _c("reshares", "INTEGER", "Re-shares: shares of this page, by people a share of it brought, that got a click"),
        _c("clicks_per_share", "REAL", "clicks / shares"),
        _c("k_factor", "REAL", "Viral coefficient K = re-shares / clicks"),
        _c("conversions", "INTEGER", "Conversions of its cascades (sum of cascades.conversions)"),
        _c("cascades", "INTEGER", "Cascades rooted on this page"),
        _c("deepest_cascade", "INTEGER", "Depth of its deepest cascade (people hops)"),
        _c("structural_virality", "REAL", "Size-weighted mean structural virality of its cascades of 2+ nodes"),
        _c("virality_score", "REAL", "0-100: reach × structural virality, relative to the best story (100)"),
    ),
    pk=("site", "url"),
)

CHANNELS_TABLE = Table(
    "channels",
    "One row per channel (a channel code, or a referrer host where no code was known): visits and share performance.",
    (
        _c("channel", "TEXT", "Channel code (wa, tg, ab...) or referrer host / utm_source"),
        _c("label", "TEXT", "Human name of the channel"),
        _c("medium", "TEXT", "dark or open for share channels, else the medium of its visits"),
        _c("visits", "INTEGER", "Views attributed to this channel (tracked and classified)"),
        _c("shares", "INTEGER", "Share tokens via this channel"),
        _c("clicks", "INTEGER", "Clicks that came through this channel (visits.channel of a click: a copied link "
                                "a visitor brought through another channel counts there)"),
        _c("reach", "INTEGER", "Distinct people who clicked through this channel"),
        _c("reshares", "INTEGER", "Re-shares those shares triggered"),
        _c("clicks_per_share", "REAL", "clicks / shares"),
        _c("k_factor", "REAL", "re-shares / clicks"),
        _c("conversions", "INTEGER", "Conversions below those shares (sum of shares.conversions: a person who "
                                     "converted below two of them counts twice)"),
    ),
    pk=("channel",),
)

CASCADES = Table(
    "cascades",
    "One row per root share: the size and shape of the tree of re-shares it grew.",
    (
        _c("root", "TEXT", "Root share token"),
        _c("site", "TEXT", "Site id"),
        _c("url", "TEXT", "Page of the root share"),
        _c("sharer", "TEXT", "Root sharer (person)"),
        _c("sharer_name", "TEXT", "Display name of the root sharer where known"),
        _c("channel", "TEXT", "Channel of the root share"),
        _c("started", "TEXT", "Time of the root share"),
        _c("shares", "INTEGER", "Share tokens in the cascade"),
        _c("clicks", "INTEGER", "Clicks on all its shares"),
        _c("size", "INTEGER", "Nodes of the people tree: the root sharer plus distinct people reached"),
        _c("depth", "INTEGER", "People hops from the root sharer to the farthest person"),
        _c("structural_virality", "REAL", "Mean distance between all pairs of nodes, 2W/(n(n-1)) (Goel et al. "
                                          "2016); NULL for a single node"),
        _c("conversions", "INTEGER", "Distinct (person, goal) pairs reached by people of the cascade after they "
                                     "arrived in it (the root sharer excluded)"),
    ),
    pk=("root",),
)

CASCADE_PEOPLE = Table(
    "cascade_people",
    "The people tree of each cascade: one row per person per cascade, under the person whose share first "
    "brought them. Structural virality and depth are computed on this tree.",
    (
        _c("root", "TEXT", "Root share token of the cascade (cascades.root)"),
        _c("site", "TEXT", "Site id"),
        _c("url", "TEXT", "Page of the root share"),
        _c("person", "TEXT", "The person (as influencers.person); NULL for the stand-in root of a token whose "
                             "sharer is unknown"),
        _c("name", "TEXT", "Display name where known (identify event or ambassador link)"),
        _c("parent_person", "TEXT", "The sharer whose share first brought them; NULL for the root sharer (and "
                                    "for people brought by a share whose sharer is unknown)"),
        _c("depth", "INTEGER", "Generation in people hops: 1 for the root sharer, 2 for the people their shares "
                               "brought, ...; equals shares.depth of this person's shares in the cascade"),
        _c("via_share", "TEXT", "Share token of their first arrival (the root share for the root sharer)"),
        _c("channel", "TEXT", "Channel they first arrived through (the root share's for the root sharer)"),
        _c("arrived", "TEXT", "Time of their first click into the cascade (the root share's time for the root "
                              "sharer)"),
        _c("reach", "INTEGER", "Distinct people directly below them (their children in the tree)"),
        _c("amplified_reach", "INTEGER", "Distinct people anywhere below them in this tree"),
        _c("conversions", "INTEGER", "Distinct goals they reached after arriving (0 for the root sharer)"),
    ),
    # Read by cascade only: a person's cascades are found through their clicks (visits) and shares.
    indexes=(("root", "depth"),),
)

DAILY = Table(
    "daily",
    "Daily rollup of visits and shares by medium and channel.",
    (
        _c("date", "TEXT", "UTC date (YYYY-MM-DD)"),
        _c("site", "TEXT", "Site id"),
        _c("medium", "TEXT", "Medium, as in visits.medium"),
        _c("channel", "TEXT", "Channel, as in visits.channel ('' when none)"),
        _c("visits", "INTEGER", "Page views"),
        _c("visitors", "INTEGER", "Distinct visitors that day"),
        _c("tracked", "INTEGER", "Tracked views (carried a token or channel code)"),
        _c("estimated", "INTEGER", "Untracked dark social views (estimated)"),
        _c("clicks", "INTEGER", "Views that day that were clicks of a share, by the channel they came through"),
        _c("shares", "INTEGER", "Share tokens minted that day via this channel"),
        _c("share_clicks", "INTEGER", "Clicks those shares got (whenever they came)"),
    ),
    pk=("date", "site", "medium", "channel"),
)

STORY_DAILY = Table(
    "story_daily",
    "Daily rollup per page of its visits by medium and of the shares minted (no per-visitor columns: public).",
    (
        _c("date", "TEXT", "UTC date (YYYY-MM-DD)"),
        _c("site", "TEXT", "Site id"),
        _c("url", "TEXT", "Page URL, as in visits.url"),
        _c("visits", "INTEGER", "Page views of this page that day"),
        _c("visits_dark_tracked", "INTEGER", "Of those, views through a private channel with a share token or a "
                                             "channel code alone (tracked)"),
        _c("visits_dark_estimated", "INTEGER", "Of those, untracked dark social views (estimated)"),
        _c("visits_open", "INTEGER", "Of those, views from public networks (medium open)"),
        _c("visits_other", "INTEGER", "Of those, views by any other medium (search, referral, campaign, internal, "
                                      "direct)"),
        _c("shares", "INTEGER", "Share tokens of this page minted that day"),
        _c("clicks", "INTEGER", "Clicks those shares got (whenever they came)"),
    ),
    pk=("date", "site", "url"),
)

# Private state of the incremental attribution.
STATE = Table(
    "_ds_state",
    "Private: high-water marks of the incremental attribution.",
    (_c("key", "TEXT", "Name"), _c("value", "TEXT", "Value")),
    pk=("key",),
    private=True,
)
IDENTITIES = Table(
    "_ds_identities",
    "Private: visitor → identified person (latest identify event wins).",
    (
        _c("visitor", "TEXT", "Visitor id"),
        _c("external_id", "TEXT", "Opaque external id"),
        _c("name", "TEXT", "Display name"),
        _c("ts", "TEXT", "Time of the identify event"),
    ),
    pk=("visitor",),
    indexes=(("external_id",),),  # a person's devices
    private=True,
)
GOALS = Table(
    "_ds_goals",
    "Private: distinct goals reached per visitor, with the last time each was reached.",
    (_c("visitor", "TEXT", "Visitor id"), _c("goal", "TEXT", "Goal name"),
     _c("ts", "TEXT", "Last time the visitor reached the goal")),
    pk=("visitor", "goal"),
    private=True,
)
INFLUENCE = Table(
    "_ds_influence",
    "Private: one row per (cascade, person, person below them in its people tree, at most 16 hops down); "
    "influencers' amplified reach and conversions are distinct counts over these rows.",
    (
        _c("root", "TEXT", "Root share token"),
        _c("site", "TEXT", "Site of the person's share that brought the member (the share through which the "
                           "person just below them on the way first arrived)"),
        _c("date", "TEXT", "UTC date that share was minted"),
        _c("person", "TEXT", "The sharer credited"),
        _c("member", "TEXT", "A person below them"),
        _c("arrived", "TEXT", "When the member first clicked into the cascade"),
        _c("conversions", "INTEGER", "Distinct goals the member reached after arriving"),
    ),
    # One B-tree keyed by a random value, not two: no primary key (the rows of a cascade are replaced together,
    # found by their persons, who are the sharers of the cascade's shares). The index covers the reports: per
    # person, distinct members, windowed by date, with their conversions.
    indexes=(("person", "member", "date", "site", "conversions"),),
    identity=("root", "person", "member"),
    private=True,
)
STORY_CASCADES = Table(
    "_ds_story_cascades",
    "Private: the cascades rooted on each page, summed by depth (stories' cascade figures, moved by an incremental "
    "run by the cascades it replaced instead of summed again by page).",
    (
        _c("site", "TEXT", "Site id"),
        _c("url", "TEXT", "Page of the root shares"),
        _c("depth", "INTEGER", "Depth of the cascades (people hops)"),
        _c("cascades", "INTEGER", "Cascades of this page and depth"),
        _c("conversions", "INTEGER", "Their conversions"),
        _c("virality_units", "INTEGER", "Sum of size × structural virality over those of 2+ nodes, in millionths"),
        _c("people", "INTEGER", "Sum of the sizes of those of 2+ nodes"),
    ),
    pk=("site", "url", "depth"),
    private=True,
)
TITLES = Table(
    "_ds_titles",
    "Private: the latest title the tracker saw on each page (stories.title unless the page manifest names one).",
    (
        _c("site", "TEXT", "Site id"),
        _c("url", "TEXT", "Page URL"),
        _c("seen", "TEXT", "The latest titled view of the page: its time and token, joined by char(1)"),
        _c("title", "TEXT", "Its title"),
    ),
    pk=("site", "url"),
    private=True,
)

ANALYST_TABLES: tuple[Table, ...] = (VISITS, SHARES, INFLUENCERS, STORIES, CHANNELS_TABLE, CASCADES,
                                     CASCADE_PEOPLE, DAILY, STORY_DAILY)
PRIVATE_TABLES: tuple[Table, ...] = (STATE, IDENTITIES, GOALS, INFLUENCE, STORY_CASCADES, TITLES)
TABLES: dict[str, Table] = {t.name: t for t in ANALYST_TABLES + PRIVATE_TABLES}
# Every table the attribution derives from the events (all but its high-water marks): each run writes them, and one
# an older version made in another shape is dropped for the next run to rebuild.
DERIVED_TABLES: tuple[Table, ...] = (*ANALYST_TABLES, INFLUENCE, STORY_CASCADES, TITLES, GOALS, IDENTITIES)

# Indexes earlier versions made on tables whose columns did not change (so they are not rebuilt), replaced by wider
# ones or no longer read: each would cost every run's writes for nothing.
RETIRED_INDEXES = ("idx_cascades_site_url", "idx_cascades_site_url_depth_conversions_size_structural_virality",
                   "idx_visits_site_url_ts", "idx_cascade_people_person", "idx_shares_site_url")


def create_sql(table: Table) -> list[str]:
    cols = ", ".join(f"[{c.name}] {c.type}" for c in table.columns)
    pk = f", PRIMARY KEY ({', '.join(table.pk)})" if table.pk else ""
    out = [f"CREATE TABLE IF NOT EXISTS [{table.name}] ({cols}{pk})"]
    if table.unique:
        name = f"idx_{table.name}_{'_'.join(table.unique)}"
        out.append(f"CREATE UNIQUE INDEX IF NOT EXISTS [{name}] ON [{table.name}] ({', '.join(table.unique)})")
    for idx in table.indexes:
        name = f"idx_{table.name}_{'_'.join(idx)}"
        out.append(f"CREATE INDEX IF NOT EXISTS [{name}] ON [{table.name}] ({', '.join(idx)})")
    for name, idx, where in table.partial_indexes:
        out.append(f"CREATE INDEX IF NOT EXISTS [{name}] ON [{table.name}] ({', '.join(idx)}) WHERE {where}")
    return out


def create_all(db) -> None:
    """Create every analyst and private table (idempotent). ``db`` is a sqlite_utils.Database or sqlite3.Connection."""
    conn = getattr(db, "conn", db)
    _drop_changed(conn)
    for name in RETIRED_INDEXES:
        conn.execute(f"DROP INDEX IF EXISTS main.[{name}]")
    for table in ANALYST_TABLES + PRIVATE_TABLES:
        for sql in create_sql(table):
            conn.execute(sql)
    for sql in analysts.SCHEMA:  # the reports read the analysts' labels wherever they run (the Wagtail admin too)
        conn.execute(sql)
    conn.commit()


def _drop_changed(conn) -> None:
    """A derived table whose columns or primary key changed (an older version made it) is dropped, and the
    attribution's high-water marks are cleared when one is dropped or missing: the next run rebuilds every derived
    table in the new shape."""
    changed = False
    for table in DERIVED_TABLES:
        info = conn.execute(f"PRAGMA main.table_info([{table.name}])").fetchall()
        have = [row[1] for row in info]
        key = [row[1] for row in sorted(info, key=lambda row: row[5]) if row[5]]
        if not have:
            changed = True  # a table this version adds: the next run makes it
        elif have != table.column_names() or key != list(table.pk):
            conn.execute(f"DROP TABLE main.[{table.name}]")
            changed = True
    if changed and conn.execute("SELECT 1 FROM sqlite_master WHERE name = ?", (STATE.name,)).fetchone():
        conn.execute(f"DELETE FROM [{STATE.name}]")


def describe(name: str) -> dict:
    """Datasette-style metadata for one table: {"description": ..., "columns": {name: description}}."""
    table = TABLES[name]
    return {"description": table.description, "columns": {c.name: c.description for c in table.columns}}
