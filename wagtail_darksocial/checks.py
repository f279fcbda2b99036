from django.apps import apps
from django.core import checks
from django.core.exceptions import ImproperlyConfigured

from .database import database_path


@checks.register()
def database_is_configured(app_configs, **kwargs):
    try:
        database_path()
    except ImproperlyConfigured as exc:
        return [checks.Error(str(exc), id="wagtail_darksocial.E001")]
    return []


@checks.register()
def site_settings_app_is_installed(app_configs, **kwargs):
    # Without it pages are still tracked, but the admin's menu links to its settings and every admin page is a 500.
    if apps.is_installed("wagtail.contrib.settings"):
        return []
    return [checks.Error("wagtail_darksocial keeps its per-site settings with wagtail.contrib.settings, which is "
                         "not installed", hint="add 'wagtail.contrib.settings' to INSTALLED_APPS",
                         id="wagtail_darksocial.E002")]
