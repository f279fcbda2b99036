"""Include before Wagtail's catch-all: ``path("darksocial/", include("wagtail_darksocial.urls"))``."""

from django.urls import path

from . import views

app_name = "wagtail_darksocial"
urlpatterns = [
    path("collect", views.collect, name="collect"),
    path("<str:name>", views.asset, name="asset"),
]
