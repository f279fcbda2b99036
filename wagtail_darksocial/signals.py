"""Receivers: publishing a page registers its story; saving or deleting a Site, or saving its settings, updates the
collector's site registry. Each opens the darksocial database only when it has something to write."""

from __future__ import annotations

import logging
import sqlite3

from django.core.exceptions import ImproperlyConfigured
from django.db import DatabaseError
from django.db.models.signals import post_delete, post_save, pre_delete, pre_save
from django.dispatch import receiver
from wagtail.models import Site
from wagtail.signals import page_published

from . import tracking
from .database import open_database
from .models import DarkSocialSettings, PageOptOut
from .sites import register_site, release_site_id, stored_site_id
from .stories import register_pages, register_site_pages

log = logging.getLogger(__name__)

# What the darksocial database can raise (a file that is not a database, a full disk, a lock held too long): logged,
# never raised into Wagtail's publishing or a Site's save, whose other receivers (aliases, workflows) must still run.
DATABASE_FAILURES = (ImproperlyConfigured, DatabaseError, sqlite3.Error)


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
    except DATABASE_FAILURES as exc:
        log.warning("darksocial: page %s not registered as a story: %s", instance.pk, exc)


@receiver(pre_save, sender=Site)
@receiver(pre_save, sender=DarkSocialSettings)
@receiver(pre_delete, sender=Site)
def remember_site_id(sender, instance, **kwargs):
    # A new row had no id of its own (a Site's settings are created with the defaults: the hostname, unchanged).
    # No read for it: inside get_or_create's transaction, a read before the INSERT lets two processes' transactions
    # deadlock on SQLite ("database is locked" at once, as gunicorn's workers start together).
    if instance.pk is None:
        return
    site = instance if isinstance(instance, Site) else instance.site
    stored = Site.objects.filter(pk=site.pk).first()
    instance._darksocial_previous_id = stored_site_id(stored)
    if isinstance(instance, Site):
        instance._darksocial_previous_address = _address(stored)


def _address(site) -> tuple | None:
    """What a Site's page URLs are made of."""
    return site and (site.hostname, site.port, site.root_page_id)


@receiver(post_save, sender=Site)
@receiver(post_save, sender=DarkSocialSettings)
def register_site_with_collector(sender, instance, **kwargs):
    site = instance if isinstance(instance, Site) else instance.site
    try:
        with open_database() as db:
            site_id = register_site(db, site)
            previous = getattr(instance, "_darksocial_previous_id", None)
            renamed = previous is not None and previous != site_id
            if renamed:
                release_site_id(db, previous)
            moved = getattr(instance, "_darksocial_previous_address", None) not in (None, _address(site))
            if moved or renamed:
                # The stories it serves, at their new URLs or under its new id (the old rows stay, for past visits).
                register_site_pages(db, site)
    except DATABASE_FAILURES as exc:
        log.warning("darksocial: site %s not registered with the collector: %s", site, exc)


@receiver(post_delete, sender=Site)
def unregister_deleted_site(sender, instance, **kwargs):
    previous = getattr(instance, "_darksocial_previous_id", None)
    if not previous:
        return
    try:
        with open_database() as db:
            release_site_id(db, previous, leaving=instance)
    except DATABASE_FAILURES as exc:
        log.warning("darksocial: site %s not unregistered from the collector: %s", previous, exc)
