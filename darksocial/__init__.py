"""darksocial: self-hosted dark social analytics.

The core package imports no web framework; the adapters (``mkdocs_darksocial``,
``wagtail_darksocial``, ``reporting``) call into it.
"""

__version__ = "0.1.0"
