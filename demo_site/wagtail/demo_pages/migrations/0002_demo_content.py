"""The demo's content: a home page and a dozen articles, replacing Wagtail's welcome page at the site root."""

import datetime as dt

from django.db import migrations

ARTICLES = [
    ("harbour-lights", "The harbour lights are back", "After three dark winters the old lamps shine again."),
    ("ferry-timetable", "A ferry timetable that makes sense", "One page, every crossing, no small print."),
    ("night-market", "Inside the night market", "Forty stalls, one generator and a lot of noodles."),
    ("tide-pools", "What lives in the tide pools", "A field guide for the lowest tide of the year."),
    ("boat-builders", "The last wooden boat builders", "Two brothers, one shed and a waiting list of six years."),
    ("sea-swimming", "Sea swimming through the winter", "Cold water, warm tea and why people keep coming back."),
    ("fish-soup", "The fish soup recipe everyone asks for", "It starts with the heads. Trust us."),
    ("lighthouse-keeper", "A day with the lighthouse keeper", "The light is automatic now; the keeper is not."),
    ("storm-season", "Getting ready for storm season", "Sandbags, shutters and the neighbours' phone numbers."),
    ("island-school", "The island school with seven pupils", "Every child gets a turn ringing the bell."),
    ("old-charts", "Reading the old sea charts", "Rocks that moved, islands that never were."),
    ("seal-colony", "The seals are back on the sandbank", "Count them from the pier, at a respectful distance."),
]
PUBLISHED = dt.datetime(2026, 1, 5, 9, 0, tzinfo=dt.timezone.utc)


def create_pages(apps, schema_editor):
    ContentType = apps.get_model("contenttypes.ContentType")
    Page = apps.get_model("wagtailcore.Page")
    Site = apps.get_model("wagtailcore.Site")
    Locale = apps.get_model("wagtailcore.Locale")
    HomePage = apps.get_model("demo_pages.HomePage")
    ArticlePage = apps.get_model("demo_pages.ArticlePage")

    Page.objects.filter(depth=2, slug="home").delete()  # Wagtail's welcome page
    locale = Locale.objects.first()
    home_type, _ = ContentType.objects.get_or_create(app_label="demo_pages", model="homepage")
    article_type, _ = ContentType.objects.get_or_create(app_label="demo_pages", model="articlepage")
    home = HomePage.objects.create(
        title="Harbour Notes", draft_title="Harbour Notes", slug="home", content_type=home_type, path="00010001",
        depth=2, numchild=len(ARTICLES), url_path="/home/", locale=locale, live=True,
        first_published_at=PUBLISHED, last_published_at=PUBLISHED,
        intro="Stories from a small harbour town. Share the ones you like.",
    )
    for index, (slug, title, summary) in enumerate(ARTICLES, start=1):
        published = PUBLISHED + dt.timedelta(days=index)
        ArticlePage.objects.create(
            title=title, draft_title=title, slug=slug, content_type=article_type, path=f"00010001{index:04d}",
            depth=3, numchild=0, url_path=f"/home/{slug}/", locale=locale, live=True, first_published_at=published,
            last_published_at=published, summary=summary, search_description=summary,
            body=f"{summary}\n\n" + " ".join(["The tide comes in and the tide goes out."] * 12),
        )
    Site.objects.update_or_create(is_default_site=True, defaults={
        "hostname": "localhost", "port": 8000, "root_page_id": home.id, "site_name": "Harbour Notes"})


def remove_pages(apps, schema_editor):
    apps.get_model("wagtailcore.Page").objects.filter(depth__gte=2, path__startswith="00010001").delete()


class Migration(migrations.Migration):
    dependencies = [
        ("demo_pages", "0001_initial"),
        ("wagtailcore", "0089_log_entry_data_json_null_to_object"),
    ]
    operations = [migrations.RunPython(create_pages, remove_pages)]
