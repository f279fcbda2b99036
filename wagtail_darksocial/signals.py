"""Receivers: publishing a page registers its story; saving a Site or its settings updates the collector's site
registry. Each opens the darksocial database only when it has something to write."""

from __future__ import annotations

import logging

from django.core.exceptions import ImproperlyConfigured
from django.db import DatabaseError
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver
from wagtail.models import Site
from wagtail.signals import page_published

from . import tracking
from .database import open_database
from .models import DarkSocialSettings, PageOptOut
from .sites import register_site
from .stories import register_pages

log = logging.getLogger(__name__)


@receiver(post_save, sender=DarkSocialSettings)
@receiver(post_save, sender=PageOptOut)
@receiver(post_delete, sender=PageOptOut)
def forget_cached_settings(sender, **kwargs):
    tracking.forget_state()


@receiver(page_published)
def register_published_story(sender, instance, **kwargs):
    try:
        with open_database() as db:
            register_pages(db, [instance])
    except ImproperlyConfigured as exc:
        log.warning("darksocial: page %s not registered as a story: %s", instance.pk, exc)


@receiver(post_save, sender=Site)
@receiver(post_save, sender=DarkSocialSettings)
def register_site_with_collector(sender, instance, **kwargs):
    site = instance if isinstance(instance, Site) else instance.site
    try:
        with open_database() as db:
            register_site(db, site)
    except (ImproperlyConfigured, DatabaseError) as exc:
        log.warning("darksocial: site %s not registered with the collector: %s", site, exc)
