"""The first-party collector view answers exactly like the core's collector (the reporting route's contract
cases are shared, not copied) and stores what it acknowledges."""

from __future__ import annotations

import importlib.util
import json
import pathlib
import sqlite3

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import Client

from darksocial import store
from wagtail_darksocial import database

pytestmark = pytest.mark.django_db
ORIGIN = "https://example.com"  # the contract cases' origin, registered below like the reporting tests do
FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:132.0) Gecko/20100101 Firefox/132.0"


def _contract():
    path = pathlib.Path(__file__).parents[1] / "reporting" / "test_collect_http.py"
    spec = importlib.util.spec_from_file_location("darksocial_collector_contract", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


CONTRACT = _contract()


@pytest.fixture
def contract_sites(darksocial_db):
    db = store.open_db(darksocial_db)
    store.register_site(db, "blog", [ORIGIN])
    store.register_site(db, "private", [ORIGIN], respect_dnt=True)
    db.close()
    return darksocial_db


def post(payload, **headers):
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    merged = {k: v for k, v in {**CONTRACT.HEADERS, **headers}.items() if v is not None}
    content_type = merged.pop("content-type", None)
    meta = {"HTTP_" + k.upper().replace("-", "_"): v for k, v in merged.items()}
    if content_type is not None:
        meta["CONTENT_TYPE"] = content_type
    return Client().generic("POST", "/darksocial/collect", data=body, **meta)


def count(path) -> int:
    with sqlite3.connect(path) as conn:
        return conn.execute("SELECT count(*) FROM events").fetchone()[0]


def test_good_events_are_stored_and_answered_204(contract_sites):
    response = post(CONTRACT.view(v="visitor0001", n="A post"))
    assert response.status_code == 204 and response.content == b""
    batch = [CONTRACT.view(v="visitor0001", t=f"B{i:09d}") for i in range(5)]
    assert post(batch, **{"content-type": "application/json"}).status_code == 204
    assert count(contract_sites) == 6
    with sqlite3.connect(contract_sites) as conn:
        row = conn.execute("SELECT site, url, title, browser FROM events WHERE title = 'A post'").fetchone()
    assert row == ("blog", f"{ORIGIN}/post", "A post", "Firefox")


@pytest.mark.parametrize("payload, headers, status", CONTRACT.BAD)
def test_bad_input_gets_the_same_4xx_as_the_core(contract_sites, payload, headers, status):
    response = post(payload, **headers)
    assert response.status_code == status
    assert response.content.decode().strip()  # a reason naming the field
    assert count(contract_sites) == 0


def test_bots_and_dnt_are_answered_202_and_not_stored(contract_sites):
    assert post(CONTRACT.view(), **{"user-agent": "Googlebot/2.1 (+http://www.google.com/bot.html)"}).status_code == 202
    assert post(CONTRACT.view(s="private"), dnt="1").status_code == 202
    assert count(contract_sites) == 0


def test_other_methods_are_refused():
    response = Client().get("/darksocial/collect")
    assert response.status_code == 405 and response["Allow"] == "POST"
    assert response.content.decode().startswith("method: ")


def test_the_wagtail_site_is_registered_with_the_collector_automatically(darksocial_db):
    response = post({"k": "view", "s": "localhost", "u": "http://localhost:8000/harbour-lights/", "t": "AAAAAAAAAA"},
                    origin="http://localhost:8000")
    assert response.status_code == 204, response.content
    assert post({"k": "view", "s": "localhost", "u": "http://localhost:8000/", "t": "AAAAAAAAAB"},
                origin="https://evil.example").status_code == 403


def test_a_site_that_changes_its_id_or_goes_gives_the_old_one_up(darksocial_db):
    # The collector must not go on taking events for an address no Site has any more (its past stays).
    from wagtail.models import Page, Site

    from darksocial import sites
    from wagtail_darksocial.models import DarkSocialSettings

    def registered() -> dict:
        with sqlite3.connect(darksocial_db) as conn:
            return {row["site"]: row["origins"] for row in sites.list_sites(conn)}

    root = Page.objects.get(depth=2)
    extra = Site.objects.create(hostname="news.example", port=8001, root_page=root, site_name="News")
    assert registered()["news.example"] == ["http://news.example:8001", "https://news.example:8001"]
    extra.hostname = "press.example"
    extra.save()
    assert "news.example" not in registered() and "press.example" in registered()
    config = DarkSocialSettings.for_site(extra)
    config.collector_site_id = "press"
    config.save()
    assert "press.example" not in registered() and "press" in registered()
    twin = Site.objects.create(hostname="press.example", port=8002, root_page=root)
    DarkSocialSettings.objects.filter(site=twin).update(collector_site_id="press")
    DarkSocialSettings.for_site(twin).save()  # two Sites of one id: both their origins
    assert len(registered()["press"]) == 4
    extra.delete()
    assert registered()["press"] == ["http://press.example:8002", "https://press.example:8002"]
    twin.delete()
    assert "press" not in registered() and "localhost" in registered()


def test_a_missing_or_unwritable_database_setting_is_improperly_configured(settings, tmp_path):
    settings.DARKSOCIAL_DATABASE = None
    with pytest.raises(ImproperlyConfigured, match="DARKSOCIAL_DATABASE is not set"):
        database.database_path()
    assert Client().post("/darksocial/collect", data=b"{}", content_type="text/plain").status_code == 503
    settings.DARKSOCIAL_DATABASE = tmp_path / "missing-dir" / "ds.db"
    with pytest.raises(ImproperlyConfigured, match="does not exist"):
        database.database_path()
    settings.DARKSOCIAL_DATABASE = tmp_path
    with pytest.raises(ImproperlyConfigured, match="is a directory"):
        database.database_path()
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    settings.DARKSOCIAL_DATABASE = locked / "ds.db"
    try:
        import os

        if os.getuid() != 0:  # root writes anywhere
            with pytest.raises(ImproperlyConfigured, match="not writable"):
                database.database_path()
    finally:
        locked.chmod(0o700)


def test_the_sites_own_database_as_darksocial_database_is_improperly_configured(settings, tmp_path):
    import sqlite3

    own = tmp_path / "db.sqlite3"  # another application's database, e.g. Django's own
    with sqlite3.connect(own) as conn:
        conn.execute("CREATE TABLE auth_user (id INTEGER PRIMARY KEY)")
    settings.DARKSOCIAL_DATABASE = own
    with pytest.raises(ImproperlyConfigured, match="another application's SQLite database.*a file of its own"):
        database.collector()
    with sqlite3.connect(own) as conn:
        assert [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")] == ["auth_user"]


def test_the_system_check_names_the_setting(settings):
    from django.core import checks

    settings.DARKSOCIAL_DATABASE = None
    errors = [e for e in checks.run_checks() if e.id == "wagtail_darksocial.E001"]
    assert errors and "DARKSOCIAL_DATABASE" in errors[0].msg


def test_the_system_check_names_the_missing_settings_app(monkeypatch):
    from django.apps import apps

    from wagtail_darksocial.checks import site_settings_app_is_installed

    assert site_settings_app_is_installed(None) == []
    # (Uninstalling the app for real reloads every URLconf of the test project: as if it were not installed.)
    installed = apps.is_installed
    monkeypatch.setattr(apps, "is_installed", lambda name: name != "wagtail.contrib.settings" and installed(name))
    [error] = site_settings_app_is_installed(None)
    assert error.id == "wagtail_darksocial.E002" and "'wagtail.contrib.settings'" in error.hint
