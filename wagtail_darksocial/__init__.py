"""darksocial for Wagtail: site settings, automatic share bar and tracker, first-party collector, admin reports."""
