"""The ``darksocial`` command. Each subcommand is thin: the work lives in the core modules."""

from __future__ import annotations

import os
import shlex
import shutil
import sqlite3
import sys
from pathlib import Path

import click

from . import __version__


class ExplainedDatabaseErrors(click.Group):
    """SQLite errors (a DB argument that is not a database, a database another process keeps locked) end as a
    message that names the fix, not a traceback."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except sqlite3.OperationalError as exc:
            if "locked" in str(exc) or "busy" in str(exc):
                raise click.ClickException(f"the database is busy ({exc}): another process holds its write lock "
                                           "for longer than 30 s; retry when it is done") from None
            raise click.ClickException(f"the database cannot be used ({exc}): check the DB path and its "
                                       "permissions (its folder must be writable too, for SQLite's WAL)") from None
        except sqlite3.DatabaseError as exc:
            raise click.ClickException(f"DB is not a darksocial database ({exc}): give the path of the SQLite "
                                       "file that `darksocial site add` or `darksocial serve` created") from None


class ExistingDatabase(click.Path):
    """The DB argument of a command that reads or adds to a database: a path that does not exist is refused, not
    created, since a mistyped path would leave an empty database behind and a misleading "no site is registered"."""

    name = "database"

    def __init__(self):
        super().__init__(dir_okay=False)

    def convert(self, value, param, ctx):
        path = super().convert(value, param, ctx)
        if not os.path.exists(path):
            shown = shlex.quote(click.format_filename(path))
            self.fail(f"{click.format_filename(path)!r} does not exist: check the path, or create the database "
                      f"with `darksocial site add SITE --origin URL {shown}` (it registers the site the collector "
                      "accepts events from)", param, ctx)
        return path


@click.group(cls=ExplainedDatabaseErrors, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="darksocial")
def cli():
    """darksocial: dark social analytics that you run yourself."""


# -- serve and site add (the collector and its store) -----------------------------------------------------------------
@cli.command()
@click.argument("db", type=click.Path(dir_okay=False))
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8001, show_default=True, type=click.IntRange(0, 65535), help="Port to listen on.")
@click.option("--attribute-every", default=60.0, show_default=True, type=click.FloatRange(min=0),
              help="Seconds between background attribution runs (0: never; run `darksocial attribute` yourself).")
@click.option("--rate-limit", default=4.0, show_default=True, type=click.FloatRange(min=0),
              help="Collector requests per second per client (IP address, IPv6 /64) on average; 0: no limit.")
@click.option("--rate-burst", default=20.0, show_default=True, type=click.FloatRange(min=1),
              help="Collector requests a client may send at once before the rate limit applies.")
@click.option("--read-timeout", default=10.0, show_default=True, type=click.FloatRange(min=0.1),
              help="Seconds a request's headers and body have to arrive before the connection is closed.")
@click.option("--max-connections", type=click.IntRange(min=1),
              help="Open connections at most; past it the longest-waiting idle one is closed "
                   "[default: 2000, or fewer if the open-file limit is lower].")
def serve(db, host, port, attribute_every, rate_limit, rate_burst, read_timeout, max_connections):
    """Start the reporting server on DB: reports, the collector at /-/darksocial/collect and the tracker assets.

    Creates the database, or migrates it to the current schema, first. On any address but loopback, analysts must
    sign in: set DARKSOCIAL_ANALYST_PASSWORD_HASH (make one with `datasette hash-password`).

    \b
    Example:
      darksocial serve darksocial.db                  # http://127.0.0.1:8001/
      darksocial serve darksocial.db --host 0.0.0.0 --port 8080
    """
    try:
        from reporting import server
    except ImportError as exc:
        raise click.ClickException(
            f"the reporting server needs the 'reporting' extra ({exc}): pip install 'darksocial[reporting]'"
        ) from None
    from reporting import auth

    from . import store, urls

    refusal = auth.bind_refusal(host)  # off loopback, analysts must sign in: checked before touching anything
    if refusal:
        raise click.UsageError(refusal)
    # A taken port or a --host that is not this machine's is a usage error naming the fix, before the server starts
    # (uvicorn would only log it) and before the database is created. With --port 0 only the host is checked.
    from .demo import claim_port

    claim_port(port, "the reporting server", "--port", host=host)
    database = store.open_db(db)
    try:  # the server writes (events, its indexes): a read-only file fails here, not in a traceback at startup
        database.conn.execute("BEGIN IMMEDIATE")
        database.conn.execute("CREATE TABLE main._ds_write_probe (x)")  # rolled back: nothing is written
        database.conn.rollback()
    finally:
        database.close()
    datasette = server.make_datasette(db, attribute_every=attribute_every or None, metadata={
        "plugins": {"darksocial": {"rate_limit": rate_limit, "rate_burst": rate_burst}}})

    def ready(real_port: int) -> None:  # the port the server really listens on (--port 0 picks a free one)
        base = f"http://{urls.url_host(host)}:{real_port}"
        click.echo(f"darksocial: reports at {base}/ , collector at {base}/-/darksocial/collect", err=True)
        click.echo(auth.sign_in_hint(datasette, host, real_port), err=True)

    server.run(datasette, host=host, port=port, on_ready=ready, read_timeout=read_timeout,
               max_connections=max_connections)


@cli.command("login-link")
@click.argument("db", type=ExistingDatabase())
@click.option("--host", default="127.0.0.1", show_default=True, help="Address the reporting server listens on.")
@click.option("--port", default=8001, show_default=True, type=click.IntRange(1, 65535),
              help="Port the reporting server listens on.")
def login_link(db, host, port):
    """Print a one-time link that signs you in as the analyst on the reporting server serving DB.

    For a second browser, a cleared cookie or after a restart. Each link works once, within a day. Only someone who
    can write DB can mint one.

    \b
    Example:
      darksocial login-link darksocial.db --port 8001
    """
    from . import analysts

    click.echo(analysts.login_link(db, host, port))


@cli.group()
def site():
    """Sites the collector accepts events from.

    \b
    Example:
      darksocial site add blog --origin https://example.com darksocial.db
    """


@site.command("add")
@click.argument("site_id", metavar="SITE")
@click.option("--origin", "origins", multiple=True, required=True, metavar="URL",
              help="An origin the site's pages are served from, like https://example.com (repeatable).")
@click.option("--respect-dnt", is_flag=True, help="Drop events from browsers that send Do Not Track or GPC.")
@click.option("--name", help="Display name of the site (default: SITE).")
@click.option("--strip-param", "strip_params", multiple=True, metavar="NAME",
              help="A tracking query parameter to drop from page URLs besides utm_* and the known click ids "
                   "(kept for campaign classification; NAME* for a prefix; repeatable).")
@click.option("--keep-param", "keep_params", multiple=True, metavar="NAME",
              help="A query parameter that selects content: when given, only these are kept in page URLs "
                   "(repeatable).")
@click.argument("db", type=click.Path(dir_okay=False))
def site_add(site_id, origins, respect_dnt, name, strip_params, keep_params, db):
    """Register SITE (the id its tracker sends) with its allowed origins, or update it, in DB.

    \b
    Example:
      darksocial site add blog --origin https://example.com --origin https://www.example.com darksocial.db
    """
    from . import events, store
    from .collector import normalise_origin

    if not events.SITE_RE.fullmatch(site_id):
        raise click.UsageError(
            f"SITE {site_id!r} is not a valid site id: use 1-100 letters, digits, '.', '_', ':' or '-'"
        )
    normalised = []
    for origin in origins:
        value = normalise_origin(origin)
        if value is None:
            raise click.UsageError(
                f"--origin {origin!r} is not an origin: give scheme and host (and port), like https://example.com"
            )
        normalised.append(value)
    row = store.register_site(store.open_db(db), site_id, normalised, respect_dnt=respect_dnt, name=name,
                              strip_params=strip_params or None, keep_params=keep_params or None)
    click.echo(f"site {site_id!r}: origins {row['origins']}, respect_dnt={bool(row['respect_dnt'])}")


@site.command("list")
@click.argument("db", type=ExistingDatabase())
def site_list(db):
    """List the sites registered in DB: id, name, origins, whether Do Not Track is respected, events so far.

    \b
    Example:
      darksocial site list darksocial.db
    """
    from . import sites, store

    registered = sites.list_sites(store.open_db(db))
    if not registered:
        click.echo("no site is registered: add one with `darksocial site add SITE --origin URL DB`")
    for row in registered:
        click.echo(f"{row['site']}\t{row['name']}\t{' '.join(row['origins'])}\t"
                   f"respect_dnt={row['respect_dnt']}\t{row['events']:,} events")


@site.command("remove")
@click.argument("site_id", metavar="SITE")
@click.argument("db", type=ExistingDatabase())
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def site_remove(site_id, db, yes):
    """Unregister SITE in DB: the collector refuses its events from then on (within seconds, even while
    `darksocial serve` runs). Its past events, pages, links and reports stay; `site add` registers it again.

    \b
    Example:
      darksocial site remove staging darksocial.db --yes
    """
    from . import sites, store

    database = store.open_db(db)
    known = [row["site"] for row in sites.list_sites(database)]
    if site_id not in known:
        raise click.BadParameter(f"no site {site_id!r} is registered in {db} "
                                 f"(registered: {', '.join(known) or 'none'}); see `darksocial site list DB`",
                                 param_hint="SITE")
    if not yes:
        if not stdin_is_a_terminal():  # a script or CI: a prompt would only end in a bare "Aborted!"
            raise click.UsageError(f"removing site {site_id!r} asks for confirmation, and there is no terminal to "
                                   "ask on: pass --yes to remove it without asking")
        click.confirm(f"Refuse events from site {site_id!r} from now on?", abort=True)
    sites.remove_site(database, site_id)
    click.echo(f"site {site_id!r} removed: its events are refused from now on; past events and reports stay")


# -- attribute and link create (attribution) --------------------------------------------------------------------------
@cli.command()
@click.argument("db", type=ExistingDatabase())
@click.option("--full", is_flag=True, help="Rebuild every analyst table from all events instead of only new ones.")
def attribute(db, full):
    """Turn the events that arrived since the last run into visits, shares, influencers, stories, channels,
    cascades and daily rollups.

    \b
    Example:
      darksocial attribute darksocial.db          # incremental; --full rebuilds from all events
    """
    import time

    from . import attribution, store

    started = time.perf_counter()

    def progress(message: str) -> None:
        click.echo(f"[{time.perf_counter() - started:6.1f}s] {message}", err=True)

    stats = attribution.attribute(store.open_db(db), full=full, progress=progress)
    if stats["mode"] == "up to date":
        click.echo("attribution is up to date: no new events")
    else:
        click.echo(f"attributed {stats['events']:,} events ({stats['mode']}): {stats['visits']:,} visits, "
                   f"{stats['shares']:,} shares updated in {stats['seconds']:.2f}s")
    if stats["stories_retitled"]:
        click.echo(f"stories retitled from the imported page manifest: {stats['stories_retitled']:,}")


@cli.group()
def link():
    """Ambassador links: tokens minted ahead of time for a named person.

    \b
    Example:
      darksocial link create --name "Rosa Diaz" --url https://example.com/story darksocial.db
    """


@link.command("create")
@click.option("--name", required=True, help="Display name of the ambassador, credited in the reports.")
@click.option("--url", "page_url", required=True, metavar="PAGE_URL", help="The page the link points to.")
@click.option("--site", help="Site id (default: the registered site whose origin matches PAGE_URL).")
@click.option("--channel", metavar="CODE", help="Channel code the link will travel through (wa, em, sms...).")
@click.argument("db", type=ExistingDatabase())
def link_create(name, page_url, site, channel, db):
    """Mint an ambassador link to PAGE_URL for NAME in DB and print it: PAGE_URL#ds=<token>.

    \b
    Example:
      darksocial link create --name "Rosa Diaz" --url https://example.com/story --channel wa darksocial.db
    """
    from . import links, store

    try:
        _, url = links.create_link(store.open_db(db), name, page_url, site=site, channel=channel)
    except links.LinkError as exc:
        raise click.UsageError(str(exc)) from None
    click.echo(url)


@link.command("list")
@click.argument("db", type=ExistingDatabase())
@click.option("--site", help="Only the links of this site id.")
def link_list(db, site):
    """List the ambassador links in DB: the link, who it credits, when it was created or revoked.

    \b
    Example:
      darksocial link list darksocial.db --site blog
    """
    from . import links, sites, store

    database = store.open_db(db)
    if site:
        # A removed site's links stay listed, so the sites that have links count as known too.
        known = sorted({row["site"] for row in sites.list_sites(database)}
                       | {row[0] for row in database.conn.execute("SELECT DISTINCT site FROM links")})
        if site not in known:
            raise click.BadParameter(f"no site {site!r} in {db} (known: {', '.join(known) or 'none'}); "
                                     "see `darksocial site list DB`", param_hint="--site")
    rows = links.list_links(database, site=site)
    if not rows:
        click.echo("no ambassador link" + (f" for site {site!r}" if site else "")
                   + ": mint one with `darksocial link create --name NAME --url PAGE_URL DB`")
    for row in rows:
        state = f"revoked {row['revoked']}" if row["revoked"] else "active"
        click.echo(f"{row['token']}\t{row['name']}\t{row['site']}\t{state}\t{row['link']}")


@link.command("revoke")
@click.argument("token", metavar="TOKEN_OR_LINK")
@click.argument("db", type=ExistingDatabase())
def link_revoke(token, db):
    """Mark the ambassador link TOKEN_OR_LINK revoked in DB (`link list` shows when). Nothing is deleted: the
    visits and re-shares it brought until now stay credited to its ambassador; from now on the collector stores
    visits through the link without its token, crediting nobody.

    \b
    Example:
      darksocial link revoke 4fTq9XbZ2k darksocial.db
    """
    from . import links, store

    try:
        row = links.revoke_link(store.open_db(db), token)
    except links.LinkError as exc:
        raise click.BadParameter(str(exc), param_hint="TOKEN_OR_LINK") from None
    click.echo(f"revoked the link of {row['name']} ({row['link']}) at {row['revoked']}")


# -- import-pages (the page manifest an MkDocs build writes) ----------------------------------------------------------
@cli.command("import-pages")
@click.argument("manifest", type=click.Path(dir_okay=False, exists=True))
@click.argument("db", type=ExistingDatabase())
@click.option("--base-url", metavar="URL",
              help="The address the site is served at, when it differs from the build's site_url (or there was none).")
def import_pages(manifest, db, base_url):
    """Load MANIFEST (darksocial-pages.json in the built site) into DB, so stories have titles before any visit.

    \b
    Example:
      darksocial import-pages site/darksocial-pages.json darksocial.db --base-url https://staging.example.org/
    """
    from . import pages, store

    database = store.open_db(db)
    try:
        imported = pages.import_pages(database, manifest, base_url=base_url)
    except pages.ManifestError as exc:
        raise click.UsageError(str(exc)) from None
    click.echo(f"imported {len(imported.pages)} pages of site {imported.site!r} into {db}")
    for warning in pages.registration_warnings(database, imported):
        click.echo(f"warning: {warning}", err=True)


# -- demo ---------------------------------------------------------------------------------------------------------
@cli.command()
@click.option("--dir", "workdir", default="darksocial-demo", show_default=True, type=click.Path(file_okay=False),
              help="Where the built site and the database go, recreated on each run (a folder holding a darksocial.db "
                   "or site/ that the demo did not create is refused).")
@click.option("--site-port", default=8000, show_default=True, type=click.IntRange(0, 65535),
              help="Port of the demo site (0: any free port).")
@click.option("--port", "reports_port", default=8001, show_default=True, type=click.IntRange(0, 65535),
              help="Port of the reporting server (0: any free port).")
@click.option("--seed", default=7, show_default=True, help="Seed of the simulated traffic (same seed, same tables).")
@click.option("--no-wait", is_flag=True, help="Exit once the reports are built instead of serving until Ctrl-C.")
@click.option("--no-browser", is_flag=True, help="Do not open the reports in a browser.")
@click.option("--wagtail", is_flag=True,
              help="Run the demo Wagtail project (demo_site/wagtail) with wagtail_darksocial instead of the MkDocs "
                   "site; its files go to DIR/wagtail.")
def demo(workdir, site_port, reports_port, seed, no_wait, no_browser, wagtail):
    """Build the demo site, serve it, simulate a month of sharing through the real collector, attribute, and
    serve the reports.

    \b
    Example:
      darksocial demo                      # http://127.0.0.1:8000/ (site) and :8001 (reports), until Ctrl-C
      darksocial demo --no-wait --port 8011 --site-port 8010 --dir /tmp/demo
    """
    from pathlib import Path

    from . import demo as demo_module

    missing = demo_module.missing_extras(wagtail=wagtail)
    if missing:
        raise click.ClickException(
            f"the {'Wagtail ' if wagtail else ''}demo needs the {' and '.join(repr(extra) for extra in missing)} "
            f"extra{'s' if len(missing) > 1 else ''}: pip install 'darksocial[{','.join(missing)}]'"
        )
    if wagtail:
        try:
            from wagtail_darksocial import demo as wagtail_demo  # Django and Wagtail load only for this flag
        except ImportError as exc:
            raise click.ClickException(f"the Wagtail demo needs the 'wagtail' extra ({exc}): "
                                       "pip install 'darksocial[wagtail]'") from None
        wagtail_demo.run(Path(workdir) / "wagtail", site_port, reports_port, seed, wait=not no_wait,
                         open_browser=not no_browser)
        return
    demo_module.run(Path(workdir), site_port, reports_port, seed, wait=not no_wait, open_browser=not no_browser)



def stdin_is_a_terminal() -> bool:
    try:
        return sys.stdin.isatty()
    except (AttributeError, ValueError):  # no stdin at all, or a closed one
        return False


def command() -> str:
    """How to run ``darksocial`` again from this shell, for the commands the demo and ``serve`` print: the bare name
    when it is on PATH (an activated venv, pipx), else the path of the script that runs now (``make demo`` runs
    ``.venv/bin/darksocial``), else this Python with ``-m darksocial.cli``."""
    script = Path(sys.argv[0])
    if script.name == "darksocial" and script.exists():
        on_path = shutil.which("darksocial")
        if on_path and Path(on_path).resolve() == script.resolve():
            return "darksocial"
        return shlex.quote(os.path.relpath(script))
    return f"{shlex.quote(sys.executable)} -m darksocial.cli"


if __name__ == "__main__":
    cli()
