"""``darksocial demo --wagtail``: the demo Wagtail project (``demo_site/wagtail``) with the app, a month of
simulated sharing (the past days through the collector's checks, today's POSTed over HTTP to the app's own
first-party collector), attribution, and the Datasette reports beside the Wagtail admin's."""

from __future__ import annotations

import datetime as dt
import os
import secrets
import sys
from contextlib import contextmanager
from functools import partial
from pathlib import Path

import click

from darksocial import demo as core_demo
from darksocial import simulate, store

DEMO_PROJECT = Path(__file__).resolve().parents[1] / "demo_site" / "wagtail"
SITE_ID = "harbour-notes"


def setup_django(workdir: Path, reports_url: str) -> None:
    if not (DEMO_PROJECT / "demo_project" / "settings.py").is_file():
        raise click.ClickException(f"the Wagtail demo project is not at {DEMO_PROJECT}: run the demo from a "
                                   "checkout of the darksocial repository")
    os.environ["DEMO_DATA_DIR"] = str(workdir)
    os.environ["DARKSOCIAL_REPORTS_URL"] = reports_url
    os.environ["DJANGO_SETTINGS_MODULE"] = "demo_project.settings"
    sys.path.insert(0, str(DEMO_PROJECT))
    import django

    django.setup()


def prepare_site(site_port: int) -> tuple[list[tuple[str, str]], dict[str, str], str]:
    """Migrate, point the Wagtail site at the demo's address, register the stories, mint two ambassador links;
    returns (pages, ambassador tokens, admin password)."""
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from wagtail.models import Page, Site

    from .models import AmbassadorLink, DarkSocialSettings

    call_command("migrate", verbosity=0)
    site = Site.objects.get(is_default_site=True)
    site.hostname, site.port = "127.0.0.1", site_port
    site.save()
    Site.clear_site_root_paths_cache()
    settings = DarkSocialSettings.for_site(site)
    settings.collector_site_id = SITE_ID
    settings.save()
    call_command("darksocial_import_pages", verbosity=0)
    live = list(Page.objects.live().filter(depth__gte=2).order_by("path").specific())
    page_list = [(page.get_url(), page.title) for page in live]
    ambassadors = {}
    for name, page, channel in (("Priya Natarajan", live[1], "em"), ("Marco Rossi", live[-1], "wa")):
        link = AmbassadorLink.objects.create(name=name, page=page, channel=channel)
        ambassadors[f"{link.token}.{channel}"] = page.get_url()
    password = secrets.token_urlsafe(9)
    user_model = get_user_model()
    user_model.objects.filter(username="admin").delete()
    user_model.objects.create_superuser("admin", "admin@example.com", password)
    return page_list, ambassadors, password


@contextmanager
def wagtail_running(port: int):
    """The demo project on a threaded WSGI server (static files included), without an access log."""
    from django.contrib.staticfiles.handlers import StaticFilesHandler
    from django.core.servers.basehttp import ThreadedWSGIServer, WSGIRequestHandler
    from django.core.wsgi import get_wsgi_application

    class QuietHandler(WSGIRequestHandler):
        def log_message(self, *args):  # no access log: it would print visitors' addresses
            pass

    try:
        server = ThreadedWSGIServer(("127.0.0.1", port), QuietHandler)
    except OSError:
        raise click.UsageError(f"port {port} for the Wagtail site was taken: choose another with --site-port") from None
    server.set_app(StaticFilesHandler(get_wsgi_application()))
    with core_demo.serve_in_thread(server, "darksocial-wagtail-demo") as url:
        yield url


def earlier_demo(workdir: Path) -> bool:
    """Whether the demo's files in ``workdir`` are an earlier Wagtail demo's, made before the demo marked its folder:
    its darksocial.db has the demo's site and pages, its Django database (if any) the demo's collector site id."""
    if not core_demo.is_demo_database(workdir / "darksocial.db", SITE_ID):
        return False
    project_db = workdir / "db.sqlite3"
    return not project_db.exists() or core_demo.holds_row(
        project_db, "SELECT 1 FROM wagtail_darksocial_darksocialsettings WHERE collector_site_id = ?", (SITE_ID,))


def run(workdir: Path, site_port: int, reports_port: int, seed: int, wait: bool, open_browser: bool):
    from . import attribution

    site_port = core_demo.claim_port(site_port, "the Wagtail site", "--site-port")
    reports_port = core_demo.claim_port(reports_port, "the reports", "--port", avoid=site_port)
    site_url, reports_url = f"http://127.0.0.1:{site_port}/", f"http://127.0.0.1:{reports_port}/"
    db_path = workdir / "darksocial.db"
    owned = {"darksocial.db": store.database_files(db_path), "db.sqlite3": [workdir / "db.sqlite3"]}
    core_demo.claim_workdir(workdir, owned, partial(earlier_demo, workdir))
    for path in [*owned["darksocial.db"], *owned["db.sqlite3"]]:
        path.unlink(missing_ok=True)
    setup_django(workdir, reports_url)
    click.echo(f"migrating the demo Wagtail project into {workdir} ...")
    page_list, ambassadors, password = prepare_site(site_port)
    click.echo(f"{len(page_list)} pages registered as stories, {len(ambassadors)} ambassador links (snippets)")

    now = dt.datetime.now(dt.timezone.utc)
    requests = simulate.Simulation(SITE_ID, site_url, page_list, end=now, seed=seed, days=core_demo.DAYS,
                                   ambassadors=ambassadors).requests()
    history, today = core_demo.split_today(requests, now)
    ingested = core_demo.ingest_history(db_path, history)
    posted = core_demo.present(
        wagtail_running(site_port), db_path, reports_port, collect_url=site_url + "darksocial/collect",
        today=today, ingested=ingested, collector_name="the Wagtail app's collector",
        attribute=partial(attribution.run, full=True),
        links=[f"the Wagtail site:    {site_url}",
               f"the Wagtail admin:   {site_url}admin/darksocial/top-influencers/  (user admin, password {password})",
               f"the reports:         {reports_url}"],
        wait=wait, open_browser=open_browser)
    return core_demo.DemoResult(db_path, site_url, reports_url, posted, ingested)
