import swapper
from django.core.management.base import BaseCommand

from ...database import open_database
from ...stories import register_pages


class Command(BaseCommand):
    help = ("Register every live page as a darksocial story (URL, title, search description, first published "
            "date), e.g. after installing the app on an existing site. Publishing does it for new pages.")

    def handle(self, *args, **options):
        page_model = swapper.load_model("wagtailcore", "Page")
        live = page_model.objects.live().filter(depth__gt=1).specific().iterator(chunk_size=500)
        with open_database() as db:
            count = register_pages(db, live)
        if options["verbosity"]:
            self.stdout.write(f"darksocial: {count} page(s) registered as stories")
