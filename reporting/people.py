"""/-/darksocial/influencer?person=…: one person — who they are (with the name and note an analyst gave them), what
they shared, who they reached, who passed it on, and the cascades to open.

``POST`` to the same address saves the analyst's name and note (Datasette's CSRF protection applies; signed-in
analysts only) into ``person_labels`` (see :mod:`darksocial.analysts`), which attribution never touches.
"""

from __future__ import annotations

from datasette.utils.asgi import Forbidden, Response

from darksocial import analysts
from darksocial import reports as queries

from . import names, pages

# How the person reached the site themselves; their own tokens never count as a source of theirs.
HOW_THEY_ARRIVED = """
select coalesce(source, '?') as source, coalesce(medium, '?') as medium, coalesce(channel, '') as channel,
  sharer, count(*) as visits, min(ts) as first, max(ts) as last
from visits where {who} and {window} and (sharer is null or sharer != :person)
group by 1, 2, 3, 4 order by visits desc limit 50
"""
WHERE_THEIR_CLICKS_WENT = """
select v.url, v.site, coalesce(max(st.title), max(v.title), v.url) as title, count(*) as clicks,
  count(distinct v.visitor) as visitors, max(v.depth) as deepest_hop
from visits v left join stories st on st.site = v.site and st.url = v.url
where v.sharer = :person and v.click = 1 and {window}
group by v.site, v.url order by clicks desc limit 50
"""
WHO_THEY_REACHED = """
select v.person, count(*) as visits, min(v.ts) as first, coalesce(max(st.title), v.url) as story, v.url
from visits v left join stories st on st.site = v.site and st.url = v.url
where v.sharer = :person and v.click = 1 and v.person != :person and {window}
group by v.person order by first limit 100
"""
WHO_PASSED_IT_ON = """
select c.sharer as person, count(*) as reshares, sum(c.clicks) as clicks, sum(c.amplified_reach) as amplified_reach
from shares p join shares c on c.parent = p.token
where p.sharer = :person and c.sharer is not null and c.sharer != :person and {window}
group by c.sharer order by clicks desc limit 50
"""
THEIR_CASCADES = """
select c.root, c.url, coalesce(st.title, c.url) as story, c.started, c.size, c.depth, c.structural_virality,
  c.sharer = :person as started_it
from cascades c left join stories st on st.site = c.site and st.url = c.url
where c.root in (select root from shares where sharer = :person and {window})
order by c.size desc, c.started desc limit 50
"""
# Somebody who clicked a share (a member of a cascade) has a page too, though they shared nothing: every person the
# cascade and influencer pages list opens. (The partial index of clicks by person serves it.)
CLICKED = "select 1 from visits where person = :person and click = 1 limit 1"
STORY_TITLE = "select coalesce(title, url) as title, site from stories where url = :url limit 1"


async def influencer_view(request, datasette) -> Response:
    db = pages.database_name(datasette)
    await pages.require_report(datasette, request, db, queries.INFLUENCER, "A person's page")
    if request.method == "POST":
        return await save_label(request, datasette, db)
    try:
        window = pages.window_params(request)
        person = pages.required_text(request, "person", "a person id from Top influencers, like v:abc123 or a:Jane")
    except pages.BadParameter as exc:
        return pages.bad_request(exc)
    params = pages.report_params(window, person=person)
    profile = await pages.rows(datasette, db, "select * from influencers where person = :person", params)
    shares = await pages.rows(datasette, db, queries.INFLUENCER.sql, params)
    label = await datasette.databases[db].execute_fn(lambda conn: analysts.label(conn, person))
    if not profile and not shares and not label and not await pages.rows(datasette, db, CLICKED, params):
        return Response.text(f"404 Not Found: nobody {person!r} shared or clicked (see the top_influencers report)\n",
                             status=404)
    for share in shares:
        if share["got_it_from"] == person:
            share["got_it_from"] = None  # re-sharing their own story: they started it, not themselves
    await names.add_names(datasette, db, shares, "got_it_from", "got_it_from_display")
    # Their visits: each visit's person is its visitor's (v:) or, once identified, their identity's (x:). No index
    # serves it (one on visits would lengthen every attribution run's write lock; the collector writes events with
    # none by visitor): a scan of visits, about 0.1 s per million.
    who = "0" if person.startswith("a:") else "person = :person"  # an ambassador (a:) visits nothing as such
    visit_window = queries.in_window("date", "site")
    arrived = await names.add_names(datasette, db, await pages.rows(
        datasette, db, HOW_THEY_ARRIVED.format(who=who, window=visit_window), params),
        "sharer", "sharer_display")
    went = await pages.rows(datasette, db, WHERE_THEIR_CLICKS_WENT.format(window=queries.in_window("v.date", "v.site")),
                            params)
    reached = await names.add_names(datasette, db, await pages.rows(
        datasette, db, WHO_THEY_REACHED.format(window=queries.in_window("v.date", "v.site")), params),
        "person", "person_display")
    passed_on = await names.add_names(datasette, db, await pages.rows(
        datasette, db, WHO_PASSED_IT_ON.format(window=queries.in_window("p.date", "p.site")), params),
        "person", "person_display")
    cascades = await pages.rows(datasette, db, THEIR_CASCADES.format(window=queries.in_window("date", "site")),
                                params)
    channels: dict[str, dict] = {}
    for share in shares:
        row = channels.setdefault(share["channel"] or "?", {"channel": share["channel"] or "?", "shares": 0,
                                                            "clicks": 0, "reach": 0, "amplified_reach": 0})
        for key in ("clicks", "reach", "amplified_reach"):
            row[key] += share[key] or 0
        row["shares"] += 1
    p = profile[0] if profile else {"person": person}
    top_story = None
    if p.get("top_story"):
        found = await pages.rows(datasette, db, STORY_TITLE, {"url": p["top_story"]})
        top_story = {"url": p["top_story"], "title": found[0]["title"] if found else p["top_story"],
                     "site": found[0]["site"] if found else None}
    display = await names.display_name(datasette, db, person)  # the label first, as everywhere
    return Response.html(await datasette.render_template(
        "darksocial_influencer.html",
        pages.page_context(
            db, window, person=person, profile=p, display=display, short=names.short_id(person), label=label or {},
            top_story=top_story, shares=shares,
            channels=sorted(channels.values(), key=lambda r: (-r["clicks"], r["channel"])), arrived=arrived,
            went=went, reached=reached, passed_on=passed_on, cascades=cascades, report=queries.INFLUENCER,
            hidden={"person": person}, sites=await pages.sites(datasette, db), saved=request.args.get("saved")),
        request=request))


async def save_label(request, datasette, db: str) -> Response:
    if request.actor is None:
        raise Forbidden("Only signed-in analysts can name people.")
    form = await request.post_vars()
    person = (form.get("person") or "").strip()
    if not pages.PERSON_RE.fullmatch(person) or len(person) > pages.MAX_PARAM:
        return pages.bad_request(pages.BadParameter("person must be a person id like v:abc123, x:crm-42 or a:Jane"))
    name, note = form.get("name") or "", form.get("note") or ""
    if len(name) > analysts.MAX_NAME or len(note) > analysts.MAX_NOTE:
        return pages.bad_request(pages.BadParameter(
            f"name is at most {analysts.MAX_NAME} characters and note at most {analysts.MAX_NOTE}"))
    by = str(request.actor.get("id", "analyst"))[:100]

    def write(conn):
        with conn:  # Datasette's write connection leaves committing to us
            analysts.save_label(conn, person, name, note, by)

    await datasette.databases[db].execute_write_fn(write, block=True)
    names.forget(person)
    return Response.redirect(pages.influencer_href(person) + "&saved=1")
