from django.db import models
from wagtail.admin.panels import FieldPanel
from wagtail.models import Page


class HomePage(Page):
    intro = models.TextField(blank=True)
    content_panels = [*Page.content_panels, FieldPanel("intro")]


class ArticlePage(Page):
    summary = models.TextField(blank=True)
    body = models.TextField(blank=True)
    content_panels = [*Page.content_panels, FieldPanel("summary"), FieldPanel("body")]
    parent_page_types = ["demo_pages.HomePage"]
