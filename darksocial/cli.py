"""The ``darksocial`` command. Each subcommand is thin: the work lives in the core modules."""

from __future__ import annotations

import click

from . import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
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
def serve(db, host, port, attribute_every):
    """Start the reporting server on DB: reports, the collector at /-/darksocial/collect and the tracker assets.

    Creates the database, or migrates it to the current schema, first. On any address but loopback, analysts must
    sign in: set DARKSOCIAL_ANALYST_PASSWORD_HASH (make one with `datasette hash-password`).
    """
    try:
        from reporting import server
    except ImportError as exc:
        raise click.ClickException(
            f"the reporting server needs the 'reporting' extra ({exc}): pip install 'darksocial[reporting]'"
        ) from None
    from reporting import auth

    from . import store

    refusal = auth.bind_refusal(host)  # off loopback, analysts must sign in: checked before touching anything
    if refusal:
        raise click.UsageError(refusal)
    store.open_db(db).close()
    datasette = server.make_datasette(db, attribute_every=attribute_every or None)
    click.echo(f"darksocial: reports at http://{host}:{port}/ , collector at http://{host}:{port}/-/darksocial/collect",
               err=True)
    click.echo(auth.sign_in_hint(datasette, host, port), err=True)
    server.run(datasette, host=host, port=port)


@cli.group()
def site():
    """Sites the collector accepts events from."""


@site.command("add")
@click.argument("site_id", metavar="SITE")
@click.option("--origin", "origins", multiple=True, required=True, metavar="URL",
              help="An origin the site's pages are served from, like https://example.com (repeatable).")
@click.option("--respect-dnt", is_flag=True, help="Drop events from browsers that send Do Not Track or GPC.")
@click.option("--name", help="Display name of the site (default: SITE).")
@click.argument("db", type=click.Path(dir_okay=False))
def site_add(site_id, origins, respect_dnt, name, db):
    """Register SITE (the id its tracker sends) with its allowed origins, or update it, in DB."""
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
    row = store.register_site(store.open_db(db), site_id, normalised, respect_dnt=respect_dnt, name=name)
    click.echo(f"site {site_id!r}: origins {row['origins']}, respect_dnt={bool(row['respect_dnt'])}")


# -- attribute and link create (attribution) --------------------------------------------------------------------------
@cli.command()
@click.argument("db", type=click.Path(dir_okay=False, exists=True))
@click.option("--full", is_flag=True, help="Rebuild every analyst table from all events instead of only new ones.")
def attribute(db, full):
    """Turn the events that arrived since the last run into visits, shares, influencers, stories, channels,
    cascades and daily rollups."""
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


@cli.group()
def link():
    """Ambassador links: tokens minted ahead of time for a named person."""


@link.command("create")
@click.option("--name", required=True, help="Display name of the ambassador, credited in the reports.")
@click.option("--url", "page_url", required=True, metavar="PAGE_URL", help="The page the link points to.")
@click.option("--site", help="Site id (default: the registered site whose origin matches PAGE_URL).")
@click.option("--channel", metavar="CODE", help="Channel code the link will travel through (wa, em, sms...).")
@click.argument("db", type=click.Path(dir_okay=False))
def link_create(name, page_url, site, channel, db):
    """Mint an ambassador link to PAGE_URL for NAME in DB and print it: PAGE_URL#ds=<token>."""
    from . import links, store

    try:
        _, url = links.create_link(store.open_db(db), name, page_url, site=site, channel=channel)
    except links.LinkError as exc:
        raise click.UsageError(str(exc)) from None
    click.echo(url)


# -- import-pages (the page manifest an MkDocs build writes) ----------------------------------------------------------
@cli.command("import-pages")
@click.argument("manifest", type=click.Path(dir_okay=False, exists=True))
@click.argument("db", type=click.Path(dir_okay=False))
@click.option("--base-url", metavar="URL",
              help="The address the site is served at, when it differs from the build's site_url (or there was none).")
def import_pages(manifest, db, base_url):
    """Load MANIFEST (darksocial-pages.json in the built site) into DB, so stories have titles before any visit."""
    from . import pages, store

    try:
        imported = pages.import_pages(store.open_db(db), manifest, base_url=base_url)
    except pages.ManifestError as exc:
        raise click.UsageError(str(exc)) from None
    click.echo(f"imported {len(imported.pages)} pages of site {imported.site!r} into {db}")


# -- demo ---------------------------------------------------------------------------------------------------------
@cli.command()
@click.option("--dir", "workdir", default="darksocial-demo", show_default=True, type=click.Path(file_okay=False),
              help="Where the built site and the database go (the database is recreated on each run).")
@click.option("--site-port", default=8000, show_default=True, type=click.IntRange(0, 65535),
              help="Port of the demo site (0: any free port).")
@click.option("--port", "reports_port", default=8001, show_default=True, type=click.IntRange(0, 65535),
              help="Port of the reporting server (0: any free port).")
@click.option("--seed", default=7, show_default=True, help="Seed of the simulated traffic (same seed, same tables).")
@click.option("--no-wait", is_flag=True, help="Exit once the reports are built instead of serving until Ctrl-C.")
@click.option("--no-browser", is_flag=True, help="Do not open the reports in a browser.")
def demo(workdir, site_port, reports_port, seed, no_wait, no_browser):
    """Build the demo site, serve it, simulate a month of sharing through the real collector, attribute, and
    serve the reports.

    \b
    Example:
      darksocial demo                      # http://127.0.0.1:8000/ (site) and :8001 (reports), until Ctrl-C
      darksocial demo --no-wait --port 8011 --site-port 8010 --dir /tmp/demo
    """
    from pathlib import Path

    from . import demo as demo_module

    missing = demo_module.missing_extras()
    if missing:
        raise click.ClickException(
            f"the demo needs the {' and '.join(repr(extra) for extra in missing)} extra"
            f"{'s' if len(missing) > 1 else ''}: pip install 'darksocial[{','.join(missing)}]'"
        )
    demo_module.run(Path(workdir), site_port, reports_port, seed, wait=not no_wait, open_browser=not no_browser)


if __name__ == "__main__":
    cli()
