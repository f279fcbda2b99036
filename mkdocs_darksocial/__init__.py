"""MkDocs plugin: the share bar and the tracker in every built page, and a page manifest for the reports.

Add ``- darksocial`` (with a ``collector``) to ``plugins:`` in ``mkdocs.yml``; the options are in ``config.py``.
"""
