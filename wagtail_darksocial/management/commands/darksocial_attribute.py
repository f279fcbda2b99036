from django.core.management.base import BaseCommand

from ...attribution import run


class Command(BaseCommand):
    help = ("Bring the darksocial analyst tables up to date with the collected events (incremental; run it from "
            "cron, e.g. every 5 minutes). --full rebuilds them from scratch.")

    def add_arguments(self, parser):
        parser.add_argument("--full", action="store_true", help="Rebuild every table from all events.")

    def handle(self, *args, full=False, **options):
        say = (lambda message: self.stderr.write(message)) if options["verbosity"] > 1 else None
        stats = run(full=full, progress=say)
        summary = ", ".join(f"{key}: {value}" for key, value in stats.items())
        self.stdout.write(f"darksocial attribution done ({summary})")
