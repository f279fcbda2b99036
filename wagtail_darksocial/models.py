"""The app's own tables in the Django database: per-site settings, per-page opt-outs, ambassador links and the
report permission. Events and analyst tables live in the darksocial SQLite database (``DARKSOCIAL_DATABASE``)."""

from __future__ import annotations

import swapper
from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.db import models
from wagtail.admin.panels import FieldPanel, MultiFieldPanel
from wagtail.contrib.settings.models import BaseSiteSetting, register_setting

from darksocial import channels, inject
from darksocial.events import SITE_RE

# Wagtail 8 lets a project swap the base page model; reusable apps name it through swapper (a no-op on 7.4).
swapper.set_app_prefix("wagtailcore", "wagtail")
PAGE_MODEL = swapper.get_model_name("wagtailcore", "Page")

DEFAULT_CHANNELS = "wa, fm, tg, sms, em, cl, ns"
USER_NAME_CHOICES = [("none", "No name (an opaque id only)"), ("username", "Username"), ("full_name", "Full name")]


def validate_channel_list(value: str) -> None:
    try:
        channels.validate_buttons(parse_channel_list(value))
    except channels.UnknownChannel as exc:
        raise ValidationError(str(exc)) from None
    if not parse_channel_list(value):
        raise ValidationError("list at least one channel code, e.g. wa, tg, em, cl")


def parse_channel_list(value: str) -> tuple[str, ...]:
    return tuple(dict.fromkeys(code.strip().lower() for code in (value or "").replace(";", ",").split(",")
                               if code.strip()))


@register_setting(icon="crosshairs")
class DarkSocialSettings(BaseSiteSetting):
    enabled = models.BooleanField(default=True, help_text="Add the share bar and the tracker to this site's pages.")
    channels = models.CharField(
        max_length=200, default=DEFAULT_CHANNELS, validators=[validate_channel_list],
        help_text="Share buttons, in order, as channel codes: wa WhatsApp, fm Messenger, tg Telegram, sms SMS, "
                  "em Email, cl Copy link, ns native share sheet, x X, fb Facebook, li LinkedIn, rd Reddit, "
                  "bs Bluesky.",
    )
    position = models.CharField(
        max_length=20, default="after-h1",
        help_text="Where the share bar goes: after the page's first heading, at the end of its content, or at the "
                  "end of the page.",
    )
    copy_tracking = models.BooleanField(default=True, help_text="Append a tracked 'Read more' link to copied text.")
    address_bar = models.BooleanField(default=True, help_text="Show a share token in the address bar.")
    address_bar_home = models.BooleanField(default=False, help_text="... on the home page too.")
    cookieless = models.BooleanField(
        default=False, help_text="No visitor id in the browser; the server derives a daily pseudonym.")
    respect_dnt = models.BooleanField(
        default=False, help_text="Send nothing from browsers with Do Not Track or Global Privacy Control on.")
    query_mode = models.BooleanField(default=False, help_text="Tokens in ?ds= instead of #ds=.")
    collector_url = models.CharField(
        max_length=500, blank=True,
        help_text="Where events are sent. Blank: this site's own first-party endpoint (recommended).")
    collector_site_id = models.CharField(
        max_length=100, blank=True,
        help_text="Site id sent with events and shown in reports. Blank: the site's hostname.")
    identify_users = models.BooleanField(
        default=False,
        help_text="Signed-in users of the site are identified (an opaque id derived from their account), so their "
                  "shares appear under their names in the reports.")
    user_display_name = models.CharField(max_length=20, default="full_name")

    panels = [
        FieldPanel("enabled"),
        MultiFieldPanel([
            FieldPanel("channels"),
            FieldPanel("position", widget=forms.Select(choices=[(p, p) for p in inject.POSITIONS])),
        ], heading="Share bar"),
        MultiFieldPanel([
            FieldPanel("copy_tracking"), FieldPanel("address_bar"), FieldPanel("address_bar_home"),
            FieldPanel("query_mode"),
        ], heading="Tracking"),
        MultiFieldPanel([FieldPanel("cookieless"), FieldPanel("respect_dnt")], heading="Privacy"),
        MultiFieldPanel([
            FieldPanel("identify_users"),
            FieldPanel("user_display_name", widget=forms.Select(choices=USER_NAME_CHOICES)),
        ], heading="People"),
        MultiFieldPanel([FieldPanel("collector_url"), FieldPanel("collector_site_id")], heading="Collector"),
    ]

    class Meta:
        verbose_name = "Dark social"

    def clean(self):
        super().clean()
        if self.position not in inject.POSITIONS:
            raise ValidationError({"position": f"one of {', '.join(inject.POSITIONS)}"})
        if self.user_display_name not in dict(USER_NAME_CHOICES):
            raise ValidationError({"user_display_name": f"one of {', '.join(dict(USER_NAME_CHOICES))}"})
        if self.collector_site_id and not SITE_RE.fullmatch(self.collector_site_id):
            raise ValidationError({"collector_site_id": "letters, digits and . _ : - only, at most 100 characters"})
        if self.collector_url:
            try:
                inject.TrackerConfig(collector=self.collector_url, site="check", script_url="/", css_url="/")
            except inject.InjectError as exc:
                raise ValidationError({"collector_url": str(exc)}) from None

    def darksocial_site(self) -> str:
        return self.collector_site_id or self.site.hostname


class PageOptOut(models.Model):
    """A page whose editors turned the share bar and the tracker off: it is served exactly as without the app."""

    page = models.OneToOneField(PAGE_MODEL, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = "page without dark social tracking"


class AmbassadorLink(models.Model):
    """A tracked link minted ahead of time for a named person (``darksocial.links``)."""

    name = models.CharField(max_length=200, help_text="Who the link is for, as it will appear in the reports.")
    # A deleted page keeps its links: they were handed out, and their visits and re-shares stay credited.
    page = models.ForeignKey(PAGE_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+",
                             help_text="The page the link opens (kept in the link once minted).")
    channel = models.CharField(
        max_length=10, blank=True, help_text="The channel the person will use, if known.")
    token = models.CharField(max_length=20, unique=True, editable=False)
    url = models.CharField(max_length=2100, editable=False, help_text="The tracked link to hand out.")
    created_at = models.DateTimeField(auto_now_add=True)

    # Choices live in the form, not the field: the channel registry can grow without a migration.
    panels = [FieldPanel("name"), FieldPanel("page"), FieldPanel("channel", widget=forms.Select(choices=[
        ("", "(any)"), *((c.code, c.label) for c in channels.CHANNELS.values())]))]

    class Meta:
        verbose_name = "ambassador link"
        ordering = ["-created_at"]

    def __str__(self):
        return self.name

    def reach(self) -> tuple[int, int]:
        """(visits, re-shares) the link brought, from the attributed ``shares`` table."""
        if not hasattr(self, "_reach"):
            from .links import link_reach

            self._reach = link_reach(self.token)
        return self._reach

    @admin.display(description="Visits")
    def visits(self) -> int:
        return self.reach()[0]

    @admin.display(description="Re-shares")
    def reshares(self) -> int:
        return self.reach()[1]

    def clean(self):
        super().clean()
        if not self.token and not self.page_id:
            raise ValidationError({"page": "choose the page the link opens"})
        if not self.token and self.page.get_site() is None:
            raise ValidationError({"page": "this page is not under any site's home page, so it has no address"})

    def save(self, *args, **kwargs):
        from .links import mint_or_rename

        mint_or_rename(self)
        super().save(*args, **kwargs)


class DarkSocialReports(models.Model):
    """No table: carries the permission that opens the admin reports (like wagtailadmin's ``Admin``)."""

    class Meta:
        managed = False
        default_permissions = []
        permissions = [("view_reports", "Can view dark social reports")]
