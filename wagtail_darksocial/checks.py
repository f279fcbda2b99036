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
