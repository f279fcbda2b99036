"""The reporting server: a Datasette plugin (``reporting.plugin``) with the collector route, the tracker assets,
reports, charts and access control. ``reporting.server`` builds the Datasette app that ``darksocial serve`` runs."""
