from django.apps import AppConfig


class DemoPagesConfig(AppConfig):
    name = "demo_pages"
    default_auto_field = "django.db.models.BigAutoField"
