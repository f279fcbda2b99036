"""The app's migrations apply (the test database is built from them) and match its models."""

import pytest
from django.core.management import call_command


@pytest.mark.django_db
def test_makemigrations_check_is_clean():
    call_command("makemigrations", "--check", "--dry-run", verbosity=0)  # SystemExit(1) when a model changed


@pytest.mark.django_db
def test_migrations_created_the_tables_and_the_permission():
    from django.contrib.auth.models import Permission

    from wagtail_darksocial.models import AmbassadorLink, DarkSocialSettings, PageOptOut

    assert AmbassadorLink.objects.count() == PageOptOut.objects.count() == 0
    assert DarkSocialSettings.objects.model._meta.db_table == "wagtail_darksocial_darksocialsettings"
    assert Permission.objects.get(codename="view_reports").name == "Can view dark social reports"
