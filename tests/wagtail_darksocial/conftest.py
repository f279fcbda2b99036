"""pytest-django for the Wagtail app: the demo project's settings, a migrated test database, and a fresh darksocial
database per test. Setting DJANGO_SETTINGS_MODULE here (not in pyproject) leaves the rest of the suite alone."""

from __future__ import annotations

import os
import pathlib
import sys

import pytest

HERE = pathlib.Path(__file__).parent
DEMO = HERE.parents[1] / "demo_site" / "wagtail"
for path in (str(DEMO), str(HERE)):
    if path not in sys.path:
        sys.path.insert(0, path)
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "wagtail_darksocial_testsettings")
# Playwright's sync API keeps an event loop on the main thread; Django would refuse the ORM there. Django's own
# advice for this case: https://docs.djangoproject.com/en/stable/topics/async/#envvar-DJANGO_ALLOW_ASYNC_UNSAFE
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

import django  # noqa: E402

django.setup()

ORIGIN = "http://localhost:8000"  # the demo site's Site record (hostname localhost, port 8000)


@pytest.fixture(autouse=True)
def darksocial_db(settings, tmp_path):
    """A fresh darksocial database for each test (and the process's collector pointed at it)."""
    from wagtail_darksocial import database, tracking

    database.reset()
    tracking.forget_state()  # a rolled-back test database sends no signals: forget what the last test cached
    settings.DARKSOCIAL_DATABASE = tmp_path / "darksocial.db"
    yield settings.DARKSOCIAL_DATABASE
    database.reset()
    tracking.forget_state()


@pytest.fixture
def site_settings(db):
    from wagtail.models import Site

    from wagtail_darksocial.models import DarkSocialSettings

    return DarkSocialSettings.for_site(Site.objects.get(is_default_site=True))


@pytest.fixture
def article(db):
    from demo_pages.models import ArticlePage

    return ArticlePage.objects.get(slug="harbour-lights")


@pytest.fixture
def reporter(db, django_user_model):
    """A non-superuser with admin access and the report permission, through a group."""
    from django.contrib.auth.models import Group, Permission

    group = Group.objects.create(name="Analysts")
    group.permissions.add(Permission.objects.get(codename="access_admin"),
                          Permission.objects.get(codename="view_reports"))
    user = django_user_model.objects.create_user("rosa", "rosa@example.com", "pw", first_name="Rosa",
                                                 last_name="Diaz")
    user.groups.add(group)
    return user


@pytest.fixture
def editor(db, django_user_model):
    """Admin access without the report permission."""
    from django.contrib.auth.models import Group, Permission

    group = Group.objects.create(name="Plain editors")
    group.permissions.add(Permission.objects.get(codename="access_admin"))
    user = django_user_model.objects.create_user("ed", "ed@example.com", "pw")
    user.groups.add(group)
    return user
