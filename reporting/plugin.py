"""Datasette hooks of the darksocial plugin: one function per hook, each delegating to a module of ``reporting``.

Datasette allows one implementation of a hook per plugin module, so a hook that several modules need calls each.
The plugin acts only on the darksocial database (the one its ``database`` setting names, or one already holding
darksocial's events): under plain ``datasette`` with any other database it adds nothing and logs one line saying so.
"""

import logging

from datasette import hookimpl

from darksocial import analysts
from darksocial import reports as queries

from . import accesslog, auth, collect, csv_guard, form_guard, indexes, metadata, pages, report_guard, signin

log = logging.getLogger(__name__)
# How to name the database under plain `datasette` (0.65 reads plugin settings from the metadata; it has no -s).
METADATA_HINT = '{"plugins": {"darksocial": {"database": "NAME"}}}'
accesslog.install()  # before uvicorn logs its first request, whichever way the server was started


@hookimpl
def register_routes(datasette):
    return collect.routes() + pages.routes() + signin.routes()


@hookimpl
def skip_csrf(datasette, scope):
    return collect.skip_csrf(scope)


@hookimpl
def startup(datasette):
    async def inner():
        db = metadata.darksocial_database(datasette)
        if db is None:
            guarded = metadata.guarded_databases(datasette)
            if guarded:
                log.warning("darksocial: %s served read-only: its private tables stay guarded; events are collected "
                            "only into a writable file", ", ".join(sorted(guarded)))
            else:
                log.warning("darksocial: no darksocial database here, so the plugin stays out of the way (name one "
                            "in the metadata: datasette ... -m metadata.json with %s, or run `darksocial serve DB`)",
                            METADATA_HINT)
            return
        await collect.startup(datasette)
        await indexes.ensure(datasette, db)
        if datasette.databases[db].is_mutable:
            await datasette.databases[db].execute_write_fn(analysts.ensure, block=True)

    return inner


@hookimpl
def asgi_wrapper(datasette):
    collector_first = collect.asgi_wrapper(datasette)
    guard = signin.asgi_wrapper(datasette)
    window_checked = report_guard.asgi_wrapper(datasette)
    csv_neutralised = csv_guard.asgi_wrapper(datasette)
    no_multipart = form_guard.asgi_wrapper(datasette)
    return lambda app: collector_first(no_multipart(guard(window_checked(csv_neutralised(app)))))


# -- reports, charts and access control (reporting.metadata, .pages, .auth) -----------------------------------------
@hookimpl
def get_metadata(datasette, key, database, table):
    return metadata.metadata(datasette)


@hookimpl
def permission_allowed(datasette, actor, action, resource):
    if actor is None:
        guarded = metadata.guarded_databases(datasette)
        # No darksocial database: Datasette's own rules for the operator's databases, untouched.
        if guarded and auth.anonymous_denied(action, resource, queries.private_report_names(
                auth.private_tables()), guarded, crossdb=bool(getattr(datasette, "crossdb", False))):
            return False
    return None


@hookimpl
def forbidden(datasette, request, message):
    return pages.forbidden(datasette, request, message)


@hookimpl
def prepare_jinja2_environment(env, datasette):
    pages.add_templates(env, datasette)


@hookimpl
def render_cell(row, value, column, table, database, datasette):
    return pages.render_cell(row, value, column, table, database, datasette)


@hookimpl
def extra_css_urls(datasette):
    return pages.extra_css_urls(datasette)


@hookimpl
def extra_js_urls(datasette):
    return pages.extra_js_urls(datasette)


@hookimpl
def menu_links(datasette, actor):
    return pages.menu_links(datasette, actor)
