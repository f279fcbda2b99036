from django.apps import AppConfig


class WagtailDarksocialConfig(AppConfig):
    name = "wagtail_darksocial"
    label = "wagtail_darksocial"
    verbose_name = "Dark social"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from . import checks, signals  # noqa: F401  (registers the system check and the signal receivers)
